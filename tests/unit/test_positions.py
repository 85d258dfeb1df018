"""Positions and lane checkpoints (``shards/positions.py``), without I/O.

* positions compare by the number they name: as integers for any decimal strings
  (leading zeros, lengths), and as (length, text) — the comparison the pollers and
  leases used — for canonical sequence numbers and the 21-zero start position;
* text that is not a decimal string sorts before every number;
* ``earliest``/``latest`` pick the first of equal positions;
* a lease's lanes: a new checkpoint replaces its lane's and keeps the others in lane
  order; the summary is the earliest position until every lane of the factor has
  finished, then SHARD_END; a smaller factor than lanes stored still needs all of
  them finished, a larger one needs every lane to have a checkpoint.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynoxide_streams.shards.positions import (
    SHARD_END,
    Checkpoint,
    StoredLanes,
    all_finished,
    earliest,
    is_after,
    latest,
    position_key,
)

BEFORE_ALL = "0" * 21
digits = st.text(alphabet="0123456789", min_size=1, max_size=45)
sequence_numbers = st.integers(min_value=10**20, max_value=10**40 - 1).map(str)
canonical = st.one_of(st.just(BEFORE_ALL), sequence_numbers)
not_decimal = st.text(min_size=0, max_size=10).filter(lambda t: not (t.isascii() and t.isdigit()))


@given(digits, digits)
def test_decimal_positions_compare_as_numbers(a: str, b: str) -> None:
    assert is_after(a, b) == (int(a) > int(b))
    assert position_key(a) == int(a)


@given(canonical, canonical)
def test_wire_positions_compare_as_length_then_text(a: str, b: str) -> None:
    assert is_after(a, b) == ((len(a), a) > (len(b), b))


@given(not_decimal, digits)
def test_malformed_positions_come_before_every_number(bad: str, good: str) -> None:
    assert is_after(good, bad)
    assert not is_after(bad, good)
    assert position_key(bad) == -1


def test_unicode_digits_are_not_positions() -> None:
    assert position_key("²") == -1  # str.isdigit() says yes, int() says no
    assert position_key("١٢") == -1


@given(st.lists(digits, min_size=1, max_size=8))
def test_earliest_and_latest(positions: list[str]) -> None:
    low, high = earliest(positions), latest(positions)
    assert int(low) == min(int(p) for p in positions)
    assert int(high) == max(int(p) for p in positions)
    assert low == next(p for p in positions if int(p) == int(low))  # the first of equals
    assert high == next(p for p in positions if int(p) == int(high))


def test_earliest_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        earliest([])


def cp(lane: int, position: str, finished: bool = False) -> Checkpoint:
    return Checkpoint("shardId-1", lane, position, finished)


def test_a_checkpoint_replaces_its_lane_and_keeps_the_others() -> None:
    lanes = StoredLanes(2, (cp(0, "11"), cp(1, "12")), "7")
    after = lanes.with_checkpoint(cp(0, "14"), 2)
    assert after.checkpoints == (cp(0, "14"), cp(1, "12"))
    assert after.start_after == "7"
    assert after.summary == "12"  # the earliest lane
    assert lanes.checkpoints == (cp(0, "11"), cp(1, "12"))  # frozen: a new value


def test_lanes_are_kept_in_lane_order_and_written_for_the_new_factor() -> None:
    lanes = StoredLanes().with_checkpoint(cp(2, "30"), 3).with_checkpoint(cp(0, "9"), 3)
    assert [c.lane for c in lanes.checkpoints] == [0, 2]
    assert lanes.factor == 3
    assert lanes.summary == "9"


def test_summary_is_shard_end_only_when_every_lane_finished() -> None:
    assert StoredLanes().summary is None
    one = StoredLanes().with_checkpoint(cp(0, "9", finished=True), 2)
    assert not one.finished
    assert one.summary == "9"  # lane 1 has no checkpoint yet
    both = one.with_checkpoint(cp(1, "10", finished=True), 2)
    assert both.finished
    assert both.summary == SHARD_END
    assert not both.with_checkpoint(cp(1, "11"), 2).finished


def test_a_smaller_factor_still_needs_every_stored_lane_finished() -> None:
    lanes = StoredLanes(2, (cp(0, "9", finished=True), cp(1, "8")))
    assert not lanes.with_checkpoint(cp(0, "9", finished=True), 1).finished
    assert all_finished([cp(0, "9", True), cp(1, "9", True)], 1)
    assert not all_finished([cp(0, "9", True)], 2)
    assert all_finished([], 0)


@given(st.lists(st.tuples(st.integers(0, 3), sequence_numbers, st.booleans()), max_size=12))
def test_lanes_hold_the_last_checkpoint_of_each_lane(
    writes: list[tuple[int, str, bool]],
) -> None:
    lanes = StoredLanes()
    last: dict[int, Checkpoint] = {}
    for lane, position, finished in writes:
        lanes = lanes.with_checkpoint(cp(lane, position, finished), 4)
        last[lane] = cp(lane, position, finished)
    assert lanes.checkpoints == tuple(last[lane] for lane in sorted(last))
    if last and not (len(last) == 4 and all(c.finished for c in last.values())):
        assert lanes.summary == min((c.position for c in last.values()), key=int)
