"""The change log: stream state, capture inside the write transaction, rotation, trim.

Every stream-enabled table has one ENABLED :class:`StreamInfo`. The Writer calls
:meth:`StreamLog.capture` inside each group transaction with the group's real changes
(no-op writes never reach it); it appends one record per change to
``stream_records`` and advances the stream's counter and open shard in the same
transaction, and publishes the new in-memory state only after COMMIT. A stream is one
lineage of shards sharing one sequence counter: rotation closes the open shard at the
last number it holds and opens a child starting at the next one.

Retention: records older than ``retention_seconds`` (by the data clock) count as
trimmed at once (:meth:`StreamLog.trim_floor`) and are deleted in chunks by the
maintenance task; closed shards with nothing left disappear; disabled streams go away
when their retention ends.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, partial

import orjson

from dynoxide_streams.clock import Clock
from dynoxide_streams.engine.changes import Change
from dynoxide_streams.engine.tables import TableInfo
from dynoxide_streams.shards import ids
from dynoxide_streams.shards.records import build_record, should_rotate

TRIM_CHUNK = 2000


@dataclass
class ShardInfo:
    ordinal: int
    shard_id: str
    parent_id: str | None
    start_seq: int
    end_seq: int | None  # None while open
    opened_at: float
    records: int = 0

    @property
    def open(self) -> bool:
        return self.end_seq is None


@dataclass(eq=False)
class StreamInfo:
    sid: int
    arn: str
    tid: int
    table_name: str
    label: str
    view_type: str
    key_schema: list[dict[str, str]]
    created: float
    status: str
    disabled_at: float | None
    next_seq: int
    trim_seq: int
    shards: list[ShardInfo] = field(default_factory=list)

    @cached_property
    def salt(self) -> int:
        """The per-stream constant of its eventIDs."""
        return ids.event_salt(self.arn)

    @property
    def open_shard(self) -> ShardInfo | None:
        return self.shards[-1] if self.shards and self.shards[-1].open else None

    def shard(self, shard_id: str) -> ShardInfo | None:
        return next((s for s in self.shards if s.shard_id == shard_id), None)

    def last_seq(self, shard: ShardInfo) -> int:
        """The highest counter value the shard holds (or will hold, if open: so far)."""
        return shard.end_seq if shard.end_seq is not None else self.next_seq - 1


@dataclass
class _Working:
    """A stream's state while a transaction is being built (published on commit)."""

    stream: StreamInfo
    next_seq: int
    shards: list[ShardInfo]
    touched: dict[int, ShardInfo] = field(default_factory=dict)


class StreamLog:
    """All streams of the database (loaded at start, kept in step by the Writer)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Clock,
        *,
        region: str,
        account_id: str,
        retention_seconds: float = 86400.0,
        rotation_seconds: float | None = 4 * 3600.0,
        rotation_records: int | None = None,
    ) -> None:
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self.retention_seconds = retention_seconds
        self.rotation_seconds = rotation_seconds
        self.rotation_records = rotation_records
        self.streams: dict[str, StreamInfo] = {}
        self.by_sid: dict[int, StreamInfo] = {}
        self.generation = 0  # bumped whenever a stream appears or is forgotten
        self.secret = self._secret(conn)
        self._load(conn)

    # ----------------------------------------------------------------- loading

    @staticmethod
    def _secret(conn: sqlite3.Connection) -> bytes:
        row = conn.execute("SELECT value FROM meta WHERE key = 'iterator_secret'").fetchone()
        if row is not None:
            return bytes(row[0])
        secret = os.urandom(32)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO meta (key, value) VALUES ('iterator_secret', ?)", (secret,))
        conn.execute("COMMIT")
        return secret

    def _load(self, conn: sqlite3.Connection) -> None:
        for row in conn.execute(
            "SELECT sid, arn, tid, table_name, label, view_type, key_schema, created, status, "
            "disabled_at, next_seq, trim_seq FROM streams ORDER BY sid"
        ):
            (
                sid,
                arn,
                tid,
                table_name,
                label,
                view_type,
                keys,
                created,
                status,
                disabled,
                nxt,
                trim,
            ) = row
            self._index(
                StreamInfo(
                    sid, arn, tid, table_name, label, view_type, orjson.loads(keys),
                    created, status, disabled, nxt, trim,
                )
            )  # fmt: skip
        for row in conn.execute(
            "SELECT sid, ordinal, shard_id, parent_id, start_seq, end_seq, opened_at, records "
            "FROM shards ORDER BY sid, ordinal"
        ):
            owner = self.by_sid.get(row[0])
            if owner is not None:
                owner.shards.append(ShardInfo(*row[1:]))

    def _index(self, stream: StreamInfo) -> None:
        self.streams[stream.arn] = stream
        self.by_sid[stream.sid] = stream
        self.generation += 1

    def attach(self, tables: dict[str, TableInfo]) -> None:
        """Point every table at its enabled stream."""
        for table in tables.values():
            table.stream = self._enabled_for(table)

    def _enabled_for(self, table: TableInfo) -> StreamInfo | None:
        arn = table.spec.get("LatestStreamArn")
        stream = self.streams.get(arn) if arn else None
        return stream if stream is not None and stream.status == "ENABLED" else None

    # ---------------------------------------------------------- enable/disable

    def create_stream(
        self, conn: sqlite3.Connection, table: TableInfo, view_type: str
    ) -> tuple[StreamInfo, Callable[[], None]]:
        """Insert a new ENABLED stream (with its first shard) for ``table``.

        Runs inside a SchemaChange; the returned function publishes it after COMMIT.
        """
        now = self.clock.now()
        label = ids.stream_label(now)
        taken = {s.label for s in self.streams.values() if s.table_name == table.name}
        while label in taken:  # two streams of one table in the same millisecond
            now += 0.001
            label = ids.stream_label(now)
        arn = ids.stream_arn(self.region, self.account_id, table.name, label)
        cursor = conn.execute(
            "INSERT INTO streams (arn, tid, table_name, label, view_type, key_schema, created, "
            "status, disabled_at, next_seq, trim_seq) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                arn,
                table.tid,
                table.name,
                label,
                view_type,
                orjson.dumps(table.spec["KeySchema"]),
                now,
                "ENABLED",
                None,
                0,
                0,
            ),
        )
        assert cursor.lastrowid is not None
        stream = StreamInfo(
            cursor.lastrowid,
            arn,
            table.tid,
            table.name,
            label,
            view_type,
            table.spec["KeySchema"],
            now,
            "ENABLED",
            None,
            0,
            0,
        )
        shard = self._new_shard(stream, None, 0, now, 0)
        self._save_shards(conn, stream.sid, [shard])
        stream.shards.append(shard)

        def publish() -> None:
            self._index(stream)

        return stream, publish

    def disable(self, conn: sqlite3.Connection, stream: StreamInfo) -> Callable[[], None]:
        """Close the open shard and mark the stream DISABLED (inside a SchemaChange)."""
        now = self.clock.now()
        work = _Working(stream, stream.next_seq, list(stream.shards))
        self._close_open(work)
        conn.execute(
            "UPDATE streams SET status = 'DISABLED', disabled_at = ?, next_seq = ? WHERE sid = ?",
            (now, work.next_seq, stream.sid),
        )
        self._save_shards(conn, stream.sid, list(work.touched.values()))

        def publish() -> None:
            stream.status = "DISABLED"
            stream.disabled_at = now
            self._publish(work)

        return publish

    def rotate(self, conn: sqlite3.Connection, stream: StreamInfo) -> Callable[[], None]:
        """Close the open shard and open its child now (on demand)."""
        work = _Working(stream, stream.next_seq, list(stream.shards))
        self._rotate(work, self.clock.now())
        self._persist(conn, [work])
        return lambda: self._publish(work)

    # ------------------------------------------------------------------ capture

    def capture(
        self, conn: sqlite3.Connection, changes: Sequence[Change]
    ) -> Callable[[], None] | None:
        """Append one record per change of a stream-enabled table (Writer hook)."""
        working: dict[int, _Working] = {}
        rows: list[tuple[int, int, float, bytes]] = []
        now = self.clock.now()
        for change in changes:
            stream = change.table.stream
            if stream is None:
                continue
            work = working.get(stream.sid)
            if work is None:
                work = working[stream.sid] = _Working(stream, stream.next_seq, list(stream.shards))
            shard = work.shards[-1]
            if should_rotate(
                opened_at=shard.opened_at,
                records=shard.records,
                now=now,
                rotation_seconds=self.rotation_seconds,
                rotation_records=self.rotation_records,
            ):
                shard = self._rotate(work, now)
            elif shard.ordinal not in work.touched:
                shard = work.touched[shard.ordinal] = replace(shard)
                work.shards[-1] = shard
            n = work.next_seq
            work.next_seq += 1
            shard.records += 1
            item = change.new if change.new is not None else change.old
            assert item is not None
            record = build_record(
                event_id=ids.event_id(stream.salt, n),
                region=self.region,
                keys=change.table.key_item(item),
                old=change.old,
                new=change.new,
                view_type=stream.view_type,
                sequence_number=ids.sequence_number(n),
                created_at=now,
                service=change.service,
                old_size=change.old_size,
                new_size=change.new_size,
            )
            rows.append((stream.sid, n, now, orjson.dumps(record)))
        if not rows:
            return None
        conn.executemany(
            "INSERT INTO stream_records (sid, seq, created, record) VALUES (?,?,?,?)", rows
        )
        self._persist(conn, list(working.values()))
        works = list(working.values())

        def publish() -> None:
            for work in works:
                self._publish(work)

        return publish

    # ------------------------------------------------------------- internals

    def _new_shard(
        self, stream: StreamInfo, parent: ShardInfo | None, start: int, now: float, ordinal: int
    ) -> ShardInfo:
        created_ms = int(now * 1000)
        if parent is not None:
            parent_ms = int(parent.shard_id.split("-")[1])
            created_ms = max(created_ms, parent_ms + 1)
        return ShardInfo(
            ordinal,
            ids.shard_id(created_ms, stream.arn, ordinal),
            parent.shard_id if parent is not None else None,
            start,
            None,
            now,
        )

    def _close_open(self, work: _Working) -> ShardInfo | None:
        shard = work.shards[-1] if work.shards and work.shards[-1].open else None
        if shard is None:
            return None
        closed = replace(shard)
        if closed.records == 0:
            closed.end_seq = closed.start_seq  # an empty shard still spans one number
            work.next_seq = max(work.next_seq, closed.start_seq + 1)
        else:
            closed.end_seq = work.next_seq - 1
        work.shards[-1] = closed
        work.touched[closed.ordinal] = closed
        return closed

    def _rotate(self, work: _Working, now: float) -> ShardInfo:
        parent = self._close_open(work)
        ordinal = (work.shards[-1].ordinal + 1) if work.shards else 0
        child = self._new_shard(work.stream, parent, work.next_seq, now, ordinal)
        work.shards.append(child)
        work.touched[child.ordinal] = child
        return child

    def _persist(self, conn: sqlite3.Connection, works: list[_Working]) -> None:
        for work in works:
            conn.execute(
                "UPDATE streams SET next_seq = ? WHERE sid = ?", (work.next_seq, work.stream.sid)
            )
            self._save_shards(conn, work.stream.sid, list(work.touched.values()))

    @staticmethod
    def _save_shards(conn: sqlite3.Connection, sid: int, shards: list[ShardInfo]) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO shards (sid, ordinal, shard_id, parent_id, start_seq, "
            "end_seq, opened_at, records) VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    sid,
                    s.ordinal,
                    s.shard_id,
                    s.parent_id,
                    s.start_seq,
                    s.end_seq,
                    s.opened_at,
                    s.records,
                )
                for s in shards
            ],
        )

    @staticmethod
    def _publish(work: _Working) -> None:
        work.stream.next_seq = work.next_seq
        work.stream.shards = work.shards

    # ------------------------------------------------------------------ reads

    @staticmethod
    def read_page(
        conn: sqlite3.Connection,
        stream: StreamInfo,
        after: int,
        last: int,
        limit: int,
        max_bytes: int | None = None,
    ) -> tuple[list[bytes], int]:
        """Stored records with ``after < seq <= last``: at most ``limit`` of them and,
        with ``max_bytes``, at most that many bytes (always at least one record).

        Returns the records and the new position; when the page was not cut short the
        position moves to ``last``, skipping numbers no record uses (empty shards,
        trimming).
        """
        records: list[bytes] = []
        size = 0
        position = after
        full = False
        for seq, record in conn.execute(
            "SELECT seq, record FROM stream_records WHERE sid = ? AND seq > ? AND seq <= ? "
            "ORDER BY seq LIMIT ?",
            (stream.sid, after, last, limit),
        ):
            if max_bytes is not None and records and size + len(record) > max_bytes:
                full = True
                break
            records.append(bytes(record))
            size += len(record)
            position = seq
        if not full and len(records) < limit:
            position = max(position, last)
        return records, position

    # -------------------------------------------------------------- retention

    def horizon(self) -> float:
        return self.clock.now() - self.retention_seconds

    def trim_floor(self, conn: sqlite3.Connection, stream: StreamInfo) -> int:
        """The lowest counter value still readable: records older than the retention
        horizon count as trimmed even before the background task deletes them.

        Records are appended in time order, so the expired ones form a prefix of the
        log; a binary search over sequence numbers finds its end in O(log n) lookups.
        """
        horizon = self.horizon()

        def expired(seq: int) -> bool:
            row = conn.execute(
                "SELECT created FROM stream_records WHERE sid = ? AND seq >= ? ORDER BY seq LIMIT 1",
                (stream.sid, seq),
            ).fetchone()
            return row is not None and row[0] < horizon

        low, high = stream.trim_seq, stream.next_seq
        if not expired(low):
            return low
        while high - low > 1:  # invariant: expired(low), not expired(high)
            middle = (low + high) // 2
            if expired(middle):
                low = middle
            else:
                high = middle
        return high

    def visible_shards(self, conn: sqlite3.Connection, stream: StreamInfo) -> list[ShardInfo]:
        """Shards DescribeStream shows: trimmed-away closed shards disappear."""
        floor = self.trim_floor(conn, stream)
        return [
            s for s in stream.shards if s.open or (s.end_seq is not None and s.end_seq >= floor)
        ]

    def trim_step(self, conn: sqlite3.Connection) -> tuple[int, Callable[[], None]] | None:
        """Delete one chunk of expired records or streams; None when nothing is due."""
        horizon = self.horizon()
        for stream in list(self.streams.values()):
            if self._expired_stream(conn, stream, horizon):
                conn.execute("DELETE FROM stream_records WHERE sid = ?", (stream.sid,))
                conn.execute("DELETE FROM shards WHERE sid = ?", (stream.sid,))
                conn.execute("DELETE FROM streams WHERE sid = ?", (stream.sid,))
                return 1, partial(self._forget, stream)
            rows = conn.execute(
                "SELECT seq, created FROM stream_records WHERE sid = ? AND seq >= ? "
                "ORDER BY seq LIMIT ?",
                (stream.sid, stream.trim_seq, TRIM_CHUNK),
            ).fetchall()
            expired = [seq for seq, created in rows if created < horizon]
            # stop at the first record still inside retention
            for index, (_, created) in enumerate(rows):
                if created >= horizon:
                    expired = [seq for seq, _ in rows[:index]]
                    break
            if not expired:
                continue
            new_floor = expired[-1] + 1
            conn.execute(
                "DELETE FROM stream_records WHERE sid = ? AND seq >= ? AND seq < ?",
                (stream.sid, stream.trim_seq, new_floor),
            )
            gone = [s for s in stream.shards if s.end_seq is not None and s.end_seq < new_floor]
            conn.executemany(
                "DELETE FROM shards WHERE sid = ? AND ordinal = ?",
                [(stream.sid, s.ordinal) for s in gone],
            )
            conn.execute("UPDATE streams SET trim_seq = ? WHERE sid = ?", (new_floor, stream.sid))

            def publish(
                stream: StreamInfo = stream, floor: int = new_floor, gone: list[ShardInfo] = gone
            ) -> None:
                stream.trim_seq = floor
                stream.shards = [s for s in stream.shards if s not in gone]

            return len(expired), publish
        return None

    @staticmethod
    def _expired_stream(conn: sqlite3.Connection, stream: StreamInfo, horizon: float) -> bool:
        """A disabled stream whose retention has ended (nothing recent left in it)."""
        if (
            stream.status != "DISABLED"
            or stream.disabled_at is None
            or stream.disabled_at >= horizon
        ):
            return False
        recent = conn.execute(
            "SELECT 1 FROM stream_records WHERE sid = ? AND created >= ? LIMIT 1",
            (stream.sid, horizon),
        ).fetchone()
        return recent is None

    def _forget(self, stream: StreamInfo) -> None:
        self.streams.pop(stream.arn, None)
        self.by_sid.pop(stream.sid, None)
        self.generation += 1
