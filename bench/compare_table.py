#!/usr/bin/env python3
"""The side-by-side Markdown table of bench/compare.sh, built from its JSON lines.

    python bench/compare_table.py results.jsonl --server dynoxide="Dynoxide 1.2.1" \\
        --server dynalite="dynalite 4.0.0" --server this="this server" --ours this \\
        [--no-streams dynalite]

Each figure is the median over the rounds of one server (the JSON ``label`` is the
server's key).  Throughput rows compare ours with the faster peer; the stream row
compares with the peers whose streams work; cold start and idle RSS are lower-is-better.
A second table gives the server's CPU per request (from ``server_cpu_pct``), which
depends less on what else the machine is doing than the wall-clock rates.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from typing import Any

STREAM_TABLE = "bench_stream"
TIMES, DASH = "\u00d7", "\u2013"  # the multiplication sign and the en dash
Row = tuple[str, Callable[[dict[str, Any]], bool], str, str]
# (workload, which JSON lines, value field, unit suffix of the first column)
ROWS: list[Row] = [
    ("GetItem", lambda r: r.get("op") == "GetItem", "ops_per_s", " ops/s"),
    (
        "PutItem",
        lambda r: r.get("op") == "PutItem" and r.get("table") != STREAM_TABLE,
        "ops_per_s",
        "",
    ),
    ("Query, 10 items, no Limit", lambda r: r.get("op") == "Query", "ops_per_s", ""),
    ("BatchWriteItem (items/s)", lambda r: r.get("op") == "BatchWriteItem", "items_per_s", ""),
    (
        "PutItem with a stream (NEW_AND_OLD_IMAGES)",
        lambda r: r.get("op") == "PutItem" and r.get("table") == STREAM_TABLE,
        "ops_per_s",
        "",
    ),
    (
        "GetRecords drain (records/s)",
        lambda r: r.get("bench") == "streams_drain",
        "records_per_s",
        "",
    ),
]
GOALS = {  # workload -> (minimum ratio to the best peer), from issue 19
    "GetItem": 1.2,
    "PutItem": 1.2,
    "Query, 10 items, no Limit": 1.2,
    "BatchWriteItem (items/s)": 1.5,
}


def median_of(lines: list[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in lines if isinstance(r.get(key), int | float)]
    return statistics.median(values) if values else None


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}{unit}"


def build(
    results: list[dict[str, Any]], servers: list[tuple[str, str]], ours: str, no_streams: set[str]
) -> str:
    peers = [key for key, _ in servers if key != ours]
    by_label: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_label.setdefault(str(r.get("label")), []).append(r)
    head = "| workload | " + " | ".join(name for _, name in servers)
    out = [head + " | ratio to the best peer | goal |", "|---" * (len(servers) + 3) + "|"]
    cpu = [
        "| server CPU per request (µs) | " + " | ".join(n for _, n in servers) + " |",
        "|---" * (len(servers) + 1) + "|",
    ]
    stream_put: dict[str, float | None] = {}
    for i, (workload, pick, field, unit) in enumerate(ROWS):
        values: dict[str, float | None] = {}
        cpu_us: dict[str, float | None] = {}
        streams_row = i >= 4
        for key, _ in servers:
            lines = [r for r in by_label.get(key, []) if pick(r) and "error" not in r]
            values[key] = median_of(lines, field)
            per_req = [
                float(r["server_cpu_pct"]) * 1e4 / float(r["ops_per_s"])
                for r in lines
                if r.get("server_cpu_pct") is not None and r.get("ops_per_s")
            ]
            cpu_us[key] = statistics.median(per_req) if per_req else None
        if i == 4:
            stream_put = values
        cells = []
        for key, _ in servers:
            if streams_row and key in no_streams:
                cells.append("(streams broken)" if i == 4 else "—")
            else:
                cells.append(fmt(values[key], unit if key == servers[0][0] else ""))
        live_peers = [p for p in peers if not (streams_row and p in no_streams)]
        peer_values = [(values[p], p) for p in live_peers if values[p] is not None]
        ratio, goal = "—", ""
        if values.get(ours) is not None and peer_values:
            best, best_key = max(peer_values, key=lambda t: t[0] or 0.0)
            ratio_value = (values[ours] or 0.0) / (best or 1.0)
            names = dict(servers)
            ratio = f"{ratio_value:.2f}{TIMES}" + (
                f" {names[best_key].split()[0]}" if len(peer_values) == 1 else ""
            )
            if ratio_value < 1:
                ratio = f"**{ratio}**"
            if workload in GOALS:
                goal = f"≥ {GOALS[workload]}{TIMES}: " + (
                    "met" if ratio_value >= GOALS[workload] else "**miss**"
                )
        if workload == "PutItem with a stream (NEW_AND_OLD_IMAGES)":
            plain = by_label.get(ours, [])
            off = median_of([r for r in plain if ROWS[1][1](r) and "error" not in r], "ops_per_s")
            on = stream_put.get(ours)
            if off and on:
                goal = f"within 15 % of stream-off: {'met' if on >= 0.85 * off else '**miss**'}"
                goal += f" ({on / off:.2f}{TIMES} of {off:,.0f})"
        out.append(f"| {workload} | " + " | ".join(cells) + f" | {ratio} | {goal} |")
        if i < 5:
            cpu.append(
                f"| {workload.replace('(items/s)', '(per 25-item request)')} | "
                + " | ".join(
                    "—" if streams_row and k in no_streams else fmt(cpu_us[k]) for k, _ in servers
                )
                + " |"
            )
    for label, field, unit, goal_value in (
        ("cold start to first ListTables", "cold_start_ms_p50", " ms", 120.0),
        ("idle RSS", "idle_rss_mb", " MB", 35.0),
    ):
        values = {}
        for key, _ in servers:
            lines = [r for r in by_label.get(key, []) if r.get("bench") == "startup"]
            values[key] = median_of(lines, field)
        cells = []
        for key, _ in servers:
            v = values[key]
            if v is None:
                cells.append("—")
            elif field == "cold_start_ms_p50":
                lo = min(float(x) for r in by_label[key] for x in r.get("cold_start_ms_all", [v]))
                hi = max(float(x) for r in by_label[key] for x in r.get("cold_start_ms_all", [v]))
                cells.append(f"{v:,.0f}{unit} ({lo:,.0f}{DASH}{hi:,.0f})")
            else:
                cells.append(f"{v:,.1f}{unit}")
        v = values.get(ours)
        goal = (
            f"≤ {goal_value:g}{unit}: " + ("met" if v <= goal_value else "**miss**")
            if v is not None
            else ""
        )
        out.append(f"| {label} | " + " | ".join(cells) + f" | — | {goal} |")
    return "\n".join(out) + "\n\n" + "\n".join(cpu) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("jsonl", help="the JSON lines of one compare.sh run")
    ap.add_argument("--server", action="append", default=[], help="KEY=column name, in order")
    ap.add_argument("--ours", required=True, help="the KEY of this server")
    ap.add_argument("--no-streams", action="append", default=[], help="KEY whose streams fail")
    a = ap.parse_args(argv)
    servers = [tuple(s.split("=", 1)) for s in a.server]
    if not servers or any(len(s) != 2 for s in servers):
        ap.error("give --server KEY=NAME at least once")
    results = []
    with open(a.jsonl, encoding="utf-8") as f:
        for line in f:
            if line.strip().startswith("{"):
                results.append(json.loads(line))
    sys.stdout.write(build(results, [(k, n) for k, n in servers], a.ours, set(a.no_streams)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
