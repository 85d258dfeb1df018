"""A full disk refuses writes with a DynamoDB-shaped 500 and kills nothing: reads go on,
checkpoints are retried, writes resume once space is back, and a refused write leaves
no trace in the table, its index or its stream.

Tested twice: with SQLite's ``SQLITE_FULL`` injected at the store boundary
(``Server.inject_disk_full``), and for real, on a 40 MB tmpfs filled by a file.
"""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog
from botocore.config import Config
from botocore.exceptions import ClientError

from dynoxide_streams import Server
from dynoxide_streams.errors import DISK_FULL_MESSAGE
from tests.conftest import RawClient, make_client
from tests.polling import wait_until
from tests.process import ServerProcess, assert_running, start_server, wait_log
from tests.wire.test_metrics import scrape
from tests.wire.test_streams import read_stream, seq

DISK_FULL_BODY = {
    "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
    "message": DISK_FULL_MESSAGE,
}
INDEX = "by_g"


# ------------------------------------------------------------------------ helpers


def client(endpoint: str) -> Any:
    """A boto3 DynamoDB client that makes exactly one attempt per call: every SDK
    retries a 500, which would hide what the server answered."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


def create_indexed_stream_table(ddb: Any, name: str) -> str:
    """A table (hash ``pk`` S) with GSI ``by_g`` on ``g`` (S, ALL) and a
    NEW_AND_OLD_IMAGES stream; returns the stream ARN."""
    description = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": INDEX,
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    arn: str = description["LatestStreamArn"]
    return arn


def _scan(ddb: Any, **params: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in ddb.get_paginator("scan").paginate(**params):
        for item in page["Items"]:
            assert item["pk"]["S"] not in found
            found[item["pk"]["S"]] = item
    return found


def replay(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The table a stream's records describe, applied in order from empty."""
    state: dict[str, dict[str, Any]] = {}
    for record in records:
        body = record["dynamodb"]
        key = body["Keys"]["pk"]["S"]
        if record["eventName"] == "REMOVE":
            assert key in state, key
            del state[key]
        else:
            assert body.get("OldImage") == state.get(key), key
            state[key] = body["NewImage"]
    return state


def assert_consistent(ddb: Any, raw: RawClient, table: str, arn: str) -> dict[str, Any]:
    """The GSI holds exactly the table's items that have ``g``, replaying the stream
    gives the table, and DescribeTable's counts are exact; returns the table's items."""
    items = _scan(ddb, TableName=table, ConsistentRead=True)
    indexed = _scan(ddb, TableName=table, IndexName=INDEX)
    assert indexed == {k: v for k, v in items.items() if "g" in v}
    records = read_stream(raw, arn)
    numbers = [seq(r) for r in records]
    assert numbers == sorted(set(numbers))
    assert replay(records) == items
    description = ddb.describe_table(TableName=table)["Table"]
    assert description["ItemCount"] == len(items)
    assert description["GlobalSecondaryIndexes"][0]["ItemCount"] == len(indexed)
    return items


def _item(key: str, g: str | None = "g0", **more: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": key}, **more}
    if g is not None:
        item["g"] = {"S": g}
    return item


def every_write(table: str, tag: str) -> list[tuple[str, dict[str, Any]]]:
    """One request of each write operation (and CreateTable), against keys a0..a4."""
    return [
        ("PutItem", {"TableName": table, "Item": _item(f"{tag}-new", "g1")}),
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": {"pk": {"S": "a0"}},
                "UpdateExpression": "SET g = :g ADD n :one",
                "ExpressionAttributeValues": {":g": {"S": tag}, ":one": {"N": "1"}},
            },
        ),
        ("DeleteItem", {"TableName": table, "Key": {"pk": {"S": "a1"}}}),
        (
            "BatchWriteItem",
            {
                "RequestItems": {
                    table: [
                        {"PutRequest": {"Item": _item(f"{tag}-batch", "g2")}},
                        {"DeleteRequest": {"Key": {"pk": {"S": "a2"}}}},
                    ]
                }
            },
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": table, "Item": _item(f"{tag}-tx", "g3")}},
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"pk": {"S": "a3"}},
                            "UpdateExpression": "REMOVE g",
                        }
                    },
                    {"Delete": {"TableName": table, "Key": {"pk": {"S": "a4"}}}},
                ]
            },
        ),
        (
            "CreateTable",
            {
                "TableName": f"{table}-{tag}",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        ),
    ]


def assert_reads_answer(ddb: Any, raw: RawClient, table: str, arn: str) -> None:
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "a0"}}, ConsistentRead=True)["Item"]
    ddb.query(
        TableName=table,
        IndexName=INDEX,
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "g0"}},
    )
    assert read_stream(raw, arn)


class HealthyReader:
    """A client doing GetItem in a loop on its own thread, counting what it sees."""

    def __init__(self, endpoint: str, table: str) -> None:
        self._client = client(endpoint)
        self._table = table
        self._stop = threading.Event()
        self.ok = 0
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 120  # stops by itself whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self._client.get_item(TableName=self._table, Key={"pk": {"S": "a0"}})
                self.ok += 1
            except Exception as exc:
                self.errors.append(repr(exc))

    def __enter__(self) -> HealthyReader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def assert_healthy(self) -> None:
        total = self.ok + len(self.errors)
        assert total >= 50, total
        assert len(self.errors) < total / 100, self.errors[:5]


# ------------------------------------------------------------------- injected


def test_injected_disk_full_refuses_each_write_whole_and_resumes() -> None:
    with Server().run_in_thread() as srv:
        ddb, raw = make_client(srv.endpoint), RawClient(srv.endpoint)
        arn = create_indexed_stream_table(ddb, "full")
        for i in range(5):
            ddb.put_item(TableName="full", Item=_item(f"a{i}", n={"N": "0"}))
        before = assert_consistent(ddb, raw, "full", arn)
        tables = ddb.list_tables()["TableNames"]

        with (
            structlog.testing.capture_logs() as logs,
            HealthyReader(srv.endpoint, "full") as reader,
        ):
            for operation, params in every_write("full", "refused"):
                srv.inject_disk_full(commits=1)
                answer = raw.call(operation, params)
                assert (answer.status, answer.json) == (500, DISK_FULL_BODY), operation
                assert_reads_answer(ddb, raw, "full", arn)
                # nothing of it: not in the table, the index, the stream or the counters
                assert assert_consistent(ddb, raw, "full", arn) == before, operation
                assert ddb.list_tables()["TableNames"] == tables
            assert scrape(srv.endpoint).value("dynoxide_disk_full") == 1
            # the same writes go through once commits work again, with no restart
            for operation, params in every_write("full", "taken"):
                answer = raw.call(operation, params)
                assert answer.status == 200, (operation, answer.json)
            after = assert_consistent(ddb, raw, "full", arn)
            numbers = [seq(r) for r in read_stream(raw, arn)]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # no gap
            assert "taken-new" in after and "a1" not in after and "a4" not in after
            assert after["a0"]["g"] == {"S": "taken"} and "g" not in after["a3"]
            assert "full-taken" in ddb.list_tables()["TableNames"]
            wait_until(lambda: scrape(srv.endpoint).value("dynoxide_disk_full") == 0, 10)

            # a checkpoint that fails is retried with back-off, not fatal
            faults = srv.inject_disk_full(checkpoints=3)
            ddb.put_item(TableName="full", Item=_item("after-checkpoints"))
            wait_until(lambda: faults.pending("checkpoint") == 0, 30, what="3 checkpoint tries")
            ddb.put_item(TableName="full", Item=_item("still-writing"))
            metrics = wait_until(
                lambda: (m := scrape(srv.endpoint)).value("dynoxide_disk_full") == 0 and m,
                30,
                what="the episode to end",
            )
            assert metrics.value("dynoxide_checkpoint_failures_total") == 3
            final = assert_consistent(ddb, raw, "full", arn)
            assert {"after-checkpoints", "still-writing"} <= final.keys()
        reader.assert_healthy()
        # one ERROR line per episode: 6 refused commits, then 3 failed checkpoints
        errors = [e for e in logs if e["log_level"] == "error"]
        assert [e["event"] for e in errors] == [
            "disk full: writes are refused and checkpoints retried until space is freed"
        ] * 2, errors
        assert [e["failed"] for e in errors] == ["commit", "checkpoint"]


def test_a_refused_commit_in_a_group_publishes_nothing_of_the_group() -> None:
    """Concurrent writers share one group commit: when it fails, every one of them is
    refused, and the next group starts from the committed state (counters, stream)."""
    with Server().run_in_thread() as srv:
        ddb, raw = make_client(srv.endpoint), RawClient(srv.endpoint)
        arn = create_indexed_stream_table(ddb, "group")
        before = assert_consistent(ddb, raw, "group", arn)
        srv.inject_disk_full(commits=1)
        outcomes: dict[str, str] = {}

        def put(key: str) -> None:
            try:
                client(srv.endpoint).put_item(TableName="group", Item=_item(key))
                outcomes[key] = "ok"
            except ClientError as exc:
                outcomes[key] = exc.response["Error"]["Message"]

        threads = [threading.Thread(target=put, args=(f"p{n}",)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(outcomes) == 16
        assert DISK_FULL_MESSAGE in outcomes.values(), outcomes
        assert set(outcomes.values()) <= {"ok", DISK_FULL_MESSAGE}, outcomes
        taken = {key for key, outcome in outcomes.items() if outcome == "ok"}
        assert assert_consistent(ddb, raw, "group", arn).keys() == before.keys() | taken
        ddb.put_item(TableName="group", Item=_item("next"))
        assert assert_consistent(ddb, raw, "group", arn).keys() == taken | {"next"}


def test_a_trigger_checkpoint_that_meets_a_full_disk_delivers_again_quietly() -> None:
    """A trigger's checkpoint write refused for a full disk restarts its pollers from
    the last checkpoint (the batch comes again: at least once) without an ERROR line
    of its own: the Writer's one line is the episode's."""
    srv = Server()
    calls: list[list[str]] = []
    release = threading.Event()

    def on_change(event: dict[str, Any], context: Any) -> None:
        calls.append([r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]])
        release.wait(10)

    srv.add_trigger("trig", on_change, batch_size=10)
    with srv.run_in_thread():
        ddb = make_client(srv.endpoint)
        with structlog.testing.capture_logs() as logs:
            create_indexed_stream_table(ddb, "trig")
            ddb.put_item(TableName="trig", Item=_item("k"))
            wait_until(lambda: calls, 15, what="the first invocation")
            faults = srv.inject_disk_full(commits=1)
            release.set()  # the handler returns; its checkpoint meets the full disk
            wait_until(lambda: len(calls) >= 2, 30, what="the batch delivered again")
            assert faults.pending("commit") == 0
            assert calls[:2] == [["k"], ["k"]]
        errors = [e["event"] for e in logs if e["log_level"] == "error"]
        assert errors == [
            "disk full: writes are refused and checkpoints retried until space is freed"
        ]


# ------------------------------------------------------------------ real tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 MB tmpfs mounted at ``tmp_path/data`` (the server's log stays outside it)."""
    mount_point = tmp_path / "data"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"this test needs root and `mount -t tmpfs` (refused: {done.stderr.strip()}); "
            "it cannot run in this environment"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(path: Path) -> None:
    """Write ``path`` until the filesystem has no space left."""
    chunk = b"\0" * (1 << 20)
    with path.open("wb", buffering=0) as filler:
        while True:
            try:
                filler.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    with path.open("ab", buffering=0) as filler:  # the last partial megabyte
        while True:
            try:
                filler.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return


def _error_lines(server: ServerProcess) -> list[str]:
    return [line for line in server.log().splitlines() if "[error" in line]


def test_a_full_tmpfs_refuses_writes_keeps_reads_and_recovers(small_disk: Path) -> None:
    server = start_server(small_disk, "--log-level", "debug")
    try:
        ddb, raw = client(server.endpoint), RawClient(server.endpoint)
        arn = create_indexed_stream_table(ddb, "full")
        for i in range(5):
            ddb.put_item(TableName="full", Item=_item(f"a{i}", n={"N": "0"}))
        acked = set(assert_consistent(ddb, raw, "full", arn))
        refused: set[str] = set()
        payload = {"S": "x" * 3000}
        with HealthyReader(server.endpoint, "full") as reader:
            _fill(small_disk / "filler")
            # writes go on while the WAL has room it already holds, then fail
            for i in range(20000):
                key = f"k{i}"
                try:
                    ddb.put_item(TableName="full", Item=_item(key, f"g{i % 4}", p=payload))
                except ClientError as exc:
                    error = exc.response["Error"]
                    status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
                    assert (error["Code"], status, error["Message"]) == (
                        "InternalServerError",
                        500,
                        DISK_FULL_MESSAGE,
                    )
                    refused.add(key)
                    break
                acked.add(key)
            assert refused, "the disk never filled"
            # while full: every write operation is refused with the same answer
            for operation, params in every_write("full", "refused"):
                answer = raw.call(operation, params)
                assert (answer.status, answer.json) == (500, DISK_FULL_BODY), operation
            refused |= {"refused-new", "refused-batch", "refused-tx"}
            assert_reads_answer(ddb, raw, "full", arn)
            # a checkpoint runs (idle, every second) and fails: retried, not fatal
            wait_log(server, "disk still full", "failed=checkpoint", timeout=30)
            assert_running(server)
            assert scrape(server.endpoint).value("dynoxide_disk_full") == 1
            assert scrape(server.endpoint).value("dynoxide_checkpoint_failures_total") >= 1

            (small_disk / "filler").unlink()
            for i in range(50):
                key = f"back{i}"
                ddb.put_item(TableName="full", Item=_item(key, "g1", p=payload))
                acked.add(key)
            wait_log(server, "disk space available again", timeout=30)
        reader.assert_healthy()
        assert_running(server)
        errors = _error_lines(server)
        assert len(errors) == 1 and "disk full" in errors[0], errors
        assert "Traceback" not in server.log()

        items = assert_consistent(ddb, raw, "full", arn)
        assert acked <= items.keys()
        assert not refused & items.keys()
        assert items["a0"].get("g") == {"S": "g0"} and "a1" in items and "a4" in items
        assert "full-refused" not in ddb.list_tables()["TableNames"]
    finally:
        code = server.terminate() if server.proc.poll() is None else server.proc.returncode
    assert code == 0, server.log()[-4000:]
    conn = sqlite3.connect(small_disk / "data.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
