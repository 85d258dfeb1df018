"""Table operations over the wire: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import RawClient


def _create_params(name: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    params.update(extra)
    return params


def test_create_table_describes_like_aws(raw: RawClient, table_name: str) -> None:
    created = raw.call("CreateTable", _create_params(table_name)).json["TableDescription"]
    assert created["TableStatus"] == "CREATING"
    described = raw.call("DescribeTable", {"TableName": table_name}).json["Table"]
    assert described["TableStatus"] == "ACTIVE"
    assert described["TableArn"] == f"arn:aws:dynamodb:us-east-1:000000000000:table/{table_name}"
    assert described["TableId"] == created["TableId"] and len(described["TableId"]) == 36
    assert isinstance(described["CreationDateTime"], float)
    assert described["CreationDateTime"] == created["CreationDateTime"]
    assert described["ItemCount"] == 0 and described["TableSizeBytes"] == 0
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["ProvisionedThroughput"] == {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": 0,
        "WriteCapacityUnits": 0,
    }
    assert described["KeySchema"] == _create_params(table_name)["KeySchema"]
    assert described["AttributeDefinitions"] == _create_params(table_name)["AttributeDefinitions"]
    assert described["DeletionProtectionEnabled"] is False


def test_boto3_waiter_and_table_arn_as_name(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table()
    ddb.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.01, "MaxAttempts": 2}
    )
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    assert ddb.describe_table(TableName=arn)["Table"]["TableName"] == name


def test_item_count_and_size_follow_writes(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table(range_key=None)
    for i in range(3):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "data": {"S": "abcde"}})
    ddb.delete_item(TableName=name, Key={"pk": {"S": "k0"}})
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["ItemCount"] == 2
    # pk(2)+"k1"(2) + data(4)+"abcde"(5) = 13 bytes per item
    assert table["TableSizeBytes"] == 26


def test_create_existing_table_is_resource_in_use(raw: RawClient, table_name: str) -> None:
    assert raw.call("CreateTable", _create_params(table_name)).status == 200
    response = raw.call("CreateTable", _create_params(table_name))
    assert response.error_type == "ResourceInUseException"
    assert response.message == f"Table already exists: {table_name}"


def test_provisioned_table(raw: RawClient, table_name: str) -> None:
    params = _create_params(
        table_name,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
    )
    table = raw.call("CreateTable", params).json["TableDescription"]
    assert table["ProvisionedThroughput"] == {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": 5,
        "WriteCapacityUnits": 7,
    }
    assert "BillingModeSummary" not in table


def test_list_tables_pages(ddb: Any, make_table: Callable[..., str]) -> None:
    prefix = "zzlist_"
    names = sorted(make_table(name=f"{prefix}{i:02d}") for i in range(7))
    seen: list[str] = []
    start: dict[str, str] = {"ExclusiveStartTableName": prefix}
    while True:
        page = ddb.list_tables(Limit=3, **start)
        seen.extend(n for n in page["TableNames"] if n.startswith(prefix))
        assert len(page["TableNames"]) <= 3
        if "LastEvaluatedTableName" not in page:
            break
        start = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}
    assert seen == names
    all_names = [
        n for page in ddb.get_paginator("list_tables").paginate() for n in page["TableNames"]
    ]
    assert all_names == sorted(all_names) and set(names) <= set(all_names)


def test_delete_table(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table()
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
    deleted = ddb.delete_table(TableName=name)["TableDescription"]
    assert deleted["TableStatus"] == "DELETING" and deleted["TableName"] == name
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.describe_table(TableName=name)
    with pytest.raises(ddb.exceptions.ResourceNotFoundException) as info:
        ddb.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
    assert info.value.response["Error"]["Message"] == "Requested resource not found"
    ddb.get_waiter("table_not_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.01, "MaxAttempts": 2}
    )
    # The same name can be created again and starts empty.
    ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
    assert ddb.scan(TableName=name)["Count"] == 0


def test_deletion_protection(ddb: Any, raw: RawClient, table_name: str) -> None:
    raw.call("CreateTable", _create_params(table_name, DeletionProtectionEnabled=True))
    response = raw.call("DeleteTable", {"TableName": table_name})
    assert response.error_type == "ValidationException"
    assert "protected against deletion" in response.message
    ddb.update_table(TableName=table_name, DeletionProtectionEnabled=False)
    ddb.delete_table(TableName=table_name)


def test_update_table_billing_and_throughput(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table()
    table = ddb.update_table(
        TableName=name,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
    )["TableDescription"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    assert "BillingModeSummary" not in table
    with pytest.raises(ddb.exceptions.ClientError) as info:
        ddb.update_table(
            TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}
        )
    assert info.value.response["Error"]["Message"].startswith(
        "The provisioned throughput for the table will not change."
    )
    table = ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")["TableDescription"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert (
        ddb.describe_table(TableName=name)["Table"]["BillingModeSummary"]["BillingMode"]
        == "PAY_PER_REQUEST"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"TableName": "ab"},
            "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy "
            "constraint: Member must have length greater than or equal to 3",
        ),
        (
            {"TableName": "bad name!"},
            "1 validation error detected: Value 'bad name!' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ),
        (
            {"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]},
            "Invalid KeySchema: Some index key attribute have no definition",
        ),
        (
            {
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "RANGE"},
                    {"AttributeName": "sk", "KeyType": "HASH"},
                ]
            },
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ),
        (
            {
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "N"},
                    {"AttributeName": "x", "AttributeType": "S"},
                ]
            },
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ),
        (
            {
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "SS"},
                    {"AttributeName": "sk", "AttributeType": "N"},
                ]
            },
            "1 validation error detected: Value 'SS' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
        ),
        (
            {"BillingMode": "PROVISIONED"},
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        ),
        (
            {"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}},
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        ),
        (
            {"KeySchema": []},
            "1 validation error detected: Value '[]' at 'keySchema' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
    ],
)
def test_create_table_validation(
    raw: RawClient, table_name: str, change: dict[str, Any], message: str
) -> None:
    response = raw.call("CreateTable", _create_params(table_name, **change))
    assert response.status == 400
    assert response.error_type == "ValidationException"
    assert response.message == message
    assert table_name not in raw.call("ListTables", {}).json["TableNames"]
