"""Benchmark MCP snapshots: online backup, and a restore applied as ordinary writes.

    .venv/bin/python bench/mcp_snapshots.py [--items 10000] [--item-bytes 200]

Starts ``dynoxide-streams mcp --data-dir <temp dir>`` through the ``mcp`` SDK's stdio
client, fills a stream-enabled table with ``bulk_put_items``, then times, each as one
tool call: ``create_snapshot`` (SQLite online backup of the whole database),
``delete_table`` (which takes an automatic snapshot first) and ``restore_snapshot``
of the deleted table (re-created, every item written again through the Writer with
its stream record). Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[1]


async def _timed(session: ClientSession, tool: str, arguments: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await session.call_tool(tool, arguments)
    elapsed = time.perf_counter() - started
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.isError, text
    return elapsed, json.loads(text)


async def main(items: int, item_bytes: int) -> dict[str, Any]:
    data = tempfile.mkdtemp(prefix="mcp-snapshots-")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "dynoxide_streams", "mcp", "--data-dir", data, "--log-level", "warning"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        await _timed(
            session,
            "create_table",
            {
                "TableName": "Big",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
                "StreamSpecification": {
                    "StreamEnabled": True,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            },
        )
        rows = [{"pk": {"S": f"k{n:07d}"}, "v": {"S": "x" * item_bytes}} for n in range(items)]
        put_s, _ = await _timed(session, "bulk_put_items", {"TableName": "Big", "Items": rows})
        snap_s, snap = await _timed(session, "create_snapshot", {"SnapshotName": "bench"})
        delete_s, _ = await _timed(session, "delete_table", {"TableName": "Big"})
        restore_s, restored = await _timed(
            session, "restore_snapshot", {"SnapshotName": "bench", "TableName": "Big"}
        )
    shutil.rmtree(data, ignore_errors=True)
    assert restored["ItemsPut"] == items
    return {
        "bench": "mcp_snapshots",
        "items": items,
        "item_bytes": item_bytes,
        "bulk_put_s": round(put_s, 3),
        "create_snapshot_s": round(snap_s, 3),
        "snapshot_bytes": snap["Snapshot"]["SizeBytes"],
        "delete_table_with_auto_snapshot_s": round(delete_s, 3),
        "restore_deleted_table_s": round(restore_s, 3),
        "restore_items_per_s": round(items / restore_s),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--item-bytes", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(anyio.run(main, args.items, args.item_bytes)))
