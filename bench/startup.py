#!/usr/bin/env python3
"""Cold start time and idle memory of a DynamoDB-compatible server command.

    python bench/startup.py --cmd "dynoxide-streams serve --port {port} --in-memory" \
        [--runs 5] [--label NAME] [--cmd ... --label ...]

Per run: pick a free loopback port, start the command (shlex-split, ``{port}``
substituted, no shell), and poll ``POST /`` ListTables every ~2 ms (connection
refused -> retry) until it answers 200: that is the cold start.  The CPU time the
process tree used up to then (user + system) is recorded too: it is far less
sensitive to other load on the machine than the wall-clock figure.  Then idle ~1 s
and read the RSS of the process tree (process + all children).  Stop it with
SIGTERM, SIGKILL after 5 s.

The first ``--warmup`` runs of each command are not recorded: a cold start is measured
with the bytecode caches written (PYTHONDONTWRITEBYTECODE in the environment would
make every run compile every module; give the commands PYTHONPYCACHEPREFIX then).
The commands inherit the current directory, and ``python -m`` puts it first on
``sys.path``: to compare two checkouts through PYTHONPATH, run this from a directory
holding neither (say /tmp), or both commands run the same code.

Several ``--cmd`` (each with its own ``--label``) run interleaved, A/B/A/B..., so
that a change of load on the machine hits them alike.  Prints one JSON line per
command to stdout, with the 1-minute load average before and after the runs.
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


def tree_cpu_ms(proc: psutil.Process) -> float:
    """User + system CPU time of ``proc`` and its children, in milliseconds."""
    total = 0.0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            times = p.cpu_times()
            total += times.user + times.system
    return total * 1000


def load1() -> float:
    return os.getloadavg()[0]


def one_run(
    cmd_template: str, timeout: float, idle: float, poll: float
) -> tuple[float, float, float]:
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
            cpu_ms = tree_cpu_ms(psutil.Process(popen.pid))
            time.sleep(idle)
            rss = tree_rss_mb(psutil.Process(popen.pid))
            log(
                f"  port {port}: cold start {cold_ms:.1f} ms ({attempts} polls), "
                f"CPU {cpu_ms:.0f} ms, idle RSS {rss:.1f} MB, load {load1():.2f}"
            )
            return cold_ms, cpu_ms, rss
        finally:
            stop(popen)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--cmd", required=True, action="append", help='command line; "{port}" is replaced'
    )
    ap.add_argument("--runs", type=int, default=5, help="runs of each command")
    ap.add_argument(
        "--label", action="append", default=None, help="name in the JSON output (default: --cmd)"
    )
    ap.add_argument("--timeout", type=float, default=60.0, help="max seconds to become ready")
    ap.add_argument("--idle", type=float, default=1.0, help="idle seconds before reading RSS")
    ap.add_argument("--poll", type=float, default=0.002, help="sleep between polls, seconds")
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="unrecorded runs of each command first (they write the bytecode caches)",
    )
    a = ap.parse_args(argv)
    for cmd in a.cmd:
        if "{port}" not in cmd:
            ap.error('--cmd must contain "{port}"')
    if a.runs < 1:
        ap.error("--runs must be >= 1")
    labels: list[str] = list(a.label or [])
    if len(labels) > len(a.cmd):
        ap.error("more --label than --cmd")
    labels += a.cmd[len(labels) :]
    load_before = load1()
    log(f"[startup] {a.runs} interleaved runs of {labels} (load {load_before:.2f})")
    for _ in range(a.warmup):
        for cmd in a.cmd:
            one_run(cmd, a.timeout, a.idle, a.poll)
    colds: list[list[float]] = [[] for _ in a.cmd]
    cpus: list[list[float]] = [[] for _ in a.cmd]
    rsss: list[list[float]] = [[] for _ in a.cmd]
    for _ in range(a.runs):
        for i, cmd in enumerate(a.cmd):
            cold, cpu, rss = one_run(cmd, a.timeout, a.idle, a.poll)
            colds[i].append(cold)
            cpus[i].append(cpu)
            rsss[i].append(rss)
    load_after = load1()
    for i, cmd in enumerate(a.cmd):
        out: dict[str, Any] = {
            "bench": "startup",
            "label": labels[i],
            "cold_start_ms_p50": round(statistics.median(colds[i]), 1),
            "cold_start_ms_min": round(min(colds[i]), 1),
            "cold_start_ms_max": round(max(colds[i]), 1),
            "cpu_to_ready_ms_p50": round(statistics.median(cpus[i])),
            "idle_rss_mb": round(statistics.median(rsss[i]), 1),
            "runs": a.runs,
            "cold_start_ms_all": [round(c, 1) for c in colds[i]],
            "cpu_to_ready_ms_all": [round(c) for c in cpus[i]],
            "idle_rss_mb_all": [round(r, 1) for r in rsss[i]],
            "load1_before": round(load_before, 2),
            "load1_after": round(load_after, 2),
            "cmd": cmd,
        }
        print(dumps(out).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
