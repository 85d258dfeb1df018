#!/usr/bin/env python3
"""Benchmark Lambda-style triggers (event source mappings) with Python handlers.

    .venv/bin/python bench/triggers.py [--records 100000] [--latency-puts 1000] \\
        [--warmup-puts 50] [--data-dir DIR] [--only latency|throughput] \\
        [--handler sync|async] [--profile FILE] [--label NAME]

Unlike the other tools this one runs the server **in this process**: an embedded
``dynoxide_streams.Server`` (``run_in_thread()``, its event loop in a background
thread) with in-memory storage, or on disk in a fresh subdirectory of ``--data-dir``
(removed afterwards). The handlers are Python callables given to ``srv.add_trigger``
(a ``sync`` handler runs in the server's handler thread pool, an ``async`` one on its
event loop). The client shares the process, so it shares the GIL with the server.
Works against this project only.

latency
    A stream-enabled table (NEW_AND_OLD_IMAGES) with a BatchSize 1 trigger. The main
    thread sends ``--warmup-puts`` and then ``--latency-puts`` PutItems with boto3, one
    at a time: after each put it waits (up to 10 s) until the handler has seen that item
    before sending the next, so one record is in flight (closed loop). The handler notes
    ``time.perf_counter()`` on entry per item key; the writer notes it right after
    ``put_item`` returns. Latency = handler entry - put acknowledged. The server commits
    (and wakes the poller) before it sends the reply, so the handler can run before boto3
    has parsed the answer: such deltas are negative, counted in ``latency_negative`` and
    clamped to 0 (``latency_min_raw_ms`` is the most negative one). ``latency_missing``
    counts puts whose handler call did not come within 10 s; ``latency_invocations``
    counts handler calls, warm-up included. Targets: p50 <= 10 ms, p99 <= 30 ms.

throughput
    ``--records`` items are written first (BatchWriteItem, 25 per request, 8 concurrent
    keep-alive connections via bench/dynproto.py) to a stream-enabled table with no
    trigger. Then a BatchSize 100 trigger (TRIM_HORIZON) with a no-op handler that only
    counts records is added: ``throughput_records_per_s`` = records / time from
    ``add_trigger`` to the handler having seen them all (this includes binding the
    declaration to the stream; ``throughput_first_call_ms`` shows that part). Target:
    >= 20,000 records/s.

``--profile FILE`` runs cProfile on the server's event-loop thread (not on the client,
not in the handler threads) during the measured phases only (the latency puts
including warm-up, the drain; not table creation or the preload), writes the stats to
FILE (read with ``python -m pstats FILE``) and prints the top dynoxide_streams
functions by cumulative and by own time to stderr. Profiling slows the server down: compare figures only
between runs without it (the JSON line says ``"profiled": true``).

Prints one JSON line on stdout (progress on stderr), e.g.
``{"bench":"triggers","server":"dynoxide-streams","latency_p50_ms":..,"latency_p99_ms":..,
"latency_max_ms":..,"throughput_records_per_s":..,"records":..,...}``. The exit status is
1 if a put's handler call went missing or the drain did not see every record.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3
from botocore.config import Config
from dynproto import AsyncClient, parse_endpoint

from dynoxide_streams import Server

BATCH = 25
LOAD_CONCURRENCY = 8
PAYLOAD = "x" * 100
PUT_WAIT_S = 10.0  # how long one put may wait for its handler call
FIRST_PUT_WAIT_S = 30.0  # the first also waits for the declaration to be bound
LATENCY_TARGETS = (10.0, 30.0)  # p50, p99 in ms
THROUGHPUT_TARGET = 20_000.0  # records/s


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (same definition as loadgen.py)."""
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, math.ceil(p * len(sorted_values)) - 1))
    return sorted_values[i]


def ddb_client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
        ),
    )


def create_table(ddb: Any, table: str) -> None:
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    deadline = time.monotonic() + 60
    while ddb.describe_table(TableName=table)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise SystemExit(f"table {table} did not become ACTIVE")
        time.sleep(0.01)


def key_of(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["pk"]["S"])


# -------------------------------------------------------------------------- latency


def latency_run(srv: Server, args: argparse.Namespace, profile: ServerProfile) -> dict[str, Any]:
    ddb = ddb_client(srv.endpoint)
    suffix = uuid.uuid4().hex[:8]
    table = f"trig_lat_{suffix}"
    create_table(ddb, table)
    seen: dict[str, float] = {}
    calls = [0]
    cond = threading.Condition()

    def note(records: list[dict[str, Any]]) -> None:
        entered = time.perf_counter()
        with cond:
            calls[0] += 1
            for record in records:
                seen.setdefault(key_of(record), entered)
            cond.notify_all()

    if args.handler == "async":

        async def on_put(event: dict[str, Any], context: Any) -> None:
            note(event["Records"])

    else:

        def on_put(event: dict[str, Any], context: Any) -> None:  # type: ignore[misc]
            note(event["Records"])

    srv.add_trigger(table, on_put, name=f"bench_latency_{suffix}", batch_size=1)
    total = args.warmup_puts + args.latency_puts
    log(f"latency: {args.warmup_puts} warm-up + {args.latency_puts} measured puts, BatchSize 1")
    deltas: list[float] = []
    upper: list[float] = []  # PutItem sent -> handler entered (an upper bound)
    missing = 0
    with profile.measuring():
        for i in range(total):
            key = f"k{i:07d}"
            sent = time.perf_counter()
            ddb.put_item(TableName=table, Item={"pk": {"S": key}, "payload": {"S": PAYLOAD}})
            acked = time.perf_counter()
            deadline = time.monotonic() + (FIRST_PUT_WAIT_S if i == 0 else PUT_WAIT_S)
            with cond:
                while key not in seen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    cond.wait(remaining)
                entered = seen.get(key)
            if entered is None:
                missing += 1
                log(f"latency: no handler call for {key} within the wait")
                continue
            if i >= args.warmup_puts:
                deltas.append((entered - acked) * 1000.0)
                upper.append((entered - sent) * 1000.0)
    negative = sum(1 for d in deltas if d < 0)
    clamped = sorted(max(0.0, d) for d in deltas)
    p50, p99 = pct(clamped, 0.50), pct(clamped, 0.99)
    return {
        "latency_p50_ms": round(p50, 3),
        "latency_p99_ms": round(p99, 3),
        "latency_max_ms": round(clamped[-1] if clamped else 0.0, 3),
        "latency_mean_ms": round(sum(clamped) / len(clamped), 3) if clamped else 0.0,
        "latency_min_raw_ms": round(min(deltas), 3) if deltas else 0.0,
        "latency_negative": negative,
        "sent_to_call_p50_ms": round(pct(sorted(upper), 0.50), 3) if upper else 0.0,
        "sent_to_call_p99_ms": round(pct(sorted(upper), 0.99), 3) if upper else 0.0,
        "latency_missing": missing,
        "latency_puts": args.latency_puts,
        "latency_invocations": calls[0],
        "latency_target_met": bool(
            clamped and missing == 0 and p50 <= LATENCY_TARGETS[0] and p99 <= LATENCY_TARGETS[1]
        ),
    }


# ----------------------------------------------------------------------- throughput


async def preload(endpoint: str, table: str, records: int) -> None:
    host, port = parse_endpoint(endpoint)
    next_key = 0

    async def worker() -> None:
        nonlocal next_key
        client = AsyncClient(host, port)
        try:
            while next_key < records:
                start = next_key
                next_key = min(records, start + BATCH)
                pending: list[dict[str, Any]] = [
                    {"PutRequest": {"Item": {"pk": {"S": f"t{i:09d}"}, "payload": {"S": PAYLOAD}}}}
                    for i in range(start, next_key)
                ]
                while pending:
                    answer = await client.call("BatchWriteItem", {"RequestItems": {table: pending}})
                    pending = answer.get("UnprocessedItems", {}).get(table, [])
        finally:
            client.close()

    await asyncio.gather(*(worker() for _ in range(LOAD_CONCURRENCY)))


def throughput_run(srv: Server, args: argparse.Namespace, profile: ServerProfile) -> dict[str, Any]:
    ddb = ddb_client(srv.endpoint)
    suffix = uuid.uuid4().hex[:8]
    table = f"trig_thr_{suffix}"
    create_table(ddb, table)
    log(f"throughput: writing {args.records} records (no trigger yet)")
    t0 = time.perf_counter()
    asyncio.run(preload(srv.endpoint, table, args.records))
    preload_s = time.perf_counter() - t0
    log(f"throughput: wrote them in {preload_s:.1f}s; adding the BatchSize 100 trigger")

    lock = threading.Lock()
    state = {"records": 0, "calls": 0, "first": 0.0}
    done = threading.Event()

    def count(records: list[dict[str, Any]]) -> None:
        with lock:
            if not state["calls"]:
                state["first"] = time.perf_counter()
            state["calls"] += 1
            state["records"] += len(records)
            if state["records"] >= args.records:
                done.set()

    if args.handler == "async":

        async def drain(event: dict[str, Any], context: Any) -> None:
            count(event["Records"])

    else:

        def drain(event: dict[str, Any], context: Any) -> None:  # type: ignore[misc]
            count(event["Records"])

    timeout = max(120.0, args.records / 500.0)
    with profile.measuring():
        started = time.perf_counter()
        srv.add_trigger(table, drain, name=f"bench_drain_{suffix}", batch_size=100)
        finished = done.wait(timeout)
        elapsed = time.perf_counter() - started
    with lock:
        seen, calls, first = int(state["records"]), int(state["calls"]), state["first"]
    if not finished:
        log(f"throughput: only {seen} of {args.records} records after {timeout:.0f}s")
    rate = seen / elapsed if elapsed > 0 else 0.0
    return {
        "throughput_records_per_s": round(rate, 1),
        "throughput_s": round(elapsed, 3),
        "throughput_first_call_ms": round((first - started) * 1000, 3) if calls else None,
        "throughput_invocations": calls,
        "throughput_seen": seen,
        "throughput_target_met": bool(finished and rate >= THROUGHPUT_TARGET),
        "records": args.records,
        "preload_s": round(preload_s, 3),
    }


# -------------------------------------------------------------------------- profile


class ServerProfile:
    """cProfile on the server's event-loop thread, switched on for measured phases only
    (the latency puts, the drain; not table creation or the preload). Inactive unless
    ``path`` is given."""

    def __init__(self, srv: Server, path: str | None) -> None:
        self.path = path
        self.portal = srv._portal  # the run_in_thread() portal: calls run on the loop thread
        self.profiler = cProfile.Profile() if path else None

    @contextlib.contextmanager
    def measuring(self) -> Iterator[None]:
        if self.profiler is None or self.portal is None:
            yield
            return
        self.portal.call(self.profiler.enable)
        try:
            yield
        finally:
            self.portal.call(self.profiler.disable)

    def report(self) -> None:
        if self.profiler is None or not self.path:
            return
        self.profiler.dump_stats(self.path)
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            stats = pstats.Stats(self.profiler, stream=out)
            stats.sort_stats(order).print_stats("dynoxide_streams", 30)
            log(f"--- server loop thread, top dynoxide_streams functions by {order}")
            log(out.getvalue())
        log(f"profile written to {self.path}")


# ----------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = (
        tempfile.mkdtemp(prefix="bench-triggers-", dir=args.data_dir) if args.data_dir else None
    )
    try:
        result: dict[str, Any] = {
            "bench": "triggers",
            "server": "dynoxide-streams",
            "label": args.label,
            "storage": "disk" if workdir else "memory",
            "handler": args.handler,
        }
        with Server(data_dir=workdir, log_level="warning").run_in_thread() as srv:
            profile = ServerProfile(srv, args.profile)
            if args.only in (None, "latency"):
                result.update(latency_run(srv, args, profile))
            if args.only in (None, "throughput"):
                result.update(throughput_run(srv, args, profile))
            profile.report()
        result["profiled"] = bool(args.profile)
        return result
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=100_000, help="throughput: records to drain")
    ap.add_argument("--latency-puts", type=int, default=1000, help="latency: measured puts")
    ap.add_argument("--warmup-puts", type=int, default=50, help="latency: unmeasured puts first")
    ap.add_argument(
        "--data-dir", default=None, help="store on disk, in a fresh subdirectory of this"
    )
    ap.add_argument("--only", choices=("latency", "throughput"), default=None)
    ap.add_argument("--handler", choices=("sync", "async"), default="sync")
    ap.add_argument("--profile", default=None, help="cProfile the server loop thread to FILE")
    ap.add_argument("--label", default="dynoxide-streams")
    args = ap.parse_args(argv)
    if args.records < 1 or args.latency_puts < 1 or args.warmup_puts < 0:
        ap.error("--records and --latency-puts must be >= 1, --warmup-puts >= 0")
    result = run(args)
    print(json.dumps(result), flush=True)
    ok = (
        result.get("latency_missing", 0) == 0
        and result.get("throughput_seen", args.records) >= args.records
    )
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
