"""``mcp --endpoint URL``: the stdio MCP attached to a running ``serve`` process (the
SDK's stdio client against ``mcp``, both real processes): tools through the DynamoDB
API with the server's own errors, a boto3 write to that server reaching the MCP
subscriber, TTL through the admin API with ``--token``; attached to a sidecar, only the
change feed (and a write to its upstream still reaches the subscriber); an unreachable
endpoint ends in one line saying so."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp import ClientSession
from mcp.client.stdio import stdio_client
from pydantic import AnyUrl

from tests.conftest import make_client
from tests.mcp_client import ROOT, call, call_error, mcp_command, stdio_session
from tests.process import SIDECAR_ENV, Processes, free_port
from tests.wire.test_mcp_feeds import get_records_after, next_update, table

pytestmark = pytest.mark.anyio

ADMIN_TOKEN = "admin-token-for-the-attach-test"


def push_subscribers(endpoint: str, token: str | None) -> int:
    """The server's ``dynoxide_websocket_subscribers`` gauge (admin metrics)."""
    request = urllib.request.Request(endpoint + "/_admin/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    line = next(x for x in text.splitlines() if x.startswith("dynoxide_websocket_subscribers "))
    return int(float(line.split()[1]))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_attached_mcp_sees_a_boto3_write_to_the_running_server(tmp_path: Path) -> None:
    with Processes(tmp_path) as procs:
        server = procs.upstream("--clock", "virtual", "--ttl-period", "0", "--token", ADMIN_TOKEN)
        send, updates = anyio.create_memory_object_stream[types.ResourceUpdatedNotification](100)

        async def on_message(message: Any) -> None:
            if isinstance(message, types.ServerNotification) and isinstance(
                message.root, types.ResourceUpdatedNotification
            ):
                await send.send(message.root)

        flags = ("--endpoint", server.endpoint, "--token", ADMIN_TOKEN)
        async with stdio_session(*flags, message_handler=on_message) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert {"put_item", "query", "read_changes", "sweep_ttl"} <= names
            assert not names & {"create_snapshot", "restore_snapshot", "list_dead_letters"}
            info = await call(s, "database_info", {})
            assert (info["Server"], info["Attached"]) == (server.endpoint, True)

            # the Copies table is made through MCP and seen by boto3, and back
            created = await call(s, "create_table", table("Copies"))
            arn = created["TableDescription"]["LatestStreamArn"]
            ddb = make_client(server.endpoint)
            assert ddb.list_tables()["TableNames"] == ["Copies"]
            await call(s, "put_item", {"TableName": "Copies", "Item": {"pk": {"S": "mcp"}}})
            assert ddb.get_item(TableName="Copies", Key={"pk": {"S": "mcp"}})["Item"] == {
                "pk": {"S": "mcp"}
            }
            # errors are the server's own
            assert await call_error(
                s, "get_item", {"TableName": "Missing", "Key": {"pk": {"S": "a"}}}
            ) == {"__type": "ResourceNotFoundException", "message": "Requested resource not found"}

            # a boto3 write to the running server reaches the MCP subscriber
            await s.subscribe_resource(AnyUrl("dynamodb://table/Copies"))
            await anyio.to_thread.run_sync(
                lambda: ddb.put_item(TableName="Copies", Item={"pk": {"S": "from-app"}})
            )
            meta = await next_update(updates)
            assert meta["StreamArn"] == arn
            changes = await call(s, "read_changes", {"TableName": "Copies", "After": meta["After"]})
            wire = await anyio.to_thread.run_sync(
                get_records_after, server.endpoint, arn, meta["After"]
            )
            assert changes["Records"] == wire
            assert [r["dynamodb"]["Keys"] for r in wire] == [{"pk": {"S": "from-app"}}]
            # the wake-up came through the server's push websocket
            assert push_subscribers(server.endpoint, ADMIN_TOKEN) == 1

            # TTL through the admin API, with the server's token
            await call(
                s,
                "update_time_to_live",
                {
                    "TableName": "Copies",
                    "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"},
                },
            )
            now = (await call(s, "advance_clock", {"Seconds": 0}))["Now"]
            doomed = {"pk": {"S": "doomed"}, "expires": {"N": str(int(now) + 5)}}
            await call(s, "put_item", {"TableName": "Copies", "Item": doomed})
            await call(s, "advance_clock", {"Seconds": 60})
            assert await call(s, "sweep_ttl", {}) == {"Expired": 1}


async def test_attached_to_a_sidecar_only_the_change_feed_is_offered(tmp_path: Path) -> None:
    with Processes(tmp_path) as procs:
        upstream = procs.upstream()
        sidecar = procs.sidecar(upstream.endpoint)
        send, updates = anyio.create_memory_object_stream[types.ResourceUpdatedNotification](100)

        async def on_message(message: Any) -> None:
            if isinstance(message, types.ServerNotification) and isinstance(
                message.root, types.ResourceUpdatedNotification
            ):
                await send.send(message.root)

        ddb = make_client(upstream.endpoint)
        created = ddb.create_table(**table("Copies"))
        arn = created["TableDescription"]["LatestStreamArn"]
        ddb.put_item(TableName="Copies", Item={"pk": {"S": "before"}})
        async with (
            stdio_client(mcp_command("--endpoint", sidecar.endpoint)) as (read, write),
            ClientSession(read, write, message_handler=on_message) as s,
        ):
            told = (await s.initialize()).instructions
            assert told is not None and (
                "Attached to a dynoxide-streams sidecar: only the change feed is offered here"
            ) in told.replace("\n", " ")
            names = {t.name for t in (await s.list_tools()).tools}
            assert names == {"read_changes", "list_streams", "describe_stream", "database_info"}
            info = await call(s, "database_info", {})
            assert (info["Sidecar"], info["Upstream"]) == (True, upstream.endpoint)
            assert info["Note"].startswith(
                "Attached to a dynoxide-streams sidecar: only the change feed is offered here"
            )
            error = await call_error(s, "put_item", {"TableName": "Copies", "Item": {}})
            assert error == {
                "__type": "UnknownOperationException",
                "message": "unknown tool 'put_item'",
            }
            streams = await call(s, "list_streams", {"TableName": "Copies"})
            assert [x["StreamArn"] for x in streams["Streams"]] == [arn]
            await s.subscribe_resource(AnyUrl("dynamodb://table/Copies"))
            await anyio.to_thread.run_sync(
                lambda: ddb.put_item(TableName="Copies", Item={"pk": {"S": "from-app"}})
            )
            meta = await next_update(updates)
            changes = await call(s, "read_changes", {"TableName": "Copies", "After": meta["After"]})
            wire = await anyio.to_thread.run_sync(
                get_records_after, upstream.endpoint, arn, meta["After"]
            )
            assert changes["Records"] == wire
            assert [r["dynamodb"]["Keys"] for r in wire] == [{"pk": {"S": "from-app"}}]
            assert push_subscribers(sidecar.endpoint, None) == 1  # the sidecar's websocket


def test_an_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "dynoxide_streams", "mcp", "--endpoint", endpoint],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={**os.environ, **SIDECAR_ENV, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1
    assert done.stdout == ""
    last = done.stderr.splitlines()[-1]  # after the retries' warnings
    assert last.startswith(f"dynoxide-streams: cannot attach to {endpoint}: ")
