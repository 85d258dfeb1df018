"""Shared upstream reads of the sidecar's change source, against a real server on a
loopback port as the upstream (its GetRecords answers counted on its metrics page).

* readers asking for the same position at once cost one GetRecords;
* a reader whose limit cuts a page is served the rest of it from memory next time;
* an empty page (the tail) is reused for one poll interval, then fetched again —
  so any number of readers at the tail cost about 4 GetRecords a second per shard,
  under DynamoDB Streams' limit of 5.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import orjson
import pytest

from dynoxide_streams.server import Server
from dynoxide_streams.sidecar.source import BEFORE_ALL, UpstreamChangeSource
from dynoxide_streams.sidecar.upstream import Upstream
from tests.conftest import RawClient, make_client
from tests.wire.test_sidecar import unique
from tests.wire.test_sidecar_iterators import metric
from tests.wire.test_streams import create_stream_table, read_stream

GET_RECORDS = {"operation": "DynamoDBStreams_20120810.GetRecords", "error": ""}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with Server().run_in_thread() as srv:
        yield srv.endpoint


def source(endpoint: str, poll_seconds: float) -> UpstreamChangeSource:
    client = Upstream(endpoint, "us-east-1", credentials=("test", "test", None))
    return UpstreamChangeSource(client, tables=None, poll_seconds=poll_seconds)


def stream_with(endpoint: str, count: int) -> tuple[str, list[str]]:
    """A table with ``count`` records in its stream; (stream ARN, sequence numbers)."""
    ddb = make_client(endpoint)
    table, arn = create_stream_table(ddb, range_key=None, name=unique("reads"))
    assert arn is not None
    for i in range(count):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i:02d}"}})
    seqs = [r["dynamodb"]["SequenceNumber"] for r in read_stream(RawClient(endpoint), arn)]
    assert len(seqs) == count
    return arn, seqs


def get_records_answered(endpoint: str) -> float:
    return metric(RawClient(endpoint), "dynoxide_requests_total", **GET_RECORDS)


def test_readers_of_one_position_share_one_get_records(upstream: str) -> None:
    arn, seqs = stream_with(upstream, 10)

    async def main() -> None:
        src = source(upstream, poll_seconds=60.0)
        shard = (await src.describe_shards(arn))[0].shard_id
        before = get_records_answered(upstream)
        results: list[list[str]] = []

        async def reader() -> None:
            result = await src.read(arn, shard, BEFORE_ALL, 1000)
            assert result is not None
            results.append([orjson.loads(r)["dynamodb"]["SequenceNumber"] for r in result.records])

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(reader)
        assert results == [seqs] * 6
        assert src.fetches == 1
        assert get_records_answered(upstream) - before == 1
        await src.upstream.aclose()

    anyio.run(main)


def test_a_page_cut_by_a_small_limit_serves_the_next_reads(upstream: str) -> None:
    arn, seqs = stream_with(upstream, 10)

    async def main() -> None:
        src = source(upstream, poll_seconds=60.0)
        shard = (await src.describe_shards(arn))[0].shard_id
        position, got = BEFORE_ALL, []
        for _ in range(4):  # 3 + 3 + 3 + 1 records
            result = await src.read(arn, shard, position, 3)
            assert result is not None and not result.shard_closed
            got += [orjson.loads(r)["dynamodb"]["SequenceNumber"] for r in result.records]
            position = result.position
        assert got == seqs
        assert position == seqs[-1]
        assert src.fetches == 1  # the rest of the first page served the other reads
        await src.upstream.aclose()

    anyio.run(main)


def test_an_empty_tail_page_is_reused_for_one_poll_interval_only(upstream: str) -> None:
    arn, seqs = stream_with(upstream, 2)

    async def main() -> None:
        for poll_seconds, fetches in ((60.0, 1), (0.0, 5)):
            src = source(upstream, poll_seconds=poll_seconds)
            shard = (await src.describe_shards(arn))[0].shard_id
            for _ in range(5):  # five readers polling the tail one after another
                result = await src.read(arn, shard, seqs[-1], 1000)
                assert result is not None
                assert (result.records, result.position) == ([], seqs[-1])
            assert src.fetches == fetches, poll_seconds
            await src.upstream.aclose()

    anyio.run(main)
