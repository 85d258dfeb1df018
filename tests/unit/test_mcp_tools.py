"""The pure parts of the MCP tools (``dynoxide_streams/mcp/tools.py``): every tool of
the issue exists with the DynamoDB operation it wraps, the read-only rule (PartiQL
SELECTs are reads), and the caps' arithmetic."""

from __future__ import annotations

import orjson

from dynoxide_streams.engine.operations import OPERATIONS, STREAM_OPERATIONS
from dynoxide_streams.mcp.tools import (
    BY_NAME,
    TOOLS,
    capped_limit,
    continuation,
    fitting_count,
    read_only_allows,
)

ISSUE_TOOLS = [
    "list_tables",
    "describe_table",
    "create_table",
    "update_table",
    "delete_table",
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "batch_get_item",
    "batch_write_item",
    "bulk_put_items",
    "query",
    "scan",
    "transact_get_items",
    "transact_write_items",
    "execute_partiql",
    "batch_execute_partiql",
    "execute_transaction_partiql",
    "update_time_to_live",
    "describe_time_to_live",
    "sweep_ttl",
    "advance_clock",
    "tag_resource",
    "untag_resource",
    "list_tags_of_resource",
    "list_streams",
    "describe_stream",
    "read_changes",
    "list_event_source_mappings",
    "list_dead_letters",
    "create_snapshot",
    "restore_snapshot",
    "list_snapshots",
    "delete_snapshot",
    "database_info",
]


def test_every_tool_of_the_issue_and_no_other() -> None:
    assert sorted(t.name for t in TOOLS) == sorted(ISSUE_TOOLS)
    for spec in TOOLS:
        if spec.operation is not None:
            assert spec.operation in OPERATIONS or spec.operation in STREAM_OPERATIONS


def test_read_only_allows_reads_and_partiql_selects_only() -> None:
    assert read_only_allows(BY_NAME["query"], {})
    assert not read_only_allows(BY_NAME["put_item"], {})
    assert read_only_allows(BY_NAME["execute_partiql"], {"Statement": "  select * from t"})
    assert not read_only_allows(BY_NAME["execute_partiql"], {"Statement": "DELETE FROM t"})
    assert not read_only_allows(BY_NAME["execute_partiql"], {"Statement": 5})
    both = [{"Statement": "SELECT * FROM t"}, {"Statement": "UPDATE t SET a=1"}]
    assert not read_only_allows(BY_NAME["batch_execute_partiql"], {"Statements": both})
    assert read_only_allows(
        BY_NAME["execute_transaction_partiql"], {"TransactStatements": both[:1]}
    )


def test_caps_arithmetic() -> None:
    scan = BY_NAME["scan"]
    assert capped_limit(scan, {}, None) is None
    assert capped_limit(scan, {}, 5) == 5
    assert capped_limit(scan, {"Limit": 3}, 5) is None  # already within the cap
    assert capped_limit(scan, {"Limit": 50}, 5) == 5
    assert capped_limit(BY_NAME["get_item"], {}, 5) is None  # nothing to page
    items = [{"k": {"S": "x" * 100}} for _ in range(10)]
    result = {"Items": items, "Count": 10}
    rest = len(orjson.dumps({"Count": 10})) + len("Items") + 8
    each = len(orjson.dumps(items[0])) + 1
    assert fitting_count(result, "Items", rest + 3 * each) == 3
    assert fitting_count(result, "Items", 10) == 1  # always progress
    note = continuation(scan, {"LastEvaluatedKey": {"k": {"S": "a"}}}, "max_items")
    assert note == {"By": "max_items", "ContinueWith": {"ExclusiveStartKey": {"k": {"S": "a"}}}}
    assert continuation(scan, {}, "max_bytes") == {"By": "max_bytes"}
