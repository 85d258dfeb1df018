"""Item operations over the wire: PutItem, GetItem, UpdateItem, DeleteItem."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import RawClient, make_client


@pytest.fixture
def table(make_table: Callable[..., str]) -> str:
    return make_table(range_key=None)


def test_put_get_round_trip_exact_json(raw: RawClient, table: str) -> None:
    item = {
        "pk": {"S": "k"},
        "n": {"N": "1.50"},
        "big": {"N": "1E+2"},
        "b": {"B": "AAEC"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.0"]},
        "l": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}]},
        "m": {"M": {"inner": {"M": {"deep": {"S": ""}}}}},
    }
    assert raw.call("PutItem", {"TableName": table, "Item": item}).json == {}
    got = raw.call("GetItem", {"TableName": table, "Key": {"pk": {"S": "k"}}})
    assert got.status == 200
    expected = dict(item, n={"N": "1.5"}, big={"N": "100"}, ns={"NS": ["1", "2"]})
    assert got.json == {"Item": expected}


def test_get_missing_item_is_empty_object(raw: RawClient, table: str) -> None:
    assert raw.call("GetItem", {"TableName": table, "Key": {"pk": {"S": "nope"}}}).json == {}


def test_get_item_projection(ddb: Any, table: str) -> None:
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": "p"},
            "a": {"M": {"b": {"L": [{"S": "0"}, {"S": "1"}]}, "c": {"S": "x"}}},
            "d": {"N": "4"},
        },
    )
    got = ddb.get_item(
        TableName=table,
        Key={"pk": {"S": "p"}},
        ProjectionExpression="a.b[1], #d",
        ExpressionAttributeNames={"#d": "d"},
    )
    assert got["Item"] == {"a": {"M": {"b": {"L": [{"S": "1"}]}}}, "d": {"N": "4"}}


def test_put_return_values_all_old(ddb: Any, table: str) -> None:
    first = ddb.put_item(
        TableName=table, Item={"pk": {"S": "r"}, "v": {"N": "1"}}, ReturnValues="ALL_OLD"
    )
    assert "Attributes" not in first
    second = ddb.put_item(
        TableName=table, Item={"pk": {"S": "r"}, "v": {"N": "2"}}, ReturnValues="ALL_OLD"
    )
    assert second["Attributes"] == {"pk": {"S": "r"}, "v": {"N": "1"}}


def test_condition_expression_on_put(ddb: Any, table: str) -> None:
    item = {"pk": {"S": "c"}, "v": {"N": "1"}}
    ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as info:
        ddb.put_item(
            TableName=table,
            Item={"pk": {"S": "c"}, "v": {"N": "2"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    assert info.value.response["Error"]["Message"] == "The conditional request failed"
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "c"}})["Item"] == item


def test_condition_failure_returns_old_item_when_asked(raw: RawClient, table: str) -> None:
    raw.call("PutItem", {"TableName": table, "Item": {"pk": {"S": "o"}, "v": {"N": "1"}}})
    response = raw.call(
        "PutItem",
        {
            "TableName": table,
            "Item": {"pk": {"S": "o"}},
            "ConditionExpression": "v = :two",
            "ExpressionAttributeValues": {":two": {"N": "2"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    )
    assert response.json == {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
        "Item": {"pk": {"S": "o"}, "v": {"N": "1"}},
    }


def test_delete_item(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "d"}, "v": {"S": "x"}})
    response = ddb.delete_item(TableName=table, Key={"pk": {"S": "d"}}, ReturnValues="ALL_OLD")
    assert response["Attributes"] == {"pk": {"S": "d"}, "v": {"S": "x"}}
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "d"}})
    again = ddb.delete_item(TableName=table, Key={"pk": {"S": "d"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in again
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.delete_item(
            TableName=table, Key={"pk": {"S": "d"}}, ConditionExpression="attribute_exists(pk)"
        )


def test_update_item_creates_and_modifies(ddb: Any, table: str) -> None:
    created = ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "u"}},
        UpdateExpression="SET #c = if_not_exists(#c, :zero) + :one, tags = list_append(if_not_exists(tags, :empty), :t) ADD visits :one, colors :red",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":empty": {"L": []},
            ":t": {"L": [{"S": "a"}]},
            ":red": {"SS": ["red"]},
        },
        ReturnValues="ALL_NEW",
    )["Attributes"]
    assert created == {
        "pk": {"S": "u"},
        "count": {"N": "1"},
        "tags": {"L": [{"S": "a"}]},
        "visits": {"N": "1"},
        "colors": {"SS": ["red"]},
    }
    updated = ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "u"}},
        UpdateExpression="SET #c = #c + :one REMOVE tags[0] DELETE colors :red",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":one": {"N": "1"}, ":red": {"SS": ["red"]}},
        ReturnValues="UPDATED_NEW",
    )["Attributes"]
    assert updated == {"count": {"N": "2"}}  # tags[0] no longer exists after the REMOVE
    old = ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "u"}},
        UpdateExpression="REMOVE visits",
        ReturnValues="UPDATED_OLD",
    )["Attributes"]
    assert old == {"visits": {"N": "1"}}
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "u"}})["Item"] == {
        "pk": {"S": "u"},
        "count": {"N": "2"},
        "tags": {"L": []},
    }


def test_update_without_expression_creates_key_only_item(ddb: Any, table: str) -> None:
    response = ddb.update_item(TableName=table, Key={"pk": {"S": "bare"}}, ReturnValues="ALL_NEW")
    assert response["Attributes"] == {"pk": {"S": "bare"}}
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "bare"}})["Item"] == {"pk": {"S": "bare"}}


def test_update_key_attribute_is_rejected(ddb: Any, table: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as info:
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": "k"}},
            UpdateExpression="SET pk = :v",
            ExpressionAttributeValues={":v": {"S": "x"}},
        )
    assert (
        info.value.response["Error"]["Message"]
        == "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"
    )
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "k"}})


def test_consumed_capacity(raw: RawClient, table: str) -> None:
    put = raw.call(
        "PutItem",
        {
            "TableName": table,
            "Item": {"pk": {"S": "cap"}, "blob": {"S": "x" * 3000}},
            "ReturnConsumedCapacity": "TOTAL",
        },
    )
    assert put.json["ConsumedCapacity"] == {
        "TableName": table,
        "CapacityUnits": 3.0,
        "WriteCapacityUnits": 3.0,
    }
    get = raw.call(
        "GetItem",
        {"TableName": table, "Key": {"pk": {"S": "cap"}}, "ReturnConsumedCapacity": "INDEXES"},
    )
    assert get.json["ConsumedCapacity"] == {
        "TableName": table,
        "CapacityUnits": 0.5,
        "ReadCapacityUnits": 0.5,
        "Table": {"CapacityUnits": 0.5, "ReadCapacityUnits": 0.5},
    }
    strong = raw.call(
        "GetItem",
        {
            "TableName": table,
            "Key": {"pk": {"S": "cap"}},
            "ConsistentRead": True,
            "ReturnConsumedCapacity": "TOTAL",
        },
    )
    assert strong.json["ConsumedCapacity"]["CapacityUnits"] == 1.0


def test_number_sort_key_and_binary_keys(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table(hash_key=("pk", "B"), range_key=("n", "N"))
    ddb.put_item(TableName=name, Item={"pk": {"B": b"\x00\x01"}, "n": {"N": "-1.5"}})
    got = ddb.get_item(TableName=name, Key={"pk": {"B": b"\x00\x01"}, "n": {"N": "-1.50"}})
    assert got["Item"] == {"pk": {"B": b"\x00\x01"}, "n": {"N": "-1.5"}}


def test_concurrent_clients_increment_same_counter_exactly(endpoint: str, table: str) -> None:
    def work(n: int) -> None:
        client = make_client(endpoint)
        for _ in range(25):
            client.update_item(
                TableName=table,
                Key={"pk": {"S": "counter"}},
                UpdateExpression="ADD hits :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    item = make_client(endpoint).get_item(TableName=table, Key={"pk": {"S": "counter"}})["Item"]
    assert item["hits"] == {"N": "200"}


def test_concurrent_conditional_creates_have_exactly_one_winner(endpoint: str, table: str) -> None:
    def attempt(n: int) -> bool:
        client = make_client(endpoint)
        try:
            client.put_item(
                TableName=table,
                Item={"pk": {"S": "lock"}, "owner": {"N": str(n)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(16)))
    assert results.count(True) == 1
    owner = make_client(endpoint).get_item(TableName=table, Key={"pk": {"S": "lock"}})["Item"][
        "owner"
    ]["N"]
    assert results[int(owner)] is True
