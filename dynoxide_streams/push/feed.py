"""One subscription: a cursor on the change log that follows shard lineage.

The feed reads a page after its position, sends each record, and advances; when the
shard is closed and drained it says ``shard_end`` and continues in the child; when
nothing is new it sleeps until the Writer's next commit. ``send`` waits while the
client is slow, so a slow client makes the feed read less — it never buffers more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dynoxide_streams.engine.changes import ChangeSource, StreamView
from dynoxide_streams.push.protocol import ProtocolError, Subscribe, frame, record_frame

PAGE = 100
TRIMMED_MESSAGE = "records before this point were trimmed"
IDLE_RECHECK_SECONDS = 30.0

Send = Callable[[bytes], Awaitable[None]]


async def _resolve(source: ChangeSource, subscription: Subscribe) -> StreamView:
    if subscription.stream_arn is not None:
        view = await source.stream(subscription.stream_arn)
        if view is None:
            raise ProtocolError(
                "ResourceNotFound", f"stream not found: {subscription.stream_arn}", subscription.id
            )
        return view
    assert subscription.table is not None
    enabled = [
        s
        for s in await source.list_streams(subscription.table)
        if s.status == "ENABLED" and s.table_exists
    ]
    if not enabled:
        raise ProtocolError(
            "ResourceNotFound",
            f"table {subscription.table} does not exist or has no enabled stream",
            subscription.id,
        )
    return enabled[-1]


async def prepare(source: ChangeSource, subscription: Subscribe) -> tuple[str, str]:
    """Resolve a subscription to (stream ARN, start position) or raise ProtocolError.

    Done before the feed starts, so ``subscribed`` (or the error) is answered in the
    order the client's messages arrived.
    """
    arn = (await _resolve(source, subscription)).stream_arn
    if subscription.start in ("TRIM_HORIZON", "LATEST"):
        position = await source.start_position(arn, subscription.start)
        assert position is not None
        return arn, position
    return arn, subscription.start


async def run_feed(
    source: ChangeSource, subscription_id: str, arn: str, position: str, send: Send
) -> None:
    """Deliver records after ``position`` until the stream ends (or it is cancelled)."""
    trimmed = frame("trimmed", subscription_id, arn, message=TRIMMED_MESSAGE)
    mark = source.high_water
    shard_id = await source.shard_for(arn, position)
    while shard_id is not None:
        result = await source.read(arn, shard_id, position, PAGE)
        if result is None:  # the shard was trimmed away or the stream deleted
            result_stream = await source.stream(arn)
            if result_stream is None:
                await send(frame("table_deleted", subscription_id, arn))
                return
            await send(trimmed)
            shard_id = await source.shard_for(arn, position)
            continue
        if result.trimmed:
            await send(trimmed)
        for record in result.records:
            await send(record_frame(subscription_id, arn, shard_id, record))
        position = result.position
        if result.shard_closed:
            await send(frame("shard_end", subscription_id, arn, shardId=shard_id))
            child = await source.child_of(arn, shard_id)
            if child is None:  # a closed shard without a child: the stream has ended
                current = await source.stream(arn)
                if current is None or not current.table_exists:
                    await send(frame("table_deleted", subscription_id, arn))
                else:
                    await send(frame("stream_disabled", subscription_id, arn))
                return
            shard_id = child
            continue
        if result.records:
            continue
        mark = await source.wait_for_records(mark, IDLE_RECHECK_SECONDS)
    await send(frame("table_deleted", subscription_id, arn))
