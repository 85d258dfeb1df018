"""The MCP tools: names, what each wraps, which write, their argument names, and the
result caps (``--max-items`` / ``--max-bytes``). Pure: no I/O, no ``mcp`` import.

Every tool of a DynamoDB or Streams operation takes that operation's own request
members (``TableName``, ``Key``, ``KeyConditionExpression``, ...) and answers its
response, items in DynamoDB JSON: the engine validates them exactly as for the wire
API, so an agent sees the same errors. The other tools (``bulk_put_items``,
``sweep_ttl``, ``advance_clock``, ``read_changes``, ``list_dead_letters``,
``database_info``) take arguments named in the same style.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, the operation it wraps (None: a tool of its own), whether it
    writes (refused by ``--read-only``), a one-line description, its argument names
    (required ones first) and, for a paged read, the argument that limits a page and
    the response members that continue it."""

    name: str
    operation: str | None
    writes: bool
    description: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    limit_arg: str | None = None
    items_key: str | None = None
    continue_keys: tuple[tuple[str, str], ...] = ()  # (response member, argument)


def _t(
    name: str,
    operation: str | None,
    writes: bool,
    description: str,
    required: str = "",
    optional: str = "",
    **paging: Any,
) -> ToolSpec:
    return ToolSpec(
        name,
        operation,
        writes,
        description,
        tuple(required.split()),
        tuple(optional.split()),
        **paging,
    )


_QUERY_ARGS = (
    "IndexName Select Limit ConsistentRead ExclusiveStartKey ProjectionExpression "
    "FilterExpression ExpressionAttributeNames ExpressionAttributeValues ReturnConsumedCapacity"
)
_WRITE_ARGS = (
    "ConditionExpression ExpressionAttributeNames ExpressionAttributeValues ReturnValues "
    "ReturnValuesOnConditionCheckFailure ReturnConsumedCapacity ReturnItemCollectionMetrics"
)

TOOLS: tuple[ToolSpec, ...] = (
    _t(
        "list_tables",
        "ListTables",
        False,
        "List table names.",
        optional="ExclusiveStartTableName Limit",
        limit_arg="Limit",
        items_key="TableNames",
        continue_keys=(("LastEvaluatedTableName", "ExclusiveStartTableName"),),
    ),
    _t(
        "describe_table",
        "DescribeTable",
        False,
        "Describe a table (keys, indexes, stream, item count); with --data-model, its entities.",
        "TableName",
    ),
    _t(
        "create_table",
        "CreateTable",
        True,
        "Create a table (CreateTable's request members).",
        "TableName KeySchema AttributeDefinitions",
        "BillingMode ProvisionedThroughput GlobalSecondaryIndexes LocalSecondaryIndexes "
        "StreamSpecification Tags TableClass DeletionProtectionEnabled",
    ),
    _t(
        "update_table",
        "UpdateTable",
        True,
        "Update a table: stream, indexes, billing.",
        "TableName",
        "AttributeDefinitions BillingMode ProvisionedThroughput GlobalSecondaryIndexUpdates "
        "StreamSpecification TableClass DeletionProtectionEnabled",
    ),
    _t(
        "delete_table",
        "DeleteTable",
        True,
        "Delete a table and its items.",
        "TableName",
    ),
    _t(
        "get_item",
        "GetItem",
        False,
        "Read one item by its key.",
        "TableName Key",
        "ConsistentRead ProjectionExpression ExpressionAttributeNames ReturnConsumedCapacity",
    ),
    _t(
        "put_item",
        "PutItem",
        True,
        "Create or replace one item (DynamoDB JSON).",
        "TableName Item",
        _WRITE_ARGS,
    ),
    _t(
        "update_item",
        "UpdateItem",
        True,
        "Update one item with an UpdateExpression.",
        "TableName Key",
        "UpdateExpression " + _WRITE_ARGS,
    ),
    _t(
        "delete_item",
        "DeleteItem",
        True,
        "Delete one item by its key.",
        "TableName Key",
        _WRITE_ARGS,
    ),
    _t(
        "batch_get_item",
        "BatchGetItem",
        False,
        "Read up to 100 items from one or more tables.",
        "RequestItems",
        "ReturnConsumedCapacity",
    ),
    _t(
        "batch_write_item",
        "BatchWriteItem",
        True,
        "Put or delete up to 25 items across tables.",
        "RequestItems",
        "ReturnConsumedCapacity ReturnItemCollectionMetrics",
    ),
    _t(
        "bulk_put_items",
        None,
        True,
        "Put any number of items into one table (batched 25 at a time).",
        "TableName Items",
    ),
    _t(
        "query",
        "Query",
        False,
        "Query by KeyConditionExpression; FilterExpression and ProjectionExpression optional.",
        "TableName KeyConditionExpression",
        _QUERY_ARGS + " ScanIndexForward",
        limit_arg="Limit",
        items_key="Items",
        continue_keys=(("LastEvaluatedKey", "ExclusiveStartKey"),),
    ),
    _t(
        "scan",
        "Scan",
        False,
        "Scan a table or index; FilterExpression and ProjectionExpression optional.",
        "TableName",
        _QUERY_ARGS + " Segment TotalSegments",
        limit_arg="Limit",
        items_key="Items",
        continue_keys=(("LastEvaluatedKey", "ExclusiveStartKey"),),
    ),
    _t(
        "transact_get_items",
        "TransactGetItems",
        False,
        "Read up to 100 items atomically.",
        "TransactItems",
        "ReturnConsumedCapacity",
    ),
    _t(
        "transact_write_items",
        "TransactWriteItems",
        True,
        "Write up to 100 items atomically (Put, Update, Delete, ConditionCheck).",
        "TransactItems",
        "ClientRequestToken ReturnConsumedCapacity ReturnItemCollectionMetrics",
    ),
    _t(
        "execute_partiql",
        "ExecuteStatement",
        True,
        "Run one PartiQL statement (SELECT is allowed in --read-only mode).",
        "Statement",
        "Parameters ConsistentRead NextToken Limit ReturnConsumedCapacity "
        "ReturnValuesOnConditionCheckFailure",
        limit_arg="Limit",
        items_key="Items",
        continue_keys=(("NextToken", "NextToken"),),
    ),
    _t(
        "batch_execute_partiql",
        "BatchExecuteStatement",
        True,
        "Run up to 25 PartiQL statements (SELECTs only in --read-only mode).",
        "Statements",
        "ReturnConsumedCapacity",
    ),
    _t(
        "execute_transaction_partiql",
        "ExecuteTransaction",
        True,
        "Run up to 100 PartiQL statements as one transaction.",
        "TransactStatements",
        "ClientRequestToken ReturnConsumedCapacity",
    ),
    _t(
        "update_time_to_live",
        "UpdateTimeToLive",
        True,
        "Enable or disable TTL on a table.",
        "TableName TimeToLiveSpecification",
    ),
    _t(
        "describe_time_to_live",
        "DescribeTimeToLive",
        False,
        "Show a table's TTL attribute and status.",
        "TableName",
    ),
    _t(
        "sweep_ttl",
        None,
        True,
        "Delete every item whose TTL has passed, now (answers Expired: the count).",
    ),
    _t(
        "advance_clock",
        None,
        True,
        "Move the virtual clock (--clock virtual): Seconds forward, or to EpochSeconds.",
        optional="Seconds EpochSeconds",
    ),
    _t(
        "tag_resource",
        "TagResource",
        True,
        "Tag a table.",
        "ResourceArn Tags",
    ),
    _t(
        "untag_resource",
        "UntagResource",
        True,
        "Remove tags from a table.",
        "ResourceArn TagKeys",
    ),
    _t(
        "list_tags_of_resource",
        "ListTagsOfResource",
        False,
        "List a table's tags.",
        "ResourceArn",
        "NextToken",
    ),
    _t(
        "list_streams",
        "ListStreams",
        False,
        "List streams (DynamoDB Streams ListStreams).",
        optional="TableName ExclusiveStartStreamArn Limit",
        limit_arg="Limit",
        items_key="Streams",
        continue_keys=(("LastEvaluatedStreamArn", "ExclusiveStartStreamArn"),),
    ),
    _t(
        "describe_stream",
        "DescribeStream",
        False,
        "Describe a stream and its shards.",
        "StreamArn",
        "ExclusiveStartShardId Limit",
    ),
    _t(
        "read_changes",
        None,
        False,
        "Change records (GetRecords format) of a table's stream after a position: give "
        "TableName or StreamArn, and After (a SequenceNumber; default TRIM_HORIZON; or "
        "LATEST). Answers Records and Position: call again with After=Position.",
        optional="TableName StreamArn After Limit",
        limit_arg="Limit",
        items_key="Records",
        continue_keys=(("Position", "After"),),
    ),
    _t(
        "list_event_source_mappings",
        None,
        False,
        "List trigger mappings (Lambda ListEventSourceMappings).",
        optional="EventSourceArn FunctionName Marker MaxItems",
        limit_arg="MaxItems",
        items_key="EventSourceMappings",
        continue_keys=(("NextMarker", "Marker"),),
    ),
    _t(
        "list_dead_letters",
        None,
        False,
        "Failure records of trigger batches that exhausted their retries, oldest first "
        "(UUID: one mapping's; After: an Id, continue from LastEvaluatedId).",
        optional="UUID After Limit",
        limit_arg="Limit",
        items_key="DeadLetters",
        continue_keys=(("LastEvaluatedId", "After"),),
    ),
    _t(
        "create_snapshot",
        None,
        True,
        "Copy the whole database now (SQLite online backup; writers never wait).",
        optional="SnapshotName",
    ),
    _t(
        "list_snapshots",
        None,
        False,
        "List snapshots, oldest first (automatic ones are taken before delete_table and "
        "restore_snapshot; the last 10 are kept).",
    ),
    _t(
        "delete_snapshot",
        None,
        True,
        "Delete a snapshot.",
        "SnapshotName",
    ),
    _t(
        "restore_snapshot",
        None,
        True,
        "Make one table what it was in a snapshot, by ordinary writes (each change gets "
        "its stream record; the log is never rewound). Re-creates a deleted table.",
        "SnapshotName TableName",
    ),
    _t(
        "database_info",
        None,
        False,
        "What this server is: endpoint, data directory, clock, tables, limits.",
    ),
)

BY_NAME: dict[str, ToolSpec] = {t.name: t for t in TOOLS}

MAX_ARGUMENT_BYTES = 16 * 1024 * 1024
"""Arguments larger than a DynamoDB request body may be are refused, as the wire API
refuses such a body (RequestEntityTooLarge)."""


_DYNAMODB_JSON = 'DynamoDB JSON, e.g. {"pk": {"S": "user#1"}, "n": {"N": "5"}}'
MEMBERS: dict[str, tuple[str, str]] = {
    "TableName": ("string", "the table's name (or ARN)"),
    "Key": ("object", "the item's key attributes, " + _DYNAMODB_JSON),
    "Item": ("object", "the whole item, " + _DYNAMODB_JSON),
    "Items": ("array", "items, each " + _DYNAMODB_JSON),
    "ExclusiveStartKey": ("object", "LastEvaluatedKey of the previous page"),
    "KeyConditionExpression": ("string", "e.g. pk = :pk AND begins_with(sk, :prefix)"),
    "FilterExpression": ("string", "applied after the key condition, e.g. #s = :open"),
    "ProjectionExpression": ("string", "attributes to return, e.g. pk, #n"),
    "ConditionExpression": ("string", "the write happens only if it holds"),
    "UpdateExpression": ("string", "e.g. SET #n = :v ADD visits :one REMOVE old"),
    "ExpressionAttributeNames": ("object", 'e.g. {"#n": "name"}'),
    "ExpressionAttributeValues": ("object", 'e.g. {":v": {"S": "x"}}'),
    "Limit": ("integer", "items to evaluate at most"),
    "ConsistentRead": ("boolean", "strongly consistent read"),
    "ScanIndexForward": ("boolean", "false: descending sort key order"),
    "IndexName": ("string", "a global or local secondary index"),
    "Statement": ("string", "PartiQL, e.g. SELECT * FROM t WHERE pk = ?"),
    "Parameters": ("array", "values for the ? of the statement, DynamoDB JSON"),
    "Statements": ("array", 'e.g. [{"Statement": "...", "Parameters": [...]}]'),
    "TransactStatements": ("array", 'e.g. [{"Statement": "...", "Parameters": [...]}]'),
    "TransactItems": ("array", "the transaction's actions, as in the DynamoDB API"),
    "RequestItems": ("object", "table name -> requests, as in the DynamoDB API"),
    "StreamArn": ("string", "a stream's ARN (list_streams, describe_table)"),
    "After": ("string", "TRIM_HORIZON, LATEST or the Position/After of a notification"),
    "SnapshotName": ("string", "1 to 100 of a-z A-Z 0-9 _ - ."),
    "UUID": ("string", "an event source mapping's UUID"),
    "Marker": ("string", "NextMarker of the previous page"),
    "MaxItems": ("integer", "mappings to return at most"),
    "list_dead_letters.After": ("integer", "a dead letter Id: the ones after it"),
    "Seconds": ("number", "seconds to move the virtual clock forward"),
    "EpochSeconds": ("number", "the time to set the virtual clock to"),
}
"""Type and hint of the members agents use most (the others: any JSON value);
``<tool>.<member>`` where one tool's member differs."""


def input_schema(spec: ToolSpec) -> dict[str, Any]:
    """The JSON schema of a tool's arguments: its members, typed where
    :data:`MEMBERS` knows them. The engine still checks every value, so a wrong one
    gets DynamoDB's own error, not a schema one."""
    properties: dict[str, Any] = {}
    for name in spec.required + spec.optional:
        kind, hint = MEMBERS.get(f"{spec.name}.{name}", MEMBERS.get(name, ("", f"DynamoDB {name}")))
        properties[name] = {"description": hint, **({"type": kind} if kind else {})}
    return {"type": "object", "properties": properties, "required": list(spec.required)}


def is_select(statement: Any) -> bool:
    """Whether a PartiQL statement only reads (allowed by ``--read-only``)."""
    return isinstance(statement, str) and statement.lstrip().lower().startswith("select")


def read_only_allows(spec: ToolSpec, arguments: dict[str, Any]) -> bool:
    """Whether ``--read-only`` lets this call run: a read tool, or PartiQL that only
    SELECTs."""
    if not spec.writes:
        return True
    if spec.name == "execute_partiql":
        return is_select(arguments.get("Statement"))
    if spec.name == "batch_execute_partiql":
        statements = arguments.get("Statements")
        return isinstance(statements, list) and all(
            isinstance(s, dict) and is_select(s.get("Statement")) for s in statements
        )
    if spec.name == "execute_transaction_partiql":
        statements = arguments.get("TransactStatements")
        return isinstance(statements, list) and all(
            isinstance(s, dict) and is_select(s.get("Statement")) for s in statements
        )
    return False


def capped_limit(spec: ToolSpec, arguments: dict[str, Any], max_items: int | None) -> int | None:
    """The page size to ask for under ``max_items`` (None: leave the call as it is)."""
    if spec.limit_arg is None or max_items is None:
        return None
    given = arguments.get(spec.limit_arg)
    if isinstance(given, int) and not isinstance(given, bool) and given <= max_items:
        return None
    return max_items


def fitting_count(result: dict[str, Any], items_key: str, max_bytes: int) -> int:
    """How many of ``result[items_key]`` fit in ``max_bytes`` of compact JSON together
    with the rest of the result (at least 1, so a call always makes progress)."""
    items = result.get(items_key) or []
    rest = {k: v for k, v in result.items() if k != items_key}
    used = len(orjson.dumps(rest)) + len(items_key) + 8
    count = 0
    for item in items:
        used += len(orjson.dumps(item)) + 1
        if used > max_bytes:
            break
        count += 1
    return max(count, 1)


def continuation(spec: ToolSpec, result: dict[str, Any], by: str) -> dict[str, Any]:
    """The ``Truncated`` note of a result cut by a cap: what cut it and the arguments
    to add to the same call to get the rest."""
    following = {arg: result[member] for member, arg in spec.continue_keys if member in result}
    note: dict[str, Any] = {"By": by}
    if following:
        note["ContinueWith"] = following
    return note
