"""BatchGetItem, BatchWriteItem, TransactWriteItems, TransactGetItems, tags and the
small account-level operations, over the wire."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import RawClient, make_client


@pytest.fixture
def table(make_table: Callable[..., str]) -> str:
    return make_table(range_key=None)


def _key(k: str) -> dict[str, Any]:
    return {"pk": {"S": k}}


def _count(ddb: Any, table: str) -> int:
    return int(ddb.scan(TableName=table, Select="COUNT")["Count"])


def test_batch_write_puts_and_deletes(ddb: Any, table: str, make_table: Callable[..., str]) -> None:
    other = make_table(range_key=None)
    ddb.put_item(TableName=table, Item={**_key("old"), "v": {"N": "1"}})
    response = ddb.batch_write_item(
        RequestItems={
            table: [
                {"PutRequest": {"Item": {**_key(f"k{i}"), "v": {"N": str(i)}}}} for i in range(20)
            ]
            + [{"DeleteRequest": {"Key": _key("old")}}],
            other: [{"PutRequest": {"Item": _key("x")}}],
        },
        ReturnConsumedCapacity="TOTAL",
    )
    assert response["UnprocessedItems"] == {}
    assert {c["TableName"]: c["CapacityUnits"] for c in response["ConsumedCapacity"]} == {
        table: 21.0,
        other: 1.0,
    }
    assert _count(ddb, table) == 20 and _count(ddb, other) == 1


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        (
            [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(26)],
            "failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
        ),
        (
            [
                {"PutRequest": {"Item": {"pk": {"S": "same"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "same"}}}},
            ],
            "Provided list of item keys contains duplicates",
        ),
        (
            [
                {"PutRequest": {"Item": {"pk": {"S": "ok"}}}},
                {"PutRequest": {"Item": {"nokey": {"S": "x"}}}},
            ],
            "One or more parameter values were invalid: Missing the key pk in the item",
        ),
        (
            [
                {
                    "PutRequest": {"Item": {"pk": {"S": "ok"}}},
                    "DeleteRequest": {"Key": {"pk": {"S": "ok"}}},
                }
            ],
            "A WriteRequest must contain exactly one of PutRequest or DeleteRequest",
        ),
    ],
)
def test_batch_write_errors_write_nothing(
    raw: RawClient, ddb: Any, table: str, requests: list[Any], message: str
) -> None:
    response = raw.call("BatchWriteItem", {"RequestItems": {table: requests}})
    assert response.status == 400
    assert response.error_type == "ValidationException"
    assert message in response.message
    assert _count(ddb, table) == 0


def test_batch_write_more_than_25_across_tables(
    raw: RawClient, ddb: Any, table: str, make_table: Callable[..., str]
) -> None:
    other = make_table(range_key=None)
    response = raw.call(
        "BatchWriteItem",
        {
            "RequestItems": {
                name: [{"PutRequest": {"Item": _key(f"k{i}")}} for i in range(13)]
                for name in (table, other)
            }
        },
    )
    assert response.message == "Too many items requested for the BatchWriteItem call"
    assert _count(ddb, table) == 0 and _count(ddb, other) == 0


def test_batch_write_unknown_table(raw: RawClient) -> None:
    response = raw.call(
        "BatchWriteItem", {"RequestItems": {"no_such_table": [{"PutRequest": {"Item": _key("a")}}]}}
    )
    assert response.error_type == "ResourceNotFoundException"


def test_batch_get(ddb: Any, raw: RawClient, table: str) -> None:
    for i in range(5):
        ddb.put_item(TableName=table, Item={**_key(f"k{i}"), "v": {"N": str(i)}, "w": {"S": "x"}})
    response = raw.call(
        "BatchGetItem",
        {
            "RequestItems": {
                table: {
                    "Keys": [_key("k1"), _key("k3"), _key("missing")],
                    "ProjectionExpression": "#v",
                    "ExpressionAttributeNames": {"#v": "v"},
                    "ConsistentRead": True,
                }
            },
            "ReturnConsumedCapacity": "TOTAL",
        },
    ).json
    assert sorted(response["Responses"][table], key=lambda i: i["v"]["N"]) == [
        {"v": {"N": "1"}},
        {"v": {"N": "3"}},
    ]
    assert response["UnprocessedKeys"] == {}
    assert response["ConsumedCapacity"] == [
        {"TableName": table, "CapacityUnits": 3.0, "ReadCapacityUnits": 3.0}
    ]
    too_many = raw.call(
        "BatchGetItem", {"RequestItems": {table: {"Keys": [_key(f"k{i}") for i in range(101)]}}}
    )
    assert too_many.message.endswith(
        f"at 'requestItems.{table}.member.keys' failed to satisfy constraint: Member must have length less than or equal to 100"
    )
    duplicates = raw.call(
        "BatchGetItem", {"RequestItems": {table: {"Keys": [_key("k1"), _key("k1")]}}}
    )
    assert duplicates.message == "Provided list of item keys contains duplicates"


def test_batch_get_caps_response_at_16_mb(ddb: Any, table: str) -> None:
    blob = "x" * 390_000
    for i in range(45):
        ddb.put_item(TableName=table, Item={**_key(f"big{i:02d}"), "blob": {"S": blob}})
    keys = [_key(f"big{i:02d}") for i in range(45)]
    response = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
    got = len(response["Responses"][table])
    left = response["UnprocessedKeys"][table]["Keys"]
    assert 40 <= got < 45 and got + len(left) == 45
    again = ddb.batch_get_item(RequestItems=response["UnprocessedKeys"])
    assert len(again["Responses"][table]) == len(left)


def test_transact_write_all_or_nothing(ddb: Any, raw: RawClient, table: str) -> None:
    ddb.put_item(TableName=table, Item={**_key("acct1"), "balance": {"N": "100"}})
    ddb.put_item(TableName=table, Item={**_key("acct2"), "balance": {"N": "0"}})
    ddb.put_item(TableName=table, Item={**_key("bank"), "open": {"BOOL": True}})
    transfer = {
        "TransactItems": [
            {
                "Update": {
                    "TableName": table,
                    "Key": _key("acct1"),
                    "UpdateExpression": "SET balance = balance - :amt",
                    "ConditionExpression": "balance >= :amt",
                    "ExpressionAttributeValues": {":amt": {"N": "60"}},
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": _key("acct2"),
                    "UpdateExpression": "SET balance = balance + :amt",
                    "ExpressionAttributeValues": {":amt": {"N": "60"}},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": _key("bank"),
                    "ConditionExpression": "#o = :t",
                    "ExpressionAttributeNames": {"#o": "open"},
                    "ExpressionAttributeValues": {":t": {"BOOL": True}},
                }
            },
            {"Put": {"TableName": table, "Item": {**_key("log1"), "what": {"S": "transfer"}}}},
        ]
    }
    assert raw.call("TransactWriteItems", transfer).json == {}
    second = raw.call("TransactWriteItems", transfer)
    assert second.status == 400
    assert second.json == {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None, None, None]",
        "CancellationReasons": [
            {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
            {"Code": "None"},
            {"Code": "None"},
            {"Code": "None"},
        ],
    }
    balances = {
        k: ddb.get_item(TableName=table, Key=_key(k))["Item"]["balance"]["N"]
        for k in ("acct1", "acct2")
    }
    assert balances == {"acct1": "40", "acct2": "60"}


def test_transaction_cancellation_reasons_through_boto3(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**_key("a"), "v": {"N": "1"}})
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as info:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": _key("new")}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": _key("a"),
                        "ConditionExpression": "v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": _key("b"),
                        "UpdateExpression": "SET v = v + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    reasons = info.value.response["CancellationReasons"]
    assert reasons[0] == {"Code": "None"}
    assert reasons[1] == {
        "Code": "ConditionalCheckFailed",
        "Message": "The conditional request failed",
        "Item": {"pk": {"S": "a"}, "v": {"N": "1"}},
    }
    assert reasons[2]["Code"] == "ValidationError"
    assert "Item" not in ddb.get_item(TableName=table, Key=_key("new"))


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            lambda t: [
                {"Put": {"TableName": t, "Item": _key("x")}},
                {"Delete": {"TableName": t, "Key": _key("x")}},
            ],
            "Transaction request cannot include multiple operations on one item",
        ),
        (
            lambda t: [
                {
                    "Put": {"TableName": t, "Item": _key("x")},
                    "Delete": {"TableName": t, "Key": _key("y")},
                }
            ],
            "TransactItems can only contain one of Check, Put, Update or Delete",
        ),
        (
            lambda t: [{"Put": {"TableName": t, "Item": _key(str(i))}} for i in range(101)],
            "Member must have length less than or equal to 100",
        ),
    ],
)
def test_transact_write_validation(
    raw: RawClient, ddb: Any, table: str, items: Callable[[str], list[Any]], message: str
) -> None:
    response = raw.call("TransactWriteItems", {"TransactItems": items(table)})
    assert response.error_type == "ValidationException"
    assert message in response.message
    assert _count(ddb, table) == 0


def test_client_request_token_idempotency(raw: RawClient, ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**_key("c"), "n": {"N": "0"}})
    request = {
        "TransactItems": [
            {
                "Update": {
                    "TableName": table,
                    "Key": _key("c"),
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            }
        ],
        "ClientRequestToken": "token-1",
    }
    assert raw.call("TransactWriteItems", request).status == 200
    assert raw.call("TransactWriteItems", request).status == 200  # replay: not applied again
    assert ddb.get_item(TableName=table, Key=_key("c"))["Item"]["n"] == {"N": "1"}
    changed = dict(request, TransactItems=[{"Put": {"TableName": table, "Item": _key("other")}}])
    mismatch = raw.call("TransactWriteItems", changed)
    assert mismatch.error_type == "IdempotentParameterMismatchException"
    assert "Item" not in ddb.get_item(TableName=table, Key=_key("other"))


def test_concurrent_transfers_conserve_total(endpoint: str, table: str) -> None:
    client = make_client(endpoint)
    for k in ("a", "b", "c"):
        client.put_item(TableName=table, Item={**_key(k), "balance": {"N": "100"}})

    def move(n: int) -> bool:
        c = make_client(endpoint)
        src, dst = [("a", "b"), ("b", "c"), ("c", "a")][n % 3]
        try:
            c.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": _key(src),
                            "UpdateExpression": "SET balance = balance - :x",
                            "ConditionExpression": "balance >= :x",
                            "ExpressionAttributeValues": {":x": {"N": "30"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": table,
                            "Key": _key(dst),
                            "UpdateExpression": "SET balance = balance + :x",
                            "ExpressionAttributeValues": {":x": {"N": "30"}},
                        }
                    },
                ]
            )
        except c.exceptions.TransactionCanceledException:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(move, range(48)))
    assert any(outcomes)
    balances = [
        int(client.get_item(TableName=table, Key=_key(k))["Item"]["balance"]["N"])
        for k in ("a", "b", "c")
    ]
    assert sum(balances) == 300 and min(balances) >= 0


def test_transact_get_items(ddb: Any, raw: RawClient, table: str) -> None:
    ddb.put_item(TableName=table, Item={**_key("a"), "v": {"S": "1"}, "w": {"S": "2"}})
    response = raw.call(
        "TransactGetItems",
        {
            "TransactItems": [
                {"Get": {"TableName": table, "Key": _key("a"), "ProjectionExpression": "v"}},
                {"Get": {"TableName": table, "Key": _key("zz")}},
            ]
        },
    ).json
    assert response == {"Responses": [{"Item": {"v": {"S": "1"}}}, {}]}
    duplicate = raw.call(
        "TransactGetItems", {"TransactItems": [{"Get": {"TableName": table, "Key": _key("a")}}] * 2}
    )
    assert duplicate.message == "Transaction request cannot include multiple operations on one item"


def test_tags(ddb: Any, table: str) -> None:
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    ddb.tag_resource(
        ResourceArn=arn, Tags=[{"Key": f"k{i:02d}", "Value": str(i)} for i in range(15)]
    )
    ddb.untag_resource(ResourceArn=arn, TagKeys=["k00", "k01"])
    tags = [
        t
        for page in ddb.get_paginator("list_tags_of_resource").paginate(ResourceArn=arn)
        for t in page["Tags"]
    ]
    assert tags == [{"Key": f"k{i:02d}", "Value": str(i)} for i in range(2, 15)]
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.list_tags_of_resource(ResourceArn=arn.replace(table, "missing_table"))


def test_create_table_with_tags(ddb: Any, table_name: str) -> None:
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "team", "Value": "streams"}],
    )
    arn = ddb.describe_table(TableName=table_name)["Table"]["TableArn"]
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "streams"}
    ]


def test_account_level_operations(raw: RawClient, ddb: Any, table: str) -> None:
    assert raw.call("DescribeLimits", {}).json == {
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }
    assert raw.call("DescribeEndpoints", {}).json == {
        "Endpoints": [{"Address": "dynamodb.us-east-1.amazonaws.com", "CachePeriodInMinutes": 1440}]
    }
    backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    updated = ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    assert (
        updated["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
            "PointInTimeRecoveryStatus"
        ]
        == "ENABLED"
    )
    with pytest.raises(ddb.exceptions.TableNotFoundException):
        ddb.describe_continuous_backups(TableName="no_such_table")


def test_batch_get_more_than_100_across_tables(
    raw: RawClient, table: str, make_table: Callable[..., str]
) -> None:
    other = make_table(range_key=None)
    response = raw.call(
        "BatchGetItem",
        {
            "RequestItems": {
                name: {"Keys": [_key(f"k{i}") for i in range(51)]} for name in (table, other)
            }
        },
    )
    assert response.error_type == "ValidationException"
    assert response.message == "Too many items requested for the BatchGetItem call"
