"""What happens to a batch after an invocation: Lambda's retry rules as pure code.

:func:`judge` takes a batch and the outcome of invoking it and returns a
:class:`Verdict`: how far the shard's checkpoint may move, which batches to invoke
next (a retry, the rest after a reported failure, or two halves after a bisect), and
whether a batch was discarded (its failure record goes to the OnFailure destination).

Rules (Lambda Developer Guide, DynamoDB error handling):

* success — the whole batch is done;
* ``ReportBatchItemFailures`` — records before the lowest reported sequence number
  are done; that record and everything after it is retried (one attempt used). An
  empty ``itemIdentifier``, one that is not in the batch, or a malformed response
  fails the whole batch;
* a function error — with ``BisectBatchOnFunctionError`` a batch of two or more is
  split in halves, retried in order, without using an attempt; otherwise the batch is
  retried, using an attempt;
* a batch is discarded when its attempts exceed ``MaximumRetryAttempts`` (-1: never)
  or its oldest record is older than ``MaximumRecordAgeInSeconds`` (-1: never).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dynoxide_streams.triggers.events import created_at, sequence_of
from dynoxide_streams.triggers.functions import InvokeResult

RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


@dataclass
class Batch:
    """Records to invoke together, in shard order.

    ``through`` is the checkpoint once the batch is done: the sequence number of its
    last record, or a later one when records after it were filtered out.
    """

    records: list[dict[str, Any]]
    through: str
    attempts: int = 0
    invokes: int = 0


@dataclass
class Verdict:
    done_through: str | None = None
    next: list[Batch] = field(default_factory=list)
    discarded: Batch | None = None
    condition: str | None = None
    ok: bool = True


@dataclass(frozen=True)
class Rules:
    """The mapping settings :func:`judge` needs."""

    report_failures: bool = False
    bisect: bool = False
    maximum_retry_attempts: int = -1
    maximum_record_age: int = -1
    require_state: bool = False  # tumbling windows: the response must carry "state"


ALL_FAILED = -1


def first_failure(records: list[dict[str, Any]], payload: Any) -> int | None:
    """Index of the first record to retry from a ReportBatchItemFailures response;
    None when nothing failed, ALL_FAILED when the response fails the whole batch."""
    if payload is None:
        return None
    if not isinstance(payload, dict):
        return ALL_FAILED
    failures = payload.get("batchItemFailures")
    if failures is None:
        return None
    if not isinstance(failures, list):
        return ALL_FAILED
    if not failures:
        return None
    positions = {sequence_of(r): i for i, r in enumerate(records)}
    lowest: int | None = None
    for failure in failures:
        if not isinstance(failure, dict):
            return ALL_FAILED
        identifier = failure.get("itemIdentifier")
        if not isinstance(identifier, str) or identifier not in positions:
            return ALL_FAILED
        index = positions[identifier]
        lowest = index if lowest is None else min(lowest, index)
    return lowest


def too_old(batch: Batch, rules: Rules, now: float) -> bool:
    """Whether the batch's oldest record is past MaximumRecordAgeInSeconds."""
    if rules.maximum_record_age < 0 or not batch.records:
        return False
    return now - created_at(batch.records[0]) > rules.maximum_record_age


def _exhausted(batch: Batch, rules: Rules) -> bool:
    return rules.maximum_retry_attempts >= 0 and batch.attempts > rules.maximum_retry_attempts


def _retry(batch: Batch, rules: Rules, now: float, done_through: str | None) -> Verdict:
    """Retry ``batch`` (attempt already counted) unless it must be discarded."""
    if too_old(batch, rules, now):
        return Verdict(done_through, [], batch, RECORD_AGE_EXCEEDED, ok=False)
    if _exhausted(batch, rules):
        return Verdict(done_through, [], batch, RETRIES_EXHAUSTED, ok=False)
    return Verdict(done_through, [batch], ok=False)


def failure_of(batch: Batch, result: InvokeResult, rules: Rules) -> tuple[str, str]:
    """(error type, message) of an invocation that :func:`judge` did not find ok.

    A function error is the function's own (``ValueError``, ``boom``); a response that
    fails the batch is named here: ``BatchItemFailures`` (records reported failed),
    ``InvalidBatchItemFailures`` (a response that fails the whole batch) and
    ``MissingWindowState`` (a tumbling-window response without ``state``).
    """
    if result.error is not None:
        return result.error_type or result.error, result.message
    if rules.require_state and (
        not isinstance(result.payload, dict) or not isinstance(result.payload.get("state"), dict)
    ):
        return "MissingWindowState", "a tumbling-window response must carry a state object"
    failed_at = first_failure(batch.records, result.payload)
    if failed_at is None or failed_at == ALL_FAILED:
        return (
            "InvalidBatchItemFailures",
            "batchItemFailures must list itemIdentifiers of the batch's records",
        )
    return (
        "BatchItemFailures",
        f"the function reported failed records from sequence number "
        f"{sequence_of(batch.records[failed_at])}",
    )


def judge(batch: Batch, result: InvokeResult, rules: Rules, now: float) -> Verdict:
    """The verdict on ``batch`` after one invocation that ended with ``result``."""
    records = batch.records
    failed_at: int | None = ALL_FAILED
    if result.error is None:
        if rules.require_state and (
            not isinstance(result.payload, dict)
            or not isinstance(result.payload.get("state"), dict)
        ):
            failed_at = ALL_FAILED
        elif rules.report_failures:
            failed_at = first_failure(records, result.payload)
        else:
            failed_at = None
        if failed_at is None:
            return Verdict(batch.through)
        if failed_at != ALL_FAILED:
            rest = Batch(records[failed_at:], batch.through, batch.attempts + 1, batch.invokes)
            done = sequence_of(records[failed_at - 1]) if failed_at > 0 else None
            return _retry(rest, rules, now, done)
    if rules.bisect and len(records) > 1:
        middle = len(records) // 2
        head = Batch(
            records[:middle], sequence_of(records[middle - 1]), batch.attempts, batch.invokes
        )
        tail = Batch(records[middle:], batch.through, batch.attempts, batch.invokes)
        if too_old(batch, rules, now):
            return Verdict(None, [], batch, RECORD_AGE_EXCEEDED, ok=False)
        return Verdict(None, [head, tail], ok=False)
    return _retry(
        Batch(records, batch.through, batch.attempts + 1, batch.invokes), rules, now, None
    )
