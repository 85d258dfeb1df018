"""DynamoDB Streams over the wire: the records each write path produces (exact GetRecords
JSON per StreamViewType), StreamSpecification on CreateTable/UpdateTable/DeleteTable,
ListStreams and DescribeStream, and Lambda-event parsing with Powertools.

The helpers at the top are shared by the other ``test_streams_*.py`` files.
"""

from __future__ import annotations

import calendar
import itertools
import json
import math
import re
import time
import uuid
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBStreamEvent,
)
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from dynoxide_streams.engine.values import item_size
from tests.conftest import RawClient, RawResponse, make_client

STREAMS = "DynamoDBStreams_20120810"
VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
LABEL = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}"
ARN_RE = re.compile(
    rf"arn:aws:dynamodb:us-east-1:000000000000:table/(?P<table>[A-Za-z0-9_.-]+)"
    rf"/stream/(?P<label>{LABEL})"
)
SHARD_RE = re.compile(r"shardId-\d{20}-[0-9a-f]{8}")
SEQ_RE = re.compile(r"\d{21,40}")
EVENT_ID_RE = re.compile(r"[0-9a-f]{32}")


# ------------------------------------------------------------------- shared helpers


@pytest.fixture(scope="session")
def streams(endpoint: str) -> Any:
    """A boto3 ``dynamodbstreams`` client on the session server."""
    return make_client(endpoint, "dynamodbstreams")


def scall(raw: RawClient, operation: str, params: dict[str, Any]) -> Any:
    """A Streams call that must succeed; its JSON body."""
    response = raw.call(operation, params, prefix=STREAMS)
    assert response.status == 200, (operation, params, response.status, response.body[:500])
    return response.json


def serror(
    raw: RawClient,
    operation: str,
    params: Any,
    name: str,
    message: str | None = None,
    status: int = 400,
) -> RawResponse:
    """A Streams call that must fail with AWS error ``name`` (and ``message`` if given)."""
    response = raw.call(operation, params, prefix=STREAMS)
    assert response.status == status, (operation, params, response.status, response.body[:500])
    assert response.error_type == name, (operation, params, response.body[:500])
    if message is not None:
        assert response.message == message
    return response


def derror(
    raw: RawClient, operation: str, params: Any, name: str, message: str | None = None
) -> RawResponse:
    """A DynamoDB call that must fail with HTTP 400 ``name`` (and ``message``)."""
    response = raw.call(operation, params)
    assert response.status == 400, (operation, response.status, response.body[:500])
    assert response.error_type == name, response.body[:500]
    if message is not None:
        assert response.message == message
    return response


class RawDynamo:
    """boto3-style DynamoDB calls sent as exact JSON through :class:`RawClient`, so binary
    values stay the base64 text given; errors raise botocore's ClientError."""

    def __init__(self, raw: RawClient) -> None:
        self.raw = raw

    def __getattr__(self, name: str) -> Any:
        operation = "".join(part.title() for part in name.split("_"))

        def call(**params: Any) -> Any:
            response = self.raw.call(operation, params)
            if response.status != 200:
                error = {"Error": {"Code": response.error_type, "Message": response.message}}
                raise ClientError(error, operation)  # type: ignore[arg-type]
            return response.json

        return call


def admin(raw: RawClient, path: str, payload: dict[str, Any]) -> Any:
    response = raw.request(json.dumps(payload), None, path=path, content_type="application/json")
    assert response.status == 200, (path, response.status, response.body)
    return response.json


def rotate(raw: RawClient, table: str) -> dict[str, Any]:
    """Close the open shard of ``table``'s stream through ``POST /_admin/streams/rotate``."""
    result: dict[str, Any] = admin(raw, "/_admin/streams/rotate", {"table": table})
    return result


def unique_name(prefix: str = "st") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def create_stream_table(
    ddb: Any,
    view_type: str | None = "NEW_AND_OLD_IMAGES",
    *,
    range_key: tuple[str, str] | None = ("sk", "N"),
    name: str | None = None,
) -> tuple[str, str | None]:
    """Create a table (hash ``pk`` S, optional range key) with a stream; (name, arn)."""
    name = name or unique_name()
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    defs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key is not None:
        keys.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
        defs.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
    extra: dict[str, Any] = {}
    if view_type is not None:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
    description = ddb.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=defs,
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )["TableDescription"]
    return name, description.get("LatestStreamArn")


def describe_shards(raw: RawClient, arn: str, page: int = 100) -> list[dict[str, Any]]:
    """Every shard of a stream, paging DescribeStream with ``Limit=page``."""
    shards: list[dict[str, Any]] = []
    params: dict[str, Any] = {"StreamArn": arn, "Limit": page}
    while True:
        description = scall(raw, "DescribeStream", params)["StreamDescription"]
        shards.extend(description["Shards"])
        last = description.get("LastEvaluatedShardId")
        if last is None:
            return shards
        assert last == shards[-1]["ShardId"]
        params = {**params, "ExclusiveStartShardId": last}


def shard_iterator(
    raw: RawClient,
    arn: str,
    shard_id: str,
    kind: str = "TRIM_HORIZON",
    sequence_number: str | None = None,
) -> str:
    params = {"StreamArn": arn, "ShardId": shard_id, "ShardIteratorType": kind}
    if sequence_number is not None:
        params["SequenceNumber"] = sequence_number
    iterator: str = scall(raw, "GetShardIterator", params)["ShardIterator"]
    return iterator


def drain(
    raw: RawClient, iterator: str, limit: int | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Read from ``iterator`` until a closed shard ends or an open one has nothing new.

    Returns the records and the next iterator (None once a closed shard is drained)."""
    records: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"ShardIterator": iterator}
        if limit is not None:
            params["Limit"] = limit
        page = scall(raw, "GetRecords", params)
        records.extend(page["Records"])
        if "NextShardIterator" not in page:
            return records, None
        assert isinstance(page["NextShardIterator"], str) and page["NextShardIterator"]
        iterator = page["NextShardIterator"]
        if not page["Records"]:
            return records, iterator


def read_stream(raw: RawClient, arn: str) -> list[dict[str, Any]]:
    """All readable records of a stream, shard by shard, parents first."""
    shards = describe_shards(raw, arn)
    records: list[dict[str, Any]] = []
    for shard in parents_first(shards):
        got, _ = drain(raw, shard_iterator(raw, arn, shard["ShardId"]))
        records.extend(got)
    return records


def parents_first(shards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Shards ordered so that every parent (when still listed) precedes its children."""
    known = {s["ShardId"]: s for s in shards}
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()

    def visit(shard: dict[str, Any]) -> None:
        if shard["ShardId"] in done:
            return
        parent = shard.get("ParentShardId")
        if parent in known:
            visit(known[parent])
        done.add(shard["ShardId"])
        ordered.append(shard)

    for shard in shards:
        visit(shard)
    return ordered


def seq(record: dict[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def freeze(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def expected_size(dynamodb: dict[str, Any]) -> int:
    return sum(
        item_size(dynamodb[part]) for part in ("Keys", "NewImage", "OldImage") if part in dynamodb
    )


def check_record_shape(
    record: dict[str, Any], view_type: str, arn_region: str = "us-east-1"
) -> None:
    """The invariant parts of every user-write record, exactly."""
    assert set(record) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
    }, record
    assert EVENT_ID_RE.fullmatch(record["eventID"])
    assert record["eventVersion"] == "1.1"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["awsRegion"] == arn_region
    body = record["dynamodb"]
    allowed = {
        "ApproximateCreationDateTime",
        "Keys",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    name = record["eventName"]
    if view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and name != "REMOVE":
        allowed.add("NewImage")
    if view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and name != "INSERT":
        allowed.add("OldImage")
    assert set(body) == allowed, (view_type, name, sorted(body))
    assert body["StreamViewType"] == view_type
    assert SEQ_RE.fullmatch(body["SequenceNumber"])
    created = body["ApproximateCreationDateTime"]
    assert isinstance(created, int) and not isinstance(created, bool)
    assert body["SizeBytes"] == expected_size(body) >= 1


# ------------------------------------------------------------ 1. records per write path


def _key(pk: str, sk: int) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}}


RICH = {
    "s": {"S": "héllo"},
    "n": {"N": "1.5"},
    "b": {"B": "AQID"},
    "ss": {"SS": ["x", "y"]},
    "ns": {"NS": ["1", "2"]},
    "m": {"M": {"inner": {"L": [{"N": "7"}, {"BOOL": True}, {"NULL": True}]}}},
    "e": {"S": ""},
}


class Model:
    """What the table holds, and the records a stream must show for each change."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.expected: list[tuple[str, dict[str, Any], Any, Any]] = []

    def apply(self, key: dict[str, Any], new: dict[str, Any] | None) -> None:
        old = self.items.get(freeze(key))
        if new is None:
            self.items.pop(freeze(key), None)
        else:
            self.items[freeze(key)] = new
        if old == new:
            return  # nothing changed: no record
        name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        self.expected.append((name, key, old, new))

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        return self.items.get(freeze(key))


def _run_all_write_paths(ddb: Any, raw: RawClient, table: str) -> Model:
    """Every write path, with and without an effect; returns the model of expectations."""
    m = Model()
    a, b, c, d = _key("a", 1), _key("b", 2), _key("c", 3), _key("d", 4)
    e, f, g, h = _key("e", 5), _key("f", 6), _key("g", 7), _key("h", 8)

    # PutItem of a new item: INSERT
    a1 = {**a, **RICH}
    ddb.put_item(TableName=table, Item=a1)
    m.apply(a, a1)
    # the identical item again: nothing
    ddb.put_item(TableName=table, Item=a1)
    m.apply(a, a1)
    # replacing with different content: one MODIFY
    a2 = {**a, "s": {"S": "second"}, "x": {"N": "2"}}
    ddb.put_item(TableName=table, Item=a2)
    m.apply(a, a2)
    # a failed condition changes nothing
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.put_item(
            TableName=table,
            Item={**a, "s": {"S": "no"}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    # UpdateItem creating a key-only item: INSERT
    ddb.update_item(TableName=table, Key=b)
    m.apply(b, dict(b))
    # UpdateItem changing: MODIFY; the same values again: nothing
    ddb.update_item(
        TableName=table,
        Key=b,
        UpdateExpression="SET x = :x, y = :y",
        ExpressionAttributeValues={":x": {"N": "1"}, ":y": {"SS": ["p"]}},
    )
    m.apply(b, {**b, "x": {"N": "1"}, "y": {"SS": ["p"]}})
    ddb.update_item(
        TableName=table,
        Key=b,
        UpdateExpression="SET x = :x",
        ExpressionAttributeValues={":x": {"N": "1"}},
    )
    # UpdateItem removing an attribute: MODIFY; removing a missing one: nothing
    ddb.update_item(TableName=table, Key=b, UpdateExpression="REMOVE y")
    m.apply(b, {**b, "x": {"N": "1"}})
    ddb.update_item(TableName=table, Key=b, UpdateExpression="REMOVE y")
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.update_item(
            TableName=table,
            Key=b,
            UpdateExpression="SET x = :two",
            ConditionExpression="x = :two",
            ExpressionAttributeValues={":two": {"N": "2"}},
        )
    # UpdateItem with a failed condition on a missing item creates nothing
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.update_item(
            TableName=table,
            Key=h,
            UpdateExpression="SET x = :two",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":two": {"N": "2"}},
        )

    # DeleteItem of a missing item: nothing; failed condition: nothing; existing: REMOVE
    ddb.delete_item(TableName=table, Key=c)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.delete_item(TableName=table, Key=a, ConditionExpression="attribute_not_exists(pk)")
    ddb.delete_item(TableName=table, Key=a)
    m.apply(a, None)

    # BatchWriteItem: one record per item that changes
    c1 = {**c, "v": {"S": "c1"}}
    d1 = {**d, "v": {"S": "d1"}}
    g1 = {**g, "v": {"S": "g1"}}
    ddb.put_item(TableName=table, Item=g1)
    m.apply(g, g1)
    ddb.batch_write_item(
        RequestItems={
            table: [
                {"PutRequest": {"Item": c1}},
                {"PutRequest": {"Item": g1}},  # identical: nothing
                {"PutRequest": {"Item": d1}},
                {"DeleteRequest": {"Key": b}},
                {"DeleteRequest": {"Key": f}},  # missing: nothing
            ]
        }
    )
    m.apply(c, c1)
    m.apply(d, d1)
    m.apply(b, None)

    # TransactWriteItems: one record per Put/Update/Delete that changes; ConditionCheck none
    e1 = {**e, "v": {"S": "e1"}}
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": e1}},
            {
                "Update": {
                    "TableName": table,
                    "Key": c,
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"S": "c2"}},
                }
            },
            {"Delete": {"TableName": table, "Key": d}},
            {
                "Update": {  # to the same value: nothing
                    "TableName": table,
                    "Key": g,
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"S": "g1"}},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": f,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )
    m.apply(e, e1)
    m.apply(c, {**c, "v": {"S": "c2"}})
    m.apply(d, None)

    # a cancelled transaction writes nothing and records nothing
    with pytest.raises(ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {**h, "v": {"S": "never"}}}},
                {"Delete": {"TableName": table, "Key": e}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": g,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    # ... and neither does a failed condition inside an otherwise valid transaction
    with pytest.raises(ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": e,
                        "UpdateExpression": "SET v = :v",
                        "ConditionExpression": "v = :other",
                        "ExpressionAttributeValues": {":v": {"S": "x"}, ":other": {"S": "zz"}},
                    }
                },
            ]
        )
    # reads and a pure ConditionCheck transaction record nothing
    ddb.get_item(TableName=table, Key=e)
    ddb.scan(TableName=table)
    ddb.transact_write_items(
        TransactItems=[
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": e,
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
        ]
    )

    # the model matches the table
    items = raw.call("Scan", {"TableName": table}).json["Items"]
    assert sorted(map(freeze, items)) == sorted(map(freeze, m.items.values()))
    return m


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_records_per_write_path_and_view_type(
    ddb: Any, raw: RawClient, streams: Any, view_type: str
) -> None:
    table, arn = create_stream_table(ddb, view_type)
    assert arn is not None
    before = math.floor(time.time())
    model = _run_all_write_paths(RawDynamo(raw), raw, table)
    after = math.ceil(time.time())

    shards = describe_shards(raw, arn)
    assert len(shards) == 1
    records, following = drain(raw, shard_iterator(raw, arn, shards[0]["ShardId"]))
    assert following is not None  # the open shard always gives a next iterator

    assert len(records) == len(model.expected), [r["eventName"] for r in records]
    # the records of one item come in the order of its changes (and in commit order overall)
    for record, (name, key, old, new) in zip(records, model.expected, strict=True):
        check_record_shape(record, view_type)
        body = record["dynamodb"]
        created = body["ApproximateCreationDateTime"]
        assert before <= created <= after
        expected_body: dict[str, Any] = {
            "ApproximateCreationDateTime": created,
            "Keys": key,
            "SequenceNumber": body["SequenceNumber"],
            "StreamViewType": view_type,
        }
        if new is not None and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            expected_body["NewImage"] = new
        if old is not None and view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
            expected_body["OldImage"] = old
        expected_body["SizeBytes"] = expected_size(expected_body)
        assert record == {
            "eventID": record["eventID"],
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": expected_body,
        }
    ids = [r["eventID"] for r in records]
    assert len(set(ids)) == len(ids)
    numbers = [seq(r) for r in records]
    assert numbers == sorted(set(numbers))  # strictly increasing

    # boto3 parses the same records (ApproximateCreationDateTime becomes a datetime)
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shards[0]["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    parsed = streams.get_records(ShardIterator=iterator)["Records"]
    assert [p["eventID"] for p in parsed] == ids
    assert [int(p["dynamodb"]["ApproximateCreationDateTime"].timestamp()) for p in parsed] == [
        r["dynamodb"]["ApproximateCreationDateTime"] for r in records
    ]
    assert all("userIdentity" not in p for p in parsed)


def test_key_only_item_images_hold_just_the_key(ddb: Any, raw: RawClient) -> None:
    table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
    assert arn is not None
    key = {"pk": {"S": "only"}}
    ddb.put_item(TableName=table, Item=key)
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET z = :z",
        ExpressionAttributeValues={":z": {"N": "4"}},
    )
    ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE z")
    ddb.delete_item(TableName=table, Key=key)
    records = read_stream(raw, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "MODIFY", "REMOVE"]
    bodies = [r["dynamodb"] for r in records]
    assert [b.get("OldImage") for b in bodies] == [None, key, {**key, "z": {"N": "4"}}, key]
    assert [b.get("NewImage") for b in bodies] == [key, {**key, "z": {"N": "4"}}, key, None]
    assert "OldImage" not in bodies[0] and "NewImage" not in bodies[3]
    assert [b["SizeBytes"] for b in bodies] == [
        item_size(key) * 2,
        item_size(key) * 2 + item_size({**key, "z": {"N": "4"}}),
        item_size(key) * 2 + item_size({**key, "z": {"N": "4"}}),
        item_size(key) * 2,
    ]


def test_writes_to_tables_without_stream_or_other_tables_stay_out(ddb: Any, raw: RawClient) -> None:
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    plain, none = create_stream_table(ddb, None, range_key=None)
    assert arn is not None and none is None
    ddb.put_item(TableName=plain, Item={"pk": {"S": "p"}})
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": plain, "Item": {"pk": {"S": "q"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "t"}}}},
        ]
    )
    records = read_stream(raw, arn)
    assert [(r["eventName"], r["dynamodb"]["Keys"]) for r in records] == [
        ("INSERT", {"pk": {"S": "t"}})
    ]
    assert scall(raw, "ListStreams", {"TableName": plain}) == {"Streams": []}


# ------------------------------------------------- 2. StreamSpecification and lifecycle


def _describe_table(ddb: Any, table: str) -> dict[str, Any]:
    result: dict[str, Any] = ddb.describe_table(TableName=table)["Table"]
    return result


def test_create_table_with_stream_describes_it(ddb: Any, raw: RawClient) -> None:
    name = unique_name()
    started = time.time()
    response = raw.call(
        "CreateTable",
        {
            "TableName": name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        },
    )
    assert response.status == 200, response.body
    created = response.json["TableDescription"]
    described = raw.call("DescribeTable", {"TableName": name}).json["Table"]
    for description in (created, described):
        assert description["StreamSpecification"] == {
            "StreamEnabled": True,
            "StreamViewType": "NEW_IMAGE",
        }
        match = ARN_RE.fullmatch(description["LatestStreamArn"])
        assert match is not None, description["LatestStreamArn"]
        assert match["table"] == name
        assert match["label"] == description["LatestStreamLabel"]
    assert created["LatestStreamArn"] == described["LatestStreamArn"]
    label_time = calendar.timegm(
        time.strptime(created["LatestStreamLabel"][:19], "%Y-%m-%dT%H:%M:%S")
    )
    assert started - 2 <= label_time <= time.time() + 1

    listed = scall(raw, "ListStreams", {"TableName": name})
    assert listed == {
        "Streams": [
            {
                "StreamArn": created["LatestStreamArn"],
                "TableName": name,
                "StreamLabel": created["LatestStreamLabel"],
            }
        ]
    }
    # UpdateTable's answer describes the stream as well
    updated = ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")["TableDescription"]
    assert updated["LatestStreamArn"] == created["LatestStreamArn"]
    assert updated["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_table_without_stream_has_no_stream_members(ddb: Any, raw: RawClient) -> None:
    plain, _ = create_stream_table(ddb, None)
    disabled = unique_name()
    ddb.create_table(
        TableName=disabled,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": False},
    )
    for name in (plain, disabled):
        description = raw.call("DescribeTable", {"TableName": name}).json["Table"]
        for member in ("StreamSpecification", "LatestStreamArn", "LatestStreamLabel"):
            assert member not in description
        assert scall(raw, "ListStreams", {"TableName": name}) == {"Streams": []}


@pytest.mark.parametrize("operation", ["CreateTable", "UpdateTable"])
def test_stream_specification_errors(ddb: Any, raw: RawClient, operation: str) -> None:
    invalid = "One or more parameter values were invalid: "
    enable_without_type = {"StreamEnabled": True}
    disable_with_type = {"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"}
    cases = [
        (
            enable_without_type,
            invalid + "If stream is being enabled then UpdateViewType is required",
        ),
        (
            disable_with_type,
            invalid + "If stream is being disabled, then UpdateViewType must not be specified",
        ),
    ]
    if operation == "UpdateTable":
        table, _ = create_stream_table(ddb, None)
        before = _describe_table(ddb, table)
        for spec, message in cases:
            derror(
                raw,
                "UpdateTable",
                {"TableName": table, "StreamSpecification": spec},
                "ValidationException",
                message,
            )
        derror(
            raw,
            "UpdateTable",
            {"TableName": table, "StreamSpecification": {"StreamEnabled": False}},
            "ValidationException",
            f"Table has no stream to disable: TableName: {table}",
        )
        assert _describe_table(ddb, table) == before
        assert scall(raw, "ListStreams", {"TableName": table}) == {"Streams": []}
    else:
        for spec, message in cases:
            name = unique_name()
            derror(
                raw,
                "CreateTable",
                {
                    "TableName": name,
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "StreamSpecification": spec,
                },
                "ValidationException",
                message,
            )
            derror(raw, "DescribeTable", {"TableName": name}, "ResourceNotFoundException")
    # a bad view type is a plain enum validation error
    response = derror(
        raw,
        operation,
        {
            "TableName": unique_name(),
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "Fisk"},
        },
        "ValidationException",
    )
    assert "streamViewType" in response.message and "Fisk" in response.message


@pytest.mark.parametrize("other", ["NEW_AND_OLD_IMAGES", "KEYS_ONLY"])
def test_enable_when_enabled_is_refused(ddb: Any, raw: RawClient, other: str) -> None:
    table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES")
    before = _describe_table(ddb, table)
    derror(
        raw,
        "UpdateTable",
        {
            "TableName": table,
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": other},
        },
        "ValidationException",
        f"Table already has an enabled stream: TableName: {table}",
    )
    assert _describe_table(ddb, table) == before
    assert [s["StreamArn"] for s in scall(raw, "ListStreams", {"TableName": table})["Streams"]] == [
        arn
    ]


def test_disable_then_reenable(ddb: Any, raw: RawClient) -> None:
    table, first = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert first is not None
    first_label = _describe_table(ddb, table)["LatestStreamLabel"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "before"}})
    open_shard = describe_shards(raw, first)[0]["ShardId"]
    latest = shard_iterator(raw, first, open_shard, "LATEST")
    ddb.put_item(TableName=table, Item={"pk": {"S": "last"}})

    ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    described = raw.call("DescribeTable", {"TableName": table}).json["Table"]
    assert "StreamSpecification" not in described
    assert described["LatestStreamArn"] == first
    assert described["LatestStreamLabel"] == first_label

    stream = scall(raw, "DescribeStream", {"StreamArn": first})["StreamDescription"]
    assert stream["StreamStatus"] == "DISABLED"
    assert stream["StreamViewType"] == "KEYS_ONLY"
    assert stream["Shards"] and all(
        "EndingSequenceNumber" in s["SequenceNumberRange"] for s in stream["Shards"]
    )
    # an iterator taken before the stream was disabled still reads up to the end
    page = scall(raw, "GetRecords", {"ShardIterator": latest})
    assert [r["dynamodb"]["Keys"] for r in page["Records"]] == [{"pk": {"S": "last"}}]
    if "NextShardIterator" in page:
        end = scall(raw, "GetRecords", {"ShardIterator": page["NextShardIterator"]})
        assert end == {"Records": []}
    # the closed stream stays readable and writes now go nowhere
    ddb.put_item(TableName=table, Item={"pk": {"S": "unrecorded"}})
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_stream(raw, first)]
    assert keys == ["before", "last"]

    ddb.update_table(
        TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    )
    described = _describe_table(ddb, table)
    second = described["LatestStreamArn"]
    assert second != first and ARN_RE.fullmatch(second)
    assert described["LatestStreamLabel"] != first_label
    assert second.endswith("/stream/" + described["LatestStreamLabel"])
    assert described["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_IMAGE",
    }
    ddb.put_item(TableName=table, Item={"pk": {"S": "after"}})
    new_records = read_stream(raw, second)
    assert [(r["eventName"], r["dynamodb"]["NewImage"]) for r in new_records] == [
        ("INSERT", {"pk": {"S": "after"}})
    ]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_stream(raw, first)] == ["before", "last"]
    listed = scall(raw, "ListStreams", {"TableName": table})["Streams"]
    assert {s["StreamArn"] for s in listed} == {first, second}
    statuses = {
        arn: scall(raw, "DescribeStream", {"StreamArn": arn})["StreamDescription"]["StreamStatus"]
        for arn in (first, second)
    }
    assert statuses == {first: "DISABLED", second: "ENABLED"}


def test_delete_table_disables_stream_and_keeps_it_readable(ddb: Any, raw: RawClient) -> None:
    table, arn = create_stream_table(ddb, "NEW_IMAGE", range_key=None)
    assert arn is not None
    ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "v": {"N": "1"}})
    ddb.delete_table(TableName=table)
    description = scall(raw, "DescribeStream", {"StreamArn": arn})["StreamDescription"]
    assert description["StreamStatus"] == "DISABLED"
    assert description["TableName"] == table
    assert all("EndingSequenceNumber" in s["SequenceNumberRange"] for s in description["Shards"])
    records = read_stream(raw, arn)
    assert [(r["eventName"], r["dynamodb"]["NewImage"]) for r in records] == [
        ("INSERT", {"pk": {"S": "x"}, "v": {"N": "1"}})
    ]
    arns = _all_stream_arns(raw)
    assert arn in arns
    # a new table of the same name gets a new stream; the old one is still listed
    _, again = create_stream_table(ddb, "KEYS_ONLY", range_key=None, name=table)
    assert again is not None and again != arn
    listed = {s["StreamArn"] for s in scall(raw, "ListStreams", {"TableName": table})["Streams"]}
    assert listed == {arn, again}


# ------------------------------------------------------ 3. ListStreams, DescribeStream


def _all_stream_arns(
    raw: RawClient, limit: int | None = None, table: str | None = None
) -> list[str]:
    arns: list[str] = []
    params: dict[str, Any] = {}
    if limit is not None:
        params["Limit"] = limit
    if table is not None:
        params["TableName"] = table
    pages = 0
    while True:
        page = scall(raw, "ListStreams", params)
        pages += 1
        assert limit is None or len(page["Streams"]) <= limit
        for stream in page["Streams"]:
            assert set(stream) == {"StreamArn", "TableName", "StreamLabel"}
            assert ARN_RE.fullmatch(stream["StreamArn"])
            assert stream["StreamArn"].endswith(
                f"table/{stream['TableName']}/stream/{stream['StreamLabel']}"
            )
        arns.extend(s["StreamArn"] for s in page["Streams"])
        last = page.get("LastEvaluatedStreamArn")
        if last is None:
            return arns
        assert last == arns[-1]
        params = {**params, "ExclusiveStartStreamArn": last}
        assert pages < 10_000


def test_list_streams_filter_and_paging(ddb: Any, raw: RawClient) -> None:
    table, first = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    ddb.update_table(
        TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"}
    )
    second = _describe_table(ddb, table)["LatestStreamArn"]
    ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    ddb.update_table(
        TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    )
    third = _describe_table(ddb, table)["LatestStreamArn"]
    other, other_arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)

    mine = _all_stream_arns(raw, table=table)
    assert sorted(mine) == sorted([first, second, third])
    for limit in (1, 2, 3):
        assert _all_stream_arns(raw, limit=limit, table=table) == mine
    first_page = scall(raw, "ListStreams", {"TableName": table, "Limit": 2})
    assert len(first_page["Streams"]) == 2
    assert first_page["LastEvaluatedStreamArn"] == first_page["Streams"][1]["StreamArn"]
    assert scall(raw, "ListStreams", {"TableName": other}) == {
        "Streams": [
            {
                "StreamArn": other_arn,
                "TableName": other,
                "StreamLabel": _describe_table(ddb, other)["LatestStreamLabel"],
            }
        ]
    }
    # unfiltered, paged one by one: every stream exactly once
    everything = _all_stream_arns(raw, limit=1)
    assert len(everything) == len(set(everything))
    assert {first, second, third, other_arn} <= set(everything)
    assert sorted(everything) == sorted(_all_stream_arns(raw))
    # an ExclusiveStartStreamArn past the end: empty page, no LastEvaluatedStreamArn
    assert scall(raw, "ListStreams", {"TableName": table, "ExclusiveStartStreamArn": mine[-1]}) == {
        "Streams": []
    }


def test_list_streams_errors(raw: RawClient) -> None:
    serror(raw, "ListStreams", {"TableName": unique_name("missing")}, "ResourceNotFoundException")
    serror(
        raw,
        "ListStreams",
        {"ExclusiveStartStreamArn": "kossaapaaasdafsdaasdasdasdasasdasfadfadfasdasdas"},
        "ValidationException",
    )
    # AWS: "The upper limit is 100"; 0, -1 and 101 are ValidationExceptions naming the limit
    for limit in (0, -1, 101):
        response = serror(raw, "ListStreams", {"Limit": limit}, "ValidationException")
        assert "limit" in response.message.lower()


def test_describe_stream_shape_paging_and_child_filter(ddb: Any, raw: RawClient) -> None:
    started = time.time()
    table, arn = create_stream_table(ddb, "OLD_IMAGE", range_key=("sk", "B"))
    assert arn is not None
    rotations = []
    for i in range(4):
        ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, "sk": {"B": bytes([i])}})
        rotations.append(rotate(raw, table))
    description = scall(raw, "DescribeStream", {"StreamArn": arn})["StreamDescription"]
    assert set(description) == {
        "StreamArn",
        "StreamLabel",
        "StreamStatus",
        "StreamViewType",
        "CreationRequestDateTime",
        "TableName",
        "KeySchema",
        "Shards",
    }
    assert description["StreamArn"] == arn
    assert arn.endswith("/stream/" + description["StreamLabel"])
    assert description["StreamStatus"] == "ENABLED"
    assert description["StreamViewType"] == "OLD_IMAGE"
    assert description["TableName"] == table
    assert description["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert isinstance(description["CreationRequestDateTime"], (int, float))
    assert started - 2 <= description["CreationRequestDateTime"] <= time.time() + 1

    shards = description["Shards"]
    assert len(shards) == 5
    ids = [s["ShardId"] for s in shards]
    assert ids == sorted(ids) and len(set(ids)) == 5
    for shard in shards:
        assert SHARD_RE.fullmatch(shard["ShardId"]), shard["ShardId"]
        assert set(shard) <= {"ShardId", "SequenceNumberRange", "ParentShardId"}
        assert SEQ_RE.fullmatch(shard["SequenceNumberRange"]["StartingSequenceNumber"])
    # one lineage: each shard's parent is the one before; only the last is open
    assert "ParentShardId" not in shards[0]
    assert [s.get("ParentShardId") for s in shards[1:]] == ids[:-1]
    assert all("EndingSequenceNumber" in s["SequenceNumberRange"] for s in shards[:-1])
    assert "EndingSequenceNumber" not in shards[-1]["SequenceNumberRange"]
    for parent, child in itertools.pairwise(shards):
        assert int(parent["SequenceNumberRange"]["EndingSequenceNumber"]) < int(
            child["SequenceNumberRange"]["StartingSequenceNumber"]
        )
    assert [(r["ShardId"], r["ParentShardId"]) for r in rotations] == list(
        zip(ids[1:], ids[:-1], strict=True)
    )

    # Limit + ExclusiveStartShardId / LastEvaluatedShardId
    for page in (1, 2, 3, 5):
        assert describe_shards(raw, arn, page) == shards
    first = scall(raw, "DescribeStream", {"StreamArn": arn, "Limit": 2})["StreamDescription"]
    assert first["Shards"] == shards[:2] and first["LastEvaluatedShardId"] == ids[1]
    full = scall(raw, "DescribeStream", {"StreamArn": arn, "Limit": 5})["StreamDescription"]
    assert full["Shards"] == shards and "LastEvaluatedShardId" not in full
    tail = scall(raw, "DescribeStream", {"StreamArn": arn, "ExclusiveStartShardId": ids[-1]})
    assert tail["StreamDescription"]["Shards"] == []
    unknown = scall(
        raw,
        "DescribeStream",
        {"StreamArn": arn, "ExclusiveStartShardId": "shardId-" + "9" * 20 + "-ffffffff"},
    )
    assert unknown["StreamDescription"]["Shards"] == []

    # ShardFilter CHILD_SHARDS
    for parent, child in itertools.pairwise(shards):
        children = scall(
            raw,
            "DescribeStream",
            {
                "StreamArn": arn,
                "ShardFilter": {"Type": "CHILD_SHARDS", "ShardId": parent["ShardId"]},
            },
        )["StreamDescription"]["Shards"]
        assert children == [child]
    leaf = scall(
        raw,
        "DescribeStream",
        {"StreamArn": arn, "ShardFilter": {"Type": "CHILD_SHARDS", "ShardId": ids[-1]}},
    )
    assert leaf["StreamDescription"]["Shards"] == []


def test_empty_closed_shards_stay_listed(ddb: Any, raw: RawClient) -> None:
    """A shard closed with no records is still a shard of the stream: DescribeStream lists
    it (closed, with its range) until its retention ends, so a consumer can follow the
    lineage from the first shard, and a stream disabled before any write still shows its
    closed shard."""
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    first = describe_shards(raw, arn)
    assert len(first) == 1
    rotations = [rotate(raw, table) for _ in range(2)]
    shards = describe_shards(raw, arn)
    assert [s["ShardId"] for s in shards] == [first[0]["ShardId"]] + [
        r["ShardId"] for r in rotations
    ]
    assert all("EndingSequenceNumber" in s["SequenceNumberRange"] for s in shards[:-1])
    # every listed parent can be read (nothing in it) and ends
    for shard in shards[:-1]:
        records, following = drain(raw, shard_iterator(raw, arn, shard["ShardId"]))
        assert records == [] and following is None

    other, other_arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert other_arn is not None
    ddb.update_table(TableName=other, StreamSpecification={"StreamEnabled": False})
    closed = scall(raw, "DescribeStream", {"StreamArn": other_arn})["StreamDescription"]
    assert closed["StreamStatus"] == "DISABLED"
    assert len(closed["Shards"]) == 1
    assert "EndingSequenceNumber" in closed["Shards"][0]["SequenceNumberRange"]


def test_describe_stream_through_boto3(ddb: Any, streams: Any) -> None:
    table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES")
    description = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert description["StreamArn"] == arn
    assert description["TableName"] == table
    assert description["StreamStatus"] == "ENABLED"
    assert description["CreationRequestDateTime"].tzinfo is not None
    assert len(description["Shards"]) == 1
    listed = streams.list_streams(TableName=table)["Streams"]
    assert [s["StreamArn"] for s in listed] == [arn]


# --------------------------------------------------------------- 10. Powertools events


def lambda_event(records: list[dict[str, Any]], arn: str) -> dict[str, Any]:
    """GetRecords records as the event Lambda hands a function (eventSourceARN added;
    ``userIdentity`` members in Lambda's camelCase)."""
    converted = []
    for record in records:
        event = {**record, "eventSourceARN": arn}
        if "userIdentity" in record:
            identity = record["userIdentity"]
            event["userIdentity"] = {
                "type": identity["Type"],
                "principalId": identity["PrincipalId"],
            }
        converted.append(event)
    return {"Records": converted}


def _plain(image: dict[str, Any]) -> dict[str, Any]:
    """Python values of an image as boto3 deserializes them, except top-level binary,
    which a Lambda event (and so Powertools) keeps as its base64 text."""
    deserializer = TypeDeserializer()
    return {
        k: deserializer.deserialize(v)
        if "B" not in v and "BS" not in v
        else v.get("B", v.get("BS"))
        for k, v in image.items()
    }


def test_powertools_parses_the_records(ddb: Any, raw: RawClient) -> None:
    from decimal import Decimal

    table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES")
    assert arn is not None
    writer = RawDynamo(raw)
    key = _key("pt", 9)
    first = {
        **key,
        "n": {"N": "12.5"},
        "ss": {"SS": ["a", "b"]},
        "b": {"B": "AQID"},
        "flag": {"BOOL": True},
    }
    writer.put_item(TableName=table, Item=first)
    writer.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET n = :n, m = :m",
        ExpressionAttributeValues={":n": {"N": "13"}, ":m": {"M": {"deep": {"L": [{"S": "v"}]}}}},
    )
    writer.delete_item(TableName=table, Key=key)
    records = read_stream(raw, arn)
    assert len(records) == 3

    event = DynamoDBStreamEvent(lambda_event(records, arn))
    parsed = list(event.records)
    assert [p.event_name.name for p in parsed if p.event_name] == ["INSERT", "MODIFY", "REMOVE"]
    for record, p in zip(records, parsed, strict=True):
        body = record["dynamodb"]
        assert p.event_id == record["eventID"]
        assert p.event_source == "aws:dynamodb"
        assert p.event_source_arn == arn
        assert p.event_version == "1.1"
        assert p.aws_region == "us-east-1"
        assert p.user_identity == {}
        stream_record = p.dynamodb
        assert stream_record is not None
        assert stream_record.keys == {"pk": "pt", "sk": Decimal(9)}
        assert stream_record.sequence_number == body["SequenceNumber"]
        assert stream_record.size_bytes == body["SizeBytes"]
        assert stream_record.stream_view_type is not None
        assert stream_record.stream_view_type.name == "NEW_AND_OLD_IMAGES"
        assert stream_record.approximate_creation_date_time == body["ApproximateCreationDateTime"]
        assert stream_record.new_image == (_plain(body["NewImage"]) if "NewImage" in body else {})
        assert stream_record.old_image == (_plain(body["OldImage"]) if "OldImage" in body else {})
    insert, modify, remove = (p.dynamodb for p in parsed)
    assert insert is not None and modify is not None and remove is not None
    assert insert.new_image == {
        "pk": "pt",
        "sk": Decimal(9),
        "n": Decimal("12.5"),
        "ss": {"a", "b"},
        "b": "AQID",  # Lambda events carry binary values base64-encoded
        "flag": True,
    }
    assert insert.old_image == {}
    assert modify.old_image == insert.new_image
    assert modify.new_image == {**insert.new_image, "n": Decimal(13), "m": {"deep": ["v"]}}
    assert remove.old_image == modify.new_image and remove.new_image == {}
