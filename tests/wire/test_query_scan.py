"""Query and Scan over the wire: key conditions, order, paging, filters, segments."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import RawClient

NUMBERS = [
    "-1000",
    "-10.5",
    "-1",
    "-0.001",
    "0",
    "0.001",
    "1",
    "2",
    "9",
    "10",
    "10.5",
    "1000",
    "1E+20",
]


@pytest.fixture
def numbers_table(ddb: Any, make_table: Callable[..., str]) -> str:
    name = make_table(range_key=("n", "N"))
    for n in NUMBERS:
        ddb.put_item(
            TableName=name,
            Item={"pk": {"S": "p"}, "n": {"N": n}, "even": {"BOOL": Decimal(n) % 2 == 0}},
        )
    ddb.put_item(TableName=name, Item={"pk": {"S": "other"}, "n": {"N": "5"}})
    return name


def _ns(items: list[dict[str, Any]]) -> list[Decimal]:
    return [Decimal(i["n"]["N"]) for i in items]


def test_query_orders_numbers_by_value(ddb: Any, numbers_table: str) -> None:
    items = ddb.query(
        TableName=numbers_table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
    )["Items"]
    assert _ns(items) == sorted(Decimal(n) for n in NUMBERS)
    backwards = ddb.query(
        TableName=numbers_table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        ScanIndexForward=False,
    )["Items"]
    assert _ns(backwards) == sorted((Decimal(n) for n in NUMBERS), reverse=True)


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("n = :a", {":a": "10"}, ["10"]),
        ("n < :a", {":a": "0"}, ["-1000", "-10.5", "-1", "-0.001"]),
        ("n <= :a", {":a": "-1"}, ["-1000", "-10.5", "-1"]),
        ("n > :a", {":a": "10"}, ["10.5", "1000", "1E+20"]),
        ("n >= :a", {":a": "1000"}, ["1000", "1E+20"]),
        ("n BETWEEN :a AND :b", {":a": "-1", ":b": "2"}, ["-1", "-0.001", "0", "0.001", "1", "2"]),
    ],
)
def test_query_sort_key_conditions(
    ddb: Any, numbers_table: str, condition: str, values: dict[str, str], expected: list[str]
) -> None:
    attrs = {":p": {"S": "p"}} | {k: {"N": v} for k, v in values.items()}
    items = ddb.query(
        TableName=numbers_table,
        KeyConditionExpression=f"pk = :p AND {condition}",
        ExpressionAttributeValues=attrs,
    )["Items"]
    assert _ns(items) == [Decimal(e) for e in expected]


def test_query_begins_with_on_string_sort_key(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table()
    for sk in ["a", "ab", "abc", "abd", "b", "a\xff", "ac"]:
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": sk}})
    items = ddb.query(
        TableName=name,
        KeyConditionExpression="pk = :p AND begins_with(sk, :pre)",
        ExpressionAttributeValues={":p": {"S": "p"}, ":pre": {"S": "ab"}},
    )["Items"]
    assert [i["sk"]["S"] for i in items] == ["ab", "abc", "abd"]


def test_query_pagination_with_limit(ddb: Any, numbers_table: str) -> None:
    seen: list[Decimal] = []
    kwargs: dict[str, Any] = {}
    pages = 0
    while True:
        page = ddb.query(
            TableName=numbers_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "p"}},
            Limit=4,
            **kwargs,
        )
        pages += 1
        seen.extend(_ns(page["Items"]))
        if "LastEvaluatedKey" not in page:
            break
        assert set(page["LastEvaluatedKey"]) == {"pk", "n"}
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert seen == sorted(Decimal(n) for n in NUMBERS)
    assert pages == 4  # 13 items: 4+4+4+1


def test_query_filter_count_and_select(raw: RawClient, numbers_table: str) -> None:
    response = raw.call(
        "Query",
        {
            "TableName": numbers_table,
            "KeyConditionExpression": "pk = :p",
            "FilterExpression": "even = :t",
            "ExpressionAttributeValues": {":p": {"S": "p"}, ":t": {"BOOL": True}},
            "Select": "COUNT",
        },
    ).json
    evens = sum(1 for n in NUMBERS if Decimal(n) % 2 == 0)
    assert evens == 6
    assert response == {"Count": evens, "ScannedCount": len(NUMBERS)}


def test_query_filter_on_key_is_rejected(raw: RawClient, numbers_table: str) -> None:
    response = raw.call(
        "Query",
        {
            "TableName": numbers_table,
            "KeyConditionExpression": "pk = :p",
            "FilterExpression": "n > :z",
            "ExpressionAttributeValues": {":p": {"S": "p"}, ":z": {"N": "0"}},
        },
    )
    assert response.error_type == "ValidationException"
    assert (
        response.message
        == "Filter Expression can only contain non-primary key attributes: Primary key attribute: n"
    )


@pytest.mark.parametrize(
    ("expression", "values", "message"),
    [
        ("n = :a", {":a": {"N": "1"}}, "Query condition missed key schema element: pk"),
        (
            "pk = :a AND attr1 = :b",
            {":a": {"S": "p"}, ":b": {"S": "x"}},
            "Query key condition not supported",
        ),
        ("pk > :a", {":a": {"S": "p"}}, "Query key condition not supported"),
        (
            "pk = :a",
            {":a": {"N": "1"}},
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
    ],
)
def test_query_key_condition_errors(
    raw: RawClient, numbers_table: str, expression: str, values: dict[str, Any], message: str
) -> None:
    response = raw.call(
        "Query",
        {
            "TableName": numbers_table,
            "KeyConditionExpression": expression,
            "ExpressionAttributeValues": values,
        },
    )
    assert response.status == 400
    assert response.error_type == "ValidationException"
    assert response.message == message


def test_scan_segments_partition_the_table(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table(range_key=None)
    keys = {f"k{i}" for i in range(120)}
    for k in keys:
        ddb.put_item(TableName=name, Item={"pk": {"S": k}})
    found: list[str] = []
    for segment in range(4):
        for page in ddb.get_paginator("scan").paginate(
            TableName=name, Segment=segment, TotalSegments=4, PaginationConfig={"PageSize": 7}
        ):
            found.extend(i["pk"]["S"] for i in page["Items"])
    assert sorted(found) == sorted(keys)
    assert len(found) == len(set(found))
    whole = [
        i["pk"]["S"]
        for p in ddb.get_paginator("scan").paginate(
            TableName=name, PaginationConfig={"PageSize": 11}
        )
        for i in p["Items"]
    ]
    assert sorted(whole) == sorted(keys) and len(whole) == len(keys)


def test_scan_filter_projection(ddb: Any, numbers_table: str) -> None:
    response = ddb.scan(
        TableName=numbers_table,
        FilterExpression="n > :z AND pk = :p",
        ProjectionExpression="n",
        ExpressionAttributeValues={":z": {"N": "100"}, ":p": {"S": "p"}},
    )
    assert sorted(_ns(response["Items"])) == [Decimal("1000"), Decimal("1E+20")]
    assert all(set(i) == {"n"} for i in response["Items"])
    assert response["ScannedCount"] == len(NUMBERS) + 1


def test_scan_one_megabyte_pages(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table(range_key=None)
    blob = "x" * 100_000
    for i in range(25):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"big{i:02d}"}, "blob": {"S": blob}})
    first = ddb.scan(TableName=name)
    assert "LastEvaluatedKey" in first
    assert 10 <= first["Count"] <= 11
    total = first["Count"]
    start = first["LastEvaluatedKey"]
    while start:
        page = ddb.scan(TableName=name, ExclusiveStartKey=start)
        total += page["Count"]
        start = page.get("LastEvaluatedKey")
    assert total == 25


def test_scan_segment_errors(raw: RawClient, numbers_table: str) -> None:
    response = raw.call("Scan", {"TableName": numbers_table, "Segment": 2, "TotalSegments": 2})
    assert (
        response.message
        == "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 2 is not less than TotalSegments: 2"
    )
    response = raw.call("Scan", {"TableName": numbers_table, "Segment": 0})
    assert (
        response.message
        == "The TotalSegments parameter is required but was not present in the request when Segment parameter is present"
    )
