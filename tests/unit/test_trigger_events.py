"""The JSON a Lambda function sees (dynoxide_streams/triggers/events): the Lambda-format
record made from a GetRecords record, the tumbling-window event, the on-failure record
and the ISO timestamp helpers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from dynoxide_streams.shards.records import build_record
from dynoxide_streams.triggers.events import (
    created_at,
    failure_record,
    iso_millis,
    iso_seconds,
    lambda_record,
    sequence_of,
    stream_event,
    window_event,
)

STREAM_ARN = "arn:aws:dynamodb:eu-central-1:123456789012:table/T/stream/2015-06-27T00:48:05.899"
SEQ = "442158450000000001745"
LAMBDA_KEYS = [
    "eventID",
    "eventName",
    "eventVersion",
    "eventSource",
    "awsRegion",
    "dynamodb",
    "eventSourceARN",
]


def getrecords_bytes(*, service: bool = False, new: bool = True) -> bytes:
    keys = {"Id": {"N": "101"}}
    record = build_record(
        event_id="c4ca4238a0b923820dcc509a6f75849b",
        region="eu-central-1",
        keys=keys,
        old={"Id": {"N": "101"}, "Message": {"S": "old"}} if service or not new else None,
        new={"Id": {"N": "101"}, "Message": {"S": "New item!"}} if new else None,
        view_type="NEW_AND_OLD_IMAGES",
        sequence_number=SEQ,
        created_at=1428537600.7,
        service=service,
    )
    return orjson.dumps(record)


# ------------------------------------------------------------------ records


def test_lambda_record_from_an_insert() -> None:
    record = lambda_record(getrecords_bytes(), STREAM_ARN)
    assert list(record) == LAMBDA_KEYS  # key order as AWS shows it
    assert record == {
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-central-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1428537600,
            "Keys": {"Id": {"N": "101"}},
            "NewImage": {"Id": {"N": "101"}, "Message": {"S": "New item!"}},
            "SequenceNumber": SEQ,
            "SizeBytes": record["dynamodb"]["SizeBytes"],
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }
    assert isinstance(record["dynamodb"]["SizeBytes"], int)
    assert record["dynamodb"]["SizeBytes"] > 0
    assert "userIdentity" not in record


def test_lambda_record_of_a_ttl_delete_has_camel_case_user_identity_last() -> None:
    raw = getrecords_bytes(service=True, new=False)
    assert orjson.loads(raw)["userIdentity"] == {
        "PrincipalId": "dynamodb.amazonaws.com",
        "Type": "Service",
    }
    record = lambda_record(raw, STREAM_ARN)
    assert list(record) == [*LAMBDA_KEYS, "userIdentity"]
    assert record["eventName"] == "REMOVE"
    assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert list(record["userIdentity"]) == ["type", "principalId"]
    assert record["dynamodb"]["OldImage"] == {"Id": {"N": "101"}, "Message": {"S": "old"}}
    assert "NewImage" not in record["dynamodb"]


def test_lambda_record_key_order_does_not_depend_on_the_input_order() -> None:
    source = orjson.loads(getrecords_bytes(service=True, new=False))
    shuffled = {k: source[k] for k in reversed(list(source))}
    record = lambda_record(orjson.dumps(shuffled), STREAM_ARN)
    assert list(record) == [*LAMBDA_KEYS, "userIdentity"]
    assert record["eventSourceARN"] == STREAM_ARN


def test_sequence_and_creation_time_accessors() -> None:
    record = lambda_record(getrecords_bytes(), STREAM_ARN)
    assert sequence_of(record) == SEQ
    assert created_at(record) == 1428537600


# ------------------------------------------------------------------- events


def test_stream_event_wraps_records() -> None:
    records: list[dict[str, Any]] = [{"eventID": "1"}, {"eventID": "2"}]
    assert stream_event(records) == {"Records": records}
    assert stream_event([]) == {"Records": []}


def test_window_event_shape() -> None:
    records = [lambda_record(getrecords_bytes(), STREAM_ARN)]
    event = window_event(
        records,
        window_start=1573689600.0,
        window_end=1573689660.0,
        state={"total": 3},
        shard_id="shardId-00000001573689847184-864758bb",
        stream_arn=STREAM_ARN,
        final=True,
    )
    assert event == {
        "Records": records,
        "window": {"start": "2019-11-14T00:00:00Z", "end": "2019-11-14T00:01:00Z"},
        "state": {"total": 3},
        "shardId": "shardId-00000001573689847184-864758bb",
        "eventSourceARN": STREAM_ARN,
        "isFinalInvokeForWindow": True,
        "isWindowTerminatedEarly": False,
    }
    assert list(event) == [
        "Records",
        "window",
        "state",
        "shardId",
        "eventSourceARN",
        "isFinalInvokeForWindow",
        "isWindowTerminatedEarly",
    ]
    early = window_event(
        [],
        window_start=0,
        window_end=60,
        state={},
        shard_id="s",
        stream_arn=STREAM_ARN,
        final=False,
        terminated_early=True,
    )
    assert early["Records"] == []
    assert early["window"] == {"start": "1970-01-01T00:00:00Z", "end": "1970-01-01T00:01:00Z"}
    assert early["isFinalInvokeForWindow"] is False
    assert early["isWindowTerminatedEarly"] is True


# ------------------------------------------------------------ failure record


def lambda_rec(seq: str, created: float) -> dict[str, Any]:
    return {"dynamodb": {"SequenceNumber": seq, "ApproximateCreationDateTime": created}}


def test_failure_record_exact_shape() -> None:
    records = [
        lambda_rec("800000000003126276362", 1573690399.9),
        lambda_rec("800000000003126276370", 1573690401),
    ]
    record = failure_record(
        request_id="316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
        function_arn="arn:aws:lambda:us-east-2:123456789012:function:myfunction",
        condition="RetryAttemptsExhausted",
        invoke_count=3,
        status_code=200,
        function_error="Unhandled",
        shard_id="shardId-00000001573689847184-864758bb",
        stream_arn=STREAM_ARN,
        records=records,
        now=1573690429.717,
    )
    assert record == {
        "requestContext": {
            "requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:13:49.717Z",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-00000001573689847184-864758bb",
            "startSequenceNumber": "800000000003126276362",
            "endSequenceNumber": "800000000003126276370",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:13:21Z",
            "batchSize": 2,
            "streamArn": STREAM_ARN,
        },
    }
    assert list(record) == [
        "requestContext",
        "responseContext",
        "version",
        "timestamp",
        "DDBStreamBatchInfo",
    ]
    assert "Records" not in record  # the records themselves are not included


def test_failure_record_without_a_function_error() -> None:
    record = failure_record(
        request_id="r",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        condition="RecordAgeExceeded",
        invoke_count=0,
        status_code=200,
        function_error=None,
        shard_id="shardId-1",
        stream_arn=STREAM_ARN,
        records=[lambda_rec("100000000000000000001", 0)],
        now=0,
    )
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    info = record["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == "100000000000000000001"
    assert info["batchSize"] == 1
    assert record["timestamp"] == "1970-01-01T00:00:00.000Z"


# -------------------------------------------------------------- iso helpers


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1573690399, "2019-11-14T00:13:19Z"),
        (1573690399.999, "2019-11-14T00:13:19Z"),  # truncated, not rounded
        (1428537600, "2015-04-09T00:00:00Z"),
    ],
)
def test_iso_seconds(epoch: float, text: str) -> None:
    assert iso_seconds(epoch) == text


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1573690429.717, "2019-11-14T00:13:49.717Z"),
        (1573690429.0005, "2019-11-14T00:13:49.000Z"),
        (1573690429.5, "2019-11-14T00:13:49.500Z"),
        (1700000000.001, "2023-11-14T22:13:20.001Z"),
    ],
)
def test_iso_millis(epoch: float, text: str) -> None:
    assert iso_millis(epoch) == text
