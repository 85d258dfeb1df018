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
from importlib import resources
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


def _load_tools() -> tuple[ToolSpec, ...]:
    """The tool table, ``tools.json`` next to this module (data: one object per tool,
    in the order ``tools/list`` shows them)."""
    rows = orjson.loads(resources.files(__package__).joinpath("tools.json").read_bytes())
    return tuple(
        ToolSpec(
            row["name"],
            row["operation"],
            row["writes"],
            row["description"],
            tuple(row.get("required", ())),
            tuple(row.get("optional", ())),
            row.get("limit_arg"),
            row.get("items_key"),
            tuple((member, argument) for member, argument in row.get("continue_keys", ())),
        )
        for row in rows["tools"]
    )


TOOLS: tuple[ToolSpec, ...] = _load_tools()

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
