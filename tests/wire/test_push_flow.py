"""Flow control of the push websocket, against a child server process (its memory is
measured with psutil): a subscriber that reads nothing while 100,000 records are written
costs the server a bounded amount of memory and then catches up in order with no gap or
duplicate; a subscriber that stays stalled past ``--ws-stall-timeout`` is closed with
code 4008 and resumes with ``after`` on a new connection."""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import RawClient, make_client
from tests.process import ServerProcess, start_server
from tests.wire.test_push import (
    RECV_TIMEOUT,
    check_frames,
    keys_of,
    open_ws,
    put,
    small_buffer_socket,
    stream_frames,
    subscribed,
)
from tests.wire.test_streams import create_stream_table, read_stream

MiB = 1024 * 1024


def anonymous_rss(process: psutil.Process) -> int:
    """Resident memory that is the process's own (heap, SQLite page caches, buffers):
    RSS minus file-backed and shared pages. The database is memory-mapped (256 MB
    mmap per connection), and pages of it that the kernel keeps resident are the OS page
    cache, shared and reclaimable — counted in plain RSS, but not server buffering."""
    info = process.memory_info()
    return int(info.rss - info.shared)


class PeakSampler:
    """Samples a process's memory every 20 ms in a thread: ``peak`` anonymous RSS and
    ``peak_rss`` (plain RSS) since start."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.peak = anonymous_rss(process)
        self.peak_rss = int(process.memory_info().rss)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.peak = max(self.peak, anonymous_rss(self.process))
        self.peak_rss = max(self.peak_rss, int(self.process.memory_info().rss))

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sample()


def batch_writer(
    endpoint: str, table: str, first: int, stop: int, step: int, payload: int, errors: list[str]
) -> None:
    """BatchWriteItem (25 puts) of keys first, first+step, … on one keep-alive connection;
    each item carries ``payload`` random bytes (incompressible, so permessage-deflate
    cannot shrink the backlog)."""
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.BatchWriteItem",
    }
    try:
        for start in range(first, stop, step):
            requests = [
                {
                    "PutRequest": {
                        "Item": {
                            "pk": {"S": f"k{n:06d}"},
                            "v": {"B": base64.b64encode(os.urandom(payload)).decode()},
                        }
                    }
                }
                for n in range(start, min(start + 25, stop))
            ]
            conn.request("POST", "/", json.dumps({"RequestItems": {table: requests}}), headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200 or json.loads(body)["UnprocessedItems"]:
                errors.append(f"{response.status} {body[:300]!r}")
                return
    except Exception as exc:  # reported by the test
        errors.append(repr(exc))
    finally:
        conn.close()


# ---------------------------------------------------------------- the memory bound

RECORDS = 100_000
PAYLOAD = 300  # random bytes per item: a record frame is ~960 bytes, ~92 MiB in all
WRITERS = 4
# Why these bounds hold by design (anonymous RSS over the baseline taken once the
# subscription is open):
# * push: a stalled subscription holds one page of the log (feed.PAGE = 100 records)
#   and the frame being sent; uvicorn stops the sender once its transport buffer passes
#   the 64 KiB high-water mark; the rest waits in kernel socket buffers, which are not
#   process memory. So the backlog costs well under 1 MiB, however long it grows.
# * SQLite: each connection's page cache is at most 64 MiB (PRAGMA cache_size =
#   -65536); the writer's fills while ~100 MB of rows are written; reads of the log go
#   through mmap (file-backed, not counted) and, on catching up, the reading connection's
#   cache may fill too.
# * slack for the allocator, the interpreter and HTTP request buffers: ~35 MiB.
# While stalled: 64 (writer cache) + 1 + 35 = 100 MiB. Over the whole test, with the
# reader's cache: 150 MiB. A server that queued the unread records instead would need
# the backlog (asserted below to be > 80 MiB) on top of its caches and exceed both.
# (Measured here: +74 MiB while stalled and overall, for a 92 MiB backlog.)
STALLED_BOUND = 100 * MiB
OVERALL_BOUND = 150 * MiB


def test_a_stalled_subscriber_costs_bounded_memory_then_catches_up(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--ws-stall-timeout", "600", "--log-level", "warning")
    try:
        _stalled_then_catch_up(server, tmp_path / "data")
    finally:
        server.terminate()


def _stalled_then_catch_up(server: ServerProcess, data: Path) -> None:
    process = psutil.Process(server.proc.pid)
    ddb = make_client(server.endpoint)
    table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
    assert arn is not None
    # a small fixed receive buffer and a short client-side queue: "reads nothing" really
    # stops the bytes a few KB into the stream (no compression: frame bytes are real)
    sock = small_buffer_socket(server.endpoint, 64 * 1024)
    with open_ws(server.endpoint, sock=sock, max_queue=4, compression=None) as push:
        push.subscribe("slow", table=table, start="TRIM_HORIZON")
        assert push.next_for("slow") == subscribed("slow", arn)
        baseline = anonymous_rss(process)
        baseline_rss = int(process.memory_info().rss)

        with PeakSampler(process) as stalled:
            errors: list[str] = []
            step = 25 * WRITERS
            threads = [
                threading.Thread(
                    target=batch_writer,
                    args=(server.endpoint, table, 25 * w, RECORDS, step, PAYLOAD, errors),
                )
                for w in range(WRITERS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert not errors, errors[:3]
            assert not any(thread.is_alive() for thread in threads)

        with PeakSampler(process) as catching_up:
            numbers: list[int] = []
            keys: list[str] = []
            backlog = 0
            deadline = time.monotonic() + 120
            while len(numbers) < RECORDS:
                assert time.monotonic() < deadline, f"caught up on {len(numbers)} records only"
                text = push.recv_text(RECV_TIMEOUT)
                backlog += len(text.encode())
                frame = json.loads(text)
                assert frame["type"] == "record" and frame["id"] == "slow", text[:300]
                numbers.append(int(frame["record"]["dynamodb"]["SequenceNumber"]))
                keys.append(frame["record"]["dynamodb"]["Keys"]["pk"]["S"])
            # caught up, it is a live subscriber again
            put(ddb, table, "after-the-backlog")
            assert keys_of([push.next_for("slow")]) == ["after-the-backlog"]

    # in order, no gap, no duplicate: one stream counter, one shard, every write once
    assert numbers == list(range(numbers[0], numbers[0] + RECORDS))
    assert sorted(keys) == [f"k{n:06d}" for n in range(RECORDS)]
    first_records = read_stream_head(server, arn, 1000)
    assert [int(r["dynamodb"]["SequenceNumber"]) for r in first_records] == numbers[:1000]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in first_records] == keys[:1000]

    assert backlog > 80 * MiB, "the test did not park enough unread data to be meaningful"
    stalled_growth = stalled.peak - baseline
    overall_growth = max(stalled.peak, catching_up.peak) - baseline
    rss_growth = max(stalled.peak_rss, catching_up.peak_rss) - baseline_rss
    database = sum(f.stat().st_size for f in data.iterdir() if f.is_file())
    report = (
        f"anonymous: baseline {baseline / MiB:.1f} MiB, stalled peak +{stalled_growth / MiB:.1f}"
        f" MiB, overall peak +{overall_growth / MiB:.1f} MiB; RSS peak +{rss_growth / MiB:.1f}"
        f" MiB; database files {database / MiB:.1f} MiB; backlog {backlog / MiB:.1f} MiB"
    )
    assert stalled_growth < STALLED_BOUND, report
    assert overall_growth < OVERALL_BOUND, report
    # (plain RSS also counts the resident pages of the database as mapped by each
    # connection — up to a few times the database size, reported above, not asserted)


def read_stream_head(server: ServerProcess, arn: str, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` records of the (single-shard) stream through GetRecords."""
    raw = RawClient(server.endpoint)
    shards = json.loads(
        raw.call("DescribeStream", {"StreamArn": arn}, prefix="DynamoDBStreams_20120810").body
    )["StreamDescription"]["Shards"]
    assert len(shards) == 1
    iterator = json.loads(
        raw.call(
            "GetShardIterator",
            {
                "StreamArn": arn,
                "ShardId": shards[0]["ShardId"],
                "ShardIteratorType": "TRIM_HORIZON",
            },
            prefix="DynamoDBStreams_20120810",
        ).body
    )["ShardIterator"]
    page = json.loads(
        raw.call(
            "GetRecords",
            {"ShardIterator": iterator, "Limit": limit},
            prefix="DynamoDBStreams_20120810",
        ).body
    )
    records: list[dict[str, Any]] = page["Records"]
    assert len(records) == limit
    return records


# ------------------------------------------------------------------- stall timeout


def test_a_client_stalled_past_the_timeout_is_closed_with_4008(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--ws-stall-timeout", "1")
    try:
        ddb, raw = make_client(server.endpoint), RawClient(server.endpoint)
        table, arn = create_stream_table(ddb, "NEW_IMAGE", range_key=None)
        assert arn is not None
        sock = small_buffer_socket(server.endpoint, 16 * 1024)
        with open_ws(server.endpoint, sock=sock, max_queue=1) as push:
            push.subscribe("s", table=table, start="TRIM_HORIZON")
            assert push.next_for("s") == subscribed("s", arn)
            # ~18 MB of incompressible records: far more than the socket buffers hold
            for i in range(60):
                value = base64.b64encode(os.urandom(225_000)).decode()
                ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i:02d}"}, "v": {"S": value}})
            # the server gives up on the client after 1 s without progress; wait for it
            # (its log says so) before reading anything
            deadline = time.monotonic() + 30
            while "push client stalled" not in server.log():
                assert time.monotonic() < deadline, server.log()[-2000:]
                assert server.proc.poll() is None
                time.sleep(0.05)
            # reading now drains what was already on its way, then the close frame
            texts: list[str] = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    texts.append(push.recv_text(RECV_TIMEOUT))
            assert closed.value.rcvd is not None, "closed without a close frame"
            assert closed.value.rcvd.code == 4008
        expected = stream_frames(raw, arn, "s")
        assert len(expected) == 60
        assert 0 < len(texts) < 60
        check_frames(texts, expected[: len(texts)])
        last = json.loads(texts[-1])["record"]["dynamodb"]["SequenceNumber"]

        # the server is fine, and a reading client resumes exactly where it was closed
        with open_ws(server.endpoint) as push:
            push.subscribe("s", table=table, start={"after": last})
            assert push.next_for("s") == subscribed("s", arn)
            rest = stream_frames(raw, arn, "s", after=last)
            check_frames(push.texts_for("s", len(rest)), rest)
            assert len(texts) + len(rest) == len(read_stream(raw, arn)) == 60
    finally:
        server.terminate()
