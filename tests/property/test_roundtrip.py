"""Random items survive put → get exactly (after DynamoDB's number normalisation)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynoxide_streams.engine.values import normalize_number

names = st.text(min_size=1, max_size=12)
# Up to 38 significant digits, magnitudes well inside DynamoDB's range.
numbers = st.builds(
    lambda digits, exponent: str(Decimal(digits).scaleb(exponent)),
    st.integers(-(10**38) + 1, 10**38 - 1),
    st.integers(-90, 80),
)
binaries = st.binary(max_size=20).map(lambda b: base64.b64encode(b).decode())
scalars = st.one_of(
    st.text(max_size=20).map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": n}),
    binaries.map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.sets(st.text(max_size=8), min_size=1, max_size=5).map(lambda s: {"SS": sorted(s)}),
    st.sets(st.integers(-1000, 1000), min_size=1, max_size=5).map(
        lambda s: {"NS": [str(n) for n in sorted(s)]}
    ),
    st.sets(st.binary(max_size=6), min_size=1, max_size=4).map(
        lambda s: {"BS": [base64.b64encode(b).decode() for b in sorted(s)]}
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: {"L": items}),
        st.dictionaries(names, inner, max_size=4).map(lambda m: {"M": m}),
    ),
    max_leaves=12,
)
items = st.dictionaries(names.filter(lambda n: n != "pk"), values, max_size=8)


def normalised(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "N":
        return {"N": normalize_number(inner)}
    if kind == "NS":
        return {"NS": [normalize_number(n) for n in inner]}
    if kind == "L":
        return {"L": [normalised(v) for v in inner]}
    if kind == "M":
        return {"M": {k: normalised(v) for k, v in inner.items()}}
    return value


def _sets_sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (sorted(v) if k in ("SS", "NS", "BS") else _sets_sorted(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_sets_sorted(v) for v in value]
    return value


@pytest.mark.slow
def test_random_items_round_trip(raw: Any, make_table: Callable[..., str]) -> None:
    table = make_table(range_key=None)
    counter = iter(range(10**9))

    @settings(
        max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(item=items)
    def check(item: dict[str, dict[str, Any]]) -> None:
        key = f"k{next(counter)}"
        full = {"pk": {"S": key}, **item}
        put = raw.call("PutItem", {"TableName": table, "Item": full})
        assert put.status == 200, put.body
        got = raw.call(
            "GetItem", {"TableName": table, "Key": {"pk": {"S": key}}, "ConsistentRead": True}
        )
        assert got.status == 200
        expected = {name: normalised(v) for name, v in full.items()}
        assert _sets_sorted(got.json["Item"]) == _sets_sorted(expected)

    check()
