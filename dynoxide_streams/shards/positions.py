"""Positions in a shard and the lanes that stand at them: how two positions compare,
where one lane of a shard stands (:class:`Checkpoint`), and what a shard lease holds
for all its lanes (:class:`StoredLanes`). Pure: no I/O, no clock.

A position is the sequence number of the last record a reader is done with, as a
decimal string (``"0" * 21`` before every record). Positions compare by the number
they name, whatever their length or leading zeros; text that is not a decimal string
sorts before every number, so a malformed position never hides records after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SHARD_END = "SHARD_END"
"""A lease's summary checkpoint once every lane of its shard finished."""


def position_key(position: str) -> int:
    """The sort key of a position: the number it names, -1 when it is not a decimal
    string (ASCII digits only)."""
    return int(position) if position.isascii() and position.isdigit() else -1


def is_after(a: str, b: str) -> bool:
    """Whether position ``a`` is strictly after position ``b``."""
    return position_key(a) > position_key(b)


def earliest(positions: Iterable[str]) -> str:
    """The earliest of some positions (the first given of equal ones); ValueError
    when there are none."""
    return min(positions, key=position_key)


def latest(positions: Iterable[str]) -> str:
    """The latest of some positions (the first given of equal ones); ValueError when
    there are none."""
    return max(positions, key=position_key)


@dataclass(frozen=True)
class Checkpoint:
    """Where one lane of one shard of a mapping stands.

    ``position`` is the sequence number of the last record it finished with (records
    after it are still to do); ``finished`` means the shard is closed and fully done;
    ``window`` is the tumbling-window state, if any.
    """

    shard_id: str
    lane: int
    position: str
    finished: bool = False
    window: dict[str, Any] | None = None


def all_finished(checkpoints: Iterable[Checkpoint], lanes: int) -> bool:
    """Whether ``lanes`` lanes of a shard are all done: as many checkpoints as lanes
    (or more), every one finished."""
    found = list(checkpoints)
    return len(found) >= lanes and all(cp.finished for cp in found)


@dataclass(frozen=True)
class StoredLanes:
    """What a shard's lease holds for its lanes.

    ``factor`` is the ParallelizationFactor ``checkpoints`` were written with;
    ``checkpoints`` has one entry per lane that has a checkpoint, in lane order;
    ``start_after`` is where a lane without one starts — the position of the process
    that created the lease (so a LATEST mapping declared in several processes starts
    every shard where the first of them did), None when the lease names none.
    """

    factor: int = 1
    checkpoints: tuple[Checkpoint, ...] = ()
    start_after: str | None = None

    @property
    def finished(self) -> bool:
        """Every one of ``factor`` lanes finished."""
        return all_finished(self.checkpoints, self.factor)

    @property
    def summary(self) -> str | None:
        """The lease's ``checkpoint``: SHARD_END once every lane finished, else the
        earliest lane position; None before any lane has a checkpoint."""
        if not self.checkpoints:
            return None
        return SHARD_END if self.finished else earliest(cp.position for cp in self.checkpoints)

    def with_checkpoint(self, checkpoint: Checkpoint, factor: int) -> StoredLanes:
        """The lanes after ``checkpoint`` replaces its lane's, written by a mapping of
        ``factor`` lanes."""
        lanes = {cp.lane: cp for cp in self.checkpoints}
        lanes[checkpoint.lane] = checkpoint
        ordered = tuple(lanes[lane] for lane in sorted(lanes))
        return StoredLanes(factor, ordered, self.start_after)
