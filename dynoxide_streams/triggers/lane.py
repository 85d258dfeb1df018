"""One lane of one shard as a pure state machine: fed what happened, returns what to do.

:class:`Lane` owns the decisions a lane makes between reads and invocations: which
collected records form the next batch, what event invokes it, what
:func:`~dynoxide_streams.triggers.retry_rules.judge` makes of the outcome, when the
checkpoint moves, which batch is discarded to the dead letters, how long to back
off, and when a tumbling window gets its final invocation. It does no I/O and never
awaits (in the style of a sans-I/O protocol): the poller performs the actions and
feeds their outcomes back, with the data clock's ``now`` read right after each one.

Protocol. :meth:`Lane.start` and every ``feed`` method return a list of actions. The
driver performs them in order; the last one is always an action that needs an
answer, or :class:`Stop`:

* :class:`Collect` — read the next records after :attr:`Lane.position` into a
  :class:`Collected` (None if the stream or shard is gone), an idle lane first
  waiting for the next commit or a timeout → :meth:`Lane.collected`;
* :class:`Invoke` — invoke the function with ``event`` → :meth:`Lane.invoked`;
* :class:`CloseWindow` — the final invocation of the open tumbling window (its
  outcome is only logged) → :meth:`Lane.window_closed`;
* :class:`Resume` — back off before a retry, if at all, and read the clock again →
  :meth:`Lane.resume`;
* :class:`Stop` — the lane is done.

The actions before it need no answer: :class:`Save` (store a checkpoint),
:class:`DeadLetter` (deliver a discarded batch's failure record) and :class:`Report`
(the mapping's LastProcessingResult, and what a failed invocation is logged with).

A failure streak is the lane's failed invocations in a row: it ends with a success
or when its batch is discarded. Each failure's :class:`Failure` says whether it is
the streak's first (the one the poller logs at WARNING) and the decision taken:
``retry``, ``bisect``, ``split`` (records before the first reported failure are done,
the rest retried) or ``dead-letter``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dynoxide_streams.engine.trigger_store import Checkpoint
from dynoxide_streams.triggers import events
from dynoxide_streams.triggers.functions import InvokeResult
from dynoxide_streams.triggers.retry_rules import (
    RECORD_AGE_EXCEEDED,
    Batch,
    Rules,
    Verdict,
    failure_of,
    judge,
    too_old,
)

IDLE_RECHECK_SECONDS = 5.0  # an idle lane's wait for records
WINDOW_RECHECK_SECONDS = 1.0  # an idle lane with an open window looks at the clock this often
RETRY_BASE_DELAY = 0.02
RETRY_MAX_DELAY = 1.0

RETRY = "retry"
BISECT = "bisect"
SPLIT = "split"
DEAD_LETTER = "dead-letter"
SKIP = "skip"  # a failed final window invocation: logged, and the lane goes on


@dataclass
class Collected:
    """What one read of the shard gathered for the lane."""

    records: list[dict[str, Any]]
    consumed: str  # position after every record examined (included or filtered)
    closed: bool  # the shard is closed and read to its end
    window_start: float | None = None
    window_final: bool = False  # a record of a later window follows


# ------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Collect:
    """Read the records after the lane's position, first waiting up to ``wait`` seconds
    for the next commit when it is set; answer with :meth:`Lane.collected`."""

    wait: float | None = None


@dataclass(frozen=True)
class Invoke:
    """Invoke the function; answer with :meth:`Lane.invoked`."""

    event: dict[str, Any]


@dataclass(frozen=True)
class Resume:
    """Back off ``delay`` seconds, then read the data clock again; answer with
    :meth:`Lane.resume`."""

    delay: float = 0.0


@dataclass(frozen=True)
class CloseWindow:
    """The open window's final invocation (failure is only logged); answer with
    :meth:`Lane.window_closed`."""

    event: dict[str, Any]


@dataclass(frozen=True)
class Stop:
    """The lane is done (its shard is finished or gone)."""


@dataclass(frozen=True)
class Save:
    """Store the lane's checkpoint."""

    checkpoint: Checkpoint


@dataclass(frozen=True)
class DeadLetter:
    """Deliver the failure record of a discarded batch; ``last_error`` is the (type,
    message) of the streak's last failed invocation, if any."""

    batch: Batch
    condition: str
    result: InvokeResult
    last_error: tuple[str, str] | None = None


@dataclass(frozen=True)
class Failure:
    """A failed invocation: what went wrong and what the lane does about it."""

    error_type: str
    message: str
    decision: str  # RETRY, BISECT, SPLIT or DEAD_LETTER
    streak: int  # failed invocations in a row, this one included: 1 is a streak's first
    records: int  # records in the batch invoked
    attempt: int  # invocations of those records so far
    traceback: str | None = None

    @property
    def text(self) -> str:
        """``TYPE: message`` (the message may be empty)."""
        return events.type_and_message(self.error_type, self.message)


@dataclass(frozen=True)
class Report:
    """Whether the last batch succeeded (the mapping's LastProcessingResult); a failed
    invocation's :class:`Failure` (None for a batch discarded before its invocation)."""

    ok: bool
    failure: Failure | None = None


Action = Collect | Invoke | Resume | CloseWindow | Stop | Save | DeadLetter | Report


def window_of(record: dict[str, Any], size: int) -> float:
    """The start of the tumbling window of ``size`` seconds the record belongs to."""
    return float(math.floor(events.created_at(record) / size) * size)


def _decision(batch: Batch, verdict: Verdict) -> str:
    """What the lane does after a failed invocation of ``batch``."""
    if verdict.discarded is not None:
        return DEAD_LETTER
    if len(verdict.next) > 1:
        return BISECT
    if verdict.next and len(verdict.next[0].records) < len(batch.records):
        return SPLIT
    return RETRY


def retry_delay(failures: int) -> float:
    """The back-off before the next attempt after ``failures`` failures in a row."""
    return min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * float(2 ** min(failures - 1, 10)))


class Lane:
    """Where one lane stands and what it does next (see the module docstring)."""

    def __init__(
        self, start: Checkpoint, *, rules: Rules, tumbling_window: int, stream_arn: str
    ) -> None:
        self.shard_id = start.shard_id
        self.lane = start.lane
        self.position = start.position
        self.window: dict[str, Any] | None = start.window  # {"start": ..., "state": ...}
        self.rules = rules
        self.tumbling_window = tumbling_window
        self.stream_arn = stream_arn
        self.failures = 0  # failed invocations in a row, for the back-off
        self.streak = 0  # failed invocations since the last success or discarded batch
        self.last_error: tuple[str, str] | None = None  # the streak's last (type, message)
        self.pending: list[Batch] = []  # batches still to invoke, in shard order
        self.final = False  # the pending batches are the last of their window
        self._held: Collected | None = None  # records waiting for the window to close
        self._finishing = False  # the shard ends once the window is closed

    # --------------------------------------------------------------- feeding

    def start(self) -> list[Action]:
        return [Collect()]

    def collected(self, collected: Collected | None, now: float) -> list[Action]:
        """The outcome of :class:`Collect`; None when the stream or shard is gone."""
        if collected is None:
            return [self._save(finished=True), Stop()]
        if collected.records:
            if self.window is not None and collected.window_start != self.window["start"]:
                self._held = collected
                return [self._close_window()]
            return self._begin(collected, now)
        moved = collected.consumed != self.position
        self.position = collected.consumed
        if collected.closed:
            if self.window is not None:
                self._finishing = True
                return [self._close_window()]
            return [self._save(finished=True), Stop()]
        if self.window is not None and now >= self.window["start"] + self.tumbling_window:
            return [self._close_window()]
        idle: list[Action] = [self._save()] if moved else []
        wait = WINDOW_RECHECK_SECONDS if self.window is not None else IDLE_RECHECK_SECONDS
        return [*idle, Collect(wait)]

    def invoked(self, result: InvokeResult, now: float) -> list[Action]:
        """The outcome of :class:`Invoke` on the first pending batch."""
        batch = self.pending[0]
        return self._apply(batch, judge(batch, result, self.rules, now), result)

    def window_closed(self) -> list[Action]:
        """:class:`CloseWindow` is done: the window is gone, whatever its outcome."""
        self.window = None
        saved = self._save()
        if self._finishing:
            return [saved, self._save(finished=True), Stop()]
        if self._held is not None:
            return [saved, Resume()]
        return [saved, Collect()]

    def resume(self, now: float) -> list[Action]:
        """Go on at ``now``: the held records, the next pending batch, or a read."""
        if self._held is not None:
            held, self._held = self._held, None
            return self._begin(held, now)
        if self.pending:
            return self._next_batch(now)
        return [Collect()]

    # ------------------------------------------------------------- decisions

    def window_of(self, record: dict[str, Any]) -> float:
        return window_of(record, self.tumbling_window)

    def _begin(self, collected: Collected, now: float) -> list[Action]:
        self.pending = [Batch(collected.records, collected.consumed)]
        # the window's last batch: a later window has begun, or its end has passed by
        # the data clock (no record of it can still appear)
        self.final = collected.window_final or (
            collected.window_start is not None
            and now >= collected.window_start + self.tumbling_window
        )
        return self._next_batch(now)

    def _next_batch(self, now: float) -> list[Action]:
        batch = self.pending[0]
        if too_old(batch, self.rules, now):
            verdict = Verdict(None, [], batch, RECORD_AGE_EXCEEDED, ok=False)
            return self._apply(batch, verdict, InvokeResult(error=None), invoked=False)
        batch.invokes += 1
        final = self.final and len(self.pending) == 1
        return [Invoke(self._event(batch.records, final=final))]

    def _apply(
        self, batch: Batch, verdict: Verdict, result: InvokeResult, *, invoked: bool = True
    ) -> list[Action]:
        self.pending = verdict.next + self.pending[1:]
        actions: list[Action] = []
        through = verdict.done_through
        failure: Failure | None = None
        if not verdict.ok and invoked:
            self.streak += 1
            error_type, message = failure_of(batch, result, self.rules)
            self.last_error = (error_type, message)
            failure = Failure(
                error_type,
                message,
                _decision(batch, verdict),
                self.streak,
                len(batch.records),
                batch.invokes,
                result.traceback,
            )
        if verdict.discarded is not None:
            actions.append(
                DeadLetter(verdict.discarded, verdict.condition or "", result, self.last_error)
            )
            through = verdict.discarded.through
            self.streak, self.last_error = 0, None
        if self.tumbling_window > 0 and result.error is None and verdict.ok:
            state = result.payload.get("state", {}) if isinstance(result.payload, dict) else {}
            if self.final and not self.pending:
                self.window = None
            else:
                self.window = {"start": self.window_of(batch.records[0]), "state": state}
        if through is not None:
            self.position = through
            actions.append(self._save())
        actions.append(Report(verdict.ok, failure))
        if verdict.ok:
            self.failures = 0
            self.streak, self.last_error = 0, None
        elif verdict.next:
            self.failures += 1
            return [*actions, Resume(retry_delay(self.failures))]
        return [*actions, Resume()]

    def _event(self, records: list[dict[str, Any]], *, final: bool) -> dict[str, Any]:
        """The event invoking a batch (its records are never empty)."""
        if self.tumbling_window <= 0:
            return events.stream_event(records)
        start = self.window_of(records[0])
        window = self.window
        state = window["state"] if window is not None and window["start"] == start else {}
        return self._window_event(records, start, state, final=final)

    def _close_window(self) -> CloseWindow:
        assert self.window is not None
        start = float(self.window["start"])
        return CloseWindow(self._window_event([], start, self.window["state"], final=True))

    def _window_event(
        self, records: list[dict[str, Any]], start: float, state: dict[str, Any], *, final: bool
    ) -> dict[str, Any]:
        return events.window_event(
            records,
            window_start=start,
            window_end=start + self.tumbling_window,
            state=state,
            shard_id=self.shard_id,
            stream_arn=self.stream_arn,
            final=final,
        )

    def _save(self, *, finished: bool = False) -> Save:
        return Save(Checkpoint(self.shard_id, self.lane, self.position, finished, self.window))
