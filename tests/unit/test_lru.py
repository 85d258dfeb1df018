"""The bounded map of dynoxide_streams.lru: order, eviction, weights, expiry."""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import given
from hypothesis import strategies as st

from dynoxide_streams.lru import LRU


def test_put_evicts_the_oldest_beyond_capacity() -> None:
    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    lru.put("c", 3)
    assert "a" not in lru
    assert (lru.get("b"), lru.get("c"), len(lru)) == (2, 3, 2)


def test_get_leaves_the_order_alone_and_touch_refreshes() -> None:
    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1
    lru.put("c", 3)
    assert "a" not in lru  # get did not refresh it
    assert lru.touch("b")
    lru.put("d", 4)
    assert list(lru) == ["b", "d"]
    assert not lru.touch("zzz")


def test_replacing_keeps_the_place() -> None:
    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    lru.put("a", 10)
    lru.put("c", 3)
    assert list(lru) == ["b", "c"]


def test_pop_returns_the_value_or_none() -> None:
    lru: LRU[str, int] = LRU(3)
    lru.put("a", 1)
    assert lru.pop("a") == 1
    assert lru.pop("a") is None
    assert len(lru) == 0 and lru.weight == 0


def test_weighted_capacity_counts_the_weights() -> None:
    lru: LRU[str, bytes] = LRU(10, len)
    lru.put("a", b"xxxx")
    lru.put("b", b"xxxx")
    assert lru.weight == 8
    lru.put("a", b"xx")  # replaced: weight follows
    assert lru.weight == 6
    lru.put("c", b"xxxxxx")
    assert "a" not in lru and lru.weight == 10
    lru.put("d", b"x" * 11)  # alone over capacity: evicted too
    assert len(lru) == 0 and lru.weight == 0


def test_evict_while_stops_at_the_first_fresh_entry() -> None:
    lru: LRU[str, int] = LRU(10)
    for key, expires in (("a", 1), ("b", 5), ("c", 2)):
        lru.put(key, expires)
    lru.evict_while(lambda _key, expires: expires <= 3)
    assert list(lru) == ["b", "c"]


operations = st.lists(
    st.tuples(st.sampled_from(["put", "get", "touch", "pop"]), st.integers(0, 6), st.integers(1, 4))
)


@given(operations, st.integers(1, 8))
def test_matches_a_hand_kept_ordered_dict(ops: list[tuple[str, int, int]], capacity: int) -> None:
    """Against the OrderedDict code every user had before (weight = value)."""
    lru: LRU[int, int] = LRU(capacity, lambda value: value)
    model: OrderedDict[int, int] = OrderedDict()
    for op, key, value in ops:
        if op == "put":
            lru.put(key, value)
            model[key] = value
            while sum(model.values()) > capacity:
                model.popitem(last=False)
        elif op == "get":
            assert lru.get(key) == model.get(key)
        elif op == "touch":
            assert lru.touch(key) == (key in model)
            if key in model:
                model.move_to_end(key)
        else:
            assert lru.pop(key) == model.pop(key, None)
        assert lru.weight == sum(model.values())
        assert len(lru) == len(model)
    assert list(lru) == list(model)
