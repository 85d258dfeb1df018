"""The sidecar's moving parts, composed: upstream client, change source, TTL sweeper
and (with ``--lease-table``) the lease coordinator.

:meth:`Sidecar.run` (in the service's task group) refreshes the catalog of watched
streams every few seconds — so declared triggers bind to tables created upstream
later — with ``--ttl-sweep`` sweeps expired items every ``ttl_period`` seconds, and
with a lease table renews and takes shard leases; then each table is swept only by
the sidecar holding its sweep lease.
"""

from __future__ import annotations

import anyio
import structlog
from anyio.abc import TaskStatus

from dynoxide_streams.clock import Clock
from dynoxide_streams.sidecar.leases import LeaseCoordinator
from dynoxide_streams.sidecar.source import UpstreamChangeSource
from dynoxide_streams.sidecar.ttl import ServiceDeletes, UpstreamSweeper
from dynoxide_streams.sidecar.upstream import Upstream, UpstreamError, UpstreamUnavailable

log = structlog.get_logger("dynoxide_streams.sidecar")

REFRESH_SECONDS = 2.0
SWEEP_LEASE = "ttl-sweep|"  # + table name: the singleton lease of a table's TTL sweep


class Sidecar:
    def __init__(
        self,
        upstream_url: str,
        region: str,
        clock: Clock,
        *,
        tables: list[str] | None,
        ttl_sweep: bool,
        ttl_period: float,
        ttl_sweep_rate: float,
        lease_table: str | None = None,
        lease_duration: float = 10.0,
    ) -> None:
        self.upstream = Upstream(upstream_url, region)
        self.deletes = ServiceDeletes()
        self.source = UpstreamChangeSource(self.upstream, tables=tables, deletes=self.deletes)
        self.sweeper = UpstreamSweeper(self.upstream, clock, self.deletes, rate=ttl_sweep_rate)
        self.ttl_sweep = ttl_sweep
        self.ttl_period = ttl_period
        self.leases = (
            None
            if lease_table is None
            else LeaseCoordinator(self.upstream, lease_table, duration=lease_duration)
        )

    async def sweep_now(self) -> int:
        """One TTL pass over the watched tables; the number of items expired."""
        return await self.sweeper.sweep(await self.source.tables())

    async def _sweep_due(self) -> int:
        """One periodic pass: with a lease table, only over the tables whose sweep
        lease this process holds (one sidecar sweeps each table)."""
        tables = await self.source.tables()
        if self.leases is not None:
            tables = [t for t in tables if await self.leases.claim(f"{SWEEP_LEASE}{t}")]
        return await self.sweeper.sweep(tables)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._refresh_loop)
                if self.leases is not None:
                    await tg.start(self.leases.run)
                if self.ttl_sweep and self.ttl_period > 0:
                    tg.start_soon(self._sweep_loop)
                task_status.started()
        finally:
            await self.upstream.aclose()

    async def _refresh_loop(self) -> None:
        while True:
            try:
                await self.source.refresh()
            except (UpstreamError, UpstreamUnavailable) as exc:
                log.warning("could not refresh the upstream catalog", error=str(exc))
            except Exception:  # never take the service down; try again next period
                log.exception("refreshing the upstream catalog failed")
            await anyio.sleep(REFRESH_SECONDS)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self._sweep_due()  # each table's deletions are logged by the sweeper
            except (UpstreamError, UpstreamUnavailable) as exc:
                log.warning("upstream TTL sweep failed", error=str(exc))
            except Exception:
                log.exception("upstream TTL sweep failed")
            await anyio.sleep(self.ttl_period)
