"""The legacy (pre-expression) parameters over the wire, as older SDK code sends them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import RawClient


@pytest.fixture
def table(make_table: Callable[..., str], ddb: Any) -> str:
    name = make_table(range_key=("n", "N"))
    for n in range(6):
        ddb.put_item(
            TableName=name,
            Item={
                "pk": {"S": "p"},
                "n": {"N": str(n)},
                "color": {"S": ["red", "blue"][n % 2]},
                "tags": {"SS": ["t" + str(n)]},
            },
        )
    return name


def test_expected_conditions(ddb: Any, table: str) -> None:
    key = {"pk": {"S": "p"}, "n": {"N": "1"}}
    ddb.put_item(
        TableName=table,
        Item={**key, "color": {"S": "green"}},
        Expected={"color": {"Value": {"S": "blue"}}},
    )
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName=table, Item=key, Expected={"color": {"Value": {"S": "blue"}}})
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.delete_item(TableName=table, Key=key, Expected={"color": {"Exists": False}})
    ddb.delete_item(
        TableName=table,
        Key=key,
        Expected={
            "color": {
                "ComparisonOperator": "IN",
                "AttributeValueList": [{"S": "green"}, {"S": "x"}],
            },
            "missing": {"ComparisonOperator": "NULL"},
        },
        ConditionalOperator="AND",
    )
    assert "Item" not in ddb.get_item(TableName=table, Key=key)


def test_attribute_updates(ddb: Any, table: str) -> None:
    key = {"pk": {"S": "p"}, "n": {"N": "2"}}
    response = ddb.update_item(
        TableName=table,
        Key=key,
        AttributeUpdates={
            "color": {"Action": "DELETE"},
            "count": {"Action": "ADD", "Value": {"N": "5"}},
            "tags": {"Action": "ADD", "Value": {"SS": ["x"]}},
            "label": {"Value": {"S": "new"}},
        },
        Expected={"color": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "red"}]}},
        ReturnValues="ALL_NEW",
    )
    assert response["Attributes"] == {
        "pk": {"S": "p"},
        "n": {"N": "2"},
        "count": {"N": "5"},
        "tags": {"SS": ["t2", "x"]},
        "label": {"S": "new"},
    }


def test_query_with_key_conditions_filter_and_attributes_to_get(raw: RawClient, table: str) -> None:
    response = raw.call(
        "Query",
        {
            "TableName": table,
            "KeyConditions": {
                "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
                "n": {
                    "ComparisonOperator": "BETWEEN",
                    "AttributeValueList": [{"N": "1"}, {"N": "4"}],
                },
            },
            "QueryFilter": {
                "color": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "red"}]}
            },
            "AttributesToGet": ["n"],
            "ScanIndexForward": False,
        },
    )
    assert response.json == {
        "Items": [{"n": {"N": "4"}}, {"n": {"N": "2"}}],
        "Count": 2,
        "ScannedCount": 4,
    }


def test_scan_filter_or(ddb: Any, table: str) -> None:
    response = ddb.scan(
        TableName=table,
        ScanFilter={
            "n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "3"}]},
            "tags": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "t0"}]},
        },
        ConditionalOperator="OR",
    )
    assert sorted(int(i["n"]["N"]) for i in response["Items"]) == [0, 4, 5]


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        (
            "PutItem",
            {
                "Item": {"pk": {"S": "p"}, "n": {"N": "9"}},
                "Expected": {"a": {"Exists": False}},
                "ConditionExpression": "attribute_not_exists(a)",
            },
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
        ),
        (
            "Query",
            {
                "KeyConditions": {
                    "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}
                },
                "ProjectionExpression": "n",
            },
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {KeyConditions} Expression parameters: {ProjectionExpression}",
        ),
        (
            "Scan",
            {
                "ScanFilter": {
                    "n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}
                },
                "ConditionalOperator": "OR",
            },
            "ConditionalOperator can only be used when Filter or Expected has two or more elements",
        ),
        (
            "Scan",
            {
                "ScanFilter": {
                    "n": {
                        "ComparisonOperator": "EQ",
                        "AttributeValueList": [{"N": "1"}, {"N": "2"}],
                    }
                }
            },
            "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator",
        ),
        (
            "Query",
            {
                "KeyConditions": {
                    "pk": {"ComparisonOperator": "NE", "AttributeValueList": [{"S": "p"}]}
                }
            },
            "Attempted conditional constraint is not an indexable operation",
        ),
        (
            "UpdateItem",
            {
                "Key": {"pk": {"S": "p"}, "n": {"N": "1"}},
                "AttributeUpdates": {"n": {"Value": {"N": "2"}}},
            },
            "One or more parameter values were invalid: Cannot update attribute n. This attribute is part of the key",
        ),
    ],
)
def test_legacy_errors_change_nothing(
    raw: RawClient, table: str, operation: str, params: dict[str, Any], message: str
) -> None:
    before = raw.call("Scan", {"TableName": table}).json
    response = raw.call(operation, {"TableName": table, **params})
    assert response.status == 400
    assert response.error_type == "ValidationException"
    assert response.message == message
    assert raw.call("Scan", {"TableName": table}).json == before
