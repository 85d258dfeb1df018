#!/usr/bin/env python3
"""CPU time per request of the ASGI app alone (no HTTP server, no sockets, no client).

    PYTHONPATH=/path/to/checkout python bench/app_cpu.py [--requests 20000] [--rounds 5]

Starts an embedded in-memory server, builds a second ``App`` on its engine context and
calls it in-process with the request a botocore client sends (~200-byte items, 100
partitions of 10), one request at a time, for GetItem, PutItem and Query (10 items, no
Limit). Prints one JSON line per op: the median over ``--rounds`` of the process CPU
time per request in µs (``time.process_time``, all threads), and the load average. The
HTTP server's own cost (uvicorn + httptools, measured with bench/null_server.py) comes
on top; compare checkouts by alternating runs with different PYTHONPATHs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from typing import Any

import orjson

from dynoxide_streams import Server
from dynoxide_streams.wire.app import App

TABLE = "bench_table"
PAYLOAD = "p" * 148


def _scope(target: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"x-amz-target", f"DynamoDB_20120810.{target}".encode()),
            (b"content-type", b"application/x-amz-json-1.0"),
            (
                b"authorization",
                b"AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/dynamodb/aws4_request, "
                b"SignedHeaders=host;x-amz-date;x-amz-target, Signature=abc",
            ),
            (b"accept-encoding", b"identity"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def _call(app: App, target: str, params: dict[str, Any]) -> bytes:
    body = orjson.dumps(params)
    out: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            out.append(message["body"])

    await app(_scope(target, body), receive, send)
    return out[0]


def item(p: int, s: int) -> dict[str, Any]:
    """Item ``s`` (sort key) of partition ``p`` of the bench table, ~200 bytes."""
    return {
        "pk": {"S": f"load-{p:07d}"},
        "sk": {"S": f"s{s:02d}"},
        "payload": {"S": PAYLOAD},
        "n": {"N": str(p * 10 + s)},
        "active": {"BOOL": True},
        "category": {"S": f"cat-{s}"},
    }


TABLE_SPEC: dict[str, Any] = {
    "TableName": TABLE,
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
"""CreateTable of the bench table: 100 partitions of 10 items (``item``)."""


def request_makers(rnd: random.Random, put_sort_keys: int = 10) -> dict[str, Any]:
    """Operation -> a function making one random request of it on the bench table
    (PutItem overwrites one of the first ``put_sort_keys`` items of a partition)."""
    return {
        "GetItem": lambda: {
            "TableName": TABLE,
            "Key": {
                "pk": {"S": f"load-{rnd.randrange(100):07d}"},
                "sk": {"S": f"s{rnd.randrange(10):02d}"},
            },
        },
        "PutItem": lambda: {
            "TableName": TABLE,
            "Item": item(rnd.randrange(100), rnd.randrange(put_sort_keys)),
        },
        "Query": lambda: {
            "TableName": TABLE,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"load-{rnd.randrange(100):07d}"}},
        },
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    async with Server() as srv:
        assert srv._service is not None and srv._service.ctx is not None
        app = App(srv._service.ctx)
        await _call(app, "CreateTable", TABLE_SPEC)
        for p in range(100):
            for s in range(10):
                await _call(app, "PutItem", {"TableName": TABLE, "Item": item(p, s)})
        rnd = random.Random(7)
        requests = request_makers(rnd)
        for op, make in requests.items():
            pool = [make() for _ in range(512)]
            check = orjson.loads(await _call(app, op, pool[0]))
            assert "__type" not in check, check
            per_request = []
            for _ in range(args.rounds):
                start = time.process_time()
                for i in range(args.requests):
                    await _call(app, op, pool[i & 511])
                per_request.append((time.process_time() - start) / args.requests * 1e6)
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
            print(
                json.dumps(
                    {
                        "op": op,
                        "cpu_us_per_request": round(statistics.median(per_request), 1),
                        "rounds": [round(x, 1) for x in per_request],
                        "loadavg_1m": float(load),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
