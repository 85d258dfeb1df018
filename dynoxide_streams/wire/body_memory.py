"""The bound on request-body bytes held in memory at once (``--max-body-memory``).

Every route reads its body under a :class:`BodyHold` taken from the server's
:class:`BodyMemory`, kept until the request's answer is computed. A body with a
Content-Length reserves its whole size before its first byte is read, so concurrent
large bodies are admitted whole, one after another (they never all stall half-read); a
body without one reserves as its chunks arrive. A reservation that does not fit waits;
after ``wait`` seconds the request fails with ``ServiceUnavailableException`` (503).

Large bodies (over :data:`SMALL_BODY_BYTES`) are granted in arrival order and may hold
at most 15/16 of the limit together; small ones (every read, most writes) never queue
behind large ones and may use the whole limit. So large bodies — even ones that declare
a size and then send slowly — cannot lock out ordinary requests, and the total held
never exceeds the limit.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio

from dynoxide_streams.errors import ServiceUnavailableException

SMALL_BODY_BYTES = 64 * 1024
WAIT_SECONDS = 5.0
MESSAGE = "Too many request bodies in memory; try again later (see --max-body-memory)"


@dataclass(eq=False)
class _Waiter:
    size: int
    large: bool
    granted: anyio.Event = field(default_factory=anyio.Event)


class BodyMemory:
    """A budget of ``limit`` bytes of request bodies (see the module docstring)."""

    def __init__(self, limit: int, *, wait: float = WAIT_SECONDS) -> None:
        self.limit = limit
        self.large_limit = limit - limit // 16
        self.wait = wait
        self.held = 0
        self.held_large = 0
        self._queue: deque[_Waiter] = deque()

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[BodyHold]:
        """A hold that reserves as a body is read and gives everything back on exit."""
        hold = BodyHold(self)
        try:
            yield hold
        finally:
            hold.release()

    def _fits(self, size: int, large: bool) -> bool:
        if self.held + size > self.limit:
            return False
        return not large or self.held_large + size <= self.large_limit

    def _grant(self, size: int, large: bool) -> None:
        self.held += size
        if large:
            self.held_large += size

    def _give_back(self, size: int, large: bool) -> None:
        self.held -= size
        if large:
            self.held_large -= size
        self._wake()

    def _wake(self) -> None:
        large_blocked = False
        for waiter in list(self._queue):
            if waiter.large and large_blocked:
                continue
            if self._fits(waiter.size, waiter.large):
                self._queue.remove(waiter)
                self._grant(waiter.size, waiter.large)
                waiter.granted.set()
            elif waiter.large:
                large_blocked = True  # large bodies keep their arrival order

    async def _take(self, size: int, large: bool) -> None:
        """Reserve ``size`` bytes, waiting up to ``wait`` seconds for them (raises
        ServiceUnavailableException when they do not come)."""
        queued_large = large and any(w.large for w in self._queue)
        if not queued_large and self._fits(size, large):
            self._grant(size, large)
            return
        waiter = _Waiter(size, large)
        self._queue.append(waiter)
        try:
            with anyio.fail_after(self.wait):
                await waiter.granted.wait()
        except BaseException as exc:
            if waiter.granted.is_set():  # granted just as the wait ended
                self._give_back(size, large)
            else:
                self._queue.remove(waiter)
                self._wake()  # a large waiter may have been holding others back
            if isinstance(exc, TimeoutError):
                raise ServiceUnavailableException(MESSAGE) from None
            raise


class BodyHold:
    """The bytes one request holds of a :class:`BodyMemory`."""

    def __init__(self, memory: BodyMemory) -> None:
        self._memory = memory
        self._small = 0
        self._large = 0

    @property
    def amount(self) -> int:
        return self._small + self._large

    async def reserve(self, total: int) -> None:
        """Make this hold cover ``total`` bytes (waits; raises ServiceUnavailableException)."""
        more = total - self.amount
        if more <= 0:
            return
        large = total > SMALL_BODY_BYTES
        await self._memory._take(more, large)
        if large:
            self._large += more
        else:
            self._small += more

    def try_reserve_small(self, total: int) -> bool:
        """Make this empty hold cover ``total`` (at most :data:`SMALL_BODY_BYTES`) bytes
        if they fit now, as :meth:`reserve` would grant them without waiting; False
        (nothing held) when it would have to wait."""
        memory = self._memory
        if total > SMALL_BODY_BYTES or self.amount or not memory._fits(total, False):
            return False
        memory._grant(total, False)
        self._small = total
        return True

    def release(self) -> None:
        small, large = self._small, self._large
        self._small = self._large = 0
        if small:
            self._memory._give_back(small, False)
        if large:
            self._memory._give_back(large, True)
