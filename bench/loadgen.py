#!/usr/bin/env python3
"""DynamoDB load generator for any DynamoDB-compatible HTTP endpoint.

    python bench/loadgen.py --endpoint http://127.0.0.1:8000 --op PutItem \
        --concurrency 16 --duration 10 [--warmup 2] [--table bench_table] \
        [--items 1000] [--label NAME]

Ops: PutItem, GetItem, Query, QueryGSI (Query on a GSI of a "<table>-gsi" table),
BatchWriteItem (25 items per request), or ``all``
(each in turn).  ``--growth`` (PutItem only) writes unique keys into a fresh
table until it holds ``--target-items`` and reports one line per window of
``--window-items`` successful writes.

Exactly ``--concurrency`` requests are in flight, each worker owning one
persistent HTTP/1.1 keep-alive connection (see dynproto.AsyncConn).  One JSON
line per op run (or per growth window) goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import string
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dynproto import (
    AsyncClient,
    AsyncConn,
    HttpError,
    build_request,
    dumps,
    header_prefix,
    loads,
    parse_endpoint,
)

OPS = ("PutItem", "GetItem", "Query", "QueryGSI", "BatchWriteItem")
GSI = "by_category"  # QueryGSI reads this index of the "<table>-gsi" table
BATCH = 25
QUERY_PAGE = 10  # sort keys per preloaded partition, and the Query Limit
PAYLOAD_LEN = 148
CONN_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- items


class Items:
    """Deterministic-shape ~200-byte items; payload strings come from a small pool."""

    def __init__(self, table: str, seed: int) -> None:
        self.table = table
        self.rng = random.Random(seed)
        alphabet = string.ascii_letters + string.digits
        self.payloads = [
            "".join(self.rng.choice(alphabet) for _ in range(PAYLOAD_LEN)) for _ in range(64)
        ]

    def item(self, pk: str, sk: str) -> dict[str, Any]:
        r = self.rng
        return {
            "pk": {"S": pk},
            "sk": {"S": sk},
            "payload": {"S": self.payloads[r.getrandbits(6)]},
            "n": {"N": str(r.getrandbits(20))},
            "active": {"BOOL": True},
            "category": {"S": f"cat-{r.getrandbits(4)}"},
        }

    @staticmethod
    def preload_key(k: int) -> tuple[str, str]:
        """Preloaded item k lives in partition k // 10 with sort key k % 10."""
        return f"load-{k // QUERY_PAGE:07d}", f"s{k % QUERY_PAGE:02d}"


def approx_item_size(item: dict[str, Any]) -> int:
    """DynamoDB-style size: attribute names + value bytes (close enough for S/N/BOOL)."""
    size = 0
    for name, av in item.items():
        size += len(name)
        ((t, v),) = av.items()
        size += 1 if t == "BOOL" else len(str(v))
    return size


# --------------------------------------------------------------------------- table


def gsi_table(table: str) -> str:
    return f"{table}-gsi"


async def ensure_table(
    client: AsyncClient,
    table: str,
    timeout: float = 60.0,
    with_gsi: bool = False,
    stream_view_type: str | None = None,
) -> None:
    try:
        desc = (await client.call("DescribeTable", {"TableName": table}))["Table"]
    except HttpError as e:
        if b"ResourceNotFoundException" not in e.body:
            raise
        log(f"creating table {table}")
        try:
            params: dict[str, Any] = {
                "TableName": table,
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
            }
            if stream_view_type:
                params["StreamSpecification"] = {
                    "StreamEnabled": True,
                    "StreamViewType": stream_view_type,
                }
            if with_gsi:
                params["AttributeDefinitions"].append(
                    {"AttributeName": "category", "AttributeType": "S"}
                )
                params["GlobalSecondaryIndexes"] = [
                    {
                        "IndexName": GSI,
                        "KeySchema": [
                            {"AttributeName": "category", "KeyType": "HASH"},
                            {"AttributeName": "sk", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ]
            await client.call("CreateTable", params)
        except HttpError as e2:
            if b"ResourceInUseException" not in e2.body:
                raise
        desc = (await client.call("DescribeTable", {"TableName": table}))["Table"]
    keys = {k["AttributeName"]: k["KeyType"] for k in desc.get("KeySchema", [])}
    if keys and keys != {"pk": "HASH", "sk": "RANGE"}:
        raise SystemExit(f"table {table} exists with a different key schema: {keys}")
    deadline = time.monotonic() + timeout
    while desc.get("TableStatus") != "ACTIVE":
        if time.monotonic() > deadline:
            raise SystemExit(f"table {table} not ACTIVE after {timeout}s")
        await asyncio.sleep(0.02)
        desc = (await client.call("DescribeTable", {"TableName": table}))["Table"]


async def delete_table(client: AsyncClient, table: str) -> None:
    try:
        await client.call("DeleteTable", {"TableName": table})
    except (HttpError, *CONN_ERRORS) as e:
        log(f"warning: DeleteTable {table} failed: {e}")


async def batch_write_all(
    host: str, port: int, table: str, items: list[dict[str, Any]], parallel: int
) -> None:
    """Write items with BatchWriteItem (25 per request), retrying UnprocessedItems."""
    prefix = header_prefix(host, port, "BatchWriteItem")
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    pos = 0

    async def writer() -> None:
        nonlocal pos
        conn = AsyncConn(host, port)
        await conn.connect()
        try:
            while pos < len(batches):
                batch = batches[pos]
                pos += 1
                requests: list[Any] = [{"PutRequest": {"Item": it}} for it in batch]
                for attempt in range(20):
                    status, body = await conn.request(
                        build_request(prefix, dumps({"RequestItems": {table: requests}}))
                    )
                    if status != 200:
                        if attempt < 19 and b"Throttl" in body:
                            await asyncio.sleep(0.05 * (attempt + 1))
                            continue
                        raise HttpError(status, body)
                    requests = loads(body).get("UnprocessedItems", {}).get(table, [])
                    if not requests:
                        break
                    await asyncio.sleep(0.01 * (attempt + 1))
                else:
                    raise SystemExit("preload: items still unprocessed after 20 attempts")
        finally:
            conn.close()

    await asyncio.gather(*(writer() for _ in range(max(1, min(parallel, len(batches))))))


async def put_all(
    host: str, port: int, table: str, items: list[dict[str, Any]], parallel: int
) -> None:
    """Write items one PutItem at a time (fallback when BatchWriteItem is unsupported)."""
    prefix = header_prefix(host, port, "PutItem")
    pos = 0

    async def writer() -> None:
        nonlocal pos
        conn = AsyncConn(host, port)
        await conn.connect()
        try:
            while pos < len(items):
                item = items[pos]
                pos += 1
                data = build_request(prefix, dumps({"TableName": table, "Item": item}))
                status, body = await conn.request(data)
                if status != 200:
                    raise HttpError(status, body)
        finally:
            conn.close()

    await asyncio.gather(*(writer() for _ in range(max(1, min(parallel, len(items))))))


async def preload(host: str, port: int, table: str, n: int, gen: Items, parallel: int) -> None:
    t0 = time.perf_counter()
    items = [gen.item(*Items.preload_key(k)) for k in range(n)]
    how = "BatchWriteItem"
    try:
        await batch_write_all(host, port, table, items, parallel)
    except HttpError as e:
        if b"UnknownOperation" not in e.body:
            raise
        how = "PutItem (BatchWriteItem unsupported)"
        await put_all(host, port, table, items, parallel)
    dt = time.perf_counter() - t0
    partitions = math.ceil(n / QUERY_PAGE)
    log(f"preloaded {n} items ({partitions} partitions x {QUERY_PAGE}) with {how} in {dt:.2f}s")


# --------------------------------------------------------------------------- stats


def pct(sorted_ns: list[int], p: float) -> float:
    """Nearest-rank percentile in ms."""
    if not sorted_ns:
        return 0.0
    i = min(len(sorted_ns) - 1, max(0, math.ceil(p * len(sorted_ns)) - 1))
    return round(sorted_ns[i] / 1e6, 3)


def latency_fields(lat: list[int]) -> dict[str, float]:
    lat.sort()
    return {
        "p50_ms": pct(lat, 0.50),
        "p90_ms": pct(lat, 0.90),
        "p99_ms": pct(lat, 0.99),
        "p999_ms": pct(lat, 0.999),
        "max_ms": round(lat[-1] / 1e6, 3) if lat else 0.0,
        "mean_ms": round(sum(lat) / len(lat) / 1e6, 3) if lat else 0.0,
    }


class CpuMeter:
    """CPU seconds of this process and (optionally) of a server process tree."""

    def __init__(self, server_pid: int | None) -> None:
        self.server: Any = None
        if server_pid:
            import psutil

            self.server = psutil.Process(server_pid)

    def _server_cpu(self) -> float | None:
        if self.server is None:
            return None
        import psutil

        total = 0.0
        try:
            procs = [self.server, *self.server.children(recursive=True)]
        except psutil.Error:
            return None
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def sample(self) -> tuple[float, float, float | None]:
        return time.perf_counter(), time.process_time(), self._server_cpu()

    @staticmethod
    def fields(a: tuple[float, float, float | None], b: tuple[float, float, float | None]):
        wall = b[0] - a[0]
        out: dict[str, float] = {}
        if wall > 0:
            out["client_cpu_pct"] = round(100 * (b[1] - a[1]) / wall, 1)
            if a[2] is not None and b[2] is not None:
                out["server_cpu_pct"] = round(100 * (b[2] - a[2]) / wall, 1)
        return out


class WorkerStats:
    __slots__ = ("errors", "first_error", "lat", "misses", "unprocessed")

    def __init__(self) -> None:
        self.lat: list[int] = []
        self.errors = 0
        self.misses = 0  # GetItem answered without an Item
        self.unprocessed = 0  # BatchWriteItem items handed back as UnprocessedItems
        self.first_error: str | None = None


# --------------------------------------------------------------------------- workloads


def make_request_factory(
    op: str,
    host: str,
    port: int,
    table: str,
    gen: Items,
    n_items: int,
    keyspace: int,
    query_limit: int = QUERY_PAGE,
) -> Callable[[], bytes]:
    """A zero-argument callable returning one complete request (header + body)."""
    prefix = header_prefix(host, port, "Query" if op == "QueryGSI" else op)
    rnd = random.Random(os.getpid() ^ hash(op))
    if op == "PutItem":

        def put() -> bytes:
            item = gen.item(f"put-{rnd.randrange(keyspace):08d}", "s00")
            return build_request(prefix, dumps({"TableName": table, "Item": item}))

        return put
    if op == "BatchWriteItem":

        def batch() -> bytes:
            # distinct sort key per slot: no duplicate keys inside one batch
            reqs = [
                {
                    "PutRequest": {
                        "Item": gen.item(f"put-{rnd.randrange(keyspace):08d}", f"b{j:02d}")
                    }
                }
                for j in range(BATCH)
            ]
            return build_request(prefix, dumps({"RequestItems": {table: reqs}}))

        return batch
    if op == "GetItem":
        # Pre-encode every request: per-request cost is one random pick.
        pool = []
        for k in range(n_items):
            pk, sk = Items.preload_key(k)
            body = {"TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": sk}}}
            pool.append(build_request(prefix, dumps(body)))
        return lambda: pool[rnd.randrange(len(pool))]
    if op == "Query":
        pool = []
        for p in range(max(1, n_items // QUERY_PAGE)):
            body = {
                "TableName": table,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": f"load-{p:07d}"}},
            }
            if query_limit:
                body["Limit"] = query_limit
            pool.append(build_request(prefix, dumps(body)))
        return lambda: pool[rnd.randrange(len(pool))]
    if op == "QueryGSI":
        pool = []
        for c in range(16):
            body = {
                "TableName": table,
                "IndexName": GSI,
                "KeyConditionExpression": "category = :c",
                "ExpressionAttributeValues": {":c": {"S": f"cat-{c}"}},
                "Limit": QUERY_PAGE,
            }
            pool.append(build_request(prefix, dumps(body)))
        return lambda: pool[rnd.randrange(len(pool))]
    raise ValueError(op)


async def worker(
    conn: AsyncConn,
    next_request: Callable[[], bytes],
    op: str,
    measure_start_ns: int,
    end_ns: int,
    st: WorkerStats,
) -> None:
    perf = time.perf_counter_ns
    lat = st.lat
    is_get = op == "GetItem"
    is_batch = op == "BatchWriteItem"
    while True:
        data = next_request()
        t0 = perf()
        if t0 >= end_ns:
            return
        try:
            status, body = await conn.request(data)
        except CONN_ERRORS as e:
            conn.close()
            if measure_start_ns <= perf() <= end_ns:
                st.errors += 1
            if st.first_error is None:
                st.first_error = f"{type(e).__name__}: {e}"
            await asyncio.sleep(0.001)  # don't spin if the server is gone
            continue
        t1 = perf()
        if status != 200:
            if measure_start_ns <= t1 <= end_ns:
                st.errors += 1
            if st.first_error is None:
                st.first_error = f"HTTP {status}: {body[:300]!r}"
            continue
        if measure_start_ns <= t1 <= end_ns:
            lat.append(t1 - t0)
            if is_get:
                if b'"Item"' not in body:
                    st.misses += 1
            elif is_batch and len(body) > 30:  # non-empty UnprocessedItems
                for reqs in loads(body).get("UnprocessedItems", {}).values():
                    st.unprocessed += len(reqs)


async def open_conns(host: str, port: int, n: int) -> list[AsyncConn]:
    conns = [AsyncConn(host, port) for _ in range(n)]
    await asyncio.gather(*(c.connect() for c in conns))
    return conns


async def run_op(args: argparse.Namespace, op: str, gen: Items, cpu: CpuMeter) -> dict[str, Any]:
    host, port = args.host, args.port
    table = gsi_table(args.table) if op == "QueryGSI" else args.table
    factory = make_request_factory(
        op, host, port, table, gen, args.items, args.keyspace, args.query_limit
    )
    conns = await open_conns(host, port, args.concurrency)
    stats = [WorkerStats() for _ in conns]
    log(f"[{op}] concurrency={args.concurrency} warmup={args.warmup}s duration={args.duration}s")
    start_ns = time.perf_counter_ns()
    measure_start_ns = start_ns + int(args.warmup * 1e9)
    end_ns = measure_start_ns + int(args.duration * 1e9)
    tasks = [
        asyncio.create_task(worker(c, factory, op, measure_start_ns, end_ns, s))
        for c, s in zip(conns, stats, strict=True)
    ]

    # Sample CPU at the window edges; print progress once a second.
    await asyncio.sleep(max(0.0, (measure_start_ns - time.perf_counter_ns()) / 1e9))
    cpu_a = cpu.sample()
    last_ops, last_t = 0, time.perf_counter()
    while (remaining := (end_ns - time.perf_counter_ns()) / 1e9) > 0:
        await asyncio.sleep(min(1.0, remaining))
        if not args.quiet:
            n = sum(len(s.lat) for s in stats)
            now = time.perf_counter()
            errs = sum(s.errors for s in stats)
            log(f"[{op}]   {(n - last_ops) / (now - last_t):9.1f} ops/s  errors={errs}")
            last_ops, last_t = n, now
    cpu_b = cpu.sample()

    # In-flight requests finish (uncounted); a stuck server cannot hang us.
    _, pending = await asyncio.wait(tasks, timeout=args.grace)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for t in tasks:
        if not t.cancelled() and (exc := t.exception()) is not None:
            raise exc
    for c in conns:
        c.close()

    window_s = (end_ns - measure_start_ns) / 1e9
    lat = [x for s in stats for x in s.lat]
    n_ops = len(lat)
    errors = sum(s.errors for s in stats)
    first_err = next((s.first_error for s in stats if s.first_error), None)
    if first_err:
        log(f"[{op}] first error: {first_err}")
    per_req = BATCH if op == "BatchWriteItem" else 1
    unprocessed = sum(s.unprocessed for s in stats)
    result: dict[str, Any] = {
        "bench": "loadgen",
        "label": args.label,
        "op": op,
        "concurrency": args.concurrency,
        "duration_s": round(window_s, 3),
        "warmup_s": args.warmup,
        "ops": n_ops,
        "ops_per_s": round(n_ops / window_s, 1),
        "items_per_s": round((n_ops * per_req - unprocessed) / window_s, 1),
        **latency_fields(lat),
        "errors": errors,
    }
    if op == "GetItem":
        result["misses"] = sum(s.misses for s in stats)
    if op == "BatchWriteItem":
        result["unprocessed_items"] = unprocessed
    result["reconnects"] = sum(c.reconnects for c in conns)
    result["stuck_workers"] = len(pending)
    result.update(CpuMeter.fields(cpu_a, cpu_b))
    result.update({"loop": args.loop_name, "endpoint": args.endpoint, "table": args.table})
    return result


# --------------------------------------------------------------------------- growth


async def run_growth(args: argparse.Namespace, client: AsyncClient, gen: Items, cpu: CpuMeter):
    """PutItem unique keys into a fresh table; one JSON line per window of successes."""
    host, port = args.host, args.port
    table = f"{args.table}_growth_{os.getpid()}_{int(time.time())}"
    await ensure_table(client, table, stream_view_type=args.stream_view_type)
    target = args.target_items
    window_items = args.window_items or max(1, target // 10)
    prefix = header_prefix(host, port, "PutItem")
    rnd = random.Random(os.getpid())
    perf = time.perf_counter_ns
    hard_end = 0

    issued = 0
    ok = 0
    win: dict[str, Any] = {"idx": 0, "start_items": 0, "t0": 0, "lat": [], "errors": 0}
    win_cpu = cpu.sample()
    lines: list[dict[str, Any]] = []

    def close_window(t_end: int) -> None:
        nonlocal win, win_cpu
        lat: list[int] = win["lat"]
        dur = (t_end - win["t0"]) / 1e9
        c = cpu.sample()
        line = {
            "bench": "loadgen",
            "label": args.label,
            "op": "PutItem",
            "mode": "growth",
            "window": win["idx"],
            "table_items_start": win["start_items"],
            "table_items_end": ok,
            "concurrency": args.concurrency,
            "duration_s": round(dur, 3),
            "ops": len(lat),
            "ops_per_s": round(len(lat) / dur, 1) if dur > 0 else 0.0,
            "items_per_s": round(len(lat) / dur, 1) if dur > 0 else 0.0,
            **latency_fields(lat),
            "errors": win["errors"],
            **CpuMeter.fields(win_cpu, c),
            "loop": args.loop_name,
            "endpoint": args.endpoint,
        }
        print(dumps(line).decode(), flush=True)
        lines.append(line)
        log(
            f"[growth] items {line['table_items_start']:>8} -> {ok:>8}: "
            f"{line['ops_per_s']:9.1f} ops/s  p99={line['p99_ms']} ms"
        )
        win = {"idx": win["idx"] + 1, "start_items": ok, "t0": t_end, "lat": [], "errors": 0}
        win_cpu = c

    async def gworker(conn: AsyncConn) -> None:
        nonlocal issued, ok
        while issued < target:
            idx = issued
            issued += 1
            # random-looking but unique key order (not an append-only pattern)
            pk = f"g{rnd.getrandbits(32):08x}-{idx:x}"
            data = build_request(prefix, dumps({"TableName": table, "Item": gen.item(pk, "s00")}))
            t0 = perf()
            if t0 >= hard_end:
                return
            try:
                status, _body = await conn.request(data)
            except CONN_ERRORS:
                conn.close()
                win["errors"] += 1
                await asyncio.sleep(0.001)
                continue
            t1 = perf()
            if status != 200:
                win["errors"] += 1
                continue
            ok += 1
            win["lat"].append(t1 - t0)
            if ok % window_items == 0:
                close_window(t1)

    if args.warmup > 0:  # warm the server up on the normal table; not measured
        log(f"[growth] warmup: PutItem on {args.table} for {args.warmup}s")
        await ensure_table(client, args.table, stream_view_type=args.stream_view_type)
        factory = make_request_factory(
            "PutItem", host, port, args.table, gen, args.items, args.keyspace
        )
        wconns = await open_conns(host, port, args.concurrency)
        wend = perf() + int(args.warmup * 1e9)
        wstats = [WorkerStats() for _ in wconns]
        # measure_start after end: nothing is recorded
        wtasks = [
            asyncio.create_task(worker(c, factory, "PutItem", wend + 1, wend, s))
            for c, s in zip(wconns, wstats, strict=True)
        ]
        _, wpending = await asyncio.wait(wtasks, timeout=args.warmup + args.grace)
        for t in wpending:
            t.cancel()
        await asyncio.gather(*wpending, return_exceptions=True)
        for c in wconns:
            c.close()

    log(f"[growth] PutItem into fresh table {table} up to {target} items, window={window_items}")
    conns = await open_conns(host, port, args.concurrency)
    hard_end = perf() + int(args.max_duration * 1e9)
    win["t0"] = perf()
    win_cpu = cpu.sample()
    tasks = [asyncio.create_task(gworker(c)) for c in conns]
    _, pending = await asyncio.wait(tasks, timeout=args.max_duration + args.grace)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for c in conns:
        c.close()
    for t in tasks:
        if not t.cancelled() and (exc := t.exception()) is not None:
            raise exc
    if win["lat"]:  # partial last window (errors or max-duration hit)
        close_window(perf())
    if ok < target:
        log(f"[growth] stopped at {ok}/{target} items (errors or --max-duration)")
    if len(lines) >= 2:
        rates = [ln["ops_per_s"] for ln in lines if ln["ops"] >= window_items]
        if len(rates) >= 2:
            log(
                f"[growth] last/first window throughput = {rates[-1] / rates[0]:.2f}, "
                f"min/max = {min(rates) / max(rates):.2f}"
            )
    if not args.keep_table:
        await delete_table(client, table)


# --------------------------------------------------------------------------- main


async def amain(args: argparse.Namespace) -> int:
    client = AsyncClient(args.host, args.port)
    try:
        await client.conn.connect()
    except OSError as e:
        log(f"cannot connect to {args.endpoint}: {e}")
        return 2
    gen = Items(args.table, seed=1234)
    cpu = CpuMeter(args.server_pid)
    log(f"item size ~{approx_item_size(gen.item('put-00000000', 's00'))} bytes")
    try:
        if args.growth:
            await run_growth(args, client, gen, cpu)
            return 0
        await ensure_table(client, args.table, stream_view_type=args.stream_view_type)
        ops = args.ops
        preload_error = None
        if any(op in ("GetItem", "Query") for op in ops) and not args.no_preload:
            try:
                await preload(args.host, args.port, args.table, args.items, gen, args.concurrency)
            except HttpError as e:  # e.g. a server without BatchWriteItem yet
                preload_error = f"preload failed: {e}"
                log(preload_error)
        if "QueryGSI" in ops and not preload_error:
            await ensure_table(client, gsi_table(args.table), with_gsi=True)
            if not args.no_preload:
                try:
                    await preload(
                        args.host,
                        args.port,
                        gsi_table(args.table),
                        args.items,
                        gen,
                        args.concurrency,
                    )
                except HttpError as e:
                    preload_error = f"preload failed: {e}"
                    log(preload_error)
        rc = 0
        for op in ops:
            if preload_error and op in ("GetItem", "Query", "QueryGSI"):
                result = {"bench": "loadgen", "label": args.label, "op": op, "error": preload_error}
                rc = 1
            else:
                result = await run_op(args, op, gen, cpu)
            print(dumps(result).decode(), flush=True)
        return rc
    except HttpError as e:
        log(f"error: {e}")
        return 1
    finally:
        client.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--endpoint", default="http://127.0.0.1:8000")
    ap.add_argument(
        "--op",
        default="PutItem",
        help=f"one of {', '.join(OPS)}, a comma-separated list of them, or all",
    )
    ap.add_argument(
        "--query-limit",
        type=int,
        default=QUERY_PAGE,
        help="Limit of the Query workloads; 0 sends no Limit (a partition holds 10 items)",
    )
    ap.add_argument(
        "--stream-view-type",
        choices=["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"],
        help="create the table with a DynamoDB stream of this view type",
    )
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per op")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    ap.add_argument("--table", default="bench_table")
    ap.add_argument("--items", type=int, default=1000, help="items preloaded for GetItem/Query")
    ap.add_argument("--keyspace", type=int, default=100000, help="PutItem partition keys")
    ap.add_argument("--label", default=None, help="name in the JSON output (default: endpoint)")
    ap.add_argument("--no-preload", action="store_true", help="assume the preload exists")
    ap.add_argument("--server-pid", type=int, default=None, help="also report server CPU %%")
    ap.add_argument("--grace", type=float, default=10.0, help="max wait for in-flight at end")
    ap.add_argument("--no-uvloop", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no per-second progress on stderr")
    g = ap.add_argument_group("growth mode (PutItem into a fresh, growing table)")
    g.add_argument("--growth", action="store_true")
    g.add_argument("--target-items", type=int, default=100000)
    g.add_argument("--window-items", type=int, default=0, help="default target/10")
    g.add_argument("--max-duration", type=float, default=600.0, help="hard stop, seconds")
    g.add_argument("--keep-table", action="store_true", help="don't delete the growth table")
    args = ap.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0 or args.warmup < 0 or args.items < 1:
        ap.error("need --concurrency >= 1, --duration > 0, --warmup >= 0, --items >= 1")
    args.ops = OPS if args.op == "all" else tuple(args.op.split(","))
    if unknown := [op for op in args.ops if op not in OPS]:
        ap.error(f"unknown --op {', '.join(unknown)}; choose from {', '.join(OPS)} or all")
    if args.query_limit < 0:
        ap.error("--query-limit must be >= 0")
    if args.growth and args.op not in ("PutItem",):
        ap.error("--growth only applies to --op PutItem")
    if args.target_items < 1 or args.keyspace < 1:
        ap.error("--target-items and --keyspace must be >= 1")
    args.host, args.port = parse_endpoint(args.endpoint)
    args.label = args.label or args.endpoint
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    uvloop: Any = None
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            log("uvloop not importable; using the default asyncio loop")
    args.loop_name = "uvloop" if uvloop else "asyncio"
    return int((uvloop.run if uvloop else asyncio.run)(amain(args)))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
