"""Sidecar readers against an upstream whose iterators expire and whose records age
out: the upstream is a ``serve --clock virtual`` process moved forward through its
admin API, so GetRecords answers ExpiredIteratorException and
TrimmedDataAccessException for real.

* an expired NextShardIterator is renewed from the reader's position: the websocket
  subscriber and the trigger get the records after it once each, nothing lost;
* a subscriber whose position fell behind the upstream's retention gets a
  ``trimmed`` message, then the records still kept;
* a stream with more shards than one DescribeStream page is read to its newest shard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import RawClient, make_client
from tests.polling import wait_until
from tests.process import Processes, assert_clean_log
from tests.triggers_fixtures.support import echo_command, read_deliveries
from tests.wire.test_push import check_frames, open_ws, stream_frames, subscribed
from tests.wire.test_sidecar import delivered_seqs, put, seqs
from tests.wire.test_streams import admin, create_stream_table, read_stream, scall


def advance(raw: RawClient, seconds: float) -> None:
    admin(raw, "/_admin/clock", {"advance_seconds": seconds})


def metric(raw: RawClient, name: str, **labels: str) -> float:
    """A counter of the upstream's Prometheus page (0 before it first moves)."""
    response = raw.request(b"", None, method="GET", path="/_admin/metrics")
    assert response.status == 200
    for line in response.body.decode().splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_expired_upstream_iterators_are_renewed_without_loss(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with Processes(tmp_path) as procs:
        up = procs.upstream("--clock", "virtual")
        ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
        table, arn = create_stream_table(ddb, range_key=None)
        assert arn is not None
        side = procs.sidecar(up.endpoint, "--function", f"rec={echo_command(out)}")
        lam = make_client(side.endpoint, "lambda")
        lam.create_event_source_mapping(
            FunctionName="rec", EventSourceArn=arn, StartingPosition="TRIM_HORIZON"
        )
        with open_ws(side.endpoint) as push:
            push.subscribe("s", table=table, start="TRIM_HORIZON")
            assert push.next_for("s") == subscribed("s", arn)
            for i in range(3):
                put(ddb, table, f"a{i}")
            received = push.texts_for("s", 3)
            wait_until(lambda: len(read_deliveries(out)) == 3, what="3 deliveries")

            before = metric(
                raw,
                "dynoxide_requests_total",
                operation="DynamoDBStreams_20120810.GetRecords",
                error="ExpiredIteratorException",
            )
            advance(raw, 16 * 60)  # every iterator the sidecar holds is now expired
            for i in range(3):
                put(ddb, table, f"b{i}")
            received += push.texts_for("s", 3)
            stream = seqs(read_stream(raw, arn))
            wait_until(lambda: delivered_seqs(out) == stream, what="6 deliveries, in order")
            check_frames(received, stream_frames(raw, arn, "s"))
            put(ddb, table, "c0")  # nothing else came in between: the next is c0
            frame: dict[str, Any] = push.next_for("s")
            assert frame["record"]["dynamodb"]["Keys"]["pk"]["S"] == "c0"
        after = metric(
            raw,
            "dynoxide_requests_total",
            operation="DynamoDBStreams_20120810.GetRecords",
            error="ExpiredIteratorException",
        )
        assert after > before  # the sidecar did meet expired iterators
        wait_until(lambda: len(read_deliveries(out)) == 7, what="the 7th delivery")
        assert delivered_seqs(out) == seqs(read_stream(raw, arn))
        assert_clean_log(side)


def test_a_subscriber_behind_the_upstream_retention_is_told_trimmed(tmp_path: Path) -> None:
    with Processes(tmp_path) as procs:
        up = procs.upstream("--clock", "virtual", "--stream-retention-seconds", "3600")
        ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
        table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        put(ddb, table, "old0")
        put(ddb, table, "old1")
        old = read_stream(raw, arn)
        advance(raw, 3601)
        put(ddb, table, "young")
        side = procs.sidecar(up.endpoint)
        with open_ws(side.endpoint) as push:
            # old1 aged out after old0: the subscriber is told, then reads on
            push.subscribe(
                "behind", table=table, start={"after": old[0]["dynamodb"]["SequenceNumber"]}
            )
            assert push.next_for("behind") == subscribed("behind", arn)
            trimmed = push.next_for("behind")
            assert set(trimmed) == {"type", "id", "streamArn", "message"}
            assert (trimmed["type"], trimmed["id"], trimmed["streamArn"]) == (
                "trimmed",
                "behind",
                arn,
            )
            assert isinstance(trimmed["message"], str) and trimmed["message"]
            check_frames(push.texts_for("behind", 1), stream_frames(raw, arn, "behind"))
            # TRIM_HORIZON starts at the oldest record the upstream still keeps
            push.subscribe("horizon", table=table, start="TRIM_HORIZON")
            assert push.next_for("horizon") == subscribed("horizon", arn)
            check_frames(push.texts_for("horizon", 1), stream_frames(raw, arn, "horizon"))
            put(ddb, table, "next")
            for sid in ("behind", "horizon"):
                assert push.next_for(sid)["record"]["dynamodb"]["Keys"]["pk"]["S"] == "next"
        assert_clean_log(side)


def test_a_stream_of_more_shards_than_one_describe_page_is_followed_to_the_end(
    tmp_path: Path,
) -> None:
    """A shard per record: 130 shards, so DescribeStream answers in pages of 100 and
    the sidecar must follow LastEvaluatedShardId to reach the newest ones."""
    out = tmp_path / "out.jsonl"
    with Processes(tmp_path) as procs:
        up = procs.upstream("--shard-rotation-records", "1")
        ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
        table, arn = create_stream_table(ddb, range_key=None)
        assert arn is not None
        for i in range(130):
            put(ddb, table, f"k{i:03d}")
        first_page = scall(raw, "DescribeStream", {"StreamArn": arn})["StreamDescription"]
        assert len(first_page["Shards"]) == 100 and "LastEvaluatedShardId" in first_page
        side = procs.sidecar(up.endpoint, "--function", f"rec={echo_command(out)}")
        make_client(side.endpoint, "lambda").create_event_source_mapping(
            FunctionName="rec", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=50
        )
        stream = seqs(read_stream(raw, arn))
        assert len(stream) == 130
        expected = stream_frames(raw, arn, "s")  # records and a shard_end after each
        with open_ws(side.endpoint) as push:
            push.subscribe("s", table=table, start="TRIM_HORIZON")
            assert push.next_for("s") == subscribed("s", arn)
            check_frames(push.texts_for("s", len(expected)), expected)
            wait_until(lambda: delivered_seqs(out) == stream, timeout=30, what="130 deliveries")
        assert_clean_log(side)
