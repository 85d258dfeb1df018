"""Benchmark MCP live subscriptions: commit-to-notification latency (goal: < 100 ms).

    .venv/bin/python bench/mcp_notify.py [--writes 100] [--gap 0.15] [--endpoint URL]
        [--upstream URL]

Starts ``dynoxide-streams mcp --in-memory`` through the ``mcp`` SDK's stdio client,
creates a fresh stream table, subscribes to ``dynamodb://table/<it>`` and then, one at a
time, writes an item through the embedded engine's DynamoDB endpoint (a keep-alive
``http.client`` connection in a thread) and waits for its
``notifications/resources/updated``. The commit lies between the PutItem's send and
its HTTP answer, so two figures bound commit-to-notification:

* ``send_p50_ms`` / ``send_p99_ms``: PutItem sent → notification received (upper bound);
* ``ack_p50_ms`` / ``ack_p99_ms``: PutItem answered → notification received (lower
  bound; negative when the notification comes first).

With ``--endpoint URL`` it runs ``mcp --endpoint URL`` instead (attached to a running
``serve``: reads through its Streams API, woken by its push websocket) and writes to
that server. With ``--endpoint SIDECAR --upstream URL`` (sidecar mode: ``mcp
--endpoint`` attached to a ``sidecar`` of the ``serve`` at URL) the table is made and
written on the upstream, and the MCP server reads the change feed from it as the
sidecar does; a sidecar learns of upstream commits by its 0.25 s poll, so this is the
figure that includes it. ``--gap`` seconds pass between writes, more than the 0.1 s coalescing window, so each
write gets a notification of its own. Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from pydantic import AnyUrl

ROOT = Path(__file__).resolve().parents[1]


TABLE = f"Bench{os.getpid()}"  # a fresh table: rewriting an equal item makes no record


CREATE_TABLE = {
    "TableName": TABLE,
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}


def _request(conn: http.client.HTTPConnection, operation: str, body: dict[str, Any]) -> None:
    conn.request(
        "POST",
        "/",
        body=json.dumps(body),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=x",
        },
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status


def _put(conn: http.client.HTTPConnection, n: int) -> None:
    _request(conn, "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": f"k{n}"}}})


def _connect(endpoint: str) -> http.client.HTTPConnection:
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=10)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(writes: int, gap: float, attach: str | None, upstream: str | None) -> dict[str, Any]:
    if upstream is not None:  # sidecar mode: the table exists before mcp starts
        conn = _connect(upstream)
        _request(conn, "CreateTable", CREATE_TABLE)
        conn.close()
    where = ["--in-memory"] if attach is None else ["--endpoint", attach]
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "dynoxide_streams", "mcp", *where, "--log-level", "warning"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    send, received = anyio.create_memory_object_stream[float](100)

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.ResourceUpdatedNotification
        ):
            await send.send(time.perf_counter())

    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        await session.initialize()
        info = await session.call_tool("database_info", {})
        described = json.loads(info.content[0].text)  # type: ignore[union-attr]
        endpoint = upstream or attach or described["Endpoint"]
        if upstream is None:
            await session.call_tool("create_table", CREATE_TABLE)
        else:
            assert described.get("Sidecar") is True, described
        await session.subscribe_resource(AnyUrl(f"dynamodb://table/{TABLE}"))
        conn = _connect(endpoint)
        sent_ms: list[float] = []
        ack_ms: list[float] = []
        for n in range(writes):
            started = time.perf_counter()
            await anyio.to_thread.run_sync(_put, conn, n)
            answered = time.perf_counter()
            with anyio.fail_after(10):
                arrived = await received.receive()
            sent_ms.append((arrived - started) * 1000)
            ack_ms.append((arrived - answered) * 1000)
            await anyio.sleep(gap)
        conn.close()
    return {
        "bench": "mcp_notify",
        "mode": "embedded" if attach is None else "attached" if upstream is None else "sidecar",
        "writes": writes,
        "send_p50_ms": round(statistics.median(sent_ms), 2),
        "send_p99_ms": round(_percentile(sent_ms, 0.99), 2),
        "send_max_ms": round(max(sent_ms), 2),
        "ack_p50_ms": round(statistics.median(ack_ms), 2),
        "ack_p99_ms": round(_percentile(ack_ms, 0.99), 2),
        "target_met": _percentile(sent_ms, 0.99) < 100,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.15)
    parser.add_argument("--endpoint", help="attach to this running serve (or sidecar) instead")
    parser.add_argument("--upstream", help="--endpoint is a sidecar of this serve: write here")
    args = parser.parse_args()
    if args.upstream is not None and args.endpoint is None:
        parser.error("--upstream needs --endpoint (the sidecar)")
    print(json.dumps(anyio.run(main, args.writes, args.gap, args.endpoint, args.upstream)))
