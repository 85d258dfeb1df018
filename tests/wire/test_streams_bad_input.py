"""Bad input to the Streams API: each gets AWS's error (name, HTTP 400, message where
known) and changes nothing — the stream, its shards and valid iterators stay as they were."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import RawClient
from tests.wire.test_streams import (
    STREAMS,
    create_stream_table,
    describe_shards,
    drain,
    rotate,
    scall,
    serror,
    shard_iterator,
)


@pytest.fixture
def stream(ddb: Any, raw: RawClient) -> dict[str, Any]:
    """A stream with two shards (one closed) and records in both."""
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    for key in ("a", "b"):
        ddb.put_item(TableName=table, Item={"pk": {"S": key}})
    rotate(raw, table)
    ddb.put_item(TableName=table, Item={"pk": {"S": "c"}})
    shards = describe_shards(raw, arn)
    iterator = shard_iterator(raw, arn, shards[1]["ShardId"])
    records, _ = drain(raw, iterator)
    return {
        "table": table,
        "arn": arn,
        "shards": shards,
        "iterator": iterator,
        "records": records,
        "description": scall(raw, "DescribeStream", {"StreamArn": arn}),
    }


def _unchanged(raw: RawClient, stream: dict[str, Any]) -> None:
    assert scall(raw, "DescribeStream", {"StreamArn": stream["arn"]}) == stream["description"]
    assert drain(raw, stream["iterator"])[0] == stream["records"]


def _tampered(iterator: str) -> list[str]:
    """Copies of a valid iterator with one character of its payload changed."""
    prefix, _, rest = iterator.rpartition("|")
    body, _, signature = rest.partition(".")
    variants = []
    for position in (0, len(body) // 2, len(body) - 1):
        flipped = "A" if body[position] != "A" else "B"
        variants.append(f"{prefix}|{body[:position]}{flipped}{body[position + 1 :]}.{signature}")
    flipped_sig = ("A" if signature[0] != "A" else "B") + signature[1:]
    variants.append(f"{prefix}|{body}.{flipped_sig}")
    return variants


def test_garbage_and_tampered_iterators(raw: RawClient, stream: dict[str, Any]) -> None:
    garbage = [
        "sdfsdfsgagaddafgagasgasgasdfasdfasdfasdfasdgasdasdgasdg",
        "x",
        stream["arn"] + "|1|",
        stream["arn"] + "|1|" + base64.urlsafe_b64encode(b'[1,1,"s",0,0,"a"]').decode() + ".AAAA",
        stream["arn"] + "|2|abc.def",
        "||||",
    ]
    for token in garbage + _tampered(stream["iterator"]):
        serror(raw, "GetRecords", {"ShardIterator": token}, "ValidationException")
    _unchanged(raw, stream)


def test_non_ascii_iterator_is_a_validation_error(raw: RawClient, stream: dict[str, Any]) -> None:
    """Garbage with non-ASCII characters is garbage too: a ValidationException, never a 500."""
    valid = stream["iterator"]
    for token in ("a|1|b.\u00e9\u00e9", "\u00e9|1|\u00e9.\u00e9", valid[:-2] + "\u00e9\u00e9"):
        serror(raw, "GetRecords", {"ShardIterator": token}, "ValidationException")
    _unchanged(raw, stream)


def test_iterator_moved_to_another_stream_or_shard(
    ddb: Any, raw: RawClient, stream: dict[str, Any]
) -> None:
    _, other_arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert other_arn is not None
    mine = stream["iterator"]
    other = shard_iterator(raw, other_arn, describe_shards(raw, other_arn)[0]["ShardId"])
    # the ARN in front replaced by another stream's
    swapped = other_arn + mine[len(stream["arn"]) :]
    serror(raw, "GetRecords", {"ShardIterator": swapped}, "ValidationException")
    # the payload of one stream's iterator under the other's ARN
    spliced = mine[: len(stream["arn"])] + other[len(other_arn) :]
    serror(raw, "GetRecords", {"ShardIterator": spliced}, "ValidationException")
    # one shard's payload with another shard's signature
    parent = shard_iterator(raw, stream["arn"], stream["shards"][0]["ShardId"])
    body = mine.rpartition("|")[2].partition(".")[0]
    signature = parent.rpartition(".")[2]
    serror(
        raw,
        "GetRecords",
        {"ShardIterator": f"{stream['arn']}|1|{body}.{signature}"},
        "ValidationException",
    )
    _unchanged(raw, stream)


def test_get_records_limit_bounds(raw: RawClient, stream: dict[str, Any]) -> None:
    for limit in (0, -1):
        response = serror(
            raw,
            "GetRecords",
            {"ShardIterator": stream["iterator"], "Limit": limit},
            "ValidationException",
        )
        assert "limit" in response.message.lower()
    serror(
        raw,
        "GetRecords",
        {"ShardIterator": stream["iterator"], "Limit": "5"},
        "SerializationException",
    )
    _unchanged(raw, stream)
    # AWS: "the upper limit is 1000"; 1001 is a ValidationException naming the limit
    response = serror(
        raw,
        "GetRecords",
        {"ShardIterator": stream["iterator"], "Limit": 1001},
        "ValidationException",
    )
    assert "limit" in response.message.lower()


def test_stream_and_shard_not_found(raw: RawClient, stream: dict[str, Any]) -> None:
    arn = stream["arn"]
    unknown_arn = arn.replace(stream["table"], stream["table"] + "x")
    shard_id = stream["shards"][0]["ShardId"]
    serror(
        raw,
        "DescribeStream",
        {"StreamArn": unknown_arn},
        "ResourceNotFoundException",
        f"Requested resource not found: Stream: {unknown_arn} not found",
    )
    serror(
        raw,
        "GetShardIterator",
        {"StreamArn": unknown_arn, "ShardId": shard_id, "ShardIteratorType": "LATEST"},
        "ResourceNotFoundException",
    )
    # the same table and a label no stream has
    other_label = arn[:-3] + ("000" if not arn.endswith("000") else "001")
    serror(raw, "DescribeStream", {"StreamArn": other_label}, "ResourceNotFoundException")
    for unknown_shard in (
        "shardId-00000000000000000000-00000000",
        "adfasdasdasdasdasdasdasdasdasasdasd",
    ):
        serror(
            raw,
            "GetShardIterator",
            {"StreamArn": arn, "ShardId": unknown_shard, "ShardIteratorType": "TRIM_HORIZON"},
            "ResourceNotFoundException",
        )
    _unchanged(raw, stream)


def test_malformed_stream_arns(raw: RawClient, stream: dict[str, Any]) -> None:
    shard_id = stream["shards"][0]["ShardId"]
    table = stream["table"]
    malformed = [
        "sdfadfsdfnlfkajakfgjalksfgklasjklasdjfklasdfasdfgasf",
        f"arn:aws:dynamodb:us-east-1:000000000000:table/{table}/notastream/2020-01-01T00:00:00.000",
        f"arn:aws:dynamodb:us-east-1:000000000000:table/{table}/stream/yesterday-at-noon",
        f"arn:aws:dynamodb:us-east-1:000000000000:table/{table}",
    ]
    for arn in malformed:
        serror(raw, "DescribeStream", {"StreamArn": arn}, "ValidationException")
        serror(
            raw,
            "GetShardIterator",
            {"StreamArn": arn, "ShardId": shard_id, "ShardIteratorType": "LATEST"},
            "ValidationException",
        )
    serror(raw, "DescribeStream", {"StreamArn": "short"}, "ValidationException")
    _unchanged(raw, stream)


def test_bad_sequence_numbers(raw: RawClient, stream: dict[str, Any]) -> None:
    arn = stream["arn"]
    parent, child = stream["shards"]
    base = {"StreamArn": arn, "ShardId": child["ShardId"]}
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        for bad in ("abc", "1" * 20, "1" * 41, "x" * 25, "-" + "1" * 21, "1" * 20 + ".5"):
            serror(
                raw,
                "GetShardIterator",
                {**base, "ShardIteratorType": kind, "SequenceNumber": bad},
                "ValidationException",
            )
        # required with AT/AFTER
        serror(raw, "GetShardIterator", {**base, "ShardIteratorType": kind}, "ValidationException")
        # a sequence number of the parent shard is outside the child's range
        parent_first = parent["SequenceNumberRange"]["StartingSequenceNumber"]
        serror(
            raw,
            "GetShardIterator",
            {**base, "ShardIteratorType": kind, "SequenceNumber": parent_first},
            "ValidationException",
        )
        # ... and so is a number far past the newest record
        serror(
            raw,
            "GetShardIterator",
            {**base, "ShardIteratorType": kind, "SequenceNumber": "9" * 40},
            "ValidationException",
        )
    valid = stream["records"][0]["dynamodb"]["SequenceNumber"]
    for kind in ("TRIM_HORIZON", "LATEST"):
        serror(
            raw,
            "GetShardIterator",
            {**base, "ShardIteratorType": kind, "SequenceNumber": valid},
            "ValidationException",
        )
    response = serror(
        raw, "GetShardIterator", {**base, "ShardIteratorType": "bulle"}, "ValidationException"
    )
    assert "shardIteratorType" in response.message
    _unchanged(raw, stream)


def test_missing_and_mistyped_members(raw: RawClient, stream: dict[str, Any]) -> None:
    response = serror(raw, "GetRecords", {}, "ValidationException")
    assert response.message == (
        "1 validation error detected: Value null at 'shardIterator' failed to satisfy "
        "constraint: Member must not be null"
    )
    response = serror(raw, "DescribeStream", {}, "ValidationException")
    assert "'streamArn'" in response.message and "must not be null" in response.message
    response = serror(raw, "GetShardIterator", {}, "ValidationException")
    assert response.message.startswith("3 validation errors detected")
    for member in ("streamArn", "shardId", "shardIteratorType"):
        assert f"'{member}'" in response.message
    serror(raw, "GetShardIterator", {"StreamArn": stream["arn"]}, "ValidationException")
    serror(raw, "GetRecords", {"ShardIterator": ""}, "ValidationException")
    serror(raw, "GetRecords", {"ShardIterator": "x" * 2049}, "ValidationException")
    serror(raw, "GetRecords", {"ShardIterator": 5}, "SerializationException")
    serror(raw, "DescribeStream", {"StreamArn": stream["arn"], "Limit": 0}, "ValidationException")
    serror(
        raw,
        "DescribeStream",
        {"StreamArn": stream["arn"], "ShardFilter": {"Type": "PARENT_SHARDS", "ShardId": "x" * 28}},
        "ValidationException",
    )
    # malformed JSON and unknown operations
    bad_json = raw.call("GetRecords", "{not json", prefix=STREAMS)
    assert bad_json.status == 400 and bad_json.error_type == "SerializationException"
    unknown = raw.call("PutRecords", {}, prefix=STREAMS)
    assert unknown.status == 400 and unknown.error_type == "UnknownOperationException"
    _unchanged(raw, stream)
