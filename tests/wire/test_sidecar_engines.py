"""The sidecar over engines nobody here wrote: this project's own server, moto's
server and Dynoxide 1.2.1 as upstreams (installed by ``tools/peers.sh``), each covering
push, one trigger and the TTL sweep through real clients.

* push: a websocket subscriber gets every record the upstream's GetRecords has, in
  order, none lost — across several bursts, so the reader reaches the tail and goes
  on after it (where Dynoxide reports an ``EndingSequenceNumber`` on its open shard);
* a trigger created with boto3's lambda client on the upstream's stream ARN (Dynoxide's
  carries the region ``dynoxide``), with an http OnFailure URL, fires for every
  record, once, in order;
* ``POST /_admin/ttl/sweep`` deletes the due item through the upstream, and its
  REMOVE reaches the subscriber with the service ``userIdentity``;
* a stream disabled upstream (its shard closed without a child, as AWS does it) still
  ends its subscribers after the last record: GetRecords says the shard ended;
* each upstream quirk is logged once, at WARNING; an engine without it logs nothing.

Every wait polls with a deadline; every process is killed at the end of its test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RawClient, make_client
from tests.engines import ENGINES, Upstream, upstream
from tests.polling import wait_until
from tests.process import Processes, ServerProcess, assert_clean_log, wait_log
from tests.triggers_fixtures.support import echo_command, read_deliveries
from tests.wire.test_push import Push, open_ws, subscribed
from tests.wire.test_streams import create_stream_table

OPEN_SHARD_END = "upstream reports EndingSequenceNumber on an open shard"
NON_AWS_REGION = "non-AWS region in stream ARN"
QUIRKS = {"this": (), "moto": (), "dynoxide": (OPEN_SHARD_END, NON_AWS_REGION)}
SERVICE = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
BURSTS = (5, 40, 40)  # the reader catches up with the tail after each one
ACCOUNT_13 = "1234567890123"  # an account id AWS would never give
FAILED = "http://127.0.0.1:9/failed-batches"

each_engine = pytest.mark.parametrize("engine", ENGINES)


def put(ddb: Any, table: str, key: str, **extra: Any) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": key}, "v": {"S": key}, **extra})


def summary(record: dict[str, Any]) -> tuple[str, str, Any]:
    return (
        record["dynamodb"]["SequenceNumber"],
        record["eventName"],
        record["dynamodb"]["Keys"],
    )


def receive_records(push: Push, sid: str, keys: list[str]) -> list[dict[str, Any]]:
    """The next frames of ``sid``: one record frame per key, in order (a ``shard_end``
    or ``stream_disabled`` in between fails here)."""
    records = []
    for key in keys:
        frame = push.next_for(sid)
        assert frame["type"] == "record", frame
        assert frame["record"]["dynamodb"]["Keys"] == {"pk": {"S": key}}, frame
        records.append(frame["record"])
    return records


def assert_quirks_logged_once(side: ServerProcess, engine: str) -> None:
    text = side.log()
    for quirk in (OPEN_SHARD_END, NON_AWS_REGION):
        expected = 1 if quirk in QUIRKS[engine] else 0
        lines = [line for line in text.splitlines() if quirk in line]
        assert len(lines) == expected, (quirk, lines)
        assert all("[warning" in line for line in lines), lines
    assert_clean_log(side)


def passed_the_reported_end(side: ServerProcess, engine: str) -> None:
    """Over an engine that reports an ending on its open shard, wait until the sidecar
    has read at that ending and gone on (it says so, once): later records must still
    arrive. Without the quirk there is nothing to wait for."""
    if OPEN_SHARD_END in QUIRKS[engine]:
        wait_log(side, "[warning", OPEN_SHARD_END)


def delivered(out: Path, count: int) -> Callable[[], bool]:
    return lambda: len(read_deliveries(out)) >= count


def start(procs: Processes, engine: str, *flags: str) -> tuple[Upstream, ServerProcess]:
    up = upstream(procs, engine)
    return up, procs.sidecar(up.endpoint, *flags)


@each_engine
def test_push_delivers_every_upstream_record_in_order(tmp_path: Path, engine: str) -> None:
    with Processes(tmp_path) as procs:
        up, side = start(procs, engine)
        table, arn = create_stream_table(up.ddb, "NEW_AND_OLD_IMAGES", range_key=None)
        assert arn is not None
        received: list[dict[str, Any]] = []
        with open_ws(side.endpoint) as push:
            push.subscribe("s", table=table, start="TRIM_HORIZON")
            assert push.next_for("s") == subscribed("s", arn)
            written = 0
            latest: list[dict[str, Any]] = []
            for burst, count in enumerate(BURSTS):
                keys = [f"b{burst}-{i:03d}" for i in range(count)]
                for key in keys:
                    put(up.ddb, table, key)
                written += count
                received += receive_records(push, "s", keys)
                if burst > 0:
                    latest += receive_records(push, "lt", keys)
                if burst == 0:
                    passed_the_reported_end(side, engine)
                    # LATEST starts after the newest record, read to the shard's tail
                    push.subscribe("lt", table=table, start="LATEST")
                    newest = summary(received[-1])[0]  # Dynoxide's are short: "5"
                    assert push.next_for("lt") == {
                        "type": "subscribed",
                        "id": "lt",
                        "streamArn": arn,
                        "position": newest,
                    }
            # every record, none twice, in the upstream's order, as GetRecords has it
            assert [summary(r) for r in received] == [summary(r) for r in up.records(arn)]
            assert len(received) == written == sum(BURSTS)
            assert latest == received[BURSTS[0] :]
            # and nothing more: the next frame is the record of a later write
            put(up.ddb, table, "sentinel")
            receive_records(push, "s", ["sentinel"])
            receive_records(push, "lt", ["sentinel"])
        assert_quirks_logged_once(side, engine)


@each_engine
def test_a_trigger_fires_for_every_record(tmp_path: Path, engine: str) -> None:
    out = tmp_path / "out.jsonl"
    with Processes(tmp_path) as procs:
        up, side = start(procs, engine, "--function", f"rec={echo_command(out)}")
        table, arn = create_stream_table(up.ddb, "NEW_AND_OLD_IMAGES", range_key=None)
        assert arn is not None
        lam = make_client(side.endpoint, "lambda")
        # the upstream's own ARN (any region), and an http(s) OnFailure URL
        created = lam.create_event_source_mapping(
            FunctionName="rec",
            EventSourceArn=arn,
            StartingPosition="TRIM_HORIZON",
            BatchSize=10,
            DestinationConfig={"OnFailure": {"Destination": FAILED}},
        )
        assert created["EventSourceArn"] == arn
        assert created["DestinationConfig"] == {"OnFailure": {"Destination": FAILED}}
        listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
        assert [m["UUID"] for m in listed] == [created["UUID"]]

        written: list[str] = []
        for burst, count in enumerate(BURSTS):
            keys = [f"b{burst}-{i:03d}" for i in range(count)]
            for key in keys:
                put(up.ddb, table, key)
            written += keys
            wait_until(delivered(out, len(written)), timeout=30, what=f"{len(written)} deliveries")
            if burst == 0:
                passed_the_reported_end(side, engine)
        put(up.ddb, table, "sentinel")
        wait_until(
            lambda: [line["key"] for line in read_deliveries(out)][-1:] == ["sentinel"],
            timeout=30,
            what="the sentinel's delivery",
        )
        deliveries = read_deliveries(out)
        # each record once, in the upstream's order
        assert [line["key"] for line in deliveries] == [*written, "sentinel"]
        assert [line["seq"] for line in deliveries] == [
            r["dynamodb"]["SequenceNumber"] for r in up.records(arn)
        ]
        wait_until(
            lambda: (
                lam.get_event_source_mapping(UUID=created["UUID"])["LastProcessingResult"] == "OK"
            ),
            what="the mapping's result",
        )
        assert_quirks_logged_once(side, engine)


@each_engine
def test_the_ttl_sweep_deletes_due_items_through_the_upstream(tmp_path: Path, engine: str) -> None:
    with Processes(tmp_path) as procs:
        up, side = start(procs, engine)
        table, arn = create_stream_table(up.ddb, "NEW_AND_OLD_IMAGES", range_key=None)
        assert arn is not None
        up.ddb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
        )
        now = int(time.time())
        with open_ws(side.endpoint) as push:
            push.subscribe("s", table=table, start="TRIM_HORIZON")
            assert push.next_for("s") == subscribed("s", arn)
            put(up.ddb, table, "due", exp={"N": str(now - 10)})
            put(up.ddb, table, "kept", exp={"N": str(now + 3600)})
            receive_records(push, "s", ["due", "kept"])
            passed_the_reported_end(side, engine)

            sweep = RawClient(side.endpoint).request(
                b"{}", None, path="/_admin/ttl/sweep", content_type="application/json"
            )
            assert (sweep.status, sweep.json) == (200, {"expired": 1})
            # the operator's INFO line, as in server mode: one per table that lost items
            sweeps = [line for line in side.log().splitlines() if " ttl sweep " in line]
            assert len(sweeps) == 1, sweeps
            assert "[info" in sweeps[0] and "deleted=1" in sweeps[0], sweeps
            assert f"table={table}" in sweeps[0], sweeps
            (removed,) = receive_records(push, "s", ["due"])
            assert removed["eventName"] == "REMOVE"
            assert removed["userIdentity"] == SERVICE

            def exists(key: str) -> bool:
                found = up.ddb.get_item(TableName=table, Key={"pk": {"S": key}})
                return "Item" in found

            assert not exists("due") and exists("kept")
            # a user's write after the sweep still arrives, without the identity
            put(up.ddb, table, "after")
            (after,) = receive_records(push, "s", ["after"])
            assert "userIdentity" not in after
        assert_quirks_logged_once(side, engine)


def test_a_disabled_stream_ends_its_subscribers_after_the_last_record(tmp_path: Path) -> None:
    """The ending of a shard without a child is believed only from GetRecords (no
    NextShardIterator): a stream disabled upstream still ends with ``shard_end`` and
    ``stream_disabled`` right after its last record."""
    with Processes(tmp_path) as procs:
        up, side = start(procs, "this")
        table, arn = create_stream_table(up.ddb, "NEW_AND_OLD_IMAGES", range_key=None)
        assert arn is not None
        with open_ws(side.endpoint) as push:
            push.subscribe("s", table=table, start="TRIM_HORIZON")
            assert push.next_for("s") == subscribed("s", arn)
            keys = [f"k{i}" for i in range(3)]
            for key in keys:
                put(up.ddb, table, key)
            receive_records(push, "s", keys)
            up.ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
            (shard,) = up.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
            assert "EndingSequenceNumber" in shard["SequenceNumberRange"]
            assert "ParentShardId" not in shard
            end = {"type": "shard_end", "id": "s", "streamArn": arn, "shardId": shard["ShardId"]}
            assert push.next_for("s") == end
            assert push.next_for("s") == {"type": "stream_disabled", "id": "s", "streamArn": arn}
        assert_quirks_logged_once(side, "this")


def test_a_trigger_binds_to_any_stream_arn_the_upstream_lists(tmp_path: Path) -> None:
    """An upstream whose stream ARNs match neither the Lambda model's ``Arn`` pattern
    nor a DynamoDB stream ARN's form (a 13-digit account): a stream the change source
    lists is accepted by Create, Update and the List filter, and its trigger fires;
    an ARN of that form that nobody lists is still refused as AWS refuses it."""
    out = tmp_path / "out.jsonl"
    with Processes(tmp_path) as procs:
        up = procs.upstream("--account-id", ACCOUNT_13)
        side = procs.sidecar(up.endpoint, "--function", f"rec={echo_command(out)}")
        ddb = make_client(up.endpoint)
        table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
        assert arn is not None and f":{ACCOUNT_13}:table/" in arn
        lam = make_client(side.endpoint, "lambda")

        unlisted = arn.replace(f"table/{table}/", "table/nobody/")
        with pytest.raises(ClientError) as refused:
            lam.create_event_source_mapping(
                FunctionName="rec", EventSourceArn=unlisted, StartingPosition="TRIM_HORIZON"
            )
        error = refused.value.response["Error"]
        assert error["Code"] == "ValidationException", error
        assert "eventSourceArn" in error["Message"] and "pattern" in error["Message"], error

        created = lam.create_event_source_mapping(
            FunctionName="rec", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=5
        )
        assert created["EventSourceArn"] == arn
        listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
        assert [m["UUID"] for m in listed] == [created["UUID"]]
        # boto3 cannot send EventSourceArn on Update; the API still checks it if sent
        updated = RawClient(side.endpoint).request(
            json.dumps({"EventSourceArn": arn, "BatchSize": 3}),
            None,
            method="PUT",
            path=f"/2015-03-31/event-source-mappings/{created['UUID']}",
            content_type="application/json",
        )
        assert updated.status == 202, updated.body
        assert (updated.json["EventSourceArn"], updated.json["BatchSize"]) == (arn, 3)
        keys = [f"k{i}" for i in range(7)]
        for key in keys:
            put(ddb, table, key)
        wait_until(delivered(out, len(keys)), timeout=30, what="7 deliveries")
        assert [line["key"] for line in read_deliveries(out)] == keys
        assert_clean_log(side)
