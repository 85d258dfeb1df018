"""Triggers across crashes, restarts, time and resharding: a mapping resumes after its
stored checkpoint (at-least-once, never a skipped record; no duplicate after a graceful
stop), and neither a 20-minute jump of the clock (shard iterators expire after 15) nor a
shard rotation in the middle of the stream stops or reorders delivery."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from pathlib import Path
from typing import Any

from dynoxide_streams import Server
from tests.conftest import RawClient, make_client
from tests.polling import wait_until
from tests.process import ServerProcess, start_server
from tests.triggers_fixtures.support import echo_command, read_deliveries
from tests.wire.test_streams import (
    STREAMS,
    admin,
    create_stream_table,
    describe_shards,
    read_stream,
    shard_iterator,
)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def put(ddb: Any, table: str, key: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": key}})


def trigger_file(tmp_path: Path, table: str, out: Path, batch_size: int = 10) -> Path:
    path = tmp_path / "triggers.toml"
    command = json.dumps(echo_command(out))  # a JSON string is a valid TOML basic string
    path.write_text(
        f"[functions]\nrec = {command}\n\n"
        f'[[trigger]]\ntable = "{table}"\nfunction = "rec"\nbatch_size = {batch_size}\n'
    )
    return path


def stop_all(*servers: ServerProcess | None) -> None:
    for server in servers:
        if server is not None and server.proc.poll() is None:
            server.kill9()


def delivered_keys(out: Path) -> set[str]:
    return {line["key"] for line in read_deliveries(out)}


def test_kill9_mid_stream_redelivers_from_the_checkpoint_and_skips_nothing(
    tmp_path: Path,
) -> None:
    out, data, table = tmp_path / "out.jsonl", tmp_path / "data", unique("Orders")
    flags = ("--triggers", str(trigger_file(tmp_path, table, out, batch_size=10)))
    first: ServerProcess | None = None
    second: ServerProcess | None = None
    try:
        first = start_server(data, *flags)
        _, arn = create_stream_table(make_client(first.endpoint), range_key=None, name=table)
        acked: list[str] = []

        def write(endpoint: str) -> None:
            client = make_client(endpoint)
            for i in range(300):
                try:
                    put(client, table, f"a{i:03d}")
                except Exception:  # the server was killed: this write is not acknowledged
                    return
                acked.append(f"a{i:03d}")

        writer = threading.Thread(target=write, args=(first.endpoint,))
        writer.start()
        wait_until(
            lambda: 30 <= len(read_deliveries(out)) < len(acked),
            what="delivery under way, behind the writer",
        )
        first.kill9()
        writer.join(timeout=30)
        assert not writer.is_alive()
        assert acked, "nothing was written before the crash"

        second = start_server(data, *flags)
        ddb = make_client(second.endpoint)
        for i in range(100):
            put(ddb, table, f"b{i:03d}")
            acked.append(f"b{i:03d}")
        wait_until(lambda: set(acked) <= delivered_keys(out), timeout=30, what="every key")
        stream = read_stream(RawClient(second.endpoint), arn)
        restarted_pid = second.proc.pid
        log = first.log() + second.log()
    finally:
        stop_all(first, second)

    lines = read_deliveries(out)
    before = [int(line["seq"]) for line in lines if line["ppid"] != restarted_pid]
    after = [int(line["seq"]) for line in lines if line["ppid"] == restarted_pid]
    stream_seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in stream]
    # nothing skipped: every record of the stream (acknowledged or not) was delivered
    assert set(before) | set(after) == set(stream_seqs), log
    assert set(acked) <= delivered_keys(out)
    # each server delivered in order, without repeating itself
    assert before == sorted(set(before)) and after == sorted(set(after))
    # the restart re-delivered at most the batch in flight: a tail of what came before
    duplicates = set(before) & set(after)
    assert duplicates == {seq for seq in before if seq >= after[0]}
    assert len(duplicates) <= 20
    assert after == [seq for seq in stream_seqs if seq >= after[0]]
    # the whole file: in order except for one step back at the restart boundary
    seqs = [int(line["seq"]) for line in lines]
    assert sum(1 for x, y in itertools.pairwise(seqs) if y < x) <= 1


def test_sigterm_restart_delivers_everything_exactly_once(tmp_path: Path) -> None:
    out, data, table = tmp_path / "out.jsonl", tmp_path / "data", unique("Orders")
    flags = ("--triggers", str(trigger_file(tmp_path, table, out, batch_size=10)))
    first: ServerProcess | None = None
    second: ServerProcess | None = None
    keys = [f"a{i:03d}" for i in range(60)] + [f"b{i:03d}" for i in range(40)]
    try:
        first = start_server(data, *flags)
        ddb = make_client(first.endpoint)
        _, arn = create_stream_table(ddb, range_key=None, name=table)
        for key in keys[:60]:
            put(ddb, table, key)
        wait_until(lambda: len(read_deliveries(out)) >= 60, what="the first 60 records")
        assert first.terminate() == 0

        second = start_server(data, *flags)
        ddb = make_client(second.endpoint)
        for key in keys[60:]:
            put(ddb, table, key)
        wait_until(lambda: set(keys) <= delivered_keys(out), timeout=30, what="every key")
        stream = read_stream(RawClient(second.endpoint), arn)
        first_pid, second_pid = first.proc.pid, second.proc.pid
        log = first.log() + second.log()
    finally:
        stop_all(first, second)

    lines = read_deliveries(out)
    assert [line["key"] for line in lines] == keys, log
    assert [line["seq"] for line in lines] == [r["dynamodb"]["SequenceNumber"] for r in stream]
    assert [line["ppid"] for line in lines] == [first_pid] * 60 + [second_pid] * 40


def _collector() -> tuple[list[str], Any]:
    got: list[str] = []
    lock = threading.Lock()

    def on_change(event: dict[str, Any], context: Any) -> None:
        with lock:
            got.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

    return got, on_change


def test_clock_jump_past_iterator_expiry_does_not_stop_the_mapping() -> None:
    with Server(clock="virtual").run_in_thread() as srv:
        ddb, raw, lam = (
            make_client(srv.endpoint),
            RawClient(srv.endpoint),
            make_client(srv.endpoint, "lambda"),
        )
        table, arn = create_stream_table(ddb, range_key=None)
        got, on_change = _collector()
        srv.add_trigger(table, on_change, batch_size=10)
        put(ddb, table, "k0")
        wait_until(lambda: got == ["k0"], what="k0")
        [shard] = describe_shards(raw, arn)
        for step in range(1, 3):
            iterator = shard_iterator(raw, arn, shard["ShardId"])
            admin(raw, "/_admin/clock", {"advance_seconds": 1200})
            # the 15-minute horizon really was crossed: an iterator from before is expired
            expired = raw.call("GetRecords", {"ShardIterator": iterator}, prefix=STREAMS)
            assert (expired.status, expired.error_type) == (400, "ExpiredIteratorException")
            put(ddb, table, f"k{step}")
            wait_until(lambda step=step: len(got) > step, what=f"k{step}")
        [esm] = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    assert got == ["k0", "k1", "k2"]
    assert esm["State"] == "Enabled"
    assert esm["LastProcessingResult"] == "OK"


def test_shard_rotation_mid_stream_keeps_delivering_in_order() -> None:
    with Server().run_in_thread() as srv:
        ddb, raw = make_client(srv.endpoint), RawClient(srv.endpoint)
        table, arn = create_stream_table(ddb, range_key=None)
        got: list[str] = []
        batches: list[int] = []
        gate, started = threading.Event(), threading.Event()

        def on_change(event: dict[str, Any], context: Any) -> None:
            started.set()
            assert gate.wait(10)
            batches.append(len(event["Records"]))
            got.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

        srv.add_trigger(table, on_change, batch_size=3, timeout=15)
        written = [f"c{i}" for i in range(5)]
        for key in written:
            put(ddb, table, key)
        assert started.wait(10)  # the first batch is in the handler, the rest waits
        admin(raw, "/_admin/streams/rotate", {"table": table})
        for key in (more := [f"d{i}" for i in range(5)]):
            put(ddb, table, key)
        admin(raw, "/_admin/streams/rotate", {"table": table})
        for key in (last := [f"e{i}" for i in range(3)]):
            put(ddb, table, key)
        written += more + last
        gate.set()
        wait_until(lambda: len(got) >= len(written), what="every record")
        put(ddb, table, "f0")
        written.append("f0")
        wait_until(lambda: len(got) >= len(written), what="a record after the rotations")
        shards = describe_shards(raw, arn)
        stream = read_stream(raw, arn)
    assert len(shards) == 3
    assert got == written
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in stream] == written
    assert max(batches) <= 3
