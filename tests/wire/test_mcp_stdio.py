"""``dynoxide-streams mcp`` over stdio, driven by the ``mcp`` SDK's own client against a
subprocess: every tool family, ``--read-only``, ``--max-items``/``--max-bytes`` with
continuation, bad input as tool errors (the session lives on), and a data directory
held by a running server refused with one line naming it.

Errors are compared with what boto3 gets from the same engine (the embedded engine
serves the DynamoDB API too; ``database_info`` names its endpoint): same name, same
message."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError
from mcp import ClientSession
from mcp.client.stdio import stdio_client

from dynoxide_streams.datadir import DataDirLock
from tests.conftest import make_client
from tests.mcp_client import ROOT, call, call_error, mcp_command, stdio_session
from tests.polling import wait_until
from tests.process import start_server
from tests.unit.test_mcp_tools import ISSUE_TOOLS

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def table_args(name: str, *, stream: bool = True) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if stream:
        args["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
    return args


def item(pk: str, sk: int, **more: dict[str, Any]) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}, **more}


def boto_error(endpoint: str, operation: str, params: dict[str, Any]) -> dict[str, str]:
    """The error boto3 gets from the same engine for the same request."""
    client = make_client(endpoint)
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(**params)
    error = caught.value.response["Error"]
    return {"__type": error["Code"], "message": error["Message"]}


FAMILY_FLAGS = ("--in-memory", "--clock", "virtual", "--ttl-period", "0")
"""The flags ``every_tool_family`` needs (over stdio, and of ``serve --mcp`` over HTTP)."""


async def test_every_tool_family_over_stdio() -> None:
    async with stdio_session(*FAMILY_FLAGS) as s:
        await every_tool_family(s)


async def every_tool_family(s: ClientSession) -> None:
    """Every tool family through one session, on an empty in-memory database with the
    virtual clock and no TTL sweeps of its own."""
    names = {t.name for t in (await s.list_tools()).tools}
    assert names == set(ISSUE_TOOLS)
    info = await call(s, "database_info", {})
    assert info["InMemory"] is True and info["Clock"]["Virtual"] is True
    assert info["Endpoint"].startswith("http://127.0.0.1:")

    # tables
    created = await call(s, "create_table", table_args("Orders"))
    assert created["TableDescription"]["TableName"] == "Orders"
    assert await call(s, "list_tables", {}) == {"TableNames": ["Orders"]}
    described = await call(s, "describe_table", {"TableName": "Orders"})
    assert described["Table"]["KeySchema"][0] == {"AttributeName": "pk", "KeyType": "HASH"}
    arn = described["Table"]["TableArn"]
    stream_arn = described["Table"]["LatestStreamArn"]

    # items
    assert await call(s, "put_item", {"TableName": "Orders", "Item": item("a", 1)}) == {}
    updated = await call(
        s,
        "update_item",
        {
            "TableName": "Orders",
            "Key": item("a", 1),
            "UpdateExpression": "SET qty = :q",
            "ExpressionAttributeValues": {":q": {"N": "5"}},
            "ReturnValues": "ALL_NEW",
        },
    )
    assert updated == {"Attributes": item("a", 1, qty={"N": "5"})}
    got = await call(s, "get_item", {"TableName": "Orders", "Key": item("a", 1)})
    assert got == {"Item": item("a", 1, qty={"N": "5"})}
    deleted = await call(
        s,
        "delete_item",
        {"TableName": "Orders", "Key": item("a", 1), "ReturnValues": "ALL_OLD"},
    )
    assert deleted == {"Attributes": item("a", 1, qty={"N": "5"})}

    # batches, and a bulk put larger than one batch
    written = await call(
        s,
        "batch_write_item",
        {"RequestItems": {"Orders": [{"PutRequest": {"Item": item("b", n)}} for n in (1, 2)]}},
    )
    assert written == {"UnprocessedItems": {}}
    bulk = await call(
        s,
        "bulk_put_items",
        {
            "TableName": "Orders",
            "Items": [item("c", n, qty={"N": str(n % 3)}) for n in range(60)],
        },
    )
    assert bulk == {"TableName": "Orders", "Written": 60}
    batch = await call(s, "batch_get_item", {"RequestItems": {"Orders": {"Keys": [item("b", 2)]}}})
    assert batch == {"Responses": {"Orders": [item("b", 2)]}, "UnprocessedKeys": {}}

    # query and scan with expressions
    queried = await call(
        s,
        "query",
        {
            "TableName": "Orders",
            "KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
            "FilterExpression": "qty <> :no",
            "ProjectionExpression": "sk",
            "ExpressionAttributeValues": {
                ":p": {"S": "c"},
                ":lo": {"N": "10"},
                ":hi": {"N": "13"},
                ":no": {"N": "1"},
            },
        },
    )
    assert queried["Items"] == [{"sk": {"N": "11"}}, {"sk": {"N": "12"}}]
    assert (queried["Count"], queried["ScannedCount"]) == (2, 4)
    scanned = await call(s, "scan", {"TableName": "Orders", "Select": "COUNT"})
    assert scanned["Count"] == 62

    # transactions
    await call(
        s,
        "transact_write_items",
        {
            "TransactItems": [
                {"Put": {"TableName": "Orders", "Item": item("t", 1)}},
                {"Delete": {"TableName": "Orders", "Key": item("b", 1)}},
            ]
        },
    )
    tx = await call(
        s,
        "transact_get_items",
        {"TransactItems": [{"Get": {"TableName": "Orders", "Key": item("t", 1)}}]},
    )
    assert tx == {"Responses": [{"Item": item("t", 1)}]}

    # PartiQL
    await call(s, "execute_partiql", {"Statement": "INSERT INTO Orders VALUE {'pk': 'p', 'sk': 1}"})
    selected = await call(
        s, "execute_partiql", {"Statement": "SELECT * FROM Orders WHERE pk = 'p'"}
    )
    assert selected["Items"] == [item("p", 1)]
    batch_pq = await call(
        s,
        "batch_execute_partiql",
        {"Statements": [{"Statement": "SELECT sk FROM Orders WHERE pk = 't' AND sk = 1"}]},
    )
    assert batch_pq == {"Responses": [{"TableName": "Orders", "Item": {"sk": {"N": "1"}}}]}
    await call(
        s,
        "execute_transaction_partiql",
        {"TransactStatements": [{"Statement": "DELETE FROM Orders WHERE pk = 'p' AND sk = 1"}]},
    )

    # TTL, the virtual clock and a sweep
    ttl = await call(
        s,
        "update_time_to_live",
        {
            "TableName": "Orders",
            "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"},
        },
    )
    assert ttl == {"TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"}}
    described_ttl = await call(s, "describe_time_to_live", {"TableName": "Orders"})
    assert described_ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    now = info["Clock"]["Now"]
    await call(
        s,
        "put_item",
        {"TableName": "Orders", "Item": item("x", 1, expires={"N": str(int(now) + 60)})},
    )
    assert await call(s, "sweep_ttl", {}) == {"Expired": 0}
    moved = await call(s, "advance_clock", {"Seconds": 120})
    assert moved == {"Now": now + 120, "Virtual": True}
    assert await call(s, "sweep_ttl", {}) == {"Expired": 1}

    # tags
    assert (
        await call(s, "tag_resource", {"ResourceArn": arn, "Tags": [{"Key": "team", "Value": "a"}]})
        == {}
    )
    assert await call(s, "list_tags_of_resource", {"ResourceArn": arn}) == {
        "Tags": [{"Key": "team", "Value": "a"}]
    }
    await call(s, "untag_resource", {"ResourceArn": arn, "TagKeys": ["team"]})
    assert await call(s, "list_tags_of_resource", {"ResourceArn": arn}) == {"Tags": []}

    # streams and the change feed
    streams = await call(s, "list_streams", {"TableName": "Orders"})
    assert [x["StreamArn"] for x in streams["Streams"]] == [stream_arn]
    stream = await call(s, "describe_stream", {"StreamArn": stream_arn})
    assert stream["StreamDescription"]["StreamStatus"] == "ENABLED"
    changes = await call(s, "read_changes", {"TableName": "Orders", "Limit": 3})
    assert [r["eventName"] for r in changes["Records"]] == ["INSERT", "MODIFY", "REMOVE"]
    later = await call(
        s, "read_changes", {"StreamArn": stream_arn, "After": changes["Position"], "Limit": 2}
    )
    assert [r["dynamodb"]["Keys"] for r in later["Records"]] == [
        {"pk": {"S": "b"}, "sk": {"N": "1"}},
        {"pk": {"S": "b"}, "sk": {"N": "2"}},
    ]
    tail = await call(s, "read_changes", {"TableName": "Orders", "After": "LATEST"})
    assert tail["Records"] == []
    swept = await call(
        s, "read_changes", {"TableName": "Orders", "After": changes["Position"], "Limit": 1000}
    )
    expiry = [r for r in swept["Records"] if r.get("userIdentity")]
    assert expiry[0]["userIdentity"] == {
        "Type": "Service",
        "PrincipalId": "dynamodb.amazonaws.com",
    }

    # triggers
    assert await call(s, "list_event_source_mappings", {}) == {"EventSourceMappings": []}
    assert await call(s, "list_dead_letters", {}) == {"DeadLetters": []}

    # and the table goes
    gone = await call(s, "delete_table", {"TableName": "Orders"})
    assert gone["TableDescription"]["TableStatus"] == "DELETING"
    assert await call(s, "list_tables", {}) == {"TableNames": []}


async def test_instructions_say_what_it_is_and_how_to_follow_changes() -> None:
    async with (
        stdio_client(mcp_command("--in-memory")) as (read, write),
        ClientSession(read, write) as s,
    ):
        init = await s.initialize()
        assert init.serverInfo.name == "dynoxide-streams"
        assert init.instructions is not None
        assert len(init.instructions.splitlines()) <= 10  # a few lines
        told = init.instructions.replace("\n", " ")
        assert told.startswith("dynoxide-streams: a local DynamoDB (with DynamoDB Streams")
        for words in (
            "each table is a resource dynamodb://table/<name>",
            "Subscribe to it and you are notified after every committed write",
            "the notification's _meta has StreamArn and SequenceNumber",
            "read_changes with TableName and After=",
        ):
            assert words in told, words


WRITE_TOOLS: dict[str, dict[str, Any]] = {
    # every tool of the issue that changes something, with arguments that would work
    "create_table": table_args("Nope"),
    "update_table": {"TableName": "ReadOnly", "StreamSpecification": {"StreamEnabled": False}},
    "delete_table": {"TableName": "ReadOnly"},
    "put_item": {"TableName": "ReadOnly", "Item": item("a", 1)},
    "update_item": {"TableName": "ReadOnly", "Key": item("a", 1), "UpdateExpression": "REMOVE x"},
    "delete_item": {"TableName": "ReadOnly", "Key": item("a", 1)},
    "batch_write_item": {"RequestItems": {"ReadOnly": [{"PutRequest": {"Item": item("a", 2)}}]}},
    "bulk_put_items": {"TableName": "ReadOnly", "Items": [item("a", 3)]},
    "transact_write_items": {
        "TransactItems": [{"Put": {"TableName": "ReadOnly", "Item": item("a", 4)}}]
    },
    "execute_partiql": {"Statement": "INSERT INTO ReadOnly VALUE {'pk': 'a', 'sk': 5}"},
    "batch_execute_partiql": {
        "Statements": [
            {"Statement": "SELECT * FROM ReadOnly WHERE pk = 'a'"},
            {"Statement": "DELETE FROM ReadOnly WHERE pk = 'a' AND sk = 1"},
        ]
    },
    "execute_transaction_partiql": {
        "TransactStatements": [{"Statement": "UPDATE ReadOnly SET x = 1 WHERE pk = 'a' AND sk = 1"}]
    },
    "update_time_to_live": {
        "TableName": "ReadOnly",
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"},
    },
    "sweep_ttl": {},
    "advance_clock": {"Seconds": 60},
    "tag_resource": {"ResourceArn": "", "Tags": [{"Key": "k", "Value": "v"}]},
    "untag_resource": {"ResourceArn": "", "TagKeys": ["team"]},
    "create_snapshot": {"SnapshotName": "ro"},
    "delete_snapshot": {"SnapshotName": "kept"},
    "restore_snapshot": {"SnapshotName": "kept", "TableName": "ReadOnly"},
}


async def test_read_only_refuses_every_write_tool(tmp_path: Path) -> None:
    """A database written by a normal ``mcp`` run, then opened ``--read-only``: every
    write tool of the issue is hidden and refused with AccessDeniedException, and
    nothing changed (same items, same stream, same snapshots, same tags, same clock)."""
    data = tmp_path / "data"
    async with stdio_session("--data-dir", str(data), "--clock", "virtual") as s:
        await call(s, "create_table", table_args("ReadOnly"))
        arn = (await call(s, "describe_table", {"TableName": "ReadOnly"}))["Table"]["TableArn"]
        await call(s, "put_item", {"TableName": "ReadOnly", "Item": item("a", 1, x={"N": "0"})})
        await call(s, "tag_resource", {"ResourceArn": arn, "Tags": [{"Key": "team", "Value": "a"}]})
        await call(s, "create_snapshot", {"SnapshotName": "kept"})
    async with stdio_session("--data-dir", str(data), "--clock", "virtual", "--read-only") as s:

        async def state() -> list[Any]:
            return [
                await call(s, "scan", {"TableName": "ReadOnly"}),
                await call(s, "read_changes", {"TableName": "ReadOnly"}),
                await call(s, "list_tables", {}),
                await call(s, "describe_time_to_live", {"TableName": "ReadOnly"}),
                await call(s, "list_tags_of_resource", {"ResourceArn": arn}),
                [x["SnapshotName"] for x in (await call(s, "list_snapshots", {}))["Snapshots"]],
                (await call(s, "database_info", {}))["Clock"],
            ]

        before = await state()
        names = {t.name for t in (await s.list_tools()).tools}
        assert not names & (
            WRITE_TOOLS.keys()
            - {"execute_partiql", "batch_execute_partiql", "execute_transaction_partiql"}
        )
        assert {"get_item", "query", "scan", "read_changes", "execute_partiql"} <= names
        for tool, args in WRITE_TOOLS.items():
            if "ResourceArn" in args:
                args = {**args, "ResourceArn": arn}
            assert await call_error(s, tool, args) == {
                "__type": "AccessDeniedException",
                "message": f"this MCP server is read-only (--read-only): {tool} writes",
            }, tool
        assert await state() == before
        # reads still run, PartiQL SELECTs too, and get the engine's own errors
        selected = await call(s, "execute_partiql", {"Statement": "SELECT * FROM ReadOnly"})
        assert selected["Items"] == [item("a", 1, x={"N": "0"})]
        error = await call_error(s, "execute_partiql", {"Statement": "SELECT * FROM Nope"})
        assert error["__type"] == "ResourceNotFoundException"


async def test_max_items_cuts_and_says_how_to_continue() -> None:
    async with stdio_session("--in-memory", "--max-items", "2") as s:
        await call(s, "create_table", table_args("Capped"))
        await call(
            s, "bulk_put_items", {"TableName": "Capped", "Items": [item("k", n) for n in range(5)]}
        )
        seen: list[str] = []
        args: dict[str, Any] = {"TableName": "Capped"}
        pages = 0
        while True:
            page = await call(s, "scan", args)
            pages += 1
            assert len(page["Items"]) <= 2
            seen += [i["sk"]["N"] for i in page["Items"]]
            if "Truncated" not in page:
                break
            assert page["Truncated"] == {
                "By": "max_items",
                "ContinueWith": {"ExclusiveStartKey": page["LastEvaluatedKey"]},
            }
            args = {"TableName": "Capped", **page["Truncated"]["ContinueWith"]}
        assert sorted(seen, key=int) == ["0", "1", "2", "3", "4"]
        assert pages == 3
        changes = await call(s, "read_changes", {"TableName": "Capped"})
        assert len(changes["Records"]) == 2
        assert changes["Truncated"] == {
            "By": "max_items",
            "ContinueWith": {"After": changes["Position"]},
        }


async def test_trigger_tools_list_mappings_and_dead_letters_page_by_page() -> None:
    """Three mappings without retries on one stream, a handler that always fails: one
    write makes three dead letters. With ``--max-items 2`` both listings come in pages
    that say how to continue, and together they are what Lambda's
    ListEventSourceMappings and the admin API's dead letters hold."""
    fail = "python:tests.mcp_handlers:fail"
    flags = ["--in-memory", "--max-items", "2"]
    for n in range(3):  # one mapping per stream and function
        flags += ["--function", f"fail{n}={fail}"]
    async with stdio_session(*flags) as s:
        schema = {t.name: t.inputSchema for t in (await s.list_tools()).tools}
        assert schema["list_dead_letters"]["properties"]["After"]["type"] == "integer"
        assert schema["read_changes"]["properties"]["After"]["type"] == "string"
        endpoint = (await call(s, "database_info", {}))["Endpoint"]
        created = await call(s, "create_table", table_args("Failing"))
        arn = created["TableDescription"]["LatestStreamArn"]
        lam = make_client(endpoint, "lambda")
        for n in range(3):
            lam.create_event_source_mapping(
                FunctionName=f"fail{n}",
                EventSourceArn=arn,
                StartingPosition="TRIM_HORIZON",
                BatchSize=1,
                MaximumRetryAttempts=0,
            )
        uuids = sorted(m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"])

        async def every_page(tool: str, args: dict[str, Any], key: str) -> list[Any]:
            pages = [await call(s, tool, args)]
            while "Truncated" in pages[-1]:
                more = pages[-1]["Truncated"]["ContinueWith"]
                pages.append(await call(s, tool, {**args, **more}))
            assert [len(p[key]) for p in pages][:2] == [2, 1]
            return [x for p in pages for x in p[key]]

        mappings = await every_page("list_event_source_mappings", {}, "EventSourceMappings")
        assert [m["UUID"] for m in mappings] == uuids
        assert {m["EventSourceArn"] for m in mappings} == {arn}

        await call(s, "put_item", {"TableName": "Failing", "Item": item("a", 1)})

        def admin_letters() -> list[Any]:
            with urllib.request.urlopen(endpoint + "/_admin/triggers/dead-letters") as answer:
                found: list[Any] = orjson.loads(answer.read())["DeadLetters"]
            return found

        stored = wait_until(lambda: len(admin_letters()) == 3 and admin_letters(), timeout=30)
        letters = await every_page("list_dead_letters", {}, "DeadLetters")
        assert letters == stored
        assert sorted(x["UUID"] for x in letters) == uuids
        assert {x["Error"] for x in letters} == {"RuntimeError: refused on purpose"}


async def test_max_bytes_cuts_a_paged_read_and_refuses_an_unpageable_one() -> None:
    async with stdio_session("--in-memory", "--max-bytes", "2048") as s:
        await call(s, "create_table", table_args("Big"))
        blob = {"S": "x" * 700}
        items = [item("k", n, blob=blob) for n in range(6)]
        await call(s, "bulk_put_items", {"TableName": "Big", "Items": items})
        page = await call(
            s,
            "query",
            {
                "TableName": "Big",
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": "k"}},
            },
        )
        assert [i["sk"]["N"] for i in page["Items"]] == ["0", "1"]
        assert page["Truncated"] == {
            "By": "max_bytes",
            "ContinueWith": {"ExclusiveStartKey": {"pk": {"S": "k"}, "sk": {"N": "1"}}},
        }
        keys = [item("k", n) for n in range(6)]
        error = await call_error(s, "batch_get_item", {"RequestItems": {"Big": {"Keys": keys}}})
        assert error == {
            "__type": "ResultTooLargeException",
            "message": "the result is larger than --max-bytes 2048: ask for less "
            "(a ProjectionExpression, fewer keys)",
        }


async def test_bad_input_is_a_tool_error_with_the_dynamodb_error() -> None:
    async with stdio_session("--in-memory") as s:
        endpoint = (await call(s, "database_info", {}))["Endpoint"]
        await call(s, "create_table", table_args("Bad", stream=False))
        cases: list[tuple[str, str, dict[str, Any]]] = [
            ("get_item", "get_item", {"TableName": "Missing", "Key": item("a", 1)}),
            ("describe_table", "describe_table", {"TableName": "Missing"}),
            (
                "put_item",
                "put_item",
                {"TableName": "Bad", "Item": {"pk": {"S": "a"}, "sk": {"N": "x"}}},
            ),
            ("put_item", "put_item", {"TableName": "Bad", "Item": {"pk": {"S": "a"}}}),
            (
                "query",
                "query",
                {
                    "TableName": "Bad",
                    "KeyConditionExpression": "pk = = :p",
                    "ExpressionAttributeValues": {":p": {"S": "a"}},
                },
            ),
            (
                "update_item",
                "update_item",
                {"TableName": "Bad", "Key": item("a", 1), "UpdateExpression": "SET #x = :v"},
            ),
            (
                "put_item",
                "put_item",
                {"TableName": "Bad", "Item": item("a", 1, blob={"S": "x" * 500_000})},
            ),
        ]
        for tool, operation, args in cases:
            got = await call_error(s, tool, args)
            assert got == boto_error(endpoint, operation, args), (tool, args)
        # a malformed AttributeValue (not a type descriptor boto3 could even send)
        malformed = await call_error(s, "put_item", {"TableName": "Bad", "Item": {"pk": {"Q": 1}}})
        assert malformed["__type"] in ("SerializationException", "ValidationException")
        assert malformed["message"]
        # arguments larger than any DynamoDB request
        huge = await call_error(
            s, "put_item", {"TableName": "Bad", "Item": item("a", 1, blob={"S": "y" * 17_000_000})}
        )
        assert huge == {"__type": "RequestEntityTooLarge", "message": "Request entity too large"}
        unknown = await call_error(s, "drop_everything", {})
        assert unknown == {
            "__type": "UnknownOperationException",
            "message": "unknown tool 'drop_everything'",
        }
        assert await call_error(s, "read_changes", {"TableName": "Bad"}) == {
            "__type": "ResourceNotFoundException",
            "message": "Table Bad has no stream",
        }
        # the session is alive and well
        assert await call(s, "list_tables", {}) == {"TableNames": ["Bad"]}


def test_a_data_dir_held_by_a_running_server_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        port = server.endpoint.rsplit(":", 1)[1]
        done = subprocess.run(
            [sys.executable, "-m", "dynoxide_streams", "mcp", "--data-dir", str(data)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
    finally:
        server.terminate()
    assert done.returncode == 1
    assert done.stdout == b""
    assert done.stderr.decode() == (
        f"dynoxide-streams: data directory {data} is in use by process {server.proc.pid} "
        f"(port {port}): stop it, or give another --data-dir\n"
    )


def test_sigterm_with_the_client_still_attached_stops_cleanly(tmp_path: Path) -> None:
    """The SDK reads stdin in a thread no cancellation interrupts; a signalled ``mcp``
    still stops its engine gracefully (the data directory released) and exits."""
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynoxide_streams", "mcp", "--data-dir", str(data)],
        stdin=subprocess.PIPE,  # kept open: the client is still there
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    try:
        lock = data / "lock"
        wait_until(
            lambda: lock.exists() and '"port": null' not in lock.read_text() and lock.read_text(),
            what="mcp's engine listening",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"stopped" in proc.stderr.read()  # type: ignore[union-attr]
    with DataDirLock.acquire(data):  # released
        pass
