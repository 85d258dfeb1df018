"""Running one event source mapping: a poller per shard, parents before children.

Each shard is read by ``ParallelizationFactor`` lanes; a record belongs to the lane
chosen by a hash of its ``Keys``, so records of one item stay in order while up to N
batches of the shard run at once. A lane collects a batch (BatchSize records,
MaximumBatchingWindowInSeconds, 6 MB, one tumbling window), invokes the function,
stores its checkpoint and goes on; what it does next is decided by the pure
:class:`~dynoxide_streams.triggers.lane.Lane`, and discarded batches go to
:mod:`~dynoxide_streams.triggers.dead_letters`. Nothing is buffered beyond the batch in
hand: a slow function costs a checkpoint, not memory. Idle lanes sleep until the
Writer's next commit.
"""

from __future__ import annotations

import time
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
from dynoxide_streams.logs import oplog
from dynoxide_streams.shards.positions import earliest, is_after
from dynoxide_streams.triggers import dead_letters, events
from dynoxide_streams.triggers.filters import CompiledFilters
from dynoxide_streams.triggers.functions import InvokeResult
from dynoxide_streams.triggers.lane import (
    IDLE_RECHECK_SECONDS,
    SKIP,
    Action,
    CloseWindow,
    Collect,
    Collected,
    DeadLetter,
    Failure,
    Invoke,
    Lane,
    Report,
    Resume,
    Save,
    Stop,
)
from dynoxide_streams.triggers.leases import MappingLeases, ShardLeases
from dynoxide_streams.triggers.mappings import Mapping, parse_function_name
from dynoxide_streams.triggers.retry_rules import Rules

log = structlog.get_logger("dynoxide_streams.triggers")

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
READ_PAGE = 1000


@dataclass
class MappingRun:
    """Everything the pollers of one mapping share."""

    mapping: Mapping
    source: ChangeSource
    store: TriggerStore
    clock: Clock
    invoke: Callable[[dict[str, Any]], Awaitable[InvokeResult]]
    on_result: Callable[[bool, Failure | None], Awaitable[None]]
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
        on_result: Callable[[bool, Failure | None], Awaitable[None]],
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


class _Lane:
    """One lane of one shard: performs what its :class:`~dynoxide_streams.triggers.lane.Lane`
    decides (reads, invocations, checkpoints, dead letters) and feeds back the outcomes."""

    def __init__(self, run: MappingRun, shard_id: str, lane: int, start: Checkpoint) -> None:
        self.job = run
        self.shard_id = shard_id
        self.lane = lane
        self.machine = Lane(
            start,
            rules=run.rules,
            tumbling_window=run.mapping.tumbling_window,
            stream_arn=run.mapping.event_source_arn,
        )
        self.mark = run.source.high_water
        run.positions[(shard_id, lane)] = start.position

    @property
    def position(self) -> str:
        return self.machine.position

    async def serve(self) -> None:
        run = self.job
        machine = self.machine
        actions = machine.start()
        while True:
            for action in actions[:-1]:
                await self._perform(action)
            match actions[-1]:
                case Collect(wait):
                    if wait is not None:
                        self.mark = await run.source.wait_for_records(self.mark, wait)
                    collected = await self._collect()
                    actions = machine.collected(collected, run.clock.now())
                case Invoke(event):
                    result = await run.invoke(event)
                    actions = machine.invoked(result, run.clock.now())
                case CloseWindow(event):
                    result = await run.invoke(event)
                    if result.error is not None:
                        oplog.warning(
                            "final window invocation failed",
                            uuid=run.mapping.uuid,
                            function=self.function,
                            shard=self.shard_id,
                            lane=self.lane,
                            error_type=result.error_type or result.error,
                            error=result.message,
                            decision=SKIP,
                        )
                        if result.traceback:
                            self._log_traceback(result.traceback)
                    actions = machine.window_closed()
                case Resume(delay):
                    if delay > 0:
                        await anyio.sleep(delay)
                    actions = machine.resume(run.clock.now())
                case Stop():
                    return
                case last:
                    raise AssertionError(f"a lane's actions must end in one to answer: {last}")

    async def _perform(self, action: Action) -> None:
        """An action that needs no answer."""
        run = self.job
        match action:
            case Save(checkpoint):
                await self._save(checkpoint)
            case DeadLetter(batch, condition, result, last_error):
                await dead_letters.deliver(
                    run.store,
                    run.mapping,
                    self.shard_id,
                    batch,
                    condition,
                    result,
                    run.clock.now(),
                    last_error=last_error,
                )
            case Report(ok, failure):
                if failure is not None:
                    self._log_failure(failure)
                await run.on_result(ok, failure)
            case _:
                raise AssertionError(f"an action that needs an answer came too early: {action}")

    @property
    def function(self) -> str:
        return dead_letters.function_of(self.job.mapping)

    def _log_failure(self, failure: Failure) -> None:
        """A failed invocation: at WARNING if it begins a failure streak, else at DEBUG;
        the handler's traceback at DEBUG."""
        fields: dict[str, Any] = {
            "uuid": self.job.mapping.uuid,
            "function": self.function,
            "shard": self.shard_id,
            "lane": self.lane,
            "error_type": failure.error_type,
            "error": failure.message,
            "decision": failure.decision,
            "attempt": failure.attempt,
            "records": failure.records,
        }
        if failure.streak == 1:
            oplog.warning("trigger invocation failed", **fields)
        else:
            oplog.debug("trigger invocation failed", streak=failure.streak, **fields)
        if failure.traceback:
            self._log_traceback(failure.traceback)

    def _log_traceback(self, traceback: str) -> None:
        oplog.debug(
            "trigger handler traceback",
            uuid=self.job.mapping.uuid,
            function=self.function,
            traceback=traceback,
        )

    def _window_of(self, record: dict[str, Any]) -> float:
        return self.machine.window_of(record)

    async def _collect(self) -> Collected | None:
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
                            return Collected(records, consumed, False, window_start, True)
                    records.append(record)
                    size += len(raw)
                consumed = events.sequence_of(record)
            if not full and not result.records and is_after(result.position, consumed):
                consumed = result.position
            closed = result.shard_closed and not full and not is_after(result.position, consumed)
            if full or closed:
                return Collected(records, consumed, closed, window_start)
            if len(result.records) >= limit:
                await anyio.lowlevel.checkpoint()  # a long filtered run must not hog the loop
                continue  # a full page: there may be more already
            if not records or mapping.maximum_batching_window <= 0:
                return Collected(records, consumed, False, window_start)
            if deadline is None:
                deadline = time.monotonic() + mapping.maximum_batching_window
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Collected(records, consumed, False, window_start)
            self.mark = await source.wait_for_records(self.mark, remaining)

    # ----------------------------------------------------------- bookkeeping

    async def _save(self, checkpoint: Checkpoint) -> None:
        run = self.job
        if checkpoint.finished:
            run.positions.pop((self.shard_id, self.lane), None)
        else:
            run.positions[(self.shard_id, self.lane)] = checkpoint.position
        await run.store.save_checkpoints(run.mapping.uuid, [checkpoint])
        if run.view is not None:
            kept = await run.view.save(checkpoint, run.mapping.parallelization_factor)
            if not kept:  # the lease was taken: its new owner resumes from its checkpoint
                scope = run.scopes.pop(self.shard_id, None)
                if scope is not None:
                    scope.cancel()
                await anyio.lowlevel.checkpoint()
