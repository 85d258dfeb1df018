"""Secondary indexes over the wire: definitions, maintenance, queries, backfill, errors."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.conftest import RawClient


def _table_params(name: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "gpk", "AttributeType": "S"},
            {"AttributeName": "gsk", "AttributeType": "N"},
            {"AttributeName": "lsk", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "gsi",
                "KeySchema": [
                    {"AttributeName": "gpk", "KeyType": "HASH"},
                    {"AttributeName": "gsk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]},
            },
            {
                "IndexName": "gsi_all",
                "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": "lsi",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "lsk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    params.update(extra)
    return params


@pytest.fixture
def indexed(raw: RawClient) -> str:
    name = f"idx_{uuid.uuid4().hex[:10]}"
    response = raw.call("CreateTable", _table_params(name))
    assert response.status == 200, response.body
    return name


def _put(ddb: Any, table: str, pk: str, sk: str, **attrs: Any) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": sk}}
    for key, value in attrs.items():
        item[key] = {"N": str(value)} if isinstance(value, (int, float)) else {"S": value}
    ddb.put_item(TableName=table, Item=item)


def _query(
    ddb: Any, table: str, index: str, expression: str, values: dict[str, Any], **kw: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = ddb.query(
            TableName=table,
            IndexName=index,
            KeyConditionExpression=expression,
            ExpressionAttributeValues=values,
            **kw,
            **kwargs,
        )
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def test_describe_table_reports_indexes_like_aws(raw: RawClient, indexed: str) -> None:
    table = raw.call("DescribeTable", {"TableName": indexed}).json["Table"]
    gsis = {g["IndexName"]: g for g in table["GlobalSecondaryIndexes"]}
    assert gsis["gsi"] == {
        "IndexName": "gsi",
        "KeySchema": [
            {"AttributeName": "gpk", "KeyType": "HASH"},
            {"AttributeName": "gsk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]},
        "IndexStatus": "ACTIVE",
        "ProvisionedThroughput": {
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": 0,
            "WriteCapacityUnits": 0,
        },
        "IndexSizeBytes": 0,
        "ItemCount": 0,
        "IndexArn": f"arn:aws:dynamodb:us-east-1:000000000000:table/{indexed}/index/gsi",
    }
    (lsi,) = table["LocalSecondaryIndexes"]
    assert lsi == {
        "IndexName": "lsi",
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "lsk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
        "IndexSizeBytes": 0,
        "ItemCount": 0,
        "IndexArn": f"arn:aws:dynamodb:us-east-1:000000000000:table/{indexed}/index/lsi",
    }


def test_gsi_query_projection_order_and_ties(ddb: Any, indexed: str) -> None:
    _put(ddb, indexed, "b", "2", gpk="g", gsk=5, note="n1", secret="x")
    _put(ddb, indexed, "a", "9", gpk="g", gsk=5, note="n2", secret="x")
    _put(ddb, indexed, "a", "1", gpk="g", gsk=5, secret="x")
    _put(ddb, indexed, "c", "1", gpk="g", gsk=-1)
    _put(ddb, indexed, "d", "1", gpk="g", gsk=10)
    _put(ddb, indexed, "e", "1", gpk="other", gsk=1)
    _put(ddb, indexed, "f", "1", gsk=1)  # no gpk: not in the sparse index
    items = _query(ddb, indexed, "gsi", "gpk = :g", {":g": {"S": "g"}}, Limit=2)
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in items] == [
        ("c", "1"),
        ("a", "1"),
        ("a", "9"),
        ("b", "2"),
        ("d", "1"),
    ]
    assert items[2] == {
        "pk": {"S": "a"},
        "sk": {"S": "9"},
        "gpk": {"S": "g"},
        "gsk": {"N": "5"},
        "note": {"S": "n2"},
    }
    backwards = _query(
        ddb,
        indexed,
        "gsi",
        "gpk = :g AND gsk BETWEEN :lo AND :hi",
        {":g": {"S": "g"}, ":lo": {"N": "0"}, ":hi": {"N": "5"}},
        ScanIndexForward=False,
        Limit=1,
    )
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in backwards] == [("b", "2"), ("a", "9"), ("a", "1")]
    everything = _query(ddb, indexed, "gsi_all", "gpk = :g", {":g": {"S": "g"}})
    assert {i["pk"]["S"] + i["sk"]["S"] for i in everything} == {"b2", "a9", "a1", "c1", "d1"}
    assert all("secret" in i for i in everything if i["pk"]["S"] in "ab")


def test_index_follows_updates_and_deletes(ddb: Any, indexed: str) -> None:
    _put(ddb, indexed, "p", "1", gpk="g1", gsk=1)
    ddb.update_item(
        TableName=indexed,
        Key={"pk": {"S": "p"}, "sk": {"S": "1"}},
        UpdateExpression="SET gpk = :g",
        ExpressionAttributeValues={":g": {"S": "g2"}},
    )
    assert _query(ddb, indexed, "gsi", "gpk = :g", {":g": {"S": "g1"}}) == []
    assert len(_query(ddb, indexed, "gsi", "gpk = :g", {":g": {"S": "g2"}})) == 1
    ddb.update_item(
        TableName=indexed, Key={"pk": {"S": "p"}, "sk": {"S": "1"}}, UpdateExpression="REMOVE gsk"
    )
    assert _query(ddb, indexed, "gsi", "gpk = :g", {":g": {"S": "g2"}}) == []
    assert len(_query(ddb, indexed, "gsi_all", "gpk = :g", {":g": {"S": "g2"}})) == 1
    ddb.delete_item(TableName=indexed, Key={"pk": {"S": "p"}, "sk": {"S": "1"}})
    assert _query(ddb, indexed, "gsi_all", "gpk = :g", {":g": {"S": "g2"}}) == []
    table = ddb.describe_table(TableName=indexed)["Table"]
    assert all(
        i["ItemCount"] == 0 and i["IndexSizeBytes"] == 0 for i in table["GlobalSecondaryIndexes"]
    )


def test_lsi_query_keys_only_and_fetch_all_attributes(ddb: Any, indexed: str) -> None:
    for sk, lsk in [("1", "c"), ("2", "a"), ("3", "b")]:
        _put(ddb, indexed, "p", sk, lsk=lsk, data="d" + sk)
    _put(ddb, indexed, "p", "4", data="no lsk")
    keys_only = _query(ddb, indexed, "lsi", "pk = :p", {":p": {"S": "p"}})
    assert keys_only == [
        {"pk": {"S": "p"}, "sk": {"S": "2"}, "lsk": {"S": "a"}},
        {"pk": {"S": "p"}, "sk": {"S": "3"}, "lsk": {"S": "b"}},
        {"pk": {"S": "p"}, "sk": {"S": "1"}, "lsk": {"S": "c"}},
    ]
    full = _query(
        ddb,
        indexed,
        "lsi",
        "pk = :p AND lsk > :a",
        {":p": {"S": "p"}, ":a": {"S": "a"}},
        Select="ALL_ATTRIBUTES",
    )
    assert [i["data"]["S"] for i in full] == ["d3", "d1"]
    projected = _query(
        ddb,
        indexed,
        "lsi",
        "pk = :p",
        {":p": {"S": "p"}},
        ProjectionExpression="#d",
        ExpressionAttributeNames={"#d": "data"},
    )
    assert projected == [{"data": {"S": "d2"}}, {"data": {"S": "d3"}}, {"data": {"S": "d1"}}]


def test_scan_index(ddb: Any, indexed: str) -> None:
    for i in range(12):
        _put(ddb, indexed, f"p{i}", "s", gpk=f"g{i % 3}", gsk=i)
    _put(ddb, indexed, "nogsi", "s")
    found: list[str] = []
    for page in ddb.get_paginator("scan").paginate(
        TableName=indexed, IndexName="gsi", PaginationConfig={"PageSize": 5}
    ):
        found.extend(i["pk"]["S"] for i in page["Items"])
    assert sorted(found) == sorted(f"p{i}" for i in range(12))
    assert ddb.scan(TableName=indexed, IndexName="gsi", Select="COUNT")["Count"] == 12


def test_index_key_type_mismatch_rejects_write(raw: RawClient, indexed: str) -> None:
    response = raw.call(
        "PutItem",
        {
            "TableName": indexed,
            "Item": {"pk": {"S": "p"}, "sk": {"S": "s"}, "gsk": {"S": "not a number"}},
        },
    )
    assert response.error_type == "ValidationException"
    assert (
        response.message
        == "One or more parameter values were invalid: Type mismatch for Index Key gsk Expected: N Actual: S IndexName: gsi"
    )
    empty = raw.call(
        "PutItem",
        {"TableName": indexed, "Item": {"pk": {"S": "p"}, "sk": {"S": "s"}, "gpk": {"S": ""}}},
    )
    assert empty.error_type == "ValidationException" and "IndexName: gsi" in empty.message
    update = raw.call(
        "UpdateItem",
        {
            "TableName": indexed,
            "Key": {"pk": {"S": "p"}, "sk": {"S": "s"}},
            "UpdateExpression": "SET lsk = :n",
            "ExpressionAttributeValues": {":n": {"N": "1"}},
        },
    )
    assert update.error_type == "ValidationException" and "IndexName: lsi" in update.message
    assert (
        raw.call(
            "GetItem", {"TableName": indexed, "Key": {"pk": {"S": "p"}, "sk": {"S": "s"}}}
        ).json
        == {}
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"ConsistentRead": True},
            "Consistent reads are not supported on global secondary indexes",
        ),
        (
            {"Select": "ALL_ATTRIBUTES"},
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index gsi because its projection type is not ALL",
        ),
        (
            {"ProjectionExpression": "secret"},
            "One or more parameter values were invalid: Global secondary index gsi does not project [secret]",
        ),
        ({"IndexName": "nope"}, "The table does not have the specified index: nope"),
        (
            {
                "FilterExpression": "gsk > :z",
                "ExpressionAttributeValues": {":g": {"S": "g"}, ":z": {"N": "0"}},
            },
            "Filter Expression can only contain non-primary key attributes: Primary key attribute: gsk",
        ),
    ],
)
def test_gsi_query_errors(
    raw: RawClient, indexed: str, params: dict[str, Any], message: str
) -> None:
    request = {
        "TableName": indexed,
        "IndexName": "gsi",
        "KeyConditionExpression": "gpk = :g",
        "ExpressionAttributeValues": {":g": {"S": "g"}},
    }
    request.update(params)
    response = raw.call("Query", request)
    assert response.status == 400
    assert response.error_type == "ValidationException"
    assert response.message == message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "LocalSecondaryIndexes": [
                    {
                        "IndexName": "lsx",
                        "KeySchema": [
                            {"AttributeName": "gpk", "KeyType": "HASH"},
                            {"AttributeName": "lsk", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ]
            },
            "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: lsx. index hash key: gpk, table hash key: pk",
        ),
        (
            {
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "gsx",
                        "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "INCLUDE"},
                    }
                ]
            },
            "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
        ),
        (
            {
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "gsx",
                        "KeySchema": [{"AttributeName": "undefined", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ]
            },
            "Invalid KeySchema: Some index key attribute have no definition",
        ),
        (
            {
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "dup",
                        "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    },
                    {
                        "IndexName": "dup",
                        "KeySchema": [{"AttributeName": "gsk", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    },
                ]
            },
            "One or more parameter values were invalid: Duplicate index name: dup",
        ),
        (
            {
                "LocalSecondaryIndexes": [
                    {
                        "IndexName": f"lsi{i}",
                        "KeySchema": [
                            {"AttributeName": "pk", "KeyType": "HASH"},
                            {"AttributeName": "lsk", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                    for i in range(6)
                ]
            },
            "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5",
        ),
        (
            {
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": f"gsi{i}",
                        "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                    for i in range(21)
                ]
            },
            "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20",
        ),
        (
            {
                "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            },
            "One or more parameter values were invalid: ProvisionedThroughput should not be null for index: gsi",
        ),
    ],
)
def test_create_table_index_errors(raw: RawClient, change: dict[str, Any], message: str) -> None:
    name = f"bad_{uuid.uuid4().hex[:8]}"
    response = raw.call("CreateTable", _table_params(name, **change))
    assert response.error_type == "ValidationException", response.body
    assert response.message == message
    assert name not in raw.call("ListTables", {}).json["TableNames"]


def test_update_table_adds_gsi_with_backfill_and_deletes_it(ddb: Any, indexed: str) -> None:
    for i in range(30):
        _put(ddb, indexed, f"p{i}", "s", color=["red", "blue"][i % 2], size=i)
    table = ddb.update_table(
        TableName=indexed,
        AttributeDefinitions=[
            {"AttributeName": "color", "AttributeType": "S"},
            {"AttributeName": "size", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by_color",
                    "KeySchema": [
                        {"AttributeName": "color", "KeyType": "HASH"},
                        {"AttributeName": "size", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )["TableDescription"]
    created = next(g for g in table["GlobalSecondaryIndexes"] if g["IndexName"] == "by_color")
    assert created["IndexStatus"] in ("CREATING", "ACTIVE")
    assert {"AttributeName": "color", "AttributeType": "S"} in table["AttributeDefinitions"]
    deadline = time.monotonic() + 20
    while True:  # bounded wait for the backfill, as a client polls DescribeTable
        status = next(
            g
            for g in ddb.describe_table(TableName=indexed)["Table"]["GlobalSecondaryIndexes"]
            if g["IndexName"] == "by_color"
        )
        if status["IndexStatus"] == "ACTIVE":
            break
        assert time.monotonic() < deadline, "backfill did not finish"
        time.sleep(0.02)
    assert "Backfilling" not in status and status["ItemCount"] == 30
    reds = _query(
        ddb,
        indexed,
        "by_color",
        "color = :c AND #size < :s",
        {":c": {"S": "red"}, ":s": {"N": "10"}},
        ExpressionAttributeNames={"#size": "size"},
    )
    assert [int(i["size"]["N"]) for i in reds] == [0, 2, 4, 6, 8]
    ddb.update_table(
        TableName=indexed, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_color"}}]
    )
    names = [
        g["IndexName"]
        for g in ddb.describe_table(TableName=indexed)["Table"]["GlobalSecondaryIndexes"]
    ]
    assert "by_color" not in names
    with pytest.raises(ddb.exceptions.ClientError) as info:
        ddb.query(
            TableName=indexed,
            IndexName="by_color",
            KeyConditionExpression="color = :c",
            ExpressionAttributeValues={":c": {"S": "red"}},
        )
    assert (
        info.value.response["Error"]["Message"]
        == "The table does not have the specified index: by_color"
    )


def test_indexes_survive_restart(tmp_path: Any) -> None:
    from dynoxide_streams import Server
    from tests.conftest import make_client

    with Server(data_dir=tmp_path / "db").run_in_thread() as srv:
        client = make_client(srv.endpoint)
        raw = RawClient(srv.endpoint)
        raw.call("CreateTable", _table_params("kept"))
        _put(client, "kept", "a", "1", gpk="g", gsk=1, note="x")
    with Server(data_dir=tmp_path / "db").run_in_thread() as srv:
        client = make_client(srv.endpoint)
        table = client.describe_table(TableName="kept")["Table"]
        assert {g["IndexName"]: g["ItemCount"] for g in table["GlobalSecondaryIndexes"]} == {
            "gsi": 1,
            "gsi_all": 1,
        }
        assert len(_query(client, "kept", "gsi", "gpk = :g", {":g": {"S": "g"}})) == 1
