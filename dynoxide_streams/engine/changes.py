"""Committed changes, and the change source: how readers (push, triggers) see the log.

:class:`Change` is one committed change of one item, as the Writer hands it to the
change log and its post-commit listeners.

Readers use only the :class:`ChangeSource` protocol — never the Writer or the tables
— so a different source (an upstream DynamoDB Streams endpoint, in sidecar mode)
feeds them unchanged. Everything that may need I/O is async. Positions are sequence
numbers as the wire shows them; a reader only compares positions of one stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio

from dynoxide_streams.shards import ids

if TYPE_CHECKING:
    from dynoxide_streams.engine.change_log import StreamInfo
    from dynoxide_streams.engine.context import EngineContext
    from dynoxide_streams.engine.tables import StorageKey, TableInfo
    from dynoxide_streams.engine.values import Item


@dataclass(frozen=True)
class Change:
    """A committed change of one item (old None = created, new None = deleted)."""

    table: TableInfo
    key: StorageKey
    old: Item | None
    new: Item | None
    service: bool = False  # made by the service itself (TTL), not by a user
    old_size: int = 0
    new_size: int = 0


@dataclass(frozen=True)
class ShardView:
    shard_id: str
    parent_id: str | None
    starting_sequence_number: str
    ending_sequence_number: str | None  # None while the shard is open


@dataclass(frozen=True)
class StreamView:
    stream_arn: str
    table_name: str
    status: str  # ENABLED | DISABLED
    table_exists: bool


@dataclass
class ReadResult:
    records: list[bytes]  # GetRecords-format JSON, one per record, in order
    position: str  # read after this next time (a sequence number, maybe unused)
    shard_closed: bool  # the shard is closed and everything in it has been read
    trimmed: bool  # the requested position had fallen behind retention


class ChangeSource(Protocol):
    """What readers of a change log may ask (see the module docstring)."""

    async def tables(self) -> list[str]:
        """Names of the tables readers may subscribe to, sorted."""
        ...

    async def list_streams(self, table: str) -> list[StreamView]:
        """Streams of ``table``, newest last (the last ENABLED one is current)."""
        ...

    async def stream(self, stream_arn: str) -> StreamView | None: ...

    async def describe_shards(self, stream_arn: str) -> list[ShardView]:
        """Readable shards in lineage order (parents before children)."""
        ...

    async def start_position(self, stream_arn: str, where: str) -> str | None:
        """Before the oldest readable record (TRIM_HORIZON) or after the newest
        (LATEST); None for an unknown stream."""
        ...

    async def shard_for(self, stream_arn: str, after: str) -> str | None:
        """The shard holding the first record after ``after``."""
        ...

    async def child_of(self, stream_arn: str, shard_id: str) -> str | None: ...

    async def read(
        self, stream_arn: str, shard_id: str, after: str, limit: int
    ) -> ReadResult | None:
        """Up to ``limit`` records of one shard after ``after``; None if the stream or
        the shard no longer exists."""
        ...

    async def wait_for_records(self, after_commit: int, timeout: float) -> int:
        """Wait until there may be records newer than mark ``after_commit`` (or
        ``timeout`` passes); return the new mark."""
        ...

    @property
    def high_water(self) -> int: ...

    @property
    def streams_generation(self) -> int:
        """Changes whenever a stream appears or is forgotten."""
        ...

    def newest_known(self, stream_arn: str) -> str | None:
        """The newest sequence number known for the stream without I/O (may lag)."""
        ...


class LocalChangeSource:
    """The SQLite change log of this server."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx

    async def tables(self) -> list[str]:
        return sorted(self._ctx.store.tables)

    async def list_streams(self, table: str) -> list[StreamView]:
        """Streams of ``table``, newest last (the last ENABLED one is current)."""
        streams = sorted(
            (s for s in self._ctx.streams.streams.values() if s.table_name == table),
            key=lambda s: (s.created, s.sid),
        )
        return [self._view(s) for s in streams]

    async def stream(self, stream_arn: str) -> StreamView | None:
        found = self._ctx.streams.streams.get(stream_arn)
        return None if found is None else self._view(found)

    def _view(self, stream: StreamInfo) -> StreamView:
        table = self._ctx.store.tables.get(stream.table_name)
        exists = table is not None and table.tid == stream.tid
        return StreamView(stream.arn, stream.table_name, stream.status, exists)

    async def describe_shards(self, stream_arn: str) -> list[ShardView]:
        """Readable shards in lineage order (parents before children)."""
        stream = self._ctx.streams.streams.get(stream_arn)
        if stream is None:
            return []
        shards = self._ctx.streams.visible_shards(self._ctx.store.point_conn, stream)
        return [
            ShardView(
                s.shard_id,
                s.parent_id,
                ids.sequence_number(s.start_seq),
                None if s.end_seq is None else ids.sequence_number(s.end_seq),
            )
            for s in shards
        ]

    async def start_position(self, stream_arn: str, where: str) -> str | None:
        """Position before the oldest readable record (TRIM_HORIZON) or after the
        newest (LATEST); None for an unknown stream."""
        stream = self._ctx.streams.streams.get(stream_arn)
        if stream is None:
            return None
        if where == "LATEST":
            return _wire(stream.next_seq - 1)
        floor = self._ctx.streams.trim_floor(self._ctx.store.point_conn, stream)
        return _before(floor)

    async def shard_for(self, stream_arn: str, after: str) -> str | None:
        """The shard holding the first record after ``after`` (the open shard when
        nothing follows); None for an unknown or shard-less stream."""
        stream = self._ctx.streams.streams.get(stream_arn)
        if stream is None or not stream.shards:
            return None
        position = max(
            _counter(after), self._ctx.streams.trim_floor(self._ctx.store.point_conn, stream) - 1
        )
        for shard in stream.shards:
            if stream.last_seq(shard) > position or shard.end_seq is None:
                return shard.shard_id
        return stream.shards[-1].shard_id

    async def child_of(self, stream_arn: str, shard_id: str) -> str | None:
        """The child of a closed shard, if one exists yet."""
        stream = self._ctx.streams.streams.get(stream_arn)
        if stream is None:
            return None
        return next((s.shard_id for s in stream.shards if s.parent_id == shard_id), None)

    async def read(
        self, stream_arn: str, shard_id: str, after: str, limit: int
    ) -> ReadResult | None:
        """Up to ``limit`` records of one shard after ``after``; None if the stream or
        the shard no longer exists."""
        stream = self._ctx.streams.streams.get(stream_arn)
        shard = None if stream is None else stream.shard(shard_id)
        if stream is None or shard is None:
            return None
        conn = self._ctx.store.point_conn
        position = max(_counter(after), shard.start_seq - 1)
        floor = self._ctx.streams.trim_floor(conn, stream)
        trimmed = position + 1 < floor
        if trimmed:
            position = floor - 1
        records, position = self._ctx.streams.read_page(
            conn, stream, position, stream.last_seq(shard), limit
        )
        closed = shard.end_seq is not None and position >= shard.end_seq
        return ReadResult(records, _wire(position), closed, trimmed)

    async def wait_for_records(self, after_commit: int, timeout: float) -> int:
        """Wait until something is committed after ``after_commit`` (the high-water
        mark a reader last saw) or ``timeout`` passes; return the new mark."""
        with anyio.move_on_after(timeout):
            return await self._ctx.writer.wait_for_commit(after_commit)
        return self._ctx.writer.high_water

    @property
    def streams_generation(self) -> int:
        """Changes whenever a stream is created or forgotten."""
        return self._ctx.streams.generation

    def newest_known(self, stream_arn: str) -> str | None:
        stream = self._ctx.streams.streams.get(stream_arn)
        return None if stream is None else _wire(stream.next_seq - 1)

    @property
    def high_water(self) -> int:
        return self._ctx.writer.high_water


def _counter(position: str) -> int:
    value = ids.parse_sequence_number(position)
    return -1 if value is None else value


def _wire(counter: int) -> str:
    return ids.sequence_number(counter) if counter >= 0 else BEFORE_ALL


def _before(counter: int) -> str:
    return _wire(counter - 1)


BEFORE_ALL = "0" * 21
"""The position before every record: 21 digits, below the first sequence number."""
