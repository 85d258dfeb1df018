"""Triggers end to end: what a handler receives and when.

Writes go through boto3 against a real server; handlers are Python callables
registered on an embedded server (the shared session ``server``, or a test's own
``Server(clock="virtual")`` when data time must move). Covered here: the exact Lambda
event (and that it agrees with GetRecords and parses with Powertools), filters, TTL
deletes, ParallelizationFactor, shard rotation, StartingPosition LATEST through the
Lambda API, batching windows, tumbling windows, disable/enable and async handlers.
Failure handling lives in ``test_triggers_failures.py``, which shares the helpers at
the top of this file.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import inspect
import itertools
import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecordEventName,
    DynamoDBStreamEvent,
    StreamViewType,
)
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel

from dynoxide_streams import Server
from tests.conftest import RawClient, make_client
from tests.wire.test_streams import create_stream_table, read_stream, unique_name

WAIT = 10.0
"""Seconds any single expected delivery may take before the test fails."""

EVENT_ID_RE = re.compile(r"[0-9a-f]{32}")
SEQ_RE = re.compile(r"\d{21,}")
RECORD_KEYS = {
    "eventID",
    "eventName",
    "eventVersion",
    "eventSource",
    "awsRegion",
    "dynamodb",
    "eventSourceARN",
}
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


# ------------------------------------------------------------------- shared helpers


@dataclass
class Call:
    """One invocation of a :class:`Recorder`: the event, and how it ended."""

    event: dict[str, Any]
    response: Any = None
    error: BaseException | None = None
    done: bool = False

    @property
    def records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.event.get("Records", [])
        return records

    @property
    def keys(self) -> list[str]:
        return [key_of(r) for r in self.records]

    @property
    def seqs(self) -> list[str]:
        return [seq_of(r) for r in self.records]

    @property
    def ok(self) -> bool:
        return self.done and self.error is None


class Recorder:
    """A sync handler that records every invocation (thread-safe, waitable).

    ``respond(event, context, index)`` computes the response (or raises); ``index`` is
    the 0-based number of the invocation.
    """

    def __init__(self, respond: Callable[[dict[str, Any], Any, int], Any] | None = None) -> None:
        self.respond = respond
        self.calls: list[Call] = []
        self.contexts: list[Any] = []
        self.cond = threading.Condition()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        call = Call(copy.deepcopy(event))
        with self.cond:
            index = len(self.calls)
            self.calls.append(call)
            self.contexts.append(context)
            self.cond.notify_all()
        try:
            call.response = None if self.respond is None else self.respond(event, context, index)
            return call.response
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self.cond:
                call.done = True
                self.cond.notify_all()

    def wait_for(
        self, predicate: Callable[[list[Call]], bool], what: str, timeout: float = WAIT
    ) -> list[Call]:
        """Wait until ``predicate(calls)`` holds; a snapshot of the calls."""
        with self.cond:
            ok = self.cond.wait_for(lambda: predicate(self.calls), timeout)
            snapshot = list(self.calls)
        assert ok, f"timed out waiting for {what}; calls: {[c.keys for c in snapshot]}"
        return snapshot

    def wait_calls(self, count: int, timeout: float = WAIT) -> list[Call]:
        """Wait until ``count`` invocations have finished."""
        return self.wait_for(
            lambda calls: sum(c.done for c in calls) >= count, f"{count} calls", timeout
        )

    def wait_key(self, key: str, *, ok: bool = True, timeout: float = WAIT) -> list[Call]:
        """Wait until an invocation holding ``key`` has finished (successfully)."""
        return self.wait_for(
            lambda calls: any(key in c.keys and (c.ok or not ok) and c.done for c in calls),
            f"record {key}",
            timeout,
        )

    def quiet(self, predicate: Callable[[list[Call]], bool], seconds: float) -> bool:
        """Whether ``predicate`` stays false for ``seconds`` (a bounded negative check)."""
        with self.cond:
            return not self.cond.wait_for(lambda: predicate(self.calls), seconds)

    @property
    def records(self) -> list[dict[str, Any]]:
        with self.cond:
            return [r for c in self.calls for r in c.records]


def key_of(record: dict[str, Any]) -> str:
    key: str = record["dynamodb"]["Keys"]["pk"]["S"]
    return key


def seq_of(record: dict[str, Any]) -> str:
    seq: str = record["dynamodb"]["SequenceNumber"]
    return seq


def seq_key(seq: str) -> tuple[int, str]:
    """Sort key for sequence numbers (decimal strings)."""
    return (len(seq), seq)


def stream_table(ddb: Any, view: str = "NEW_AND_OLD_IMAGES") -> tuple[str, str]:
    """A table (hash key ``pk`` S) with a stream; (name, LatestStreamArn)."""
    name, arn = create_stream_table(ddb, view, range_key=None, name=unique_name("trg"))
    assert arn is not None
    assert ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"] == arn
    return name, arn


def put(ddb: Any, table: str, key: str, **attrs: Any) -> None:
    item: dict[str, Any] = {"pk": {"S": key}}
    item.update(attrs)
    ddb.put_item(TableName=table, Item=item)


def put_all(ddb: Any, table: str, keys: list[str]) -> None:
    for key in keys:
        put(ddb, table, key)


def stream_seqs(endpoint: str, arn: str) -> list[str]:
    """Every sequence number of the stream, parents first (raw GetRecords)."""
    return [seq_of(r) for r in read_stream(RawClient(endpoint), arn)]


def mapping_of(endpoint: str, stream_arn: str, function: str) -> dict[str, Any]:
    """The mapping a declared trigger created (declarations bind asynchronously)."""
    lam = make_client(endpoint, "lambda")
    deadline = time.monotonic() + WAIT
    while True:
        found = lam.list_event_source_mappings(EventSourceArn=stream_arn, FunctionName=function)[
            "EventSourceMappings"
        ]
        if found:
            assert len(found) == 1, found
            mapping: dict[str, Any] = found[0]
            return mapping
        assert time.monotonic() < deadline, f"no mapping for {function} on {stream_arn}"
        time.sleep(0.01)


def wait_state(endpoint: str, uuid: str, state: str) -> dict[str, Any]:
    """Poll GetEventSourceMapping until the mapping is in ``state``."""
    lam = make_client(endpoint, "lambda")
    deadline = time.monotonic() + WAIT
    while True:
        mapping: dict[str, Any] = lam.get_event_source_mapping(UUID=uuid)
        if mapping["State"] == state:
            return mapping
        assert time.monotonic() < deadline, f"mapping {uuid} stuck in {mapping['State']}"
        time.sleep(0.01)


def dead_letters(endpoint: str, uuid: str) -> list[dict[str, Any]]:
    """``GET /_admin/triggers/dead-letters?uuid=`` (the server's dead-letter log)."""
    url = f"{endpoint}/_admin/triggers/dead-letters?uuid={uuid}"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        body = json.loads(response.read())
    assert set(body) == {"DeadLetters"}
    letters: list[dict[str, Any]] = body["DeadLetters"]
    return letters


def wait_dead_letters(endpoint: str, uuid: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT
    while True:
        letters = dead_letters(endpoint, uuid)
        if len(letters) >= count:
            return letters
        assert time.monotonic() < deadline, f"{count} dead letters expected, got {letters}"
        time.sleep(0.02)


class Destination:
    """A tiny HTTP server recording POSTed JSON bodies (an OnFailure destination)."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.cond = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with owner.cond:
                    owner.bodies.append(body)
                    owner.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/failures"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Destination:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def wait(self, count: int) -> list[Any]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.bodies) >= count, WAIT)
            snapshot = list(self.bodies)
        assert ok, f"{count} POSTs expected, got {snapshot}"
        return snapshot


@contextmanager
def virtual_server(**settings: Any) -> Iterator[tuple[Server, Any]]:
    """An own embedded server on a virtual clock, and a boto3 DynamoDB client on it."""
    with Server(clock="virtual", **settings).run_in_thread() as srv:
        yield srv, make_client(srv.endpoint)


# --------------------------------------------------------------------- event shape


def _item(version: int) -> dict[str, Any]:
    return {
        "pk": {"S": "item"},
        "n": {"N": str(version)},
        "name": {"S": f"v{version}"},
        "blob": {"B": bytes([0, version, 255])},
        "tags": {"SS": ["a", "b"]},
        "doc": {"M": {"flag": {"BOOL": True}, "nothing": {"NULL": True}, "list": {"L": []}}},
    }


def _wire(item: dict[str, Any]) -> dict[str, Any]:
    """An item as it appears in event JSON (binary values base64-encoded)."""
    out = copy.deepcopy(item)
    out["blob"] = {"B": base64.b64encode(item["blob"]["B"]).decode()}
    return out


def _plain(version: int) -> dict[str, Any]:
    """The item deserialised the way Powertools does it (binary stays base64 text)."""
    return {
        "pk": "item",
        "n": Decimal(version),
        "name": f"v{version}",
        "blob": base64.b64encode(bytes([0, version, 255])).decode(),
        "tags": {"a", "b"},
        "doc": {"flag": True, "nothing": None, "list": []},
    }


def _write_lifecycle(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item=_item(1))
    v2 = _item(2)
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "item"}},
        UpdateExpression="SET #n = :n, #name = :name, #blob = :blob",
        ExpressionAttributeNames={"#n": "n", "#name": "name", "#blob": "blob"},
        ExpressionAttributeValues={":n": v2["n"], ":name": v2["name"], ":blob": v2["blob"]},
    )
    ddb.delete_item(TableName=table, Key={"pk": {"S": "item"}})


def test_event_shape_insert_modify_remove(server: Server, ddb: Any, endpoint: str) -> None:
    table, arn = stream_table(ddb)
    keys_table, keys_arn = stream_table(ddb, "KEYS_ONLY")
    full, keys_only = Recorder(), Recorder()
    function = unique_name("shape")
    server.add_trigger(table, full, name=function)
    server.add_trigger(keys_table, keys_only, name=unique_name("shape_keys"))
    started = time.time()
    _write_lifecycle(ddb, table)
    _write_lifecycle(ddb, keys_table)
    full.wait_for(lambda calls: sum(len(c.records) for c in calls if c.done) >= 3, "3 records")
    keys_only.wait_for(lambda calls: sum(len(c.records) for c in calls if c.done) >= 3, "3 keys")

    records = full.records
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    images = [
        ({"NewImage": _wire(_item(1))}),
        ({"OldImage": _wire(_item(1)), "NewImage": _wire(_item(2))}),
        ({"OldImage": _wire(_item(2))}),
    ]
    for record, image in zip(records, images, strict=True):
        assert set(record) == RECORD_KEYS  # no userIdentity for a user's write
        assert EVENT_ID_RE.fullmatch(record["eventID"])
        assert record["eventVersion"] == "1.1"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == "us-east-1"
        assert record["eventSourceARN"] == arn
        dynamodb = record["dynamodb"]
        assert set(dynamodb) == {
            "ApproximateCreationDateTime",
            "Keys",
            "SequenceNumber",
            "SizeBytes",
            "StreamViewType",
            *image,
        }
        created = dynamodb["ApproximateCreationDateTime"]
        assert type(created) is int
        assert started - 5 <= created <= time.time() + 1
        assert dynamodb["Keys"] == {"pk": {"S": "item"}}
        assert SEQ_RE.fullmatch(dynamodb["SequenceNumber"])
        assert type(dynamodb["SizeBytes"]) is int and dynamodb["SizeBytes"] > 0
        assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        for name, value in image.items():
            assert dynamodb[name] == value, name
    assert len({r["eventID"] for r in records}) == 3
    seqs = [seq_of(r) for r in records]
    assert sorted(seqs, key=seq_key) == seqs and len(set(seqs)) == 3

    # the very same records GetRecords returns (boto3 dynamodbstreams client) ...
    streams = make_client(endpoint, "dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    got = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["eventID"] for r in got] == [r["eventID"] for r in records]
    assert [r["dynamodb"]["SequenceNumber"] for r in got] == seqs
    for mine, theirs in zip(records, got, strict=True):
        assert mine["eventName"] == theirs["eventName"]
        assert mine["dynamodb"]["SizeBytes"] == theirs["dynamodb"]["SizeBytes"]
        assert mine["dynamodb"]["Keys"] == theirs["dynamodb"]["Keys"]
        assert mine["dynamodb"]["ApproximateCreationDateTime"] == int(
            theirs["dynamodb"]["ApproximateCreationDateTime"].timestamp()
        )
    # ... and byte for byte the same ``dynamodb`` member as the raw GetRecords JSON
    raw = read_stream(RawClient(endpoint), arn)
    assert [r["dynamodb"] for r in raw] == [r["dynamodb"] for r in records]

    # Powertools: the parser model and the data class both accept every event
    for call in full.calls:
        parsed = DynamoDBStreamModel(**call.event)
        assert [r.eventName for r in parsed.Records] == [r["eventName"] for r in call.records]
        assert all(r.eventSourceARN == arn and r.userIdentity is None for r in parsed.Records)
    for call in full.calls:
        for record in DynamoDBStreamEvent(call.event).records:
            assert record.event_source_arn == arn
            assert record.dynamodb is not None
            assert record.dynamodb.stream_view_type == StreamViewType.NEW_AND_OLD_IMAGES
            assert record.dynamodb.keys == {"pk": "item"}
            assert record.dynamodb.approximate_creation_date_time is not None
            if record.event_name == DynamoDBRecordEventName.INSERT:
                assert record.dynamodb.new_image == _plain(1)
                assert record.dynamodb.old_image == {}
            elif record.event_name == DynamoDBRecordEventName.MODIFY:
                assert record.dynamodb.old_image == _plain(1)
                assert record.dynamodb.new_image == _plain(2)
            else:
                assert record.event_name == DynamoDBRecordEventName.REMOVE
                assert record.dynamodb.old_image == _plain(2)
                assert record.dynamodb.new_image == {}

    # KEYS_ONLY: no images at all
    keyed = keys_only.records
    assert [r["eventName"] for r in keyed] == ["INSERT", "MODIFY", "REMOVE"]
    for record in keyed:
        assert set(record) == RECORD_KEYS
        assert record["eventSourceARN"] == keys_arn
        assert set(record["dynamodb"]) == {
            "ApproximateCreationDateTime",
            "Keys",
            "SequenceNumber",
            "SizeBytes",
            "StreamViewType",
        }
        assert record["dynamodb"]["StreamViewType"] == "KEYS_ONLY"
        assert record["dynamodb"]["Keys"] == {"pk": {"S": "item"}}
    for call in keys_only.calls:
        parsed = DynamoDBStreamModel(**call.event)
        assert all(
            r.dynamodb.NewImage is None and r.dynamodb.OldImage is None for r in parsed.Records
        )

    # the context argument carries what Lambda's does
    context = full.contexts[0]
    assert context.function_name == function
    assert (
        context.invoked_function_arn == f"arn:aws:lambda:us-east-1:000000000000:function:{function}"
    )
    assert 0 < context.get_remaining_time_in_millis() <= 3000
    assert isinstance(context.aws_request_id, str) and context.aws_request_id


# ------------------------------------------------------------------------- filters


def test_filters_deliver_only_matching_records_and_pass_the_rest(server: Server, ddb: Any) -> None:
    table, _ = stream_table(ddb)
    rec = Recorder()
    pattern = '{"eventName":["INSERT"],"dynamodb":{"NewImage":{"name":{"S":[{"prefix":"us-"}]}}}}'
    server.add_trigger(table, rec, name=unique_name("filtered"), filters=[pattern])

    put(ddb, table, "k1", name={"S": "us-east"})  # match
    put(ddb, table, "k2", name={"S": "eu-west"})
    put(ddb, table, "k3", name={"S": "us-west"})  # match
    put(ddb, table, "k1", name={"S": "us-north"})  # MODIFY, not INSERT
    put(ddb, table, "k4", name={"S": "US-east"})  # case matters
    put(ddb, table, "k5")  # no name at all
    put(ddb, table, "k6", name={"N": "1"})  # not a string
    put(ddb, table, "k7", name={"S": "us"})  # shorter than the prefix
    ddb.delete_item(TableName=table, Key={"pk": {"S": "k3"}})  # REMOVE
    put(ddb, table, "k8", name={"S": "us-"})  # match (prefix equals value)
    put(ddb, table, "sentinel", name={"S": "us-sentinel"})  # match
    rec.wait_key("sentinel")
    assert [key_of(r) for r in rec.records] == ["k1", "k3", "k8", "sentinel"]
    assert all(r["eventName"] == "INSERT" for r in rec.records)
    assert [r["dynamodb"]["NewImage"]["name"]["S"] for r in rec.records] == [
        "us-east",
        "us-west",
        "us-",
        "us-sentinel",
    ]
    # filtered-out records were checkpointed past: nothing comes again, only the new match
    before = len(rec.records)
    put(ddb, table, "x1", name={"S": "eu-x"})
    put(ddb, table, "x2", name={"S": "us-after"})
    rec.wait_key("x2")
    assert [key_of(r) for r in rec.records[before:]] == ["x2"]
    assert [key_of(r) for r in rec.records] == ["k1", "k3", "k8", "sentinel", "x2"]


# ----------------------------------------------------------------------------- TTL


def test_ttl_deletes_reach_a_trigger_filtered_on_the_service_identity() -> None:
    with virtual_server() as (srv, ddb):
        table, arn = stream_table(ddb)
        ddb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
        )
        now = int(srv.clock.now())
        put(ddb, table, "old1", expires={"N": str(now - 100)})
        put(ddb, table, "old2", expires={"N": str(now - 10)})
        put(ddb, table, "later", expires={"N": str(now + 3600)})
        put(ddb, table, "never")
        put(ddb, table, "mine", expires={"N": str(now + 3600)})
        ddb.delete_item(TableName=table, Key={"pk": {"S": "mine"}})  # a user's delete
        rec = Recorder()
        pattern = '{"userIdentity":{"type":["Service"],"principalId":["dynamodb.amazonaws.com"]}}'
        srv.add_trigger(table, rec, name="ttl_only", filters=[pattern])

        assert srv.sweep_ttl_sync() == 2
        rec.wait_for(lambda calls: sum(len(c.records) for c in calls if c.ok) >= 2, "2 TTL deletes")
        records = rec.records
        assert sorted(key_of(r) for r in records) == ["old1", "old2"]
        for record in records:
            assert record["eventName"] == "REMOVE"
            assert record["userIdentity"] == TTL_IDENTITY
            assert set(record) == {*RECORD_KEYS, "userIdentity"}
            assert record["eventSourceARN"] == arn
            assert "NewImage" not in record["dynamodb"]
            assert record["dynamodb"]["OldImage"]["pk"] == {"S": key_of(record)}
        for call in rec.calls:
            parsed = DynamoDBStreamModel(**call.event)
            assert all(r.userIdentity is not None for r in parsed.Records)
            assert all(
                r.user_identity == TTL_IDENTITY for r in DynamoDBStreamEvent(call.event).records
            )

        # the stream has the user's delete too (GetRecords spells the identity PascalCase)
        raw = read_stream(RawClient(srv.endpoint), arn)
        removes = {key_of(r): r.get("userIdentity") for r in raw if r["eventName"] == "REMOVE"}
        service = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
        assert removes == {"mine": None, "old1": service, "old2": service}

        srv.clock.advance(7200)
        assert srv.sweep_ttl_sync() == 1
        rec.wait_key("later")
        assert [key_of(r) for r in rec.records][2:] == ["later"]
        assert all(r["userIdentity"] == TTL_IDENTITY for r in rec.records)


# ------------------------------------------------------------- ParallelizationFactor


def test_parallelization_keeps_per_item_order_and_delivers_everything(
    server: Server, ddb: Any, endpoint: str
) -> None:
    table, arn = stream_table(ddb)
    lock = threading.Lock()
    seen: list[tuple[str, int]] = []
    in_flight = 0
    most = 0
    done = threading.Condition(lock)

    def handler(event: dict[str, Any], context: Any) -> None:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
            for record in event["Records"]:
                seen.append((key_of(record), int(record["dynamodb"]["NewImage"]["c"]["N"])))
            done.notify_all()
        try:
            threading.Event().wait(0.02)  # "work", so that lanes overlap
        finally:
            with lock:
                in_flight -= 1

    own_keys = [[f"own{t}-{j}" for j in range(2)] for t in range(4)]
    hot_keys = ["hot0", "hot1", "hot2"]
    rounds = 6
    counts: dict[str, int] = {}

    def writers() -> None:
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def write(keys: list[str]) -> None:
            client = make_client(endpoint)
            barrier.wait(WAIT)
            try:
                for _ in range(rounds):
                    for key in keys:
                        client.update_item(
                            TableName=table,
                            Key={"pk": {"S": key}},
                            UpdateExpression="ADD c :one",
                            ExpressionAttributeValues={":one": {"N": "1"}},
                        )
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(keys,)) for keys in own_keys]
        threads += [threading.Thread(target=write, args=(hot_keys,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        for key in itertools.chain(*own_keys):
            counts[key] = counts.get(key, 0) + rounds
        for key in hot_keys:
            counts[key] = counts.get(key, 0) + 4 * rounds

    writers()  # a backlog for every lane before the mapping starts
    function = unique_name("parallel")
    server.add_trigger(table, handler, name=function, batch_size=5, parallelization_factor=4)
    writers()  # and more while it runs
    total = sum(counts.values())
    assert total == 2 * (8 * rounds + 3 * 4 * rounds)
    with done:
        assert done.wait_for(lambda: len(seen) >= total, WAIT), f"{len(seen)} of {total}"
        delivered = list(seen)
    assert len(delivered) == total
    per_key: dict[str, list[int]] = {}
    for key, counter in delivered:
        per_key.setdefault(key, []).append(counter)
    assert per_key == {key: list(range(1, n + 1)) for key, n in counts.items()}
    assert most > 1, "no two batches of the shard were ever in flight together"
    assert mapping_of(endpoint, arn, function)["ParallelizationFactor"] == 4


# ------------------------------------------------------------------ shard rotation


def test_records_of_parent_and_child_shards_arrive_in_order_exactly_once() -> None:
    with virtual_server(shard_rotation_records=5) as (srv, ddb):
        table, arn = stream_table(ddb)
        keys = [f"r{i:02d}" for i in range(12)]
        put_all(ddb, table, keys)  # 5 + 5 + 2: already two closed shards
        rec = Recorder()
        srv.add_trigger(table, rec, name="rotating", batch_size=3)
        more = [f"r{i:02d}" for i in range(12, 18)]
        put_all(ddb, table, more)
        srv.rotate_shards_sync(table)
        last = [f"r{i:02d}" for i in range(18, 21)]
        put_all(ddb, table, last)
        srv.rotate_shards_sync(table)
        put(ddb, table, "r21")
        expected = keys + more + last + ["r21"]
        rec.wait_key("r21")
        shards = make_client(srv.endpoint, "dynamodbstreams").describe_stream(StreamArn=arn)
        assert len(shards["StreamDescription"]["Shards"]) >= 5
        assert [key_of(r) for r in rec.records] == expected
        assert [seq_of(r) for r in rec.records] == stream_seqs(srv.endpoint, arn)
        assert all(c.ok and 1 <= len(c.records) <= 3 for c in rec.calls)
        # nothing more comes: a final write is the only new record
        put(ddb, table, "r22")
        rec.wait_key("r22")
        assert [key_of(r) for r in rec.records] == [*expected, "r22"]


# ------------------------------------------------------- LATEST through the Lambda API


def test_latest_mapping_created_through_the_lambda_api(
    server: Server, ddb: Any, endpoint: str
) -> None:
    table, arn = stream_table(ddb)
    rec = Recorder()
    function = unique_name("latest")
    server.register_function(function, rec)
    put_all(ddb, table, ["before0", "before1"])
    lam = make_client(endpoint, "lambda")
    created = lam.create_event_source_mapping(
        FunctionName=function, EventSourceArn=arn, StartingPosition="LATEST", BatchSize=10
    )
    try:
        assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert created["StartingPosition"] == "LATEST"
        assert created["State"] == "Creating"
        wait_state(endpoint, created["UUID"], "Enabled")
        put_all(ddb, table, ["after0", "after1"])
        rec.wait_for(lambda calls: sum(len(c.records) for c in calls if c.ok) >= 2, "2 records")
        assert [key_of(r) for r in rec.records] == ["after0", "after1"]
        put(ddb, table, "after2")
        rec.wait_key("after2")
        assert [key_of(r) for r in rec.records] == ["after0", "after1", "after2"]
    finally:
        lam.delete_event_source_mapping(UUID=created["UUID"])


# --------------------------------------------------------------------------- batching


def test_batching_window_gathers_quick_writes_into_one_invocation(
    server: Server, ddb: Any, endpoint: str
) -> None:
    table, arn = stream_table(ddb)
    rec = Recorder()
    function = unique_name("window")
    server.add_trigger(
        table, rec, name=function, batch_size=100, maximum_batching_window_in_seconds=1
    )
    wait_state(endpoint, mapping_of(endpoint, arn, function)["UUID"], "Enabled")
    keys = [f"w{i}" for i in range(5)]
    put_all(ddb, table, keys)
    calls = rec.wait_calls(1)
    assert len(calls) == 1
    assert calls[0].keys == keys


def test_batch_size_one_without_window_invokes_per_record(server: Server, ddb: Any) -> None:
    table, _ = stream_table(ddb)
    rec = Recorder()
    server.add_trigger(table, rec, name=unique_name("single"), batch_size=1)
    keys = [f"s{i}" for i in range(5)]
    put_all(ddb, table, keys)
    calls = rec.wait_calls(5)
    assert [c.keys for c in calls] == [[k] for k in keys]


# ------------------------------------------------------------------ tumbling windows


def _iso(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_tumbling_window_threads_state_and_ends_with_a_final_invocation() -> None:
    with virtual_server() as (srv, ddb):
        start = (int(srv.clock.now()) // 60 + 1) * 60
        srv.clock.set(start + 1)  # one second into a fresh minute
        table, arn = stream_table(ddb)
        shard_id = make_client(srv.endpoint, "dynamodbstreams").describe_stream(StreamArn=arn)[
            "StreamDescription"
        ]["Shards"][0]["ShardId"]

        def count(event: dict[str, Any], context: Any, index: int) -> dict[str, Any]:
            return {"state": {"count": event["state"].get("count", 0) + len(event["Records"])}}

        rec = Recorder(count)
        srv.add_trigger(table, rec, name="tumbling", tumbling_window_in_seconds=60)
        put(ddb, table, "w1")
        rec.wait_key("w1")
        srv.clock.advance(10)
        put(ddb, table, "w2")
        rec.wait_key("w2")
        put(ddb, table, "w3")
        in_window = rec.wait_key("w3")
        assert [k for c in in_window for k in c.keys] == ["w1", "w2", "w3"]
        assert in_window[0].event["state"] == {}
        for before, after in itertools.pairwise(in_window):
            assert after.event["state"] == before.response["state"]  # state is threaded
        assert in_window[-1].response == {"state": {"count": 3}}
        for call in in_window:
            event = call.event
            assert set(event) == {
                "Records",
                "window",
                "state",
                "shardId",
                "eventSourceARN",
                "isFinalInvokeForWindow",
                "isWindowTerminatedEarly",
            }
            assert event["window"] == {"start": _iso(start), "end": _iso(start + 60)}
            assert event["shardId"] == shard_id
            assert event["eventSourceARN"] == arn
            assert event["isFinalInvokeForWindow"] is False
            assert event["isWindowTerminatedEarly"] is False
            parsed = DynamoDBStreamEvent(event)
            assert parsed.window is not None and parsed.window.start == _iso(start)
            assert parsed.is_final_invoke_for_window is False

        srv.clock.advance(60)  # past the window's end
        put(ddb, table, "n1")
        calls = rec.wait_key("n1")
        after = calls[len(in_window) :]
        assert len(after) == 2, [c.event for c in after]
        final, fresh = after
        assert final.event["Records"] == []
        assert final.event["isFinalInvokeForWindow"] is True
        assert final.event["state"] == {"count": 3}
        assert final.event["window"] == {"start": _iso(start), "end": _iso(start + 60)}
        assert final.event["shardId"] == shard_id
        assert fresh.keys == ["n1"]
        assert fresh.event["state"] == {}
        assert fresh.event["window"] == {"start": _iso(start + 60), "end": _iso(start + 120)}
        assert fresh.event["isFinalInvokeForWindow"] is False
        assert fresh.response == {"state": {"count": 1}}


# --------------------------------------------------------------------- disable/enable


def test_disabled_mapping_resumes_from_its_checkpoint(
    server: Server, ddb: Any, endpoint: str
) -> None:
    table, arn = stream_table(ddb)
    rec, witness = Recorder(), Recorder()
    function = unique_name("toggle")
    server.add_trigger(table, rec, name=function)
    server.add_trigger(table, witness, name=unique_name("witness"))
    put(ddb, table, "r1")
    rec.wait_key("r1")
    uuid = mapping_of(endpoint, arn, function)["UUID"]
    lam = make_client(endpoint, "lambda")
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_state(endpoint, uuid, "Disabled")

    put_all(ddb, table, ["r2", "r3"])
    witness.wait_key("r3")  # delivery goes on for the other mapping of the stream ...
    assert rec.quiet(lambda calls: len(calls) > 1, 0.5)  # ... not for the disabled one
    assert [key_of(r) for r in rec.records] == ["r1"]

    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    wait_state(endpoint, uuid, "Enabled")
    rec.wait_key("r3")
    assert [key_of(r) for r in rec.records] == ["r1", "r2", "r3"]
    put(ddb, table, "r4")
    rec.wait_key("r4")
    assert [key_of(r) for r in rec.records] == ["r1", "r2", "r3", "r4"]
    witness.wait_key("r4")
    assert [key_of(r) for r in witness.records] == ["r1", "r2", "r3", "r4"]


# ----------------------------------------------------------------------- async handler


def test_async_handler_runs_and_its_response_counts(server: Server, ddb: Any) -> None:
    table, _ = stream_table(ddb)
    cond = threading.Condition()
    events: list[dict[str, Any]] = []

    async def on_change(event: dict[str, Any], context: Any) -> dict[str, Any]:
        await asyncio.sleep(0.001)
        with cond:
            events.append(copy.deepcopy(event))
            first = len(events) == 1
            cond.notify_all()
        if first:  # report the second record as failed once
            return {"batchItemFailures": [{"itemIdentifier": seq_of(event["Records"][1])}]}
        return {"batchItemFailures": []}

    assert inspect.iscoroutinefunction(on_change)
    put_all(ddb, table, ["a0", "a1", "a2"])
    server.add_trigger(
        table,
        on_change,
        name=unique_name("async"),
        batch_size=10,
        function_response_types=["ReportBatchItemFailures"],
    )
    with cond:
        assert cond.wait_for(lambda: len(events) >= 2, WAIT), events
    put(ddb, table, "a3")
    with cond:
        assert cond.wait_for(lambda: len(events) >= 3, WAIT), events
        got = [[key_of(r) for r in e["Records"]] for e in events]
    assert got == [["a0", "a1", "a2"], ["a1", "a2"], ["a3"]]
