"""Durable state of the event source mappings: configurations, checkpoints, dead letters.

Everything is written through the Writer (one write connection) as quiet jobs — a
checkpoint commit does not wake readers of the change log — and read on the
point-read connection. A checkpoint is only stored while its mapping exists, so a
poller finishing a batch after DeleteEventSourceMapping cannot resurrect it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.shards.positions import Checkpoint as Checkpoint


def _row(uuid: str, cp: Checkpoint) -> tuple[Any, ...]:
    """A checkpoint as the values of a trigger_checkpoints row."""
    window = None if cp.window is None else orjson.dumps(cp.window)
    return (uuid, cp.shard_id, cp.lane, cp.position, int(cp.finished), window)


class TriggerStore:
    """Reads and writes the trigger tables of the database."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx

    async def _write(self, apply: Callable[[sqlite3.Connection], None]) -> None:
        await self._ctx.writer.change_schema(apply, notify=False)

    # ---------------------------------------------------------------- mappings

    def load_mappings(self) -> list[dict[str, Any]]:
        """Every stored mapping configuration, oldest first."""
        rows = self._ctx.store.point_conn.execute(
            "SELECT config FROM trigger_mappings ORDER BY rowid"
        ).fetchall()
        return [orjson.loads(row[0]) for row in rows]

    async def put_mapping(self, uuid: str, config: dict[str, Any]) -> None:
        body = orjson.dumps(config)

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO trigger_mappings (uuid, config) VALUES (?, ?) "
                "ON CONFLICT (uuid) DO UPDATE SET config = excluded.config",
                (uuid, body),
            )

        await self._write(apply)

    async def delete_mapping(self, uuid: str) -> None:
        """Forget the mapping and its checkpoints (its dead letters stay readable)."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM trigger_mappings WHERE uuid = ?", (uuid,))
            conn.execute("DELETE FROM trigger_checkpoints WHERE uuid = ?", (uuid,))

        await self._write(apply)

    # ------------------------------------------------------------- checkpoints

    def checkpoints(self, uuid: str) -> list[Checkpoint]:
        rows = self._ctx.store.point_conn.execute(
            "SELECT shard_id, lane, position, finished, window FROM trigger_checkpoints "
            "WHERE uuid = ?",
            (uuid,),
        ).fetchall()
        return [
            Checkpoint(shard, lane, position, bool(done), None if w is None else orjson.loads(w))
            for shard, lane, position, done, w in rows
        ]

    async def save_checkpoints(self, uuid: str, checkpoints: list[Checkpoint]) -> None:
        """Store ``checkpoints`` (replacing those of the same shard and lane) if the
        mapping still exists."""
        rows = [(*_row(uuid, cp), uuid) for cp in checkpoints]

        def apply(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO trigger_checkpoints "
                "(uuid, shard_id, lane, position, finished, window) "
                "SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS "
                "(SELECT 1 FROM trigger_mappings WHERE uuid = ?)",
                rows,
            )

        await self._write(apply)

    async def replace_checkpoints(self, uuid: str, checkpoints: list[Checkpoint]) -> None:
        """Drop every checkpoint of the mapping and store ``checkpoints`` instead."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM trigger_checkpoints WHERE uuid = ?", (uuid,))
            conn.executemany(
                "INSERT INTO trigger_checkpoints (uuid, shard_id, lane, position, finished, window) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [_row(uuid, cp) for cp in checkpoints],
            )

        await self._write(apply)

    # ------------------------------------------------------------ dead letters

    async def add_dead_letter(self, uuid: str, body: dict[str, Any]) -> None:
        data = orjson.dumps(body)
        now = self._ctx.clock.now()

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO trigger_dead_letters (uuid, created, body) VALUES (?, ?, ?)",
                (uuid, now, data),
            )

        await self._write(apply)

    def dead_letters(
        self, uuid: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, str, float, dict[str, Any]]]:
        """(id, mapping UUID, created, failure record) in the order they were logged."""
        sql = "SELECT id, uuid, created, body FROM trigger_dead_letters WHERE id > ?"
        params: list[Any] = [after]
        if uuid is not None:
            sql += " AND uuid = ?"
            params.append(uuid)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        rows = self._ctx.store.point_conn.execute(sql, params).fetchall()
        return [(i, u, c, orjson.loads(b)) for i, u, c, b in rows]
