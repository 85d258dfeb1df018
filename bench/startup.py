#!/usr/bin/env python3
"""Cold start time and idle memory of a DynamoDB-compatible server command.

    python bench/startup.py --cmd "dynoxide-streams serve --port {port} --in-memory" \
        [--runs 5] [--label NAME]

Per run: pick a free loopback port, start the command (shlex-split, ``{port}``
substituted, no shell), and poll ``POST /`` ListTables every ~2 ms (connection
refused -> retry) until it answers 200: that is the cold start.  Then idle ~1 s
and read the RSS of the process tree (process + all children).  Stop it with
SIGTERM, SIGKILL after 5 s.  Prints one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psutil
from dynproto import dumps, free_loopback_port, request_sync

HOST = "127.0.0.1"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / (1024 * 1024)


def stop(popen: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process and its children; SIGKILL whatever is left after ``grace``."""
    try:
        proc = psutil.Process(popen.pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        procs = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=grace)
    try:
        popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"warning: pid {popen.pid} did not exit")


def one_run(cmd_template: str, timeout: float, idle: float, poll: float) -> tuple[float, float]:
    port = free_loopback_port()
    argv = shlex.split(cmd_template.replace("{port}", str(port)))
    with tempfile.TemporaryFile() as errf:
        t0 = time.perf_counter()
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
        try:
            deadline = t0 + timeout
            attempts = 0
            while True:
                attempts += 1
                try:
                    status, _body = request_sync(HOST, port, "ListTables", {}, timeout=2.0)
                    if status == 200:
                        break
                except (OSError, ValueError):
                    pass
                if popen.poll() is not None:
                    errf.seek(0)
                    tail = errf.read()[-2000:].decode(errors="replace")
                    raise SystemExit(f"server exited with {popen.returncode}:\n{tail}")
                if time.perf_counter() > deadline:
                    raise SystemExit(f"no 200 from ListTables within {timeout}s")
                time.sleep(poll)
            cold_ms = (time.perf_counter() - t0) * 1000
            time.sleep(idle)
            rss = tree_rss_mb(psutil.Process(popen.pid))
            log(
                f"  port {port}: cold start {cold_ms:.1f} ms ({attempts} polls), idle RSS {rss:.1f} MB"
            )
            return cold_ms, rss
        finally:
            stop(popen)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cmd", required=True, help='command line; "{port}" is replaced')
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--label", default=None, help="name in the JSON output (default: --cmd)")
    ap.add_argument("--timeout", type=float, default=60.0, help="max seconds to become ready")
    ap.add_argument("--idle", type=float, default=1.0, help="idle seconds before reading RSS")
    ap.add_argument("--poll", type=float, default=0.002, help="sleep between polls, seconds")
    a = ap.parse_args(argv)
    if "{port}" not in a.cmd:
        ap.error('--cmd must contain "{port}"')
    if a.runs < 1:
        ap.error("--runs must be >= 1")
    label = a.label or a.cmd
    log(f"[startup] {label}: {a.runs} runs of {a.cmd!r}")
    colds: list[float] = []
    rsss: list[float] = []
    for _ in range(a.runs):
        cold, rss = one_run(a.cmd, a.timeout, a.idle, a.poll)
        colds.append(cold)
        rsss.append(rss)
    out: dict[str, Any] = {
        "bench": "startup",
        "label": label,
        "cold_start_ms_p50": round(statistics.median(colds), 1),
        "cold_start_ms_min": round(min(colds), 1),
        "cold_start_ms_max": round(max(colds), 1),
        "idle_rss_mb": round(statistics.median(rsss), 1),
        "runs": a.runs,
        "cold_start_ms_all": [round(c, 1) for c in colds],
        "idle_rss_mb_all": [round(r, 1) for r in rsss],
        "cmd": a.cmd,
    }
    print(dumps(out).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
