"""The DynamoDB Streams API: ListStreams, DescribeStream, GetShardIterator, GetRecords.

Records are stored as ready GetRecords JSON, so GetRecords concatenates stored bytes
into its response. A read is bounded by what was committed when it started: the open
shard's upper end is the stream's counter at that moment, so a record never shows up
under a shard it does not belong to, and never before its write committed.
"""

from __future__ import annotations

from typing import Any

import orjson

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.change_log import ShardInfo, StreamInfo
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.tables import resolve_table_name
from dynoxide_streams.errors import (
    DynamoDBError,
    ExpiredIteratorException,
    ResourceNotFoundException,
    TrimmedDataAccessException,
    ValidationException,
    constraint_violation,
    validation_error,
)
from dynoxide_streams.shards import ids
from dynoxide_streams.shards.iterators import (
    ExpiredIterator,
    InvalidIterator,
    ShardIterator,
    decode_iterator,
)

MAX_RECORDS = 1000
MAX_PAGE_BYTES = 1024 * 1024
TRIMMED = messages.TRIMMED.template
EXPIRED = messages.ITERATOR_EXPIRED.template


def _stream(ctx: EngineContext, arn: str) -> StreamInfo:
    if ids.parse_stream_arn(arn) is None:
        raise ValidationException(messages.INVALID_STREAM_ARN.format(arn=arn))
    stream = ctx.streams.streams.get(arn)
    if stream is None:
        raise ResourceNotFoundException(messages.STREAM_NOT_FOUND.format(arn=arn))
    return stream


def _shard(stream: StreamInfo, shard_id: str) -> ShardInfo:
    shard = stream.shard(shard_id)
    if shard is None:
        raise ResourceNotFoundException(
            messages.SHARD_NOT_FOUND.format(shard=shard_id, arn=stream.arn)
        )
    return shard


def _limit(params: dict[str, Any]) -> int:
    limit = params.get("Limit")
    if limit is None:
        return 100
    if limit > 100:
        raise _limit_too_large(limit, 100)
    return int(limit)


def _limit_too_large(limit: Any, maximum: int) -> DynamoDBError:
    """The error for a ``Limit`` above the operation's maximum."""
    rule = messages.MAX_VALUE.format(n=maximum)
    return validation_error([constraint_violation(limit, "limit", rule)])


async def list_streams(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    streams = sorted(ctx.streams.streams.values(), key=lambda s: (s.table_name, s.created, s.sid))
    start = params.get("ExclusiveStartStreamArn")
    if start is not None and ids.parse_stream_arn(start) is None:
        raise ValidationException(messages.INVALID_START_STREAM_ARN.format(arn=start))
    limit = _limit(params)
    name = params.get("TableName")
    if name is not None:  # the table after the request's own checks
        name = resolve_table_name(name)
        if name not in ctx.store.tables and not any(s.table_name == name for s in streams):
            raise ResourceNotFoundException(messages.TABLE_NOT_FOUND.format(name=name))
        streams = [s for s in streams if s.table_name == name]
    if start is not None:
        arns = [s.arn for s in streams]
        streams = streams[arns.index(start) + 1 :] if start in arns else []
    page = streams[:limit]
    response: dict[str, Any] = {
        "Streams": [
            {"StreamArn": s.arn, "TableName": s.table_name, "StreamLabel": s.label} for s in page
        ]
    }
    if len(streams) > limit:
        response["LastEvaluatedStreamArn"] = page[-1].arn
    return response


def _shard_description(stream: StreamInfo, shard: ShardInfo) -> dict[str, Any]:
    sequence_range = {"StartingSequenceNumber": ids.sequence_number(shard.start_seq)}
    if shard.end_seq is not None:
        sequence_range["EndingSequenceNumber"] = ids.sequence_number(shard.end_seq)
    description: dict[str, Any] = {"ShardId": shard.shard_id, "SequenceNumberRange": sequence_range}
    if shard.parent_id is not None:
        description["ParentShardId"] = shard.parent_id
    return description


async def describe_stream(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    shard_filter = params.get("ShardFilter")
    if shard_filter is not None and (
        shard_filter.get("Type") != "CHILD_SHARDS" or not shard_filter.get("ShardId")
    ):
        raise ValidationException(messages.SHARD_FILTER.format())
    limit = _limit(params)
    stream = _stream(ctx, params["StreamArn"])  # after the request's own checks
    shards = sorted(
        ctx.streams.visible_shards(ctx.store.point_conn, stream), key=lambda s: s.shard_id
    )
    if shard_filter is not None:
        shards = [s for s in shards if s.parent_id == shard_filter["ShardId"]]
    start = params.get("ExclusiveStartShardId")
    if start is not None:
        shards = [s for s in shards if s.shard_id > start]
    page = shards[:limit]
    description: dict[str, Any] = {
        "StreamArn": stream.arn,
        "StreamLabel": stream.label,
        "StreamStatus": stream.status,
        "StreamViewType": stream.view_type,
        "CreationRequestDateTime": stream.created,
        "TableName": stream.table_name,
        "KeySchema": stream.key_schema,
        "Shards": [_shard_description(stream, s) for s in page],
    }
    if len(shards) > limit:
        description["LastEvaluatedShardId"] = page[-1].shard_id
    return {"StreamDescription": description}


async def get_shard_iterator(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    kind = params["ShardIteratorType"]
    text = params.get("SequenceNumber")
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER") and text is None:
        raise ValidationException(messages.SEQUENCE_NUMBER_REQUIRED.format(kind=kind))
    if kind in ("TRIM_HORIZON", "LATEST") and text is not None:
        raise ValidationException(messages.SEQUENCE_NUMBER_FORBIDDEN.format(kind=kind))
    stream = _stream(ctx, params["StreamArn"])  # after the request's own checks
    shard = _shard(stream, params["ShardId"])
    conn = ctx.store.point_conn
    floor = ctx.streams.trim_floor(conn, stream)
    last = stream.last_seq(shard)
    if kind == "TRIM_HORIZON":
        position = max(shard.start_seq, floor) - 1
    elif kind == "LATEST":
        position = last
    else:
        assert text is not None
        n = ids.parse_sequence_number(text)
        if n is None:
            raise ValidationException(messages.INVALID_SEQUENCE_NUMBER.format(text=text))
        if n < floor:
            raise TrimmedDataAccessException(TRIMMED)
        if n < shard.start_seq or n > max(last, shard.start_seq):
            raise ValidationException(
                messages.SEQUENCE_NUMBER_OUTSIDE.format(text=text, shard=shard.shard_id)
            )
        position = n - 1 if kind == "AT_SEQUENCE_NUMBER" else n
    iterator = ShardIterator(stream.arn, stream.sid, shard.shard_id, position, ctx.clock.now())
    return {"ShardIterator": iterator.encode(ctx.streams.secret)}


async def get_records(ctx: EngineContext, params: dict[str, Any]) -> bytes:
    limit = params.get("Limit")
    if limit is not None and limit > MAX_RECORDS:
        raise _limit_too_large(limit, MAX_RECORDS)
    now = ctx.clock.now()
    try:
        iterator = decode_iterator(params["ShardIterator"], ctx.streams.secret, now)
    except ExpiredIterator:
        raise ExpiredIteratorException(EXPIRED) from None
    except InvalidIterator:
        raise ValidationException(messages.INVALID_SHARD_ITERATOR.template) from None
    stream = ctx.streams.by_sid.get(iterator.stream_id)
    if stream is None or stream.arn != iterator.stream_arn:
        raise ResourceNotFoundException(messages.STREAM_NOT_FOUND.format(arn=iterator.stream_arn))
    shard = stream.shard(iterator.shard_id)
    conn = ctx.store.point_conn
    floor = ctx.streams.trim_floor(conn, stream)
    if shard is None or iterator.position + 1 < floor:
        raise TrimmedDataAccessException(TRIMMED)
    limit = params.get("Limit") or MAX_RECORDS
    last = stream.last_seq(shard)
    records, position = ctx.streams.read_page(
        conn, stream, iterator.position, last, limit, MAX_PAGE_BYTES
    )
    parts = [b'{"Records":[', b",".join(records), b"]"]
    if shard.end_seq is None or position < shard.end_seq:
        following = ShardIterator(stream.arn, stream.sid, shard.shard_id, position, now)
        parts.append(b',"NextShardIterator":' + orjson.dumps(following.encode(ctx.streams.secret)))
    parts.append(b"}")
    return b"".join(parts)
