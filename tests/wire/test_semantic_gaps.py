"""AWS semantics over the wire that are easy to get subtly wrong (issue 17 §3).

Updates that only remove on a missing item, ``ReturnItemCollectionMetrics``, the 4 MB
TransactWriteItems aggregate, TransactGetItems keys that miss the schema, exact
UpdateExpression arithmetic, DeleteTable's answer and the tagging ARN and tag rules.
Every refused write also proves that nothing changed: the item, the index and the
stream (read back with GetRecords).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import RawClient
from tests.wire.test_streams import create_stream_table, read_stream

CANCELLED = "Transaction cancelled, please refer cancellation reasons for specific reasons "
KEY_MISMATCH = "The provided key element does not match the schema"


def ok(raw: RawClient, operation: str, params: dict[str, Any]) -> Any:
    response = raw.call(operation, params)
    assert response.status == 200, response.body
    return response.json


def refused(raw: RawClient, operation: str, params: dict[str, Any], name: str, message: str) -> Any:
    """Call ``operation``, which must fail with exactly ``name`` and ``message``."""
    response = raw.call(operation, params)
    assert response.status == 400, response.body
    assert response.error_type == name, response.body
    assert response.message == message, response.body
    return response.json


@pytest.fixture
def stream_table(ddb: Any) -> tuple[str, str]:
    name, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
    assert arn is not None
    return name, arn


def scan(raw: RawClient, table: str) -> list[dict[str, Any]]:
    return list(ok(raw, "Scan", {"TableName": table})["Items"])


# ------------------------------------------------------ remove-only updates


REMOVE_ONLY = [
    ({"UpdateExpression": "REMOVE a"}, "REMOVE"),
    ({"UpdateExpression": "REMOVE a, b.c"}, "REMOVE of a path"),
    (
        {"UpdateExpression": "DELETE s :s", "ExpressionAttributeValues": {":s": {"SS": ["x"]}}},
        "DELETE from a set",
    ),
    (
        {
            "UpdateExpression": "REMOVE a DELETE s :s",
            "ExpressionAttributeValues": {":s": {"NS": ["1"]}},
        },
        "REMOVE and DELETE",
    ),
    ({"AttributeUpdates": {"a": {"Action": "DELETE"}}}, "legacy DELETE"),
]


@pytest.mark.parametrize("returns", ["NONE", "ALL_NEW", "UPDATED_NEW", "ALL_OLD", "UPDATED_OLD"])
@pytest.mark.parametrize(("update", "what"), REMOVE_ONLY, ids=[w for _, w in REMOVE_ONLY])
def test_remove_only_update_of_missing_item_writes_nothing(
    raw: RawClient, stream_table: tuple[str, str], update: dict[str, Any], what: str, returns: str
) -> None:
    table, arn = stream_table
    key = {"pk": {"S": "missing"}}
    body = ok(
        raw, "UpdateItem", {"TableName": table, "Key": key, "ReturnValues": returns, **update}
    )
    assert body == {}  # no Attributes, whatever ReturnValues asks for
    assert ok(raw, "GetItem", {"TableName": table, "Key": key}) == {}
    assert scan(raw, table) == []
    assert read_stream(raw, arn) == []


def test_remove_only_update_with_a_passing_condition_writes_nothing(
    raw: RawClient, stream_table: tuple[str, str]
) -> None:
    table, arn = stream_table
    key = {"pk": {"S": "missing"}}
    params = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": "REMOVE a",
        "ConditionExpression": "attribute_not_exists(pk)",
        "ReturnValues": "ALL_NEW",
    }
    assert ok(raw, "UpdateItem", params) == {}
    params["ConditionExpression"] = "attribute_exists(pk)"
    refused(
        raw,
        "UpdateItem",
        params,
        "ConditionalCheckFailedException",
        "The conditional request failed",
    )
    assert scan(raw, table) == []
    assert read_stream(raw, arn) == []


def test_remove_only_update_still_changes_an_existing_item(
    raw: RawClient, stream_table: tuple[str, str]
) -> None:
    table, arn = stream_table
    key = {"pk": {"S": "here"}}
    ok(raw, "PutItem", {"TableName": table, "Item": {**key, "a": {"S": "x"}}})
    body = ok(
        raw,
        "UpdateItem",
        {"TableName": table, "Key": key, "UpdateExpression": "REMOVE a", "ReturnValues": "ALL_NEW"},
    )
    assert body == {"Attributes": key}
    assert [r["eventName"] for r in read_stream(raw, arn)] == ["INSERT", "MODIFY"]


def test_update_that_adds_or_has_no_actions_still_creates_the_item(
    raw: RawClient, stream_table: tuple[str, str]
) -> None:
    table, arn = stream_table
    ok(raw, "UpdateItem", {"TableName": table, "Key": {"pk": {"S": "bare"}}})
    ok(
        raw,
        "UpdateItem",
        {
            "TableName": table,
            "Key": {"pk": {"S": "mixed"}},
            "UpdateExpression": "SET b = :b REMOVE a",
            "ExpressionAttributeValues": {":b": {"N": "1"}},
        },
    )
    items = sorted(scan(raw, table), key=lambda item: item["pk"]["S"])
    assert items == [{"pk": {"S": "bare"}}, {"pk": {"S": "mixed"}, "b": {"N": "1"}}]
    assert [r["eventName"] for r in read_stream(raw, arn)] == ["INSERT", "INSERT"]


def test_transaction_remove_only_update_of_missing_item_writes_nothing(
    raw: RawClient, stream_table: tuple[str, str]
) -> None:
    table, arn = stream_table
    ok(
        raw,
        "TransactWriteItems",
        {
            "TransactItems": [
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "missing"}},
                        "UpdateExpression": "REMOVE a",
                    }
                },
                {"Put": {"TableName": table, "Item": {"pk": {"S": "other"}}}},
            ]
        },
    )
    assert scan(raw, table) == [{"pk": {"S": "other"}}]
    assert [r["dynamodb"]["Keys"] for r in read_stream(raw, arn)] == [{"pk": {"S": "other"}}]


# ------------------------------------------------- ReturnItemCollectionMetrics


@pytest.fixture
def lsi_table(ddb: Any) -> str:
    name = f"lsi_{uuid.uuid4().hex[:10]}"
    ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "lk", "AttributeType": "N"},
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "bylk",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "lk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def metrics(pk: str) -> dict[str, Any]:
    return {"ItemCollectionKey": {"pk": {"S": pk}}, "SizeEstimateRangeGB": [0.0, 1.0]}


def test_item_collection_metrics_on_single_item_writes(raw: RawClient, lsi_table: str) -> None:
    size = {"TableName": lsi_table, "ReturnItemCollectionMetrics": "SIZE"}
    key = {"pk": {"S": "p"}, "sk": {"S": "1"}}
    put = ok(raw, "PutItem", {**size, "Item": {**key, "lk": {"N": "1"}}})
    assert put == {"ItemCollectionMetrics": metrics("p")}
    update = ok(
        raw,
        "UpdateItem",
        {
            **size,
            "Key": key,
            "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": {"S": "x"}},
        },
    )
    assert update == {"ItemCollectionMetrics": metrics("p")}
    assert ok(raw, "DeleteItem", {**size, "Key": key}) == {"ItemCollectionMetrics": metrics("p")}
    # NONE (the default) asks for nothing
    assert ok(raw, "PutItem", {"TableName": lsi_table, "Item": key}) == {}
    body = raw.call(
        "PutItem",
        {**size, "Item": key, "ReturnItemCollectionMetrics": "NONE"},
    ).body
    assert body == b"{}"


def test_item_collection_metrics_on_batches_and_transactions(
    raw: RawClient, lsi_table: str, make_table: Any
) -> None:
    plain = make_table()
    batch = ok(
        raw,
        "BatchWriteItem",
        {
            "RequestItems": {
                lsi_table: [
                    {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"S": "1"}}}},
                    {"DeleteRequest": {"Key": {"pk": {"S": "b"}, "sk": {"S": "1"}}}},
                ],
                plain: [{"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"S": "1"}}}}],
            },
            "ReturnItemCollectionMetrics": "SIZE",
        },
    )
    assert batch == {
        "UnprocessedItems": {},
        "ItemCollectionMetrics": {lsi_table: [metrics("a"), metrics("b")]},
    }
    transaction = ok(
        raw,
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": lsi_table, "Item": {"pk": {"S": "c"}, "sk": {"S": "1"}}}},
                {
                    "ConditionCheck": {
                        "TableName": lsi_table,
                        "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {"Put": {"TableName": plain, "Item": {"pk": {"S": "c"}, "sk": {"S": "1"}}}},
            ],
            "ReturnItemCollectionMetrics": "SIZE",
        },
    )
    assert transaction == {"ItemCollectionMetrics": {lsi_table: [metrics("c")]}}


def test_no_item_collection_metrics_without_a_local_index(raw: RawClient, make_table: Any) -> None:
    plain = make_table()
    item = {"pk": {"S": "a"}, "sk": {"S": "1"}}
    size = {"ReturnItemCollectionMetrics": "SIZE"}
    assert ok(raw, "PutItem", {"TableName": plain, "Item": item, **size}) == {}
    assert ok(raw, "DeleteItem", {"TableName": plain, "Key": item, **size}) == {}
    batch = ok(
        raw,
        "BatchWriteItem",
        {"RequestItems": {plain: [{"PutRequest": {"Item": item}}]}, **size},
    )
    assert batch == {"UnprocessedItems": {}}
    transaction = {"TransactItems": [{"Put": {"TableName": plain, "Item": item}}], **size}
    assert ok(raw, "TransactWriteItems", transaction) == {}


# ------------------------------------------------------- transaction limits


TOO_LARGE = (
    "Collection size of items exceeded, which can also be caused by the aggregate size of "
    "the items in the transaction exceeding the 4MB limit"
)


def _big_puts(table: str, count: int, value_bytes: int) -> list[dict[str, Any]]:
    return [
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": f"k{i:02d}"}, "v": {"S": "x" * value_bytes}},
            }
        }
        for i in range(count)
    ]


def test_transaction_over_4_mb_is_refused_and_writes_nothing(
    raw: RawClient, stream_table: tuple[str, str]
) -> None:
    table, arn = stream_table
    # each item: "pk" (2) + "k00" (3) + "v" (1) + value; 11 items of 381,300 B = 4,194,400 B
    just_inside = 4 * 1024 * 1024 // 11 - 6
    ok(raw, "TransactWriteItems", {"TransactItems": _big_puts(table, 11, just_inside)})
    assert len(read_stream(raw, arn)) == 11
    for item in _big_puts(table, 11, just_inside):
        ok(raw, "DeleteItem", {"TableName": table, "Key": {"pk": item["Put"]["Item"]["pk"]}})
    before = read_stream(raw, arn)
    refused(
        raw,
        "TransactWriteItems",
        {"TransactItems": _big_puts(table, 11, just_inside + 1)},
        "ValidationException",
        TOO_LARGE,
    )
    assert scan(raw, table) == []
    assert read_stream(raw, arn) == before


def test_transact_get_with_a_key_missing_an_attribute_is_cancelled(
    raw: RawClient, make_table: Any
) -> None:
    table = make_table()
    ok(raw, "PutItem", {"TableName": table, "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}}})
    good = {"Get": {"TableName": table, "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}}}}
    bad = {"Get": {"TableName": table, "Key": {"pk": {"S": "a"}}}}
    wrong_type = {"Get": {"TableName": table, "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}}
    body = refused(
        raw,
        "TransactGetItems",
        {"TransactItems": [good, bad, wrong_type]},
        "TransactionCanceledException",
        CANCELLED + "[None, ValidationError, ValidationError]",
    )
    assert body["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ValidationError", "Message": KEY_MISMATCH},
        {"Code": "ValidationError", "Message": KEY_MISMATCH},
    ]


# ----------------------------------------------------- update arithmetic


DIGITS = "Attempting to store more than 38 significant digits in a Number"
OVERFLOW = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
MAX = "9.9999999999999999999999999999999999999E+125"


@pytest.mark.parametrize(
    ("stored", "expression", "operand", "error", "result"),
    [
        ("99999999999999999999999999999999999999", "SET n = n + :v", "1", None, "1" + "0" * 38),
        ("12345678901234567890123456789012345678", "SET n = n + :v", "0.1", DIGITS, None),
        ("12345678901234567890123456789012345678", "SET n = n - :v", "0.1", DIGITS, None),
        ("1E+125", "SET n = n + :v", "1E-125", DIGITS, None),
        (MAX, "SET n = n + :v", MAX, OVERFLOW, None),
        ("12345678901234567890123456789012345678", "ADD n :v", "0.1", DIGITS, None),
        (
            "1234567890123456789012345678901234567.8",
            "ADD n :v",
            "0.1",
            None,
            "1234567890123456789012345678901234567.9",
        ),
    ],
)
def test_update_arithmetic_is_exact_or_refused(
    raw: RawClient,
    stream_table: tuple[str, str],
    stored: str,
    expression: str,
    operand: str,
    error: str | None,
    result: str | None,
) -> None:
    table, arn = stream_table
    key = {"pk": {"S": "n"}}
    item = {**key, "n": {"N": stored}}
    ok(raw, "PutItem", {"TableName": table, "Item": item})
    before = ok(raw, "GetItem", {"TableName": table, "Key": key})
    params = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": expression,
        "ExpressionAttributeValues": {":v": {"N": operand}},
        "ReturnValues": "UPDATED_NEW",
    }
    if error is None:
        assert ok(raw, "UpdateItem", params) == {"Attributes": {"n": {"N": result}}}
        return
    refused(raw, "UpdateItem", params, "ValidationException", error)
    assert ok(raw, "GetItem", {"TableName": table, "Key": key}) == before
    assert [r["eventName"] for r in read_stream(raw, arn)] == ["INSERT"]


# ---------------------------------------------------------------- DeleteTable


def test_delete_table_describes_the_table_and_its_indexes_as_deleting(
    ddb: Any, raw: RawClient
) -> None:
    name = f"del_{uuid.uuid4().hex[:10]}"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    ddb.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "local",
                "KeySchema": [keys[0], {"AttributeName": "g", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "global",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    before = ok(raw, "DescribeTable", {"TableName": name})["Table"]
    description = ok(raw, "DeleteTable", {"TableName": name})["TableDescription"]
    assert description["TableStatus"] == "DELETING"
    (local,) = description["LocalSecondaryIndexes"]
    assert local == before["LocalSecondaryIndexes"][0]
    assert "IndexStatus" not in local
    (global_,) = description["GlobalSecondaryIndexes"]
    assert global_ == {**before["GlobalSecondaryIndexes"][0], "IndexStatus": "DELETING"}


# ------------------------------------------------------------------------ tags


def _arn_error(arn: str) -> str:
    return f"Invalid TableArn: Invalid ResourceArn provided as input {arn}"


def _not_found(arn: str) -> str:
    return f"Requested resource not found: ResourcArn: {arn} not found"


def _tag_calls(arn: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("TagResource", {"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]}),
        ("UntagResource", {"ResourceArn": arn, "TagKeys": ["k"]}),
        ("ListTagsOfResource", {"ResourceArn": arn}),
    ]


def test_tagging_arns_that_name_no_table_here(ddb: Any, raw: RawClient) -> None:
    name = f"tag_{uuid.uuid4().hex[:10]}"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    table = ddb.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "local",
                "KeySchema": [keys[0], {"AttributeName": "g", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "global",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]
    arn = table["TableArn"]
    invalid = [
        table["GlobalSecondaryIndexes"][0]["IndexArn"],
        table["LocalSecondaryIndexes"][0]["IndexArn"],
        arn.replace(":us-east-1:", ":eu-west-1:"),
        arn.replace(":dynamodb:", ":s3:"),
        f"{arn}/stream/2026-01-01T00:00:00.000",
        "not-an-arn",
    ]
    for bad in invalid:
        for operation, params in _tag_calls(bad):
            refused(raw, operation, params, "ValidationException", _arn_error(bad))
    missing = [
        arn.replace(f"table/{name}", "table/nosuchtable"),
        arn.replace(":000000000000:", ":111111111111:"),
    ]
    for bad in missing:
        for operation, params in _tag_calls(bad):
            refused(raw, operation, params, "ResourceNotFoundException", _not_found(bad))
    assert ok(raw, "ListTagsOfResource", {"ResourceArn": arn}) == {"Tags": []}


INVALID_TAG = (
    "One or more parameter values were invalid: Tag keys and values may only contain "
    "Unicode letters, digits, white space and + - = . _ : / @"
)
RESERVED = "One or more parameter values were invalid: Tag key must not start with the reserved prefix aws:"


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ({"Key": "a#b", "Value": "v"}, INVALID_TAG),
        ({"Key": "k", "Value": "<v>"}, INVALID_TAG),
        ({"Key": "k", "Value": "semi;colon"}, INVALID_TAG),
        ({"Key": "aws:owner", "Value": "v"}, RESERVED),
    ],
)
def test_forbidden_tags_are_refused_and_change_nothing(
    raw: RawClient, make_table: Any, tag: dict[str, str], message: str
) -> None:
    table = make_table()
    arn = ok(raw, "DescribeTable", {"TableName": table})["Table"]["TableArn"]
    good = {"Key": "ok key_1.2:/=+-@", "Value": "Ünïcode välue 9"}
    ok(raw, "TagResource", {"ResourceArn": arn, "Tags": [good]})
    params = {"ResourceArn": arn, "Tags": [{"Key": "fine", "Value": "x"}, tag]}
    refused(raw, "TagResource", params, "ValidationException", message)
    assert ok(raw, "ListTagsOfResource", {"ResourceArn": arn}) == {"Tags": [good]}
