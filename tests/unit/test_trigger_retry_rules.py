"""Lambda's retry rules for a stream batch (dynoxide_streams/triggers/retry_rules): what
judge() decides after each invocation, first_failure() on ReportBatchItemFailures
responses, too_old() on MaximumRecordAgeInSeconds, and a simulated lane driven by
judge() alone (hypothesis) that must terminate, deliver, discard and checkpoint right."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynoxide_streams.triggers.functions import InvokeResult
from dynoxide_streams.triggers.retry_rules import (
    ALL_FAILED,
    RECORD_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    Batch,
    Rules,
    Verdict,
    first_failure,
    judge,
    too_old,
)

NOW = 1_700_000_000.0
BASE_SEQ = 100_000_000_000_000_000_000  # 21 digits, like DynamoDB's sequence numbers
STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/Orders/stream/2024-01-01T00:00:00.000"


def seq(n: int) -> str:
    value = str(BASE_SEQ + n)
    assert len(value) == 21
    return value


def rec(n: int, created: float = NOW - 5) -> dict[str, Any]:
    """A Lambda-format record with sequence number seq(n)."""
    return {
        "eventID": f"event-{n}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"Id": {"N": str(n)}},
            "NewImage": {"Id": {"N": str(n)}},
            "SequenceNumber": seq(n),
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }


def make_batch(*ns: int, through: str | None = None, attempts: int = 0, invokes: int = 1) -> Batch:
    records = [rec(n) for n in ns]
    return Batch(records, through or seq(ns[-1]), attempts, invokes)


def failures(*ns: int) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": seq(n)} for n in ns]}


def seqs(batch: Batch) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in batch.records]


OK = InvokeResult(payload=None)
ERROR = InvokeResult(error="Unhandled", message="boom")
REPORT = Rules(report_failures=True)


# ------------------------------------------------------------------ success


def test_success_checkpoints_the_whole_batch() -> None:
    batch = make_batch(1, 2, 3)
    verdict = judge(batch, OK, Rules(), NOW)
    assert verdict == Verdict(done_through=seq(3), next=[], discarded=None, condition=None, ok=True)


def test_success_checkpoints_past_filtered_records_after_the_last_one() -> None:
    # ``through`` is later than the last record when records after it were filtered out.
    batch = make_batch(1, 2, through=seq(9))
    verdict = judge(batch, InvokeResult(payload={"anything": 1}), Rules(), NOW)
    assert verdict.ok is True
    assert verdict.done_through == seq(9)
    assert verdict.next == []
    assert verdict.discarded is None


# --------------------------------------------------------- ReportBatchItemFailures


def test_one_reported_failure_checkpoints_before_it_and_retries_from_it() -> None:
    batch = make_batch(1, 2, 3, 4, 5, through=seq(7), invokes=3)
    verdict = judge(batch, InvokeResult(payload=failures(3)), REPORT, NOW)
    assert verdict.ok is False
    assert verdict.done_through == seq(2)
    assert verdict.discarded is None
    assert verdict.condition is None
    assert len(verdict.next) == 1
    rest = verdict.next[0]
    assert seqs(rest) == [seq(3), seq(4), seq(5)]
    assert rest.through == seq(7)  # the rest keeps the batch's checkpoint
    assert rest.attempts == 1  # a partial failure uses an attempt
    assert rest.invokes == 3


def test_several_reported_failures_the_lowest_sequence_number_wins() -> None:
    batch = make_batch(1, 2, 3, 4, 5)
    # Listed out of order: the first failed record in shard order decides.
    verdict = judge(batch, InvokeResult(payload=failures(4, 2, 5)), REPORT, NOW)
    assert verdict.done_through == seq(1)
    assert [seqs(b) for b in verdict.next] == [[seq(2), seq(3), seq(4), seq(5)]]
    assert verdict.next[0].attempts == 1


def test_failure_at_the_first_record_moves_no_checkpoint() -> None:
    batch = make_batch(1, 2, 3, attempts=1)
    verdict = judge(batch, InvokeResult(payload=failures(1, 3)), REPORT, NOW)
    assert verdict.done_through is None
    assert verdict.ok is False
    assert [seqs(b) for b in verdict.next] == [[seq(1), seq(2), seq(3)]]
    assert verdict.next[0].attempts == 2
    assert verdict.next[0].through == seq(3)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"batchItemFailures": []},
        {"batchItemFailures": None},
        {"somethingElse": [{"itemIdentifier": ""}]},
    ],
    ids=["null-response", "empty-response", "empty-list", "null-list", "missing-key"],
)
def test_responses_that_mean_full_success(payload: Any) -> None:
    batch = make_batch(1, 2, 3)
    assert first_failure(batch.records, payload) is None
    verdict = judge(batch, InvokeResult(payload=payload), REPORT, NOW)
    assert verdict.ok is True
    assert verdict.done_through == seq(3)
    assert verdict.next == []


@pytest.mark.parametrize(
    "payload",
    [
        "ok",
        42,
        [],
        [{"itemIdentifier": seq(2)}],
        {"batchItemFailures": "oops"},
        {"batchItemFailures": {"itemIdentifier": seq(2)}},
        {"batchItemFailures": [seq(2)]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{}]},
        {"batchItemFailures": [{"itemIdentifier": seq(99)}]},
        {"batchItemFailures": [{"itemIdentifier": int(seq(2))}]},
        {"batchItemFailures": [{"ItemIdentifier": seq(2)}]},
        {"batchItemFailures": [{"item_identifier": seq(2)}]},
        {"batchItemFailures": [{"itemIdentifier": seq(3)}, {"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": seq(3)}, "junk"]},
    ],
    ids=[
        "string",
        "number",
        "list",
        "bare-list-of-failures",
        "failures-string",
        "failures-object",
        "failure-not-object",
        "identifier-empty",
        "identifier-null",
        "identifier-missing",
        "identifier-not-in-batch",
        "identifier-number",
        "wrong-key-pascal",
        "wrong-key-snake",
        "one-good-one-empty",
        "one-good-one-junk",
    ],
)
def test_malformed_responses_fail_the_whole_batch(payload: Any) -> None:
    batch = make_batch(1, 2, 3, through=seq(5))
    assert first_failure(batch.records, payload) == ALL_FAILED
    verdict = judge(batch, InvokeResult(payload=payload), REPORT, NOW)
    assert verdict.ok is False
    assert verdict.done_through is None
    assert verdict.discarded is None
    assert [seqs(b) for b in verdict.next] == [[seq(1), seq(2), seq(3)]]
    assert verdict.next[0].through == seq(5)
    assert verdict.next[0].attempts == 1


def test_first_failure_returns_the_index_of_the_lowest_reported_record() -> None:
    records = [rec(n) for n in (10, 20, 30, 40)]
    assert first_failure(records, failures(40, 20)) == 1
    assert first_failure(records, failures(10)) == 0
    assert first_failure(records, failures(40)) == 3
    assert first_failure(records, failures(30, 30)) == 2


@pytest.mark.parametrize("payload", [failures(2), "garbage", {"batchItemFailures": "x"}])
def test_without_report_failures_the_response_body_is_ignored(payload: Any) -> None:
    batch = make_batch(1, 2, 3)
    verdict = judge(batch, InvokeResult(payload=payload), Rules(report_failures=False), NOW)
    assert verdict == Verdict(done_through=seq(3), ok=True)


def test_a_function_error_ignores_the_reported_failures() -> None:
    batch = make_batch(1, 2, 3)
    result = InvokeResult(payload=failures(3), error="Unhandled")
    verdict = judge(batch, result, REPORT, NOW)
    assert verdict.done_through is None
    assert [seqs(b) for b in verdict.next] == [[seq(1), seq(2), seq(3)]]
    assert verdict.next[0].attempts == 1


# ------------------------------------------------------------ function errors


def test_function_error_without_bisect_retries_the_batch_and_counts_an_attempt() -> None:
    batch = make_batch(1, 2, 3, through=seq(4), attempts=2, invokes=3)
    verdict = judge(batch, ERROR, Rules(), NOW)
    assert verdict.ok is False
    assert verdict.done_through is None
    assert verdict.discarded is None
    assert verdict.condition is None
    assert len(verdict.next) == 1
    retry = verdict.next[0]
    assert seqs(retry) == [seq(1), seq(2), seq(3)]
    assert retry.through == seq(4)
    assert retry.attempts == 3
    assert retry.invokes == 3


@pytest.mark.parametrize("maximum", [0, 1, 2])
def test_retries_exhausted_discards_after_maximum_plus_one_invocations(maximum: int) -> None:
    rules = Rules(maximum_retry_attempts=maximum)
    batch = make_batch(1, 2, through=seq(3), invokes=0)
    invocations = 0
    verdict = Verdict()
    while invocations < 20:
        batch.invokes += 1
        invocations += 1
        verdict = judge(batch, ERROR, rules, NOW)
        if verdict.discarded is not None:
            break
        assert verdict.condition is None
        (batch,) = verdict.next
    assert invocations == maximum + 1
    assert verdict.condition == RETRIES_EXHAUSTED
    assert verdict.ok is False
    assert verdict.next == []
    assert verdict.done_through is None
    assert verdict.discarded is not None
    assert seqs(verdict.discarded) == [seq(1), seq(2)]
    assert verdict.discarded.through == seq(3)
    assert verdict.discarded.attempts == maximum + 1
    assert verdict.discarded.invokes == maximum + 1


def test_minus_one_retry_attempts_never_exhausts() -> None:
    rules = Rules(maximum_retry_attempts=-1)
    batch = make_batch(1, 2)
    for _ in range(200):
        verdict = judge(batch, ERROR, rules, NOW)
        assert verdict.discarded is None
        assert verdict.condition is None
        (batch,) = verdict.next
    assert batch.attempts == 200


def test_partial_failure_exhausting_retries_keeps_the_checkpoint_of_the_done_records() -> None:
    rules = Rules(report_failures=True, maximum_retry_attempts=0)
    batch = make_batch(1, 2, 3, 4, through=seq(6))
    verdict = judge(batch, InvokeResult(payload=failures(3)), rules, NOW)
    assert verdict.done_through == seq(2)
    assert verdict.condition == RETRIES_EXHAUSTED
    assert verdict.next == []
    assert verdict.discarded is not None
    assert seqs(verdict.discarded) == [seq(3), seq(4)]
    assert verdict.discarded.through == seq(6)


# ------------------------------------------------------------------- bisect


@pytest.mark.parametrize(
    ("ns", "head"),
    [((1, 2, 3, 4, 5), (1, 2)), ((1, 2, 3, 4), (1, 2)), ((7, 9), (7,))],
)
def test_bisect_splits_in_halves_without_using_an_attempt(
    ns: tuple[int, ...], head: tuple[int, ...]
) -> None:
    rules = Rules(bisect=True, maximum_retry_attempts=0)
    batch = make_batch(*ns, through=seq(50), attempts=1, invokes=4)
    verdict = judge(batch, ERROR, rules, NOW)
    assert verdict.ok is False
    assert verdict.done_through is None
    assert verdict.discarded is None
    assert verdict.condition is None
    first, second = verdict.next
    assert seqs(first) == [seq(n) for n in head]
    assert seqs(second) == [seq(n) for n in ns[len(head) :]]
    assert first.through == seq(head[-1])  # the head's checkpoint is its own last record
    assert second.through == seq(50)  # the tail keeps the batch's checkpoint
    assert first.attempts == second.attempts == 1  # not counted (maximum 0 not exceeded)
    assert first.invokes == second.invokes == 4


def test_bisect_of_a_single_record_counts_attempts_until_discarded() -> None:
    rules = Rules(bisect=True, maximum_retry_attempts=1)
    batch = make_batch(5, through=seq(6))
    verdict = judge(batch, ERROR, rules, NOW)
    assert verdict.discarded is None
    (retry,) = verdict.next
    assert seqs(retry) == [seq(5)]
    assert retry.attempts == 1
    verdict = judge(retry, ERROR, rules, NOW)
    assert verdict.condition == RETRIES_EXHAUSTED
    assert verdict.discarded is not None
    assert verdict.discarded.through == seq(6)
    assert verdict.next == []


def test_bisect_with_a_partial_failure_retries_only_the_rest() -> None:
    rules = Rules(bisect=True, report_failures=True)
    batch = make_batch(1, 2, 3, 4)
    verdict = judge(batch, InvokeResult(payload=failures(3)), rules, NOW)
    assert verdict.done_through == seq(2)
    assert [seqs(b) for b in verdict.next] == [[seq(3), seq(4)]]
    assert verdict.next[0].attempts == 1


def test_bisect_halves_that_both_fail_down_to_single_records() -> None:
    rules = Rules(bisect=True, maximum_retry_attempts=0)
    pending = [make_batch(1, 2, 3, 4, 5)]
    discarded: list[list[str]] = []
    steps = 0
    while pending and steps < 100:
        steps += 1
        verdict = judge(pending[0], ERROR, rules, NOW)
        pending = verdict.next + pending[1:]
        if verdict.discarded is not None:
            discarded.append(seqs(verdict.discarded))
    assert pending == []
    # Every record ends alone, in shard order, each discarded after one invocation.
    assert discarded == [[seq(n)] for n in (1, 2, 3, 4, 5)]


# --------------------------------------------------------------- record age


def test_too_old_compares_the_oldest_record_with_the_maximum_age() -> None:
    old = Batch([rec(1, created=NOW - 61), rec(2, created=NOW)], seq(2))
    young = Batch([rec(1, created=NOW - 60), rec(2, created=NOW - 90)], seq(2))
    assert too_old(old, Rules(maximum_record_age=60), NOW) is True
    assert too_old(young, Rules(maximum_record_age=60), NOW) is False  # only the first counts
    assert too_old(old, Rules(maximum_record_age=-1), NOW) is False
    assert too_old(Batch([], seq(1)), Rules(maximum_record_age=60), NOW) is False


def test_record_age_exceeded_discards_instead_of_retrying() -> None:
    rules = Rules(maximum_record_age=60)
    batch = Batch([rec(1, created=NOW - 120), rec(2, created=NOW - 1)], seq(3))
    verdict = judge(batch, ERROR, rules, NOW)
    assert verdict.condition == RECORD_AGE_EXCEEDED
    assert verdict.ok is False
    assert verdict.next == []
    assert verdict.discarded is not None
    assert seqs(verdict.discarded) == [seq(1), seq(2)]
    assert verdict.discarded.through == seq(3)


def test_record_age_exceeded_with_bisect_discards_the_whole_batch() -> None:
    rules = Rules(maximum_record_age=60, bisect=True)
    batch = Batch([rec(1, created=NOW - 120), rec(2, created=NOW - 100)], seq(2))
    verdict = judge(batch, ERROR, rules, NOW)
    assert verdict.condition == RECORD_AGE_EXCEEDED
    assert verdict.next == []
    assert verdict.discarded is not None
    assert seqs(verdict.discarded) == [seq(1), seq(2)]


def test_record_age_exceeded_after_a_partial_failure_keeps_the_done_checkpoint() -> None:
    rules = Rules(maximum_record_age=60, report_failures=True)
    batch = Batch([rec(1, created=NOW - 120), rec(2, created=NOW - 100)], seq(2))
    verdict = judge(batch, InvokeResult(payload=failures(2)), rules, NOW)
    assert verdict.done_through == seq(1)
    assert verdict.condition == RECORD_AGE_EXCEEDED
    assert verdict.discarded is not None
    assert seqs(verdict.discarded) == [seq(2)]


def test_young_records_are_retried_and_old_successful_batches_still_succeed() -> None:
    rules = Rules(maximum_record_age=60)
    young = Batch([rec(1, created=NOW - 30)], seq(1))
    assert judge(young, ERROR, rules, NOW).next != []
    old = Batch([rec(1, created=NOW - 300)], seq(1))
    assert judge(old, OK, rules, NOW) == Verdict(done_through=seq(1), ok=True)


# ---------------------------------------------------------- tumbling windows


@pytest.mark.parametrize(
    "payload", [None, {}, {"state": None}, {"state": "x"}, {"state": [1]}, "state"]
)
def test_require_state_without_a_state_object_fails_the_batch(payload: Any) -> None:
    rules = Rules(require_state=True)
    batch = make_batch(1, 2)
    verdict = judge(batch, InvokeResult(payload=payload), rules, NOW)
    assert verdict.ok is False
    assert verdict.done_through is None
    assert [seqs(b) for b in verdict.next] == [[seq(1), seq(2)]]
    assert verdict.next[0].attempts == 1


def test_require_state_with_a_state_object_succeeds_and_allows_item_failures() -> None:
    batch = make_batch(1, 2, 3)
    ok = judge(batch, InvokeResult(payload={"state": {}}), Rules(require_state=True), NOW)
    assert ok == Verdict(done_through=seq(3), ok=True)
    rules = Rules(require_state=True, report_failures=True)
    payload = {"state": {"n": 1}, **failures(2)}
    partial = judge(batch, InvokeResult(payload=payload), rules, NOW)
    assert partial.done_through == seq(1)
    assert [seqs(b) for b in partial.next] == [[seq(2), seq(3)]]


# ------------------------------------------------------- simulated lane (property)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_lane_driven_by_judge_terminates_delivers_and_checkpoints_in_order(
    data: st.DataObject,
) -> None:
    count = data.draw(st.integers(1, 30), label="records")
    steps = data.draw(st.lists(st.integers(1, 3), min_size=count, max_size=count), label="gaps")
    values: list[int] = []
    for step in steps:  # sequence numbers with gaps (records filtered out in between)
        values.append((values[-1] if values else 0) + step)
    poison = data.draw(st.sets(st.sampled_from(values)), label="poison")
    bisect = data.draw(st.booleans(), label="bisect")
    report = data.draw(st.booleans(), label="report_failures")
    retries = data.draw(st.integers(0, 3), label="retries")
    size = data.draw(st.integers(1, 8), label="batch_size")
    rules = Rules(report_failures=report, bisect=bisect, maximum_retry_attempts=retries)

    # The shard, cut into batches; a batch's ``through`` reaches just before the next
    # batch's first record (filtered records between batches are checkpointed past).
    queue: list[Batch] = []
    for start in range(0, count, size):
        chunk = values[start : start + size]
        following = values[start + size] if start + size < count else chunk[-1] + 3
        queue.append(Batch([rec(v) for v in chunk], seq(following - 1)))
    last_through = queue[-1].through

    processed: set[int] = set()  # records the handler processed successfully
    delivered: set[int] = set()
    discards: list[Batch] = []

    def number(record: dict[str, Any]) -> int:
        return int(record["dynamodb"]["SequenceNumber"]) - BASE_SEQ

    def handler(batch: Batch) -> InvokeResult:
        got = [number(r) for r in batch.records]
        delivered.update(got)
        bad = [n for n in got if n in poison]
        if report:  # processes each record; reports exactly the poison ones it got
            processed.update(n for n in got if n not in poison)
            if not bad:
                return InvokeResult(payload=data.draw(st.sampled_from([None, {}, failures()])))
            return InvokeResult(payload=failures(*data.draw(st.permutations(bad))))
        if bad:
            return InvokeResult(error="Unhandled", message="poison")
        processed.update(got)
        return InvokeResult(payload=None)

    checkpoints: list[int] = []
    pending: list[Batch] = []
    invocations = 0
    while queue or pending:
        if not pending:
            pending = [queue.pop(0)]
        batch = pending[0]
        batch.invokes += 1
        invocations += 1
        assert invocations <= 5000, "the lane does not terminate"
        verdict = judge(batch, handler(batch), rules, NOW)
        pending = verdict.next + pending[1:]
        through = verdict.done_through
        if verdict.discarded is not None:
            assert verdict.condition == RETRIES_EXHAUSTED
            assert verdict.discarded.attempts == retries + 1
            discards.append(verdict.discarded)
            through = verdict.discarded.through
        if through is not None:
            checkpoints.append(int(through))
            # The checkpoint never passes a record that was neither processed nor discarded.
            settled = processed | {number(r) for b in discards for r in b.records}
            assert all(v in settled for v in values if BASE_SEQ + v <= int(through))

    assert checkpoints == sorted(checkpoints), "the checkpoint moved backwards"
    assert checkpoints[-1] == int(last_through)
    assert delivered == set(values)
    assert not processed & poison
    discarded_numbers = [number(r) for b in discards for r in b.records]
    for p in poison:
        assert discarded_numbers.count(p) == 1, f"poison {p} not discarded exactly once"
    for b in discards:  # only batches holding a poison record are ever discarded
        assert any(number(r) in poison for r in b.records)
        if bisect and not report:
            assert len(b.records) == 1  # bisect isolates each poison record
    for v in values:
        if v in poison:
            continue
        if report or bisect:
            assert v in processed, f"record {v} never processed"
        else:  # a whole failing batch is discarded with its poison record
            assert v in processed or v in discarded_numbers
