"""Where "data time" comes from: the system clock, or a virtual one tests can move.

TTL expiry, iterator expiry, retention, rotation by time and every timestamp the server
reports read :meth:`Clock.now`. Waiting (periods, timeouts) uses real monotonic time
from anyio, never this clock, so a frozen virtual clock cannot hang anything.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """A source of wall-clock time in epoch seconds."""

    def now(self) -> float: ...


class SystemClock:
    """The real wall clock."""

    virtual = False

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """A clock frozen at its start time (default: the real time at creation).

    It moves only through :meth:`advance` and :meth:`set`; it never goes backwards
    unless :meth:`set` is told to. Thread-safe, so a test in another thread may move it.
    """

    virtual = True

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (must be ≥ 0); return the new time."""
        if seconds < 0:
            raise ValueError("a virtual clock only advances forwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, epoch_seconds: float) -> float:
        """Set the clock to ``epoch_seconds``; return it."""
        with self._lock:
            self._now = float(epoch_seconds)
            return self._now
