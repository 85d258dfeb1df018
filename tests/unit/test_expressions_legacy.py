"""Expressions: legacy parameters (Expected, AttributeUpdates, KeyConditions,
QueryFilter/ScanFilter, ConditionalOperator, AttributesToGet) → the expression AST."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynoxide_streams.engine.expressions import (
    Substitutions,
    apply_update,
    evaluate,
    parse_condition,
    parse_key_condition,
    parse_update,
    project,
    references,
)
from dynoxide_streams.engine.expressions.ast import (
    And,
    AttributeNotExists,
    Comparison,
    KeyTerm,
    ListAppend,
    Or,
    PathOperand,
    SetAction,
    ValueOperand,
)
from dynoxide_streams.engine.expressions.legacy import (
    TYPE_MISMATCH,
    apply_attribute_updates,
    attribute_updates_plan,
    attributes_to_get_paths,
    check_conditional_operator,
    expected_condition,
    filter_condition,
    key_conditions_terms,
)
from dynoxide_streams.errors import SerializationException, ValidationException

INVALID = "One or more parameter values were invalid: "


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def S(text: str) -> dict[str, Any]:
    return {"S": text}


def N(text: str) -> dict[str, Any]:
    return {"N": text}


def B(data: bytes) -> dict[str, Any]:
    return {"B": b64(data)}


def cond(op: str, *values: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"ComparisonOperator": op}
    if values:
        entry["AttributeValueList"] = list(values)
    return entry


def expression(text: str, values: dict[str, Any] | None = None) -> Any:
    return parse_condition(text, Substitutions({"#a": "a", "#b": "b"}, values or {}))


# Items the equivalences are evaluated on: attribute ``a`` of every type (and missing).
ITEMS: list[dict[str, Any] | None] = [
    None,
    {},
    {"b": S("x")},
    {"a": S("")},
    {"a": S("abc")},
    {"a": S("abd")},
    {"a": S("b")},
    {"a": S("ab")},
    {"a": N("-1")},
    {"a": N("0")},
    {"a": N("5")},
    {"a": N("5.0")},
    {"a": N("10")},
    {"a": N("1234")},
    {"a": B(b"\x01\x02")},
    {"a": B(b"\x01")},
    {"a": B(b"\x03")},
    {"a": {"BOOL": True}},
    {"a": {"BOOL": False}},
    {"a": {"NULL": True}},
    {"a": {"SS": ["abc", "x"]}},
    {"a": {"SS": ["ab"]}},
    {"a": {"NS": ["5", "7"]}},
    {"a": {"NS": ["1234"]}},
    {"a": {"BS": [b64(b"\x01"), b64(b"\x09")]}},
    {"a": {"L": [S("ab"), N("5"), {"BOOL": True}]}},
    {"a": {"L": []}},
    {"a": {"M": {"x": N("5")}}},
    {"a": {"M": {}}},
    {"a": S("x"), "b": N("5")},
    {"a": N("5"), "b": S("x")},
    {"a": N("7"), "b": N("5")},
]


def assert_equivalent(legacy: Any, text: str, values: dict[str, Any]) -> None:
    parsed = expression(text, values)
    assert legacy == parsed
    for item in ITEMS:
        assert evaluate(legacy, item) == evaluate(parsed, item), item


# ----------------------------------------------------------- equivalences

EQUIVALENCES = [
    (cond("EQ", S("abc")), "a = :v", {":v": S("abc")}),
    (cond("EQ", N("5")), "a = :v", {":v": N("5")}),
    (cond("EQ", {"SS": ["x", "abc"]}), "a = :v", {":v": {"SS": ["x", "abc"]}}),
    (cond("EQ", {"BOOL": True}), "a = :v", {":v": {"BOOL": True}}),
    (cond("EQ", {"L": []}), "a = :v", {":v": {"L": []}}),
    (cond("EQ", {"M": {"x": N("5")}}), "a = :v", {":v": {"M": {"x": N("5")}}}),
    (cond("NE", S("abc")), "a <> :v", {":v": S("abc")}),
    (cond("NE", N("5")), "a <> :v", {":v": N("5")}),
    (cond("NE", {"NULL": True}), "a <> :v", {":v": {"NULL": True}}),
    (cond("LE", N("5")), "a <= :v", {":v": N("5")}),
    (cond("LT", S("abd")), "a < :v", {":v": S("abd")}),
    (cond("LT", B(b"\x02")), "a < :v", {":v": B(b"\x02")}),
    (cond("GE", N("0")), "a >= :v", {":v": N("0")}),
    (cond("GT", S("ab")), "a > :v", {":v": S("ab")}),
    (cond("NOT_NULL"), "attribute_exists(a)", {}),
    (cond("NULL"), "attribute_not_exists(a)", {}),
    (cond("CONTAINS", S("ab")), "contains(a, :v)", {":v": S("ab")}),
    (cond("CONTAINS", N("5")), "contains(a, :v)", {":v": N("5")}),
    (cond("CONTAINS", B(b"\x01")), "contains(a, :v)", {":v": B(b"\x01")}),
    (cond("CONTAINS", {"BOOL": True}), "contains(a, :v)", {":v": {"BOOL": True}}),
    (cond("NOT_CONTAINS", S("ab")), "NOT contains(a, :v)", {":v": S("ab")}),
    (cond("NOT_CONTAINS", N("1234")), "NOT contains(a, :v)", {":v": N("1234")}),
    (cond("BEGINS_WITH", S("ab")), "begins_with(a, :v)", {":v": S("ab")}),
    (cond("BEGINS_WITH", B(b"\x01")), "begins_with(a, :v)", {":v": B(b"\x01")}),
    (cond("IN", S("abc"), S("b")), "a IN (:v, :w)", {":v": S("abc"), ":w": S("b")}),
    (cond("IN", N("5")), "a IN (:v)", {":v": N("5")}),
    (
        cond("BETWEEN", N("0"), N("10")),
        "a BETWEEN :lo AND :hi",
        {":lo": N("0"), ":hi": N("10")},
    ),
    (
        cond("BETWEEN", S("ab"), S("abd")),
        "a BETWEEN :lo AND :hi",
        {":lo": S("ab"), ":hi": S("abd")},
    ),
    (
        cond("BETWEEN", B(b"\x01"), B(b"\x02")),
        "a BETWEEN :lo AND :hi",
        {":lo": B(b"\x01"), ":hi": B(b"\x02")},
    ),
]


@pytest.mark.parametrize(("entry", "text", "values"), EQUIVALENCES)
def test_filter_operator_equals_expression(
    entry: dict[str, Any], text: str, values: dict[str, Any]
) -> None:
    assert_equivalent(filter_condition({"a": entry}, None), text, values)


@pytest.mark.parametrize(("entry", "text", "values"), EQUIVALENCES)
def test_expected_operator_equals_expression(
    entry: dict[str, Any], text: str, values: dict[str, Any]
) -> None:
    assert_equivalent(expected_condition({"a": entry}, None), text, values)


def test_expected_value_alone_is_equality() -> None:
    assert_equivalent(expected_condition({"a": {"Value": N("5")}}, None), "a = :v", {":v": N("5")})


def test_expected_exists_true_with_value_is_equality() -> None:
    legacy = expected_condition({"a": {"Value": S("abc"), "Exists": True}}, None)
    assert_equivalent(legacy, "a = :v", {":v": S("abc")})


def test_expected_exists_false_is_attribute_not_exists() -> None:
    assert_equivalent(
        expected_condition({"a": {"Exists": False}}, None), "attribute_not_exists(a)", {}
    )


def test_expected_single_value_with_operator() -> None:
    legacy = expected_condition({"a": {"ComparisonOperator": "GT", "Value": N("0")}}, None)
    assert_equivalent(legacy, "a > :v", {":v": N("0")})


def test_expected_null_with_empty_list() -> None:
    legacy = expected_condition(
        {"a": {"ComparisonOperator": "NULL", "AttributeValueList": []}}, None
    )
    assert legacy == AttributeNotExists(("a",))


def test_not_contains_holds_for_a_missing_attribute() -> None:
    condition = filter_condition({"a": cond("NOT_CONTAINS", S("x"))}, None)
    assert evaluate(condition, {"b": S("x")})
    assert evaluate(condition, None)


def test_ne_holds_for_a_missing_attribute() -> None:
    condition = filter_condition({"a": cond("NE", S("x"))}, None)
    assert evaluate(condition, {})


def test_contains_finds_list_elements_and_set_members() -> None:
    condition = filter_condition({"a": cond("CONTAINS", N("5"))}, None)
    assert evaluate(condition, {"a": {"L": [S("x"), N("5.00")]}})
    assert evaluate(condition, {"a": {"NS": ["5", "6"]}})
    assert not evaluate(condition, {"a": N("5")})


def test_numbers_in_values_are_normalised() -> None:
    condition = filter_condition({"a": cond("EQ", N("05.50"))}, None)
    assert condition == Comparison("=", PathOperand(("a",)), ValueOperand(N("5.5")))
    plan = attribute_updates_plan({"a": {"Value": {"NS": ["1.0", "02"]}}}, ())
    assert plan.actions == (SetAction(("a",), ValueOperand({"NS": ["1", "2"]})),)


def test_attribute_names_are_literal() -> None:
    condition = filter_condition({"a.b[0]": cond("EQ", N("1"))}, None)
    assert evaluate(condition, {"a.b[0]": N("1")})
    assert not evaluate(condition, {"a": {"M": {"b": {"L": [N("1")]}}}})


# -------------------------------------------------- random-item equivalence

SCALAR_VALUES = st.one_of(
    st.builds(S, st.text(alphabet="abc", max_size=3)),
    st.builds(N, st.integers(-3, 3).map(str)),
    st.builds(B, st.binary(max_size=2)),
)
ANY_VALUES = st.recursive(
    st.one_of(
        SCALAR_VALUES,
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(
            lambda xs: {"SS": sorted(xs)}, st.sets(st.text(alphabet="abc", max_size=2), min_size=1)
        ),
        st.builds(
            lambda xs: {"NS": sorted(str(x) for x in xs)}, st.sets(st.integers(-3, 3), min_size=1)
        ),
    ),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"L": xs}, st.lists(inner, max_size=3)),
        st.builds(
            lambda m: {"M": m}, st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2)
        ),
    ),
    max_leaves=4,
)
ITEM_STRATEGY = st.dictionaries(st.sampled_from(["a", "b"]), ANY_VALUES, max_size=2)

ONE_VALUE = {
    "EQ": ("{a} = {v}0", ANY_VALUES),
    "NE": ("{a} <> {v}0", ANY_VALUES),
    "LE": ("{a} <= {v}0", SCALAR_VALUES),
    "LT": ("{a} < {v}0", SCALAR_VALUES),
    "GE": ("{a} >= {v}0", SCALAR_VALUES),
    "GT": ("{a} > {v}0", SCALAR_VALUES),
    "CONTAINS": ("contains({a}, {v}0)", SCALAR_VALUES),
    "NOT_CONTAINS": ("NOT contains({a}, {v}0)", SCALAR_VALUES),
    "BEGINS_WITH": (
        "begins_with({a}, {v}0)",
        st.one_of(
            st.builds(S, st.text(alphabet="abc", max_size=2)), st.builds(B, st.binary(max_size=1))
        ),
    ),
}

Case = tuple[dict[str, Any], str, dict[str, Any]]


@st.composite
def legacy_and_expression(draw: Any, attribute: str = "a", prefix: str = ":v") -> Case:
    """A random legacy condition on ``attribute`` and its expression form."""
    operator = draw(st.sampled_from([*ONE_VALUE, "NULL", "NOT_NULL", "IN", "BETWEEN"]))
    if operator == "NULL":
        return cond("NULL"), f"attribute_not_exists({attribute})", {}
    if operator == "NOT_NULL":
        return cond("NOT_NULL"), f"attribute_exists({attribute})", {}
    if operator in ONE_VALUE:
        template, strategy = ONE_VALUE[operator]
        value = draw(strategy)
        text = template.format(a=attribute, v=prefix)
        return cond(operator, value), text, {f"{prefix}0": value}
    if draw(st.booleans()):
        scalar = st.builds(S, st.text(alphabet="abc", max_size=3))
    else:
        scalar = st.builds(N, st.integers(-3, 3).map(str))
    if operator == "IN":
        values = draw(st.lists(scalar, min_size=1, max_size=4))
        names = [f"{prefix}{i}" for i in range(len(values))]
        text = f"{attribute} IN ({', '.join(names)})"
        return cond("IN", *values), text, dict(zip(names, values, strict=True))
    low, high = sorted(
        draw(st.lists(scalar, min_size=2, max_size=2)),
        key=lambda v: int(v["N"]) if "N" in v else v["S"],
    )
    text = f"{attribute} BETWEEN {prefix}0 AND {prefix}1"
    return cond("BETWEEN", low, high), text, {f"{prefix}0": low, f"{prefix}1": high}


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(legacy_and_expression(), st.lists(ITEM_STRATEGY, min_size=1, max_size=6))
def test_random_filters_evaluate_like_expressions(case: Case, items: list[dict[str, Any]]) -> None:
    entry, text, values = case
    legacy = filter_condition({"a": entry}, None)
    parsed = expression(text, values)
    assert legacy == parsed
    for item in items:
        assert evaluate(legacy, item) == evaluate(parsed, item)


@settings(max_examples=150, deadline=None)
@given(
    legacy_and_expression(),
    legacy_and_expression("b", ":w"),
    st.sampled_from(["AND", "OR"]),
    st.lists(ITEM_STRATEGY, min_size=1, max_size=6),
)
def test_random_conditional_operator_joins_like_expressions(
    first: Case, second: Case, joiner: str, items: list[dict[str, Any]]
) -> None:
    legacy = filter_condition({"a": first[0], "b": second[0]}, joiner)
    parsed = expression(f"{first[1]} {joiner} {second[1]}", {**first[2], **second[2]})
    assert legacy == parsed
    for item in items:
        assert evaluate(legacy, item) == evaluate(parsed, item)


# ----------------------------------------------------- ConditionalOperator


def test_conditions_are_joined_with_and_by_default() -> None:
    condition = filter_condition({"a": cond("EQ", N("5")), "b": cond("NOT_NULL")}, None)
    assert isinstance(condition, And)
    assert evaluate(condition, {"a": N("5"), "b": S("x")})
    assert not evaluate(condition, {"a": N("5")})


def test_explicit_and() -> None:
    condition = expected_condition({"a": {"Value": N("5")}, "b": {"Exists": False}}, "AND")
    assert isinstance(condition, And)
    assert evaluate(condition, {"a": N("5")})
    assert not evaluate(condition, {"a": N("5"), "b": N("1")})


def test_or_needs_one_condition() -> None:
    condition = filter_condition({"a": cond("EQ", N("5")), "b": cond("NOT_NULL")}, "OR")
    assert isinstance(condition, Or)
    assert evaluate(condition, {"b": S("x")})
    assert evaluate(condition, {"a": N("5")})
    assert not evaluate(condition, {"a": N("6")})


def test_expected_or_equals_expression() -> None:
    legacy = expected_condition({"a": {"Value": N("5")}, "b": {"Exists": False}}, "OR")
    parsed = expression("a = :v OR attribute_not_exists(b)", {":v": N("5")})
    assert legacy == parsed


def test_empty_maps_always_hold() -> None:
    assert evaluate(expected_condition({}, None), {"a": N("1")})
    assert evaluate(filter_condition({}, None), None)


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        (None, "ConditionalOperator cannot be used without Filter or Expected"),
        ({}, "ConditionalOperator cannot be used without Filter or Expected"),
        (
            {"a": cond("NULL")},
            "ConditionalOperator can only be used when Filter or Expected has two or more elements",
        ),
    ],
)
def test_conditional_operator_misuse(conditions: dict[str, Any] | None, message: str) -> None:
    for operator in ("AND", "OR"):
        with pytest.raises(ValidationException) as info:
            check_conditional_operator(operator, conditions)
        assert info.value.message == message
    if conditions is not None:
        with pytest.raises(ValidationException) as info:
            filter_condition(conditions, "OR")
        assert info.value.message == message
        with pytest.raises(ValidationException) as info:
            expected_condition({name: {"Exists": False} for name in conditions}, "AND")
        assert info.value.message == message


def test_conditional_operator_is_checked_before_the_conditions() -> None:
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": cond("EQ")}, "AND")
    assert info.value.message.startswith("ConditionalOperator can only be used")


def test_conditional_operator_enum() -> None:
    with pytest.raises(ValidationException) as info:
        check_conditional_operator("XOR", {"a": {}, "b": {}})
    assert info.value.message == (
        "1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to "
        "satisfy constraint: Member must satisfy enum value set: [OR, AND]"
    )


def test_no_conditional_operator_is_fine_without_conditions() -> None:
    check_conditional_operator(None, None)


# ------------------------------------------------------ condition errors


@pytest.mark.parametrize(
    ("entry", "operator"),
    [
        (cond("EQ"), "EQ"),
        ({"ComparisonOperator": "EQ", "AttributeValueList": []}, "EQ"),
        (cond("NE"), "NE"),
        (cond("LE"), "LE"),
        (cond("LT"), "LT"),
        (cond("GE"), "GE"),
        (cond("GT"), "GT"),
        (cond("CONTAINS"), "CONTAINS"),
        (cond("NOT_CONTAINS"), "NOT_CONTAINS"),
        (cond("BEGINS_WITH"), "BEGINS_WITH"),
        (cond("IN"), "IN"),
        (cond("BETWEEN"), "BETWEEN"),
        (cond("BETWEEN", S("a")), "BETWEEN"),
        (cond("NULL", S("a")), "NULL"),
        (cond("NOT_NULL", S("a")), "NOT_NULL"),
        (cond("EQ", S("a"), S("a")), "EQ"),
        (cond("NE", S("a"), S("a")), "NE"),
        (cond("LE", S("a"), S("a")), "LE"),
        (cond("LT", S("a"), S("a")), "LT"),
        (cond("GE", S("a"), S("a")), "GE"),
        (cond("GT", S("a"), S("a")), "GT"),
        (cond("CONTAINS", S("a"), S("a")), "CONTAINS"),
        (cond("NOT_CONTAINS", S("a"), S("a")), "NOT_CONTAINS"),
        (cond("BEGINS_WITH", S("a"), S("a")), "BEGINS_WITH"),
        (cond("NULL", S("a"), S("a")), "NULL"),
        (cond("BETWEEN", S("a"), S("a"), S("a")), "BETWEEN"),
    ],
)
def test_invalid_number_of_arguments(entry: dict[str, Any], operator: str) -> None:
    message = f"{INVALID}Invalid number of argument(s) for the {operator} ComparisonOperator"
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": entry}, None)
    assert info.value.message == message
    with pytest.raises(ValidationException) as info:
        key_conditions_terms({"a": entry})
    assert info.value.message == message
    expected_entry = dict(entry)
    expected_entry.setdefault("AttributeValueList", [])
    with pytest.raises(ValidationException) as info:
        expected_condition({"a": expected_entry}, None)
    assert info.value.message == message


@pytest.mark.parametrize("operator", ["LT", "LE", "GT", "GE", "IN"])
@pytest.mark.parametrize(
    "value",
    [
        {"BOOL": True},
        {"NULL": True},
        {"SS": ["a"]},
        {"NS": ["1"]},
        {"BS": ["abcd"]},
        {"M": {}},
        {"L": []},
    ],
)
def test_ordering_and_in_operators_take_scalars(operator: str, value: dict[str, Any]) -> None:
    kind = next(iter(value))
    message = f"{INVALID}ComparisonOperator {operator} is not valid for {kind} AttributeValue type"
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": cond(operator, value)}, None)
    assert info.value.message == message
    with pytest.raises(ValidationException) as info:
        expected_condition({"a": {"ComparisonOperator": operator, "Value": value}}, None)
    assert info.value.message == message


@pytest.mark.parametrize("operator", ["CONTAINS", "NOT_CONTAINS"])
@pytest.mark.parametrize(
    "value", [{"SS": ["a"]}, {"NS": ["1"]}, {"BS": ["abcd"]}, {"M": {}}, {"L": []}]
)
def test_contains_operators_take_no_sets_maps_or_lists(
    operator: str, value: dict[str, Any]
) -> None:
    kind = next(iter(value))
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": cond(operator, value)}, None)
    assert info.value.message == (
        f"{INVALID}ComparisonOperator {operator} is not valid for {kind} AttributeValue type"
    )


@pytest.mark.parametrize(
    "value",
    [N("1"), {"BOOL": True}, {"NULL": True}, {"SS": ["a"]}, {"NS": ["1"]}, {"M": {}}, {"L": []}],
)
def test_begins_with_takes_strings_and_binaries(value: dict[str, Any]) -> None:
    kind = next(iter(value))
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": cond("BEGINS_WITH", value)}, None)
    assert info.value.message == (
        f"{INVALID}ComparisonOperator BEGINS_WITH is not valid for {kind} AttributeValue type"
    )


@pytest.mark.parametrize(
    "value", [{"BOOL": True}, {"NULL": True}, {"SS": ["a"]}, {"M": {}}, {"L": []}]
)
def test_between_takes_scalars(value: dict[str, Any]) -> None:
    kind = next(iter(value))
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": cond("BETWEEN", value, value)}, None)
    assert info.value.message == (
        f"{INVALID}ComparisonOperator BETWEEN is not valid for {kind} AttributeValue type"
    )


@pytest.mark.parametrize(
    "entry",
    [
        cond("IN", S("a"), N("1")),
        cond("BETWEEN", N("1"), S("a")),
        cond("BETWEEN", {"BOOL": True}, S("a")),
    ],
)
def test_values_must_be_of_one_type(entry: dict[str, Any]) -> None:
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": entry}, None)
    assert info.value.message == (
        f"{INVALID}AttributeValues inside AttributeValueList must be of same type"
    )


@pytest.mark.parametrize(
    "entry",
    [
        cond("BETWEEN", N("10"), N("9")),
        cond("BETWEEN", S("b"), S("a")),
        cond("BETWEEN", B(b"\x02"), B(b"\x01")),
    ],
)
def test_between_bounds_must_be_ordered(entry: dict[str, Any]) -> None:
    message = (
        "The BETWEEN condition was provided a range where the lower bound is greater than "
        "the upper bound"
    )
    for build in (
        lambda: filter_condition({"a": entry}, None),
        lambda: key_conditions_terms({"a": entry}),
        lambda: expected_condition({"a": entry}, None),
    ):
        with pytest.raises(ValidationException) as info:
            build()
        assert info.value.message == message


def test_between_accepts_equal_bounds() -> None:
    condition = filter_condition({"a": cond("BETWEEN", N("5"), N("5.0"))}, None)
    assert evaluate(condition, {"a": N("5")})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {},
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ),
        ({"SS": []}, f"{INVALID}An string set  may not be empty"),
        ({"NULL": False}, f"{INVALID}Null attribute value types must have the value of true"),
        ({"N": "b"}, "The parameter cannot be converted to a numeric value: b"),
        (
            {"N": "1e126"},
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            {"S": "a", "N": "1"},
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one "
            "of the supported datatypes",
        ),
    ],
)
def test_attribute_values_are_validated_first(value: dict[str, Any], message: str) -> None:
    # A bad value wins over the wrong argument count, as in DynamoDB.
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": cond("EQ", N("1"), value)}, None)
    assert info.value.message == message
    with pytest.raises(ValidationException) as info:
        expected_condition({"a": {"Value": value}}, None)
    assert info.value.message == message
    with pytest.raises(ValidationException) as info:
        attribute_updates_plan({"a": {"Value": value}}, ())
    assert info.value.message == message


def test_bad_binary_is_a_serialization_error() -> None:
    with pytest.raises(SerializationException):
        filter_condition({"a": cond("EQ", {"B": "!!"})}, None)


def test_conditions_are_checked_in_order() -> None:
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": cond("EQ"), "b": cond("GT", {"SS": ["a"]})}, None)
    assert "EQ ComparisonOperator" in info.value.message


def test_missing_comparison_operator_is_a_shape_error() -> None:
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": {"AttributeValueList": [S("x")]}}, None, parameter="QueryFilter")
    assert info.value.message == (
        "1 validation error detected: Value null at 'queryFilter.a.member.comparisonOperator' "
        "failed to satisfy constraint: Member must not be null"
    )


def test_unknown_comparison_operator_is_a_shape_error() -> None:
    with pytest.raises(ValidationException) as info:
        filter_condition({"a": {"ComparisonOperator": "LIKE"}}, None)
    assert info.value.message == (
        "1 validation error detected: Value 'LIKE' at 'scanFilter.a.member.comparisonOperator' "
        "failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, "
        "LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
    )


def test_query_filter_key_attributes_are_visible_to_the_caller() -> None:
    condition = filter_condition({"pk": cond("NOT_NULL"), "x": cond("NULL")}, None)
    assert references(condition, "pk")
    assert not references(condition, "sk")


# -------------------------------------------------------- Expected errors


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, "Value must be provided when Exists is null for Attribute: a"),
        ({"Exists": True}, "Value must be provided when Exists is true for Attribute: a"),
        (
            {"Exists": False, "Value": S("a")},
            "Value cannot be used when Exists is false for Attribute: a",
        ),
        (
            {"ComparisonOperator": "LT"},
            "Value or AttributeValueList must be used with ComparisonOperator: LT for Attribute: a",
        ),
        (
            {"Exists": True, "ComparisonOperator": "LT", "Value": S("a")},
            "Exists and ComparisonOperator cannot be used together for Attribute: a",
        ),
        (
            {"Exists": False, "ComparisonOperator": "NULL"},
            "Exists and ComparisonOperator cannot be used together for Attribute: a",
        ),
        (
            {"AttributeValueList": [S("a")], "Value": S("a"), "ComparisonOperator": "LT"},
            "Value and AttributeValueList cannot be used together for Attribute: a",
        ),
        (
            {"AttributeValueList": [S("a")], "Value": S("a")},
            "Value and AttributeValueList cannot be used together for Attribute: a",
        ),
        (
            {"AttributeValueList": [S("a")]},
            "AttributeValueList can only be used with a ComparisonOperator for Attribute: a",
        ),
        (
            {"Exists": True, "AttributeValueList": [S("a")]},
            "AttributeValueList can only be used with a ComparisonOperator for Attribute: a",
        ),
        (
            {"Value": S("a"), "ComparisonOperator": "BETWEEN"},
            "Invalid number of argument(s) for the BETWEEN ComparisonOperator",
        ),
        (
            {"Value": S("a"), "ComparisonOperator": "NULL"},
            "Invalid number of argument(s) for the NULL ComparisonOperator",
        ),
        (
            {"AttributeValueList": [N("1"), N("10"), N("12")], "ComparisonOperator": "BETWEEN"},
            "Invalid number of argument(s) for the BETWEEN ComparisonOperator",
        ),
    ],
)
def test_expected_errors(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as info:
        expected_condition({"a": entry}, None)
    assert info.value.message == INVALID + message


def test_expected_exists_must_be_boolean() -> None:
    with pytest.raises(SerializationException):
        expected_condition({"a": {"Exists": "yes", "Value": S("a")}}, None)


def test_expected_null_entry_needs_a_value() -> None:
    with pytest.raises(ValidationException, match=r"Exists is null for Attribute: a$"):
        expected_condition({"a": None}, None)


def test_expected_unknown_operator_is_a_shape_error() -> None:
    with pytest.raises(ValidationException) as info:
        expected_condition({"a": {"ComparisonOperator": "XX", "Value": S("a")}}, None)
    assert "at 'expected.a.member.comparisonOperator'" in info.value.message


# ----------------------------------------------------------- KeyConditions


@pytest.mark.parametrize(
    ("entry", "op", "values"),
    [
        (cond("EQ", S("x")), "=", (S("x"),)),
        (cond("LE", N("5")), "<=", (N("5"),)),
        (cond("LT", N("5")), "<", (N("5"),)),
        (cond("GE", B(b"\x01")), ">=", (B(b"\x01"),)),
        (cond("GT", S("a")), ">", (S("a"),)),
        (cond("BEGINS_WITH", S("ab")), "begins_with", (S("ab"),)),
        (cond("BETWEEN", N("1"), N("2")), "BETWEEN", (N("1"), N("2"))),
    ],
)
def test_key_condition_terms(entry: dict[str, Any], op: str, values: tuple[Any, ...]) -> None:
    terms = key_conditions_terms({"pk": cond("EQ", S("p")), "sk": entry})
    assert terms == [KeyTerm("pk", "=", (S("p"),)), KeyTerm("sk", op, values)]


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        (cond("EQ", S("x")), "sk = :v0"),
        (cond("LT", N("5")), "sk < :v0"),
        (cond("GE", N("5")), ":v0 <= sk"),
        (cond("BEGINS_WITH", S("ab")), "begins_with(sk, :v0)"),
        (cond("BETWEEN", N("1"), N("2")), "sk BETWEEN :v0 AND :v1"),
    ],
)
def test_key_conditions_equal_key_condition_expressions(entry: dict[str, Any], text: str) -> None:
    values = entry["AttributeValueList"]
    subs = Substitutions(
        None, {":p": S("p"), **{f":v{i}": value for i, value in enumerate(values)}}
    )
    parsed = parse_key_condition(f"pk = :p AND {text}", subs)
    assert key_conditions_terms({"pk": cond("EQ", S("p")), "sk": entry}) == parsed


def test_key_condition_on_a_set_is_left_to_the_schema_check() -> None:
    assert key_conditions_terms({"pk": cond("EQ", {"SS": ["a"]})}) == [
        KeyTerm("pk", "=", ({"SS": ["a"]},))
    ]


@pytest.mark.parametrize(
    "entry",
    [
        cond("NULL"),
        cond("NOT_NULL"),
        cond("NE", N("1")),
        cond("CONTAINS", S("a")),
        cond("NOT_CONTAINS", S("a")),
        cond("IN", S("a")),
    ],
)
def test_key_conditions_need_indexable_operators(entry: dict[str, Any]) -> None:
    with pytest.raises(ValidationException) as info:
        key_conditions_terms({"a": entry})
    assert info.value.message == "Attempted conditional constraint is not an indexable operation"


@pytest.mark.parametrize("count", [0, 3])
def test_key_conditions_count(count: int) -> None:
    conditions = {f"k{i}": cond("EQ", S("x")) for i in range(count)}
    with pytest.raises(ValidationException) as info:
        key_conditions_terms(conditions)
    assert info.value.message == "Conditions can be of length 1 or 2 only"


def test_key_condition_values_are_checked_before_the_operator() -> None:
    with pytest.raises(ValidationException, match="CONTAINS is not valid for SS"):
        key_conditions_terms({"a": cond("CONTAINS", {"SS": ["a"]})})


# --------------------------------------------------------- AttributesToGet


def test_attributes_to_get_paths() -> None:
    paths = attributes_to_get_paths(["a", "b.c", "d"])
    assert paths == [("a",), ("b.c",), ("d",)]
    item = {"a": N("1"), "b": {"M": {"c": N("2")}}, "b.c": S("x"), "e": S("y")}
    assert project(paths, item) == {"a": N("1"), "b.c": S("x")}


def test_attributes_to_get_duplicates() -> None:
    with pytest.raises(ValidationException) as info:
        attributes_to_get_paths(["a", "b", "a"])
    assert info.value.message == f"{INVALID}Duplicate value in attribute name: a"


def test_attributes_to_get_empty() -> None:
    with pytest.raises(ValidationException) as info:
        attributes_to_get_paths([])
    assert info.value.message == (
        "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1"
    )


def test_attributes_to_get_must_be_strings() -> None:
    with pytest.raises(SerializationException):
        attributes_to_get_paths(["a", 1])  # type: ignore[list-item]


# -------------------------------------------------------- AttributeUpdates

KEY = {"pk": S("k")}


def update(updates: dict[str, Any], item: dict[str, Any] | None = None) -> dict[str, Any]:
    plan = attribute_updates_plan(updates, ("pk",))
    return apply_attribute_updates(plan, {**KEY, **(item or {})})


@pytest.mark.parametrize(
    ("updates", "text", "values"),
    [
        ({"a": {"Value": S("x")}}, "SET a = :v", {":v": S("x")}),
        ({"a": {"Action": "PUT", "Value": {"M": {}}}}, "SET a = :v", {":v": {"M": {}}}),
        ({"a": {"Action": "DELETE"}}, "REMOVE a", {}),
        ({"a": {"Action": "DELETE", "Value": {"SS": ["x"]}}}, "DELETE a :v", {":v": {"SS": ["x"]}}),
        ({"a": {"Action": "ADD", "Value": N("3")}}, "ADD a :v", {":v": N("3")}),
        ({"a": {"Action": "ADD", "Value": {"NS": ["3"]}}}, "ADD a :v", {":v": {"NS": ["3"]}}),
        (
            {"a": {"Action": "ADD", "Value": {"L": [N("1")]}}},
            "SET a = list_append(if_not_exists(a, :e), :v)",
            {":e": {"L": []}, ":v": {"L": [N("1")]}},
        ),
        (
            {
                "a": {"Value": N("1")},
                "b": {"Action": "DELETE"},
                "c": {"Action": "ADD", "Value": N("2")},
            },
            "SET a = :a REMOVE b ADD c :c",
            {":a": N("1"), ":c": N("2")},
        ),
    ],
)
def test_attribute_updates_equal_update_expressions(
    updates: dict[str, Any], text: str, values: dict[str, Any]
) -> None:
    plan = attribute_updates_plan(updates, ("pk",))
    parsed = parse_update(text, Substitutions(None, values))
    assert sorted(map(repr, plan.actions)) == sorted(map(repr, parsed.actions))
    for item in ({}, {"a": N("5"), "b": S("x"), "c": N("1")}, {"a": {"SS": ["x", "y"]}}):
        base = {**KEY, **item}
        try:
            expected: Any = apply_update(parsed, base)
        except ValidationException:
            expected = TYPE_MISMATCH
        try:
            actual: Any = apply_attribute_updates(plan, base)
        except ValidationException as error:
            assert error.message == TYPE_MISMATCH
            actual = TYPE_MISMATCH
        assert actual == expected


def test_put_is_the_default_action() -> None:
    assert update({"a": {"Value": S("new")}}, {"a": N("1")}) == {**KEY, "a": S("new")}


def test_put_creates_a_missing_attribute() -> None:
    assert update({"a": {"Action": "PUT", "Value": {"L": [N("1")]}}}) == {
        **KEY,
        "a": {"L": [N("1")]},
    }


def test_delete_without_value_removes_the_attribute() -> None:
    assert update({"a": {"Action": "DELETE"}}, {"a": S("x"), "b": S("y")}) == {**KEY, "b": S("y")}


def test_delete_without_value_of_a_missing_attribute_does_nothing() -> None:
    assert update({"a": {"Action": "DELETE"}}) == KEY


def test_delete_removes_set_members() -> None:
    result = update(
        {"a": {"Action": "DELETE", "Value": {"NS": ["1", "4"]}}}, {"a": {"NS": ["1", "2", "3"]}}
    )
    assert result == {**KEY, "a": {"NS": ["2", "3"]}}


def test_delete_of_every_member_removes_the_attribute() -> None:
    result = update({"a": {"Action": "DELETE", "Value": {"SS": ["x", "y"]}}}, {"a": {"SS": ["x"]}})
    assert result == KEY


def test_delete_from_a_missing_set_does_nothing() -> None:
    assert update({"a": {"Action": "DELETE", "Value": {"SS": ["x"]}}}) == KEY


def test_add_to_a_number() -> None:
    assert update({"a": {"Action": "ADD", "Value": N("3")}}, {"a": N("1")}) == {**KEY, "a": N("4")}


def test_add_a_negative_number_subtracts() -> None:
    result = update({"a": {"Action": "ADD", "Value": N("-1.5")}}, {"a": N("1")})
    assert result == {**KEY, "a": N("-0.5")}


def test_add_a_number_to_a_missing_attribute_starts_from_zero() -> None:
    assert update({"a": {"Action": "ADD", "Value": N("3")}}) == {**KEY, "a": N("3")}


def test_add_to_a_set_is_a_union() -> None:
    result = update(
        {"a": {"Action": "ADD", "Value": {"SS": ["b", "c"]}}}, {"a": {"SS": ["a", "b"]}}
    )
    assert result == {**KEY, "a": {"SS": ["a", "b", "c"]}}


def test_add_a_set_to_a_missing_attribute_creates_it() -> None:
    assert update({"a": {"Action": "ADD", "Value": {"BS": ["AQ=="]}}}) == {
        **KEY,
        "a": {"BS": ["AQ=="]},
    }


def test_add_to_a_list_appends() -> None:
    result = update(
        {"a": {"Action": "ADD", "Value": {"L": [S("b"), N("2")]}}},
        {"a": {"L": [S("a"), N("1")]}},
    )
    assert result == {**KEY, "a": {"L": [S("a"), N("1"), S("b"), N("2")]}}


def test_add_a_list_to_a_missing_attribute_creates_it() -> None:
    result = update({"a": {"Action": "ADD", "Value": {"L": [S("a")]}}})
    assert result == {**KEY, "a": {"L": [S("a")]}}


def test_add_a_list_is_a_set_of_list_append() -> None:
    plan = attribute_updates_plan({"a": {"Action": "ADD", "Value": {"L": []}}}, ())
    (action,) = plan.actions
    assert isinstance(action, SetAction)
    assert isinstance(action.value, ListAppend)
    assert plan.paths == [("a",)]


def test_several_updates_at_once() -> None:
    result = update(
        {
            "b": {"Action": "DELETE"},
            "c": {"Action": "DELETE", "Value": {"SS": ["a", "b"]}},
            "d": {"Action": "ADD", "Value": N("5")},
            "e": {"Action": "ADD", "Value": {"SS": ["a", "b"]}},
            "f": {"Action": "ADD", "Value": {"L": [S("a"), N("1")]}},
        }
    )
    assert result == {
        **KEY,
        "d": N("5"),
        "e": {"SS": ["a", "b"]},
        "f": {"L": [S("a"), N("1")]},
    }


def test_updated_paths_project_the_changed_attributes() -> None:
    plan = attribute_updates_plan({"b": {"Value": S("x")}, "c": {"Action": "DELETE"}}, ("pk",))
    new = apply_attribute_updates(plan, {**KEY, "c": S("old"), "d": S("kept")})
    assert project(plan.paths, new) == {"b": S("x")}


@pytest.mark.parametrize(
    ("updates", "item"),
    [
        ({"a": {"Action": "DELETE", "Value": {"NS": ["1"]}}}, {"a": {"SS": ["1"]}}),
        ({"a": {"Action": "DELETE", "Value": {"NS": ["1"]}}}, {"a": N("1")}),
        ({"a": {"Action": "ADD", "Value": {"NS": ["1"]}}}, {"a": {"SS": ["1"]}}),
        ({"a": {"Action": "ADD", "Value": N("1")}}, {"a": S("1")}),
        ({"a": {"Action": "ADD", "Value": {"L": [N("1")]}}}, {"a": {"NS": ["1"]}}),
        ({"a": {"Action": "ADD", "Value": {"SS": ["1"]}}}, {"a": {"L": []}}),
    ],
)
def test_type_mismatch_at_runtime(updates: dict[str, Any], item: dict[str, Any]) -> None:
    with pytest.raises(ValidationException) as info:
        update(updates, item)
    assert info.value.message == TYPE_MISMATCH == "Type mismatch for attribute to update"


def test_number_range_errors_keep_their_wording() -> None:
    with pytest.raises(ValidationException, match=r"^Number overflow"):
        update({"a": {"Action": "ADD", "Value": N("9e125")}}, {"a": N("9e125")})


@pytest.mark.parametrize(
    "value", [S("1"), N("1"), B(b"b"), {"NULL": True}, {"BOOL": True}, {"M": {}}, {"L": []}]
)
def test_delete_with_a_value_needs_a_set(value: dict[str, Any]) -> None:
    with pytest.raises(ValidationException) as info:
        attribute_updates_plan({"a": {"Action": "DELETE", "Value": value}}, ())
    kind = next(iter(value))
    assert info.value.message == (
        f"{INVALID}DELETE action with value is not supported for the type {kind}"
    )


@pytest.mark.parametrize("value", [S("1"), B(b"b"), {"NULL": True}, {"BOOL": True}, {"M": {}}])
def test_add_needs_a_number_set_or_list(value: dict[str, Any]) -> None:
    with pytest.raises(ValidationException) as info:
        attribute_updates_plan({"a": {"Action": "ADD", "Value": value}}, ())
    kind = next(iter(value))
    assert info.value.message == f"{INVALID}ADD action is not supported for the type {kind}"


@pytest.mark.parametrize(
    "entry", [{}, {"x": "whatever"}, {"Action": "PUT"}, {"Action": "ADD"}, None]
)
def test_only_delete_goes_without_a_value(entry: dict[str, Any] | None) -> None:
    with pytest.raises(ValidationException) as info:
        attribute_updates_plan({"a": entry}, ())
    assert info.value.message == (
        f"{INVALID}Only DELETE action is allowed when no attribute value is specified"
    )


@pytest.mark.parametrize("key", ["pk", "sk"])
def test_key_attributes_cannot_be_updated(key: str) -> None:
    with pytest.raises(ValidationException) as info:
        attribute_updates_plan({"a": {"Value": S("x")}, key: {"Value": S("y")}}, ("pk", "sk"))
    assert info.value.message == (
        f"{INVALID}Cannot update attribute {key}. This attribute is part of the key"
    )


def test_key_check_comes_after_the_value_checks() -> None:
    with pytest.raises(ValidationException, match="Only DELETE action"):
        attribute_updates_plan({"pk": {"Value": S("x")}, "a": {}}, ("pk",))


def test_key_check_follows_the_key_schema_order() -> None:
    with pytest.raises(ValidationException, match="attribute pk\\."):
        attribute_updates_plan({"sk": {"Value": S("x")}, "pk": {"Value": S("y")}}, ("pk", "sk"))


def test_unknown_actions_are_listed_together() -> None:
    with pytest.raises(ValidationException) as info:
        attribute_updates_plan(
            {"a": {"Action": "SET", "Value": S("x")}, "b": {"Action": "REMOVE"}}, ()
        )
    assert info.value.message == (
        "2 validation errors detected: Value 'SET' at 'attributeUpdates.a.member.action' "
        "failed to satisfy constraint: Member must satisfy enum value set: [ADD, DELETE, PUT]; "
        "Value 'REMOVE' at 'attributeUpdates.b.member.action' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ADD, DELETE, PUT]"
    )


def test_unknown_action_comes_before_every_other_check() -> None:
    with pytest.raises(ValidationException, match="enum value set"):
        attribute_updates_plan({"a": {}, "b": {"Action": "X"}}, ())


def test_update_entry_shapes() -> None:
    with pytest.raises(SerializationException):
        attribute_updates_plan({"a": ["PUT"]}, ())
    with pytest.raises(SerializationException):
        attribute_updates_plan({"a": {"Action": 1, "Value": S("x")}}, ())


def test_empty_attribute_name_cannot_be_updated() -> None:
    with pytest.raises(ValidationException) as info:
        attribute_updates_plan({"": {"Value": S("x")}}, ())
    assert info.value.message == f"{INVALID}Empty attribute name"


def test_empty_attribute_updates_change_nothing() -> None:
    plan = attribute_updates_plan({}, ("pk",))
    assert plan.actions == ()
    assert apply_attribute_updates(plan, dict(KEY)) == KEY


def test_plan_leaves_the_old_item_alone() -> None:
    old = {**KEY, "a": {"L": [N("1")]}, "n": N("1")}
    snapshot = {**old, "a": {"L": [N("1")]}}
    update(
        {"a": {"Action": "ADD", "Value": {"L": [N("2")]}}, "n": {"Action": "ADD", "Value": N("1")}},
        old,
    )
    assert old == snapshot
