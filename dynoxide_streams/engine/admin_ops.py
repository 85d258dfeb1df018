"""Operations behind the admin API: rotate shards, move the virtual clock, sweep.

Kept in the engine so the embedded Server and the HTTP admin routes share them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.change_log import StreamInfo
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.errors import ResourceNotFoundException, ValidationException


def _stream_for(ctx: EngineContext, table: str | None, stream_arn: str | None) -> StreamInfo:
    if (table is None) == (stream_arn is None):
        raise ValidationException(messages.ADMIN_TABLE_OR_STREAM.template)
    if stream_arn is not None:
        stream = ctx.streams.streams.get(stream_arn)
        if stream is None:
            raise ResourceNotFoundException(messages.STREAM_NOT_FOUND_SHORT.format(arn=stream_arn))
    else:
        assert table is not None
        info = ctx.store.tables.get(table)
        if info is None:
            raise ResourceNotFoundException(messages.TABLE_NOT_FOUND_SHORT.format(name=table))
        if info.stream is None:
            raise ValidationException(messages.ADMIN_NO_STREAM.format(name=table))
        stream = info.stream
    if stream.status != "ENABLED":
        raise ValidationException(
            messages.ADMIN_STREAM_STATUS.format(arn=stream.arn, status=stream.status)
        )
    return stream


async def rotate_shards(
    ctx: EngineContext, *, table: str | None = None, stream_arn: str | None = None
) -> dict[str, Any]:
    """Close the open shard of a stream and open its child; describe both."""
    stream = _stream_for(ctx, table, stream_arn)

    def publish(rotated: Callable[[], None]) -> None:
        rotated()

    await ctx.writer.change_schema(lambda conn: ctx.streams.rotate(conn, stream), publish)
    child = stream.shards[-1]
    return {
        "StreamArn": stream.arn,
        "ShardId": child.shard_id,
        "ParentShardId": child.parent_id,
    }
