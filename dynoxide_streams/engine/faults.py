"""Injected storage faults: make the next commits or checkpoints fail as a full disk does.

Every :class:`~dynoxide_streams.engine.store.Store` has one :class:`Faults`; nothing
arms it but a test, through :meth:`dynoxide_streams.Server.inject_disk_full` (there
is no network route to it). Armed, the next ``n`` COMMITs of transactions that
changed rows (a read-only one writes nothing to disk) or WAL checkpoints raise the ``sqlite3.OperationalError`` SQLite raises for ``SQLITE_FULL``
instead of running, exactly at the store boundary the real error comes from.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Literal

FaultPoint = Literal["commit", "checkpoint"]


def disk_full_error() -> sqlite3.OperationalError:
    """The exception sqlite3 raises when a write meets a full disk (``SQLITE_FULL``)."""
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode = sqlite3.SQLITE_FULL
    exc.sqlite_errorname = "SQLITE_FULL"
    return exc


class Faults:
    """Counts of pending injected failures per fault point (thread-safe: checkpoints
    run in a worker thread, tests arm it from theirs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[FaultPoint, int] = {"commit": 0, "checkpoint": 0}

    def disk_full(self, *, commits: int = 0, checkpoints: int = 0) -> None:
        """Make the next ``commits`` COMMITs and ``checkpoints`` checkpoints fail."""
        if commits < 0 or checkpoints < 0:
            raise ValueError("counts must not be negative")
        with self._lock:
            self._pending["commit"] += commits
            self._pending["checkpoint"] += checkpoints

    def pending(self, point: FaultPoint) -> int:
        """How many failures are still armed at ``point``."""
        with self._lock:
            return self._pending[point]

    def hit(self, point: FaultPoint) -> None:
        """Raise the disk-full error if a failure is armed at ``point`` (using it up)."""
        with self._lock:
            if self._pending[point] == 0:
                return
            self._pending[point] -= 1
        raise disk_full_error()
