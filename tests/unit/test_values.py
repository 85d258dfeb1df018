"""AttributeValue rules and the order-preserving key encoding."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynoxide_streams.engine.values import (
    encode_key,
    encode_number_key,
    item_size,
    normalize_number,
    validate_item,
    validate_value,
)
from dynoxide_streams.errors import SerializationException, ValidationException

# Numbers DynamoDB accepts: up to 38 significant digits, magnitude 1E-130 .. <1E126.
dynamo_numbers = st.builds(
    lambda sign, digits, exponent: Decimal(f"{sign}{digits}E{exponent}"),
    st.sampled_from(["", "-"]),
    st.integers(min_value=1, max_value=10**38 - 1).map(str),
    st.integers(min_value=-130, max_value=88),
).filter(lambda d: -130 <= d.adjusted() <= 125) | st.just(Decimal(0))


@given(dynamo_numbers, dynamo_numbers)
def test_number_key_order_matches_decimal_order(a: Decimal, b: Decimal) -> None:
    ea = encode_number_key(normalize_number(str(a)))
    eb = encode_number_key(normalize_number(str(b)))
    assert (ea < eb) == (a < b)
    assert (ea == eb) == (a == b)


@given(st.text(), st.text())
def test_string_key_order_is_utf8_byte_order(a: str, b: str) -> None:
    ea, eb = encode_key({"S": a}), encode_key({"S": b})
    assert (ea < eb) == (a.encode() < b.encode())


@given(st.binary(), st.binary())
def test_binary_key_order_is_byte_order(a: bytes, b: bytes) -> None:
    ea = encode_key({"B": base64.b64encode(a).decode()})
    eb = encode_key({"B": base64.b64encode(b).decode()})
    assert (ea < eb) == (a < b)


@pytest.mark.parametrize(
    ("given_text", "expected"),
    [
        ("1.50", "1.5"),
        ("0001", "1"),
        ("-0", "0"),
        ("0.000", "0"),
        ("1E+2", "100"),
        ("1e-3", "0.001"),
        ("-12.3400", "-12.34"),
        (
            "9.9999999999999999999999999999999999999E+125",
            "99999999999999999999999999999999999999" + "0" * 88,
        ),
        ("1E-130", "0." + "0" * 129 + "1"),
    ],
)
def test_numbers_are_normalised(given_text: str, expected: str) -> None:
    assert normalize_number(given_text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "The parameter cannot be converted to a numeric value: abc"),
        ("", "The parameter cannot be converted to a numeric value: "),
        ("NaN", "The parameter cannot be converted to a numeric value: NaN"),
        ("Infinity", "The parameter cannot be converted to a numeric value: Infinity"),
        (
            "1E+126",
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "1E-131",
            "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        ),
        ("1" * 39, "Attempting to store more than 38 significant digits in a Number"),
    ],
)
def test_bad_numbers_are_rejected_with_aws_messages(text: str, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        normalize_number(text)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (
            {},
            ValidationException,
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ),
        (
            {"S": "a", "N": "1"},
            ValidationException,
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ),
        (
            {"NULL": False},
            ValidationException,
            "One or more parameter values were invalid: Null attribute value types must have the value of true",
        ),
        (
            {"SS": []},
            ValidationException,
            "One or more parameter values were invalid: An string set  may not be empty",
        ),
        (
            {"NS": []},
            ValidationException,
            "One or more parameter values were invalid: An number set  may not be empty",
        ),
        ({"S": 5}, SerializationException, "NUMBER_VALUE cannot be converted to String"),
        ({"BOOL": "yes"}, SerializationException, "STRING_VALUE cannot be converted to Boolean"),
        ({"B": "!!!"}, SerializationException, "Base64 encoded binary data is invalid"),
    ],
)
def test_bad_values(value: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        validate_value(value)
    assert info.value.message == message  # type: ignore[attr-defined]


def test_duplicate_set_members_are_rejected() -> None:
    with pytest.raises(ValidationException, match="contains duplicates"):
        validate_value({"SS": ["a", "a"]})
    with pytest.raises(ValidationException, match="contains duplicates"):
        validate_value({"NS": ["1", "1.0"]})


def test_validate_item_normalises_nested_numbers() -> None:
    item = validate_item({"a": {"M": {"b": {"L": [{"N": "01.10"}, {"NS": ["2.0", "3"]}]}}}})
    assert item == {"a": {"M": {"b": {"L": [{"N": "1.1"}, {"NS": ["2", "3"]}]}}}}


def test_item_size_follows_aws_rules() -> None:
    # name bytes + value bytes; numbers: 1 byte per 2 significant digits + 1
    assert item_size({"a": {"S": "hello"}}) == 1 + 5
    assert item_size({"ab": {"N": "12345"}}) == 2 + 4
    assert item_size({"x": {"BOOL": True}, "y": {"NULL": True}}) == 4
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)


scalar_values = st.one_of(
    st.text(max_size=10).map(lambda s: {"S": s}),
    st.integers(-(10**20), 10**20).map(lambda n: {"N": str(n)}),
    st.sampled_from([{"N": "1.50"}, {"N": "007"}, {"N": "-0"}, {"BOOL": True}, {"NULL": True}]),
    st.lists(st.text(max_size=4), min_size=1, max_size=3, unique=True).map(lambda ss: {"SS": ss}),
)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=6),
        scalar_values | st.builds(lambda v: {"M": {"k": v}}, scalar_values),
        max_size=6,
    )
)
def test_validate_item_sized_equals_validate_then_size(item: dict[str, object]) -> None:
    from dynoxide_streams.engine.values import validate_item_sized

    checked, size = validate_item_sized(item)
    assert checked == validate_item(item)
    assert size == item_size(checked)
