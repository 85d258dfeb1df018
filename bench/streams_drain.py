"""Drain a DynamoDB stream through GetRecords and report records/s.

    python bench/streams_drain.py --endpoint http://127.0.0.1:8000 --records 100000 \\
        [--rotate-every 20000] [--label NAME]

It creates a fresh stream-enabled table (NEW_AND_OLD_IMAGES), writes ``--records``
items with BatchWriteItem (concurrency 8), optionally asking this project's admin
endpoint to rotate the shard every ``--rotate-every`` records (other servers: skipped),
then reads the whole stream as a Streams consumer does — DescribeStream (paged), shards
parent-first, GetShardIterator TRIM_HORIZON, GetRecords (Limit 1000) until a closed
shard has no NextShardIterator or the open shard returns an empty page — and prints
one JSON line: records drained, seconds, records/s, shards, GetRecords calls.
Works against any endpoint that speaks the DynamoDB Streams API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
import uuid
from typing import Any

from dynproto import AsyncClient, HttpError, dumps, parse_endpoint

BATCH = 25


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def create_table(client: AsyncClient, table: str) -> str:
    response = await client.call(
        "CreateTable",
        {
            "TableName": table,
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        },
    )
    deadline = time.monotonic() + 60
    while True:
        table_desc = (await client.call("DescribeTable", {"TableName": table}))["Table"]
        if table_desc.get("TableStatus") == "ACTIVE":
            break
        if time.monotonic() > deadline:
            raise SystemExit("table did not become ACTIVE")
        await asyncio.sleep(0.05)
    return str(response["TableDescription"]["LatestStreamArn"])


def rotate(endpoint: str, table: str) -> bool:
    request = urllib.request.Request(
        endpoint + "/_admin/streams/rotate",
        data=json.dumps({"table": table}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


async def write(args: argparse.Namespace, host: str, port: int, table: str) -> None:
    payload = "x" * 100
    next_key = 0
    lock = asyncio.Lock()

    async def worker() -> None:
        nonlocal next_key
        client = AsyncClient(host, port)
        try:
            while True:
                async with lock:
                    start = next_key
                    if start >= args.records:
                        return
                    next_key = min(args.records, start + BATCH)
                    end = next_key
                    crossed = (
                        args.rotate_every and start // args.rotate_every != end // args.rotate_every
                    )
                items = [
                    {
                        "PutRequest": {
                            "Item": {
                                "pk": {"S": f"k{i:09d}"},
                                "n": {"N": str(i)},
                                "payload": {"S": payload},
                            }
                        }
                    }
                    for i in range(start, end)
                ]
                await client.call("BatchWriteItem", {"RequestItems": {table: items}})
                if crossed:
                    await asyncio.to_thread(rotate, args.endpoint, table)
        finally:
            client.close()

    await asyncio.gather(*(worker() for _ in range(8)))


async def drain(client: AsyncClient, stream_arn: str, expected: int) -> dict[str, Any]:
    """Read every shard parent-first; a shard ends with no next iterator, or with an empty
    page when it is open, the iterator did not advance, or ``expected`` records are in."""
    shards: list[dict[str, Any]] = []
    start: dict[str, Any] = {}
    while True:
        page = (await client.call("Streams.DescribeStream", {"StreamArn": stream_arn, **start}))[
            "StreamDescription"
        ]
        shards.extend(page["Shards"])
        if "LastEvaluatedShardId" not in page:
            break
        start = {"ExclusiveStartShardId": page["LastEvaluatedShardId"]}
    by_id = {s["ShardId"]: s for s in shards}
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()

    def visit(shard: dict[str, Any]) -> None:
        if shard["ShardId"] in done:
            return
        parent = by_id.get(shard.get("ParentShardId", ""))
        if parent is not None:
            visit(parent)
        done.add(shard["ShardId"])
        ordered.append(shard)

    for shard in shards:
        visit(shard)
    records = calls = 0
    t0 = time.perf_counter()
    for shard in ordered:
        iterator = (
            await client.call(
                "Streams.GetShardIterator",
                {
                    "StreamArn": stream_arn,
                    "ShardId": shard["ShardId"],
                    "ShardIteratorType": "TRIM_HORIZON",
                },
            )
        )["ShardIterator"]
        while iterator:
            page = await client.call(
                "Streams.GetRecords", {"ShardIterator": iterator, "Limit": 1000}
            )
            calls += 1
            records += len(page["Records"])
            previous, iterator = iterator, page.get("NextShardIterator")
            if not page["Records"] and (
                "EndingSequenceNumber" not in shard["SequenceNumberRange"]
                or iterator == previous  # e.g. Dynoxide marks its open shard as ended
                or records >= expected
            ):
                break  # the shard is drained
    seconds = time.perf_counter() - t0
    return {
        "records": records,
        "seconds": round(seconds, 3),
        "shards": len(ordered),
        "get_records_calls": calls,
        "records_per_s": round(records / seconds, 1) if seconds else 0.0,
    }


async def amain(args: argparse.Namespace) -> int:
    host, port = parse_endpoint(args.endpoint)
    client = AsyncClient(host, port)
    table = f"drain_{uuid.uuid4().hex[:8]}"
    try:
        stream_arn = await create_table(client, table)
        t0 = time.perf_counter()
        await write(args, host, port, table)
        log(f"wrote {args.records} items in {time.perf_counter() - t0:.1f}s")
        result = await drain(client, stream_arn, args.records)
    except HttpError as exc:
        log(f"error: {exc}")
        return 1
    finally:
        client.close()
    print(
        dumps({"bench": "streams_drain", "label": args.label or args.endpoint, **result}).decode(),
        flush=True,
    )
    return 0 if result["records"] >= args.records else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rotate-every", type=int, default=0)
    parser.add_argument("--label", default="")
    return asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
