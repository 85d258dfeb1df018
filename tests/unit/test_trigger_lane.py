"""One trigger lane as a pure state machine (dynoxide_streams/triggers/lane.py): each
transition fed by hand (batch ready, idle, window, retry, bisect, partial failure,
discard to the dead letters, record age, shard end, stream gone), and a lane driven
by random outcomes (hypothesis) that must keep the protocol, never move its
checkpoint back and account for every record exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynoxide_streams.engine.trigger_store import Checkpoint
from dynoxide_streams.triggers import events
from dynoxide_streams.triggers.functions import InvokeResult
from dynoxide_streams.triggers.lane import (
    BISECT,
    DEAD_LETTER,
    IDLE_RECHECK_SECONDS,
    RETRY,
    RETRY_BASE_DELAY,
    RETRY_MAX_DELAY,
    SPLIT,
    WINDOW_RECHECK_SECONDS,
    Action,
    CloseWindow,
    Collect,
    Collected,
    DeadLetter,
    Failure,
    Invoke,
    Lane,
    Report,
    Resume,
    Save,
    Stop,
    retry_delay,
    window_of,
)
from dynoxide_streams.triggers.retry_rules import (
    RECORD_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    Batch,
    Rules,
)
from tests.unit.test_trigger_retry_rules import STREAM_ARN, rec, seq

NOW = 1_700_000_010.0  # 30 s into the window W0 (rec() creates records at 1_699_999_995)
W0 = 1_699_999_980.0  # the start of the 60 s window of rec()'s records
SHARD = "shardId-00000001700000000000-0000abcd"
START = "0"
ANSWERS = (Collect, Invoke, Resume, CloseWindow, Stop)
ERROR = InvokeResult(error="Unhandled", error_type="ValueError", message="boom", status_code=200)
OK = InvokeResult(payload=None)


def lane(
    position: str = START,
    window: dict[str, Any] | None = None,
    tumbling_window: int = 0,
    **rules: Any,
) -> Lane:
    return Lane(
        Checkpoint(SHARD, 0, position, False, window),
        rules=Rules(require_state=tumbling_window > 0, **rules),
        tumbling_window=tumbling_window,
        stream_arn=STREAM_ARN,
    )


def got(*ns: int, consumed: int | None = None, **kw: Any) -> Collected:
    """A Collected of records ns (consumed: a later position, records filtered out)."""
    last = consumed if consumed is not None else ns[-1]
    return Collected([rec(n) for n in ns], seq(last), False, **kw)


def saved(position: str, finished: bool = False, window: dict[str, Any] | None = None) -> Save:
    return Save(Checkpoint(SHARD, 0, position, finished, window))


def invoked_records(actions: list[Action]) -> list[str]:
    assert isinstance(actions[-1], Invoke), actions
    return [events.sequence_of(r) for r in actions[-1].event["Records"]]


def window_event(records: list[dict[str, Any]], start: float, state: Any, final: bool) -> Any:
    return events.window_event(
        records,
        window_start=start,
        window_end=start + 60,
        state=state,
        shard_id=SHARD,
        stream_arn=STREAM_ARN,
        final=final,
    )


# ------------------------------------------------------------------ starting, idle


def test_a_lane_starts_by_collecting() -> None:
    assert lane().start() == [Collect()]


def test_stream_or_shard_gone_saves_a_finished_checkpoint_and_stops() -> None:
    machine = lane(position=seq(3))
    assert machine.collected(None, NOW) == [saved(seq(3), finished=True), Stop()]


def test_nothing_new_waits_for_the_next_commit_without_saving() -> None:
    machine = lane(position=seq(3))
    idle = Collected([], seq(3), False)
    assert machine.collected(idle, NOW) == [Collect(IDLE_RECHECK_SECONDS)]


def test_records_all_filtered_out_move_the_checkpoint_then_wait() -> None:
    machine = lane(position=seq(3))
    filtered = Collected([], seq(9), False)
    assert machine.collected(filtered, NOW) == [
        saved(seq(9)),
        Collect(IDLE_RECHECK_SECONDS),
    ]
    assert machine.position == seq(9)


def test_an_open_window_is_rechecked_against_the_clock_more_often() -> None:
    window = {"start": W0, "state": {"n": 1}}
    machine = lane(position=seq(3), window=window, tumbling_window=60)
    idle = Collected([], seq(3), False)
    assert machine.collected(idle, NOW) == [Collect(WINDOW_RECHECK_SECONDS)]


# ---------------------------------------------------------------------- shard end


def test_shard_end_saves_a_finished_checkpoint_at_the_end_and_stops() -> None:
    machine = lane(position=seq(3))
    end = Collected([], seq(5), True)
    assert machine.collected(end, NOW) == [saved(seq(5), finished=True), Stop()]


def test_shard_end_with_an_open_window_closes_it_first() -> None:
    window = {"start": W0, "state": {"n": 2}}
    machine = lane(position=seq(3), window=window, tumbling_window=60)
    end = Collected([], seq(3), True)
    assert machine.collected(end, NOW) == [CloseWindow(window_event([], W0, {"n": 2}, True))]
    assert machine.window_closed() == [saved(seq(3)), saved(seq(3), finished=True), Stop()]
    assert machine.window is None


# -------------------------------------------------------------------- batch ready


def test_a_batch_is_invoked_with_its_records_and_success_checkpoints_it() -> None:
    machine = lane()
    actions = machine.collected(got(1, 2, 3), NOW)
    assert actions == [Invoke(events.stream_event([rec(1), rec(2), rec(3)]))]
    assert machine.pending[0].invokes == 1
    assert machine.invoked(OK, NOW) == [saved(seq(3)), Report(True), Resume()]
    assert machine.resume(NOW) == [Collect()]


def test_success_checkpoints_past_records_filtered_out_after_the_last_one() -> None:
    machine = lane()
    machine.collected(got(1, 2, consumed=7), NOW)
    assert machine.invoked(OK, NOW)[0] == saved(seq(7))


# ---------------------------------------------------------------------- retries


def test_a_function_error_backs_off_and_retries_the_same_batch() -> None:
    machine = lane()
    first = machine.collected(got(1, 2), NOW)
    assert machine.invoked(ERROR, NOW) == [
        Report(False, Failure("ValueError", "boom", RETRY, 1, 2, 1)),
        Resume(RETRY_BASE_DELAY),
    ]
    assert machine.resume(NOW) == first
    assert machine.pending[0].invokes == 2
    assert machine.invoked(ERROR, NOW) == [
        Report(False, Failure("ValueError", "boom", RETRY, 2, 2, 2)),
        Resume(2 * RETRY_BASE_DELAY),
    ]
    assert machine.failures == 2


def test_a_failure_streak_ends_with_a_success_and_the_next_failure_begins_one() -> None:
    machine = lane()
    machine.collected(got(1), NOW)
    machine.invoked(ERROR, NOW)
    machine.resume(NOW)
    machine.invoked(OK, NOW)
    machine.resume(NOW)
    machine.collected(got(2), NOW)
    report = machine.invoked(ERROR, NOW)[0]
    assert isinstance(report, Report) and report.failure is not None
    assert report.failure.streak == 1


def test_success_after_failures_resets_the_back_off() -> None:
    machine = lane()
    machine.collected(got(1), NOW)
    machine.invoked(ERROR, NOW)
    machine.resume(NOW)
    machine.invoked(OK, NOW)
    assert machine.failures == 0


def test_the_back_off_doubles_up_to_its_maximum() -> None:
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays[:3] == [RETRY_BASE_DELAY, 2 * RETRY_BASE_DELAY, 4 * RETRY_BASE_DELAY]
    assert delays == sorted(delays)
    assert delays[-1] == RETRY_MAX_DELAY


def test_retries_exhausted_discard_the_batch_to_the_dead_letters_and_go_on() -> None:
    machine = lane(maximum_retry_attempts=1)
    machine.collected(got(1, 2), NOW)
    machine.invoked(ERROR, NOW)
    machine.resume(NOW)
    actions = machine.invoked(ERROR, NOW)
    discarded = Batch([rec(1), rec(2)], seq(2), attempts=2, invokes=2)
    assert actions == [
        DeadLetter(discarded, RETRIES_EXHAUSTED, ERROR, ("ValueError", "boom")),
        saved(seq(2)),
        Report(False, Failure("ValueError", "boom", DEAD_LETTER, 2, 2, 2)),
        Resume(),
    ]
    assert machine.resume(NOW) == [Collect()]
    assert machine.collected(got(3), NOW) == [Invoke(events.stream_event([rec(3)]))]
    report = machine.invoked(ERROR, NOW)[0]  # the next batch's failure begins a new streak
    assert isinstance(report, Report) and report.failure is not None
    assert report.failure.streak == 1


def test_a_batch_too_old_is_discarded_without_being_invoked() -> None:
    machine = lane(maximum_record_age=60)
    old = Collected([rec(1, created=NOW - 61)], seq(4), False)
    assert machine.collected(old, NOW) == [
        DeadLetter(Batch([rec(1, created=NOW - 61)], seq(4)), RECORD_AGE_EXCEEDED, InvokeResult()),
        saved(seq(4)),
        Report(False),
        Resume(),
    ]


def test_a_batch_that_ages_out_while_retrying_is_discarded_at_the_next_attempt() -> None:
    machine = lane(maximum_record_age=60)
    machine.collected(Collected([rec(1, created=NOW - 50)], seq(1), False), NOW)
    machine.invoked(ERROR, NOW)
    actions = machine.resume(NOW + 20)
    assert isinstance(actions[0], DeadLetter)
    assert actions[0].condition == RECORD_AGE_EXCEEDED
    assert actions[0].batch.invokes == 1
    assert actions[0].last_error == ("ValueError", "boom")  # what failed before it aged out
    assert actions[2] == Report(False)  # no invocation: nothing new to log


# ------------------------------------------------------------ bisect, partial failure


def test_bisect_invokes_the_halves_in_order_without_moving_the_checkpoint() -> None:
    machine = lane(bisect=True)
    machine.collected(got(1, 2, 3, 4), NOW)
    assert machine.invoked(ERROR, NOW) == [
        Report(False, Failure("ValueError", "boom", BISECT, 1, 4, 1)),
        Resume(RETRY_BASE_DELAY),
    ]
    assert invoked_records(machine.resume(NOW)) == [seq(1), seq(2)]
    assert machine.invoked(OK, NOW) == [saved(seq(2)), Report(True), Resume()]
    assert invoked_records(machine.resume(NOW)) == [seq(3), seq(4)]
    assert machine.invoked(OK, NOW) == [saved(seq(4)), Report(True), Resume()]
    assert machine.resume(NOW) == [Collect()]


def test_a_reported_partial_failure_checkpoints_before_it_and_retries_from_it() -> None:
    machine = lane(report_failures=True)
    machine.collected(got(1, 2, 3), NOW)
    partial = InvokeResult(payload={"batchItemFailures": [{"itemIdentifier": seq(2)}]})
    reported = f"the function reported failed records from sequence number {seq(2)}"
    assert machine.invoked(partial, NOW) == [
        saved(seq(1)),
        Report(False, Failure("BatchItemFailures", reported, SPLIT, 1, 3, 1)),
        Resume(RETRY_BASE_DELAY),
    ]
    assert invoked_records(machine.resume(NOW)) == [seq(2), seq(3)]
    assert machine.invoked(OK, NOW) == [saved(seq(3)), Report(True), Resume()]


# ---------------------------------------------------------------- tumbling windows


def test_window_of_floors_the_creation_time_to_the_window_size() -> None:
    assert window_of(rec(1, created=W0 + 59.9), 60) == W0
    assert window_of(rec(1, created=W0 + 60), 60) == W0 + 60


def test_a_window_batch_carries_the_state_and_keeps_the_returned_state() -> None:
    machine = lane(tumbling_window=60)
    batch = got(1, 2, window_start=W0)
    early = W0 + 10  # the window is still open: not final
    assert machine.collected(batch, early) == [
        Invoke(window_event([rec(1), rec(2)], W0, {}, final=False))
    ]
    window = {"start": W0, "state": {"n": 2}}
    assert machine.invoked(InvokeResult(payload={"state": {"n": 2}}), early) == [
        saved(seq(2), window=window),
        Report(True),
        Resume(),
    ]
    assert machine.window == window
    assert machine.resume(early) == [Collect()]
    assert machine.collected(got(3, window_start=W0), early) == [
        Invoke(window_event([rec(3)], W0, {"n": 2}, final=False))
    ]


def test_a_window_response_without_state_fails_the_batch() -> None:
    machine = lane(tumbling_window=60)
    machine.collected(got(1, window_start=W0), W0 + 10)
    missing = "a tumbling-window response must carry a state object"
    assert machine.invoked(OK, W0 + 10) == [
        Report(False, Failure("MissingWindowState", missing, RETRY, 1, 1, 1)),
        Resume(RETRY_BASE_DELAY),
    ]
    assert machine.window is None


def test_a_batch_past_its_window_end_is_the_final_invocation_and_closes_it() -> None:
    machine = lane(tumbling_window=60)
    late = W0 + 60
    assert machine.collected(got(1, window_start=W0), late) == [
        Invoke(window_event([rec(1)], W0, {}, final=True))
    ]
    assert machine.invoked(InvokeResult(payload={"state": {}}), late)[0] == saved(seq(1))
    assert machine.window is None


def test_a_batch_followed_by_a_later_window_is_final() -> None:
    machine = lane(tumbling_window=60)
    actions = machine.collected(got(1, window_start=W0, window_final=True), W0 + 1)
    assert actions == [Invoke(window_event([rec(1)], W0, {}, final=True))]


def test_only_the_last_half_of_a_bisected_final_batch_is_final() -> None:
    machine = lane(tumbling_window=60, bisect=True)
    machine.collected(got(1, 2, window_start=W0, window_final=True), W0 + 1)
    machine.invoked(ERROR, W0 + 1)
    head = machine.resume(W0 + 1)
    assert head == [Invoke(window_event([rec(1)], W0, {}, final=False))]
    machine.invoked(InvokeResult(payload={"state": {"n": 1}}), W0 + 1)
    tail = machine.resume(W0 + 1)
    assert tail == [Invoke(window_event([rec(2)], W0, {"n": 1}, final=True))]
    machine.invoked(InvokeResult(payload={"state": {"n": 2}}), W0 + 1)
    assert machine.window is None


def test_records_of_a_new_window_close_the_open_one_first() -> None:
    window = {"start": W0, "state": {"n": 5}}
    machine = lane(position=seq(3), window=window, tumbling_window=60)
    later = W0 + 60
    batch = Collected([rec(4, created=later + 1)], seq(4), False, window_start=later)
    assert machine.collected(batch, later + 2) == [
        CloseWindow(window_event([], W0, {"n": 5}, final=True))
    ]
    assert machine.window_closed() == [saved(seq(3)), Resume()]
    assert machine.resume(later + 2) == [
        Invoke(window_event([rec(4, created=later + 1)], later, {}, final=False))
    ]


def test_an_idle_window_whose_end_has_passed_is_closed_then_collecting_goes_on() -> None:
    window = {"start": W0, "state": {"n": 5}}
    machine = lane(position=seq(3), window=window, tumbling_window=60)
    idle = Collected([], seq(3), False)
    assert machine.collected(idle, W0 + 59) == [Collect(WINDOW_RECHECK_SECONDS)]
    assert machine.collected(idle, W0 + 60) == [
        CloseWindow(window_event([], W0, {"n": 5}, final=True))
    ]
    assert machine.window_closed() == [saved(seq(3)), Collect()]


def test_a_finished_checkpoint_keeps_an_open_window() -> None:
    window = {"start": W0, "state": {"n": 5}}
    machine = lane(position=seq(3), window=window, tumbling_window=60)
    assert machine.collected(None, NOW) == [saved(seq(3), True, window), Stop()]


# ------------------------------------------------------------ random outcomes


OUTCOMES = st.sampled_from(["ok", "error", "partial", "garbled"])


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    outcomes=st.lists(OUTCOMES, max_size=60),
    bisect=st.booleans(),
    report_failures=st.booleans(),
    maximum_retry_attempts=st.integers(-1, 3),
)
def test_random_outcomes_keep_the_protocol_and_account_for_every_record(
    sizes: list[int],
    outcomes: list[str],
    bisect: bool,
    report_failures: bool,
    maximum_retry_attempts: int,
) -> None:
    """The lane reads ``sizes`` batches then the shard's end; each invocation ends as
    the next outcome says (success once they run out). Every action list ends in
    exactly one action to answer, the checkpoint never moves back, and each record is
    delivered by a successful invocation or discarded, once, in shard order."""
    machine = lane(
        bisect=bisect,
        report_failures=report_failures,
        maximum_retry_attempts=maximum_retry_attempts,
    )
    reads: list[Collected] = []
    n = 0
    for size in sizes:
        reads.append(got(*range(n + 1, n + size + 1)))
        n += size
    reads.append(Collected([], seq(n), True))
    script = iter(outcomes)
    done: list[str] = []  # records delivered or discarded, in order
    position = START
    actions = machine.start()
    for _ in range(10_000):
        *ahead, last = actions
        assert isinstance(last, ANSWERS)
        assert not any(isinstance(a, ANSWERS) for a in ahead)
        for action in ahead:
            if isinstance(action, Save):
                assert (len(action.checkpoint.position), action.checkpoint.position) >= (
                    len(position),
                    position,
                )
                position = action.checkpoint.position
            elif isinstance(action, DeadLetter):
                done.extend(events.sequence_of(r) for r in action.batch.records)
        if isinstance(last, Stop):
            break
        if isinstance(last, Collect):
            actions = machine.collected(reads.pop(0), NOW)
        elif isinstance(last, Resume):
            actions = machine.resume(NOW)
        elif isinstance(last, Invoke):
            records = last.event["Records"]
            outcome = next(script, "ok")
            if outcome == "ok":
                result = OK
            elif outcome == "error":
                result = ERROR
            elif outcome == "partial":
                failed = records[len(records) // 2]
                identifier = {"itemIdentifier": events.sequence_of(failed)}
                result = InvokeResult(payload={"batchItemFailures": [identifier]})
            else:
                result = InvokeResult(payload={"batchItemFailures": "nonsense"})
            actions = machine.invoked(result, NOW)
            delivered = result is OK or (not report_failures and result.error is None)
            if delivered:
                done.extend(events.sequence_of(r) for r in records)
            elif outcome == "partial" and report_failures:
                done.extend(events.sequence_of(r) for r in records[: len(records) // 2])
        else:
            pytest.fail(f"unexpected action {last}")
    else:
        pytest.fail("the lane never stopped")
    assert done == [seq(i) for i in range(1, n + 1)]
    assert position == seq(n)
