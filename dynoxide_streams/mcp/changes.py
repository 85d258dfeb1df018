"""``read_changes``: stream records after a position, through any :class:`ChangeSource`
(this database's log, or an upstream engine's Streams API), so it works the same in
server and sidecar mode.

A position is a sequence number as the wire shows it; the records returned are the
GetRecords records themselves (parsed from the same bytes GetRecords sends).
"""

from __future__ import annotations

from typing import Any

import orjson

from dynoxide_streams.engine.changes import ChangeSource, StreamView
from dynoxide_streams.errors import ResourceNotFoundException, ValidationException
from dynoxide_streams.shards import ids

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


async def current_stream(source: ChangeSource, table: str) -> StreamView | None:
    """The table's current stream: the last ENABLED one, else the newest (None: none)."""
    streams = await source.list_streams(table)
    enabled = [s for s in streams if s.status == "ENABLED"]
    if enabled:
        return enabled[-1]
    return streams[-1] if streams else None


async def read_changes(source: ChangeSource, arguments: dict[str, Any]) -> dict[str, Any]:
    """``{"StreamArn", "Records", "Position"}``: up to ``Limit`` records after ``After``
    (TRIM_HORIZON by default, LATEST, or a sequence number), following shards from
    parent to child. Raises ValidationException / ResourceNotFoundException."""
    table, arn = arguments.get("TableName"), arguments.get("StreamArn")
    after, limit = arguments.get("After", "TRIM_HORIZON"), arguments.get("Limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationException(f"Limit must be an integer from 1 to {MAX_LIMIT}")
    if not isinstance(after, str):
        raise ValidationException("After must be TRIM_HORIZON, LATEST or a SequenceNumber")
    if arn is None:
        if not isinstance(table, str):
            raise ValidationException("give TableName or StreamArn")
        stream = await current_stream(source, table)
        if stream is None:
            raise ResourceNotFoundException(f"Table {table} has no stream")
        arn = stream.stream_arn
    if not isinstance(arn, str) or await source.stream(arn) is None:
        raise ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")
    if after in ("TRIM_HORIZON", "LATEST"):
        position = await source.start_position(arn, after)
        if position is None:
            raise ResourceNotFoundException(
                f"Requested resource not found: Stream: {arn} not found"
            )
    elif ids.is_sequence_number(after):
        position = after
    else:
        raise ValidationException("After must be TRIM_HORIZON, LATEST or a SequenceNumber")
    records, position = await walk(source, arn, position, limit)
    return {
        "StreamArn": arn,
        "Records": [orjson.loads(record) for record in records],
        "Position": position,
    }


async def walk(
    source: ChangeSource, arn: str, position: str, limit: int
) -> tuple[list[bytes], str]:
    """Up to ``limit`` records of stream ``arn`` after ``position`` (following closed
    shards into their children) and the position after the last one."""
    records: list[bytes] = []
    shard = await source.shard_for(arn, position)
    while shard is not None and len(records) < limit:
        page = await source.read(arn, shard, position, limit - len(records))
        if page is None:
            break
        records.extend(page.records)
        position = page.position
        if not page.shard_closed:
            break
        shard = await source.child_of(arn, shard)
    return records, position
