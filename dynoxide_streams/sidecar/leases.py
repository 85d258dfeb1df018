"""This process's side of the shard leases shared by sidecar processes
(``--lease-table``), the way the Kinesis Client Library shares Kinesis shards: the
renew, take and checkpoint rounds of :class:`LeaseCoordinator`.

The lease item is :mod:`~dynoxide_streams.sidecar.lease_item`'s, the table's reads
and conditional writes are :mod:`~dynoxide_streams.sidecar.lease_table`'s, and which
leases to take is :mod:`~dynoxide_streams.sidecar.lease_rules`'. Here:

* **Create**: every shard of an attached mapping gets an unowned lease; finished
  leases of shards the stream no longer lists are deleted.
* **Renew** every ``duration / 3``: ``leaseCounter + 1`` if owner and counter are
  what this process last wrote. A failed condition — or no successful renewal for
  ``duration`` — means the lease is lost: its shard stops.
* **Take** every ``duration / 2`` (5 s at most; at once when a mapping attaches or
  creates leases): scan the table and apply
  :func:`~dynoxide_streams.sidecar.lease_rules.to_take`; a take is conditional on
  the counter the scan showed, and returns the lease's current checkpoint.
* **Checkpoint**: a lane's position goes into the lease conditional on the owner, so
  a process that lost a lease can never move its checkpoint.
* **Release**: a mapping that stops (or a process shutting down) removes itself as
  owner of what it holds, so the others take it at once instead of after expiry.

A **singleton lease** (:meth:`LeaseCoordinator.claim`) names work only one process
should do — the TTL sweep of a table (``leaseKey = ttl-sweep|<table>``): a process
does it while it holds the lease, taking it when it is free or expired by the same
rules; it is renewed with the others.

Lease expiry is measured with the coordinator's ``now`` (monotonic seconds), and an
upstream call made for a lease retries for no longer than the lease has left by
that clock.

Delivery stays at-least-once: a batch in flight when its lease moves is delivered
again by the next owner (one batch per shard and move, at most).
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import anyio
import structlog
from anyio.abc import TaskStatus

from dynoxide_streams.engine.changes import ShardView
from dynoxide_streams.shards.positions import Checkpoint, StoredLanes
from dynoxide_streams.sidecar.lease_item import LeaseItem, lease_key, split_key
from dynoxide_streams.sidecar.lease_rules import (
    LeaseSeen,
    Observation,
    is_expired,
    observe,
    to_take,
)
from dynoxide_streams.sidecar.lease_table import LeaseTable
from dynoxide_streams.sidecar.upstream import Upstream, UpstreamError, UpstreamUnavailable

log = structlog.get_logger("dynoxide_streams.sidecar")

RENEW_CONCURRENCY = 32
TAKE_MAX_PERIOD = 5.0  # a released lease waits no longer than this for a taker
RELEASE_SECONDS = 1.0  # how long one release may retry


def worker_id() -> str:
    """A name for this process that no other process (or restart) shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _seen(lease: LeaseItem) -> LeaseSeen:
    return LeaseSeen(lease.key, lease.owner, lease.counter, lease.finished)


@dataclass
class _Held:
    key: str
    counter: int
    renewed_at: float  # the coordinator's time of the last successful renewal or take


@dataclass
class _Lease:
    """A shard lease this process holds, as its lanes last wrote it."""

    lanes: StoredLanes
    lock: anyio.Lock = field(default_factory=anyio.Lock)  # one checkpoint write at a time


@dataclass
class _View:
    """One attached mapping's leases (implements ``triggers.leases.MappingLeases``)."""

    coordinator: LeaseCoordinator
    function_name: str
    stream_arn: str
    prefix: str
    changed: anyio.Event = field(default_factory=anyio.Event)
    leases: dict[str, _Lease] = field(default_factory=dict)  # held, by shard id
    finished: set[str] = field(default_factory=set)
    known: set[str] = field(default_factory=set)  # shard ids that have a lease

    def notify(self) -> None:
        self.changed.set()

    def forget(self, shard_id: str) -> None:
        """Drop what is kept of a lease this process no longer holds."""
        self.leases.pop(shard_id, None)

    def held(self) -> dict[str, StoredLanes]:
        return {shard_id: lease.lanes for shard_id, lease in self.leases.items()}

    def done(self) -> set[str]:
        return set(self.finished)

    async def wait_changed(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self.changed.wait()
        self.changed = anyio.Event()

    async def sync(self, shards: Sequence[ShardView], start_after: str) -> None:
        try:
            await self._sync(shards, start_after)
        except (UpstreamError, UpstreamUnavailable) as exc:  # again on the next round
            log.warning("could not create leases", stream=self.stream_arn, error=str(exc))

    async def _sync(self, shards: Sequence[ShardView], start_after: str) -> None:
        table = self.coordinator.table
        created = False
        for shard in shards:
            if shard.shard_id in self.known or shard.shard_id in self.finished:
                continue
            lease = LeaseItem(
                self.prefix + shard.shard_id,
                lanes=StoredLanes(start_after=start_after),
                function_name=self.function_name,
                stream_arn=self.stream_arn,
                shard_id=shard.shard_id,
                parent_shard_id=shard.parent_id,
            )
            created = await table.create_lease(lease) or created
            self.known.add(shard.shard_id)
        visible = {shard.shard_id for shard in shards}
        for shard_id in sorted(self.finished - visible):  # trimmed away: forget the lease
            with contextlib.suppress(UpstreamError):
                await table.delete_finished(self.prefix + shard_id)
            self.finished.discard(shard_id)
            self.known.discard(shard_id)
        if created:
            self.coordinator.wake()  # new leases: take them now, not next round

    async def save(self, checkpoint: Checkpoint, lanes: int) -> bool:
        shard_id = checkpoint.shard_id
        key = self.prefix + shard_id
        coordinator = self.coordinator
        lease = self.leases.get(shard_id)
        if lease is None:
            return False
        async with lease.lock:
            if not coordinator.holds(key) or self.leases.get(shard_id) is not lease:
                return False
            stored = lease.lanes.with_checkpoint(checkpoint, lanes)
            if not await coordinator.save_lanes(key, stored):
                return False
            lease.lanes = stored
            if stored.finished:  # nothing left to renew: the lease stays this process's, done
                coordinator.finish(key)
                self.forget(shard_id)
                self.finished.add(shard_id)
                self.notify()
            return True


class LeaseCoordinator:
    """This process's side of the lease table (see the module docstring); implements
    ``triggers.leases.ShardLeases``.

    :meth:`run` does everything in the background. Its steps are public so that they
    can also be driven one at a time: :meth:`ensure_table`, :meth:`take_round` and
    :meth:`renew_round`.
    """

    def __init__(
        self,
        upstream: Upstream,
        table: str,
        *,
        duration: float = 10.0,
        me: str | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = LeaseTable(upstream, table)
        self.duration = duration
        self.me = me or worker_id()
        self.now = now
        self._held: dict[str, _Held] = {}
        self._views: dict[str, _View] = {}  # by key prefix
        self._observed: dict[str, Observation] = {}
        self._singletons: dict[str, Observation] = {}  # claim() observations, by key
        self._wake = anyio.Event()
        self._ready = anyio.Event()  # the table exists
        self._rng = random.Random()
        self._renewing: set[str] = set()  # renewals in flight
        self._renew_limiter = anyio.CapacityLimiter(RENEW_CONCURRENCY)

    # -------------------------------------------------------------------- public

    @contextlib.asynccontextmanager
    async def attach(self, function_name: str, stream_arn: str) -> AsyncIterator[_View]:
        """Take part in the mapping's leases while the context is open (entered once
        the table exists); on exit the leases this process holds are released."""
        prefix = lease_key(function_name, stream_arn, "")
        view = _View(self, function_name, stream_arn, prefix)
        self._views[prefix] = view
        self.wake()
        try:
            await self._ready.wait()
            yield view
        finally:
            if self._views.get(prefix) is view:
                del self._views[prefix]
            mine = [key for key in self._held if key.startswith(prefix)]
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                for key in mine:
                    await self._release(key)

    async def claim(self, key: str) -> bool:
        """Whether this process holds the singleton lease ``key`` — taking it when it
        does not exist, has no owner or has expired. Upstream trouble answers False
        (the work waits for a process that can reach the lease table)."""
        held = self._held.get(key)
        if held is not None and self._still_valid(held):
            return True
        try:
            return await self._claim(key)
        except (UpstreamError, UpstreamUnavailable) as exc:
            log.warning("could not claim a lease", lease=key, error=str(exc))
            return False

    def holds(self, key: str) -> bool:
        """Whether this process holds the lease ``key`` and renews it: taken or
        claimed, and neither lost, released nor finished since."""
        return key in self._held

    def wake(self) -> None:
        """Make the running take loop start its next round now."""
        self._wake.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Create the table if needed, then renew and take until cancelled; on the way
        out release every lease held."""
        task_status.started()
        await self.ensure_table()
        log.info("lease table ready", table=self.table.name, worker=self.me, duration=self.duration)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._renew_loop)
                tg.start_soon(self._take_loop)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                for key in list(self._held):
                    await self._release(key)

    async def ensure_table(self) -> None:
        """Return once the lease table is ACTIVE (created if missing; upstream trouble
        is retried); from then on mappings attach and singletons are claimed."""
        await self.table.ensure(retry_seconds=min(5.0, self.duration))
        self._ready.set()

    async def renew_round(self) -> None:
        """Renew every lease held, concurrently (one slow answer must not make the
        others late), skipping any whose renewal is still under way; return when these
        renewals are over. A lease whose renewal is refused because another process
        took it, or that was not renewed for ``duration``, is lost: its shard stops."""
        async with anyio.create_task_group() as tg:
            for key in list(self._held):
                if key not in self._renewing:
                    self._renewing.add(key)
                    tg.start_soon(self._renew_guarded, key)

    async def take_round(self) -> None:
        """Scan the table once: note the shards other processes finished, drop the
        leases someone else now owns, and take what the rules say (each take
        conditional on the counter the scan showed). A table that is gone is created
        again, with a lease for every shard not known to be finished.

        Raises UpstreamError or UpstreamUnavailable when the table cannot be read.
        """
        try:
            leases = await self.table.scan()
        except UpstreamError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            await self._recreate_table()
            return
        now = self.now()
        seen: list[LeaseSeen] = []
        by_key: dict[str, LeaseItem] = {}
        for item in leases:
            view = self._view_of(item.key)
            if view is None:
                continue  # a mapping this process does not run
            shard_id = split_key(item.key)[1]
            view.known.add(shard_id)
            if item.finished and shard_id not in view.finished:
                view.finished.add(shard_id)
                view.notify()
            seen.append(_seen(item))
            by_key[item.key] = item
        observe(self._observed, seen, now)
        for lease in seen:  # someone else owns what this process believes it holds
            if lease.key in self._held and lease.owner != self.me:
                self._drop(lease.key, "taken by another process")
        choice = to_take(
            seen, self.me, set(self._held), self._observed, now, self.duration, self._rng
        )
        for lease in choice:
            await self._take(by_key[lease.key])

    # ---------------------------------------------------- for the mapping views

    async def save_lanes(self, key: str, lanes: StoredLanes) -> bool:
        """Store a held lease's lanes, retrying while the lease is still this
        process's; False (and the lease dropped) when it is not."""
        while True:
            held = self._held.get(key)
            if held is None or not self._still_valid(held):
                self._drop(key, "not renewed in time")
                return False
            try:
                kept = await self.table.save_lanes(key, self.me, lanes, timeout=self._left(held))
            except UpstreamError as exc:  # e.g. the lease table was deleted: a take recovers
                self._drop(key, f"checkpoint refused: {exc}")
                return False
            except UpstreamUnavailable:
                continue  # retried while the lease is still ours
            if not kept:
                self._drop(key, "taken by another process")
            return kept

    def finish(self, key: str) -> None:
        """Stop renewing a lease whose shard is finished (it stays this process's)."""
        self._held.pop(key, None)

    # --------------------------------------------------------------------- loops

    async def _renew_loop(self) -> None:
        async with anyio.create_task_group() as tg:
            while True:
                tg.start_soon(self.renew_round)
                await anyio.sleep(self.duration / 3)

    async def _renew_guarded(self, key: str) -> None:
        try:
            async with self._renew_limiter:
                await self._renew(key)
        except Exception:
            log.exception("renewing a lease failed", lease=key)
        finally:
            self._renewing.discard(key)

    async def _take_loop(self) -> None:
        period = min(self.duration / 2, TAKE_MAX_PERIOD)
        while True:
            self._wake = anyio.Event()
            if self._views:
                try:
                    await self.take_round()
                except (UpstreamError, UpstreamUnavailable) as exc:
                    log.warning("could not scan the lease table", error=str(exc))
                except Exception:
                    log.exception("taking leases failed")
            with anyio.move_on_after(period):
                await self._wake.wait()

    # --------------------------------------------------------------- operations

    def _still_valid(self, held: _Held) -> bool:
        return self._left(held) >= 0

    def _left(self, held: _Held) -> float:
        """Seconds the lease has left unless renewed, by this process's clock."""
        return held.renewed_at + self.duration - self.now()

    def _drop(self, key: str, why: str) -> None:
        """Forget a lease this process no longer holds; its shard stops."""
        if self._held.pop(key, None) is None:
            return
        log.info("lease lost", lease=key, reason=why)
        view = self._view_of(key)
        if view is not None:
            view.forget(split_key(key)[1])
            view.notify()

    def _view_of(self, key: str) -> _View | None:
        return self._views.get(split_key(key)[0])

    async def _claim(self, key: str) -> bool:
        await self._ready.wait()
        current = await self.table.get(key)
        sent = self.now()
        if current is None:
            if not await self.table.create_lease(LeaseItem(key, owner=self.me, counter=1)):
                return False  # another process created it first
            self._held[key] = _Held(key, 1, sent)
            log.info("lease taken", lease=key, previous_owner=None, checkpoint=None)
            return True
        lease = _seen(current)
        seen = {key: self._singletons[key]} if key in self._singletons else {}
        observe(seen, [lease], sent)
        self._singletons[key] = seen[key]
        if lease.owner != self.me and not is_expired(lease, seen, sent, self.duration):
            return False
        if await self.table.take(current, self.me, shard=False) is None:
            return False
        self._held[key] = _Held(key, lease.counter + 1, sent)
        log.info("lease taken", lease=key, previous_owner=lease.owner, checkpoint=None)
        return True

    async def _recreate_table(self) -> None:
        """The lease table was deleted under the running processes: create it again
        and its leases with it (their checkpoints are gone: at-least-once, shards not
        known to be finished start over from the leases' start positions)."""
        log.warning("the lease table is gone; creating it again", table=self.table.name)
        await self.ensure_table()
        for view in self._views.values():
            view.known.clear()  # the next sync creates every lease again
            view.notify()
        self._observed.clear()

    async def _renew(self, key: str) -> None:
        held = self._held.get(key)
        if held is None:
            return
        if not self._still_valid(held):
            self._drop(key, "not renewed in time")
            return
        sent = self.now()
        try:
            kept = await self.table.renew(key, self.me, held.counter, timeout=self._left(held))
        except UpstreamError as exc:
            log.warning("lease renewal refused", lease=key, error=str(exc))
            return
        except UpstreamUnavailable as exc:
            log.warning("lease renewal failed", lease=key, error=str(exc))
            if not self._still_valid(held):
                self._drop(key, "not renewed in time")
            return
        if not kept:
            self._drop(key, "taken by another process")
            return
        if self._held.get(key) is held:
            held.counter += 1
            held.renewed_at = sent  # the lease was surely ours until the request left

    async def _take(self, scanned: LeaseItem) -> None:
        key = scanned.key
        sent = self.now()
        taken = await self.table.take(scanned, self.me, shard=True)
        if taken is None:
            return  # renewed or taken meanwhile
        self._held[key] = _Held(key, scanned.counter + 1, sent)
        view = self._view_of(key)
        if view is None:  # detached meanwhile: give it back
            await self._release(key)
            return
        view.leases[split_key(key)[1]] = _Lease(taken.lanes)
        log.info(
            "lease taken", lease=key, previous_owner=scanned.owner, checkpoint=taken.checkpoint
        )
        view.notify()

    async def _release(self, key: str) -> None:
        held = self._held.pop(key, None)
        if held is None:
            return
        view = self._view_of(key)
        if view is not None:
            view.forget(split_key(key)[1])
        try:
            released = await self.table.release(key, self.me, timeout=RELEASE_SECONDS)
        except (UpstreamError, UpstreamUnavailable) as exc:
            log.info("lease not released; it will expire", lease=key, error=str(exc))
            return
        if released:
            log.info("lease released", lease=key)
        else:
            log.info("lease not released; it will expire", lease=key, error="not its owner")
