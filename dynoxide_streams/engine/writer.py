"""The single writer: every change to the database goes through one task, in groups.

Callers build a job — an :class:`ItemBatch` (one or more item writes committed all or
nothing) or a :class:`SchemaChange` (DDL, committed alone) — and ``await
writer.submit(job)``; schema changes usually go through :meth:`Writer.change_schema`,
which takes the change as a ``write`` and a ``publish`` function. Jobs travel through a bounded memory stream (callers wait when it
is full; nothing is queued without bound). The writer task takes everything waiting
(up to ``max_group``) and commits it as one SQLite transaction:

1. it reads the current rows of every key the group touches in one query;
2. it runs each batch's ``decide`` functions against those rows in arrival order, a
   batch seeing the effects of the batches before it; a batch that raises a
   :class:`DynamoDBError` is rejected alone;
3. it writes the final rows, the counters and the change records with a few
   ``executemany`` calls and COMMITs.

Only after COMMIT does it answer the callers and publish: ``high_water`` (the number
of committed transactions) rises, :meth:`wait_for_commit` waiters wake, and every
post-commit listener is called with the committed :class:`Change` list.

A full disk is an episode the writer lives through, never a reason to stop: a group
that cannot commit is rolled back whole, its callers get :class:`DiskFull` and nothing
is published (counters, stream state, ``high_water`` stay as they were); a failed
checkpoint is retried with exponential back-off (``CHECKPOINT_RETRY_FIRST`` doubling
up to ``CHECKPOINT_RETRY_MAX`` seconds). The episode is logged once at ERROR when it
starts and once at INFO when it ends — a commit and a checkpoint have succeeded since
the last failure and ``resume_free_bytes`` are free again; failures in between are
DEBUG lines. Reads never go through the writer, so they keep working meanwhile.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import anyio
import orjson
import structlog
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.changes import Change
from dynoxide_streams.engine.store import Store, is_disk_full
from dynoxide_streams.engine.tables import IndexInfo, StorageKey, TableInfo
from dynoxide_streams.engine.values import Item, item_size, items_equal
from dynoxide_streams.errors import (
    DISK_FULL_MESSAGE,
    DiskFull,
    DynamoDBError,
    InternalServerError,
    ServiceUnavailable,
    resource_not_found,
)
from dynoxide_streams.metrics import Metrics

log = structlog.get_logger("dynoxide_streams.writer")

T = TypeVar("T")

CHECKPOINT_RETRY_FIRST = 0.25
"""Seconds before the first retry of a failed checkpoint; each failure doubles it."""

CHECKPOINT_RETRY_MAX = 8.0
"""The longest wait between checkpoint retries, in seconds."""


class _Unchanged:
    """Sentinel outcome: leave the item exactly as it is."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()

Outcome = tuple[Item, int] | None | _Unchanged
"""What a write decides: the new item and its size, None for "no item", or UNCHANGED."""

Decide = Callable[[Item | None], Outcome]
"""Given the current item (None if absent), return the new outcome or raise."""


@dataclass(eq=False)
class ItemWrite:
    """One item's change. After commit, ``old`` and ``new`` hold its before/after."""

    table: TableInfo
    key: StorageKey
    decide: Decide
    old: Item | None = None
    new: Item | None = None
    service: bool = False
    old_size: int = 0
    new_size: int = 0


class _Job:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: DynamoDBError | None = None


class ItemBatch(_Job):
    """Item writes applied all or nothing (PutItem is a batch of one).

    ``finish``, if given, runs after every write of the batch has decided and may
    raise a DynamoDBError to reject the whole batch (transactions collect their
    cancellation reasons this way).
    """

    def __init__(
        self, writes: Sequence[ItemWrite], finish: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.writes = writes
        self.finish = finish


class SchemaChange(_Job, Generic[T]):
    """A DDL change run alone in its own transaction.

    ``apply(conn)`` runs inside the transaction and returns ``(result, publish)``;
    ``publish()`` runs after COMMIT to update in-memory state (the catalog).
    ``notify=False`` marks bookkeeping that readers of the change log need not hear
    about (trigger checkpoints): its commit does not raise ``high_water``.
    """

    def __init__(
        self,
        apply: Callable[[sqlite3.Connection], tuple[T, Callable[[], None]]],
        *,
        notify: bool = True,
    ) -> None:
        super().__init__()
        self.apply = apply
        self.notify = notify
        self.result: T | None = None


def _nothing() -> None:
    return None


CommitListener = Callable[[Sequence[Change]], None]
ChangeCapture = Callable[[sqlite3.Connection, Sequence[Change]], Callable[[], None] | None]
"""Runs inside the write transaction with the group's changes; may return a function
to call after COMMIT (to publish in-memory state only once it is durable)."""


@dataclass
class _Row:
    item: Item | None
    size: int


class Writer:
    """Owner of the write connection. Run :meth:`run` in the service's task group."""

    def __init__(
        self,
        store: Store,
        *,
        max_group: int = 256,
        queue_size: int = 1024,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self.metrics = metrics or Metrics()
        self._max_group = max_group
        self._send: MemoryObjectSendStream[_Job]
        self._receive: MemoryObjectReceiveStream[_Job]
        self._send, self._receive = anyio.create_memory_object_stream[_Job](queue_size)
        self._commit_event = anyio.Event()
        self.high_water = 0
        self.listeners: list[CommitListener] = []
        self.capture: list[ChangeCapture] = []
        self.checkpoint_bytes = 4 * 1024 * 1024
        self.idle_checkpoint_seconds = 1.0
        self.resume_free_bytes = 2 * self.checkpoint_bytes
        self._dirty = False
        self._closed = False
        self._checkpoint_delay = 0.0
        self._checkpoint_after = 0.0
        self._failing: set[str] = set()  # "commit" / "checkpoint": failed, not yet succeeded
        self._episode_started: float | None = None
        self.metrics.gauge(
            "dynoxide_disk_full",
            "1 while the database's disk is full (writes refused), else 0.",
            lambda: [((), 0.0 if self._episode_started is None else 1.0)],
        )

    # ------------------------------------------------------------------ callers

    async def submit(self, job: _Job) -> None:
        """Hand ``job`` to the writer and wait until it is committed or rejected.

        Raises the job's DynamoDBError if it was rejected.
        """
        if self._closed:
            raise ServiceUnavailable(messages.SHUTTING_DOWN.template)
        try:
            await self._send.send(job)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise ServiceUnavailable(messages.SHUTTING_DOWN.template) from None
        with anyio.CancelScope(shield=True):
            await job.done.wait()
        if job.error is not None:
            raise job.error

    async def change_schema(
        self,
        write: Callable[[sqlite3.Connection], T],
        publish: Callable[[T], None] | None = None,
        *,
        notify: bool = True,
    ) -> T:
        """Run ``write(conn)`` as a :class:`SchemaChange` (alone in its transaction),
        then, only after COMMIT, ``publish(result)`` to update in-memory state; return
        the result. Raises what ``write`` raised (then nothing was committed or
        published); ``notify`` as for :class:`SchemaChange`.
        """

        def apply(conn: sqlite3.Connection) -> tuple[T, Callable[[], None]]:
            result = write(conn)
            if publish is None:
                return result, _nothing
            return result, lambda: publish(result)

        job: SchemaChange[T] = SchemaChange(apply, notify=notify)
        await self.submit(job)
        return cast(T, job.result)

    async def wait_for_commit(self, after: int) -> int:
        """Wait until ``high_water`` exceeds ``after``; return the new high water."""
        while self.high_water <= after:
            await self._commit_event.wait()
        return self.high_water

    def close(self) -> None:
        """Stop accepting jobs; :meth:`run` returns once the queued ones are done."""
        self._closed = True
        self._send.close()

    # ------------------------------------------------------------------- writer

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Commit jobs until :meth:`close` is called and the stream is drained.

        Checkpoints are the writer's job too: once the WAL passes
        ``checkpoint_bytes``, or after ``idle_checkpoint_seconds`` without work, it
        checkpoints in a worker thread while no write is in flight — so the checkpoint
        completes, the WAL restarts from its beginning instead of growing, and the
        event loop keeps serving reads meanwhile (writers wait on the bounded stream).
        A restarted WAL is cut back to ``checkpoint_bytes`` (``journal_size_limit``),
        so the file's size measures what the WAL holds: without that, a WAL that once
        passed the limit kept its size and every group paid a checkpoint.
        """
        self._store.write_conn.execute(f"PRAGMA journal_size_limit = {self.checkpoint_bytes:d}")
        task_status.started()
        try:
            await self._serve()
        finally:
            self._fail_pending()

    def _fail_pending(self) -> None:
        """Answer every job still queued (the writer is stopping without them)."""
        self._closed = True
        while True:
            try:
                job = self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            job.error = ServiceUnavailable(messages.SHUTTING_DOWN.template)
            job.done.set()
        self._receive.close()

    async def _serve(self) -> None:
        while True:
            first: _Job | None = None
            with anyio.move_on_after(self.idle_checkpoint_seconds):
                try:
                    first = await self._receive.receive()
                except anyio.EndOfStream:
                    return
            if first is None:
                await self._checkpoint(idle=True)
                continue
            group: list[_Job] = [first]
            while len(group) < self._max_group:
                try:
                    group.append(self._receive.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            self._process(group)
            await self._checkpoint(idle=False)

    async def _checkpoint(self, *, idle: bool) -> None:
        size = self._store.wal_bytes()
        if not (size > self.checkpoint_bytes or (idle and size > 0 and self._dirty)):
            return
        if time.monotonic() < self._checkpoint_after:
            return  # backing off after a failure
        try:
            await self._store.checkpoint()
        except (sqlite3.Error, DynamoDBError) as exc:  # DynamoDBError: Store.after_commit
            first = self._checkpoint_delay == 0.0
            self._checkpoint_delay = min(
                max(2 * self._checkpoint_delay, CHECKPOINT_RETRY_FIRST), CHECKPOINT_RETRY_MAX
            )
            self._checkpoint_after = time.monotonic() + self._checkpoint_delay
            self.metrics.checkpoint_failures.inc()
            if is_disk_full(exc):
                self._disk_full("checkpoint", exc)
            elif first:
                log.exception("checkpoint failed; retrying with back-off")
            return
        self._checkpoint_delay = self._checkpoint_after = 0.0
        self._dirty = False
        self._succeeded("checkpoint")

    def _disk_full(self, what: str, exc: BaseException) -> None:
        """Note a disk-full failure of ``what``; log at ERROR if it starts an episode."""
        self._failing.add(what)
        if self._episode_started is None:
            self._episode_started = time.monotonic()
            log.error(
                "disk full: writes are refused and checkpoints retried until space is freed",
                database=str(self._store.path),
                failed=what,
                error=str(exc),
            )
        else:
            log.debug("disk still full", failed=what)

    def _succeeded(self, what: str) -> None:
        """Note a success of ``what``; end a disk-full episode once both commits and
        checkpoints work again and enough space is free (so that a nearly full disk
        that lets one small write through does not start a new episode per write)."""
        self._failing.discard(what)
        if self._episode_started is None or self._failing:
            return
        if self._store.free_bytes() < self.resume_free_bytes:
            return
        seconds = round(time.monotonic() - self._episode_started, 3)
        self._episode_started = None
        log.info("disk space available again: writes resumed", seconds=seconds)

    def _process(self, group: list[_Job]) -> None:
        batches: list[ItemBatch] = []
        for job in group:
            if isinstance(job, SchemaChange):
                self._commit_items(batches)
                batches = []
                self._commit_schema(job)
            else:
                assert isinstance(job, ItemBatch)
                batches.append(job)
        self._commit_items(batches)

    def _commit_schema(self, job: SchemaChange[Any]) -> None:
        try:
            with self._store.transaction() as conn:
                job.result, publish = job.apply(conn)
        except DynamoDBError as exc:
            job.error = exc
        except Exception as exc:
            if is_disk_full(exc):
                self._disk_full("commit", exc)
                job.error = DiskFull(DISK_FULL_MESSAGE)
            else:
                log.exception("schema change failed")
                job.error = InternalServerError(
                    messages.INTERNAL_ERROR.format(name=type(exc).__name__)
                )
        else:
            publish()
            if job.notify:
                self._published([])
        job.done.set()

    def _commit_items(self, batches: list[ItemBatch]) -> None:
        if not batches:
            return
        started = time.perf_counter()
        table_deltas: dict[TableInfo, tuple[int, int]] = {}
        index_deltas: dict[IndexInfo, list[int]] = {}
        try:
            changes, rows = self._decide(batches)
            # a group can change items and still end where it started (put then
            # delete of one key): its changes must be logged all the same
            if rows or changes:
                table_deltas, index_deltas = self._flush(rows, changes)
        except Exception as exc:
            error: DynamoDBError
            if is_disk_full(exc):
                self._disk_full("commit", exc)
                error = DiskFull(DISK_FULL_MESSAGE)
            elif isinstance(exc, DynamoDBError):  # from Store.after_commit (browser/mirror.py)
                error = exc
            else:
                log.exception("write group failed", batches=len(batches))
                error = InternalServerError(messages.INTERNAL_ERROR.format(name=type(exc).__name__))
            for batch in batches:
                if batch.error is None:
                    batch.error = error
            changes = []
        else:
            self._apply_counters(table_deltas, index_deltas)
            if rows or changes:
                self._succeeded("commit")
        for batch in batches:
            batch.done.set()
        metrics = self.metrics
        metrics.commit_seconds.observe(time.perf_counter() - started)
        metrics.write_batch_items.observe(sum(len(b.writes) for b in batches))
        if changes:
            streamed = sum(1 for c in changes if c.table.stream is not None)
            if streamed:
                metrics.stream_records.inc(streamed)
            self._published(changes)

    def _decide(
        self, batches: list[ItemBatch]
    ) -> tuple[list[Change], dict[tuple[TableInfo, StorageKey], tuple[_Row, _Row]]]:
        current = self._fetch({(w.table, w.key) for b in batches for w in b.writes})
        state: dict[tuple[TableInfo, StorageKey], _Row] = dict(current)
        changes: list[Change] = []
        for batch in batches:
            staged: dict[tuple[TableInfo, StorageKey], _Row] = {}
            try:
                for write in batch.writes:
                    if write.table.deleted:
                        raise resource_not_found()
                    slot = (write.table, write.key)
                    before = staged.get(slot) or state[slot]
                    outcome = write.decide(before.item)
                    if outcome is UNCHANGED:
                        after = before
                    elif outcome is None:
                        after = _Row(None, 0)
                    else:
                        assert isinstance(outcome, tuple)
                        after = _Row(*outcome)
                    staged[slot] = after
                    write.old, write.new = before.item, after.item
                    write.old_size, write.new_size = before.size, after.size
                if batch.finish is not None:
                    batch.finish()
            except DynamoDBError as exc:
                batch.error = exc
                continue
            state.update(staged)
            for write in batch.writes:
                if not items_equal(write.old, write.new):
                    changes.append(
                        Change(
                            write.table,
                            write.key,
                            write.old,
                            write.new,
                            write.service,
                            write.old_size,
                            write.new_size,
                        )
                    )
        rows = {
            slot: (current[slot], row)
            for slot, row in state.items()
            if row is not current[slot] and (row.item is not None or current[slot].item is not None)
        }
        return changes, rows

    def _fetch(
        self, slots: set[tuple[TableInfo, StorageKey]]
    ) -> dict[tuple[TableInfo, StorageKey], _Row]:
        found: dict[tuple[TableInfo, StorageKey], _Row] = {slot: _Row(None, 0) for slot in slots}
        by_id = {(table.tid, *key): (table, key) for table, key in slots}
        ordered = list(by_id)
        conn = self._store.write_conn
        for start in range(0, len(ordered), 200):
            chunk = ordered[start : start + 200]
            sql = " UNION ALL ".join(
                [
                    "SELECT tid, h, pk, sk, item, size FROM items WHERE tid=? AND h=? AND pk=? AND sk=?"
                ]
                * len(chunk)
            )
            params = [value for slot in chunk for value in slot]
            for tid, h, pk, sk, item, size in conn.execute(sql, params):
                found[by_id[(tid, h, pk, sk)]] = _Row(orjson.loads(item), size)
        return found

    def _flush(
        self,
        rows: dict[tuple[TableInfo, StorageKey], tuple[_Row, _Row]],
        changes: list[Change],
    ) -> tuple[dict[TableInfo, tuple[int, int]], dict[IndexInfo, list[int]]]:
        """Write the group's rows, index entries, counters and change records in one
        transaction; return the counter deltas to publish after COMMIT."""
        puts = []
        deletes = []
        index_puts: list[tuple[Any, ...]] = []
        index_deletes: list[tuple[Any, ...]] = []
        index_deltas: dict[IndexInfo, list[int]] = {}
        ttl_puts: list[tuple[Any, ...]] = []
        ttl_deletes: list[tuple[Any, ...]] = []
        table_deltas = _deltas(rows)
        for (table, (h, pk, sk)), (before, after) in rows.items():
            if after.item is None:
                deletes.append((table.tid, h, pk, sk))
            else:
                puts.append((table.tid, h, pk, sk, after.size, orjson.dumps(after.item)))
            for index in table.indexes.values():
                _index_rows(
                    index, pk, sk, before.item, after.item, index_puts, index_deletes, index_deltas
                )
            if table.ttl_attribute is not None:
                old_expiry, new_expiry = table.expiry_of(before.item), table.expiry_of(after.item)
                if old_expiry != new_expiry:
                    if old_expiry is not None:
                        ttl_deletes.append((table.tid, old_expiry, h, pk, sk))
                    if new_expiry is not None:
                        ttl_puts.append((table.tid, new_expiry, h, pk, sk))
        with self._store.transaction() as conn:
            if ttl_deletes:
                conn.executemany(
                    "DELETE FROM ttl_index WHERE tid=? AND expires=? AND h=? AND pk=? AND sk=?",
                    ttl_deletes,
                )
            if ttl_puts:
                conn.executemany(
                    "INSERT OR REPLACE INTO ttl_index (tid, expires, h, pk, sk) VALUES (?,?,?,?,?)",
                    ttl_puts,
                )
            if index_deletes:
                conn.executemany(
                    "DELETE FROM index_items WHERE tid=? AND iid=? AND ih=? AND ipk=? AND isk=? "
                    "AND pk=? AND sk=?",
                    index_deletes,
                )
            if index_puts:
                conn.executemany(
                    "INSERT OR REPLACE INTO index_items (tid, iid, ih, ipk, isk, pk, sk, size, item) "
                    "VALUES (?,?,?,?,?,?,?,?,?)",
                    index_puts,
                )
            if index_deltas:
                conn.executemany(
                    "UPDATE index_stats SET item_count = item_count + ?, size_bytes = size_bytes + ? "
                    "WHERE tid = ? AND iid = ?",
                    [(c, z, ix.table.tid, ix.iid) for ix, (c, z) in index_deltas.items()],
                )
            if puts:
                conn.executemany(
                    "INSERT OR REPLACE INTO items (tid, h, pk, sk, size, item) VALUES (?,?,?,?,?,?)",
                    puts,
                )
            if deletes:
                conn.executemany("DELETE FROM items WHERE tid=? AND h=? AND pk=? AND sk=?", deletes)
            conn.executemany(
                "UPDATE tables SET item_count = item_count + ?, size_bytes = size_bytes + ? "
                "WHERE tid = ?",
                [(count, size, table.tid) for table, (count, size) in table_deltas.items()],
            )
            publishers = [capture(conn, changes) for capture in self.capture] if changes else []
        self._dirty = True
        for publish in publishers:
            if publish is not None:
                publish()
        return table_deltas, index_deltas

    @staticmethod
    def _apply_counters(
        table_deltas: dict[TableInfo, tuple[int, int]],
        index_deltas: dict[IndexInfo, list[int]],
    ) -> None:
        for table, (count, size) in table_deltas.items():
            table.item_count += count
            table.size_bytes += size
        for index, (count, size) in index_deltas.items():
            index.item_count += count
            index.size_bytes += size

    def _published(self, changes: Sequence[Change]) -> None:
        self.high_water += 1
        event, self._commit_event = self._commit_event, anyio.Event()
        event.set()
        for listener in self.listeners:
            try:
                listener(changes)
            except Exception:
                log.exception("post-commit listener failed")


def _index_rows(
    index: IndexInfo,
    pk: bytes,
    sk: bytes,
    before: Item | None,
    after: Item | None,
    puts: list[tuple[Any, ...]],
    deletes: list[tuple[Any, ...]],
    deltas: dict[IndexInfo, list[int]],
) -> None:
    """Index row changes for one item going from ``before`` to ``after``."""
    old_key = index.entry_key(before)
    new_key = index.entry_key(after)
    if old_key is None and new_key is None:
        return
    delta = deltas.setdefault(index, [0, 0])
    tid, iid = index.table.tid, index.iid
    if old_key is not None:
        assert before is not None
        delta[0] -= 1
        delta[1] -= item_size(index.project(before))
        if old_key != new_key:
            deletes.append((tid, iid, *old_key, pk, sk))
    if new_key is not None:
        assert after is not None
        projected = index.project(after)
        size = item_size(projected)
        delta[0] += 1
        delta[1] += size
        puts.append((tid, iid, *new_key, pk, sk, size, orjson.dumps(projected)))


def _deltas(
    rows: dict[tuple[TableInfo, StorageKey], tuple[_Row, _Row]],
) -> dict[TableInfo, tuple[int, int]]:
    deltas: dict[TableInfo, tuple[int, int]] = {}
    for (table, _), (before, after) in rows.items():
        count = (after.item is not None) - (before.item is not None)
        count0, size0 = deltas.get(table, (0, 0))
        deltas[table] = (count0 + count, size0 + after.size - before.size)
    return deltas
