"""Time to Live over the wire: UpdateTimeToLive/DescribeTimeToLive with AWS's errors and
messages, expiry on a virtual clock through ``POST /_admin/ttl/sweep`` (reads, indexes,
counters and the service REMOVE records of the stream) and the per-item expiry rules.

Every server here runs with ``clock="virtual"`` and ``ttl_period=0`` (no background
sweeps), so what expires and when is decided by the test alone. The helpers at the top
are shared by the other ``test_ttl_*.py`` files.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dynoxide_streams import Server
from dynoxide_streams.engine.values import item_size
from tests.conftest import RawClient, RawResponse, make_client
from tests.wire.test_streams import (
    admin,
    create_stream_table,
    derror,
    describe_shards,
    expected_size,
    read_stream,
    shard_iterator,
    unique_name,
)

TTL = "expiresAt"
SERVICE = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
ALREADY_ENABLED = "TimeToLive is already enabled"
ALREADY_DISABLED = "TimeToLive is already disabled"
COOLDOWN = "Time to live has been modified multiple times within a fixed interval"
YEAR = 365 * 86400
RECORD_MEMBERS = {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb"}


def different(current: str) -> str:
    return f"TimeToLive is active on a different AttributeName: current AttributeName is {current}"


# ------------------------------------------------------------------- shared helpers


@dataclass
class Env:
    """A virtual-clock server without background sweeps, and clients on it."""

    srv: Server
    raw: RawClient
    ddb: Any
    streams: Any

    @property
    def now(self) -> float:
        return float(self.srv.clock.now())

    def sweep(self) -> int:
        """``POST /_admin/ttl/sweep``; the number of items it expired."""
        result = admin(self.raw, "/_admin/ttl/sweep", {})
        assert set(result) == {"expired"} and isinstance(result["expired"], int), result
        return int(result["expired"])

    def advance(self, seconds: float) -> float:
        return float(admin(self.raw, "/_admin/clock", {"advance_seconds": seconds})["now"])

    def set_clock(self, epoch_seconds: float) -> float:
        moved = admin(self.raw, "/_admin/clock", {"set_epoch_seconds": epoch_seconds})
        assert moved["now"] == epoch_seconds
        return float(moved["now"])

    def update_ttl(self, table: str, enabled: bool, name: str = TTL) -> None:
        spec = {"Enabled": enabled, "AttributeName": name}
        response = self.raw.call(
            "UpdateTimeToLive", {"TableName": table, "TimeToLiveSpecification": spec}
        )
        assert response.status == 200, response.body
        assert response.json == {"TimeToLiveSpecification": spec}

    def enable(self, table: str, name: str = TTL) -> None:
        self.update_ttl(table, True, name)

    def disable(self, table: str, name: str = TTL) -> None:
        self.update_ttl(table, False, name)

    def describe_ttl(self, table: str) -> dict[str, Any]:
        response = self.raw.call("DescribeTimeToLive", {"TableName": table})
        assert response.status == 200, response.body
        assert set(response.json) == {"TimeToLiveDescription"}
        description: dict[str, Any] = response.json["TimeToLiveDescription"]
        return description

    def table(self, name: str) -> dict[str, Any]:
        description: dict[str, Any] = self.raw.call("DescribeTable", {"TableName": name}).json[
            "Table"
        ]
        return description

    def scan_keys(self, table: str, key: str = "pk", **params: Any) -> list[str]:
        """The ``key`` values of every item (all pages), sorted."""
        found: list[str] = []
        start: dict[str, Any] = {}
        while True:
            page = self.ddb.scan(TableName=table, **params, **start)
            found.extend(next(iter(item[key].values())) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return sorted(found)
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


@contextmanager
def virtual_env(**settings: Any) -> Iterator[Env]:
    """A server on a virtual clock set to a whole second, with ``ttl_period=0``."""
    settings.setdefault("ttl_period", 0)
    with Server(clock="virtual", **settings).run_in_thread() as srv:
        env = Env(
            srv,
            RawClient(srv.endpoint),
            make_client(srv.endpoint),
            make_client(srv.endpoint, "dynamodbstreams"),
        )
        env.set_clock(math.ceil(srv.clock.now()) + 1)
        yield env


@pytest.fixture
def env() -> Iterator[Env]:
    with virtual_env() as e:
        yield e


def ttl_table(
    env: Env,
    view_type: str | None = "NEW_AND_OLD_IMAGES",
    *,
    range_key: tuple[str, str] | None = None,
    enable: str | None = TTL,
) -> tuple[str, str | None]:
    """A table (hash ``pk`` S) with a stream and TTL on ``enable``; (name, stream ARN)."""
    table, arn = create_stream_table(env.ddb, view_type, range_key=range_key)
    if enable is not None:
        env.enable(table, enable)
    return table, arn


def n(value: float | int | str) -> dict[str, str]:
    return {"N": str(value)}


def put(env: Env, table: str, key: str, **attributes: Any) -> dict[str, Any]:
    """PutItem ``{"pk": key, **attributes}`` (values given as AttributeValues); the item."""
    item = {"pk": {"S": key}, **attributes}
    env.ddb.put_item(TableName=table, Item=item)
    return item


def batch_put(ddb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        chunk = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        response = ddb.batch_write_item(RequestItems={table: chunk})
        assert not response.get("UnprocessedItems"), response


def get(env: Env, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    response = env.ddb.get_item(TableName=table, Key=key, ConsistentRead=True)
    item: dict[str, Any] | None = response.get("Item")
    return item


def pk_of(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["pk"]["S"])


def removes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["eventName"] == "REMOVE"]


def service_removes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in removes(records) if "userIdentity" in r]


def check_service_remove(
    record: dict[str, Any],
    view_type: str,
    old_item: dict[str, Any] | None,
    when: float | None = None,
) -> None:
    """A TTL delete's record, exactly: REMOVE, the service identity, Keys, OldImage per
    view type and never a NewImage."""
    assert set(record) == {*RECORD_MEMBERS, "userIdentity"}, record
    assert record["userIdentity"] == SERVICE
    assert record["eventName"] == "REMOVE"
    assert record["eventSource"] == "aws:dynamodb" and record["eventVersion"] == "1.1"
    body = record["dynamodb"]
    members = {"ApproximateCreationDateTime", "Keys", "SequenceNumber", "SizeBytes"}
    members.add("StreamViewType")
    if view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        members.add("OldImage")
        if old_item is not None:
            assert body["OldImage"] == old_item
    assert set(body) == members, (view_type, sorted(body))
    assert body["StreamViewType"] == view_type
    assert body["SizeBytes"] == expected_size(body)
    if when is not None:
        assert body["ApproximateCreationDateTime"] == math.floor(when)


def error(response: RawResponse, name: str, message: str | None) -> None:
    assert response.status == 400, response.body
    assert response.error_type == name, response.body
    if message is not None:
        assert response.message == message, response.body


def update_ttl_error(
    raw: RawClient, params: Any, name: str = "ValidationException", message: str | None = None
) -> RawResponse:
    response = raw.call("UpdateTimeToLive", params)
    error(response, name, message)
    return response


def spec(table: str, enabled: Any, name: Any = TTL) -> dict[str, Any]:
    return {
        "TableName": table,
        "TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": name},
    }


# ------------------------------------------------- 1. UpdateTimeToLive / DescribeTimeToLive


def test_never_configured_is_disabled_without_attribute_name(env: Env) -> None:
    table, _ = ttl_table(env, None, enable=None)
    response = env.raw.call("DescribeTimeToLive", {"TableName": table})
    assert response.status == 200
    assert response.json == {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
    assert env.ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"
    }


def test_enable_and_disable_echo_the_specification(env: Env) -> None:
    table, _ = ttl_table(env, None, enable=None)
    response = env.ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL}
    )
    assert response["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": TTL}
    enabled = {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL}
    assert env.describe_ttl(table) == enabled
    assert env.ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == enabled
    # TTL state is not part of DescribeTable
    assert not any("TimeToLive" in member for member in env.table(table))
    raw = env.raw.call("UpdateTimeToLive", spec(table, False))
    assert raw.status == 200 and raw.json == {
        "TimeToLiveSpecification": {"Enabled": False, "AttributeName": TTL}
    }
    assert env.describe_ttl(table)["TimeToLiveStatus"] == "DISABLED"
    # without --strict-ttl-limits changes may follow each other at once
    env.enable(table, "other")
    assert env.describe_ttl(table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "other"}


def test_table_arn_is_accepted(env: Env) -> None:
    table, _ = ttl_table(env, None, enable=None)
    arn = env.table(table)["TableArn"]
    env.enable(arn)
    assert env.describe_ttl(arn) == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL}
    assert env.describe_ttl(table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL}


def test_already_enabled_and_already_disabled(env: Env) -> None:
    table, _ = ttl_table(env, None, enable=None)
    update_ttl_error(env.raw, spec(table, False), message=ALREADY_DISABLED)
    env.enable(table)
    response = update_ttl_error(env.raw, spec(table, True), message=ALREADY_ENABLED)
    assert response.json["__type"] == "com.amazon.coral.validate#ValidationException"
    with pytest.raises(ClientError) as caught:
        env.ddb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL}
        )
    assert caught.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": ALREADY_ENABLED,
    }
    env.disable(table)
    update_ttl_error(env.raw, spec(table, False), message=ALREADY_DISABLED)
    # a refused call changes nothing
    assert env.describe_ttl(table)["TimeToLiveStatus"] == "DISABLED"


def test_a_different_attribute_name_is_refused(env: Env) -> None:
    table, _ = ttl_table(env, None, enable=None)
    env.enable(table, "ttl_a")
    update_ttl_error(env.raw, spec(table, True, "ttl_b"), message=different("ttl_a"))
    update_ttl_error(env.raw, spec(table, False, "ttl_b"), message=different("ttl_a"))
    assert env.describe_ttl(table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl_a"}


def test_attribute_name_length(env: Env) -> None:
    table, _ = ttl_table(env, None, enable=None)
    path = "timeToLiveSpecification.attributeName"
    update_ttl_error(
        env.raw,
        spec(table, True, ""),
        message=f"1 validation error detected: Value '' at '{path}' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1",
    )
    long_name = "a" * 256
    update_ttl_error(
        env.raw,
        spec(table, True, long_name),
        message=f"1 validation error detected: Value '{long_name}' at '{path}' failed to "
        "satisfy constraint: Member must have length less than or equal to 255",
    )
    assert env.describe_ttl(table) == {"TimeToLiveStatus": "DISABLED"}
    env.enable(table, "a" * 255)
    assert env.describe_ttl(table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "a" * 255}


def test_missing_members_and_wrong_types(env: Env) -> None:
    table, _ = ttl_table(env, None, enable=None)
    null = "failed to satisfy constraint: Member must not be null"
    update_ttl_error(
        env.raw,
        {"TableName": table},
        message=f"1 validation error detected: Value null at 'timeToLiveSpecification' {null}",
    )
    update_ttl_error(
        env.raw,
        {"TableName": table, "TimeToLiveSpecification": {}},
        message="2 validation errors detected: "
        f"Value null at 'timeToLiveSpecification.enabled' {null}; "
        f"Value null at 'timeToLiveSpecification.attributeName' {null}",
    )
    update_ttl_error(
        env.raw,
        {"TableName": table, "TimeToLiveSpecification": {"Enabled": True}},
        message="1 validation error detected: "
        f"Value null at 'timeToLiveSpecification.attributeName' {null}",
    )
    update_ttl_error(
        env.raw,
        {"TableName": table, "TimeToLiveSpecification": {"AttributeName": TTL}},
        message=f"1 validation error detected: Value null at 'timeToLiveSpecification.enabled' {null}",
    )
    update_ttl_error(
        env.raw,
        {"TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL}},
        message=f"1 validation error detected: Value null at 'tableName' {null}",
    )
    derror(
        env.raw,
        "DescribeTimeToLive",
        {},
        "ValidationException",
        # AWS's own sentence (aws-sdk-java#977; spec errors.md §4)
        "The parameter 'TableName' is required but was not present in the request",
    )
    # "true" would read as true, as AWS reads boolean words (scylladb#9432)
    update_ttl_error(env.raw, spec(table, "enabled"), "SerializationException")
    update_ttl_error(env.raw, spec(table, True, 5), "SerializationException")
    assert env.describe_ttl(table) == {"TimeToLiveStatus": "DISABLED"}


def test_unknown_table(env: Env) -> None:
    message = "Requested resource not found: Table: no_such_table not found"
    derror(
        env.raw,
        "DescribeTimeToLive",
        {"TableName": "no_such_table"},
        "ResourceNotFoundException",
        message,
    )
    update_ttl_error(env.raw, spec("no_such_table", True), "ResourceNotFoundException", message)
    with pytest.raises(env.ddb.exceptions.ResourceNotFoundException):
        env.ddb.describe_time_to_live(TableName="no_such_table")


def test_recreated_table_starts_with_ttl_disabled(env: Env) -> None:
    table, _ = ttl_table(env, None)
    put(env, table, "old", **{TTL: n(int(env.now) - 10)})
    env.ddb.delete_table(TableName=table)
    create_stream_table(env.ddb, None, range_key=None, name=table)
    assert env.describe_ttl(table) == {"TimeToLiveStatus": "DISABLED"}
    put(env, table, "new", **{TTL: n(int(env.now) - 10)})
    assert env.sweep() == 0
    assert env.scan_keys(table) == ["new"]


def test_strict_limits_refuse_a_second_change_within_an_hour() -> None:
    with virtual_env(strict_ttl_limits=True) as env:
        table, _ = ttl_table(env, None, enable=None)
        env.enable(table)
        update_ttl_error(env.raw, spec(table, False), message=COOLDOWN)
        env.advance(3599)
        update_ttl_error(env.raw, spec(table, False), message=COOLDOWN)
        assert env.describe_ttl(table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL}
        env.advance(1)  # a full hour after the change
        env.disable(table)
        assert env.describe_ttl(table)["TimeToLiveStatus"] == "DISABLED"
        update_ttl_error(env.raw, spec(table, True), message=COOLDOWN)
        with pytest.raises(ClientError) as caught:
            env.ddb.update_time_to_live(
                TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL}
            )
        assert caught.value.response["Error"]["Message"] == COOLDOWN
        env.advance(3600)
        env.enable(table, "other")
        assert env.describe_ttl(table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "other"}
        # the limit is per table: another table may change at once
        second, _ = ttl_table(env, None, enable=None)
        env.enable(second)


# ------------------------------------------------------- 2. expiry on a virtual clock


def _index_table(env: Env) -> tuple[str, str]:
    name = unique_name("ttl")
    description = env.ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "l", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by_l",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "l", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    env.enable(name)
    return name, str(description["LatestStreamArn"])


def _counts(env: Env, table: str) -> dict[str, int]:
    description = env.table(table)
    counts = {"table": description["ItemCount"]}
    for index in description["GlobalSecondaryIndexes"] + description["LocalSecondaryIndexes"]:
        counts[index["IndexName"]] = index["ItemCount"]
    return counts


def _query_count(env: Env, table: str, **params: Any) -> int:
    total, start = 0, {}
    while True:
        page = env.ddb.query(TableName=table, Select="COUNT", **params, **start)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def _visible(env: Env, table: str) -> dict[str, int]:
    """How many items each read path returns."""
    return {
        "scan": len(env.scan_keys(table)),
        "query": sum(
            _query_count(
                env,
                table,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": f"p{p}"}},
            )
            for p in range(3)
        ),
        "by_g": _query_count(
            env,
            table,
            IndexName="by_g",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "G"}},
        ),
        "by_l": sum(
            _query_count(
                env,
                table,
                IndexName="by_l",
                KeyConditionExpression="pk = :p AND l >= :zero",
                ExpressionAttributeValues={":p": {"S": f"p{p}"}, ":zero": n(0)},
            )
            for p in range(3)
        ),
    }


def test_sweep_expires_due_items_everywhere_and_reads_see_them_until_then(env: Env) -> None:
    table, arn = _index_table(env)
    t0 = int(env.now)
    items = []
    for i in range(18):
        item = {"pk": {"S": f"p{i % 3}"}, "sk": n(i), "g": {"S": "G"}, "l": n(100 + i)}
        item["payload"] = {"S": "x" * (10 * i)}
        if i < 10:
            item[TTL] = n(t0 + 3600)
        elif i < 15:
            item[TTL] = n(t0 + 7200)
        items.append(item)
    batch_put(env.ddb, table, items)

    def key(i: int) -> dict[str, Any]:
        return {"pk": items[i]["pk"], "sk": items[i]["sk"]}

    assert env.sweep() == 0  # nothing due yet
    assert env.advance(3600) == t0 + 3600
    everything = {"table": 18, "by_g": 18, "by_l": 18}
    # expired but not yet swept: every read still returns the items
    assert _counts(env, table) == everything
    assert _visible(env, table) == {"scan": 18, "query": 18, "by_g": 18, "by_l": 18}
    assert get(env, table, key(0)) == items[0]
    batch = env.ddb.batch_get_item(RequestItems={table: {"Keys": [key(i) for i in range(10)]}})
    assert len(batch["Responses"][table]) == 10
    transact = env.ddb.transact_get_items(
        TransactItems=[{"Get": {"TableName": table, "Key": key(i)}} for i in (0, 9, 10)]
    )
    assert [r["Item"] for r in transact["Responses"]] == [items[0], items[9], items[10]]
    size_before = env.table(table)["TableSizeBytes"]
    assert size_before == sum(item_size(item) for item in items)

    assert env.sweep() == 10
    assert env.sweep() == 0
    assert _counts(env, table) == {"table": 8, "by_g": 8, "by_l": 8}
    assert _visible(env, table) == {"scan": 8, "query": 8, "by_g": 8, "by_l": 8}
    assert env.table(table)["TableSizeBytes"] == sum(item_size(item) for item in items[10:])
    for i in range(18):
        assert get(env, table, key(i)) == (None if i < 10 else items[i])
    batch = env.ddb.batch_get_item(RequestItems={table: {"Keys": [key(i) for i in range(12)]}})
    assert sorted(int(i["sk"]["N"]) for i in batch["Responses"][table]) == [10, 11]
    transact = env.ddb.transact_get_items(
        TransactItems=[{"Get": {"TableName": table, "Key": key(i)}} for i in (0, 9, 10)]
    )
    assert [r.get("Item") for r in transact["Responses"]] == [None, None, items[10]]

    records = read_stream(env.raw, arn)
    assert [r["eventName"] for r in records] == ["INSERT"] * 18 + ["REMOVE"] * 10
    assert all("userIdentity" not in r for r in records[:18])
    by_sk = {int(r["dynamodb"]["Keys"]["sk"]["N"]): r for r in records[18:]}
    assert sorted(by_sk) == list(range(10))
    for i, record in by_sk.items():
        check_service_remove(record, "NEW_AND_OLD_IMAGES", items[i], when=t0 + 3600)
        assert record["dynamodb"]["Keys"] == key(i)

    # the second wave; items without the attribute stay for ever
    env.advance(3599)
    assert env.sweep() == 0
    env.advance(1)
    assert env.sweep() == 5
    records = read_stream(env.raw, arn)
    assert len(records) == 33 and len(service_removes(records)) == 15
    env.advance(10 * YEAR)
    assert env.sweep() == 0
    assert _counts(env, table) == {"table": 3, "by_g": 3, "by_l": 3}
    assert _visible(env, table) == {"scan": 3, "query": 3, "by_g": 3, "by_l": 3}


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_service_remove_record_per_view_type(env: Env, view_type: str) -> None:
    table, arn = ttl_table(env, view_type)
    assert arn is not None
    t0 = int(env.now)
    expiring = put(env, table, "expiring", **{TTL: n(t0 + 60)}, note={"S": "bye"})
    put(env, table, "user_deleted", **{TTL: n(t0 + 3600)})
    env.ddb.delete_item(TableName=table, Key={"pk": {"S": "user_deleted"}})
    env.advance(60)
    assert env.sweep() == 1
    records = read_stream(env.raw, arn)
    assert [(r["eventName"], pk_of(r)) for r in records] == [
        ("INSERT", "expiring"),
        ("INSERT", "user_deleted"),
        ("REMOVE", "user_deleted"),
        ("REMOVE", "expiring"),
    ]
    user_remove, ttl_remove = records[2], records[3]
    assert set(user_remove) == RECORD_MEMBERS  # a user's delete has no userIdentity
    check_service_remove(ttl_remove, view_type, expiring, when=t0 + 60)
    assert ttl_remove["dynamodb"]["Keys"] == {"pk": {"S": "expiring"}}
    assert ttl_remove["dynamodb"]["SequenceNumber"] > user_remove["dynamodb"]["SequenceNumber"]

    # boto3 parses the identity (the Streams API model's PascalCase members)
    shard_id = describe_shards(env.raw, arn)[0]["ShardId"]
    parsed = env.streams.get_records(ShardIterator=shard_iterator(env.raw, arn, shard_id))
    assert "userIdentity" not in parsed["Records"][2]
    assert parsed["Records"][3]["userIdentity"] == SERVICE
    assert parsed["Records"][3]["eventName"] == "REMOVE"
    assert "NewImage" not in parsed["Records"][3]["dynamodb"]


def test_user_delete_before_the_sweep_leaves_no_service_record(env: Env) -> None:
    table, arn = ttl_table(env)
    assert arn is not None
    t0 = int(env.now)
    for key in ("a", "b", "c"):
        put(env, table, key, **{TTL: n(t0 - 5)})
    old = env.ddb.delete_item(TableName=table, Key={"pk": {"S": "a"}}, ReturnValues="ALL_OLD")
    assert old["Attributes"][TTL] == n(t0 - 5)
    # a conditional delete that fails leaves the item to the sweeper
    with pytest.raises(env.ddb.exceptions.ConditionalCheckFailedException):
        env.ddb.delete_item(
            TableName=table, Key={"pk": {"S": "b"}}, ConditionExpression="attribute_not_exists(pk)"
        )
    assert env.sweep() == 2
    assert env.scan_keys(table) == []
    records = removes(read_stream(env.raw, arn))
    assert (pk_of(records[0]), "userIdentity" in records[0]) == ("a", False)
    assert sorted((pk_of(r), r.get("userIdentity")) for r in records[1:]) == [
        ("b", SERVICE),
        ("c", SERVICE),
    ]


def test_item_count_and_reads_after_sweep_through_the_embedded_hook(env: Env) -> None:
    table, _ = ttl_table(env, None)
    t0 = int(env.now)
    batch_put(env.ddb, table, [{"pk": {"S": f"k{i}"}, TTL: n(t0 + i)} for i in range(1, 21)])
    env.srv.clock.advance(10)
    assert env.srv.sweep_ttl_sync() == 10
    assert env.table(table)["ItemCount"] == 10
    assert env.scan_keys(table) == sorted(f"k{i}" for i in range(11, 21))


# -------------------------------------------------------------------- 3. expiry rules


def test_expiry_is_inclusive_of_now(env: Env) -> None:
    table, _ = ttl_table(env, None)
    t = int(env.now) + 100
    for key, value in (("before", t - 1), ("at", t), ("after", t + 1)):
        put(env, table, key, **{TTL: n(value)})
    env.set_clock(t - 1)
    assert env.sweep() == 1
    assert env.scan_keys(table) == ["after", "at"]
    env.set_clock(t)
    assert env.sweep() == 1
    assert env.scan_keys(table) == ["after"]
    env.set_clock(t + 1)
    assert env.sweep() == 1
    assert env.scan_keys(table) == []


def test_decimal_ttl_values_compare_numerically(env: Env) -> None:
    table, _ = ttl_table(env, None)
    t = int(env.now) + 100
    values = {"quarter": f"{t}.25", "half": f"{t}.5", "later": f"{t}.75", "next": f"{t + 1}.5"}
    for key, value in values.items():
        put(env, table, key, **{TTL: {"N": value}})
    put(env, table, "exponent", **{TTL: {"N": f"{t * 10 + 4}E-1"}})  # t + 0.4
    env.set_clock(t)
    assert env.sweep() == 0
    env.set_clock(t + 0.4999)
    assert env.sweep() == 2  # t + 0.25 and t + 0.4
    assert env.scan_keys(table) == ["half", "later", "next"]
    env.set_clock(t + 0.5)
    assert env.sweep() == 1
    env.set_clock(t + 1.25)
    assert env.sweep() == 1
    assert env.scan_keys(table) == ["next"]
    env.set_clock(t + 1.5)
    assert env.sweep() == 1


def test_only_top_level_numbers_expire(env: Env) -> None:
    table, _ = ttl_table(env, None)
    past = str(int(env.now) - 60)
    put(env, table, "number", **{TTL: n(past)})
    put(env, table, "string", **{TTL: {"S": past}})
    put(env, table, "number_set", **{TTL: {"NS": [past]}})
    put(env, table, "string_set", **{TTL: {"SS": [past]}})
    put(env, table, "list", **{TTL: {"L": [n(past)]}})
    put(env, table, "map", **{TTL: {"M": {TTL: n(past)}}})
    put(env, table, "nested", meta={"M": {TTL: n(past)}})
    put(env, table, "bool", **{TTL: {"BOOL": True}})
    put(env, table, "null", **{TTL: {"NULL": True}})
    put(env, table, "binary", **{TTL: {"B": b"\x01"}})
    put(env, table, "missing", other=n(past))
    put(env, table, "other_case", **{TTL.lower(): n(past)})
    assert env.sweep() == 1
    env.advance(YEAR)
    assert env.sweep() == 0
    assert len(env.scan_keys(table)) == 11 and "number" not in env.scan_keys(table)


def test_values_more_than_five_years_old_never_expire(env: Env) -> None:
    table, _ = ttl_table(env, None)
    now = int(env.now)
    put(env, table, "four_years", **{TTL: n(now - 4 * YEAR)})
    put(env, table, "six_years", **{TTL: n(now - 6 * YEAR)})
    put(env, table, "ten_years", **{TTL: n(now - 10 * YEAR)})
    put(env, table, "zero", **{TTL: n(0)})
    put(env, table, "one", **{TTL: n(1)})
    put(env, table, "negative", **{TTL: n(-5)})
    assert env.sweep() == 1
    assert env.scan_keys(table) == ["negative", "one", "six_years", "ten_years", "zero"]
    # an item expires only while its value is inside the window: one that fell out of it
    # before any sweep ran stays for ever
    put(env, table, "missed", **{TTL: n(now + 60)})
    env.advance(6 * YEAR)
    assert env.sweep() == 0
    assert "missed" in env.scan_keys(table)


def test_epoch_milliseconds_and_microseconds_never_expire(env: Env) -> None:
    table, _ = ttl_table(env, None)
    now = int(env.now)
    put(env, table, "millis", **{TTL: n((now - 60) * 1000)})
    put(env, table, "micros", **{TTL: n((now - 60) * 1_000_000)})
    put(env, table, "seconds", **{TTL: n(now - 60)})
    assert env.sweep() == 1
    env.advance(50 * YEAR)
    assert env.sweep() == 0
    assert env.scan_keys(table) == ["micros", "millis"]


def test_disabling_ttl_stops_expiry_and_reenabling_resumes_it(env: Env) -> None:
    table, arn = ttl_table(env)
    now = int(env.now)
    for i in range(5):
        put(env, table, f"k{i}", **{TTL: n(now + 10)})
    env.disable(table)
    env.advance(60)
    assert env.sweep() == 0
    put(env, table, "while_disabled", **{TTL: n(now - 10)})
    assert env.sweep() == 0
    assert len(env.scan_keys(table)) == 6
    env.enable(table)
    assert env.sweep() == 6  # re-enabling indexes what is there (a sweep waits for it)
    assert env.scan_keys(table) == []
    assert len(service_removes(read_stream(env.raw, arn))) == 6


def test_enabling_indexes_existing_items(env: Env) -> None:
    table, _ = ttl_table(env, None, enable=None)
    now = int(env.now)
    expired = [{"pk": {"S": f"e{i:05d}"}, TTL: n(now - 1 - i % 100)} for i in range(4500)]
    living = [{"pk": {"S": f"l{i:05d}"}, TTL: n(now + 100)} for i in range(50)]
    plain = [{"pk": {"S": f"p{i:05d}"}} for i in range(50)]
    batch_put(env.ddb, table, expired + living + plain)
    assert env.sweep() == 0  # TTL is off
    env.enable(table)
    assert env.sweep() == 4500  # more than one backfill chunk, all found at once
    assert env.table(table)["ItemCount"] == 100
    env.advance(100)
    assert env.sweep() == 50
    assert env.scan_keys(table) == sorted(item["pk"]["S"] for item in plain)


def test_changing_the_ttl_attribute_reindexes(env: Env) -> None:
    table, _ = ttl_table(env, None, enable="ttl_a")
    now = int(env.now)
    put(env, table, "a_only", ttl_a=n(now - 10))
    put(env, table, "b_only", ttl_b=n(now - 10))
    put(env, table, "both", ttl_a=n(now + 1000), ttl_b=n(now - 10))
    put(env, table, "b_future", ttl_a=n(now - 10), ttl_b=n(now + 1000))
    env.disable(table, "ttl_a")
    env.enable(table, "ttl_b")
    assert env.describe_ttl(table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl_b"}
    assert env.sweep() == 2
    assert env.scan_keys(table) == ["a_only", "b_future"]
    # writes after the switch are indexed by the new attribute only
    put(env, table, "new_a", ttl_a=n(now - 10))
    put(env, table, "new_b", ttl_b=n(now - 10))
    assert env.sweep() == 1
    assert env.scan_keys(table) == ["a_only", "b_future", "new_a"]
    env.advance(1000)
    assert env.sweep() == 1
    assert env.scan_keys(table) == ["a_only", "new_a"]


def test_writes_move_an_items_expiry(env: Env) -> None:
    table, _ = ttl_table(env, None)
    now = int(env.now)
    for key in ("extend", "remove", "to_string", "shorten", "replace", "batch", "transact"):
        put(env, table, key, **{TTL: n(now + 100)}, keep={"S": key})

    def update(key: str, expression: str, **values: Any) -> None:
        env.ddb.update_item(
            TableName=table,
            Key={"pk": {"S": key}},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#t": TTL},
            **({"ExpressionAttributeValues": values} if values else {}),
        )

    update("extend", "SET #t = #t + :d", **{":d": n(1000)})
    update("remove", "REMOVE #t")
    update("to_string", "SET #t = :s", **{":s": {"S": str(now)}})
    update("shorten", "SET #t = :v", **{":v": n(now - 1)})
    put(env, table, "replace", **{TTL: n(now + 5000)})
    batch_put(env.ddb, table, [{"pk": {"S": "batch"}, TTL: n(now)}])
    env.ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "transact"}},
                    "UpdateExpression": "SET #t = :v",
                    "ExpressionAttributeNames": {"#t": TTL},
                    "ExpressionAttributeValues": {":v": n(now - 3)},
                }
            }
        ]
    )
    assert env.sweep() == 3
    assert env.scan_keys(table) == ["extend", "remove", "replace", "to_string"]
    env.advance(100)
    assert env.sweep() == 0
    env.advance(999)
    assert env.sweep() == 0
    env.advance(1)
    assert env.sweep() == 1  # extend, at now + 1100
    env.advance(3900)
    assert env.sweep() == 1  # replace, at now + 5000
    assert env.scan_keys(table) == ["remove", "to_string"]
    assert get(env, table, {"pk": {"S": "remove"}}) == {
        "pk": {"S": "remove"},
        "keep": {"S": "remove"},
    }


def test_sweep_spans_tables_and_batches(env: Env) -> None:
    now = int(env.now)
    first, arn = ttl_table(env, "KEYS_ONLY")
    second, _ = ttl_table(env, None, enable="other_name")
    untouched, _ = ttl_table(env, None, enable=None)
    batch_put(
        env.ddb, first, [{"pk": {"S": f"a{i:04d}"}, TTL: n(now - i % 7)} for i in range(1234)]
    )
    batch_put(env.ddb, second, [{"pk": {"S": f"b{i}"}, "other_name": n(now)} for i in range(7)])
    batch_put(env.ddb, untouched, [{"pk": {"S": f"c{i}"}, TTL: n(now)} for i in range(7)])
    assert env.sweep() == 1241
    assert env.scan_keys(first) == [] and env.scan_keys(second) == []
    assert len(env.scan_keys(untouched)) == 7
    records = read_stream(env.raw, arn)
    assert sorted(pk_of(r) for r in service_removes(records)) == sorted(
        f"a{i:04d}" for i in range(1234)
    )
    for record in service_removes(records):
        check_service_remove(record, "KEYS_ONLY", None, when=now)


# ------------------------------------------------------------------ 7. secondary indexes


def test_expired_items_leave_every_global_index(env: Env) -> None:
    name = unique_name("ttl")
    env.ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": TTL, "AttributeType": "N"},
            {"AttributeName": "sparse", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_expiry",
                "KeySchema": [
                    {"AttributeName": "kind", "KeyType": "HASH"},
                    {"AttributeName": TTL, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "sparse_keys",
                "KeySchema": [{"AttributeName": "sparse", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "by_kind_include",
                "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]},
            },
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    env.enable(name)
    now = int(env.now)
    items = []
    for i in range(40):
        item: dict[str, Any] = {"pk": {"S": f"k{i:02d}"}, "kind": {"S": "job"}, "note": {"S": "n"}}
        item[TTL] = n(now - 30 + i)  # k00..k30 are due at now
        if i % 2 == 0:
            item["sparse"] = {"S": "s"}
        items.append(item)
    batch_put(env.ddb, name, items)

    def index_counts() -> dict[str, tuple[int, int]]:
        return {
            i["IndexName"]: (i["ItemCount"], i["IndexSizeBytes"])
            for i in env.table(name)["GlobalSecondaryIndexes"]
        }

    def due() -> list[str]:
        page = env.ddb.query(
            TableName=name,
            IndexName="by_expiry",
            KeyConditionExpression="kind = :k AND #t <= :now",
            ExpressionAttributeNames={"#t": TTL},
            ExpressionAttributeValues={":k": {"S": "job"}, ":now": n(now)},
        )
        return [item["pk"]["S"] for item in page["Items"]]

    before = index_counts()
    assert {k: v[0] for k, v in before.items()} == {
        "by_expiry": 40,
        "sparse_keys": 20,
        "by_kind_include": 40,
    }
    assert due() == [f"k{i:02d}" for i in range(31)]  # expired, still in the index
    assert env.sweep() == 31
    after = index_counts()
    assert {k: v[0] for k, v in after.items()} == {
        "by_expiry": 9,
        "sparse_keys": 4,  # k32, k34, k36, k38
        "by_kind_include": 9,
    }
    assert all(after[k][1] < before[k][1] for k in before)
    assert due() == []
    sparse = env.ddb.scan(TableName=name, IndexName="sparse_keys")["Items"]
    assert sorted(item["pk"]["S"] for item in sparse) == ["k32", "k34", "k36", "k38"]
    included = env.ddb.query(
        TableName=name,
        IndexName="by_kind_include",
        KeyConditionExpression="kind = :k",
        ExpressionAttributeValues={":k": {"S": "job"}},
    )["Items"]
    assert sorted(item["pk"]["S"] for item in included) == [f"k{i}" for i in range(31, 40)]
    env.advance(9)
    assert env.sweep() == 9
    assert {k: v for k, v in index_counts().items()} == {
        "by_expiry": (0, 0),
        "sparse_keys": (0, 0),
        "by_kind_include": (0, 0),
    }
