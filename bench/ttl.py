#!/usr/bin/env python3
"""Time to Live benchmark for dynoxide-streams: sweep throughput, user-write latency
during a sweep, and expiry lag on the real clock. Prints one JSON line (stdout);
progress goes to stderr. Never run by the tests.

Mode ``sweep`` (default) needs a server on a virtual clock with no background sweeper:

    .venv/bin/dynoxide-streams serve --port 8124 --in-memory --log-level warning \\
        --clock virtual --ttl-period 0 &
    .venv/bin/python bench/ttl.py --endpoint http://127.0.0.1:8124 --mode sweep \\
        [--items 200000] [--view-type NEW_AND_OLD_IMAGES] [--baseline-seconds 5] \\
        [--server-pid PID]

1. creates a stream-enabled table (``--view-type``) with TTL on ``expiresAt`` and
   loads ``--items`` items (BatchWriteItem, 25 per request, concurrency 8) whose TTL
   lies an hour before the server's clock (``GET /_admin/clock``);
2. times ``POST /_admin/ttl/sweep`` → expired items/s (target ≥ 30,000/s); with
   ``--server-pid`` (a server on this machine) also the server process's CPU time
   (user + system, from ``/proc/PID/stat``) per expired item, which a loaded machine
   disturbs far less than items/s;
3. on another table, measures PutItem latency (concurrency 4) for
   ``--baseline-seconds`` without a sweep, then loads ``--items`` more expired items
   and measures PutItem latency again *while* a second sweep runs: p50/p99 of both and
   their ratio (target: at most 3 times).

Mode ``inproc`` starts an embedded server (virtual clock, no background sweeper) in
this process, loads ``--items`` expired items straight through its Writer (no HTTP),
and sweeps them with ``Server.sweep_ttl``: expired items/s, process and event-loop
thread CPU per expired item, and the WAL checkpoints the sweep ran. Without HTTP or a
second process it is the steadiest measure of the sweep's own cost:

    .venv/bin/python bench/ttl.py --mode inproc [--items 20000] [--view-type ...]

Mode ``lag`` needs a server on the real clock with the default sweep period:

    .venv/bin/dynoxide-streams serve --port 8125 --in-memory --log-level warning &
    .venv/bin/python bench/ttl.py --endpoint http://127.0.0.1:8125 --mode lag \\
        [--lag-items 100] [--spread 2]

It puts ``--lag-items`` items over ``--spread`` seconds, each with TTL = its put time
+ 1 s (fractional seconds), polls GetItem on every pending item (concurrency 4), and
reports how long after its TTL each item was first seen gone: p50/p99/max (target
≤ 1.5 s). Client and server share the machine's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dynproto import AsyncClient, AsyncConn, HttpError, dumps, loads, parse_endpoint

TTL = "expiresAt"
BATCH = 25
LOAD_CONCURRENCY = 8
PUT_CONCURRENCY = 4
PAYLOAD = "x" * 100


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (same definition as loadgen.py)."""
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, math.ceil(p * len(sorted_values)) - 1))
    return sorted_values[i]


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``), or None."""
    if pid is None:
        return None
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency_summary(latencies_s: list[float]) -> dict[str, float | int]:
    ordered = sorted(latencies_s)
    return {
        "ops": len(ordered),
        "p50_ms": round(pct(ordered, 0.50) * 1000, 3),
        "p99_ms": round(pct(ordered, 0.99) * 1000, 3),
        "max_ms": round((ordered[-1] if ordered else 0.0) * 1000, 3),
    }


# ------------------------------------------------------------------------ admin calls


async def admin(host: str, port: int, method: str, path: str, payload: Any = None) -> Any:
    """One request to this project's admin API on its own connection."""
    body = b"" if payload is None else dumps(payload)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("ascii")
    conn = AsyncConn(host, port)
    try:
        status, answer = await conn.request(head + body)
    finally:
        conn.close()
    if status != 200:
        raise HttpError(status, answer)
    return loads(answer)


async def server_clock(host: str, port: int) -> tuple[float, bool]:
    clock = await admin(host, port, "GET", "/_admin/clock")
    return float(clock["now"]), bool(clock["virtual"])


# ------------------------------------------------------------------------------ tables


async def create_table(
    client: AsyncClient, name: str, view_type: str | None, ttl: bool
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if view_type is not None:
        params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
    description = (await client.call("CreateTable", params))["TableDescription"]
    deadline = time.monotonic() + 60
    while (await client.call("DescribeTable", {"TableName": name}))["Table"][
        "TableStatus"
    ] != "ACTIVE":
        if time.monotonic() > deadline:
            raise SystemExit(f"table {name} did not become ACTIVE")
        await asyncio.sleep(0.05)
    if ttl:
        await client.call(
            "UpdateTimeToLive",
            {"TableName": name, "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL}},
        )
    return dict(description)


async def load_expired(
    host: str, port: int, table: str, prefix: str, count: int, expires: float
) -> float:
    """BatchWriteItem ``count`` items with TTL ``expires`` (concurrency 8); seconds."""
    next_index = 0
    lock = asyncio.Lock()

    async def worker() -> None:
        nonlocal next_index
        client = AsyncClient(host, port)
        try:
            while True:
                async with lock:
                    start = next_index
                    if start >= count:
                        return
                    next_index = end = min(count, start + BATCH)
                requests = [
                    {
                        "PutRequest": {
                            "Item": {
                                "pk": {"S": f"{prefix}{i:08d}"},
                                TTL: {"N": str(int(expires) - i % 100)},
                                "n": {"N": str(i)},
                                "payload": {"S": PAYLOAD},
                            }
                        }
                    }
                    for i in range(start, end)
                ]
                pending: dict[str, Any] = {table: requests}
                while pending:
                    answer = await client.call("BatchWriteItem", {"RequestItems": pending})
                    pending = answer.get("UnprocessedItems") or {}
        finally:
            client.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(LOAD_CONCURRENCY)))
    return time.perf_counter() - t0


async def item_count(client: AsyncClient, table: str) -> int:
    return int((await client.call("DescribeTable", {"TableName": table}))["Table"]["ItemCount"])


# --------------------------------------------------------------------- user PutItems


async def put_workers(
    host: str, port: int, table: str, stop: asyncio.Event
) -> list[tuple[float, float]]:
    """PutItem at concurrency 4 until ``stop``; (start, end) of every completed request."""
    spans: list[tuple[float, float]] = []

    async def worker(seed: int) -> None:
        client = AsyncClient(host, port)
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                item = {"pk": {"S": f"u{rng.randrange(10_000):05d}"}, "payload": {"S": PAYLOAD}}
                t0 = time.perf_counter()
                await client.call("PutItem", {"TableName": table, "Item": item})
                spans.append((t0, time.perf_counter()))
        finally:
            client.close()

    await asyncio.gather(*(worker(seed) for seed in range(PUT_CONCURRENCY)))
    return spans


async def sweep_mode(args: argparse.Namespace, host: str, port: int) -> dict[str, Any]:
    now, virtual = await server_clock(host, port)
    if not virtual:
        log("warning: the server's clock is real; start it with --clock virtual --ttl-period 0")
    client = AsyncClient(host, port)
    run = uuid.uuid4().hex[:8]
    ttl_table, user_table = f"ttl_bench_{run}", f"ttl_users_{run}"
    try:
        await create_table(client, ttl_table, args.view_type, ttl=True)
        await create_table(client, user_table, None, ttl=False)

        log(f"loading {args.items} expired items into {ttl_table}")
        load_s = await load_expired(host, port, ttl_table, "a", args.items, now - 3600)
        loaded = await item_count(client, ttl_table)
        log(f"loaded {loaded} in {load_s:.1f} s; sweeping")
        cpu0 = process_cpu_seconds(args.server_pid)
        t0 = time.perf_counter()
        first = (await admin(host, port, "POST", "/_admin/ttl/sweep", {}))["expired"]
        sweep_s = time.perf_counter() - t0
        cpu1 = process_cpu_seconds(args.server_pid)
        sweep_cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
        left = await item_count(client, ttl_table)
        log(f"swept {first} in {sweep_s:.2f} s ({first / sweep_s:,.0f}/s), {left} left")

        log(f"PutItem baseline for {args.baseline_seconds} s (concurrency {PUT_CONCURRENCY})")
        stop = asyncio.Event()
        task = asyncio.ensure_future(put_workers(host, port, user_table, stop))
        await asyncio.sleep(args.baseline_seconds)
        stop.set()
        baseline = [end - begin for begin, end in await task]

        now, _ = await server_clock(host, port)
        log(f"loading {args.items} more expired items")
        await load_expired(host, port, ttl_table, "b", args.items, now - 3600)
        log("PutItem during the second sweep")
        stop = asyncio.Event()
        task = asyncio.ensure_future(put_workers(host, port, user_table, stop))
        await asyncio.sleep(0.2)  # the writers are connected before the sweep starts
        t0 = time.perf_counter()
        second = (await admin(host, port, "POST", "/_admin/ttl/sweep", {}))["expired"]
        t1 = time.perf_counter()
        second_s = t1 - t0
        stop.set()
        # only requests that started and ended while the sweep ran
        during = [end - begin for begin, end in await task if begin >= t0 and end <= t1]
    finally:
        client.close()

    quiet, busy = latency_summary(baseline), latency_summary(during)
    return {
        "bench": "ttl",
        "mode": "sweep",
        "items": args.items,
        "view_type": args.view_type,
        "load_s": round(load_s, 3),
        "expired": first,
        "sweep_s": round(sweep_s, 3),
        "expired_per_s": round(first / sweep_s) if sweep_s else None,
        "target_expired_per_s": 30_000,
        "sweep_cpu_s": None if sweep_cpu is None else round(sweep_cpu, 3),
        "sweep_cpu_us_per_item": (
            round(sweep_cpu * 1e6 / first, 1) if sweep_cpu is not None and first else None
        ),
        "loadavg": os.getloadavg()[0],
        "put_baseline": quiet,
        "put_during_sweep": busy,
        "second_sweep_expired": second,
        "second_sweep_s": round(second_s, 3),
        "second_sweep_expired_per_s": round(second / second_s) if second_s else None,
        "p50_ratio": round(busy["p50_ms"] / quiet["p50_ms"], 2) if quiet["p50_ms"] else None,
        "p99_ratio": round(busy["p99_ms"] / quiet["p99_ms"], 2) if quiet["p99_ms"] else None,
        "target_ratio": 3.0,
    }


# -------------------------------------------------------------------------- lag mode


async def lag_mode(args: argparse.Namespace, host: str, port: int) -> dict[str, Any]:
    _, virtual = await server_clock(host, port)
    if virtual:
        raise SystemExit("lag mode needs a server on the real clock (no --clock virtual)")
    client = AsyncClient(host, port)
    table = f"ttl_lag_{uuid.uuid4().hex[:8]}"
    expiry: dict[str, float] = {}
    gone: dict[str, float] = {}
    try:
        await create_table(client, table, None, ttl=True)
        gap = args.spread / max(args.lag_items, 1)
        log(f"putting {args.lag_items} items over {args.spread} s, TTL = put time + 1 s")
        start = time.time()
        for i in range(args.lag_items):
            target = start + i * gap
            if (wait := target - time.time()) > 0:
                await asyncio.sleep(wait)
            key = f"k{i:05d}"
            expires = round(time.time() + 1.0, 3)
            expiry[key] = expires
            await client.call(
                "PutItem",
                {"TableName": table, "Item": {"pk": {"S": key}, TTL: {"N": f"{expires:.3f}"}}},
            )
        early: list[str] = []
        deadline = time.monotonic() + args.spread + 30
        queue = list(expiry)

        async def poller() -> None:
            poll = AsyncClient(host, port)
            try:
                while queue and time.monotonic() < deadline:
                    key = queue.pop(0)
                    answer = await poll.call(
                        "GetItem",
                        {"TableName": table, "Key": {"pk": {"S": key}}, "ConsistentRead": True},
                    )
                    seen = time.time()
                    if "Item" in answer:
                        queue.append(key)
                    else:
                        gone[key] = seen
                        if seen < expiry[key]:
                            early.append(key)
            finally:
                poll.close()

        await asyncio.gather(*(poller() for _ in range(PUT_CONCURRENCY)))
    finally:
        client.close()
    lags = sorted(gone[k] - expiry[k] for k in gone)
    return {
        "bench": "ttl",
        "mode": "lag",
        "items": args.lag_items,
        "spread_s": args.spread,
        "expired_seen": len(gone),
        "never_seen_gone": len(expiry) - len(gone),
        "gone_before_ttl": len(early),
        "lag_p50_s": round(pct(lags, 0.50), 3),
        "lag_p99_s": round(pct(lags, 0.99), 3),
        "lag_max_s": round(lags[-1], 3) if lags else None,
        "lag_min_s": round(lags[0], 3) if lags else None,
        "target_lag_s": 1.5,
        "loadavg": os.getloadavg()[0],
    }


def inproc_mode(args: argparse.Namespace) -> dict[str, Any]:
    from dynoxide_streams import Server
    from dynoxide_streams.engine.values import Item, item_size
    from dynoxide_streams.engine.writer import ItemBatch, ItemWrite, Outcome
    from dynoxide_streams.ttl.sweeper import sweep

    server = Server(clock="virtual", ttl_period=0)
    with server.run_in_thread() as running:
        portal, service = running._portal, running._service
        assert portal is not None and service is not None and service.ctx is not None
        ctx = service.ctx
        host, port = parse_endpoint(running.endpoint)

        async def create() -> None:
            client = AsyncClient(host, port)
            try:
                await create_table(client, "ttl_inproc", args.view_type, ttl=True)
            finally:
                client.close()

        portal.call(create)
        table = ctx.store.tables["ttl_inproc"]
        expires = int(ctx.clock.now()) - 3600

        def writer_of(item: Item) -> ItemWrite:
            outcome: Outcome = (item, item_size(item))
            return ItemWrite(table, table.key_of_item(item), lambda old: outcome)

        async def load() -> None:
            for start in range(0, args.items, 500):
                await ctx.writer.submit(
                    ItemBatch(
                        [
                            writer_of(
                                {
                                    "pk": {"S": f"a{i:08d}"},
                                    TTL: {"N": str(expires - i % 100)},
                                    "n": {"N": str(i)},
                                    "payload": {"S": PAYLOAD},
                                }
                            )
                            for i in range(start, min(args.items, start + 500))
                        ]
                    )
                )

        portal.call(load)
        checkpoints = 0
        checkpoint = ctx.store.checkpoint

        async def counted() -> None:
            nonlocal checkpoints
            checkpoints += 1
            await checkpoint()

        ctx.store.checkpoint = counted  # type: ignore[method-assign]

        async def run() -> tuple[int, float, float, float]:
            thread0, process0, wall0 = time.thread_time(), time.process_time(), time.perf_counter()
            expired = await sweep(ctx)
            return (
                expired,
                time.thread_time() - thread0,
                time.process_time() - process0,
                time.perf_counter() - wall0,
            )

        expired, thread_s, process_s, wall_s = portal.call(run)
    return {
        "bench": "ttl",
        "mode": "inproc",
        "items": args.items,
        "view_type": args.view_type,
        "expired": expired,
        "sweep_s": round(wall_s, 3),
        "expired_per_s": round(expired / wall_s) if wall_s else None,
        "process_cpu_us_per_item": round(process_s * 1e6 / expired, 1) if expired else None,
        "loop_cpu_us_per_item": round(thread_s * 1e6 / expired, 1) if expired else None,
        "checkpoints": checkpoints,
        "target_expired_per_s": 30_000,
        "loadavg": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000")
    parser.add_argument("--mode", choices=("sweep", "lag", "inproc"), default="sweep")
    parser.add_argument("--items", type=int, default=200_000, help="expired items per sweep")
    parser.add_argument(
        "--view-type",
        default="NEW_AND_OLD_IMAGES",
        choices=("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"),
    )
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--lag-items", type=int, default=100)
    parser.add_argument("--spread", type=float, default=2.0, help="seconds to spread puts over")
    parser.add_argument("--label", default=None)
    parser.add_argument(
        "--server-pid", type=int, default=None, help="report the sweep's server CPU time"
    )
    args = parser.parse_args()
    if args.mode == "inproc":
        inproc = inproc_mode(args)
        if args.label:
            inproc["label"] = args.label
        print(dumps(inproc).decode())
        return
    host, port = parse_endpoint(args.endpoint)
    run: Any = asyncio.run
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover - stdlib asyncio instead
        log("uvloop not importable; using the default asyncio loop")
    mode = sweep_mode if args.mode == "sweep" else lag_mode
    result = run(mode(args, host, port))
    if args.label:
        result["label"] = args.label
    print(dumps(result).decode())


if __name__ == "__main__":
    main()
