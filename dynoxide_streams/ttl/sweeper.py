"""The TTL sweeper: deletes expired items through the Writer, as the service.

An item expires when its table has TTL enabled and its TTL attribute is a top-level
Number (epoch seconds, decimals allowed) at or before now — and not more than five
years before now, which AWS never deletes. Candidates come from ``ttl_index`` (cost
O(expired items), never a table scan), read ``WINDOW`` at a time, and are deleted in
batches of ``BATCH``, each its own Writer job, so a user write waits behind at most one
small batch. Each delete re-checks the item inside the write transaction: an item
a user changed or deleted meanwhile is left alone, so a user write racing the sweep
never loses. Deletes carry ``service=True``, so their stream records get the
service ``userIdentity``; they use no capacity and have no conditions. A sweep that
deleted something logs ``ttl sweep`` (table, deleted) per table, after the deletes
committed.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.maintenance import repeat_until_shutdown, run_maintenance
from dynoxide_streams.engine.tables import StorageKey, TableInfo
from dynoxide_streams.engine.values import Item
from dynoxide_streams.engine.writer import UNCHANGED, ItemBatch, ItemWrite, Outcome
from dynoxide_streams.errors import DynamoDBError, ServiceUnavailable
from dynoxide_streams.logs import oplog

BATCH = 64
WINDOW = 16 * BATCH
FIVE_YEARS_SECONDS = 5 * 365 * 86400


def _expired_keys(ctx: EngineContext, table: TableInfo, now: float) -> list[StorageKey]:
    """Up to ``WINDOW`` keys due by ``now``, earliest first."""
    rows: list[StorageKey] = ctx.store.point_conn.execute(
        "SELECT h, pk, sk FROM ttl_index WHERE tid = ? AND expires >= ? AND expires <= ? "
        "ORDER BY expires LIMIT ?",
        (table.tid, now - FIVE_YEARS_SECONDS, now, WINDOW),
    ).fetchall()
    return rows


async def sweep(ctx: EngineContext) -> int:
    """Delete every item expired by now; return how many were deleted.

    Pending upkeep runs first, so items of a table whose TTL was just enabled are
    indexed before the sweep looks for them.
    """
    await run_maintenance(ctx)
    total = 0
    now = ctx.clock.now()
    for table in list(ctx.store.tables.values()):
        if table.ttl_attribute is None:
            continue
        decide = _decider(table, now)
        swept = 0
        more = True
        while more:
            keys = _expired_keys(ctx, table, now)
            deleted = 0
            for start in range(0, len(keys), BATCH):
                writes = [
                    ItemWrite(table, key, decide, service=True)
                    for key in keys[start : start + BATCH]
                ]
                try:
                    await ctx.writer.submit(ItemBatch(writes))
                except DynamoDBError as exc:  # the table was deleted meanwhile, or shutdown
                    if isinstance(exc, ServiceUnavailable):
                        raise
                    more = False
                    break
                deleted += sum(1 for w in writes if w.old is not None and w.new is None)
            swept += deleted
            if len(keys) < WINDOW or deleted == 0:
                break
        if swept:  # after the deletions committed
            oplog.info("ttl sweep", table=table.name, deleted=swept)
        total += swept
    if total:
        ctx.metrics.ttl_expired.inc(total)
    return total


def _decider(table: TableInfo, now: float) -> Callable[[Item | None], Outcome]:
    """Delete the item only if it is still expired when the Writer gets to it."""

    def decide(old: Item | None) -> Outcome:
        if old is None:
            return None
        expiry = table.expiry_of(old)
        if expiry is None or not (now - FIVE_YEARS_SECONDS <= expiry <= now):
            return UNCHANGED  # a user changed it meanwhile: it lives on
        return None

    return decide


async def run_sweeper(ctx: EngineContext, period: float) -> None:
    """Sweep every ``period`` seconds of real time until the Writer shuts down (or the
    caller cancels)."""
    await anyio.sleep(period)
    await repeat_until_shutdown(
        lambda: sweep(ctx),
        lambda: anyio.sleep(period),
        lambda expired: None,  # sweep logs each table's deletions
    )
