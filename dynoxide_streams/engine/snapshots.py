"""Snapshots of the database, and restoring one table from one as ordinary writes.

A snapshot is a copy of ``data.db`` made with SQLite's online backup API
(``sqlite3.Connection.backup``) from a connection of its own, in a worker thread:
one read transaction (WAL: writers never wait), so the copy is one consistent
moment. It lands in ``snapshots/<name>.db`` beside the database (for an in-memory
database that is the throwaway directory in ``/dev/shm``, gone at exit). What a
snapshot is (name, time, reason) is written into the copy's own ``meta`` table.

Restore never copies the file back: that would rewind the change log, and with it
the streams' sequence numbers, trigger checkpoints and push cursors. Instead
:meth:`Snapshots.restore` compares one table of the snapshot with the live table,
key by key in storage order (a merge of two ordered, paged reads: bounded memory
whatever the table's size), and applies the difference through the Writer with
BatchWriteItem: each change gets its stream record, and sequence numbers only grow.
A table that no longer exists is created again from the snapshot's definition
(keys, indexes, stream, tags, TTL) first.

Automatic snapshots (``auto=True``, taken before ``delete_table`` and
``restore_snapshot``) are kept ``KEEP_AUTOMATIC`` at most; named ones until deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson

from dynoxide_streams.engine import batch_ops, ddl, messages, ttl_ops
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.operations import DYNAMODB_PREFIX
from dynoxide_streams.engine.shapes import validate_request
from dynoxide_streams.engine.store import items_after
from dynoxide_streams.errors import ResourceNotFoundException, ValidationException

FOLDER = "snapshots"
KEEP_AUTOMATIC = 10
PAGE_ROWS = 500
BATCH = 25
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")

StorageKey = tuple[int, bytes, bytes]
Row = tuple[StorageKey, bytes]


class _Pages:
    """One side's rows in storage-key order, read ``PAGE_ROWS`` at a time by ``fetch``
    (the rows after a key, or from the start with None), so memory stays at a page."""

    def __init__(self, fetch: Callable[[StorageKey | None], Awaitable[list[Row]]]) -> None:
        self._fetch = fetch
        self._rows: Iterator[Row] = iter(())
        self._after: StorageKey | None = None
        self._done = False

    async def next(self) -> Row | None:
        """The next row, or None after the last."""
        row = next(self._rows, None)
        if row is None and not self._done:
            page = await self._fetch(self._after)
            self._done = len(page) < PAGE_ROWS
            self._rows = iter(page)
            row = next(self._rows, None)
        if row is not None:
            self._after = row[0]
        return row


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    created: float
    reason: str
    auto: bool
    size: int
    tables: dict[str, int]  # table name -> item count

    def describe(self) -> dict[str, Any]:
        return {
            "SnapshotName": self.name,
            "Created": self.created,
            "Reason": self.reason,
            "Automatic": self.auto,
            "SizeBytes": self.size,
            "Tables": self.tables,
        }


def _read_info(path: Path) -> SnapshotInfo | None:
    """What a snapshot file says about itself (None: not a snapshot of ours)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'snapshot'").fetchone()
            tables = dict(conn.execute("SELECT name, item_count FROM tables ORDER BY name"))
    except sqlite3.Error:
        return None
    if row is None:
        return None
    meta = orjson.loads(row[0])
    return SnapshotInfo(
        path.stem, meta["created"], meta["reason"], meta["auto"], path.stat().st_size, tables
    )


class Snapshots:
    """The snapshots of one database (see the module docstring)."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self.folder = ctx.store.path.parent / FOLDER
        self._counter = 0
        self._creating = anyio.Lock()  # one backup at a time: names and pruning race-free

    def path_of(self, name: object) -> Path:
        """The file of snapshot ``name``; ValidationException for a name that cannot be one."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValidationException(messages.SNAPSHOT_NAME.format(name=repr(name)))
        return self.folder / f"{name}.db"

    def list(self) -> list[SnapshotInfo]:
        """Every snapshot, oldest first."""
        if not self.folder.is_dir():
            return []
        found = [_read_info(p) for p in self.folder.glob("*.db")]
        return sorted((s for s in found if s is not None), key=lambda s: (s.created, s.name))

    async def create(
        self,
        name: str | None = None,
        *,
        reason: str = "",
        auto: bool = False,
        protect: str | None = None,
    ) -> SnapshotInfo:
        """Copy the database now (online backup), then drop automatic snapshots
        beyond ``KEEP_AUTOMATIC`` (never ``protect``, the one about to be restored). Raises ValidationException for a bad or taken name."""
        created = self.ctx.clock.now()
        if name is None:
            self._counter += 1
            stamp = f"{created:.6f}".replace(".", "")
            name = f"{'auto' if auto else 'snap'}-{stamp}-{self._counter}"
        path = self.path_of(name)
        meta = orjson.dumps({"created": created, "reason": reason, "auto": auto})

        def backup_and_prune() -> SnapshotInfo:  # file work, off the event loop
            if path.exists():
                raise ValidationException(messages.SNAPSHOT_EXISTS.format(name=name))
            self.folder.mkdir(exist_ok=True)
            _backup(self.ctx.store.path, path, meta)
            if auto:
                automatic = [s for s in self.list() if s.auto and s.name != protect]
                for old in automatic[: max(0, len(automatic) - KEEP_AUTOMATIC)]:
                    self.path_of(old.name).unlink(missing_ok=True)
            info = _read_info(path)
            assert info is not None
            return info

        async with self._creating:
            return await anyio.to_thread.run_sync(backup_and_prune)

    def delete(self, name: str) -> None:
        path = self.path_of(name)
        if not path.exists():
            raise ResourceNotFoundException(messages.SNAPSHOT_NOT_FOUND.format(name=name))
        path.unlink()

    async def restore(self, name: str, table: str) -> dict[str, Any]:
        """Make live table ``table`` what it was in snapshot ``name``, by ordinary
        writes (see the module docstring); answers what was done."""
        path = self.path_of(name)
        if not path.exists():
            raise ResourceNotFoundException(messages.SNAPSHOT_NOT_FOUND.format(name=name))
        spec = await anyio.to_thread.run_sync(_snapshot_spec, path, table)
        if spec is None:
            raise ResourceNotFoundException(
                messages.SNAPSHOT_NO_TABLE.format(table=table, name=name)
            )
        snap_tid, snap_spec = spec
        created = False
        live = self.ctx.store.tables.get(table)
        if live is None:
            await self._create_like(table, snap_spec)
            created = True
            live = self.ctx.store.tables[table]
        elif live.spec["KeySchema"] != snap_spec["KeySchema"]:
            raise ValidationException(messages.SNAPSHOT_KEY_SCHEMA.format(table=table, name=name))
        put = deleted = 0
        pending: list[dict[str, Any]] = []

        async def flush() -> None:
            if pending:
                params = validate_request(
                    DYNAMODB_PREFIX, "BatchWriteItem", {"RequestItems": {table: list(pending)}}
                )
                await batch_ops.batch_write_item(self.ctx, params)
                pending.clear()

        key_names = [k["AttributeName"] for k in snap_spec["KeySchema"]]
        async for old, new in self._merge(path, snap_tid, live.tid):
            if old == new:
                continue
            if new is None:
                assert old is not None
                pending.append({"DeleteRequest": {"Key": {k: old[k] for k in key_names}}})
                deleted += 1
            else:
                pending.append({"PutRequest": {"Item": new}})
                put += 1
            if len(pending) >= BATCH:
                await flush()
        await flush()
        return {
            "TableName": table,
            "SnapshotName": name,
            "TableCreated": created,
            "ItemsPut": put,
            "ItemsDeleted": deleted,
        }

    async def _create_like(self, table: str, spec: dict[str, Any]) -> None:
        """Create ``table`` as the snapshot defined it (CreateTable, then TTL)."""
        params: dict[str, Any] = {
            "TableName": table,
            "KeySchema": spec["KeySchema"],
            "AttributeDefinitions": spec["AttributeDefinitions"],
        }
        billing = spec.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        params["BillingMode"] = billing

        def throughput(of: dict[str, Any]) -> dict[str, int]:
            given = of.get("ProvisionedThroughput", {})
            return {
                "ReadCapacityUnits": max(1, int(given.get("ReadCapacityUnits", 1))),
                "WriteCapacityUnits": max(1, int(given.get("WriteCapacityUnits", 1))),
            }

        if billing == "PROVISIONED":
            params["ProvisionedThroughput"] = throughput(spec)
        gsis = []
        for index in spec.get("GlobalSecondaryIndexes", ()):
            gsi = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
            if billing == "PROVISIONED":
                gsi["ProvisionedThroughput"] = throughput(index)
            gsis.append(gsi)
        if gsis:
            params["GlobalSecondaryIndexes"] = gsis
        lsis = [
            {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
            for index in spec.get("LocalSecondaryIndexes", ())
        ]
        if lsis:
            params["LocalSecondaryIndexes"] = lsis
        stream = spec.get("StreamSpecification")
        if stream and stream.get("StreamEnabled"):
            params["StreamSpecification"] = stream
        tags = spec.get("Tags") or {}
        if tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        await ddl.create_table(self.ctx, validate_request(DYNAMODB_PREFIX, "CreateTable", params))
        ttl = spec.get("TimeToLive")
        if ttl and ttl.get("Enabled"):
            update = {
                "TableName": table,
                "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ttl["AttributeName"]},
            }
            await ttl_ops.update_time_to_live(
                self.ctx, validate_request(DYNAMODB_PREFIX, "UpdateTimeToLive", update)
            )

    async def _merge(
        self, path: Path, snap_tid: int, live_tid: int
    ) -> AsyncIterator[tuple[Any, Any]]:
        """(live item, snapshot item) pairs by storage key, either None where the key
        is on one side only; read a page at a time from each side."""
        snap = _Pages(lambda after: anyio.to_thread.run_sync(_page_of_file, path, snap_tid, after))
        live = _Pages(lambda after: self.ctx.store.run_read(lambda c: _page(c, live_tid, after)))
        next_snap, next_live = snap.next, live.next

        snap_next, live_next = await next_snap(), await next_live()
        while snap_next is not None or live_next is not None:
            if live_next is None or (snap_next is not None and snap_next[0] < live_next[0]):
                assert snap_next is not None
                yield None, orjson.loads(snap_next[1])
                snap_next = await next_snap()
            elif snap_next is None or live_next[0] < snap_next[0]:
                yield orjson.loads(live_next[1]), None
                live_next = await next_live()
            else:
                yield orjson.loads(live_next[1]), orjson.loads(snap_next[1])
                snap_next, live_next = await next_snap(), await next_live()


def _backup(source: Path, target: Path, meta: bytes) -> None:
    """Online backup of ``source`` into ``target`` (written beside it, then renamed)."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(partial)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")
        dst.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('snapshot', ?)", (meta,))
        dst.commit()
    os.replace(partial, target)


def _snapshot_spec(path: Path, table: str) -> tuple[int, dict[str, Any]] | None:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT tid, spec FROM tables WHERE name = ?", (table,)).fetchone()
    return None if row is None else (row[0], orjson.loads(row[1]))


def _page(conn: sqlite3.Connection, tid: int, after: StorageKey | None) -> list[Row]:
    """Up to PAGE_ROWS (storage key, item JSON) of table ``tid`` after ``after``."""
    return [((h, pk, sk), item) for h, pk, sk, item in items_after(conn, tid, after, PAGE_ROWS)]


def _page_of_file(path: Path, tid: int, after: StorageKey | None) -> list[Row]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return _page(conn, tid, after)
