"""``GET /_admin/metrics``: the Prometheus text exposition of a server's own counters.

Parsed with a strict little parser (``# HELP``, ``# TYPE``, ``name{labels} value``),
on embedded servers with their own counters: requests by operation and error (DynamoDB,
Streams, Lambda API, unknown targets), the group-commit histograms, stream records
appended (only for real changes of stream-enabled tables), TTL expiries, live
websocket subscriptions and trigger lag. Also: the request id in a response header is
the ``request_id`` of that request's JSON debug log line.
"""

from __future__ import annotations

import json
import math
import re
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from websockets.sync.client import connect

from dynoxide_streams import Server
from tests.conftest import RawClient, make_client
from tests.polling import wait_until
from tests.process import start_server
from tests.wire.test_streams import read_stream

DDB = "DynamoDB_20120810."
REQUESTS = "dynoxide_requests_total"
RECV_TIMEOUT = 15.0

# ------------------------------------------------------------------------ parser

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass
class Exposition:
    helps: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, name: str, **labels: str) -> float:
        """The one sample of ``name`` with exactly ``labels`` (0 when absent)."""
        found = [v for n, ls, v in self.samples if n == name and ls == labels]
        assert len(found) <= 1, (name, labels, found)
        return found[0] if found else 0.0

    def of(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [(ls, v) for n, ls, v in self.samples if n == name]

    def requests(self, operation: str, error: str = "") -> float:
        return self.value(REQUESTS, error=error, operation=operation)

    def buckets(self, name: str) -> list[tuple[float, float]]:
        return [(float(ls["le"]), v) for ls, v in self.of(name + "_bucket")]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _LABEL.match(text, pos)
        assert match is not None, f"bad labels {text!r} at {pos}"
        assert match.group(1) not in labels, f"duplicate label in {text!r}"
        labels[match.group(1)] = _unescape(match.group(2))
        pos = match.end()
    return labels


def parse(text: str) -> Exposition:
    """Parse (and check the structure of) a Prometheus 0.0.4 text exposition."""
    assert text.endswith("\n")
    out = Exposition()
    for line in text.splitlines():
        assert line.strip(), "blank line in the exposition"
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP ") :].partition(" ")
            assert re.fullmatch(_NAME, name) and help_text, line
            assert name not in out.helps, f"HELP of {name} twice"
            out.helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE ") :].partition(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in out.types, f"TYPE of {name} twice"
            assert name in out.helps, f"TYPE of {name} before its HELP"
            out.types[name] = kind
        else:
            assert not line.startswith("#"), line
            match = _SAMPLE.match(line)
            assert match is not None, f"bad sample line {line!r}"
            name, labels, value = match.group(1), _labels(match.group(2) or ""), match.group(3)
            family = name
            if name not in out.types:
                family = next(
                    (name[: -len(s)] for s in _HISTOGRAM_SUFFIXES if name.endswith(s)), name
                )
                assert out.types.get(family) == "histogram", f"sample {name} without TYPE"
            number = float(value)
            assert not math.isnan(number), line
            out.samples.append((name, labels, number))
    return out


def scrape(endpoint: str) -> Exposition:
    with urllib.request.urlopen(endpoint + "/_admin/metrics", timeout=10) as response:
        assert response.status == 200
        content_type = response.headers["Content-Type"]
        assert content_type.startswith("text/plain; version=0.0.4"), content_type
        return parse(response.read().decode("utf-8"))


def check_histogram(metrics: Exposition, name: str) -> None:
    """Buckets ascend, are cumulative, end with +Inf, and +Inf equals _count."""
    buckets = metrics.buckets(name)
    bounds = [b for b, _ in buckets]
    assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), bounds
    assert bounds[-1] == math.inf
    counts = [c for _, c in buckets]
    assert counts == sorted(counts), f"{name} buckets are not cumulative: {counts}"
    assert counts[-1] == metrics.value(name + "_count")
    assert metrics.value(name + "_sum") >= 0


def poll_metric(endpoint: str, read: Callable[[Exposition], float], want: float, what: str) -> None:
    seen: list[float] = []

    def reached() -> bool:
        seen.append(read(scrape(endpoint)))
        return seen[-1] == want

    try:
        wait_until(reached, what=what)
    except AssertionError:
        raise AssertionError(f"{what}: wanted {want}, last saw {seen[-1:]}") from None


# --------------------------------------------------------------------- fixtures


def new_table(
    ddb: Any, *, stream: bool = False, ttl: str | None = None, name: str | None = None
) -> tuple[str, str | None]:
    name = name or f"m_{uuid.uuid4().hex[:10]}"
    extra: dict[str, Any] = {}
    if stream:
        extra["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
    description = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )["TableDescription"]
    if ttl is not None:
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl}
        )
    return name, description.get("LatestStreamArn")


@pytest.fixture(scope="module")
def srv() -> Iterator[Server]:
    """One server for the module (virtual clock, no background TTL sweeps); tests
    compare counters before and after what they do."""
    with Server(clock="virtual", ttl_period=0, function_timeout=30).run_in_thread() as server:
        yield server


@pytest.fixture(scope="module")
def ddb(srv: Server) -> Any:
    return make_client(srv.endpoint)


# ------------------------------------------------------------------------ tests


def test_a_fresh_server_counts_exactly_what_it_was_sent() -> None:
    with Server().run_in_thread() as fresh:
        endpoint = fresh.endpoint
        first = scrape(endpoint)
        for name, kind in (
            (REQUESTS, "counter"),
            ("dynoxide_write_batch_items", "histogram"),
            ("dynoxide_commit_seconds", "histogram"),
            ("dynoxide_stream_records_appended_total", "counter"),
            ("dynoxide_ttl_items_expired_total", "counter"),
            ("dynoxide_websocket_subscribers", "gauge"),
            ("dynoxide_trigger_lag_records", "gauge"),
        ):
            assert first.types.get(name) == kind, (name, first.types)
        assert first.of(REQUESTS) == []
        assert first.value("dynoxide_stream_records_appended_total") == 0
        assert first.of("dynoxide_stream_records_appended_total") == [({}, 0.0)]
        assert first.of("dynoxide_ttl_items_expired_total") == [({}, 0.0)]
        assert first.of("dynoxide_websocket_subscribers") == [({}, 0.0)]
        assert first.of("dynoxide_trigger_lag_records") == []
        assert first.value("dynoxide_write_batch_items_count") == 0
        assert first.value("dynoxide_commit_seconds_count") == 0
        check_histogram(first, "dynoxide_write_batch_items")

        client = make_client(endpoint)
        table, _ = new_table(client)
        for i in range(7):
            client.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}})
        client.get_item(TableName=table, Key={"pk": {"S": "k1"}})
        after = scrape(endpoint)
        assert after.requests(DDB + "PutItem") == 7
        assert after.requests(DDB + "CreateTable") == 1
        assert after.requests(DDB + "GetItem") == 1
        assert {ls["operation"] for ls, _ in after.of(REQUESTS)} == {
            DDB + "PutItem",
            DDB + "CreateTable",
            DDB + "GetItem",
        }
        assert all(ls["error"] == "" for ls, _ in after.of(REQUESTS))
        assert after.value("dynoxide_write_batch_items_sum") == 7
        assert 1 <= after.value("dynoxide_write_batch_items_count") <= 7
        check_histogram(after, "dynoxide_write_batch_items")
        check_histogram(after, "dynoxide_commit_seconds")
        assert after.value("dynoxide_stream_records_appended_total") == 0  # no stream


def test_errors_and_unknown_targets_are_counted(srv: Server, ddb: Any) -> None:
    raw = RawClient(srv.endpoint)
    table, _ = new_table(ddb)
    before = scrape(srv.endpoint)

    missing = raw.call("GetItem", {"TableName": "no_such_table_x", "Key": {"pk": {"S": "a"}}})
    assert missing.error_type == "ResourceNotFoundException"
    invalid = raw.call("PutItem", {"TableName": table, "Item": {"other": {"S": "no key"}}})
    assert invalid.error_type == "ValidationException"
    invalid = raw.call("PutItem", {"TableName": table, "Item": {"pk": {"N": "1"}}})
    assert invalid.error_type == "ValidationException"
    malformed = raw.request(b"{not json", DDB + "ListTables")
    assert malformed.error_type == "SerializationException"
    for target in (DDB + "NoSuchOperation", "Nope_20120810.ListTables", "", None):
        assert raw.request(b"{}", target).error_type == "UnknownOperationException"
    assert raw.call("ListStreams", {}, prefix="DynamoDBStreams_20120810").status == 200
    ok = raw.call("PutItem", {"TableName": table, "Item": {"pk": {"S": "fine"}}})
    assert ok.status == 200

    after = scrape(srv.endpoint)

    def delta(operation: str, error: str = "") -> float:
        return after.requests(operation, error) - before.requests(operation, error)

    assert delta(DDB + "GetItem", "ResourceNotFoundException") == 1
    assert delta(DDB + "GetItem") == 0
    assert delta(DDB + "PutItem", "ValidationException") == 2
    assert delta(DDB + "PutItem") == 1
    assert delta(DDB + "ListTables", "SerializationException") == 1
    assert delta("unknown", "UnknownOperationException") == 4
    assert delta("DynamoDBStreams_20120810.ListStreams") == 1
    # an unknown target never becomes a label of its own
    assert not any("NoSuchOperation" in ls["operation"] for ls, _ in after.of(REQUESTS))
    assert not any(ls["operation"].startswith("Nope") for ls, _ in after.of(REQUESTS))


def test_lambda_api_calls_are_counted(srv: Server, ddb: Any) -> None:
    srv.register_function("metrics_fn", lambda event, context: None)
    _, arn = new_table(ddb, stream=True)
    lam = make_client(srv.endpoint, "lambda")
    before = scrape(srv.endpoint)

    created = lam.create_event_source_mapping(
        FunctionName="metrics_fn", EventSourceArn=arn, StartingPosition="LATEST"
    )
    mapping = created["UUID"]
    lam.list_event_source_mappings(EventSourceArn=arn)
    lam.get_event_source_mapping(UUID=mapping)
    lam.update_event_source_mapping(UUID=mapping, BatchSize=7)
    with pytest.raises(ClientError) as missing:
        lam.get_event_source_mapping(UUID=str(uuid.uuid4()))
    missing_code = missing.value.response["Error"]["Code"]
    assert missing_code == "ResourceNotFoundException"
    with pytest.raises(ClientError) as unknown:
        lam.create_event_source_mapping(
            FunctionName="not_registered", EventSourceArn=arn, StartingPosition="LATEST"
        )
    unknown_code = unknown.value.response["Error"]["Code"]
    lam.delete_event_source_mapping(UUID=mapping)

    after = scrape(srv.endpoint)

    def delta(operation: str, error: str = "") -> float:
        return after.requests(operation, error) - before.requests(operation, error)

    assert delta("Lambda.CreateEventSourceMapping") == 1
    assert delta("Lambda.CreateEventSourceMapping", unknown_code) == 1
    assert delta("Lambda.ListEventSourceMappings") == 1
    assert delta("Lambda.GetEventSourceMapping") == 1
    assert delta("Lambda.GetEventSourceMapping", "ResourceNotFoundException") == 1
    assert delta("Lambda.UpdateEventSourceMapping") == 1
    assert delta("Lambda.DeleteEventSourceMapping") == 1


def test_write_histograms_grow_with_writes(srv: Server, ddb: Any) -> None:
    table, _ = new_table(ddb)
    before = scrape(srv.endpoint)
    ddb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}} for i in range(25)]}
    )
    after = scrape(srv.endpoint)
    items, seconds = "dynoxide_write_batch_items", "dynoxide_commit_seconds"
    for name in (items, seconds):
        check_histogram(before, name)
        check_histogram(after, name)
    assert after.value(items + "_sum") - before.value(items + "_sum") >= 25
    assert after.value(items + "_count") - before.value(items + "_count") >= 1
    # the 25 writes committed together: one observation above the 16 bucket
    grew = {
        bound: count - dict(before.buckets(items))[bound] for bound, count in after.buckets(items)
    }
    assert grew[32] - grew[16] >= 1, grew
    assert after.value(seconds + "_count") - before.value(seconds + "_count") >= 1
    assert after.value(seconds + "_sum") > before.value(seconds + "_sum")
    assert after.value(seconds + "_sum") > 0


def test_stream_records_count_real_changes_of_stream_tables(srv: Server, ddb: Any) -> None:
    streamed, arn = new_table(ddb, stream=True)
    assert arn is not None
    plain, _ = new_table(ddb)
    key = {"pk": {"S": "a"}}

    def appended() -> float:
        return scrape(srv.endpoint).value("dynoxide_stream_records_appended_total")

    start = appended()
    ddb.put_item(TableName=streamed, Item={**key, "v": {"N": "1"}})  # INSERT
    ddb.put_item(TableName=streamed, Item={**key, "v": {"N": "2"}})  # MODIFY
    ddb.update_item(
        TableName=streamed,
        Key=key,
        UpdateExpression="SET w = :w",
        ExpressionAttributeValues={":w": {"S": "x"}},
    )  # MODIFY
    ddb.batch_write_item(
        RequestItems={
            streamed: [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}} for i in range(3)]
        }
    )  # 3 INSERTs
    ddb.delete_item(TableName=streamed, Key={"pk": {"S": "b0"}})  # REMOVE
    assert appended() - start == 7

    # writes that change nothing append nothing
    ddb.delete_item(TableName=streamed, Key={"pk": {"S": "never-written"}})
    ddb.put_item(TableName=streamed, Item={"pk": {"S": "a"}, "v": {"N": "2"}, "w": {"S": "x"}})
    ddb.update_item(
        TableName=streamed,
        Key=key,
        UpdateExpression="SET w = :w",
        ExpressionAttributeValues={":w": {"S": "x"}},
    )
    # nor do writes to a table without a stream
    for i in range(4):
        ddb.put_item(TableName=plain, Item={"pk": {"S": f"p{i}"}})
    ddb.delete_item(TableName=plain, Key={"pk": {"S": "p0"}})
    assert appended() - start == 7
    # the counter agrees with what GetRecords reads
    assert len(read_stream(RawClient(srv.endpoint), arn)) == 7


def test_ttl_expiries_are_counted(srv: Server, ddb: Any) -> None:
    table, arn = new_table(ddb, stream=True, ttl="expires")
    assert arn is not None
    now = int(srv.clock.now())
    for i in range(3):
        ddb.put_item(
            TableName=table, Item={"pk": {"S": f"old{i}"}, "expires": {"N": str(now + 10)}}
        )
    ddb.put_item(TableName=table, Item={"pk": {"S": "young"}, "expires": {"N": str(now + 10**6)}})
    before = scrape(srv.endpoint)
    srv.clock.advance(60)
    assert srv.sweep_ttl_sync() == 3
    middle = scrape(srv.endpoint)
    expired = "dynoxide_ttl_items_expired_total"
    appended = "dynoxide_stream_records_appended_total"
    assert middle.value(expired) - before.value(expired) == 3
    assert middle.value(appended) - before.value(appended) == 3  # the REMOVE records
    assert srv.sweep_ttl_sync() == 0
    assert scrape(srv.endpoint).value(expired) == middle.value(expired)


def _ws_recv(ws: Any) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=RECV_TIMEOUT))
    return frame


def test_websocket_subscribers_gauge(srv: Server, ddb: Any) -> None:
    table, _ = new_table(ddb, stream=True)
    endpoint = srv.endpoint
    gauge = "dynoxide_websocket_subscribers"

    def subscribers(metrics: Exposition) -> float:
        return metrics.value(gauge)

    poll_metric(endpoint, subscribers, 0, "no subscribers at first")
    url = endpoint.replace("http", "ws", 1) + "/_streams/ws"
    with connect(url, proxy=None, open_timeout=10, close_timeout=5) as ws:
        assert scrape(endpoint).value(gauge) == 0  # a connection is not a subscription
        ws.send(json.dumps({"action": "subscribe", "id": "s1", "table": table, "from": "LATEST"}))
        assert _ws_recv(ws)["type"] == "subscribed"
        poll_metric(endpoint, subscribers, 1, "one subscriber")
        ws.send(json.dumps({"action": "subscribe", "id": "s2", "table": table}))
        assert _ws_recv(ws)["type"] == "subscribed"
        poll_metric(endpoint, subscribers, 2, "two subscriptions on one connection")
        ws.send(json.dumps({"action": "subscribe", "id": "s2", "table": table}))  # refused
        assert _ws_recv(ws)["type"] == "error"
        assert scrape(endpoint).value(gauge) == 2
        ws.send(json.dumps({"action": "unsubscribe", "id": "s2"}))
        assert _ws_recv(ws) == {"type": "unsubscribed", "id": "s2"}
        poll_metric(endpoint, subscribers, 1, "one subscriber after unsubscribing")
    poll_metric(endpoint, subscribers, 0, "no subscriber after closing")

    # a client that vanishes without a close frame is counted out too
    with connect(url, proxy=None, open_timeout=10, close_timeout=1) as ws:
        ws.send(json.dumps({"action": "subscribe", "id": "s", "table": table}))
        assert _ws_recv(ws)["type"] == "subscribed"
        poll_metric(endpoint, subscribers, 1, "a subscriber")
        ws.socket.close()  # no closing handshake
        poll_metric(endpoint, subscribers, 0, "no subscriber after the client vanished")


def test_trigger_lag_while_a_handler_is_blocked(srv: Server, ddb: Any) -> None:
    table, arn = new_table(ddb, stream=True)
    entered = threading.Event()
    gate = threading.Event()
    seen: list[str] = []
    function = f"lag_{uuid.uuid4().hex[:8]}"

    def handler(event: dict[str, Any], context: Any) -> None:
        entered.set()
        assert gate.wait(20), "the test never released the handler"
        seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

    def lag(metrics: Exposition) -> float:
        samples = [(ls, v) for ls, v in metrics.of("dynoxide_trigger_lag_records")]
        mine = [v for ls, v in samples if ls.get("function") == function]
        return mine[0] if len(mine) == 1 else -1.0

    srv.add_trigger(table, handler, name=function, batch_size=100)
    try:
        lam = make_client(srv.endpoint, "lambda")
        mappings = wait_until(
            lambda: lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"],
            what="the declared trigger to be bound",
        )
        assert [m["FunctionArn"].rsplit(":", 1)[-1] for m in mappings] == [function]
        poll_metric(srv.endpoint, lag, 0, "a lag sample of 0 before any write")
        samples = scrape(srv.endpoint).of("dynoxide_trigger_lag_records")
        mine = [ls for ls, _ in samples if ls.get("function") == function]
        assert mine == [{"function": function, "uuid": mappings[0]["UUID"]}]

        ddb.put_item(TableName=table, Item={"pk": {"S": "r0"}})
        assert entered.wait(15), "the handler was not invoked"
        for i in range(1, 5):
            ddb.put_item(TableName=table, Item={"pk": {"S": f"r{i}"}})
        # nothing is checkpointed yet: all five records are behind
        poll_metric(srv.endpoint, lag, 5, "lag of five records while the handler is blocked")
        assert lag(scrape(srv.endpoint)) == 5
    finally:
        gate.set()
    poll_metric(srv.endpoint, lag, 0, "lag back to 0 once the handler returns")
    assert sorted(seen) == [f"r{i}" for i in range(5)]


def test_request_id_header_matches_the_debug_log_line(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--log-level", "debug", "--log-format", "json")
    try:
        raw = RawClient(server.endpoint)
        ok = raw.call("ListTables", {})
        failed = raw.call("DescribeTable", {"TableName": "absent"})
        assert ok.status == 200 and failed.status == 400
        rid_ok = ok.headers["x-amzn-requestid"]
        rid_failed = failed.headers["x-amzn-requestid"]
        assert rid_ok != rid_failed

        def request_lines() -> dict[str, dict[str, Any]]:
            lines: dict[str, dict[str, Any]] = {}
            for line in server.log().splitlines():
                if not line.startswith("{"):
                    continue
                entry = json.loads(line)
                if entry.get("event") == "request":
                    lines[entry["request_id"]] = entry
            return lines

        logged = wait_until(
            lambda: (lambda found: found if {rid_ok, rid_failed} <= found.keys() else None)(
                request_lines()
            ),
            what="both request log lines",
        )
        assert logged[rid_ok]["target"] == DDB + "ListTables"
        assert logged[rid_ok]["status"] == 200 and logged[rid_ok]["error"] == ""
        assert logged[rid_failed]["target"] == DDB + "DescribeTable"
        assert logged[rid_failed]["status"] == 400
        assert logged[rid_failed]["error"] == "ResourceNotFoundException"
        assert logged[rid_ok]["level"] == "debug"
    finally:
        assert server.terminate() == 0
