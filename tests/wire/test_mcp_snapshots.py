"""Snapshots through the MCP tools (the SDK's stdio client against ``mcp``): the
automatic snapshot before ``delete_table`` restores the table with its items, its
indexes, TTL, tags and its stream; a restore in place is applied as ordinary writes
(exactly the difference, each with its stream record, sequence numbers only growing, a
push subscriber resuming from before it gets just those records);
the last 10 automatic snapshots are kept; files land in ``<data dir>/snapshots``;
``create_snapshot`` never pauses a writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from websockets.sync.client import connect

from tests.conftest import make_client
from tests.mcp_client import call, call_error, stdio_session
from tests.polling import wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


TABLE: dict[str, Any] = {
    "TableName": "Orders",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "g", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by-g",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "Tags": [{"Key": "team", "Value": "orders"}],
}


def order(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"o{n:02d}"}, "g": {"S": f"g{n % 3}"}, "qty": {"N": str(n)}}


async def scan_all(s: Any, table: str) -> list[dict[str, Any]]:
    page = await call(s, "scan", {"TableName": table})
    return sorted(page["Items"], key=lambda i: i["pk"]["S"])


async def test_auto_snapshot_restores_a_deleted_table_with_items_and_stream(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    async with stdio_session("--data-dir", str(data)) as s:
        await call(s, "create_table", TABLE)
        await call(
            s,
            "update_time_to_live",
            {
                "TableName": "Orders",
                "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"},
            },
        )
        items = [order(n) for n in range(30)]
        await call(s, "bulk_put_items", {"TableName": "Orders", "Items": items})
        before = await call(s, "describe_table", {"TableName": "Orders"})

        gone = await call(s, "delete_table", {"TableName": "Orders"})
        auto = gone["AutomaticSnapshot"]
        assert auto.startswith("auto-")
        assert (data / "snapshots" / f"{auto}.db").is_file()
        listed = await call(s, "list_snapshots", {})
        assert [(x["SnapshotName"], x["Automatic"], x["Tables"]) for x in listed["Snapshots"]] == [
            (auto, True, {"Orders": 30})
        ]
        assert listed["Snapshots"][0]["Reason"] == "before delete_table Orders"

        restored = await call(s, "restore_snapshot", {"SnapshotName": auto, "TableName": "Orders"})
        assert restored == {
            "TableName": "Orders",
            "SnapshotName": auto,
            "TableCreated": True,
            "ItemsPut": 30,
            "ItemsDeleted": 0,
            "AutomaticSnapshot": restored["AutomaticSnapshot"],
        }
        assert await scan_all(s, "Orders") == items
        after = (await call(s, "describe_table", {"TableName": "Orders"}))["Table"]
        assert after["ItemCount"] == 30
        assert after["KeySchema"] == before["Table"]["KeySchema"]
        assert after["StreamSpecification"] == TABLE["StreamSpecification"]
        assert after["LatestStreamArn"] != before["Table"]["LatestStreamArn"]
        assert [i["IndexName"] for i in after["GlobalSecondaryIndexes"]] == ["by-g"]
        by_g = await call(
            s,
            "query",
            {
                "TableName": "Orders",
                "IndexName": "by-g",
                "KeyConditionExpression": "g = :g",
                "ExpressionAttributeValues": {":g": {"S": "g1"}},
            },
        )
        assert by_g["Count"] == 10
        ttl = await call(s, "describe_time_to_live", {"TableName": "Orders"})
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires"
        tags = await call(s, "list_tags_of_resource", {"ResourceArn": after["TableArn"]})
        assert tags == {"Tags": [{"Key": "team", "Value": "orders"}]}
        # the restored items are in the (new) stream, one INSERT each
        changes = await call(s, "read_changes", {"TableName": "Orders", "Limit": 1000})
        assert changes["StreamArn"] == after["LatestStreamArn"]
        inserted = [r["dynamodb"]["NewImage"] for r in changes["Records"]]
        assert [r["eventName"] for r in changes["Records"]] == ["INSERT"] * 30
        assert sorted(inserted, key=lambda i: i["pk"]["S"]) == items


def push_records_after(endpoint: str, arn: str, after: str, count: int) -> list[Any]:
    """``count`` records the push websocket sends a subscriber resuming after ``after``."""
    url = endpoint.replace("http://", "ws://", 1) + "/_streams/ws"
    with connect(url, open_timeout=15) as ws:
        ws.send(
            orjson.dumps(
                {"action": "subscribe", "id": "s", "streamArn": arn, "from": {"after": after}}
            ).decode()
        )
        records: list[Any] = []
        while len(records) < count:
            frame = orjson.loads(ws.recv(timeout=15))
            if frame["type"] == "record":
                records.append(frame["record"])
        return records


async def test_restore_in_place_writes_exactly_the_difference() -> None:
    async with stdio_session("--in-memory") as s:
        endpoint = (await call(s, "database_info", {}))["Endpoint"]
        created = await call(s, "create_table", TABLE)
        created_arn = created["TableDescription"]["LatestStreamArn"]
        await call(
            s, "bulk_put_items", {"TableName": "Orders", "Items": [order(n) for n in range(5)]}
        )
        snap = await call(s, "create_snapshot", {"SnapshotName": "known-good"})
        assert snap["Snapshot"]["Tables"] == {"Orders": 5}
        assert snap["Snapshot"]["Automatic"] is False
        # an agent's mistakes: one changed, one deleted, one added
        await call(s, "put_item", {"TableName": "Orders", "Item": {**order(1), "qty": {"N": "99"}}})
        await call(s, "delete_item", {"TableName": "Orders", "Key": {"pk": {"S": "o03"}}})
        await call(s, "put_item", {"TableName": "Orders", "Item": order(7)})
        mark = await call(s, "read_changes", {"TableName": "Orders", "After": "LATEST"})

        restored = await call(
            s, "restore_snapshot", {"SnapshotName": "known-good", "TableName": "Orders"}
        )
        assert (restored["TableCreated"], restored["ItemsPut"], restored["ItemsDeleted"]) == (
            False,
            2,
            1,
        )
        assert await scan_all(s, "Orders") == [order(n) for n in range(5)]
        changes = await call(s, "read_changes", {"TableName": "Orders", "After": mark["Position"]})
        seen = sorted(
            (r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in changes["Records"]
        )
        assert seen == [("INSERT", "o03"), ("MODIFY", "o01"), ("REMOVE", "o07")]
        numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in changes["Records"]]
        assert numbers == sorted(numbers) and numbers[0] > int(mark["Position"])
        # a push subscriber following the stream from before the restore got exactly
        # those records after its cursor: the restore extended the log, never rewound it
        pushed = await anyio.to_thread.run_sync(
            push_records_after, endpoint, created_arn, mark["Position"], 3
        )
        assert pushed == changes["Records"]
        # restoring again changes nothing and writes nothing to the stream
        again = await call(
            s, "restore_snapshot", {"SnapshotName": "known-good", "TableName": "Orders"}
        )
        assert (again["ItemsPut"], again["ItemsDeleted"]) == (0, 0)
        quiet = await call(s, "read_changes", {"TableName": "Orders", "After": changes["Position"]})
        assert quiet["Records"] == []


async def test_a_trigger_checkpoint_stays_valid_across_a_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger that has processed the stream up to before a restore gets exactly the
    restore's records next: nothing replayed, nothing skipped, same sequence numbers."""
    seen_file = tmp_path / "seen.jsonl"
    seen_file.touch()
    monkeypatch.setenv("MCP_TEST_RECORDS_FILE", str(seen_file))

    def seen(count: int) -> list[Any]:
        def enough() -> list[Any]:
            # whole lines only: the handler may be writing the next one right now
            lines = seen_file.read_text().split("\n")[:-1]
            return [orjson.loads(x) for x in lines] if len(lines) >= count else []

        return list(wait_until(enough, timeout=30, what=f"{count} records handled"))

    flags = ("--in-memory", "--function", "record=python:tests.mcp_handlers:record")
    async with stdio_session(*flags) as s:
        endpoint = (await call(s, "database_info", {}))["Endpoint"]
        created = await call(s, "create_table", TABLE)
        arn = created["TableDescription"]["LatestStreamArn"]
        await call(
            s, "bulk_put_items", {"TableName": "Orders", "Items": [order(n) for n in range(5)]}
        )
        await call(s, "create_snapshot", {"SnapshotName": "known-good"})
        lam = make_client(endpoint, "lambda")
        await anyio.to_thread.run_sync(
            lambda: lam.create_event_source_mapping(
                FunctionName="record",
                EventSourceArn=arn,
                StartingPosition="TRIM_HORIZON",
                BatchSize=10,
            )
        )
        await call(s, "put_item", {"TableName": "Orders", "Item": {**order(1), "qty": {"N": "9"}}})
        await call(s, "delete_item", {"TableName": "Orders", "Key": {"pk": {"S": "o03"}}})
        await call(s, "put_item", {"TableName": "Orders", "Item": order(7)})
        before = await anyio.to_thread.run_sync(seen, 8)  # the trigger is caught up
        mark = await call(s, "read_changes", {"TableName": "Orders", "After": "LATEST"})
        await call(s, "restore_snapshot", {"SnapshotName": "known-good", "TableName": "Orders"})
        restore = await call(s, "read_changes", {"TableName": "Orders", "After": mark["Position"]})
        assert len(restore["Records"]) == 3
        handled = await anyio.to_thread.run_sync(seen, 11)
        assert handled[:8] == before
        assert [r["dynamodb"]["SequenceNumber"] for r in handled[8:]] == [
            r["dynamodb"]["SequenceNumber"] for r in restore["Records"]
        ]
        everything = await call(s, "read_changes", {"TableName": "Orders", "Limit": 1000})
        assert [r["eventID"] for r in handled] == [r["eventID"] for r in everything["Records"]]


async def test_the_last_ten_automatic_snapshots_are_kept_and_errors_are_tool_errors() -> None:
    async with stdio_session("--in-memory") as s:
        await call(s, "create_table", TABLE)
        await call(s, "create_snapshot", {"SnapshotName": "mine"})
        for _ in range(12):
            await call(s, "restore_snapshot", {"SnapshotName": "mine", "TableName": "Orders"})
        listed = (await call(s, "list_snapshots", {}))["Snapshots"]
        assert [x["SnapshotName"] for x in listed if not x["Automatic"]] == ["mine"]
        autos = [x["SnapshotName"] for x in listed if x["Automatic"]]
        assert len(autos) == 10
        assert await call(s, "delete_snapshot", {"SnapshotName": "mine"}) == {}
        assert await call_error(s, "delete_snapshot", {"SnapshotName": "mine"}) == {
            "__type": "ResourceNotFoundException",
            "message": "snapshot mine not found",
        }
        assert await call_error(
            s, "restore_snapshot", {"SnapshotName": "../etc", "TableName": "Orders"}
        ) == {
            "__type": "ValidationException",
            "message": "SnapshotName must be 1 to 100 of a-z A-Z 0-9 _ - . (got '../etc')",
        }
        assert await call_error(s, "create_snapshot", {"SnapshotName": autos[0]}) == {
            "__type": "ValidationException",
            "message": f"snapshot {autos[0]} already exists",
        }
        first = autos[0]
        assert await call_error(
            s, "restore_snapshot", {"SnapshotName": first, "TableName": "Other"}
        ) == {
            "__type": "ResourceNotFoundException",
            "message": f"table Other is not in snapshot {first}",
        }


async def test_create_snapshot_does_not_pause_writers(tmp_path: Path) -> None:
    """Ordering, not timing: once the online backup has begun writing the copy, a
    PutItem sent through boto3 is answered while the copy is still being written (its
    file short of the finished snapshot's size), so before ``create_snapshot``
    returns; and the copy is the moment the backup began (without that write). A
    snapshot that holds writers off (the write lock taken for the copy) answers the
    PutItem only once the copy is whole (seen: after it was renamed into place)."""
    data = tmp_path / "data"
    async with stdio_session("--data-dir", str(data)) as s:
        endpoint = (await call(s, "database_info", {}))["Endpoint"]
        await call(s, "create_table", {**TABLE, "TableName": "Big", "Tags": []})
        blob = {"S": "b" * 380_000}  # ~115 MB with the stream: the backup takes a while
        for batch in range(6):
            items = [{"pk": {"S": f"big{batch:02d}{n:02d}"}, "blob": blob} for n in range(25)]
            await call(s, "bulk_put_items", {"TableName": "Big", "Items": items})
        ddb = make_client(endpoint)  # made and connected before the snapshot starts
        ddb.get_item(TableName="Big", Key={"pk": {"S": "big0000"}}, ProjectionExpression="pk")
        partial = data / "snapshots" / "busy.db.partial"
        done: list[str] = []
        written_at_put: list[int] = []

        async def snapshot() -> None:
            await call(s, "create_snapshot", {"SnapshotName": "busy"})
            done.append("create_snapshot")

        def written() -> int:
            """Bytes of the copy written so far (-1: none, or renamed into place)."""
            try:
                return partial.stat().st_size
            except FileNotFoundError:
                return -1

        def put() -> None:
            ddb.put_item(TableName="Big", Item={"pk": {"S": "during"}})
            done.append("put_item")
            written_at_put.append(written())

        async with anyio.create_task_group() as tg:
            tg.start_soon(snapshot)
            with anyio.fail_after(60):  # the backup has begun writing the copy
                while written() <= 0:
                    await anyio.sleep(0.005)
            assert done == []
            await anyio.to_thread.run_sync(put)
        assert done == ["put_item", "create_snapshot"]
        whole = (data / "snapshots" / "busy.db").stat().st_size
        assert 0 < written_at_put[0] < whole, (written_at_put, whole)
        # the copy is one consistent moment, from before the write
        listed = (await call(s, "list_snapshots", {}))["Snapshots"]
        assert [(x["SnapshotName"], x["Tables"]) for x in listed] == [("busy", {"Big": 150})]
        restored = await call(s, "restore_snapshot", {"SnapshotName": "busy", "TableName": "Big"})
        assert (restored["ItemsPut"], restored["ItemsDeleted"]) == (0, 1)
