"""Shard leases in an upstream DynamoDB table, shared by sidecar processes
(``--lease-table``), the way the Kinesis Client Library shares Kinesis shards.

A lease is one item keyed by ``leaseKey = <function name>|<stream ARN>|<shard id>`` —
a mapping is the same mapping in every process when its function name and stream
ARN are — holding:

==============================  ==========================================================
``leaseOwner`` (S)              the process holding it (``host:pid:random``); absent: free
``leaseCounter`` (N)            incremented by every renewal and take
``checkpoint`` (S)              ``SHARD_END`` when every lane finished, else the earliest
                                lane position (absent before the first checkpoint)
``lanes`` (S)                   JSON: a checkpoint per lane (position, finished, window)
``parallelizationFactor`` (N)   how many lanes ``lanes`` was written for
``ownerSwitchesSinceCheckpoint`` takes since the last checkpoint
``startAfter`` (S)              where lanes without a checkpoint start: the position of
                                the mapping of the process that created the lease
``functionName`` / ``streamArn`` / ``shardId`` / ``parentShardId`` (S)   for people
==============================  ==========================================================

* **Create**: every shard of an attached mapping gets an unowned lease
  (``attribute_not_exists(leaseKey)``); finished leases of shards the stream no
  longer lists are deleted.
* **Renew** every ``duration / 3``: ``leaseCounter + 1`` if owner and counter are
  what this process last wrote. A failed condition — or no successful renewal for
  ``duration`` — means the lease is lost: its shard stops.
* **Take** every ``duration / 2`` (5 s at most; at once when a mapping attaches or
  creates leases): scan the table and
  apply :func:`~dynoxide_streams.sidecar.lease_rules.to_take`; a take is
  ``SET leaseOwner = me, leaseCounter + 1`` conditional on the counter the scan
  showed, and returns the lease's current checkpoint.
* **Checkpoint**: a lane's position goes into ``lanes`` conditional on the owner, so
  a process that lost a lease can never move its checkpoint.
* **Release**: a mapping that stops (or a process shutting down) removes itself as
  owner of what it holds, so the others take it at once instead of after expiry.

A **singleton lease** (:meth:`LeaseCoordinator.claim`) names work only one process
should do — the TTL sweep of a table (``leaseKey = ttl-sweep|<table>``): a process
does it while it holds the lease, taking it when it is free or expired by the same
rules; it is renewed with the others.

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
from typing import Any

import anyio
import orjson
import structlog
from anyio.abc import TaskStatus

from dynoxide_streams.engine.changes import ShardView
from dynoxide_streams.shards.positions import Checkpoint, StoredLanes, earliest
from dynoxide_streams.sidecar.lease_rules import (
    LeaseSeen,
    Observation,
    is_expired,
    observe,
    to_take,
)
from dynoxide_streams.sidecar.upstream import DYNAMODB, Upstream, UpstreamError, UpstreamUnavailable

log = structlog.get_logger("dynoxide_streams.sidecar")

SHARD_END = "SHARD_END"
CONDITION_FAILED = "ConditionalCheckFailedException"
TABLE_WAIT_SECONDS = 60.0
RENEW_CONCURRENCY = 32
TAKE_MAX_PERIOD = 5.0  # a released lease waits no longer than this for a taker


def worker_id() -> str:
    """A name for this process that no other process (or restart) shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_key(function_name: str, stream_arn: str, shard_id: str) -> str:
    return f"{function_name}|{stream_arn}|{shard_id}"


def _lanes_json(checkpoints: Sequence[Checkpoint]) -> str:
    return orjson.dumps(
        [
            {
                "lane": cp.lane,
                "position": cp.position,
                "finished": cp.finished,
                "window": cp.window,
            }
            for cp in sorted(checkpoints, key=lambda cp: cp.lane)
        ]
    ).decode()


def _stored_lanes(item: dict[str, Any], shard_id: str) -> tuple[int, list[Checkpoint], str | None]:
    factor = int(item.get("parallelizationFactor", {}).get("N", "1"))
    start = item.get("startAfter", {}).get("S")
    raw = item.get("lanes", {}).get("S")
    if raw is None:
        return factor, [], start
    return (
        factor,
        [
            Checkpoint(
                shard_id, int(d["lane"]), str(d["position"]), bool(d["finished"]), d["window"]
            )
            for d in orjson.loads(raw)
        ],
        start,
    )


@dataclass
class _Held:
    key: str
    counter: int
    renewed_at: float  # local monotonic time of the last successful renewal or take


@dataclass
class _Lease:
    """A lease this process holds, as its lanes last wrote it."""

    factor: int  # the ParallelizationFactor ``lanes`` was written with
    start: str | None  # where a lane without a checkpoint starts
    lanes: dict[int, Checkpoint]
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
        return {
            shard_id: StoredLanes(
                lease.factor,
                tuple(sorted(lease.lanes.values(), key=lambda cp: cp.lane)),
                lease.start,
            )
            for shard_id, lease in self.leases.items()
        }

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
        coordinator = self.coordinator
        created = False
        for shard in shards:
            if shard.shard_id in self.known or shard.shard_id in self.finished:
                continue
            item: dict[str, Any] = {
                "leaseKey": {"S": self.prefix + shard.shard_id},
                "leaseCounter": {"N": "0"},
                "functionName": {"S": self.function_name},
                "streamArn": {"S": self.stream_arn},
                "shardId": {"S": shard.shard_id},
                "startAfter": {"S": start_after},
            }
            if shard.parent_id is not None:
                item["parentShardId"] = {"S": shard.parent_id}
            try:
                await coordinator.upstream.call(
                    DYNAMODB,
                    "PutItem",
                    {
                        "TableName": coordinator.table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(leaseKey)",
                    },
                )
                created = True
            except UpstreamError as exc:
                if exc.code != CONDITION_FAILED:
                    raise
            self.known.add(shard.shard_id)
        visible = {shard.shard_id for shard in shards}
        for shard_id in sorted(self.finished - visible):  # trimmed away: forget the lease
            with contextlib.suppress(UpstreamError):
                await coordinator.upstream.call(
                    DYNAMODB,
                    "DeleteItem",
                    {
                        "TableName": coordinator.table,
                        "Key": {"leaseKey": {"S": self.prefix + shard_id}},
                        "ConditionExpression": "checkpoint = :end",
                        "ExpressionAttributeValues": {":end": {"S": SHARD_END}},
                    },
                )
            self.finished.discard(shard_id)
            self.known.discard(shard_id)
        if created:
            coordinator.wake.set()  # new leases: take them now, not next round

    async def save(self, checkpoint: Checkpoint, lanes: int) -> bool:
        shard_id = checkpoint.shard_id
        key = self.prefix + shard_id
        coordinator = self.coordinator
        lease = self.leases.get(shard_id)
        if lease is None:
            return False
        async with lease.lock:
            if key not in coordinator.held or self.leases.get(shard_id) is not lease:
                return False
            current = lease.lanes
            current[checkpoint.lane] = checkpoint
            finished = len(current) >= lanes and all(cp.finished for cp in current.values())
            summary = SHARD_END if finished else earliest(cp.position for cp in current.values())
            values = {
                ":lanes": {"S": _lanes_json(list(current.values()))},
                ":cp": {"S": summary},
                ":factor": {"N": str(lanes)},
                ":zero": {"N": "0"},
                ":me": {"S": coordinator.me},
            }
            while True:
                held = coordinator.held.get(key)
                if held is None or not coordinator.still_valid(held):
                    coordinator.drop(key, "not renewed in time")
                    return False
                try:
                    await coordinator.update_lease(
                        key,
                        "SET lanes = :lanes, checkpoint = :cp, parallelizationFactor = :factor, "
                        "ownerSwitchesSinceCheckpoint = :zero",
                        "leaseOwner = :me",
                        values,
                        deadline=held.renewed_at + coordinator.duration,
                    )
                    break
                except UpstreamError as exc:
                    if exc.code == CONDITION_FAILED:
                        coordinator.drop(key, "taken by another process")
                    else:  # e.g. the lease table was deleted: the take path recovers
                        coordinator.drop(key, f"checkpoint refused: {exc}")
                    return False
                except UpstreamUnavailable:
                    continue  # retried while the lease is still ours
            if finished:  # nothing left to renew: the lease stays this process's, done
                coordinator.held.pop(key, None)
                self.forget(shard_id)
                self.finished.add(shard_id)
                self.notify()
            return True


class LeaseCoordinator:
    """This process's side of the lease table (see the module docstring); implements
    ``triggers.leases.ShardLeases``."""

    def __init__(
        self,
        upstream: Upstream,
        table: str,
        *,
        duration: float = 10.0,
        me: str | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream = upstream
        self.table = table
        self.duration = duration
        self.me = me or worker_id()
        self.now = now
        self.held: dict[str, _Held] = {}
        self.views: dict[str, _View] = {}  # by key prefix
        self.observed: dict[str, Observation] = {}
        self.wake = anyio.Event()
        self.ready = anyio.Event()  # the table exists
        self._rng = random.Random()
        self._renewing: set[str] = set()  # renewals in flight
        self._singletons: dict[str, Observation] = {}  # claim() observations, by key

    # ----------------------------------------------------------------- protocol

    @contextlib.asynccontextmanager
    async def attach(self, function_name: str, stream_arn: str) -> AsyncIterator[_View]:
        prefix = lease_key(function_name, stream_arn, "")
        view = _View(self, function_name, stream_arn, prefix)
        self.views[prefix] = view
        self.wake.set()
        try:
            await self.ready.wait()
            yield view
        finally:
            if self.views.get(prefix) is view:
                del self.views[prefix]
            mine = [key for key in self.held if key.startswith(prefix)]
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                for key in mine:
                    await self._release(key)

    async def update_lease(
        self,
        key: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        *,
        deadline: float | None = None,
        new: bool = False,
    ) -> dict[str, Any]:
        """One conditional UpdateItem of a lease (``new``: answer its new attributes)."""
        params: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"leaseKey": {"S": key}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if new:
            params["ReturnValues"] = "ALL_NEW"
        return await self.upstream.call(DYNAMODB, "UpdateItem", params, deadline=deadline)

    async def claim(self, key: str) -> bool:
        """Whether this process holds the singleton lease ``key`` — taking it when it
        does not exist, has no owner or has expired. Upstream trouble answers False
        (the work waits for a process that can reach the lease table)."""
        held = self.held.get(key)
        if held is not None and self.still_valid(held):
            return True
        try:
            return await self._claim(key)
        except (UpstreamError, UpstreamUnavailable) as exc:
            log.warning("could not claim a lease", lease=key, error=str(exc))
            return False

    async def _claim(self, key: str) -> bool:
        await self.ready.wait()
        answer = await self.upstream.call(
            DYNAMODB,
            "GetItem",
            {"TableName": self.table, "Key": {"leaseKey": {"S": key}}, "ConsistentRead": True},
        )
        item = answer.get("Item")
        sent = self.now()
        if item is None:
            try:
                await self.upstream.call(
                    DYNAMODB,
                    "PutItem",
                    {
                        "TableName": self.table,
                        "Item": {
                            "leaseKey": {"S": key},
                            "leaseOwner": {"S": self.me},
                            "leaseCounter": {"N": "1"},
                        },
                        "ConditionExpression": "attribute_not_exists(leaseKey)",
                    },
                )
            except UpstreamError as exc:
                if exc.code == CONDITION_FAILED:
                    return False  # another process created it first
                raise
            self.held[key] = _Held(key, 1, sent)
            log.info("lease taken", lease=key, previous_owner=None, checkpoint=None)
            return True
        owner = item.get("leaseOwner", {}).get("S")
        lease = LeaseSeen(key, owner, int(item["leaseCounter"]["N"]))
        seen = {key: self._singletons[key]} if key in self._singletons else {}
        observe(seen, [lease], sent)
        self._singletons[key] = seen[key]
        if owner != self.me and not is_expired(lease, seen, sent, self.duration):
            return False
        try:
            await self.update_lease(
                key,
                "SET leaseOwner = :me, leaseCounter = :next",
                "leaseCounter = :counter",
                {
                    ":me": {"S": self.me},
                    ":counter": {"N": str(lease.counter)},
                    ":next": {"N": str(lease.counter + 1)},
                },
            )
        except UpstreamError as exc:
            if exc.code == CONDITION_FAILED:
                return False
            raise
        self.held[key] = _Held(key, lease.counter + 1, sent)
        log.info("lease taken", lease=key, previous_owner=owner, checkpoint=None)
        return True

    def still_valid(self, held: _Held) -> bool:
        return self.now() - held.renewed_at <= self.duration

    def drop(self, key: str, why: str) -> None:
        """Forget a lease this process no longer holds; its shard stops."""
        if self.held.pop(key, None) is None:
            return
        log.info("lease lost", lease=key, reason=why)
        view = self._view_of(key)
        if view is not None:
            view.forget(key[len(view.prefix) :])
            view.notify()

    def _view_of(self, key: str) -> _View | None:
        prefix = key.rsplit("|", 1)[0] + "|"
        return self.views.get(prefix)

    # --------------------------------------------------------------------- loops

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Create the table if needed, then renew and take until cancelled."""
        task_status.started()
        await self._ensure_table()
        self.ready.set()
        log.info("lease table ready", table=self.table, worker=self.me, duration=self.duration)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._renew_loop)
                tg.start_soon(self._take_loop)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                for key in list(self.held):
                    await self._release(key)

    async def _ensure_table(self) -> None:
        while True:
            try:
                status = await self._table_status()
                if status is None:
                    await self._create_table()
                    status = await self._table_status()
                deadline = time.monotonic() + TABLE_WAIT_SECONDS
                while status != "ACTIVE" and time.monotonic() < deadline:
                    await anyio.sleep(0.5)
                    status = await self._table_status()
                if status == "ACTIVE":
                    return
                log.warning("lease table not active yet", table=self.table, status=status)
            except (UpstreamError, UpstreamUnavailable) as exc:
                log.warning("lease table unavailable; retrying", table=self.table, error=str(exc))
                await anyio.sleep(min(5.0, self.duration))

    async def _recreate_table(self) -> None:
        """The lease table was deleted under the running processes: create it again
        and its leases with it (their checkpoints are gone: at-least-once, shards not
        known to be finished start over from the leases' start positions)."""
        log.warning("the lease table is gone; creating it again", table=self.table)
        await self._ensure_table()
        for view in self.views.values():
            view.known.clear()  # the next sync creates every lease again
            view.notify()
        self.observed.clear()

    async def _table_status(self) -> str | None:
        try:
            answer = await self.upstream.call(DYNAMODB, "DescribeTable", {"TableName": self.table})
        except UpstreamError as exc:
            if exc.code == "ResourceNotFoundException":
                return None
            raise
        return str(answer["Table"]["TableStatus"])

    async def _create_table(self) -> None:
        try:
            await self.upstream.call(
                DYNAMODB,
                "CreateTable",
                {
                    "TableName": self.table,
                    "AttributeDefinitions": [{"AttributeName": "leaseKey", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "leaseKey", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            )
            log.info("lease table created", table=self.table)
        except UpstreamError as exc:
            if exc.code != "ResourceInUseException":  # another process created it first
                raise

    async def _renew_loop(self) -> None:
        """Renew every held lease each period, concurrently (one slow answer must not
        make the others late); a lease whose renewal is still under way is skipped."""
        period = self.duration / 3
        limiter = anyio.CapacityLimiter(RENEW_CONCURRENCY)
        async with anyio.create_task_group() as tg:
            while True:
                for key in list(self.held):
                    if key not in self._renewing:
                        self._renewing.add(key)
                        tg.start_soon(self._renew_guarded, key, limiter)
                await anyio.sleep(period)

    async def _renew_guarded(self, key: str, limiter: anyio.CapacityLimiter) -> None:
        try:
            async with limiter:
                await self._renew(key)
        except Exception:
            log.exception("renewing a lease failed", lease=key)
        finally:
            self._renewing.discard(key)

    async def _take_loop(self) -> None:
        period = min(self.duration / 2, TAKE_MAX_PERIOD)
        while True:
            self.wake = anyio.Event()
            if self.views:
                try:
                    await self._take_round()
                except (UpstreamError, UpstreamUnavailable) as exc:
                    log.warning("could not scan the lease table", error=str(exc))
                except Exception:
                    log.exception("taking leases failed")
            with anyio.move_on_after(period):
                await self.wake.wait()

    # --------------------------------------------------------------- operations

    async def _renew(self, key: str) -> None:
        held = self.held.get(key)
        if held is None:
            return
        if not self.still_valid(held):
            self.drop(key, "not renewed in time")
            return
        sent = self.now()
        try:
            await self.update_lease(
                key,
                "SET leaseCounter = :next",
                "leaseOwner = :me AND leaseCounter = :counter",
                {
                    ":me": {"S": self.me},
                    ":counter": {"N": str(held.counter)},
                    ":next": {"N": str(held.counter + 1)},
                },
                deadline=held.renewed_at + self.duration,
            )
        except UpstreamError as exc:
            if exc.code == CONDITION_FAILED:
                self.drop(key, "taken by another process")
                return
            log.warning("lease renewal refused", lease=key, error=str(exc))
            return
        except UpstreamUnavailable as exc:
            log.warning("lease renewal failed", lease=key, error=str(exc))
            if not self.still_valid(held):
                self.drop(key, "not renewed in time")
            return
        if self.held.get(key) is held:
            held.counter += 1
            held.renewed_at = sent  # the lease was surely ours until the request left

    async def _scan(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            answer = await self.upstream.call(DYNAMODB, "Scan", params)
            items.extend(answer.get("Items", []))
            last = answer.get("LastEvaluatedKey")
            if not last:
                return items
            params["ExclusiveStartKey"] = last

    async def _take_round(self) -> None:
        try:
            items = await self._scan()
        except UpstreamError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            await self._recreate_table()
            return
        now = self.now()
        seen: list[LeaseSeen] = []
        by_key: dict[str, dict[str, Any]] = {}
        for item in items:
            key = item["leaseKey"]["S"]
            view = self._view_of(key)
            if view is None:
                continue  # a mapping this process does not run
            shard_id = key[len(view.prefix) :]
            view.known.add(shard_id)
            finished = item.get("checkpoint", {}).get("S") == SHARD_END
            if finished and shard_id not in view.finished:
                view.finished.add(shard_id)
                view.notify()
            owner = item.get("leaseOwner", {}).get("S")
            lease = LeaseSeen(key, owner, int(item["leaseCounter"]["N"]), finished)
            seen.append(lease)
            by_key[key] = item
        observe(self.observed, seen, now)
        for lease in seen:  # someone else owns what this process believes it holds
            held = self.held.get(lease.key)
            if held is not None and lease.owner != self.me:
                self.drop(lease.key, "taken by another process")
        choice = to_take(
            seen, self.me, set(self.held), self.observed, now, self.duration, self._rng
        )
        for lease in choice:
            await self._take(lease, by_key[lease.key])

    async def _take(self, lease: LeaseSeen, item: dict[str, Any]) -> None:
        values: dict[str, Any] = {
            ":me": {"S": self.me},
            ":counter": {"N": str(lease.counter)},
            ":next": {"N": str(lease.counter + 1)},
            ":one": {"N": "1"},
            ":zero": {"N": "0"},
        }
        sent = self.now()
        try:
            answer = await self.update_lease(
                lease.key,
                "SET leaseOwner = :me, leaseCounter = :next, ownerSwitchesSinceCheckpoint = "
                "if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one",
                "leaseCounter = :counter",
                values,
                new=True,
            )
        except UpstreamError as exc:
            if exc.code == CONDITION_FAILED:
                return  # renewed or taken meanwhile
            raise
        view = self._view_of(lease.key)
        if view is None:  # detached meanwhile: give it back
            self.held[lease.key] = _Held(lease.key, lease.counter + 1, sent)
            await self._release(lease.key)
            return
        fresh = answer.get("Attributes", item)
        shard_id = lease.key[len(view.prefix) :]
        factor, lanes, start = _stored_lanes(fresh, shard_id)
        self.held[lease.key] = _Held(lease.key, lease.counter + 1, sent)
        view.leases[shard_id] = _Lease(factor, start, {cp.lane: cp for cp in lanes})
        log.info(
            "lease taken",
            lease=lease.key,
            previous_owner=lease.owner,
            checkpoint=fresh.get("checkpoint", {}).get("S"),
        )
        view.notify()

    async def _release(self, key: str) -> None:
        held = self.held.pop(key, None)
        if held is None:
            return
        view = self._view_of(key)
        if view is not None:
            view.forget(key[len(view.prefix) :])
        try:
            await self.update_lease(
                key,
                "REMOVE leaseOwner SET leaseCounter = leaseCounter + :one",
                "leaseOwner = :me",
                {":me": {"S": self.me}, ":one": {"N": "1"}},
                deadline=time.monotonic() + 1.0,
            )
            log.info("lease released", lease=key)
        except (UpstreamError, UpstreamUnavailable) as exc:
            log.info("lease not released; it will expire", lease=key, error=str(exc))
