"""Where "data time" comes from: the system clock, or a virtual one tests can move.

TTL expiry, iterator expiry, retention, rotation by time and every timestamp the server
reports read :meth:`Clock.now`. Waiting (periods, timeouts) uses real monotonic time
from anyio, never this clock, so a frozen virtual clock cannot hang anything.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

EARLIEST = 0.0
"""The earliest time a virtual clock may show: the Unix epoch."""
LATEST = 253_402_300_799.0
"""The latest time a virtual clock may show: the last second of year 9999, the largest
``ApproximateCreationDateTime`` an SDK parses."""


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
    unless :meth:`set` is told to. It always shows a time from :data:`EARLIEST` to
    :data:`LATEST`: a start, :meth:`set` or :meth:`advance` that would leave that range
    raises ValueError and changes nothing. Thread-safe, so a test in another thread may
    move it.
    """

    virtual = True

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else _in_range(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (must be ≥ 0, and land no later than
        :data:`LATEST`); return the new time."""
        if not seconds >= 0:  # also NaN
            raise ValueError("a virtual clock only advances forwards")
        with self._lock:
            moved = self._now + _as_float(seconds)
            if not moved <= LATEST:
                raise ValueError(
                    f"advancing by {seconds!r} would take the virtual clock past "
                    f"{LATEST:.0f} (the end of year 9999)"
                )
            self._now = moved
            return self._now

    def set(self, epoch_seconds: float) -> float:
        """Set the clock to ``epoch_seconds`` (from :data:`EARLIEST` to :data:`LATEST`);
        return it."""
        with self._lock:
            self._now = _in_range(epoch_seconds)
            return self._now


def _as_float(value: float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond any float
        return math.inf if value > 0 else -math.inf


def _in_range(epoch_seconds: float) -> float:
    """``epoch_seconds`` as a float; ValueError outside :data:`EARLIEST`..:data:`LATEST`."""
    value = _as_float(epoch_seconds)
    if not EARLIEST <= value <= LATEST:  # also NaN
        raise ValueError(
            f"{epoch_seconds!r} is outside the virtual clock's range, "
            f"{EARLIEST:.0f} to {LATEST:.0f} (the end of year 9999)"
        )
    return value
