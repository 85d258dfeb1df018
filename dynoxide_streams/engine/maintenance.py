"""Background upkeep through the Writer, in bounded chunks.

* purge the rows (items and index entries) of deleted tables and indexes;
* backfill a GSI created by UpdateTable from the table's existing items, then mark it
  ACTIVE;
* index the TTL values of existing items when Time to Live is enabled;
* trim stream records past their retention, and streams whose retention ended.

Each chunk is one short :class:`SchemaChange`, so user writes interleave with the
work and never wait behind one huge transaction.

A backfill is an operator event (``logs.oplog``), logged after its chunk commits:
``index backfill started`` at the first chunk this process runs, ``index backfill
progress`` when at least :data:`PROGRESS_SECONDS` of the engine's clock have passed
since the last line, ``index backfill finished`` with the last chunk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.store import items_after
from dynoxide_streams.engine.tables import IndexInfo, TableInfo
from dynoxide_streams.engine.values import item_size
from dynoxide_streams.engine.writer import SchemaChange
from dynoxide_streams.errors import DiskFull, ServiceUnavailable
from dynoxide_streams.logs import oplog

CHUNK = 2000
PROGRESS_SECONDS = 5.0


def _nothing() -> None:
    return None


async def repeat_until_shutdown(
    work: Callable[[], Awaitable[int]],
    pause: Callable[[], Awaitable[object]],
    report: Callable[[int], object],
) -> None:
    """Run ``work``, then ``pause``, over and over until the Writer shuts down.

    ``work`` returns how many rows it changed; a non-zero count is passed to ``report``.
    Returns when ``work`` raises :class:`ServiceUnavailable` (the Writer is shutting
    down). :class:`DiskFull` counts as nothing done: the Writer has logged the episode,
    and the next round tries again. Any other exception propagates.
    """
    while True:
        try:
            count = await work()
        except ServiceUnavailable:
            return
        except DiskFull:
            count = 0
        if count:
            report(count)
        await pause()


async def run_maintenance(ctx: EngineContext) -> int:
    """Do all pending upkeep; return the number of rows touched."""
    total = 0
    while True:
        job: SchemaChange[int] = SchemaChange(lambda conn: _step(ctx, conn))
        await ctx.writer.submit(job)
        assert job.result is not None
        if job.result < 0:
            return total
        total += job.result


def _step(ctx: EngineContext, conn: sqlite3.Connection) -> tuple[int, Callable[[], None]]:
    """One chunk of the first pending task; -1 when nothing is pending."""
    row = conn.execute("SELECT tid FROM dropped_tables LIMIT 1").fetchone()
    if row is not None:
        return _purge(conn, row[0], None), _nothing
    row = conn.execute("SELECT tid, iid FROM dropped_indexes LIMIT 1").fetchone()
    if row is not None:
        return _purge(conn, row[0], row[1]), _nothing
    for table in list(ctx.store.tables.values()):
        for index in table.indexes.values():
            if index.status == "CREATING":
                return _backfill(ctx, conn, table, index)
    row = conn.execute("SELECT tid, h, pk, sk FROM ttl_backfill LIMIT 1").fetchone()
    if row is not None:
        return _ttl_backfill(ctx, conn, row[0], row[1:])
    trimmed = ctx.streams.trim_step(conn)
    if trimmed is not None:
        return trimmed
    ctx.backfills.clear()  # nothing pending: forget backfills whose table went away
    return -1, _nothing


def _purge(conn: sqlite3.Connection, tid: int, iid: int | None) -> int:
    if iid is None:
        deleted = conn.execute(
            "DELETE FROM items WHERE tid = ? AND (h, pk, sk) IN "
            "(SELECT h, pk, sk FROM items WHERE tid = ? LIMIT ?)",
            (tid, tid, CHUNK),
        ).rowcount
        deleted += conn.execute(
            "DELETE FROM index_items WHERE tid = ? AND (iid, ih, ipk, isk, pk, sk) IN "
            "(SELECT iid, ih, ipk, isk, pk, sk FROM index_items WHERE tid = ? LIMIT ?)",
            (tid, tid, CHUNK),
        ).rowcount
        deleted += conn.execute(
            "DELETE FROM ttl_index WHERE tid = ? AND (expires, h, pk, sk) IN "
            "(SELECT expires, h, pk, sk FROM ttl_index WHERE tid = ? LIMIT ?)",
            (tid, tid, CHUNK),
        ).rowcount
        if deleted == 0:
            conn.execute("DELETE FROM dropped_tables WHERE tid = ?", (tid,))
        return deleted
    deleted = conn.execute(
        "DELETE FROM index_items WHERE tid = ? AND iid = ? AND (ih, ipk, isk, pk, sk) IN "
        "(SELECT ih, ipk, isk, pk, sk FROM index_items WHERE tid = ? AND iid = ? LIMIT ?)",
        (tid, iid, tid, iid, CHUNK),
    ).rowcount
    if deleted == 0:
        conn.execute("DELETE FROM dropped_indexes WHERE tid = ? AND iid = ?", (tid, iid))
    return deleted


def _backfill(
    ctx: EngineContext, conn: sqlite3.Connection, table: TableInfo, index: IndexInfo
) -> tuple[int, Callable[[], None]]:
    """Index the next chunk of existing items; mark the index ACTIVE when done.

    Items written meanwhile are indexed by the Writer itself (the index is in the
    catalog from its creation), so rows already present are left as they are.
    """
    cursor = conn.execute(
        "SELECT backfill_h, backfill_pk, backfill_sk FROM index_stats WHERE tid = ? AND iid = ?",
        (table.tid, index.iid),
    ).fetchone()
    after = None if cursor is None or cursor[0] is None else cursor
    rows = items_after(conn, table.tid, after, CHUNK)
    added = added_size = 0
    for _, pk, sk, raw in rows:
        item = orjson.loads(raw)
        key = index.entry_key(item)
        if key is None:
            continue
        projected = index.project(item)
        size = item_size(projected)
        inserted = conn.execute(
            "INSERT OR IGNORE INTO index_items (tid, iid, ih, ipk, isk, pk, sk, size, item) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (table.tid, index.iid, *key, pk, sk, size, orjson.dumps(projected)),
        ).rowcount
        if inserted:
            added += 1
            added_size += size
    last = rows[-1][:3] if rows else (None, None, None)
    conn.execute(
        "UPDATE index_stats SET item_count = item_count + ?, size_bytes = size_bytes + ?, "
        "backfill_h = ?, backfill_pk = ?, backfill_sk = ? WHERE tid = ? AND iid = ?",
        (added, added_size, *last, table.tid, index.iid),
    )
    finished = len(rows) < CHUNK
    spec = table.spec
    if finished:
        spec = {**table.spec}
        spec["GlobalSecondaryIndexes"] = [
            {**ix, "IndexStatus": "ACTIVE"} if ix["IndexId"] == index.iid else ix
            for ix in table.spec["GlobalSecondaryIndexes"]
        ]
        conn.execute("UPDATE tables SET spec = ? WHERE tid = ?", (orjson.dumps(spec), table.tid))

    def publish() -> None:
        index.item_count += added
        index.size_bytes += added_size
        if finished:
            table.spec = spec
            table.load_indexes({})
        _log_backfill(ctx, table, index, len(rows), finished)

    return max(len(rows), 1), publish


def _log_backfill(
    ctx: EngineContext, table: TableInfo, index: IndexInfo, scanned: int, finished: bool
) -> None:
    """The operator events of a committed backfill chunk (see the module docstring)."""
    key = (table.tid, index.iid)
    now = ctx.clock.now()

    def event(name: str, **fields: Any) -> None:
        oplog.info(f"index backfill {name}", table=table.name, index=index.name, **fields)

    if key not in ctx.backfills:
        event("started", items=table.item_count)
        ctx.backfills[key] = (now, 0)
    logged_at, total = ctx.backfills[key]
    total += scanned
    if finished:
        del ctx.backfills[key]
        event("finished", scanned=total, indexed=index.item_count)
    elif now - logged_at >= PROGRESS_SECONDS:
        ctx.backfills[key] = (now, total)
        event("progress", scanned=total, items=table.item_count)
    else:
        ctx.backfills[key] = (logged_at, total)


def _ttl_backfill(
    ctx: EngineContext, conn: sqlite3.Connection, tid: int, cursor: tuple[Any, ...]
) -> tuple[int, Callable[[], None]]:
    """Index the TTL value of the next chunk of a table's existing items."""
    table = next((t for t in ctx.store.tables.values() if t.tid == tid), None)
    if table is None or table.ttl_attribute is None:
        conn.execute("DELETE FROM ttl_backfill WHERE tid = ?", (tid,))
        return 1, _nothing
    rows = items_after(conn, tid, None if cursor[0] is None else cursor, CHUNK)
    entries = []
    for h, pk, sk, raw in rows:
        expires = table.expiry_of(orjson.loads(raw))
        if expires is not None:
            entries.append((tid, expires, h, pk, sk))
    conn.executemany(
        "INSERT OR IGNORE INTO ttl_index (tid, expires, h, pk, sk) VALUES (?,?,?,?,?)", entries
    )
    if len(rows) < CHUNK:
        conn.execute("DELETE FROM ttl_backfill WHERE tid = ?", (tid,))
    else:
        conn.execute(
            "UPDATE ttl_backfill SET h = ?, pk = ?, sk = ? WHERE tid = ?", (*rows[-1][:3], tid)
        )
    return max(len(rows), 1), _nothing
