"""The direct path: a plain DynamoDB ``POST /`` answered without the ASGI cycle.

:class:`DirectHttpProtocol` is ``wire/limits.py``'s httptools protocol (so every limit
stays: header timeout, head-size cap, body stall timeout, idle eviction, the 503 over
``--max-connections``) which, for the commonest request only, skips uvicorn's
``RequestResponseCycle``: no scope copy, no ``receive``/``send`` messages, no header
regexes, one ``transport.write``. The answer itself comes from
:meth:`App.answer_protocol <dynoxide_streams.wire.app.App.answer_protocol>`, the method
the ASGI route ``App._protocol`` uses too, so both paths compute the same status,
headers and body; this module only frames them the way uvicorn does (status line,
headers in order, ``content-length``, ``connection: close`` when the connection is not
kept alive) and log uvicorn's access line when its access log is on.

A request takes the direct path only when all of these hold at the end of its head
(anything else goes through uvicorn and ``App`` unchanged):

* ``POST /`` exactly (no query), HTTP/1.1, no upgrade, no ``Expect: 100-continue``;
* an ``X-Amz-Target`` header, a ``Content-Length`` of at most
  ``body_memory.SMALL_BODY_BYTES``, no ``Transfer-Encoding`` and no ``Origin`` (browsers
  keep the ASGI path and its CORS headers);
* one ``Host`` and it is allowed (a refused Host gets the ASGI path's 403);
* nothing else is in flight on the connection (a pipelined request waits in uvicorn's
  queue), the transport is not paused for writing, uvicorn's concurrency limit is not
  reached (its 503 stays);
* ``--max-body-memory`` has room for the body now (a request that would wait goes
  through the ASGI path, which waits).

The answer is computed in a task, except for the operations in :data:`INLINE_TARGETS`
(GetItem) on a kept-alive connection, whose handler never waits: their coroutine is stepped to its end inside
the parser callback, which saves the task and a loop iteration (if one ever waits
after all, a task finishes it). A request pipelined behind one answered that way is
parsed after the answer is written, so its head stops the keep-alive timer the answer
armed (``wire/limits.py``).

While a direct request is in flight the connection's ``cycle`` is a
:class:`_DirectCycle`, which answers the questions uvicorn and ``wire/limits.py`` ask of
a cycle (``response_complete``, ``keep_alive``, ``disconnected``): a pipelined request
queues behind it, a graceful shutdown lets it finish and then closes the connection,
a lost connection drops its answer. Its task is in uvicorn's ``server_state.tasks``, so
shutdown waits for it and ``limit_concurrency`` counts it.

Relies on the same uvicorn internals as ``wire/limits.py`` (its docstring), plus
``STATUS_LINE``, ``parser``, ``url``, ``headers``, ``scope``, ``expect_100_continue``,
``access_log``, ``access_logger``, ``limit_concurrency``, ``tasks`` and ``pipeline`` of
``HttpToolsProtocol``; tests/wire/test_direct_path.py fails if they move.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE
from uvicorn.protocols.utils import get_client_addr

from dynoxide_streams.wire.app import App
from dynoxide_streams.wire.body_memory import SMALL_BODY_BYTES, BodyHold
from dynoxide_streams.wire.limits import ConnectionLimits, LimitedHttpProtocol


class _NoEvent:
    """What uvicorn sets on a lost connection's cycle (nothing waits on it here)."""

    def set(self) -> None:
        pass


_NO_EVENT = _NoEvent()

INLINE_TARGETS = frozenset({b"DynamoDB_20120810.GetItem"})
"""Operations answered inside the parser callback, without a task: their handler never
waits (GetItem is one point read on the loop), so the coroutine ends in one step.
tests/wire/test_direct_path.py checks that it does."""


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], awaited: Any) -> Generator[Any, Any, None]:
    """Finish in a task a coroutine that was started outside one and waited for
    ``awaited`` (what ``yield from`` would do for it)."""
    while True:
        try:
            sent = yield awaited
        except BaseException as exc:  # cancellation and the like reach the coroutine
            try:
                awaited = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                awaited = coro.send(sent)
            except StopIteration:
                return


class _DirectCycle:
    """One direct request: its scope, body and hold, and the cycle flags uvicorn reads."""

    __slots__ = (
        "body",
        "disconnected",
        "hold",
        "inline",
        "keep_alive",
        "response_complete",
        "scope",
    )
    message_event = _NO_EVENT

    def __init__(
        self, scope: dict[str, Any], hold: BodyHold, keep_alive: bool, inline: bool
    ) -> None:
        self.scope = scope
        self.inline = inline
        self.hold = hold
        self.keep_alive = keep_alive
        self.body = b""
        self.disconnected = False
        self.response_complete = False


class DirectHttpProtocol(LimitedHttpProtocol):
    """``LimitedHttpProtocol`` answering eligible DynamoDB requests directly (see the
    module docstring); ``direct_app`` is the server's :class:`App`."""

    direct_app: App
    direct_answers = 0
    """Requests answered by the direct path, over all connections (for tests)."""
    inline_answers = 0
    """Of those, the ones answered inside the parser callback (for tests)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._receiving: _DirectCycle | None = None  # a direct request whose body is arriving

    def connection_lost(self, exc: Exception | None) -> None:
        if self._receiving is not None:  # its body never came: nobody else releases it
            self._receiving.hold.release()
            self._receiving = None
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        cycle = self._direct_cycle()
        if cycle is None:
            super().on_headers_complete()
            return
        self._head_complete()
        self.cycle = cycle  # type: ignore[assignment]  # quacks like uvicorn's cycle
        self._receiving = cycle

    def on_body(self, body: bytes) -> None:
        cycle = self._receiving
        if cycle is None:
            super().on_body(body)
            return
        cycle.body += body

    def on_message_complete(self) -> None:
        cycle = self._receiving
        if cycle is None:
            super().on_message_complete()
            return
        self._receiving = None
        self._message_read()
        coro = self._answer(cycle)
        if cycle.inline:
            try:
                awaited = coro.send(None)
            except StopIteration:
                DirectHttpProtocol.inline_answers += 1
                return  # answered
            coro = _resume(coro, awaited)  # it waited after all
        task = self.loop.create_task(coro)
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _direct_cycle(self) -> _DirectCycle | None:
        """A cycle for the request whose head was just read, its body reserved, if it
        may take the direct path (module docstring); None otherwise."""
        if self.url != b"/" or self.expect_100_continue or self.transport.is_closing():
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None
        if self.flow.write_paused or self.parser.get_method() != b"POST":
            return None
        if self.parser.get_http_version() != "1.1" or self.parser.should_upgrade():
            return None
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            return None
        target: bytes | None = None
        length = -1
        host: bytes | None = None
        for name, value in self.headers:
            if name == b"x-amz-target":
                target = value
            elif name == b"content-length":
                if not value.isdigit() or length >= 0:
                    return None
                length = int(value)
            elif name == b"host":
                if host is not None:  # App checks the first; leave a second to it
                    return None
                host = value
            elif name == b"origin" or name == b"transfer-encoding":
                return None
        if target is None or length < 0 or length > SMALL_BODY_BYTES:
            return None
        app = self.direct_app
        if not app.access.host_allowed(host):
            return None
        hold = BodyHold(app.body_memory)
        if not hold.try_reserve_small(length):
            return None
        scope = self.scope
        scope["method"] = "POST"
        scope["path"] = "/"
        scope["raw_path"] = b"/"
        scope["query_string"] = b""
        keep_alive = self.parser.should_keep_alive()
        # not inline when the answer closes the connection: llhttp ignores what follows
        # such a request, and if it ever parsed it, it would queue behind the task
        inline = keep_alive and target in INLINE_TARGETS
        return _DirectCycle(scope, hold, keep_alive, inline)  # type: ignore[arg-type]

    async def _answer(self, cycle: _DirectCycle) -> None:
        """Compute and write the answer of ``cycle`` (``App.answer_protocol`` releases
        its hold), then hand the connection back to uvicorn as its own cycle would."""
        status, headers, payload = await self.direct_app.answer_protocol(
            cycle.scope, cycle.hold, None, cycle.body
        )
        cycle.response_complete = True
        if cycle.disconnected or self.transport.is_closing():
            return
        if self.access_log:  # the line uvicorn's cycle logs
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(cycle.scope),  # type: ignore[arg-type]
                "POST",
                "/",
                "1.1",
                status,
            )
        out = [STATUS_LINE[status]]
        for name, value in headers:
            out += (name, b": ", value, b"\r\n")
        out.append(b"content-length: %d\r\n" % len(payload))
        if not cycle.keep_alive:
            out.append(b"connection: close\r\n")
        out += (b"\r\n", payload)
        DirectHttpProtocol.direct_answers += 1  # before the write: a client may look at once
        self.transport.write(b"".join(out))
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()


def direct_protocols(
    limits: ConnectionLimits, app: App
) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """(HTTP protocol class, websocket protocol class) for ``uvicorn.Config``:
    ``limits.protocols()`` with the direct path to ``app`` added to the HTTP one."""
    _, ws = limits.protocols()

    class Http(DirectHttpProtocol):
        pass

    Http.limits = limits
    Http.direct_app = app
    return Http, ws
