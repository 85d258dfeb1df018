#!/usr/bin/env python3
"""PartiQL next to the equivalent item operations, on the same server.

    python bench/partiql.py --endpoint http://127.0.0.1:8123 [--concurrency 16]
        [--duration 5] [--warmup 1] [--items 1000]

Runs, in turn: GetItem by key, ExecuteStatement ``SELECT * ... WHERE pk = ?`` for the
same keys, PutItem of fresh keys, ExecuteStatement ``INSERT`` of fresh keys. Exactly
``--concurrency`` requests are in flight (one keep-alive connection per worker). One
JSON line per run; the pairs alternate for ``--rounds`` rounds (the shared machine's
load drifts), then the median PartiQL/plain throughput ratio of each pair (the goal is
a PartiQL cost at most 15 % above the equivalent operation: ratio >= 0.87).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dynproto import AsyncClient, AsyncConn, build_request, dumps, header_prefix, parse_endpoint

Body = Callable[[int], dict[str, Any]]


async def run(
    host: str, port: int, op: str, body: Body, concurrency: int, duration: float, warmup: float
) -> dict[str, Any]:
    prefix = header_prefix(host, port, op)
    counter = itertools.count()
    done = 0
    errors = 0
    measuring = False
    stop = False

    async def worker() -> None:
        nonlocal done, errors
        conn = AsyncConn(host, port)
        await conn.connect()
        try:
            while not stop:
                status, _ = await conn.request(build_request(prefix, dumps(body(next(counter)))))
                if measuring:
                    if status == 200:
                        done += 1
                    else:
                        errors += 1
        finally:
            conn.close()

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    measuring = True
    start = time.perf_counter()
    await asyncio.sleep(duration)
    measuring = False
    elapsed = time.perf_counter() - start
    stop = True
    await asyncio.gather(*tasks)
    return {"op": op, "ops_per_s": round(done / elapsed, 1), "errors": errors}


async def amain(args: argparse.Namespace) -> int:
    host, port = parse_endpoint(args.endpoint)
    client = AsyncClient(host, port)
    table = f"bench_partiql_{uuid.uuid4().hex[:8]}"
    await client.call(
        "CreateTable",
        {
            "TableName": table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    payload = "x" * 100
    for i in range(args.items):
        await client.call(
            "PutItem", {"TableName": table, "Item": {"pk": {"S": f"k{i}"}, "v": {"S": payload}}}
        )
    run_id = uuid.uuid4().hex[:6]
    fresh = itertools.count()  # write keys stay unique across rounds

    def get(i: int) -> dict[str, Any]:
        return {"TableName": table, "Key": {"pk": {"S": f"k{i % args.items}"}}}

    def select(i: int) -> dict[str, Any]:
        return {
            "Statement": f'SELECT * FROM "{table}" WHERE pk = ?',
            "Parameters": [{"S": f"k{i % args.items}"}],
        }

    def put(i: int) -> dict[str, Any]:
        return {
            "TableName": table,
            "Item": {"pk": {"S": f"p{run_id}-{next(fresh)}"}, "v": {"S": payload}},
        }

    def insert(i: int) -> dict[str, Any]:
        return {
            "Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': ?, 'v': ?}}",
            "Parameters": [{"S": f"i{run_id}-{next(fresh)}"}, {"S": payload}],
        }

    pairs = (
        ("GetItem", "GetItem", get, "SELECT", select),
        ("PutItem", "PutItem", put, "INSERT", insert),
    )
    ratios: dict[str, list[float]] = {}
    for round_no in range(args.rounds):
        for plain, plain_op, plain_body, partiql, partiql_body in pairs:
            got = {}
            for name, op, body in (
                (plain, plain_op, plain_body),
                (partiql, "ExecuteStatement", partiql_body),
            ):
                result = await run(
                    host, port, op, body, args.concurrency, args.duration, args.warmup
                )
                result.update(label=name, round=round_no)
                got[name] = result["ops_per_s"]
                print(json.dumps(result), flush=True)
            ratios.setdefault(f"{partiql}/{plain}", []).append(got[partiql] / max(got[plain], 1e-9))
    for pair, values in ratios.items():
        print(
            json.dumps(
                {
                    "pair": pair,
                    "median_ratio": round(statistics.median(values), 3),
                    "ratios": [round(v, 3) for v in values],
                }
            ),
            flush=True,
        )
    await client.call("DeleteTable", {"TableName": table})
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--endpoint", default="http://127.0.0.1:8000")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5, help="alternating plain/PartiQL runs per pair")
    return asyncio.run(amain(ap.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
