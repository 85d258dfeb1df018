"""Data time on a virtual clock: iterator expiry (15 minutes), retention and trimming,
ApproximateCreationDateTime and shard rotation by time."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dynoxide_streams import Server
from tests.conftest import RawClient, make_client
from tests.wire.test_streams import (
    STREAMS,
    admin,
    create_stream_table,
    describe_shards,
    drain,
    read_stream,
    scall,
    serror,
    shard_iterator,
)

EXPIRED = "The provided iterator exceeds the maximum age allowed."
TRIMMED = "The data you are trying to access has been trimmed."


@contextmanager
def virtual(**settings: Any) -> Iterator[tuple[Server, RawClient, Any]]:
    with Server(clock="virtual", **settings).run_in_thread() as srv:
        yield srv, RawClient(srv.endpoint), make_client(srv.endpoint)


def _keys(records: list[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]


def _put(ddb: Any, table: str, key: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": key}})


def test_iterator_expires_after_fifteen_minutes_of_data_time() -> None:
    with virtual() as (srv, raw, ddb):
        table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        _put(ddb, table, "a")
        shard_id = describe_shards(raw, arn)[0]["ShardId"]
        first = shard_iterator(raw, arn, shard_id)
        srv.clock.advance(899)
        page = scall(raw, "GetRecords", {"ShardIterator": first})  # not yet expired
        assert _keys(page["Records"]) == ["a"]
        fresh = page["NextShardIterator"]
        srv.clock.advance(2)  # 901 s after the first iterator, 2 s after the fresh one
        serror(raw, "GetRecords", {"ShardIterator": first}, "ExpiredIteratorException", EXPIRED)
        _put(ddb, table, "b")
        page = scall(raw, "GetRecords", {"ShardIterator": fresh})
        assert _keys(page["Records"]) == ["b"]
        # an unused iterator from GetShardIterator expires the same way
        unused = shard_iterator(raw, arn, shard_id, "LATEST")
        srv.clock.advance(15 * 60 - 1)
        assert scall(raw, "GetRecords", {"ShardIterator": unused})["Records"] == []
        srv.clock.advance(2)
        response = serror(
            raw, "GetRecords", {"ShardIterator": unused}, "ExpiredIteratorException", EXPIRED
        )
        assert response.json["__type"].endswith("#ExpiredIteratorException")
        # boto3 maps it to the modeled exception
        client = make_client(srv.endpoint, "dynamodbstreams")
        try:
            client.get_records(ShardIterator=unused)
        except client.exceptions.ExpiredIteratorException as exc:
            assert exc.response["Error"]["Message"] == EXPIRED
        else:
            raise AssertionError("expired iterator accepted")


def test_admin_clock_endpoint_moves_data_time() -> None:
    with virtual() as (srv, raw, ddb):
        _table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        shard_id = describe_shards(raw, arn)[0]["ShardId"]
        iterator = shard_iterator(raw, arn, shard_id)
        before = srv.clock.now()
        moved = admin(raw, "/_admin/clock", {"advance_seconds": 901})
        assert moved == {"now": before + 901, "virtual": True}
        serror(raw, "GetRecords", {"ShardIterator": iterator}, "ExpiredIteratorException", EXPIRED)


def test_approximate_creation_time_follows_the_virtual_clock() -> None:
    with virtual() as (srv, raw, ddb):
        srv.clock.set(1_700_000_000.75)
        table, arn = create_stream_table(ddb, "NEW_IMAGE", range_key=None)
        assert arn is not None
        description = scall(raw, "DescribeStream", {"StreamArn": arn})["StreamDescription"]
        assert math.floor(description["CreationRequestDateTime"]) == 1_700_000_000
        assert arn.endswith("/stream/2023-11-14T22:13:20.750")
        _put(ddb, table, "a")
        srv.clock.advance(12_345.6)
        _put(ddb, table, "b")
        admin(raw, "/_admin/clock", {"advance_seconds": 20_000})
        _put(ddb, table, "c")
        records = read_stream(raw, arn)  # two shards: "c" came more than 4 h later
        assert len(describe_shards(raw, arn)) == 2
        assert [r["dynamodb"]["ApproximateCreationDateTime"] for r in records] == [
            1_700_000_000,
            1_700_012_346,
            1_700_032_346,
        ]


def test_retention_trims_records_and_drained_closed_shards() -> None:
    with virtual(stream_retention_seconds=3600) as (srv, raw, ddb):
        table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        _put(ddb, table, "old1")
        _put(ddb, table, "old2")
        first_shard = describe_shards(raw, arn)[0]
        old = drain(raw, shard_iterator(raw, arn, first_shard["ShardId"]))[0]
        srv.rotate_shards_sync(table)
        srv.clock.advance(1800)
        _put(ddb, table, "young")
        srv.clock.advance(1801)  # old1/old2 are 3601 s old, young 1801 s

        shards = describe_shards(raw, arn)
        # the closed first shard has nothing left: it is gone; its child stays
        assert first_shard["ShardId"] not in [s["ShardId"] for s in shards]
        assert len(shards) == 1 and shards[0]["ParentShardId"] == first_shard["ShardId"]
        records, _ = drain(raw, shard_iterator(raw, arn, shards[0]["ShardId"]))
        assert _keys(records) == ["young"]
        for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            serror(
                raw,
                "GetShardIterator",
                {
                    "StreamArn": arn,
                    "ShardId": shards[0]["ShardId"],
                    "ShardIteratorType": kind,
                    "SequenceNumber": old[0]["dynamodb"]["SequenceNumber"],
                },
                "TrimmedDataAccessException",
                TRIMMED,
            )
        # the young record is still there for another 1799 s
        srv.clock.advance(1798)
        assert _keys(drain(raw, shard_iterator(raw, arn, shards[0]["ShardId"]))[0]) == ["young"]
        srv.clock.advance(2)
        assert drain(raw, shard_iterator(raw, arn, shards[0]["ShardId"]))[0] == []
        # the open shard stays, empty, and keeps taking records
        _put(ddb, table, "newest")
        assert _keys(drain(raw, shard_iterator(raw, arn, shards[0]["ShardId"]))[0]) == ["newest"]


def test_trim_horizon_skips_trimmed_records_after_a_day() -> None:
    # default retention (24 h); no rotation by time, so everything stays in one shard
    with virtual(shard_rotation_seconds=0) as (srv, raw, ddb):
        table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        _put(ddb, table, "day1")
        srv.clock.advance(12 * 3600)
        _put(ddb, table, "day1.5")
        shard_id = describe_shards(raw, arn)[0]["ShardId"]
        srv.clock.advance(12 * 3600 - 1)
        assert _keys(drain(raw, shard_iterator(raw, arn, shard_id))[0]) == ["day1", "day1.5"]
        srv.clock.advance(2)  # day1 is 24 h + 1 s old
        assert _keys(drain(raw, shard_iterator(raw, arn, shard_id))[0]) == ["day1.5"]
        start = describe_shards(raw, arn)[0]["SequenceNumberRange"]["StartingSequenceNumber"]
        serror(
            raw,
            "GetShardIterator",
            {
                "StreamArn": arn,
                "ShardId": shard_id,
                "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                "SequenceNumber": start,
            },
            "TrimmedDataAccessException",
            TRIMMED,
        )


def test_unexpired_iterator_into_trimmed_data() -> None:
    with virtual(stream_retention_seconds=600) as (srv, raw, ddb):
        table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        _put(ddb, table, "a")
        shard_id = describe_shards(raw, arn)[0]["ShardId"]
        iterator = shard_iterator(raw, arn, shard_id)
        srv.clock.advance(300)
        _put(ddb, table, "b")
        srv.clock.advance(301)  # "a" is trimmed; the iterator (601 s old) has not expired
        serror(
            raw, "GetRecords", {"ShardIterator": iterator}, "TrimmedDataAccessException", TRIMMED
        )
        assert _keys(drain(raw, shard_iterator(raw, arn, shard_id))[0]) == ["b"]
        # an iterator that stands after the trimmed data still reads on
        latest = shard_iterator(raw, arn, shard_id, "LATEST")
        srv.clock.advance(400)  # "b" is trimmed too, nothing was after the LATEST position
        _put(ddb, table, "c")
        assert _keys(scall(raw, "GetRecords", {"ShardIterator": latest})["Records"]) == ["c"]


def test_disabled_stream_readable_until_retention_ends() -> None:
    with virtual(stream_retention_seconds=3600) as (srv, raw, ddb):
        table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        _put(ddb, table, "a")
        ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
        srv.clock.advance(3599)
        shards = describe_shards(raw, arn)
        assert _keys(drain(raw, shard_iterator(raw, arn, shards[0]["ShardId"]))[0]) == ["a"]
        assert arn in [s["StreamArn"] for s in scall(raw, "ListStreams", {})["Streams"]]
        # past its retention the stream goes away (the background trim deletes it; the
        # admin clock endpoint wakes that task)
        admin(raw, "/_admin/clock", {"advance_seconds": 2})
        deadline = time.monotonic() + 15
        while True:
            response = raw.call("DescribeStream", {"StreamArn": arn}, prefix=STREAMS)
            if response.status == 400:
                assert response.error_type == "ResourceNotFoundException"
                break
            # until then it shows nothing readable
            assert response.json["StreamDescription"]["Shards"] == []
            assert time.monotonic() < deadline, "the expired stream was never deleted"
            time.sleep(0.05)
        assert arn not in [s["StreamArn"] for s in scall(raw, "ListStreams", {})["Streams"]]
        assert scall(raw, "ListStreams", {"TableName": table}) == {"Streams": []}


def test_rotation_by_time() -> None:
    with virtual(shard_rotation_seconds=60) as (srv, raw, ddb):
        table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        _put(ddb, table, "a")
        srv.clock.advance(59)
        _put(ddb, table, "b")
        assert len(describe_shards(raw, arn)) == 1
        srv.clock.advance(1)
        _put(ddb, table, "c")  # the shard is 60 s old: a child opens for this record
        shards = describe_shards(raw, arn)
        assert len(shards) == 2
        assert shards[1]["ParentShardId"] == shards[0]["ShardId"]
        srv.clock.advance(30)
        _put(ddb, table, "d")
        srv.clock.advance(30)
        _put(ddb, table, "e")
        shards = describe_shards(raw, arn)
        assert [s.get("ParentShardId") for s in shards] == [
            None,
            shards[0]["ShardId"],
            shards[1]["ShardId"],
        ]
        per_shard = [_keys(drain(raw, shard_iterator(raw, arn, s["ShardId"]))[0]) for s in shards]
        assert per_shard == [["a", "b"], ["c", "d"], ["e"]]
        # closed shards end at their last record; the child starts after it
        for parent, child in itertools.pairwise(shards):
            end = int(parent["SequenceNumberRange"]["EndingSequenceNumber"])
            assert end < int(child["SequenceNumberRange"]["StartingSequenceNumber"])
