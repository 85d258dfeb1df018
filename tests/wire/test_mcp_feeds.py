"""Table resources and live subscriptions over MCP (the SDK's stdio client against
``mcp``): after ``resources/subscribe``, a write through boto3 (to the embedded
engine's DynamoDB endpoint), one made by a trigger handler and a TTL expiry each
bring a ``notifications/resources/updated`` whose ``_meta`` says where the new records
begin; ``read_changes`` from there returns exactly what GetRecords returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import orjson
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.shared.exceptions import McpError
from pydantic import AnyUrl

from tests.conftest import RawClient, make_client
from tests.mcp_client import call, stdio_session

pytestmark = pytest.mark.anyio

STREAMS = "DynamoDBStreams_20120810"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def table(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def get_records_after(endpoint: str, arn: str, after: str) -> list[dict[str, Any]]:
    """What GetRecords answers (exact JSON) after sequence number ``after``."""
    raw = RawClient(endpoint)
    shards = raw.call("DescribeStream", {"StreamArn": arn}, STREAMS).json
    shard = shards["StreamDescription"]["Shards"][-1]["ShardId"]
    iterator = raw.call(
        "GetShardIterator",
        {
            "StreamArn": arn,
            "ShardId": shard,
            "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
            "SequenceNumber": after,
        },
        STREAMS,
    ).json["ShardIterator"]
    records: list[dict[str, Any]] = raw.call(
        "GetRecords", {"ShardIterator": iterator}, STREAMS
    ).json["Records"]
    return records


async def next_update(
    updates: MemoryObjectReceiveStream[types.ResourceUpdatedNotification],
) -> dict[str, Any]:
    with anyio.fail_after(20):
        note = await updates.receive()
    assert str(note.params.uri) == "dynamodb://table/Copies"
    assert note.params.meta is not None
    return note.params.meta.model_dump()


async def test_each_kind_of_write_notifies_and_read_changes_matches_get_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint_file = tmp_path / "endpoint"
    monkeypatch.setenv("MCP_TEST_ENDPOINT_FILE", str(endpoint_file))
    send, updates = anyio.create_memory_object_stream[types.ResourceUpdatedNotification](100)

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.ResourceUpdatedNotification
        ):
            await send.send(message.root)

    flags = (
        "--in-memory",
        "--clock",
        "virtual",
        "--ttl-period",
        "0",
        "--function",
        "copy=python:tests.mcp_handlers:copy",
    )
    async with stdio_session(*flags, message_handler=on_message) as s:
        init_caps = s.get_server_capabilities()
        assert init_caps is not None and init_caps.resources is not None
        assert init_caps.resources.subscribe is True
        info = await call(s, "database_info", {})
        endpoint = info["Endpoint"]
        endpoint_file.write_text(endpoint)
        copies = await call(s, "create_table", table("Copies"))
        arn = copies["TableDescription"]["LatestStreamArn"]
        source = await call(s, "create_table", table("Source"))
        await call(s, "put_item", {"TableName": "Copies", "Item": {"pk": {"S": "before"}}})

        resources = await s.list_resources()
        assert sorted(str(r.uri) for r in resources.resources) == [
            "dynamodb://table/Copies",
            "dynamodb://table/Source",
        ]
        await s.subscribe_resource(AnyUrl("dynamodb://table/Copies"))

        async def check(expected_event: str) -> dict[str, Any]:
            meta = await next_update(updates)
            assert meta["StreamArn"] == arn
            changes = await call(s, "read_changes", {"TableName": "Copies", "After": meta["After"]})
            wire = await anyio.to_thread.run_sync(get_records_after, endpoint, arn, meta["After"])
            assert changes["Records"] == wire
            assert [r["eventName"] for r in wire] == [expected_event]
            assert wire[-1]["dynamodb"]["SequenceNumber"] == meta["SequenceNumber"]
            assert meta["Records"] == 1
            return wire[0]

        # 1. a write through boto3, to the engine the MCP server embeds
        ddb = make_client(endpoint)
        await anyio.to_thread.run_sync(
            lambda: ddb.put_item(TableName="Copies", Item={"pk": {"S": "from-boto3"}})
        )
        record = await check("INSERT")
        assert record["dynamodb"]["Keys"] == {"pk": {"S": "from-boto3"}}

        # 2. a write made by a trigger handler (Source -> copy -> Copies)
        lam = make_client(endpoint, "lambda")
        await anyio.to_thread.run_sync(
            lambda: lam.create_event_source_mapping(
                FunctionName="copy",
                EventSourceArn=source["TableDescription"]["LatestStreamArn"],
                StartingPosition="TRIM_HORIZON",
                BatchSize=1,
            )
        )
        await anyio.to_thread.run_sync(
            lambda: ddb.put_item(TableName="Source", Item={"pk": {"S": "via-trigger"}})
        )
        record = await check("INSERT")
        assert record["dynamodb"]["NewImage"] == {"pk": {"S": "via-trigger"}}

        # 3. a TTL expiry
        await call(
            s,
            "update_time_to_live",
            {
                "TableName": "Copies",
                "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"},
            },
        )
        now = int(info["Clock"]["Now"])
        doomed = {"pk": {"S": "doomed"}, "expires": {"N": str(now + 10)}}
        await call(s, "put_item", {"TableName": "Copies", "Item": doomed})
        await check("INSERT")
        await call(s, "advance_clock", {"Seconds": 60})
        assert await call(s, "sweep_ttl", {}) == {"Expired": 1}
        record = await check("REMOVE")
        assert record["userIdentity"] == {
            "Type": "Service",
            "PrincipalId": "dynamodb.amazonaws.com",
        }
        assert record["dynamodb"]["OldImage"] == doomed

        # the resource: the description and the most recent changes
        read = await s.read_resource(AnyUrl("dynamodb://table/Copies"))
        content = read.contents[0]
        assert isinstance(content, types.TextResourceContents)
        body = orjson.loads(content.text)
        assert body["Table"]["TableName"] == "Copies"
        assert [r["eventName"] for r in body["RecentChanges"]] == [
            "INSERT",
            "INSERT",
            "INSERT",
            "INSERT",
            "REMOVE",
        ]
        assert content.meta == {"StreamArn": arn, "SequenceNumber": body["Position"]}
        assert body["RecentChanges"][-1]["dynamodb"]["SequenceNumber"] == body["Position"]

        # a table without a stream cannot be subscribed to, and says why
        await call(
            s, "create_table", {**table("Plain"), "StreamSpecification": {"StreamEnabled": False}}
        )
        with pytest.raises(Exception, match="table Plain has no enabled stream"):
            await s.subscribe_resource(AnyUrl("dynamodb://table/Plain"))
        # nor a table that does not exist, and it says that instead
        with pytest.raises(McpError) as missing:
            await s.subscribe_resource(AnyUrl("dynamodb://table/Missing"))
        assert missing.value.error.message == (
            "no such resource: dynamodb://table/Missing (no table Missing)"
        )
        # the session goes on
        assert (await call(s, "list_tables", {}))["TableNames"] == ["Copies", "Plain", "Source"]


async def test_a_burst_of_writes_is_coalesced() -> None:
    """At most 10 notifications a second: 40 commits (a bulk put of 1,000 items, 25 a
    BatchWriteItem) land within a fraction of a second; the notifications are at least
    0.1 s apart when sent, so however long the burst takes, their number is at most
    10 a second of it plus the first. Each one starts where the one before ended, and
    together they tell of every record. (Without coalescing the subscriber is told of
    nearly every commit: dozens within the first second.)"""
    send, updates = anyio.create_memory_object_stream[types.ResourceUpdatedNotification](1000)

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.ResourceUpdatedNotification
        ):
            await send.send(message.root)

    async with stdio_session("--in-memory", message_handler=on_message) as s:
        created = await call(s, "create_table", table("Copies"))
        arn = created["TableDescription"]["LatestStreamArn"]
        await s.subscribe_resource(AnyUrl("dynamodb://table/Copies"))
        items = [{"pk": {"S": f"k{n:04d}"}} for n in range(1000)]
        began = anyio.current_time()
        await call(s, "bulk_put_items", {"TableName": "Copies", "Items": items})
        told = 0
        notes: list[dict[str, Any]] = []
        while told < 1000:
            meta = await next_update(updates)
            if notes:
                assert meta["After"] == notes[-1]["SequenceNumber"]
            notes.append(meta)
            told += meta["Records"]
        spent = anyio.current_time() - began
        assert told == 1000
        assert len(notes) <= 10 * spent + 1, (len(notes), spent)
        everything = await call(
            s, "read_changes", {"StreamArn": arn, "After": notes[0]["After"], "Limit": 1000}
        )
        assert len(everything["Records"]) == 1000
        assert everything["Records"][-1]["dynamodb"]["SequenceNumber"] == meta["SequenceNumber"]
