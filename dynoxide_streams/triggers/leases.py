"""What the pollers need from leases shared with other processes (``--lease-table``).

Without leases a server's pollers read every shard of a mapping's stream. With them,
several processes running the same mapping — the same function name on the same
stream ARN — split the shards: a process reads only the shards whose lease it holds,
starts each from the checkpoint stored in the lease (not in its own database), writes
its checkpoints there, and stops a shard the moment its lease is taken. The sidecar's
lease coordinator implements these protocols; the pollers do not know more.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from dynoxide_streams.engine.changes import ShardView
from dynoxide_streams.shards.positions import Checkpoint, StoredLanes


class MappingLeases(Protocol):
    """The leases of one mapping, as this process sees them."""

    def held(self) -> dict[str, StoredLanes]:
        """Shard id → stored checkpoint, for every shard this process holds."""
        ...

    def done(self) -> set[str]:
        """Shards whose lease says every lane finished (by any process)."""
        ...

    async def sync(self, shards: Sequence[ShardView], start_after: str) -> None:
        """Make sure every shard of the stream has a lease (created unowned, naming
        ``start_after`` as where its lanes start)."""
        ...

    async def save(self, checkpoint: Checkpoint, lanes: int) -> bool:
        """Store one lane's checkpoint in its shard's lease; False if this process
        no longer holds the lease (the shard must stop)."""
        ...

    async def wait_changed(self, timeout: float) -> None:
        """Return when ``held`` or ``done`` may have changed, or after ``timeout``."""
        ...


class ShardLeases(Protocol):
    """Leases of every mapping of this process."""

    def attach(
        self, function_name: str, stream_arn: str
    ) -> AbstractAsyncContextManager[MappingLeases]:
        """Take part in the mapping's leases while the context is open; on exit the
        leases this process holds are released for the other processes."""
        ...
