"""``sidecar --ttl-sweep`` against an upstream that never expires anything itself
(``serve --ttl-period 0``), with the real clock: the sweep deletes exactly the items
whose TTL has passed (not a future one, not one a user extended, not a string or a
more-than-five-years-old TTL), and the REMOVE records of its deletes reach readers with
the service ``userIdentity`` — PascalCase in GetRecords format on the websocket,
camelCase in the Lambda event — while a user's DeleteItem has none.

Every wait polls with a deadline; every process is killed at the end of its test.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import RawClient, make_client
from tests.polling import wait_until
from tests.process import Processes, ServerProcess, assert_clean_log
from tests.triggers_fixtures.support import FakeRuntime
from tests.wire.test_push import Push, open_ws, subscribed
from tests.wire.test_streams import create_stream_table, read_stream

TTL = "exp"
SERVICE = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
LAMBDA_SERVICE = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
SERVICE_ONLY = {"Filters": [{"Pattern": json.dumps({"userIdentity": {"type": ["Service"]}})}]}
RECORD_ORDER = ["eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb"]
EXPIRED = ("e0", "e1", "e2")
KEPT = ("future0", "future1", "extended", "ancient", "text")


@dataclass
class Setup:
    up: ServerProcess
    side: ServerProcess
    ddb: Any
    raw: RawClient
    table: str
    arn: str


@contextmanager
def sweeping_sidecar(tmp_path: Path, *flags: str) -> Iterator[Setup]:
    """An upstream that never expires items and a sidecar sweeping it every 0.5 s."""
    with Processes(tmp_path) as procs:
        up = procs.upstream("--ttl-period", "0")
        side = procs.sidecar(up.endpoint, "--ttl-sweep", "--ttl-period", "0.5", *flags)
        ddb = make_client(up.endpoint)
        table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
        assert arn is not None
        yield Setup(up, side, ddb, RawClient(up.endpoint), table, arn)


def key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


def exists(setup: Setup, pk: str) -> bool:
    return "Item" in setup.ddb.get_item(TableName=setup.table, Key=key(pk), ConsistentRead=True)


def write_and_expire(setup: Setup) -> None:
    """Items expired, not expired and never expirable; a user extends one expired item
    and deletes another right before TTL is switched on (the next sweep's first look);
    then waits until the expired ones are gone upstream."""
    ddb, table, now = setup.ddb, setup.table, int(time.time())
    ttls: dict[str, dict[str, str]] = {
        **{pk: {"N": str(now - 10)} for pk in EXPIRED},
        "future0": {"N": str(now + 3600)},
        "future1": {"N": str(now + 120)},
        "extended": {"N": str(now - 10)},
        "ancient": {"N": str(now - 6 * 365 * 86400)},  # over five years old: never expired
        "text": {"S": str(now - 10)},  # not a Number: never expired
        "deleted": {"N": str(now + 3600)},
    }
    for pk, ttl in ttls.items():
        ddb.put_item(TableName=table, Item={**key(pk), TTL: ttl})
    ddb.update_item(
        TableName=table,
        Key=key("extended"),
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": TTL},
        ExpressionAttributeValues={":t": {"N": str(now + 3600)}},
    )
    ddb.delete_item(TableName=table, Key=key("deleted"))
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL}
    )
    wait_until(
        lambda: not any(exists(setup, pk) for pk in EXPIRED),
        timeout=15,
        what="the sweep to delete the expired items upstream",
    )


def check_upstream_state(setup: Setup) -> None:
    assert all(exists(setup, pk) for pk in KEPT)
    assert not exists(setup, "deleted")
    # the upstream wrote plain REMOVE records: the identity is the sidecar's doing
    records = read_stream(setup.raw, setup.arn)
    assert [r["eventName"] for r in records].count("REMOVE") == 4
    assert all("userIdentity" not in r for r in records)


def pk_of(record: dict[str, Any]) -> str:
    value: str = record["dynamodb"]["Keys"]["pk"]["S"]
    return value


def receive_records(push: Push, sid: str, count: int) -> list[dict[str, Any]]:
    frames = [push.next_for(sid) for _ in range(count)]
    assert all(f["type"] == "record" for f in frames), frames
    return [f["record"] for f in frames]


def check_getrecords_identity(
    received: list[dict[str, Any]], upstream: list[dict[str, Any]]
) -> None:
    """The websocket records are the upstream's, the sweep's REMOVEs with the service
    identity appended (PascalCase), everything else untouched."""
    assert len(received) == len(upstream) == 14
    for got, source in zip(received, upstream, strict=True):
        if source["eventName"] == "REMOVE" and pk_of(source) in EXPIRED:
            assert got == {**source, "userIdentity": SERVICE}, got
            assert list(got) == [*RECORD_ORDER, "userIdentity"]
        else:
            assert got == source, got
    user_remove = [r for r in received if r["eventName"] == "REMOVE" and pk_of(r) == "deleted"]
    assert len(user_remove) == 1 and "userIdentity" not in user_remove[0]


def invoked(runtime: FakeRuntime) -> list[dict[str, Any]]:
    """Every record the function was invoked with, in order."""
    return [r for call in runtime.received() for r in call.event["Records"]]


def check_lambda_identity(
    records: list[dict[str, Any]], upstream: list[dict[str, Any]], arn: str
) -> None:
    """The filtered mapping was invoked with exactly the sweep's REMOVEs (camelCase)."""
    expected = [
        {
            **{k: r[k] for k in RECORD_ORDER},
            "eventSourceARN": arn,
            "userIdentity": LAMBDA_SERVICE,
        }
        for r in upstream
        if r["eventName"] == "REMOVE" and pk_of(r) in EXPIRED
    ]
    assert records == expected


def admin_sweep(side: ServerProcess) -> Any:
    response = RawClient(side.endpoint).request(
        b"{}", None, path="/_admin/ttl/sweep", content_type="application/json"
    )
    assert response.status == 200, response.body
    return response.json


def test_ttl_sweep_expires_exactly_the_expired_items_websocket_sees_service_removes(
    tmp_path: Path,
) -> None:
    with sweeping_sidecar(tmp_path) as setup, open_ws(setup.side.endpoint) as push:
        push.subscribe("s", table=setup.table, start="TRIM_HORIZON")
        assert push.next_for("s") == subscribed("s", setup.arn)
        write_and_expire(setup)
        check_upstream_state(setup)
        received = receive_records(push, "s", 14)
        check_getrecords_identity(received, read_stream(setup.raw, setup.arn))
        # nothing is left to expire: a sweep on demand finds nothing, deletes nothing
        assert admin_sweep(setup.side) == {"expired": 0}
        assert all(exists(setup, pk) for pk in KEPT)
        assert_clean_log(setup.side)


def test_ttl_sweep_removes_reach_a_service_filtered_trigger_in_lambda_format(
    tmp_path: Path,
) -> None:
    runtime = FakeRuntime()
    with runtime.serving() as url, sweeping_sidecar(tmp_path, "--function", f"ttl={url}") as setup:
        lam = make_client(setup.side.endpoint, "lambda")
        esm = lam.create_event_source_mapping(
            FunctionName="ttl",
            EventSourceArn=setup.arn,
            StartingPosition="TRIM_HORIZON",
            FilterCriteria=SERVICE_ONLY,
        )["UUID"]
        write_and_expire(setup)
        check_upstream_state(setup)
        wait_until(lambda: len(invoked(runtime)) >= 3, what="the three TTL REMOVEs")
        wait_until(
            lambda: lam.get_event_source_mapping(UUID=esm)["LastProcessingResult"] == "OK",
            what="the mapping's result",
        )
        # nothing more (no record twice): the next invocation is for a later expiry
        sentinel = {**key("sentinel"), TTL: {"N": str(int(time.time()) - 10)}}
        setup.ddb.put_item(TableName=setup.table, Item=sentinel)
        wait_until(lambda: len(invoked(runtime)) >= 4, what="the sentinel's TTL REMOVE")
        *records, last = invoked(runtime)
        assert (pk_of(last), last["userIdentity"]) == ("sentinel", LAMBDA_SERVICE)
        check_lambda_identity(records, read_stream(setup.raw, setup.arn), setup.arn)
        assert_clean_log(setup.side)


def marked(records: list[dict[str, Any]], identity: dict[str, str]) -> set[str]:
    """Keys whose REMOVE record carries ``identity``."""
    return {
        pk_of(r)
        for r in records
        if r["eventName"] == "REMOVE" and r.get("userIdentity") == identity
    }


def test_every_reader_sees_the_service_identity_of_a_sweep_delete(tmp_path: Path) -> None:
    """A trigger and a live websocket subscriber read the same stream; a subscriber
    arriving later reads it again from TRIM_HORIZON: each must see the identity on
    every one of the sweep's REMOVEs (the engine stores it in the record; a sidecar
    must not hand it to whichever reader happens to read the record first)."""
    runtime = FakeRuntime()
    with runtime.serving() as url, sweeping_sidecar(tmp_path, "--function", f"ttl={url}") as setup:
        lam = make_client(setup.side.endpoint, "lambda")
        lam.create_event_source_mapping(
            FunctionName="ttl",
            EventSourceArn=setup.arn,
            StartingPosition="TRIM_HORIZON",
            FilterCriteria=SERVICE_ONLY,
        )
        with open_ws(setup.side.endpoint) as push:
            push.subscribe("live", table=setup.table, start="TRIM_HORIZON")
            assert push.next_for("live") == subscribed("live", setup.arn)
            write_and_expire(setup)
            upstream = read_stream(setup.raw, setup.arn)
            live = receive_records(push, "live", 14)
            push.subscribe("late", table=setup.table, start="TRIM_HORIZON")
            assert push.next_for("late") == subscribed("late", setup.arn)
            late = receive_records(push, "late", 14)
            with contextlib.suppress(AssertionError):  # fewer arrive if the bug is there
                wait_until(lambda: len(invoked(runtime)) >= 3, timeout=3)
        seen = {
            "live websocket": marked(live, SERVICE),
            "late websocket": marked(late, SERVICE),
            "trigger": marked(invoked(runtime), LAMBDA_SERVICE),
        }
        assert seen == {reader: set(EXPIRED) for reader in seen}
        check_getrecords_identity(live, upstream)
        check_getrecords_identity(late, upstream)
        check_lambda_identity(invoked(runtime), upstream, setup.arn)


def test_a_watched_table_missing_upstream_is_swept_quietly(tmp_path: Path) -> None:
    """``--tables`` may name a table not created upstream yet: the sweep passes over it
    every period without a warning, and sweeps the tables that exist."""
    present, missing = f"present_{time.time_ns()}", f"missing_{time.time_ns()}"
    with Processes(tmp_path) as procs:
        up = procs.upstream("--ttl-period", "0")
        ddb = make_client(up.endpoint)
        create_stream_table(ddb, "KEYS_ONLY", range_key=None, name=present)
        ddb.update_time_to_live(
            TableName=present, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL}
        )
        side = procs.sidecar(
            up.endpoint, "--tables", f"{present},{missing}", "--ttl-sweep", "--ttl-period", "0.2"
        )
        for round_ in range(3):  # three sweeps at least, each over both tables
            ddb.put_item(
                TableName=present,
                Item={"pk": {"S": f"r{round_}"}, TTL: {"N": str(int(time.time()) - 5)}},
            )
            wait_until(
                lambda: ddb.scan(TableName=present, Select="COUNT")["Count"] == 0,
                what=f"round {round_} swept",
            )
        warnings = [line for line in side.log().splitlines() if "warning" in line]
        assert not [line for line in warnings if missing in line], warnings
        assert_clean_log(side)
