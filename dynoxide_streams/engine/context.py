"""What every operation needs: the store, the writer, the clock and the identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import anyio

from dynoxide_streams.clock import Clock
from dynoxide_streams.engine.change_log import StreamLog
from dynoxide_streams.engine.store import Store
from dynoxide_streams.engine.tables import TableInfo, resolve_table_name
from dynoxide_streams.engine.tokens import TokenCache
from dynoxide_streams.engine.writer import Writer
from dynoxide_streams.errors import resource_not_found, table_not_found
from dynoxide_streams.metrics import Metrics


class LogOptions(TypedDict, total=False):
    """How long the change log keeps records and when it closes a shard
    (:class:`StreamLog`'s keyword arguments; its defaults where absent)."""

    retention_seconds: float
    rotation_seconds: float | None
    rotation_records: int | None


@dataclass
class EngineContext:
    """Shared state of the engine's operations (one per running server)."""

    store: Store
    writer: Writer
    clock: Clock
    streams: StreamLog
    region: str = "us-east-1"
    account_id: str = "000000000000"
    strict_ttl_limits: bool = False
    maintenance_due: anyio.Event = field(default_factory=anyio.Event)
    tokens: TokenCache = field(default_factory=TokenCache)
    metrics: Metrics = field(default_factory=Metrics)
    # GSI backfills this process has logged: (tid, iid) -> (last line at, rows scanned)
    backfills: dict[tuple[int, int], tuple[float, int]] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        store: Store,
        clock: Clock,
        *,
        region: str,
        account_id: str,
        strict_ttl_limits: bool = False,
        **log_options: Unpack[LogOptions],
    ) -> EngineContext:
        """The engine over an open ``store``: its one :class:`Writer`, and the change log
        capturing every commit group the writer makes (one place for the server, the
        browser engine and tests to assemble it). The caller runs ``ctx.writer.run``."""
        metrics = Metrics()
        writer = Writer(store, metrics=metrics)
        streams = StreamLog(
            store.write_conn,
            clock,
            region=region,
            account_id=account_id,
            **log_options,
        )
        streams.attach(store.tables)
        writer.capture.append(streams.capture)
        return cls(
            store,
            writer,
            clock,
            streams,
            region=region,
            account_id=account_id,
            strict_ttl_limits=strict_ttl_limits,
            metrics=metrics,
        )

    def table(self, name: str) -> TableInfo:
        """The live table ``name`` (or ARN) for a table-level operation."""
        resolved = resolve_table_name(name)
        table = self.store.tables.get(resolved)
        if table is None:
            raise table_not_found(resolved)
        return table

    def item_table(self, name: str) -> TableInfo:
        """The live table ``name`` (or ARN) for an item-level operation."""
        resolved = resolve_table_name(name)
        table = self.store.tables.get(resolved)
        if table is None:
            raise resource_not_found()
        return table

    def wake_maintenance(self) -> None:
        """Wake the maintenance task: rows to purge or an index to backfill."""
        self.maintenance_due.set()
