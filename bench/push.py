"""Benchmark the push websocket (``GET /_streams/ws``): write-to-receive latency and fan-out.

    .venv/bin/dynoxide-streams serve --port 8123 --in-memory --log-level warning &
    .venv/bin/python bench/push.py --endpoint http://127.0.0.1:8123 --mode all \\
        [--rate 1000] [--duration 10] [--warmup 2] \\
        [--subscribers 100] [--records 2000] [--fanout-rate 100] [--fanout-duration 5] \\
        [--client-procs 1] [--compression deflate|none] [--server-pid PID] [--label NAME]

Prints one JSON line per mode on stdout (progress on stderr).

latency
    Creates a stream table (NEW_IMAGE), opens one websocket subscription (LATEST), then
    starts a *separate writer process* (this script, ``--role writer``) that sends
    PutItems at ``--rate`` per second, open loop: request *i* is due at t0 + i/rate and
    is sent on the first free one of 16 keep-alive connections (bench/dynproto.py).
    Each item carries the writer's send time (``CLOCK_MONOTONIC`` ns, one clock for all
    processes of the machine); the subscriber notes the time each record frame arrives.
    The server's commit lies between the request's send and its HTTP answer, so two
    figures bound commit-to-receipt:

    * ``p50_ms`` / ``p99_ms`` …: send → receipt, an upper bound (it includes the
      PutItem's own parsing, queueing and commit). The target (p99 ≤ 10 ms) is judged
      on this one: ``target_met``.
    * ``ack_p50_ms`` / ``ack_p99_ms`` …: HTTP answer → receipt, a lower bound; negative
      when the frame arrives before the PutItem's response.

    Records sent during the first ``--warmup`` seconds are not counted. ``missing`` is
    the number of acknowledged writes whose record never arrived (waits 10 s at the end).

fanout
    Creates a stream table, preloads ``--records`` items, connects ``--subscribers``
    websockets (spread over ``--client-procs`` processes), then subscribes them all at
    once from TRIM_HORIZON: ``catchup_records_per_s`` = subscribers * records / time
    until the last subscriber has them all (the server's delivery capacity). Then,
    everyone now live, a writer process writes ``--fanout-rate`` PutItems/s for
    ``--fanout-duration`` s: ``live_delivered_per_s`` (record frames received by all
    subscribers per second) and ``live_p50_ms``/``live_p99_ms`` (send → receipt over
    every subscriber). With one client process the client may be the bottleneck on a
    small machine: compare ``client_cpu_pct`` and ``server_cpu_pct`` (``--server-pid``).

Works against this project only (the push websocket is its own protocol).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import sys
import time
import uuid
from typing import Any

from dynproto import AsyncClient, AsyncConn, build_request, dumps, header_prefix, loads
from dynproto import parse_endpoint as split_endpoint
from websockets.asyncio.client import ClientConnection, connect

WS_PATH = "/_streams/ws"
WRITER_CONNS = 16
RECORD_PREFIX = '{"type":"record"'
PAYLOAD = "x" * 100


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def now_ns() -> int:
    return time.monotonic_ns()  # CLOCK_MONOTONIC: comparable across processes


# --------------------------------------------------------------------------- stats


def pct(sorted_values: list[int], p: float) -> float:
    """Nearest-rank percentile of nanosecond values, in ms (values may be negative)."""
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, math.ceil(p * len(sorted_values)) - 1))
    return round(sorted_values[i] / 1e6, 3)


def latency_fields(values: list[int], prefix: str = "") -> dict[str, float]:
    values.sort()
    return {
        f"{prefix}p50_ms": pct(values, 0.50),
        f"{prefix}p90_ms": pct(values, 0.90),
        f"{prefix}p99_ms": pct(values, 0.99),
        f"{prefix}p999_ms": pct(values, 0.999),
        f"{prefix}max_ms": round(values[-1] / 1e6, 3) if values else 0.0,
        f"{prefix}min_ms": round(values[0] / 1e6, 3) if values else 0.0,
    }


class CpuMeter:
    """CPU seconds of the client side (this process, finished children, and the live
    helper processes registered with ``watch``) and of the server, if its pid is given."""

    def __init__(self, server_pid: int | None) -> None:
        self.server: Any = None
        self.helpers: list[Any] = []
        try:
            import psutil

            self._psutil: Any = psutil
        except ImportError:  # pragma: no cover - psutil is in the project venv
            self._psutil = None
        if server_pid and self._psutil is not None:
            self.server = self._psutil.Process(server_pid)

    def watch(self, pid: int) -> None:
        if self._psutil is not None:
            self.helpers.append(self._psutil.Process(pid))

    def _cpu(self, process: Any) -> float:
        try:
            times = process.cpu_times()
            return float(times.user + times.system)
        except Exception:  # gone: its time is in os.times().children_* once reaped
            return 0.0

    def sample(self) -> tuple[float, float, float | None]:
        own = os.times()
        client = own.user + own.system + own.children_user + own.children_system
        client += sum(self._cpu(p) for p in self.helpers)
        server = None if self.server is None else self._cpu(self.server)
        return time.perf_counter(), client, server

    @staticmethod
    def fields(
        a: tuple[float, float, float | None], b: tuple[float, float, float | None]
    ) -> dict[str, float]:
        wall = b[0] - a[0]
        out: dict[str, float] = {}
        if wall > 0:
            out["client_cpu_pct"] = round(100 * (b[1] - a[1]) / wall, 1)
            if a[2] is not None and b[2] is not None:
                out["server_cpu_pct"] = round(100 * (b[2] - a[2]) / wall, 1)
        return out


# ------------------------------------------------------------------------ helpers


def ws_url(endpoint: str) -> str:
    return endpoint.replace("http://", "ws://", 1) + WS_PATH


async def ws_connect(endpoint: str, compression: str) -> ClientConnection:
    return await connect(
        ws_url(endpoint),
        compression=None if compression == "none" else "deflate",
        max_size=2**24,
        ping_interval=None,
        open_timeout=60,
        close_timeout=5,
        proxy=None,
    )


async def subscribe(ws: ClientConnection, table: str, start: str) -> None:
    await ws.send(json.dumps({"action": "subscribe", "id": "s", "table": table, "from": start}))
    frame = loads(await asyncio.wait_for(ws.recv(), 30))
    if frame.get("type") != "subscribed":
        raise SystemExit(f"subscribe failed: {frame}")


def record_fields(text: str | bytes) -> tuple[str, int]:
    """(pk, the writer's send time) of a record frame."""
    image = loads(text)["record"]["dynamodb"]["NewImage"]
    return image["pk"]["S"], int(image["t"]["N"])


async def create_table(client: AsyncClient, table: str, view: str = "NEW_IMAGE") -> str:
    response = await client.call(
        "CreateTable",
        {
            "TableName": table,
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": view},
        },
    )
    deadline = time.monotonic() + 60
    while (await client.call("DescribeTable", {"TableName": table}))["Table"][
        "TableStatus"
    ] != "ACTIVE":
        if time.monotonic() > deadline:
            raise SystemExit("table did not become ACTIVE")
        await asyncio.sleep(0.05)
    return str(response["TableDescription"]["LatestStreamArn"])


async def preload(host: str, port: int, table: str, records: int) -> None:
    counter = itertools.count(0, 25)

    async def worker() -> None:
        client = AsyncClient(host, port)
        try:
            while (start := next(counter)) < records:
                items = [
                    {
                        "PutRequest": {
                            "Item": {
                                "pk": {"S": f"pre-{i:08d}"},
                                "t": {"N": "0"},
                                "payload": {"S": PAYLOAD},
                            }
                        }
                    }
                    for i in range(start, min(start + 25, records))
                ]
                answer = await client.call("BatchWriteItem", {"RequestItems": {table: items}})
                if answer.get("UnprocessedItems"):
                    raise SystemExit("preload: unprocessed items")
        finally:
            client.close()

    await asyncio.gather(*(worker() for _ in range(8)))


async def spawn_writer(
    args: argparse.Namespace, table: str, rate: float, duration: float, key_prefix: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        os.path.abspath(__file__),
        "--role",
        "writer",
        "--endpoint",
        args.endpoint,
        "--table",
        table,
        "--rate",
        str(rate),
        "--duration",
        str(duration),
        "--key-prefix",
        key_prefix,
        stdout=asyncio.subprocess.PIPE,
    )


# ------------------------------------------------------------------ writer (role)


async def writer_role(args: argparse.Namespace) -> int:
    """Open-loop PutItems at --rate for --duration; prints one JSON object: per request
    [send_ns, ack_ns, status]."""
    host, port = split_endpoint(args.endpoint)
    prefix = header_prefix(host, port, "PutItem")
    total = int(args.rate * args.duration)
    results: list[list[int]] = [[0, 0, 0] for _ in range(total)]
    counter = itertools.count()
    t0 = now_ns() + 50_000_000
    interval = 1e9 / args.rate
    late = 0

    async def worker() -> None:
        nonlocal late
        conn = AsyncConn(host, port)
        try:
            while (i := next(counter)) < total:
                delay = (t0 + i * interval - now_ns()) / 1e9
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.001:
                    late += 1
                sent = now_ns()
                item = {
                    "pk": {"S": f"{args.key_prefix}{i:08d}"},
                    "t": {"N": str(sent)},
                    "payload": {"S": PAYLOAD},
                }
                body = dumps({"TableName": args.table, "Item": item})
                try:
                    status, _ = await conn.request(build_request(prefix, body))
                except (OSError, asyncio.IncompleteReadError):
                    status = 0
                results[i] = [sent, now_ns(), status]
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(WRITER_CONNS)))
    elapsed = (now_ns() - t0) / 1e9
    print(json.dumps({"results": results, "late": late, "elapsed_s": elapsed}), flush=True)
    return 0


# ---------------------------------------------------------------------- latency


async def latency_mode(args: argparse.Namespace, cpu: CpuMeter) -> dict[str, Any]:
    host, port = split_endpoint(args.endpoint)
    client = AsyncClient(host, port)
    table = f"push_lat_{uuid.uuid4().hex[:8]}"
    try:
        await create_table(client, table)
    finally:
        client.close()
    ws = await ws_connect(args.endpoint, args.compression)
    await subscribe(ws, table, "LATEST")
    received: dict[str, int] = {}  # key -> receipt ns
    sent_at: dict[str, int] = {}

    async def receive() -> None:
        async for text in ws:
            arrived = now_ns()
            if text.startswith(RECORD_PREFIX):
                key, sent = record_fields(text)
                received[key] = arrived
                sent_at[key] = sent

    receiver = asyncio.create_task(receive())
    total_s = args.warmup + args.duration
    log(f"latency: {args.rate:.0f} PutItems/s for {total_s:.0f} s from a writer process")
    a = cpu.sample()
    writer = await spawn_writer(args, table, args.rate, total_s, "lat-")
    cpu.watch(writer.pid)
    out, _ = await writer.communicate()
    b = cpu.sample()
    report = json.loads(out)
    acked = {
        f"lat-{i:08d}": (s, ack)
        for i, (s, ack, status) in enumerate(report["results"])
        if status == 200
    }
    deadline = time.monotonic() + 10
    while len(received.keys() & acked.keys()) < len(acked) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    receiver.cancel()
    await ws.close()
    start = min(s for s, _ in acked.values()) + int(args.warmup * 1e9) if acked else 0
    measured = [k for k, (s, _) in acked.items() if s >= start]
    to_send = [received[k] - sent_at[k] for k in measured if k in received]
    to_ack = [received[k] - acked[k][1] for k in measured if k in received]
    result: dict[str, Any] = {
        "bench": "push",
        "mode": "latency",
        "label": args.label,
        "rate": args.rate,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "writes_sent": len(report["results"]),
        "writes_failed": len(report["results"]) - len(acked),
        "writes_late": report["late"],
        "achieved_rate": round(len(report["results"]) / report["elapsed_s"], 1),
        "measured": len(to_send),
        "missing": len(acked.keys() - received.keys()),
        **latency_fields(to_send),
        **latency_fields(to_ack, "ack_"),
        "target_p99_ms": 10.0,
        "compression": args.compression,
        **CpuMeter.fields(a, b),
        "endpoint": args.endpoint,
    }
    result["target_met"] = result["p99_ms"] <= 10.0 and result["missing"] == 0
    return result


# ----------------------------------------------------------- fan-out (subscribers)


async def subscribers_role(args: argparse.Namespace) -> int:
    """A group of --count subscribers, driven by lines on stdin:
    prints ``connected``; waits for ``go``; subscribes all from TRIM_HORIZON; prints
    ``caught-up {json}`` once each has --records records; waits for ``live N``; prints
    ``live {json}`` with send → receipt latencies once each has N more (or after 30 s)."""
    conns = [await ws_connect(args.endpoint, args.compression) for _ in range(args.count)]
    print("connected", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    backlog = args.records
    caught_up: list[int] = []
    live_latencies: list[int] = []
    live_counts = [0] * len(conns)
    live_expected: int | None = None
    first_live = [0]
    last_live = [0]

    async def consume(n: int, ws: ClientConnection) -> None:
        got = 0
        async for text in ws:
            if not text.startswith(RECORD_PREFIX):
                continue
            if got < backlog:
                got += 1
                if got == backlog:
                    caught_up.append(now_ns())
                continue
            arrived = now_ns()
            _, sent = record_fields(text)
            live_latencies.append(arrived - sent)
            first_live[0] = first_live[0] or arrived
            last_live[0] = max(last_live[0], arrived)
            live_counts[n] += 1
            if live_expected is not None and live_counts[n] >= live_expected:
                return

    started = now_ns()
    await asyncio.gather(
        *(
            ws.send(
                json.dumps(
                    {"action": "subscribe", "id": "s", "table": args.table, "from": "TRIM_HORIZON"}
                )
            )
            for ws in conns
        )
    )
    tasks = [asyncio.create_task(consume(n, ws)) for n, ws in enumerate(conns)]
    while len(caught_up) < len(conns):
        await asyncio.sleep(0.01)
    print("caught-up " + json.dumps({"start_ns": started, "done_ns": max(caught_up)}), flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    live_expected = int(line.split()[1])
    deadline = time.monotonic() + 30
    while not all(c >= live_expected for c in live_counts) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    print(
        "live "
        + json.dumps(
            {
                "latencies": live_latencies,
                "received": sum(live_counts),
                "first_ns": first_live[0],
                "last_ns": last_live[0],
            }
        ),
        flush=True,
    )
    return 0


async def read_tagged(proc: asyncio.subprocess.Process, tag: str) -> str:
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise SystemExit(f"subscriber process ended before {tag!r}")
        if line.startswith(tag):
            return line[len(tag) :].strip()


async def fanout_mode(args: argparse.Namespace, cpu: CpuMeter) -> dict[str, Any]:
    host, port = split_endpoint(args.endpoint)
    client = AsyncClient(host, port)
    table = f"push_fan_{uuid.uuid4().hex[:8]}"
    try:
        await create_table(client, table)
    finally:
        client.close()
    log(f"fanout: preloading {args.records} records")
    await preload(host, port, table, args.records)
    procs: list[asyncio.subprocess.Process] = []
    per_proc = [
        args.subscribers // args.client_procs
        + (1 if i < args.subscribers % args.client_procs else 0)
        for i in range(args.client_procs)
    ]
    for count in per_proc:
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                os.path.abspath(__file__),
                "--role",
                "subscribers",
                "--endpoint",
                args.endpoint,
                "--table",
                table,
                "--count",
                str(count),
                "--records",
                str(args.records),
                "--compression",
                args.compression,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 28,  # the final line lists every live latency
            )
        )
    for proc in procs:
        cpu.watch(proc.pid)
        await read_tagged(proc, "connected")
    log(f"fanout: {args.subscribers} subscribers connected; catching up")
    a = cpu.sample()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    caught = [json.loads(await read_tagged(proc, "caught-up ")) for proc in procs]
    b = cpu.sample()
    catchup_s = (max(c["done_ns"] for c in caught) - min(c["start_ns"] for c in caught)) / 1e9
    delivered = args.subscribers * args.records

    log(f"fanout: live, {args.fanout_rate:.0f} PutItems/s for {args.fanout_duration:.0f} s")
    c = cpu.sample()
    writer = await spawn_writer(args, table, args.fanout_rate, args.fanout_duration, "live-")
    cpu.watch(writer.pid)
    out, _ = await writer.communicate()
    report = json.loads(out)
    acked = sum(1 for _, _, status in report["results"] if status == 200)
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"live {acked}\n".encode())
        await proc.stdin.drain()
    lives = [json.loads(await read_tagged(proc, "live ")) for proc in procs]
    d = cpu.sample()
    for proc in procs:
        await proc.wait()
    latencies = [x for live in lives for x in live["latencies"]]
    live_received = sum(live["received"] for live in lives)
    first = min(s for s, _, status in report["results"] if status == 200)
    last = max(live["last_ns"] for live in lives)
    live_s = (last - first) / 1e9 if last > first else 0.0
    catchup_cpu = CpuMeter.fields(a, b)
    live_cpu = CpuMeter.fields(c, d)
    return {
        "bench": "push",
        "mode": "fanout",
        "label": args.label,
        "subscribers": args.subscribers,
        "client_procs": args.client_procs,
        "records": args.records,
        "catchup_s": round(catchup_s, 3),
        "catchup_records_per_s": round(delivered / catchup_s, 1),
        **{f"catchup_{k}": v for k, v in catchup_cpu.items()},
        "live_rate": args.fanout_rate,
        "live_writes": acked,
        "live_expected": acked * args.subscribers,
        "live_received": live_received,
        "live_delivered_per_s": round(live_received / live_s, 1) if live_s else 0.0,
        **{f"live_{k}": v for k, v in latency_fields(latencies).items()},
        **{f"live_{k}": v for k, v in live_cpu.items()},
        "compression": args.compression,
        "endpoint": args.endpoint,
    }


# ------------------------------------------------------------------------- main


async def amain(args: argparse.Namespace) -> int:
    if args.role == "writer":
        return await writer_role(args)
    if args.role == "subscribers":
        return await subscribers_role(args)
    cpu = CpuMeter(args.server_pid)
    ok = True
    if args.mode in ("latency", "all"):
        result = await latency_mode(args, cpu)
        ok = ok and result["missing"] == 0
        print(json.dumps(result), flush=True)
    if args.mode in ("fanout", "all"):
        result = await fanout_mode(args, cpu)
        ok = ok and result["live_received"] == result["live_expected"]
        print(json.dumps(result), flush=True)
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--endpoint", default="http://127.0.0.1:8000")
    ap.add_argument("--mode", choices=("latency", "fanout", "all"), default="all")
    ap.add_argument("--rate", type=float, default=1000.0, help="latency: PutItems per second")
    ap.add_argument("--duration", type=float, default=10.0, help="latency: measured seconds")
    ap.add_argument("--warmup", type=float, default=2.0, help="latency: unmeasured seconds first")
    ap.add_argument("--subscribers", type=int, default=100, help="fanout: websocket subscribers")
    ap.add_argument("--records", type=int, default=2000, help="fanout: records to catch up on")
    ap.add_argument("--fanout-rate", type=float, default=100.0, help="fanout: live PutItems/s")
    ap.add_argument("--fanout-duration", type=float, default=5.0, help="fanout: live seconds")
    ap.add_argument("--client-procs", type=int, default=1, help="fanout: subscriber processes")
    ap.add_argument("--compression", choices=("deflate", "none"), default="deflate")
    ap.add_argument("--server-pid", type=int, default=0, help="report the server's CPU use")
    ap.add_argument("--label", default="")
    ap.add_argument("--no-uvloop", action="store_true")
    # internal: the writer and subscriber-group processes
    ap.add_argument(
        "--role", choices=("main", "writer", "subscribers"), default="main", help=argparse.SUPPRESS
    )
    ap.add_argument("--table", default="", help=argparse.SUPPRESS)
    ap.add_argument("--key-prefix", default="k", help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.label = args.label or args.endpoint
    if args.client_procs < 1 or args.subscribers < args.client_procs:
        ap.error("--client-procs must be between 1 and --subscribers")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runner: Any = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            log("uvloop not importable; using the default asyncio loop")
    return int(runner(amain(args)))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
