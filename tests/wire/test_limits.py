"""DynamoDB's documented limits, each just inside and just outside, over the wire.

Expression strings (4 KB), operators and functions per expression (300), document path
depth (32), placeholder names (255 bytes), all substitutions of a request (2 MB) and
attribute names (255 bytes for key attributes, only the item size for the rest). A
refused write leaves the item as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import RawClient

MB2 = 2 * 1024 * 1024


def ok(raw: RawClient, operation: str, params: dict[str, Any]) -> Any:
    response = raw.call(operation, params)
    assert response.status == 200, response.body
    return response.json


def refused(raw: RawClient, operation: str, params: dict[str, Any], message: str) -> None:
    response = raw.call(operation, params)
    assert (response.status, response.error_type, response.message) == (
        400,
        "ValidationException",
        message,
    ), response.body


@pytest.fixture
def table(make_table: Callable[..., str], raw: RawClient) -> str:
    name = make_table(range_key=None)
    ok(raw, "PutItem", {"TableName": name, "Item": ITEM})
    return name


KEY = {"pk": {"S": "k"}}
ITEM = {**KEY, "a": {"N": "1"}}


def unchanged(raw: RawClient, table: str) -> None:
    assert ok(raw, "GetItem", {"TableName": table, "Key": KEY}) == {"Item": ITEM}


# ------------------------------------------------------------ expression size


@pytest.mark.parametrize(
    ("operation", "member", "params", "fill"),
    [
        ("GetItem", "ProjectionExpression", {"Key": KEY}, "a"),
        ("Scan", "FilterExpression", {"ExpressionAttributeValues": {":v": {"N": "1"}}}, "a = :v"),
        (
            "UpdateItem",
            "UpdateExpression",
            {"Key": KEY, "ExpressionAttributeValues": {":v": {"N": "1"}}},
            "SET a = :v",
        ),
    ],
)
def test_expression_size_4096_bytes(
    raw: RawClient, table: str, operation: str, member: str, params: dict[str, Any], fill: str
) -> None:
    def padded(size: int) -> str:
        return fill + " " * (size - len(fill))

    ok(raw, operation, {"TableName": table, member: padded(4096), **params})
    refused(
        raw,
        operation,
        {"TableName": table, member: padded(4097), **params},
        f"Invalid {member}: Expression size has exceeded the maximum allowed size; "
        "expression size: 4097",
    )
    unchanged(raw, table)


# ---------------------------------------------------------- operator count


def condition_with(operators: int) -> str:
    """A condition of exactly ``operators`` operators (comparisons, ORs, one NOT)."""
    comparisons = (operators + 1) // 2
    text = " OR ".join(["a = :v"] * comparisons)
    return text if operators % 2 else "NOT " + text


TOO_MANY = "The expression contains too many operators; operator count: 301"


@pytest.mark.parametrize("member", ["ConditionExpression", "FilterExpression"])
def test_condition_operator_count_300(raw: RawClient, table: str, member: str) -> None:
    operation = "Scan" if member == "FilterExpression" else "PutItem"
    params: dict[str, Any] = {"TableName": table, "ExpressionAttributeValues": {":v": {"N": "1"}}}
    if operation == "PutItem":
        params["Item"] = {**ITEM, "b": {"S": "new"}}
    ok(raw, operation, {**params, member: condition_with(300)})
    if operation == "PutItem":
        ok(raw, "PutItem", {"TableName": table, "Item": ITEM})
    refused(
        raw, operation, {**params, member: condition_with(301)}, f"Invalid {member}: {TOO_MANY}"
    )
    refused(
        raw, operation, {**params, member: condition_with(500)}, f"Invalid {member}: {TOO_MANY}"
    )
    unchanged(raw, table)


def test_functions_and_in_count_as_one_operator(raw: RawClient, table: str) -> None:
    values = {f":v{i}": {"N": str(i)} for i in range(100)}
    choices = ", ".join(values)
    # 3 IN (one operator each, whatever their 100 operands) + 2 AND = 5
    text = " AND ".join([f"a IN ({choices})"] * 3)
    got = ok(
        raw,
        "Scan",
        {"TableName": table, "FilterExpression": text, "ExpressionAttributeValues": values},
    )
    assert got["Count"] == 1
    # size() is a function: one operator, and its comparison another
    functions = " OR ".join(["size(a) < :v"] * 100)  # 100 x 2 + 99 ORs = 299
    ok(
        raw,
        "Scan",
        {
            "TableName": table,
            "FilterExpression": functions,
            "ExpressionAttributeValues": {":v": {"N": "1"}},
        },
    )
    refused(
        raw,
        "Scan",
        {
            "TableName": table,
            "FilterExpression": functions + " OR attribute_exists(a)",  # 301
            "ExpressionAttributeValues": {":v": {"N": "1"}},
        },
        f"Invalid FilterExpression: {TOO_MANY}",
    )


def test_update_operator_count_300(raw: RawClient, table: str) -> None:
    def update(operators: int) -> str:
        return "SET " + ", ".join(f"x{i}=:v+:v" for i in range(operators))

    values = {":v": {"N": "1"}}
    params = {"TableName": table, "Key": KEY, "ExpressionAttributeValues": values}
    ok(raw, "UpdateItem", {**params, "UpdateExpression": update(300)})
    got = ok(raw, "GetItem", {"TableName": table, "Key": KEY})["Item"]
    assert got["x299"] == {"N": "2"}
    ok(raw, "PutItem", {"TableName": table, "Item": ITEM})
    refused(
        raw,
        "UpdateItem",
        {**params, "UpdateExpression": update(301)},
        f"Invalid UpdateExpression: {TOO_MANY}",
    )
    unchanged(raw, table)


# -------------------------------------------------------- document path depth


def deep(levels: int) -> str:
    return "a" + ".b" * (levels - 1)


def test_document_path_depth_32(raw: RawClient, table: str) -> None:
    ok(raw, "GetItem", {"TableName": table, "Key": KEY, "ProjectionExpression": deep(32)})
    refused(
        raw,
        "GetItem",
        {"TableName": table, "Key": KEY, "ProjectionExpression": deep(33)},
        "Invalid ProjectionExpression: The document path has too many nesting levels; "
        "nesting levels: 33",
    )
    indexed = "a" + "[0]" * 31
    ok(raw, "GetItem", {"TableName": table, "Key": KEY, "ProjectionExpression": indexed})
    refused(
        raw,
        "GetItem",
        {"TableName": table, "Key": KEY, "ProjectionExpression": indexed + "[0]"},
        "Invalid ProjectionExpression: The document path has too many nesting levels; "
        "nesting levels: 33",
    )
    condition = {
        "TableName": table,
        "Item": ITEM,
        "ConditionExpression": f"attribute_not_exists({deep(33)})",
    }
    refused(
        raw,
        "PutItem",
        condition,
        "Invalid ConditionExpression: The document path has too many nesting levels; "
        "nesting levels: 33",
    )

    def update(levels: int) -> dict[str, Any]:
        return {
            "TableName": table,
            "Key": KEY,
            "UpdateExpression": f"SET a = if_not_exists({deep(levels)}, :one)",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }

    ok(raw, "UpdateItem", update(32))
    refused(
        raw,
        "UpdateItem",
        update(33),
        "Invalid UpdateExpression: The document path has too many nesting levels; "
        "nesting levels: 33",
    )
    unchanged(raw, table)


# ------------------------------------------------------ substitution sizes


def test_placeholder_names_255_bytes(raw: RawClient, table: str) -> None:
    inside_name, outside_name = "#" + "n" * 254, "#" + "n" * 255
    inside_value, outside_value = ":" + "v" * 254, ":" + "v" * 255

    def put(name: str, value: str) -> dict[str, Any]:
        return {
            "TableName": table,
            "Item": ITEM,
            "ConditionExpression": f"{name} = {value}",
            "ExpressionAttributeNames": {name: "a"},
            "ExpressionAttributeValues": {value: {"N": "1"}},
        }

    ok(raw, "PutItem", put(inside_name, inside_value))
    refused(
        raw,
        "PutItem",
        put(outside_name, inside_value),
        "ExpressionAttributeNames contains invalid key: The expression attribute map contains "
        "a key that is too long; size of key: 256",
    )
    refused(
        raw,
        "PutItem",
        put(inside_name, outside_value),
        "ExpressionAttributeValues contains invalid key: The expression attribute map contains "
        "a key that is too long; size of key: 256",
    )
    unchanged(raw, table)


def test_all_substitutions_2_mb(raw: RawClient, table: str) -> None:
    def update(extra: int) -> dict[str, Any]:
        # ":v" (2 bytes) + "#n" (2) + "a" (1) + the string's bytes
        value = "x" * (MB2 - 5 + extra)
        return {
            "TableName": table,
            "Key": KEY,
            "UpdateExpression": "REMOVE z",
            "ConditionExpression": "#n <> :v",
            "ExpressionAttributeNames": {"#n": "a"},
            "ExpressionAttributeValues": {":v": {"S": value}},
        }

    ok(raw, "UpdateItem", update(0))
    refused(
        raw,
        "UpdateItem",
        update(1),
        "ExpressionAttributeNames and ExpressionAttributeValues exceed the maximum allowed "
        "size of 2 MB",
    )
    unchanged(raw, table)


# ----------------------------------------------------------- attribute names


def test_key_attribute_names_255_bytes(raw: RawClient, ddb: Any, table_name: str) -> None:
    def create(name: str) -> Any:
        return raw.call(
            "CreateTable",
            {
                "TableName": table_name,
                "KeySchema": [{"AttributeName": name, "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        )

    outside = create("k" * 256)
    assert (outside.status, outside.error_type) == (400, "ValidationException"), outside.body
    assert "k" * 256 in outside.message
    assert "Member must have length less than or equal to 255" in outside.message
    assert create("k" * 255).status == 200
    item = {"k" * 255: {"S": "x"}}
    ok(raw, "PutItem", {"TableName": table_name, "Item": item})
    assert ok(raw, "GetItem", {"TableName": table_name, "Key": item}) == {"Item": item}


def test_other_attribute_names_are_bound_by_the_item_size_only(raw: RawClient, table: str) -> None:
    long_name = "n" * 60_000
    item = {**ITEM, long_name: {"S": "x"}}
    ok(raw, "PutItem", {"TableName": table, "Item": item})
    got = ok(
        raw,
        "GetItem",
        {
            "TableName": table,
            "Key": KEY,
            "ProjectionExpression": "#n",
            "ExpressionAttributeNames": {"#n": long_name},
        },
    )
    assert got == {"Item": {long_name: {"S": "x"}}}
    too_big = {**ITEM, long_name: {"S": "x" * (400 * 1024 - 60_000)}}
    refused(
        raw,
        "PutItem",
        {"TableName": table, "Item": too_big},
        "Item size has exceeded the maximum allowed size",
    )
    assert ok(raw, "GetItem", {"TableName": table, "Key": KEY}) == {"Item": item}


def test_projected_attribute_names_255_bytes(raw: RawClient, table_name: str) -> None:
    def create(projected: str) -> Any:
        return raw.call(
            "CreateTable",
            {
                "TableName": table_name,
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                    {"AttributeName": "l", "AttributeType": "S"},
                ],
                "LocalSecondaryIndexes": [
                    {
                        "IndexName": "local",
                        "KeySchema": [
                            {"AttributeName": "pk", "KeyType": "HASH"},
                            {"AttributeName": "l", "KeyType": "RANGE"},
                        ],
                        "Projection": {
                            "ProjectionType": "INCLUDE",
                            "NonKeyAttributes": [projected],
                        },
                    }
                ],
                "BillingMode": "PAY_PER_REQUEST",
            },
        )

    outside = create("p" * 256)
    assert (outside.status, outside.error_type) == (400, "ValidationException"), outside.body
    assert "Member must have length less than or equal to 255" in outside.message, outside.body
    inside = create("p" * 255)
    assert inside.status == 200, inside.body
