"""Error texts as DynamoDB sends them today, over the wire, exactly.

Each case sends one bad request with the raw JSON client and checks the whole error
body (``__type`` with its namespace, the message under its key) and the HTTP status,
then that nothing was written. The texts, and where each was seen, are the rows of
``dynoxide_streams/engine/messages.py``; the expectations here are spelled out so a
change to a row shows up as a failing test. Sources: the spec digest ``errors.md``
§2 to §4 (AWS answers quoted in public issues, e.g. JuliaCloud/AWS.jl#246 and #673,
dynamodb-toolbox#502, scylladb#9432 and #23233, aws-sdk-java#977, aws-sdk-go#333).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dynoxide_streams.engine import messages
from tests.conftest import RawClient

SERIALIZATION = "com.amazon.coral.service#SerializationException"
VALIDATION = "com.amazon.coral.validate#ValidationException"
ITEM = {"pk": {"S": "k"}, "sk": {"S": "s"}}
MAP_OF_ATTRIBUTE_VALUES = (
    "Unrecognized collection type java.util.Map<java.lang.String, "
    "com.amazonaws.dynamodb.v20120810.AttributeValue>"
)
NAME_PATTERN = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"


def one(value: str, path: str, rule: str) -> str:
    return f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {rule}"


Request = Callable[[str], tuple[str, dict[str, Any]]]

SERIALIZATION_CASES: list[tuple[str, Request, str]] = [
    (
        "map-for-string",
        lambda t: ("GetItem", {"TableName": {"a": 1}, "Key": ITEM}),
        "Start of structure or map found where not expected",
    ),
    (
        "list-for-attribute-value-map",
        lambda t: ("PutItem", {"TableName": t, "Item": [ITEM]}),
        MAP_OF_ATTRIBUTE_VALUES,
    ),
    (
        "list-for-string-map",
        lambda t: (
            "GetItem",
            {"TableName": t, "Key": ITEM, "ExpressionAttributeNames": ["#a"]},
        ),
        "Unrecognized collection type java.util.Map<java.lang.String, java.lang.String>",
    ),
    (
        "list-for-string",
        lambda t: ("PutItem", {"TableName": t, "Item": ITEM, "ReturnValues": ["NONE"]}),
        "Unrecognized collection type class java.lang.String",
    ),
    (
        "list-for-structure",
        lambda t: (
            "UpdateTable",
            {"TableName": t, "ProvisionedThroughput": [1, 1]},
        ),
        "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.ProvisionedThroughput",
    ),
    (
        "number-for-string",
        lambda t: ("GetItem", {"TableName": 123, "Key": ITEM}),
        "NUMBER_VALUE cannot be converted to String",
    ),
    (
        "decimal-for-string",
        lambda t: ("GetItem", {"TableName": 1.5, "Key": ITEM}),
        "DECIMAL_VALUE cannot be converted to String",
    ),
    (
        "boolean-for-string",
        lambda t: ("GetItem", {"TableName": True, "Key": ITEM}),
        "TRUE_VALUE cannot be converted to String",
    ),
    (
        "string-for-integer",
        lambda t: ("Scan", {"TableName": t, "Limit": "5"}),
        "STRING_VALUE cannot be converted to Integer",
    ),
    (
        "string-for-long",
        lambda t: (
            "UpdateTable",
            {
                "TableName": t,
                "ProvisionedThroughput": {"ReadCapacityUnits": "1", "WriteCapacityUnits": 1},
            },
        ),
        "STRING_VALUE cannot be converted to Long",
    ),
    (
        "word-for-boolean",
        lambda t: ("GetItem", {"TableName": t, "Key": ITEM, "ConsistentRead": "dog"}),
        "Unexpected token received from parser",
    ),
    (
        "number-for-boolean",
        lambda t: ("GetItem", {"TableName": t, "Key": ITEM, "ConsistentRead": 1}),
        "NUMBER_VALUE cannot be converted to Boolean",
    ),
    (
        "scalar-for-map",
        lambda t: ("GetItem", {"TableName": t, "Key": "pk=k"}),
        "Unexpected field type",
    ),
    (
        "scalar-for-list",
        lambda t: ("GetItem", {"TableName": t, "Key": ITEM, "AttributesToGet": "a"}),
        "Unexpected field type",
    ),
    (
        "scalar-for-structure",
        lambda t: ("UpdateTable", {"TableName": t, "ProvisionedThroughput": 5}),
        "Unexpected value type in payload",
    ),
    (
        "string-for-boolean-attribute-value",
        lambda t: ("PutItem", {"TableName": t, "Item": {**ITEM, "b": {"BOOL": "dog"}}}),
        "STRING_VALUE cannot be converted to Boolean",
    ),
    (
        "scalar-for-list-attribute-value",
        lambda t: ("PutItem", {"TableName": t, "Item": {**ITEM, "l": {"L": "x"}}}),
        "Unexpected field type",
    ),
    (
        "scalar-for-string-set",
        lambda t: ("PutItem", {"TableName": t, "Item": {**ITEM, "s": {"SS": "x"}}}),
        "Unexpected field type",
    ),
    (
        "scalar-for-legacy-attribute-value-list",
        lambda t: (
            "PutItem",
            {
                "TableName": t,
                "Item": ITEM,
                "Expected": {"b": {"ComparisonOperator": "EQ", "AttributeValueList": "x"}},
            },
        ),
        "Unexpected field type",
    ),
]


@pytest.fixture(scope="module")
def seeded(raw: RawClient) -> str:
    name = "texts_seeded"
    raw.call(
        "CreateTable",
        {
            "TableName": name,
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    assert raw.call("DescribeTable", {"TableName": name}).status == 200
    return name


def _assert_untouched(raw: RawClient, table: str) -> None:
    scan = raw.call("Scan", {"TableName": table})
    assert scan.status == 200 and scan.json["Items"] == [], scan.body


@pytest.mark.parametrize(
    ("request_of", "message"),
    [pytest.param(r, m, id=i) for i, r, m in SERIALIZATION_CASES],
)
def test_serialization_errors_carry_todays_text(
    raw: RawClient, seeded: str, request_of: Request, message: str
) -> None:
    operation, params = request_of(seeded)
    response = raw.call(operation, params)
    assert response.status == 400
    assert response.json == {"__type": SERIALIZATION, "Message": message}
    _assert_untouched(raw, seeded)


def test_a_wrong_type_inside_an_item_beats_constraint_violations(raw: RawClient) -> None:
    """Types first (step 1), then constraints (spec errors.md §1)."""
    response = raw.call(
        "GetItem",
        {"TableName": "ab", "Key": {"pk": {"S": 5}}, "ReturnConsumedCapacity": "SOME"},
    )
    assert response.status == 400
    assert response.json == {
        "__type": SERIALIZATION,
        "Message": "NUMBER_VALUE cannot be converted to String",
    }
    response = raw.call(
        "PutItem",
        {"TableName": "ab", "Item": {"pk": {"S": "a"}, "l": {"L": "x"}}, "ReturnValues": "X"},
    )
    assert response.json == {"__type": SERIALIZATION, "Message": "Unexpected field type"}


@pytest.mark.parametrize("word", ["yes", "TRUE", "1", "no", "False", "0"])
def test_boolean_words_read_as_booleans(raw: RawClient, seeded: str, word: str) -> None:
    """AWS reads "yes" for a boolean (scylladb#9432, 2021) and refuses "dog"."""
    response = raw.call("GetItem", {"TableName": seeded, "Key": ITEM, "ConsistentRead": word})
    assert response.status == 200, response.body
    assert response.json == {}


@pytest.mark.parametrize("body", ["", "{", "not json", '{"TableName": }'])
def test_a_body_that_is_not_json_is_a_bare_serialization_exception(
    raw: RawClient, body: str
) -> None:
    response = raw.call("GetItem", body)
    assert response.status == 400
    assert response.json == {"__type": SERIALIZATION}


@pytest.mark.parametrize(
    "operation",
    ["CreateTable", "DescribeTable", "UpdateTable", "DeleteTable", "DescribeTimeToLive"],
)
def test_missing_table_name_is_the_required_sentence(raw: RawClient, operation: str) -> None:
    response = raw.call(operation, {"BillingMode": "FREE"} if operation == "CreateTable" else {})
    assert response.status == 400
    assert response.json == {
        "__type": VALIDATION,
        "message": "The parameter 'TableName' is required but was not present in the request",
    }


@pytest.mark.parametrize(
    ("operation", "params"),
    [("GetItem", {"Key": ITEM}), ("PutItem", {"Item": ITEM}), ("Scan", {})],
)
def test_missing_table_name_on_item_operations_is_value_null(
    raw: RawClient, operation: str, params: dict[str, Any]
) -> None:
    response = raw.call(operation, params)
    assert response.status == 400
    assert response.json == {
        "__type": VALIDATION,
        "message": "1 validation error detected: Value null at 'tableName' failed to satisfy "
        "constraint: Member must not be null",
    }


@pytest.mark.parametrize("operation", ["BatchGetItem", "BatchWriteItem"])
@pytest.mark.parametrize("request_items", [None, {}], ids=["absent", "empty"])
def test_missing_request_items_is_the_required_sentence(
    raw: RawClient, operation: str, request_items: dict[str, Any] | None
) -> None:
    params = {} if request_items is None else {"RequestItems": request_items}
    response = raw.call(operation, params)
    assert response.status == 400
    assert response.json == {
        "__type": VALIDATION,
        "message": f"The requestItems parameter is required for {operation}",
    }


LONG = "t" * 256


@pytest.mark.parametrize(
    ("operation", "name", "message"),
    [
        (
            "PutItem",
            "ab",
            one("ab", "tableName", "Member must have length greater than or equal to 3"),
        ),
        (
            "PutItem",
            LONG,
            one(LONG, "tableName", "Member must have length less than or equal to 255"),
        ),
        ("PutItem", "bad name", one("bad name", "tableName", NAME_PATTERN)),
        (
            "PutItem",
            "",
            one("", "tableName", "Member must have length greater than or equal to 1"),
        ),
        (
            "CreateTable",
            "a$",
            "2 validation errors detected: "
            f"Value 'a$' at 'tableName' failed to satisfy constraint: {NAME_PATTERN}; "
            "Value 'a$' at 'tableName' failed to satisfy constraint: "
            "Member must have length greater than or equal to 3",
        ),
        (
            "DescribeTable",
            LONG,
            one(LONG, "tableName", "Member must have length less than or equal to 255"),
        ),
    ],
    ids=["put-short", "put-long", "put-chars", "put-empty", "create-short-chars", "describe-long"],
)
def test_table_names_are_constraint_violations(
    raw: RawClient, operation: str, name: str, message: str
) -> None:
    params: dict[str, Any] = {"TableName": name}
    if operation == "PutItem":
        params["Item"] = ITEM
    if operation == "CreateTable":
        params |= {
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
    response = raw.call(operation, params)
    assert response.status == 400
    assert response.json == {"__type": VALIDATION, "message": message}


def test_constraint_violations_are_reported_together_in_aws_order(raw: RawClient) -> None:
    response = raw.call(
        "Query",
        {
            "TableName": "ab",
            "Select": "SOME",
            "ReturnConsumedCapacity": "ALL",
            "KeyConditionExpression": "pk = :v",
        },
    )
    assert response.status == 400
    assert response.json == {
        "__type": VALIDATION,
        "message": "3 validation errors detected: "
        "Value 'ab' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3; "
        "Value 'SOME' at 'select' failed to satisfy constraint: Member must satisfy enum value "
        "set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]; "
        "Value 'ALL' at 'returnConsumedCapacity' failed to satisfy constraint: Member must "
        "satisfy enum value set: [INDEXES, TOTAL, NONE]",
    }


def test_every_message_row_names_its_source() -> None:
    assert messages.SOURCES
    for name, row in messages.SOURCES.items():
        assert row.source, name
        assert row.source == messages.UNSOURCED or "http" in row.source or "spec" in row.source
