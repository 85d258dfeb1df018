"""Running one event source mapping: a poller per shard, parents before children.

Each shard is read by ``ParallelizationFactor`` lanes; a record belongs to the lane
chosen by a hash of its ``Keys``, so records of one item stay in order while up to N
batches of the shard run at once. A lane collects a batch (BatchSize records,
MaximumBatchingWindowInSeconds, 6 MB, one tumbling window), invokes the function,
lets :func:`~dynoxide_streams.triggers.retry_rules.judge` decide, stores its checkpoint
and goes on. Nothing is buffered beyond the batch in hand: a slow function costs a
checkpoint, not memory. Idle lanes sleep until the Writer's next commit.
"""

from __future__ import annotations

import math
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import orjson
import structlog

from dynoxide_streams.clock import Clock
from dynoxide_streams.engine.changes import ChangeSource
from dynoxide_streams.engine.trigger_store import Checkpoint, TriggerStore
from dynoxide_streams.http_client import http_post
from dynoxide_streams.shards.positions import earliest, is_after
from dynoxide_streams.triggers import events
from dynoxide_streams.triggers.filters import CompiledFilters
from dynoxide_streams.triggers.functions import InvokeResult
from dynoxide_streams.triggers.leases import MappingLeases, ShardLeases
from dynoxide_streams.triggers.mappings import Mapping, parse_function_name
from dynoxide_streams.triggers.retry_rules import RECORD_AGE_EXCEEDED as AGE_EXCEEDED
from dynoxide_streams.triggers.retry_rules import Batch, Rules, Verdict, judge, too_old

log = structlog.get_logger("dynoxide_streams.triggers")

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
IDLE_RECHECK_SECONDS = 5.0
RETRY_BASE_DELAY = 0.02
RETRY_MAX_DELAY = 1.0
READ_PAGE = 1000


@dataclass
class MappingRun:
    """Everything the pollers of one mapping share."""

    mapping: Mapping
    source: ChangeSource
    store: TriggerStore
    clock: Clock
    invoke: Callable[[dict[str, Any]], Awaitable[InvokeResult]]
    on_result: Callable[[bool], Awaitable[None]]
    filters: CompiledFilters | None = None
    rules: Rules = field(default_factory=Rules)
    finished: set[str] = field(default_factory=set)
    shard_done: anyio.Event = field(default_factory=anyio.Event)
    positions: dict[tuple[str, int], str] = field(default_factory=dict)  # running lanes
    leases: ShardLeases | None = None  # shared with other processes (sidecar --lease-table)
    view: MappingLeases | None = None  # this mapping's leases, while they are attached
    scopes: dict[str, anyio.CancelScope] = field(default_factory=dict)  # leased shards

    @classmethod
    def create(
        cls,
        mapping: Mapping,
        source: ChangeSource,
        store: TriggerStore,
        clock: Clock,
        invoke: Callable[[dict[str, Any]], Awaitable[InvokeResult]],
        on_result: Callable[[bool], Awaitable[None]],
        leases: ShardLeases | None = None,
    ) -> MappingRun:
        return cls(
            mapping,
            source,
            store,
            clock,
            invoke,
            on_result,
            leases=leases,
            filters=mapping.filters(),
            rules=Rules(
                report_failures=mapping.report_failures,
                bisect=mapping.bisect,
                maximum_retry_attempts=mapping.maximum_retry_attempts,
                maximum_record_age=mapping.maximum_record_age,
                require_state=mapping.tumbling_window > 0,
            ),
        )


async def run_mapping(run: MappingRun) -> None:
    """Deliver the mapping's stream until cancelled (disable, update, delete, stop)."""
    if run.leases is not None:
        await _run_leased(run, run.leases)
        return
    mapping = run.mapping
    lanes = mapping.parallelization_factor
    stored: dict[str, list[Checkpoint]] = {}
    for cp in run.store.checkpoints(mapping.uuid):
        stored.setdefault(cp.shard_id, []).append(cp)
    for shard_id, cps in stored.items():
        if len(cps) >= lanes and all(cp.finished for cp in cps):
            run.finished.add(shard_id)
    started: set[str] = set()
    mark = run.source.high_water
    async with anyio.create_task_group() as tg:
        while True:
            shards = await run.source.describe_shards(mapping.event_source_arn)
            visible = {s.shard_id for s in shards}
            for shard in shards:
                if shard.shard_id in run.finished or shard.shard_id in started:
                    continue
                parent = shard.parent_id
                if parent is not None and parent in visible and parent not in run.finished:
                    continue  # the parent's records come first
                started.add(shard.shard_id)
                own = {cp.lane: cp for cp in stored.get(shard.shard_id, [])}
                tg.start_soon(_run_shard, run, shard.shard_id, own)
            running = started - run.finished
            run.shard_done = anyio.Event()
            with anyio.move_on_after(IDLE_RECHECK_SECONDS):
                if running:
                    await run.shard_done.wait()
                else:  # nothing to read yet: the stream may gain a shard with any commit
                    mark = await run.source.wait_for_records(mark, IDLE_RECHECK_SECONDS)


async def _run_shard(
    run: MappingRun, shard_id: str, stored: dict[int, Checkpoint], start_after: str | None = None
) -> None:
    lanes = run.mapping.parallelization_factor
    first = start_after or run.mapping.start_after  # for a lane without a checkpoint
    async with anyio.create_task_group() as tg:
        for lane in range(lanes):
            start = stored.get(lane) or Checkpoint(shard_id, lane, first)
            if not start.finished:
                tg.start_soon(_Lane(run, shard_id, lane, start).serve)
    run.finished.add(shard_id)
    run.shard_done.set()


async def _run_leased(run: MappingRun, leases: ShardLeases) -> None:
    """:func:`run_mapping` for the shards this process holds the lease of."""
    mapping = run.mapping
    lanes = mapping.parallelization_factor
    function = parse_function_name(mapping.function_name)
    assert function is not None
    arn = mapping.event_source_arn
    async with leases.attach(function.name, arn) as view:
        run.view = view
        try:
            async with anyio.create_task_group() as tg:
                while True:
                    shards = await run.source.describe_shards(arn)
                    await view.sync(shards, mapping.start_after)
                    visible = {s.shard_id for s in shards}
                    done = view.done() | run.finished
                    held = view.held()
                    for shard_id in [s for s in run.scopes if s not in held and s not in done]:
                        log.info("shard lease lost; stopping", uuid=mapping.uuid, shard=shard_id)
                        run.scopes.pop(shard_id).cancel()
                    for shard in shards:
                        shard_id = shard.shard_id
                        if shard_id in run.scopes or shard_id in done or shard_id not in held:
                            continue
                        parent = shard.parent_id
                        if parent is not None and parent in visible and parent not in done:
                            continue  # the parent's records come first
                        lease = held[shard_id]
                        stored_lanes, checkpoints = lease.factor, list(lease.checkpoints)
                        start = lease.start_after or mapping.start_after
                        if not checkpoints:  # a new lease: what this process did, if anything
                            checkpoints, stored_lanes = _local_checkpoints(run, shard_id), lanes
                        if checkpoints and stored_lanes != lanes:
                            checkpoints = relane(checkpoints, stored_lanes, lanes, start)
                        own = {cp.lane: cp for cp in checkpoints}
                        scope = anyio.CancelScope()
                        run.scopes[shard_id] = scope
                        tg.start_soon(_run_leased_shard, run, shard_id, own, start, scope)
                    await view.wait_changed(IDLE_RECHECK_SECONDS)
        finally:
            run.view = None
            run.scopes.clear()


def _local_checkpoints(run: MappingRun, shard_id: str) -> list[Checkpoint]:
    """This process's own checkpoints of the shard, for a lease that has none (created
    again after its table was lost): the records before them were delivered here, so
    starting there skips nothing. A finished lane restarts at its end position, so the
    lease still records the shard's end."""
    return [
        Checkpoint(shard_id, cp.lane, cp.position, False, cp.window)
        for cp in run.store.checkpoints(run.mapping.uuid)
        if cp.shard_id == shard_id
    ]


async def _run_leased_shard(
    run: MappingRun,
    shard_id: str,
    stored: dict[int, Checkpoint],
    start_after: str,
    scope: anyio.CancelScope,
) -> None:
    with scope:
        await _run_shard(run, shard_id, stored, start_after)
    if run.scopes.get(shard_id) is scope and not scope.cancel_called:
        del run.scopes[shard_id]


def relane(
    checkpoints: list[Checkpoint], old_lanes: int, lanes: int, start_after: str
) -> list[Checkpoint]:
    """Checkpoints for a new ParallelizationFactor: each shard restarts all its lanes
    from the earliest position any old lane had (at-least-once: nothing skipped)."""
    by_shard: dict[str, list[Checkpoint]] = {}
    for cp in checkpoints:
        by_shard.setdefault(cp.shard_id, []).append(cp)
    out: list[Checkpoint] = []
    for shard_id, cps in by_shard.items():
        finished = len(cps) >= old_lanes and all(cp.finished for cp in cps)
        positions = [cp.position for cp in cps]
        if len(cps) < old_lanes:
            positions.append(start_after)
        first = earliest(positions)
        out.extend(Checkpoint(shard_id, lane, first, finished) for lane in range(lanes))
    return out


def lane_of(record: dict[str, Any], lanes: int) -> int:
    if lanes == 1:
        return 0
    keys = orjson.dumps(record["dynamodb"]["Keys"], option=orjson.OPT_SORT_KEYS)
    return zlib.crc32(keys) % lanes


@dataclass
class _Collected:
    records: list[dict[str, Any]]
    consumed: str  # position after every record examined (included or filtered)
    closed: bool  # the shard is closed and read to its end
    window_start: float | None = None
    window_final: bool = False  # a record of a later window follows


class _Lane:
    """One lane of one shard: collect, invoke, judge, checkpoint."""

    def __init__(self, run: MappingRun, shard_id: str, lane: int, start: Checkpoint) -> None:
        self.job = run
        self.shard_id = shard_id
        self.lane = lane
        self.position = start.position
        self.window: dict[str, Any] | None = start.window
        self.mark = run.source.high_water
        self.failures = 0
        run.positions[(shard_id, lane)] = self.position

    async def serve(self) -> None:
        run = self.job
        mapping = run.mapping
        pending: list[Batch] = []
        while True:
            if not pending:
                collected = await self._collect()
                if collected is None:  # the stream or the shard is gone
                    await self._save(finished=True)
                    return
                if collected.records:
                    if self.window is not None and collected.window_start != self.window["start"]:
                        await self._close_window()
                    pending = [Batch(collected.records, collected.consumed)]
                    # the window's last batch: a later window has begun, or its end has
                    # passed by the data clock (no record of it can still appear)
                    final = collected.window_final or (
                        collected.window_start is not None
                        and run.clock.now() >= collected.window_start + mapping.tumbling_window
                    )
                else:
                    moved = collected.consumed != self.position
                    self.position = collected.consumed
                    if collected.closed:
                        if self.window is not None:
                            await self._close_window()
                        await self._save(finished=True)
                        return
                    if self.window is not None and self._window_over():
                        await self._close_window()
                        continue
                    if moved:
                        await self._save()
                    wait = 1.0 if self.window is not None else IDLE_RECHECK_SECONDS
                    self.mark = await run.source.wait_for_records(self.mark, wait)
                    continue
            batch = pending[0]
            if too_old(batch, run.rules, run.clock.now()):
                verdict = Verdict(None, [], batch, AGE_EXCEEDED, ok=False)
                result = InvokeResult(error=None)
            else:
                batch.invokes += 1
                event = self._event(batch.records, final=final and len(pending) == 1)
                result = await run.invoke(event)
                verdict = judge(batch, result, run.rules, run.clock.now())
            pending = verdict.next + pending[1:]
            through = verdict.done_through
            if verdict.discarded is not None:
                await self._dead_letter(verdict.discarded, verdict.condition or "", result)
                through = verdict.discarded.through
            if mapping.tumbling_window > 0 and result.error is None and verdict.ok:
                state = result.payload.get("state", {}) if isinstance(result.payload, dict) else {}
                if final and not pending:
                    self.window = None
                else:
                    self.window = {"start": self._window_of(batch.records[0]), "state": state}
            if through is not None:
                self.position = through
                await self._save()
            await run.on_result(verdict.ok)
            if verdict.ok:
                self.failures = 0
            elif verdict.next:
                self.failures += 1
                await anyio.sleep(
                    min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * 2 ** min(self.failures - 1, 10))
                )

    # ----------------------------------------------------------------- batches

    def _window_of(self, record: dict[str, Any]) -> float:
        size = self.job.mapping.tumbling_window
        return float(math.floor(events.created_at(record) / size) * size)

    def _window_over(self) -> bool:
        assert self.window is not None
        return bool(self.job.clock.now() >= self.window["start"] + self.job.mapping.tumbling_window)

    def _event(self, records: list[dict[str, Any]], *, final: bool) -> dict[str, Any]:
        mapping = self.job.mapping
        if mapping.tumbling_window <= 0:
            return events.stream_event(records)
        start = self._window_of(records[0]) if records else float(self.window["start"])  # type: ignore[index]
        state = (
            self.window["state"]
            if self.window is not None and self.window["start"] == start
            else {}
        )
        return events.window_event(
            records,
            window_start=start,
            window_end=start + mapping.tumbling_window,
            state=state,
            shard_id=self.shard_id,
            stream_arn=mapping.event_source_arn,
            final=final,
        )

    async def _close_window(self) -> None:
        """The final invocation of the open tumbling window (no records left in it)."""
        assert self.window is not None
        mapping = self.job.mapping
        start = float(self.window["start"])
        event = events.window_event(
            [],
            window_start=start,
            window_end=start + mapping.tumbling_window,
            state=self.window["state"],
            shard_id=self.shard_id,
            stream_arn=mapping.event_source_arn,
            final=True,
        )
        result = await self.job.invoke(event)
        if result.error is not None:
            log.warning("final window invocation failed", uuid=mapping.uuid, error=result.message)
        self.window = None
        await self._save()

    async def _collect(self) -> _Collected | None:
        run = self.job
        mapping = run.mapping
        source = run.source
        arn = mapping.event_source_arn
        lanes = mapping.parallelization_factor
        records: list[dict[str, Any]] = []
        size = 0
        consumed = self.position
        deadline: float | None = None
        window_start: float | None = None
        # one lane, no filter: every record read joins the batch, so read no more than
        # fits (plus one, to see that the batch is full without another read)
        simple = lanes == 1 and run.filters is None and mapping.tumbling_window <= 0
        while True:
            limit = min(READ_PAGE, mapping.batch_size - len(records) + 1) if simple else READ_PAGE
            result = await source.read(arn, self.shard_id, consumed, limit)
            if result is None:
                return None
            full = False
            for raw in result.records:
                if len(records) >= mapping.batch_size or size + len(raw) > MAX_PAYLOAD_BYTES:
                    full = True
                    break
                record = events.lambda_record(raw, arn)
                if lane_of(record, lanes) == self.lane and (
                    run.filters is None or run.filters.matches(record)
                ):
                    if mapping.tumbling_window > 0:
                        start = self._window_of(record)
                        if window_start is None:
                            window_start = start
                        elif start != window_start:  # a batch never spans two windows
                            return _Collected(records, consumed, False, window_start, True)
                    records.append(record)
                    size += len(raw)
                consumed = events.sequence_of(record)
            if not full and not result.records and is_after(result.position, consumed):
                consumed = result.position
            closed = result.shard_closed and not full and not is_after(result.position, consumed)
            if full or closed:
                return _Collected(records, consumed, closed, window_start)
            if len(result.records) >= limit:
                await anyio.lowlevel.checkpoint()  # a long filtered run must not hog the loop
                continue  # a full page: there may be more already
            if not records or mapping.maximum_batching_window <= 0:
                return _Collected(records, consumed, False, window_start)
            if deadline is None:
                deadline = time.monotonic() + mapping.maximum_batching_window
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _Collected(records, consumed, False, window_start)
            self.mark = await source.wait_for_records(self.mark, remaining)

    # ----------------------------------------------------------- bookkeeping

    async def _save(self, *, finished: bool = False) -> None:
        run = self.job
        if finished:
            run.positions.pop((self.shard_id, self.lane), None)
        else:
            run.positions[(self.shard_id, self.lane)] = self.position
        checkpoint = Checkpoint(self.shard_id, self.lane, self.position, finished, self.window)
        await run.store.save_checkpoints(run.mapping.uuid, [checkpoint])
        if run.view is not None:
            kept = await run.view.save(checkpoint, run.mapping.parallelization_factor)
            if not kept:  # the lease was taken: its new owner resumes from its checkpoint
                scope = run.scopes.pop(self.shard_id, None)
                if scope is not None:
                    scope.cancel()
                await anyio.lowlevel.checkpoint()

    async def _dead_letter(self, batch: Batch, condition: str, result: InvokeResult) -> None:
        mapping = self.job.mapping
        body = events.failure_record(
            request_id=str(uuid.uuid4()),
            function_arn=mapping.function_arn,
            condition=condition,
            invoke_count=max(batch.invokes, 1) if batch.invokes else 0,
            status_code=result.status_code,
            function_error=result.error,
            shard_id=self.shard_id,
            stream_arn=mapping.event_source_arn,
            records=batch.records,
            now=self.job.clock.now(),
        )
        log.warning(
            "batch discarded",
            uuid=mapping.uuid,
            condition=condition,
            first=body["DDBStreamBatchInfo"]["startSequenceNumber"],
            size=len(batch.records),
        )
        await self.job.store.add_dead_letter(mapping.uuid, body)
        destination = mapping.on_failure
        if destination is not None and destination.startswith(("http://", "https://")):
            try:
                status, _, _ = await http_post(destination, orjson.dumps(body), timeout=5.0)
                if not 200 <= status < 300:
                    log.warning("on-failure destination refused", url=destination, status=status)
            except (OSError, TimeoutError, anyio.BrokenResourceError) as exc:
                log.warning("on-failure destination unreachable", url=destination, error=str(exc))
