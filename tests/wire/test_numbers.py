"""Numbers at and past every limit, in every place a request carries one.

DynamoDB numbers hold at most 38 significant digits with a magnitude from 1E-130 to
below 1E+126. Python's :mod:`decimal` has limits of its own (a context's Emax/Emin, the
largest exponent a ``Decimal`` can hold) and signals (Overflow, Underflow,
InvalidOperation); none of them may reach the client as a 500, and no out-of-range
number may be stored rounded or as zero. Each case sends raw JSON to the real server and
checks the exact error body, then that the table is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import RawClient

VALIDATION = "com.amazon.coral.validate#ValidationException"
OVERFLOW = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
UNDERFLOW = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
TOO_PRECISE = "Attempting to store more than 38 significant digits in a Number"


def not_numeric(text: str) -> str:
    return f"The parameter cannot be converted to a numeric value: {text}"


BAD_NUMBERS = [
    # past DynamoDB's range, past a decimal context's Emax/Emin (999999), past what a
    # Decimal can hold at all (10**18), and exponents too long for int() to read
    pytest.param("1e9999999", OVERFLOW, id="1e9999999"),
    pytest.param("-1e9999999", OVERFLOW, id="-1e9999999"),
    pytest.param("1E+1000000", OVERFLOW, id="past-context-Emax"),
    pytest.param("1e999999999999999999", OVERFLOW, id="at-decimal-MAX_EMAX"),
    pytest.param("1e9999999999999999999", OVERFLOW, id="past-decimal-MAX_EMAX"),
    pytest.param("1e" + "9" * 5000, OVERFLOW, id="exponent-of-5000-digits"),
    pytest.param("1e-9999999", UNDERFLOW, id="1e-9999999"),
    pytest.param("-1e-9999999", UNDERFLOW, id="-1e-9999999"),
    pytest.param("1E-1000000", UNDERFLOW, id="past-context-Emin"),
    pytest.param("1e-999999999999999999", UNDERFLOW, id="at-decimal-MIN_EMIN"),
    pytest.param("1e-9999999999999999999", UNDERFLOW, id="past-decimal-MIN_EMIN"),
    pytest.param("0." + "0" * 300 + "1", UNDERFLOW, id="301-leading-zeros"),
    pytest.param("1e126", OVERFLOW, id="1e126"),
    pytest.param("1e-131", UNDERFLOW, id="1e-131"),
    # more digits than any context's precision: never rounded into range
    pytest.param("1" + "0" * 100 + "1", TOO_PRECISE, id="102-digits-ends-in-1"),
    pytest.param("1" * 100_000, TOO_PRECISE, id="100000-digits"),
    pytest.param("1" * 39, TOO_PRECISE, id="39-digits"),
    # what Decimal reads but DynamoDB does not
    pytest.param("Infinity", not_numeric("Infinity"), id="Infinity"),
    pytest.param("-Infinity", not_numeric("-Infinity"), id="-Infinity"),
    pytest.param("NaN", not_numeric("NaN"), id="NaN"),
    pytest.param("sNaN", not_numeric("sNaN"), id="sNaN"),
    pytest.param("1_000", not_numeric("1_000"), id="underscore"),
]

KEY = {"pk": {"S": "seed"}, "sk": {"N": "1"}}
SEED = {**KEY, "n": {"N": "5"}, "ns": {"NS": ["1", "2"]}}
P = {":p": {"S": "seed"}}


def eav(message: str) -> str:
    return f"ExpressionAttributeValues contains invalid value: {message} for key :v"


def bare(message: str) -> str:
    return message


Place = tuple[str, Callable[[str, dict[str, Any]], dict[str, Any]], Callable[[str], str]]
"""(operation, request from table name and the number's AttributeValue, message wrapper)"""

PLACES: dict[str, Place] = {
    "put-attribute": ("PutItem", lambda t, n: {"TableName": t, "Item": {**KEY, "a": n}}, bare),
    "put-nested": (
        "PutItem",
        lambda t, n: {"TableName": t, "Item": {**KEY, "a": {"M": {"x": {"L": [n]}}}}},
        bare,
    ),
    "put-NS-member": (
        "PutItem",
        lambda t, n: {"TableName": t, "Item": {**KEY, "a": {"NS": ["1", n["N"]]}}},
        bare,
    ),
    "put-sort-key": (
        "PutItem",
        lambda t, n: {"TableName": t, "Item": {"pk": {"S": "seed"}, "sk": n}},
        bare,
    ),
    "get-key": ("GetItem", lambda t, n: {"TableName": t, "Key": {**KEY, "sk": n}}, bare),
    "delete-key": ("DeleteItem", lambda t, n: {"TableName": t, "Key": {**KEY, "sk": n}}, bare),
    "update-set-value": (
        "UpdateItem",
        lambda t, n: {
            "TableName": t,
            "Key": KEY,
            "UpdateExpression": "SET a = :v",
            "ExpressionAttributeValues": {":v": n},
        },
        eav,
    ),
    "update-add": (
        "UpdateItem",
        lambda t, n: {
            "TableName": t,
            "Key": KEY,
            "UpdateExpression": "ADD n :v",
            "ExpressionAttributeValues": {":v": n},
        },
        eav,
    ),
    "update-arithmetic": (
        "UpdateItem",
        lambda t, n: {
            "TableName": t,
            "Key": KEY,
            "UpdateExpression": "SET n = n + :v",
            "ExpressionAttributeValues": {":v": n},
        },
        eav,
    ),
    "condition-value": (
        "PutItem",
        lambda t, n: {
            "TableName": t,
            "Item": KEY,
            "ConditionExpression": "n < :v",
            "ExpressionAttributeValues": {":v": n},
        },
        eav,
    ),
    "key-condition-value": (
        "Query",
        lambda t, n: {
            "TableName": t,
            "KeyConditionExpression": "pk = :p AND sk > :v",
            "ExpressionAttributeValues": {**P, ":v": n},
        },
        eav,
    ),
    "filter-value": (
        "Scan",
        lambda t, n: {
            "TableName": t,
            "FilterExpression": "n = :v",
            "ExpressionAttributeValues": {":v": n},
        },
        eav,
    ),
    "exclusive-start-key": (
        "Query",
        lambda t, n: {
            "TableName": t,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": P,
            "ExclusiveStartKey": {**KEY, "sk": n},
        },
        bare,
    ),
    "legacy-attribute-updates-add": (
        "UpdateItem",
        lambda t, n: {
            "TableName": t,
            "Key": KEY,
            "AttributeUpdates": {"n": {"Action": "ADD", "Value": n}},
        },
        bare,
    ),
    "legacy-expected": (
        "PutItem",
        lambda t, n: {"TableName": t, "Item": KEY, "Expected": {"n": {"Value": n}}},
        bare,
    ),
    "legacy-key-conditions": (
        "Query",
        lambda t, n: {
            "TableName": t,
            "KeyConditions": {
                "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "seed"}]},
                "sk": {"ComparisonOperator": "GT", "AttributeValueList": [n]},
            },
        },
        bare,
    ),
    "legacy-scan-filter": (
        "Scan",
        lambda t, n: {
            "TableName": t,
            "ScanFilter": {"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N0, n]}},
        },
        bare,
    ),
    "batch-write": (
        "BatchWriteItem",
        lambda t, n: {"RequestItems": {t: [{"PutRequest": {"Item": {**KEY, "a": n}}}]}},
        bare,
    ),
    "batch-get-key": (
        "BatchGetItem",
        lambda t, n: {"RequestItems": {t: {"Keys": [{**KEY, "sk": n}]}}},
        bare,
    ),
    "transact-write": (
        "TransactWriteItems",
        lambda t, n: {"TransactItems": [{"Put": {"TableName": t, "Item": {**KEY, "a": n}}}]},
        bare,
    ),
    "transact-get-key": (
        "TransactGetItems",
        lambda t, n: {"TransactItems": [{"Get": {"TableName": t, "Key": {**KEY, "sk": n}}}]},
        bare,
    ),
}
N0 = {"N": "0"}


@pytest.fixture
def seeded(raw: RawClient, make_table: Callable[..., str]) -> str:
    """A table keyed pk (S) / sk (N) holding exactly SEED."""
    name = make_table(range_key=("sk", "N"))
    assert raw.call("PutItem", {"TableName": name, "Item": SEED}).status == 200
    return name


def contents(raw: RawClient, table: str) -> tuple[Any, Any]:
    described = raw.call("DescribeTable", {"TableName": table}).json["Table"]
    scanned = raw.call("Scan", {"TableName": table, "ConsistentRead": True}).json["Items"]
    return (described["ItemCount"], described["TableSizeBytes"]), scanned


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize(("text", "message"), BAD_NUMBERS)
def test_a_bad_number_is_a_validation_error_and_changes_nothing(
    raw: RawClient, seeded: str, place: str, text: str, message: str
) -> None:
    operation, request, wrap = PLACES[place]
    before = contents(raw, seeded)
    response = raw.call(operation, request(seeded, {"N": text}))
    assert (response.status, response.json) == (
        400,
        {"__type": VALIDATION, "message": wrap(message)},
    )
    assert contents(raw, seeded) == before


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("0e9999999", "0"),
        ("-0e-9999999999999999999", "0"),
        ("0." + "0" * 300, "0"),
        (
            "9.9999999999999999999999999999999999999E+125",
            "99999999999999999999999999999999999999" + "0" * 88,
        ),
        ("-1E-130", "-0." + "0" * 129 + "1"),
        ("1" + "0" * 300 + "e-300", "1"),
        ("1e" + "0" * 5000 + "5", "100000"),
    ],
)
def test_numbers_at_the_limits_are_stored_exactly(
    raw: RawClient, seeded: str, text: str, stored: str
) -> None:
    put = raw.call("PutItem", {"TableName": seeded, "Item": {**KEY, "a": {"N": text}}})
    assert (put.status, put.json) == (200, {})
    got = raw.call("GetItem", {"TableName": seeded, "Key": KEY, "ConsistentRead": True})
    assert got.json["Item"]["a"] == {"N": stored}


@pytest.mark.parametrize(
    ("expression", "values", "message"),
    [
        ("SET a = :big + :big", {":big": {"N": "9E+125"}}, OVERFLOW),
        ("SET a = :neg - :big", {":big": {"N": "9E+125"}, ":neg": {"N": "-9E+125"}}, OVERFLOW),
        # exact arithmetic: 1e100 + 1e-100 has 201 significant digits, never rounded to 1e100
        ("SET a = :big + :tiny", {":big": {"N": "1e100"}, ":tiny": {"N": "1e-100"}}, TOO_PRECISE),
        ("SET a = :big - :tiny", {":big": {"N": "1e125"}, ":tiny": {"N": "1e-130"}}, TOO_PRECISE),
    ],
)
def test_arithmetic_past_the_limits_is_refused_exactly(
    raw: RawClient, seeded: str, expression: str, values: dict[str, Any], message: str
) -> None:
    before = contents(raw, seeded)
    response = raw.call(
        "UpdateItem",
        {
            "TableName": seeded,
            "Key": KEY,
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        },
    )
    assert (response.status, response.json) == (400, {"__type": VALIDATION, "message": message})
    assert contents(raw, seeded) == before


def test_add_past_the_limit_on_a_stored_number_is_refused(raw: RawClient, seeded: str) -> None:
    big = {"N": "9E+125"}
    assert raw.call("PutItem", {"TableName": seeded, "Item": {**KEY, "n": big}}).status == 200
    before = contents(raw, seeded)
    response = raw.call(
        "UpdateItem",
        {
            "TableName": seeded,
            "Key": KEY,
            "UpdateExpression": "ADD n :v",
            "ExpressionAttributeValues": {":v": big},
        },
    )
    assert (response.status, response.json) == (400, {"__type": VALIDATION, "message": OVERFLOW})
    assert contents(raw, seeded) == before


def test_the_number_error_is_raw_json_on_the_wire(raw: RawClient, seeded: str) -> None:
    """The reported attack, byte for byte: no 500 and no stored zero."""
    body = json.dumps({"TableName": seeded, "Item": {**KEY, "a": {"N": "1e9999999"}}})
    response = raw.request(body, "DynamoDB_20120810.PutItem")
    assert response.status == 400
    assert (
        response.body
        == json.dumps({"__type": VALIDATION, "message": OVERFLOW}, separators=(",", ":")).encode()
    )
