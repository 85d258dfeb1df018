"""Sidecar mode through real processes: ``dynoxide-streams sidecar --upstream URL`` fed
by a second ``dynoxide-streams serve`` process over its public DynamoDB Streams API.

* the push websocket delivers the upstream's records exactly once, in the upstream's
  order, with ``shard_end`` at each rotation (TRIM_HORIZON and LATEST);
* event source mappings (created with boto3's lambda client, or declared in a trigger
  file for a table created upstream later) deliver every record once, in order;
* a sidecar killed with SIGKILL resumes its trigger from the stored checkpoint;
* an upstream that stops, restarts, answers 5xx, throttles, answers slowly, drops
  connections or cuts answers short neither stops the sidecar nor its websocket feed
  and triggers (one test, parametrized by the fault);
* ``--tables`` limits what can be subscribed; DynamoDB requests sent to the sidecar
  are refused with UnknownOperationException naming the upstream; the admin TTL sweep
  sweeps the watched tables upstream.

Every wait polls with a deadline; every process is killed at the end of its test.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RawClient, make_client
from tests.fault_proxy import FaultProxy
from tests.polling import wait_until
from tests.process import Processes, ServerProcess, assert_clean_log, assert_running, wait_log
from tests.triggers_fixtures.support import echo_command, read_deliveries
from tests.wire.test_push import (
    check_frames,
    open_ws,
    stream_frames,
    subscribed,
)
from tests.wire.test_streams import (
    STREAMS,
    create_stream_table,
    describe_shards,
    read_stream,
    rotate,
)

SENTINEL = "zz-sentinel"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def put(ddb: Any, table: str, key: str, value: str = "") -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": key}, "v": {"S": value or key}})


def key_of(frame: dict[str, Any]) -> str:
    assert frame["type"] == "record", frame
    key: str = frame["record"]["dynamodb"]["Keys"]["pk"]["S"]
    return key


def seqs(records: list[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in records]


def last_key(out: Path) -> str | None:
    lines = read_deliveries(out)
    return str(lines[-1]["key"]) if lines else None


def delivered_seqs(out: Path) -> list[str]:
    return [line["seq"] for line in read_deliveries(out)]


def healthy(server: ServerProcess) -> bool:
    with urllib.request.urlopen(server.endpoint + "/", timeout=5) as response:
        return bool(response.status == 200)


def write_concurrently(endpoint: str, table: str, writers: int, per_writer: int) -> None:
    """``writers`` threads, each ``per_writer`` puts; keys overlap between threads (so
    some records are MODIFYs of another thread's item), every value is unique."""
    errors: list[BaseException] = []

    def write(n: int) -> None:
        client = make_client(endpoint)
        try:
            for i in range(per_writer):
                put(client, table, f"k{(n * per_writer + i) % 8}", f"w{n}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)


def trigger_file(path: Path, functions: dict[str, str], table: str, function: str) -> Path:
    lines = ["[functions]"]
    lines += [f"{name} = {json.dumps(target)}" for name, target in functions.items()]
    lines += ["", "[[trigger]]", f'table = "{table}"', f'function = "{function}"', "batch_size = 4"]
    path.write_text("\n".join(lines) + "\n")
    return path


def closed_shards(raw: RawClient, arn: str) -> int:
    shards = describe_shards(raw, arn)
    return sum(1 for s in shards if "EndingSequenceNumber" in s["SequenceNumberRange"])


# ------------------------------------------------------------------------------ push


def test_push_through_the_sidecar_is_the_upstream_stream_exactly_once(tmp_path: Path) -> None:
    with Processes(tmp_path) as procs:
        up = procs.upstream("--shard-rotation-records", "7")
        side = procs.sidecar(up.endpoint)
        ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
        table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
        assert arn is not None
        for i in range(4):
            put(ddb, table, f"before{i}")
        with open_ws(side.endpoint) as push:
            push.subscribe("th", table=table, start="TRIM_HORIZON")
            push.subscribe("lt", table=table, start="LATEST")
            assert push.next_for("th") == subscribed("th", arn)
            latest = push.next_for("lt")
            assert latest == subscribed("lt", arn)
            # LATEST starts after the newest record the upstream had
            assert latest["position"] == seqs(read_stream(raw, arn))[-1]

            write_concurrently(up.endpoint, table, writers=5, per_writer=10)
            # two rotations without a write between: the second shard closes empty
            rotate(raw, table)
            rotate(raw, table)
            put(ddb, table, "after-rotations")
            wait_until(lambda: len(read_stream(raw, arn)) == 55, what="55 upstream records")

            expected_th = stream_frames(raw, arn, "th")
            expected_lt = stream_frames(raw, arn, "lt", after=latest["position"])
            records = [e for e in expected_th if e.frame["type"] == "record"]
            assert len(records) == 55
            assert {e.frame["record"]["eventName"] for e in records} == {"INSERT", "MODIFY"}
            ends = [e for e in expected_th if e.frame["type"] == "shard_end"]
            # a rotation every 7 records, and the two on demand
            assert len(ends) == closed_shards(raw, arn) >= 9
            assert [e.frame["type"] for e in expected_th[-3:]] == ["shard_end"] * 2 + ["record"]
            assert len([e for e in expected_lt if e.frame["type"] == "record"]) == 51

            # the very frames (and record bytes) GetRecords gives, lineage order
            check_frames(push.texts_for("th", len(expected_th)), expected_th)
            check_frames(push.texts_for("lt", len(expected_lt)), expected_lt)
            # and nothing more: the next frame of each is the record of a later write
            put(ddb, table, SENTINEL)
            for sid in ("th", "lt"):
                assert key_of(push.next_for(sid)) == SENTINEL
        assert_clean_log(side)


# -------------------------------------------------------------------------- triggers


def test_triggers_through_the_sidecar_deliver_each_record_once_in_order(tmp_path: Path) -> None:
    out_api, out_declared = tmp_path / "api.jsonl", tmp_path / "declared.jsonl"
    late_table = unique("Late")
    declared = trigger_file(
        tmp_path / "triggers.toml", {"late": echo_command(out_declared)}, late_table, "late"
    )
    with Processes(tmp_path) as procs:
        up = procs.upstream("--shard-rotation-records", "7")
        side = procs.sidecar(
            up.endpoint,
            "--function",
            f"rec={echo_command(out_api)}",
            "--triggers",
            str(declared),
        )
        ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
        lam = make_client(side.endpoint, "lambda")
        table, arn = create_stream_table(ddb, range_key=None)
        assert arn is not None
        created = lam.create_event_source_mapping(
            FunctionName="rec", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=5
        )
        assert created["EventSourceArn"] == arn
        write_concurrently(up.endpoint, table, writers=3, per_writer=10)

        # a table created upstream after the sidecar started: the declared trigger binds
        _, late_arn = create_stream_table(ddb, range_key=None, name=late_table)
        assert late_arn is not None
        for i in range(12):
            put(ddb, late_table, f"late{i}")

        stream = seqs(read_stream(raw, arn))
        late_stream = seqs(read_stream(raw, late_arn))
        assert len(stream) == 30 and len(late_stream) == 12
        assert closed_shards(raw, arn) >= 4 and closed_shards(raw, late_arn) >= 1
        wait_until(lambda: len(delivered_seqs(out_api)) >= 30, timeout=20, what="30 deliveries")
        wait_until(
            lambda: len(delivered_seqs(out_declared)) >= 12,
            timeout=20,
            what="the declared trigger's 12 deliveries",
        )
        bound = [
            m
            for m in lam.list_event_source_mappings()["EventSourceMappings"]
            if m["EventSourceArn"] == late_arn
        ]
        assert len(bound) == 1 and bound[0]["FunctionArn"].endswith(":function:late")
        wait_until(
            lambda: (
                lam.get_event_source_mapping(UUID=created["UUID"])["LastProcessingResult"] == "OK"
            ),
            what="the mapping's result",
        )
        # nothing more: the next delivery of each is the record of a later write
        put(ddb, table, SENTINEL)
        put(ddb, late_table, SENTINEL)
        wait_until(lambda: last_key(out_api) == SENTINEL, what="the sentinel")
        wait_until(lambda: last_key(out_declared) == SENTINEL, what="the late sentinel")
        stream = seqs(read_stream(raw, arn))
        late_stream = seqs(read_stream(raw, late_arn))
        assert delivered_seqs(out_api) == stream  # each record once, in stream order
        assert delivered_seqs(out_declared) == late_stream
        assert_clean_log(side)


@pytest.mark.slow
def test_sidecar_killed_mid_stream_resumes_triggers_from_its_checkpoint(tmp_path: Path) -> None:
    out, table = tmp_path / "out.jsonl", unique("Orders")
    declared = trigger_file(tmp_path / "triggers.toml", {"rec": echo_command(out)}, table, "rec")
    data = tmp_path / "sidecar-data"
    flags = ("--triggers", str(declared))
    with Processes(tmp_path) as procs:
        up = procs.upstream("--shard-rotation-records", "25")
        ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
        _, arn = create_stream_table(ddb, range_key=None, name=table)
        assert arn is not None
        first = procs.sidecar(up.endpoint, *flags, data_dir=data)
        keys = [f"a{i:03d}" for i in range(200)]
        written: list[str] = []

        def write() -> None:
            client = make_client(up.endpoint)
            for key in keys:
                put(client, table, key)
                written.append(key)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            wait_until(
                lambda: 30 <= len(read_deliveries(out)) < 200,
                timeout=20,
                what="delivery under way",
            )
            first.kill9()
        finally:
            writer.join(timeout=60)
        assert len(written) == 200
        delivered_before_restart = len(read_deliveries(out))
        assert delivered_before_restart < 200, "the crash came too late to prove anything"

        second = procs.sidecar(up.endpoint, *flags, data_dir=data)
        for i in range(20):
            put(ddb, table, f"b{i:03d}")
        stream = [int(s) for s in seqs(read_stream(raw, arn))]
        assert len(stream) == 220
        wait_until(
            lambda: {int(s) for s in delivered_seqs(out)} >= set(stream),
            timeout=30,
            what="every record after the restart",
        )
        lines = read_deliveries(out)
        assert_clean_log(second)

    before = [int(line["seq"]) for line in lines if line["ppid"] == first.proc.pid]
    after = [int(line["seq"]) for line in lines if line["ppid"] == second.proc.pid]
    assert before and after
    assert set(before) | set(after) == set(stream)  # nothing skipped
    assert before == sorted(set(before)) and after == sorted(set(after))  # each in order
    # the restart re-delivered at most the batch in flight (batch_size 4): a tail of before
    duplicates = set(before) & set(after)
    assert duplicates == {s for s in before if s >= after[0]}
    assert len(duplicates) <= 4, sorted(duplicates)
    assert after == [s for s in stream if s >= after[0]]
    every = [int(line["seq"]) for line in lines]
    assert sum(1 for x, y in itertools.pairwise(every) if y < x) <= 1


# ---------------------------------------------------------------- upstream trouble


FAULTS = [
    pytest.param("stopped", id="upstream-stopped-and-restarted"),
    pytest.param("http500", id="5xx-answers"),
    pytest.param("throttle", id="throttling"),
    pytest.param("slow", id="slow-answers"),
    pytest.param("close", id="connections-closed-without-an-answer"),
    pytest.param("truncate", id="truncated-answers"),
]


@pytest.mark.parametrize("fault", FAULTS)
def test_upstream_trouble_stops_neither_the_sidecar_nor_its_feeds(
    tmp_path: Path, fault: str
) -> None:
    """A websocket subscriber and a mapping on a sidecar whose upstream, for a while,
    is stopped (then restarted on its port and data) or — through a proxy — answers
    every connection per a :class:`FaultProxy` mode. Meanwhile the sidecar stays up and
    its own APIs answer; afterwards the same subscription carries on, every record
    arrives once, in order, on both feeds, and the log is clean."""
    out = tmp_path / "out.jsonl"
    with Processes(tmp_path) as procs:
        up_data = tmp_path / "upstream-data"
        up = procs.upstream(data_dir=up_data)
        port = int(up.endpoint.rsplit(":", 1)[1])
        proxy = FaultProxy(port, delay=0.5)
        with proxy.running():
            # a stopped upstream is reached directly: its port refuses connections
            reach = up.endpoint if fault == "stopped" else proxy.url
            side = procs.sidecar(reach, "--function", f"rec={echo_command(out)}")
            ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
            table, arn = create_stream_table(ddb, range_key=None)
            assert arn is not None
            lam = make_client(side.endpoint, "lambda")
            lam.create_event_source_mapping(
                FunctionName="rec", EventSourceArn=arn, StartingPosition="TRIM_HORIZON"
            )
            with open_ws(side.endpoint) as push:
                push.subscribe("s", table=table, start="TRIM_HORIZON")
                assert push.next_for("s") == subscribed("s", arn)
                for i in range(5):
                    put(ddb, table, f"a{i}")
                received = push.texts_for("s", 5)
                wait_until(lambda: len(read_deliveries(out)) >= 5, what="5 deliveries")

                if fault == "stopped":
                    assert up.terminate() == 0
                    # one WARNING when it goes away (the retries are DEBUG)
                    line = wait_log(side, "[warning", "upstream unreachable")
                    assert f"upstream={up.endpoint}" in line, line
                else:
                    proxy.mode = fault
                    for i in range(5):
                        put(ddb, table, f"b{i}")

                    def enough() -> bool:
                        assert_running(side)  # fails at once if the sidecar died
                        return proxy.served(fault) >= 8

                    wait_until(enough, timeout=20, what=f"8 upstream calls answered {fault}")
                assert_running(side)
                assert healthy(side)
                # the sidecar's own APIs still answer while the upstream is in trouble
                assert len(lam.list_event_source_mappings()["EventSourceMappings"]) == 1
                if fault == "stopped":
                    up = procs.upstream(data_dir=up_data, port=port)
                    ddb = make_client(up.endpoint)
                    for i in range(5):
                        put(ddb, table, f"b{i}")
                else:
                    proxy.mode = "pass"

                for i in range(5):
                    put(ddb, table, f"c{i}")
                # the same connection and subscription carry on
                received += [push.next_text_for("s", 20) for _ in range(10)]
                check_frames(received, stream_frames(raw, arn, "s"))
                # nothing more (no record twice): next come the records of a later write
                put(ddb, table, SENTINEL)
                assert key_of(push.next_for("s")) == SENTINEL
                wait_until(
                    lambda: last_key(out) == SENTINEL, timeout=20, what="the sentinel's delivery"
                )
                assert delivered_seqs(out) == seqs(read_stream(raw, arn))
            assert healthy(side)
            assert_clean_log(side)


# ------------------------------------------------------------------ watched tables


def test_only_watched_tables_are_served_and_dynamodb_requests_go_upstream(
    tmp_path: Path,
) -> None:
    watched, absent, other = unique("A"), unique("B"), unique("C")
    out = tmp_path / "out.jsonl"
    with Processes(tmp_path) as procs:
        up = procs.upstream("--ttl-period", "0")
        side = procs.sidecar(
            up.endpoint, "--tables", f"{watched},{absent}", "--function", f"rec={echo_command(out)}"
        )
        ddb = make_client(up.endpoint)
        _, arn = create_stream_table(ddb, range_key=None, name=watched)
        _, other_arn = create_stream_table(ddb, range_key=None, name=other)
        assert arn is not None and other_arn is not None

        with open_ws(side.endpoint) as push:
            push.subscribe("c", table=other, start="TRIM_HORIZON")
            assert push.next_for("c") == {
                "type": "error",
                "id": "c",
                "code": "ResourceNotFound",
                "message": f"table {other} does not exist or has no enabled stream",
            }
            push.subscribe("c-arn", arn=other_arn, start="TRIM_HORIZON")
            assert push.next_for("c-arn") == {
                "type": "error",
                "id": "c-arn",
                "code": "ResourceNotFound",
                "message": f"stream not found: {other_arn}",
            }
            push.subscribe("b", table=absent)  # watched, but not created upstream
            error = push.next_for("b")
            assert (error["type"], error["code"]) == ("error", "ResourceNotFound")
            # the connection stays usable: a watched table can be subscribed
            push.subscribe("a", table=watched, start="TRIM_HORIZON")
            assert push.next_for("a") == subscribed("a", arn)
            put(ddb, other, "not-watched")
            put(ddb, watched, "watched")
            frame = push.next_for("a")
            assert frame["type"] == "record"
            assert frame["record"]["dynamodb"]["Keys"] == {"pk": {"S": "watched"}}
            assert not any(push.pending.get(sid) for sid in ("c", "c-arn", "b"))

        # DynamoDB and Streams requests sent to the sidecar name the upstream
        side_raw = RawClient(side.endpoint)
        for operation, params, prefix in (
            ("PutItem", {"TableName": watched, "Item": {"pk": {"S": "x"}}}, "DynamoDB_20120810"),
            ("ListTables", {}, "DynamoDB_20120810"),
            ("DescribeStream", {"StreamArn": arn}, STREAMS),
        ):
            response = side_raw.call(operation, params, prefix=prefix)
            assert response.status == 400, response.body
            assert response.error_type == "UnknownOperationException"
            assert up.endpoint in response.message, response.message
        with pytest.raises(ClientError) as refused:
            make_client(side.endpoint).get_item(TableName=watched, Key={"pk": {"S": "watched"}})
        assert refused.value.response["Error"]["Code"] == "UnknownOperationException"
        assert up.endpoint in refused.value.response["Error"]["Message"]

        # a mapping on a table the sidecar does not watch is refused
        lam = make_client(side.endpoint, "lambda")
        with pytest.raises(ClientError) as bad:
            lam.create_event_source_mapping(
                FunctionName="rec", EventSourceArn=other_arn, StartingPosition="TRIM_HORIZON"
            )
        assert bad.value.response["Error"]["Code"] == "InvalidParameterValueException"

        # POST /_admin/ttl/sweep expires the watched tables' items upstream, only those
        now = int(time.time())
        for name in (watched, other):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"},
            )
        for name, key, exp in (
            (watched, "gone1", now - 10),
            (watched, "gone2", now - 3600),
            (watched, "kept", now + 3600),
            (other, "unwatched", now - 10),
        ):
            ddb.put_item(TableName=name, Item={"pk": {"S": key}, "exp": {"N": str(exp)}})
        response = side_raw.request(
            b"{}", None, path="/_admin/ttl/sweep", content_type="application/json"
        )
        assert response.status == 200, response.body
        assert response.json == {"expired": 2}

        def exists(name: str, key: str) -> bool:
            return "Item" in ddb.get_item(TableName=name, Key={"pk": {"S": key}})

        assert not exists(watched, "gone1") and not exists(watched, "gone2")
        assert exists(watched, "kept") and exists(other, "unwatched")
        again = side_raw.request(
            b"{}", None, path="/_admin/ttl/sweep", content_type="application/json"
        )
        assert again.json == {"expired": 0}
        assert "Traceback" not in side.log()
