"""The in-tab engine in Chromium: transferred size and time to the first PutItem.

    PYTHONPATH=. python bench/browser.py [--puts 200]

Builds ``dist/browser/`` (as ``make browser``), serves it with gzip and
``Cache-Control: max-age`` from a loopback static server with no COOP/COEP headers, and
in Debian's Chromium (Playwright) measures, for a cold load (empty HTTP cache, empty
OPFS) and a warm one (second load: HTTP cache, the database already in OPFS):

- bytes the server sent (gzip-compressed bodies) for that load;
- ms from calling ``openDatabase`` to the first acknowledged PutItem (cold: the table
  is created first, inside the timing), with the worker's own start-up share;
- per-PutItem latency (median, p95) over ``--puts`` sequential writes, OPFS vs memory;
- the alternative persistence: Pyodide's ``mountNativeFS`` over an OPFS directory,
  ``syncfs()`` after each commit (what the issue proposes), on the same SQLite work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright

from tests.browser.bundle_server import BundleServer, ensure_bundle
from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS

FIRST_PUT_JS = """async () => {
  const t0 = performance.now();
  const mod = await import("/bundle/dynoxide-streams.mjs");
  const db = await mod.openDatabase({name: "bench"});
  const opened = performance.now();
  try { await db.send("DescribeTable", {TableName: "bench"}); }
  catch (e) {
    await db.send("CreateTable", {TableName: "bench",
      KeySchema: [{AttributeName: "pk", KeyType: "HASH"}],
      AttributeDefinitions: [{AttributeName: "pk", AttributeType: "S"}],
      BillingMode: "PAY_PER_REQUEST",
      StreamSpecification: {StreamEnabled: true, StreamViewType: "NEW_IMAGE"}});
  }
  await db.send("PutItem", {TableName: "bench", Item: {pk: {S: "first-" + Date.now()}}});
  const done = performance.now();
  window.db = db;
  return {first_put_ms: done - t0, open_ms: opened - t0, worker_startup_ms: db.startupMs,
          worker_phases_ms: db.startupPhases,
          persistence: db.persistence};
}"""

PUTS_JS = """async ({count, memory}) => {
  let db = window.db;
  if (memory) {
    const mod = await import("/bundle/dynoxide-streams.mjs");
    db = await mod.openDatabase({name: "bench-memory", memory: true});
    await db.send("CreateTable", {TableName: "bench",
      KeySchema: [{AttributeName: "pk", KeyType: "HASH"}],
      AttributeDefinitions: [{AttributeName: "pk", AttributeType: "S"}],
      BillingMode: "PAY_PER_REQUEST",
      StreamSpecification: {StreamEnabled: true, StreamViewType: "NEW_IMAGE"}});
  }
  const times = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await db.send("PutItem", {TableName: "bench",
      Item: {pk: {S: "k" + i + "-" + Math.random()}, body: {S: "x".repeat(200)}}});
    times.push(performance.now() - t);
  }
  return times;
}"""

NATIVE_FS_WORKER = """
import { loadPyodide } from "/bundle/pyodide/pyodide.mjs";
onmessage = async ({data: {count, preload}}) => {
  const py = await loadPyodide({indexURL: "/bundle/pyodide/"});
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle("bench-nativefs", {create: true});
  const native = await py.mountNativeFS("/native", dir);
  py.runPython(`
import sqlite3
conn = sqlite3.connect("/native/data.db", isolation_level=None)
conn.execute("PRAGMA journal_mode=DELETE")
conn.execute("CREATE TABLE IF NOT EXISTS items (pk TEXT PRIMARY KEY, body TEXT)")
conn.execute("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, record TEXT)")
def preload(n):
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT OR REPLACE INTO items VALUES (?, ?)",
                     ((f"pre{i}", "x" * 500) for i in range(n)))
    conn.execute("COMMIT")
def put(i):
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT OR REPLACE INTO items VALUES (?, ?)", (f"k{i}", "x" * 200))
    conn.execute("INSERT INTO log (record) VALUES (?)", ("r" * 300,))
    conn.execute("COMMIT")
`);
  const put = py.globals.get("put");
  py.globals.get("preload")(preload);
  await native.syncfs();
  const times = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    put(i);
    await native.syncfs();
    times.push(performance.now() - t);
  }
  postMessage(times);
};
"""

NATIVE_FS_JS = """async ({count, source, preload}) => {
  const url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));
  // a blob worker cannot import relative URLs: rewrite them to this origin
  const worker = new Worker(url, {type: "module"});
  return await new Promise((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage({count, preload});
  });
}"""


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--puts", type=int, default=200)
    args = parser.parse_args()
    bundle = ensure_bundle()
    files = {
        str(p.relative_to(bundle)): p.stat().st_size
        for p in sorted(bundle.rglob("*"))
        if p.is_file()
    }
    server = BundleServer()
    results: dict[str, Any] = {"bundle_bytes_on_disk": files}
    try:
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
            for load in ("cold", "warm"):
                page = context.new_page()
                page.set_default_timeout(120_000)
                sent = server.sent
                page.goto(server.origin + "/")
                started = time.perf_counter()
                first = page.evaluate(FIRST_PUT_JS)
                first["wall_ms"] = round((time.perf_counter() - started) * 1000)
                first["transferred_bytes_gzip"] = server.sent - sent
                first["first_put_ms"] = round(first["first_put_ms"])
                first["open_ms"] = round(first["open_ms"])
                results[load] = first
                if load == "warm":
                    results["put_opfs"] = _stats(
                        page.evaluate(PUTS_JS, {"count": args.puts, "memory": False})
                    )
                    results["put_memory"] = _stats(
                        page.evaluate(PUTS_JS, {"count": args.puts, "memory": True})
                    )
                    source = NATIVE_FS_WORKER.replace('"/bundle/', f'"{server.origin}/bundle/')
                    for rows in (0, 20_000):  # an empty database, then ~10 MB
                        key = f"put_nativefs_syncfs_preload_{rows}_rows"
                        arg = {"count": args.puts, "source": source, "preload": rows}
                        try:
                            results[key] = _stats(page.evaluate(NATIVE_FS_JS, arg))
                        except Exception as exc:  # reported, not hidden
                            results[key] = f"failed: {exc}"[:300]
                    grown = page.evaluate(PUTS_JS, {"count": 20_000 // 50, "memory": False})
                    results["put_opfs_after_growth"] = _stats(grown)
                page.evaluate("window.db && window.db.close()")
                page.close()
            context.close()
    finally:
        server.close()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
