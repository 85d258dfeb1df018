"""The DynamoDB operations the engine implements, by name.

``OPERATIONS`` maps an operation name to its coroutine ``(EngineContext, params) ->
response``; a response is a dict, or ready-made JSON bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from dynoxide_streams.engine import (
    batch_ops,
    ddl,
    items,
    reads,
    streams_api,
    transactions,
    ttl_ops,
)
from dynoxide_streams.engine.context import EngineContext

Operation = Callable[[EngineContext, dict[str, Any]], Awaitable[dict[str, Any] | bytes]]

DYNAMODB_PREFIX = "DynamoDB_20120810"  # X-Amz-Target prefix of the DynamoDB API
STREAMS_PREFIX = "DynamoDBStreams_20120810"  # ... and of the DynamoDB Streams API


# PartiQL (its lexer, parser and planner) is imported on the first statement: a server
# that is never sent one does not pay for it at start-up.
async def _execute_statement(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any] | bytes:
    from dynoxide_streams.engine.partiql import operations as partiql

    return await partiql.execute_statement(ctx, params)


async def _batch_execute_statement(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    from dynoxide_streams.engine.partiql import operations as partiql

    return await partiql.batch_execute_statement(ctx, params)


async def _execute_transaction(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    from dynoxide_streams.engine.partiql import operations as partiql

    return await partiql.execute_transaction(ctx, params)


OPERATIONS: dict[str, Operation] = {
    "CreateTable": ddl.create_table,
    "DescribeTable": ddl.describe_table,
    "ListTables": ddl.list_tables,
    "UpdateTable": ddl.update_table,
    "DeleteTable": ddl.delete_table,
    "PutItem": items.put_item,
    "GetItem": items.get_item,
    "DeleteItem": items.delete_item,
    "UpdateItem": items.update_item,
    "Query": reads.query,
    "Scan": reads.scan,
    "BatchGetItem": batch_ops.batch_get_item,
    "BatchWriteItem": batch_ops.batch_write_item,
    "TransactWriteItems": transactions.transact_write_items,
    "TransactGetItems": transactions.transact_get_items,
    "TagResource": ddl.tag_resource,
    "UntagResource": ddl.untag_resource,
    "ListTagsOfResource": ddl.list_tags_of_resource,
    "DescribeLimits": ddl.describe_limits,
    "DescribeEndpoints": ddl.describe_endpoints,
    "DescribeContinuousBackups": ddl.describe_continuous_backups,
    "UpdateContinuousBackups": ddl.update_continuous_backups,
    "UpdateTimeToLive": ttl_ops.update_time_to_live,
    "DescribeTimeToLive": ttl_ops.describe_time_to_live,
    "ExecuteStatement": _execute_statement,
    "BatchExecuteStatement": _batch_execute_statement,
    "ExecuteTransaction": _execute_transaction,
}

STREAM_OPERATIONS: dict[str, Operation] = {
    "ListStreams": streams_api.list_streams,
    "DescribeStream": streams_api.describe_stream,
    "GetShardIterator": streams_api.get_shard_iterator,
    "GetRecords": streams_api.get_records,
}


def operation_for(prefix: str, operation: str) -> Operation | None:
    """The engine operation an ``X-Amz-Target`` of ``prefix.operation`` names, or None
    when this server does not serve it (the caller answers UnknownOperationException)."""
    if prefix == DYNAMODB_PREFIX:
        return OPERATIONS.get(operation)
    if prefix == STREAMS_PREFIX:
        return STREAM_OPERATIONS.get(operation)
    return None
