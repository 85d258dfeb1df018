"""``serve --mcp``: MCP over Streamable HTTP at ``/mcp`` on the server's own port,
driven by the ``mcp`` SDK's ``streamable_http_client`` against a real ``serve``
process (and ``Server(mcp=True)`` in-process); the token rules: generated once on a
loopback bind and kept 0600 under ``$XDG_CONFIG_HOME``, the client snippet printed
once, ``--mcp-token``/``DYNOXIDE_STREAMS_MCP_TOKEN`` overriding it, 401 without it
(nothing runs), 403 for a foreign Origin or Host, a non-loopback bind refused without
one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp.types as types
import orjson
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from pydantic import AnyUrl

from dynoxide_streams import Server
from tests.conftest import make_client
from tests.mcp_client import ROOT
from tests.process import free_port, start_command
from tests.wire.test_mcp_feeds import get_records_after, table
from tests.wire.test_mcp_stdio import FAMILY_FLAGS, every_tool_family

pytestmark = pytest.mark.anyio

TOKEN = "an-mcp-token-of-sufficient-length"
ADMIN_TOKEN = "the-admin-token-not-the-mcp-one"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def http_session(url: str, token: str, **handlers: Any) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=300)) as client,
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write, **handlers) as session,
    ):
        await session.initialize()
        yield session


async def tool(session: ClientSession, name: str, arguments: dict[str, Any]) -> Any:
    result = await session.call_tool(name, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.isError, text
    return orjson.loads(text)


def initialize_body() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }


MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def test_serve_mcp_generates_a_token_once_and_notifies_a_boto3_write(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    env = {"XDG_CONFIG_HOME": str(config)}
    server = start_command("serve", ["--in-memory", "--mcp"], tmp_path, port=free_port(), env=env)
    try:
        token_file = config / "dynoxide-streams" / "mcp-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        url = f"{server.endpoint}/mcp"
        send, updates = anyio.create_memory_object_stream[types.ResourceUpdatedNotification](100)

        async def on_message(message: Any) -> None:
            if isinstance(message, types.ServerNotification) and isinstance(
                message.root, types.ResourceUpdatedNotification
            ):
                await send.send(message.root)

        async with http_session(url, token, message_handler=on_message) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert {"put_item", "read_changes", "create_snapshot"} <= names
            created = await tool(s, "create_table", table("Events"))
            arn = created["TableDescription"]["LatestStreamArn"]
            await tool(s, "put_item", {"TableName": "Events", "Item": {"pk": {"S": "first"}}})
            await s.subscribe_resource(AnyUrl("dynamodb://table/Events"))
            ddb = make_client(server.endpoint)
            await anyio.to_thread.run_sync(
                lambda: ddb.put_item(TableName="Events", Item={"pk": {"S": "from-app"}})
            )
            with anyio.fail_after(20):
                note = await updates.receive()
            assert note.params.meta is not None
            meta = note.params.meta.model_dump()
            assert meta["StreamArn"] == arn
            changes = await tool(s, "read_changes", {"TableName": "Events", "After": meta["After"]})
            wire = await anyio.to_thread.run_sync(
                get_records_after, server.endpoint, arn, meta["After"]
            )
            assert changes["Records"] == wire
            assert [r["dynamodb"]["Keys"] for r in wire] == [{"pk": {"S": "from-app"}}]
    finally:
        server.terminate()
    log = server.log()
    assert log.count("MCP over HTTP is on") == 1
    assert f'"Authorization": "Bearer {token}"' in log
    assert f"{server.endpoint}/mcp" in log

    # a second run reuses the kept token, silently
    again = start_command("serve", ["--in-memory", "--mcp"], tmp_path, port=free_port(), env=env)
    try:
        async with http_session(f"{again.endpoint}/mcp", token) as s:
            assert await tool(s, "list_tables", {}) == {"TableNames": []}
    finally:
        again.terminate()
    assert "MCP over HTTP is on" not in again.log()
    assert token_file.read_text().strip() == token

    # --mcp-token overrides the kept one (which then gets 401), and leaves the file be
    flags = ["--in-memory", "--mcp", "--mcp-token", TOKEN]
    given = start_command("serve", flags, tmp_path, port=free_port(), env=env)
    try:
        async with http_session(f"{given.endpoint}/mcp", TOKEN) as s:
            assert await tool(s, "list_tables", {}) == {"TableNames": []}
        async with httpx.AsyncClient() as client:
            kept = await client.post(
                f"{given.endpoint}/mcp",
                json=initialize_body(),
                headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"},
            )
        assert kept.status_code == 401
    finally:
        given.terminate()
    assert "MCP over HTTP is on" not in given.log()
    assert token_file.read_text().strip() == token


async def test_no_token_401_and_nothing_runs_a_foreign_origin_403(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "DYNOXIDE_STREAMS_MCP_TOKEN": TOKEN}
    flags = ["--in-memory", "--mcp", "--token", ADMIN_TOKEN]
    server = start_command("serve", flags, tmp_path, port=free_port(), env=env)
    try:
        url = f"{server.endpoint}/mcp"
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "create_table", "arguments": table("Sneaky")},
        }
        async with httpx.AsyncClient() as client:
            for headers in (
                {},
                {"Authorization": "Bearer wrong-token-wrong-token"},
                {"Authorization": f"Bearer {ADMIN_TOKEN}"},  # --token guards the admin API
                {"Authorization": TOKEN},  # not a bearer
            ):
                for body in (initialize_body(), call):
                    answer = await client.post(url, json=body, headers={**MCP_HEADERS, **headers})
                    assert answer.status_code == 401
                    assert answer.json() == {
                        "error": "Unauthorized",
                        "message": "a valid MCP bearer token is required",
                    }
                    assert answer.headers["www-authenticate"].startswith("Bearer")
            # ... and the MCP token is not the admin token
            metrics = f"{server.endpoint}/_admin/metrics"
            admin = await client.get(metrics, headers={"Authorization": f"Bearer {TOKEN}"})
            assert admin.status_code == 403
            admin = await client.get(metrics, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert admin.status_code == 200
            foreign = await client.post(
                url,
                json=initialize_body(),
                headers={
                    **MCP_HEADERS,
                    "Authorization": f"Bearer {TOKEN}",
                    "Origin": "https://evil.example",
                },
            )
            assert foreign.status_code == 403
            assert foreign.json() == {"error": "Forbidden", "message": "Origin not allowed"}
            # a rebinding page's Host is refused before anything else, token or not
            rebound = await client.post(
                url,
                json=initialize_body(),
                headers={
                    **MCP_HEADERS,
                    "Authorization": f"Bearer {TOKEN}",
                    "Host": "evil.example",
                },
            )
            assert rebound.status_code == 403
            assert rebound.json()["__type"].endswith("AccessDeniedException")
            # the token from the environment works, and no token file was written
            good = await client.post(
                url,
                json=initialize_body(),
                headers={**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"},
            )
            assert good.status_code == 200
        names = make_client(server.endpoint).list_tables()["TableNames"]
        assert names == []
        assert not (tmp_path / "config" / "dynoxide-streams" / "mcp-token").exists()
    finally:
        server.terminate()


async def test_a_body_over_16_mib_is_refused_before_the_sdk_reads_it(tmp_path: Path) -> None:
    """``/mcp`` takes a body as the DynamoDB route does: up to 16 MiB (held in
    ``--max-body-memory``), so arguments over the SDK's own 4 MiB default get the
    engine's tool error as over stdio (with the SDK's 413 the client's session
    ended); a bigger body gets a DynamoDB-shaped 413, declared or chunked, and the
    session goes on."""
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "DYNOXIDE_STREAMS_MCP_TOKEN": TOKEN}
    server = start_command("serve", ["--in-memory", "--mcp"], tmp_path, port=free_port(), env=env)
    try:
        url = f"{server.endpoint}/mcp"
        auth = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
        async with http_session(url, TOKEN) as s:
            await tool(s, "create_table", table("Huge"))
            huge = {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {
                    "name": "put_item",
                    "arguments": {
                        "TableName": "Huge",
                        "Item": {"pk": {"S": "h"}, "blob": {"S": "z" * (17 * 1024 * 1024)}},
                    },
                },
            }
            body = orjson.dumps(huge)

            async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
                step = 1 << 20
                for at in range(0, len(body), step):
                    yield body[at : at + step]

            async with httpx.AsyncClient(timeout=60) as client:
                declared = await client.post(url, content=body, headers=auth)
                chunked = await client.post(url, content=chunks(), headers=auth)
            for answer in (declared, chunked):
                assert answer.status_code == 413
                assert answer.json() == {
                    "error": "RequestEntityTooLarge",
                    "message": "Request entity too large",
                }
            # arguments over the SDK's own 4 MiB default but within a DynamoDB request
            # get the engine's error, as over stdio, not the SDK's plain 413
            big = {"pk": {"S": "h"}, "blob": {"S": "z" * (5 * 1024 * 1024)}}
            result = await s.call_tool("put_item", {"TableName": "Huge", "Item": big})
            assert result.isError
            assert orjson.loads(result.content[0].text) == {  # type: ignore[union-attr]
                "__type": "ValidationException",
                "message": "Item size has exceeded the maximum allowed size",
            }
            # the session is alive and nothing was written
            assert await tool(s, "scan", {"TableName": "Huge"}) == {
                "Items": [],
                "Count": 0,
                "ScannedCount": 0,
            }
    finally:
        server.terminate()


def run_serve(*flags: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dynoxide_streams", "serve", "--in-memory", *flags],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env},
    )


def test_a_network_bind_without_an_mcp_token_and_a_short_token_are_refused(
    tmp_path: Path,
) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    port = str(free_port())
    network = run_serve(
        "--host", "0.0.0.0", "--port", port, "--token", "admin-token-0123456789", "--mcp", env=env
    )
    assert network.returncode == 1
    assert network.stderr.endswith(
        "dynoxide-streams: refusing to serve MCP on 0.0.0.0 without --mcp-token: anyone who "
        "can reach the port could drive the database (give --mcp-token or "
        "DYNOXIDE_STREAMS_MCP_TOKEN)\n"
    )
    short = run_serve("--port", port, "--mcp", "--mcp-token", "short", env=env)
    assert short.returncode == 1
    assert short.stderr == ("dynoxide-streams: mcp_token must be at least 16 characters (got 5)\n")
    assert not (tmp_path / "dynoxide-streams").exists()


async def test_every_tool_family_over_http(tmp_path: Path) -> None:
    """The stdio test's tool tour, through the SDK's Streamable HTTP client against a
    real ``serve --mcp`` process."""
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "DYNOXIDE_STREAMS_MCP_TOKEN": TOKEN}
    flags = [*FAMILY_FLAGS, "--mcp"]
    server = start_command("serve", flags, tmp_path, port=free_port(), env=env)
    try:
        async with http_session(f"{server.endpoint}/mcp", TOKEN) as s:
            await every_tool_family(s)
            assert (await tool(s, "database_info", {}))["Endpoint"] == server.endpoint
    finally:
        server.terminate()


async def test_embedded_server_mounts_mcp() -> None:
    srv = Server(mcp=True, mcp_token=TOKEN)
    async with srv, http_session(f"{srv.endpoint}/mcp", TOKEN) as s:
        await tool(s, "create_table", table("Embedded"))
        info = await tool(s, "database_info", {})
        assert info["Endpoint"] == srv.endpoint
        names = await anyio.to_thread.run_sync(
            lambda: make_client(srv.endpoint).list_tables()["TableNames"]
        )
        assert names == ["Embedded"]


def test_a_kept_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    """A kept token that others could read is not used: one start-up line says what to
    do, and the file is left as it is."""
    folder = tmp_path / "dynoxide-streams"
    folder.mkdir()
    kept = folder / "mcp-token"
    kept.write_text("kept-token-0123456789abcdef\n")
    kept.chmod(0o644)
    result = run_serve("--port", str(free_port()), "--mcp", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr == (
        f"dynoxide-streams: MCP token file {kept} is readable by others: chmod 600 it, or "
        "delete it for a new token\n"
    )
    assert kept.read_text() == "kept-token-0123456789abcdef\n"
    assert kept.stat().st_mode & 0o777 == 0o644
