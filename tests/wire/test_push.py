"""The push websocket (``GET /_streams/ws``): what a subscriber receives.

Every record frame is compared with what GetRecords answers for the same stream — the
same record JSON (same members, same order, the very same bytes) in lineage order
(parents before children, ``shard_end`` after each closed shard) — for TRIM_HORIZON,
LATEST and ``{"after": SequenceNumber}`` starts, table or stream ARN subscriptions,
several subscriptions on one connection, live delivery under concurrent writers and
shard rotations, the stream_disabled / table_deleted / trimmed / unsubscribed
messages, rapid unsubscribe/resubscribe, ping and shutdown. Every receive has a
timeout; nothing sleeps.

The helpers at the top are shared by the other ``test_push_*.py`` files.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from dynoxide_streams import Server
from dynoxide_streams.shards import ids
from tests.conftest import RawClient, make_client
from tests.wire.test_streams import (
    STREAMS,
    VIEW_TYPES,
    create_stream_table,
    describe_shards,
    parents_first,
    read_stream,
    rotate,
    seq,
    shard_iterator,
)

WS_PATH = "/_streams/ws"
RECV_TIMEOUT = 15.0  # generous for a loaded machine; a healthy server answers in ms


# ------------------------------------------------------------------- shared helpers


def ws_url(endpoint: str, query: str = "") -> str:
    return endpoint.replace("http://", "ws://", 1) + WS_PATH + query


def small_buffer_socket(endpoint: str, rcvbuf: int) -> socket.socket:
    """A connected TCP socket with a fixed small receive buffer (no autotuning), so a
    client that stops reading pushes back on the server after a few KB, not 32 MB."""
    parts = urlsplit(endpoint)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
    return sock


@contextmanager
def open_ws(endpoint: str, query: str = "", **options: Any) -> Iterator[Push]:
    """A websocket to the push endpoint (no proxy, bounded open/close)."""
    options.setdefault("open_timeout", 10)
    options.setdefault("close_timeout", 5)
    with connect(ws_url(endpoint, query), proxy=None, **options) as ws:
        yield Push(ws)


@dataclass
class Push:
    """A push client: every receive has a timeout; frames are kept per subscription id
    so tests with several subscriptions can read each one in order."""

    ws: ClientConnection
    pending: dict[str | None, deque[str]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)  # every text frame, in arrival order

    def send(self, message: Any) -> None:
        self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    def subscribe(
        self,
        sid: str,
        *,
        table: str | None = None,
        arn: str | None = None,
        start: Any = None,
    ) -> None:
        message: dict[str, Any] = {"action": "subscribe", "id": sid}
        if table is not None:
            message["table"] = table
        if arn is not None:
            message["streamArn"] = arn
        if start is not None:
            message["from"] = start
        self.send(message)

    def recv_text(self, timeout: float = RECV_TIMEOUT) -> str:
        data = self.ws.recv(timeout=timeout)
        assert isinstance(data, str), f"expected a text frame, got {data[:200]!r}"
        self.log.append(data)
        return data

    def recv(self, timeout: float = RECV_TIMEOUT) -> dict[str, Any]:
        """The next frame, whatever subscription it belongs to."""
        for queue in self.pending.values():
            assert not queue, "use next_for() once frames are queued per subscription"
        frame: dict[str, Any] = json.loads(self.recv_text(timeout))
        return frame

    def next_text_for(self, sid: str | None, timeout: float = RECV_TIMEOUT) -> str:
        """The next frame of subscription ``sid`` (None: frames without an id)."""
        queue = self.pending.setdefault(sid, deque())
        while not queue:
            text = self.recv_text(timeout)
            self.pending.setdefault(json.loads(text).get("id"), deque()).append(text)
        return queue.popleft()

    def next_for(self, sid: str | None, timeout: float = RECV_TIMEOUT) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(self.next_text_for(sid, timeout))
        return frame

    def texts_for(self, sid: str, count: int) -> list[str]:
        return [self.next_text_for(sid) for _ in range(count)]


@dataclass(frozen=True)
class Expected:
    """One frame a subscriber must receive; record frames also carry the GetRecords
    response body the record came from, to check the bytes are the stored ones."""

    frame: dict[str, Any]
    body: str | None = None


def shard_pages(raw: RawClient, arn: str, shard_id: str) -> list[tuple[str, list[Any]]]:
    """GetRecords pages of one shard from TRIM_HORIZON: (raw body, records)."""
    pages: list[tuple[str, list[Any]]] = []
    iterator: str | None = shard_iterator(raw, arn, shard_id)
    while iterator is not None:
        response = raw.call("GetRecords", {"ShardIterator": iterator}, prefix=STREAMS)
        assert response.status == 200, response.body[:300]
        body = response.body.decode()
        page = json.loads(body)
        pages.append((body, page["Records"]))
        iterator = page.get("NextShardIterator")
        if iterator is not None and not page["Records"]:
            break
    return pages


def stream_frames(raw: RawClient, arn: str, sid: str, after: str | None = None) -> list[Expected]:
    """The frames a subscription to ``arn`` must deliver, read back through DescribeStream
    and GetRecords: records of each shard in lineage order, ``shard_end`` after each
    closed shard; with ``after``, only what follows that sequence number."""
    floor = -1 if after is None else int(after)
    expected: list[Expected] = []
    for shard in parents_first(describe_shards(raw, arn)):
        shard_id = shard["ShardId"]
        for body, records in shard_pages(raw, arn, shard_id):
            for record in records:
                if seq(record) > floor:
                    frame = {
                        "type": "record",
                        "id": sid,
                        "streamArn": arn,
                        "shardId": shard_id,
                        "record": record,
                    }
                    expected.append(Expected(frame, body))
        end = shard["SequenceNumberRange"].get("EndingSequenceNumber")
        if end is not None and int(end) > floor:
            expected.append(
                Expected({"type": "shard_end", "id": sid, "streamArn": arn, "shardId": shard_id})
            )
    return expected


def check_frame(text: str, expected: Expected) -> None:
    """``text`` is exactly the expected frame: equal JSON, and for a record, the same
    members in the same order and the very bytes GetRecords returned."""
    got = json.loads(text)
    assert got == expected.frame, (got, expected.frame)
    if expected.body is None:
        return
    assert list(got) == ["type", "id", "streamArn", "shardId", "record"]
    assert json.dumps(got["record"]) == json.dumps(expected.frame["record"])  # member order
    marker = ',"record":'
    assert text.endswith("}") and marker in text
    record_text = text[text.index(marker) + len(marker) : -1]
    assert record_text in expected.body, "the record is not the stored GetRecords bytes"


def check_frames(texts: list[str], expected: list[Expected]) -> None:
    assert len(texts) == len(expected), (len(texts), len(expected))
    for text, wanted in zip(texts, expected, strict=True):
        check_frame(text, wanted)


class _Subscribed(dict[str, Any]):
    """A ``subscribed`` frame: exact fields, plus a ``position`` that must be a wire
    SequenceNumber (where LATEST/TRIM_HORIZON started; its value depends on the log)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, dict):
            return NotImplemented
        rest = {key: value for key, value in other.items() if key != "position"}
        return rest == dict(self) and ids.is_sequence_number(other.get("position"))

    __hash__ = None  # type: ignore[assignment]


def subscribed(sid: str, arn: str) -> dict[str, Any]:
    return _Subscribed(type="subscribed", id=sid, streamArn=arn)


def put(ddb: Any, table: str, key: str, **attributes: str) -> None:
    item = {"pk": {"S": key}, **{name: {"S": value} for name, value in attributes.items()}}
    ddb.put_item(TableName=table, Item=item)


def keys_of(frames: list[dict[str, Any]]) -> list[str]:
    return [f["record"]["dynamodb"]["Keys"]["pk"]["S"] for f in frames if f["type"] == "record"]


def last_sequence(raw: RawClient, arn: str) -> str:
    return str(read_stream(raw, arn)[-1]["dynamodb"]["SequenceNumber"])


# ------------------------------------------------------------- exact frames, all paths


def _write_all_paths(ddb: Any, table: str) -> None:
    """Inserts, modifies, removes from every write API, and writes that change nothing."""

    def key(pk: str, sk: int) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"N": str(sk)}}

    ddb.put_item(TableName=table, Item={**key("a", 1), "s": {"S": "héllo"}, "n": {"N": "1.50"}})
    ddb.put_item(TableName=table, Item={**key("a", 1), "b": {"B": b"\x00\x01\x02"}})
    ddb.put_item(TableName=table, Item={**key("a", 1), "b": {"B": b"\x00\x01\x02"}})  # no change
    ddb.update_item(
        TableName=table,
        Key=key("a", 2),
        UpdateExpression="SET m = :m, ss = :ss",
        ExpressionAttributeValues={
            ":m": {"M": {"l": {"L": [{"N": "7"}, {"BOOL": True}, {"NULL": True}]}}},
            ":ss": {"SS": ["x", "y"]},
        },
    )
    ddb.update_item(
        TableName=table,
        Key=key("a", 2),
        UpdateExpression="ADD c :one REMOVE ss",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    ddb.delete_item(TableName=table, Key=key("a", 1))
    ddb.delete_item(TableName=table, Key=key("missing", 0))  # nothing to delete: no record
    ddb.batch_write_item(
        RequestItems={
            table: [{"PutRequest": {"Item": {**key("b", i), "e": {"S": ""}}}} for i in range(5)]
            + [{"DeleteRequest": {"Key": key("a", 2)}}]
        }
    )
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {**key("c", 1), "ns": {"NS": ["1", "2"]}}}},
            {"Delete": {"TableName": table, "Key": key("b", 0)}},
            {
                "Update": {
                    "TableName": table,
                    "Key": key("b", 1),
                    "UpdateExpression": "SET t = :t",
                    "ExpressionAttributeValues": {":t": {"S": "tx"}},
                }
            },
        ]
    )


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_records_are_the_getrecords_records_live_and_from_trim_horizon(
    ddb: Any, raw: RawClient, endpoint: str, view_type: str
) -> None:
    table, arn = create_stream_table(ddb, view_type)
    assert arn is not None
    with open_ws(endpoint) as push:
        push.subscribe("live", table=table, start="TRIM_HORIZON")
        assert push.next_for("live") == subscribed("live", arn)
        _write_all_paths(ddb, table)
        # a second subscription catches up on what is already in the log
        push.subscribe("late", arn=arn, start="TRIM_HORIZON")
        expected_live = stream_frames(raw, arn, "live")
        expected_late = stream_frames(raw, arn, "late")
        assert len(expected_live) == 14  # 14 changes, no shard closed
        check_frames(push.texts_for("live", len(expected_live)), expected_live)
        assert push.next_for("late") == subscribed("late", arn)
        check_frames(push.texts_for("late", len(expected_late)), expected_late)
        names = [e.frame["record"]["eventName"] for e in expected_live]
        assert names.count("INSERT") == 8 and names.count("REMOVE") == 3


def test_live_delivery_is_in_commit_order_under_concurrent_writers(
    ddb: Any, raw: RawClient, endpoint: str
) -> None:
    table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
    assert arn is not None
    writers, per_writer = 4, 60
    with open_ws(endpoint) as push:
        push.subscribe("s", table=table, start="LATEST")
        assert push.next_for("s") == subscribed("s", arn)
        errors: list[BaseException] = []

        def write(n: int) -> None:
            client = make_client(endpoint)
            try:
                for i in range(per_writer):
                    # a few shared keys, so some records are MODIFYs of another writer's item
                    put(client, table, f"k{(n * per_writer + i) % 37}", v=f"{n}-{i}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        texts = push.texts_for("s", writers * per_writer)
        for thread in threads:
            thread.join(timeout=60)
        assert not errors
        expected = stream_frames(raw, arn, "s")
        check_frames(texts, expected)
        numbers = [seq(json.loads(t)["record"]) for t in texts]
        assert numbers == sorted(set(numbers))


def test_latest_delivers_only_what_commits_after_the_subscription(
    ddb: Any, raw: RawClient, endpoint: str
) -> None:
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    for key in ("old1", "old2"):
        put(ddb, table, key)
    with open_ws(endpoint) as push:
        push.subscribe("explicit", table=table, start="LATEST")
        push.subscribe("default", table=table)  # "from" defaults to LATEST
        assert push.next_for("explicit") == subscribed("explicit", arn)
        assert push.next_for("default") == subscribed("default", arn)
        put(ddb, table, "new1")
        put(ddb, table, "new2")
        tail = str(read_stream(raw, arn)[1]["dynamodb"]["SequenceNumber"])  # old2
        for sid in ("explicit", "default"):
            expected = stream_frames(raw, arn, sid, after=tail)
            check_frames(push.texts_for(sid, 2), expected)
            assert keys_of([e.frame for e in expected]) == ["new1", "new2"]


def test_subscribed_reports_the_resolved_start_position(
    ddb: Any, raw: RawClient, endpoint: str
) -> None:
    """LATEST/TRIM_HORIZON resolve to a concrete position, so a client (a browser
    leader handing over) can resume from it before any record arrived."""
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    with open_ws(endpoint) as push:
        push.subscribe("empty", table=table, start="TRIM_HORIZON")
        assert push.next_for("empty")["position"] == "0" * 21  # before every record
    for key in ("a", "b"):
        put(ddb, table, key)
    last = str(read_stream(raw, arn)[-1]["dynamodb"]["SequenceNumber"])
    with open_ws(endpoint) as push:
        push.subscribe("latest", table=table, start="LATEST")
        position = push.next_for("latest")["position"]
        assert position == last
        put(ddb, table, "c")  # written "during a handover"
        push.subscribe("resumed", table=table, start={"after": position})
        assert push.next_for("resumed") == subscribed("resumed", arn)
        frame = push.next_for("resumed")
        assert frame["type"] == "record" and frame["record"]["dynamodb"]["Keys"] == {
            "pk": {"S": "c"}
        }
        push.subscribe("everything", table=table, start={"after": "0" * 21})
        push.next_for("everything")
        got = [
            push.next_for("everything")["record"]["dynamodb"]["Keys"]["pk"]["S"] for _ in range(3)
        ]
        assert got == ["a", "b", "c"]


def test_after_a_sequence_number_resumes_right_after_it(
    ddb: Any, raw: RawClient, endpoint: str
) -> None:
    table, arn = create_stream_table(ddb, "NEW_IMAGE", range_key=None)
    assert arn is not None
    for i in range(6):
        put(ddb, table, f"k{i}", v=str(i))
    records = read_stream(raw, arn)
    with open_ws(endpoint) as push:
        for i, record in enumerate(records):
            push.subscribe(
                f"s{i}", table=table, start={"after": record["dynamodb"]["SequenceNumber"]}
            )
        for i, record in enumerate(records):
            sid = f"s{i}"
            assert push.next_for(sid) == subscribed(sid, arn)
            expected = stream_frames(raw, arn, sid, after=record["dynamodb"]["SequenceNumber"])
            assert len(expected) == len(records) - i - 1
            check_frames(push.texts_for(sid, len(expected)), expected)
        # the subscription after the newest record gets the next write, and only it
        put(ddb, table, "k6")
        newest = stream_frames(raw, arn, "s5", after=records[-1]["dynamodb"]["SequenceNumber"])
        check_frames(push.texts_for("s5", 1), newest)
        assert keys_of([newest[0].frame]) == ["k6"]


def test_table_and_stream_arn_subscriptions_are_the_same_feed(
    ddb: Any, raw: RawClient, endpoint: str
) -> None:
    table, arn = create_stream_table(ddb, "OLD_IMAGE", range_key=None)
    assert arn is not None
    put(ddb, table, "a", v="1")
    put(ddb, table, "a", v="2")
    with open_ws(endpoint) as push:
        push.subscribe("by-table", table=table, start="TRIM_HORIZON")
        push.subscribe("by-arn", arn=arn, start="TRIM_HORIZON")
        for sid in ("by-table", "by-arn"):
            assert push.next_for(sid) == subscribed(sid, arn)
            check_frames(push.texts_for(sid, 2), stream_frames(raw, arn, sid))


def test_several_subscriptions_on_one_connection_stay_separate_and_ordered(
    ddb: Any, raw: RawClient, endpoint: str
) -> None:
    first, first_arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    second, second_arn = create_stream_table(ddb, "NEW_IMAGE", range_key=None)
    assert first_arn is not None and second_arn is not None
    with open_ws(endpoint) as push:
        push.subscribe("one", table=first, start="TRIM_HORIZON")
        push.subscribe("two", table=second, start="TRIM_HORIZON")
        push.subscribe("one-again", arn=first_arn, start="LATEST")
        assert push.next_for("one") == subscribed("one", first_arn)
        assert push.next_for("two") == subscribed("two", second_arn)
        assert push.next_for("one-again") == subscribed("one-again", first_arn)
        for i in range(20):
            put(ddb, first if i % 3 else second, f"k{i}")
        expected = {
            "one": stream_frames(raw, first_arn, "one"),
            "two": stream_frames(raw, second_arn, "two"),
            "one-again": stream_frames(raw, first_arn, "one-again"),
        }
        assert [len(e) for e in expected.values()] == [13, 7, 13]
        for sid, frames in expected.items():
            check_frames(push.texts_for(sid, len(frames)), frames)
        ids = [json.loads(t)["id"] for t in push.log]
        assert {sid: ids.count(sid) for sid in expected} == {"one": 14, "two": 8, "one-again": 14}


# ------------------------------------------------------------------------- lineage


def test_lineage_across_rotations(ddb: Any, raw: RawClient, endpoint: str, server: Server) -> None:
    table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
    assert arn is not None
    with open_ws(endpoint) as push:
        push.subscribe("live", table=table, start="TRIM_HORIZON")
        assert push.next_for("live") == subscribed("live", arn)
        for i in range(3):
            put(ddb, table, f"a{i}")
        received = push.texts_for("live", 3)
        # a rotation alone (no later write) ends the shard for the live subscriber at once
        first_shard = describe_shards(raw, arn)[0]["ShardId"]
        server.rotate_shards_sync(table)
        received += push.texts_for("live", 1)
        assert json.loads(received[-1]) == {
            "type": "shard_end",
            "id": "live",
            "streamArn": arn,
            "shardId": first_shard,
        }
        rotate(raw, table)  # an empty shard: opened and closed with nothing in it
        received += push.texts_for("live", 1)
        for i in range(2):
            put(ddb, table, f"b{i}")
        server.rotate_shards_sync(table)
        put(ddb, table, "c0")
        put(ddb, table, "b0", v="again")
        received += push.texts_for("live", 5)

        shards = describe_shards(raw, arn)
        assert len(shards) == 4
        expected = stream_frames(raw, arn, "live")
        assert [e.frame["type"] for e in expected] == (
            ["record"] * 3 + ["shard_end"] * 2 + ["record"] * 2 + ["shard_end"] + ["record"] * 2
        )
        check_frames(received, expected)
        # every record arrived under the shard GetRecords shows it in
        assert [json.loads(t)["shardId"] for t in received] == [
            e.frame["shardId"] for e in expected
        ]

        # catching up from the start, and from the middle of the first shard, follows
        # the same lineage
        records = read_stream(raw, arn)
        push.subscribe("catch-up", arn=arn, start="TRIM_HORIZON")
        push.subscribe(
            "resume", table=table, start={"after": records[1]["dynamodb"]["SequenceNumber"]}
        )
        assert push.next_for("catch-up") == subscribed("catch-up", arn)
        check_frames(push.texts_for("catch-up", 10), stream_frames(raw, arn, "catch-up"))
        assert push.next_for("resume") == subscribed("resume", arn)
        resumed = stream_frames(raw, arn, "resume", after=records[1]["dynamodb"]["SequenceNumber"])
        assert len(resumed) == 8
        check_frames(push.texts_for("resume", 8), resumed)
        # and a resume from the last record of a closed shard starts in its child
        last_of_second = records[4]["dynamodb"]["SequenceNumber"]  # b1
        push.subscribe("child", table=table, start={"after": last_of_second})
        assert push.next_for("child") == subscribed("child", arn)
        in_child = stream_frames(raw, arn, "child", after=last_of_second)
        assert [e.frame["type"] for e in in_child] == ["record", "record"]  # no shard_end
        check_frames(push.texts_for("child", 2), in_child)


def test_lineage_under_rotation_every_seven_records_with_concurrent_writers() -> None:
    with Server(shard_rotation_records=7).run_in_thread() as srv:
        raw, ddb = RawClient(srv.endpoint), make_client(srv.endpoint)
        table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        writers, per_writer = 3, 40
        with open_ws(srv.endpoint) as push:
            push.subscribe("s", table=table, start="LATEST")
            assert push.next_for("s") == subscribed("s", arn)

            def write(n: int) -> None:
                client = make_client(srv.endpoint)
                for i in range(per_writer):
                    put(client, table, f"w{n}-{i}")

            threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            expected = stream_frames(raw, arn, "s")
            records = [e for e in expected if e.frame["type"] == "record"]
            assert len(records) == writers * per_writer
            assert len(expected) - len(records) >= (writers * per_writer) // 7 - 1
            check_frames(push.texts_for("s", len(expected)), expected)


# -------------------------------------------------------- the end of a subscription


def test_stream_disabled_ends_the_subscription(ddb: Any, raw: RawClient, endpoint: str) -> None:
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    put(ddb, table, "a")
    with open_ws(endpoint) as push:
        push.subscribe("s", table=table, start="TRIM_HORIZON")
        assert push.next_for("s") == subscribed("s", arn)
        ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
        expected = stream_frames(raw, arn, "s")
        assert [e.frame["type"] for e in expected] == ["record", "shard_end"]
        check_frames(push.texts_for("s", 2), expected)
        assert push.next_for("s") == {"type": "stream_disabled", "id": "s", "streamArn": arn}

        # the table has no enabled stream now; its old stream is still readable by ARN
        push.subscribe("t", table=table, start="TRIM_HORIZON")
        assert push.next_for("t") == {
            "type": "error",
            "code": "ResourceNotFound",
            "message": f"table {table} does not exist or has no enabled stream",
            "id": "t",
        }
        push.subscribe("old", arn=arn, start="TRIM_HORIZON")
        assert push.next_for("old") == subscribed("old", arn)
        check_frames(push.texts_for("old", 2), stream_frames(raw, arn, "old"))
        assert push.next_for("old") == {"type": "stream_disabled", "id": "old", "streamArn": arn}

        # re-enabled: a new stream; a table subscription follows the new one; the
        # ended subscription's id can be used again
        description = ddb.update_table(
            TableName=table,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )["TableDescription"]
        new_arn = description["LatestStreamArn"]
        assert new_arn != arn
        push.subscribe("s", table=table, start="TRIM_HORIZON")
        assert push.next_for("s") == subscribed("s", new_arn)
        put(ddb, table, "b")
        check_frames(push.texts_for("s", 1), stream_frames(raw, new_arn, "s"))


def test_table_deleted_ends_the_subscription(ddb: Any, raw: RawClient, endpoint: str) -> None:
    table, arn = create_stream_table(ddb, "NEW_IMAGE", range_key=None)
    assert arn is not None
    put(ddb, table, "a")
    with open_ws(endpoint) as push:
        push.subscribe("s", table=table, start="LATEST")
        assert push.next_for("s") == subscribed("s", arn)
        put(ddb, table, "b")
        ddb.delete_table(TableName=table)
        expected = stream_frames(
            raw, arn, "s", after=read_stream(raw, arn)[0]["dynamodb"]["SequenceNumber"]
        )
        assert [e.frame["type"] for e in expected] == ["record", "shard_end"]
        check_frames(push.texts_for("s", 2), expected)
        assert push.next_for("s") == {"type": "table_deleted", "id": "s", "streamArn": arn}

        # by ARN, the deleted table's stream is read to its end, then table_deleted
        push.subscribe("old", arn=arn, start="TRIM_HORIZON")
        assert push.next_for("old") == subscribed("old", arn)
        check_frames(push.texts_for("old", 3), stream_frames(raw, arn, "old"))
        assert push.next_for("old") == {"type": "table_deleted", "id": "old", "streamArn": arn}
        push.subscribe("gone", table=table)
        assert push.next_for("gone")["code"] == "ResourceNotFound"

        # a new table of the same name is a new stream
        _, new_arn = create_stream_table(ddb, "NEW_IMAGE", range_key=None, name=table)
        assert new_arn is not None and new_arn != arn
        push.subscribe("new", table=table, start="TRIM_HORIZON")
        assert push.next_for("new") == subscribed("new", new_arn)
        put(ddb, table, "c")
        check_frames(push.texts_for("new", 1), stream_frames(raw, new_arn, "new"))


def test_trimmed_message_when_the_position_fell_behind_retention() -> None:
    with Server(clock="virtual", stream_retention_seconds=3600).run_in_thread() as srv:
        raw, ddb = RawClient(srv.endpoint), make_client(srv.endpoint)
        table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        put(ddb, table, "old0")
        put(ddb, table, "old1")
        old = read_stream(raw, arn)
        srv.clock.advance(3601)
        put(ddb, table, "young")
        expected_young = stream_frames(raw, arn, "x")
        assert keys_of([e.frame for e in expected_young]) == ["young"]
        with open_ws(srv.endpoint) as push:
            # old1 was lost after old0: the subscriber is told, then reads on
            push.subscribe(
                "behind", table=table, start={"after": old[0]["dynamodb"]["SequenceNumber"]}
            )
            assert push.next_for("behind") == subscribed("behind", arn)
            trimmed = push.next_for("behind")
            assert set(trimmed) == {"type", "id", "streamArn", "message"}
            assert trimmed["type"] == "trimmed" and trimmed["id"] == "behind"
            assert trimmed["streamArn"] == arn
            assert isinstance(trimmed["message"], str) and trimmed["message"]
            check_frames(push.texts_for("behind", 1), stream_frames(raw, arn, "behind"))
            # after the last trimmed record nothing was lost: no trimmed message
            push.subscribe(
                "exact", table=table, start={"after": old[1]["dynamodb"]["SequenceNumber"]}
            )
            assert push.next_for("exact") == subscribed("exact", arn)
            check_frames(push.texts_for("exact", 1), stream_frames(raw, arn, "exact"))
            # TRIM_HORIZON starts at the oldest record still kept
            push.subscribe("horizon", table=table, start="TRIM_HORIZON")
            assert push.next_for("horizon") == subscribed("horizon", arn)
            check_frames(push.texts_for("horizon", 1), stream_frames(raw, arn, "horizon"))
            put(ddb, table, "next")
            for sid in ("behind", "exact", "horizon"):
                assert keys_of([push.next_for(sid)]) == ["next"]
            assert push.pending.get(None) in (None, deque())


# ------------------------------------------------------------ connection behaviour


def test_unsubscribe_stops_one_subscription_and_frees_its_id(
    ddb: Any, raw: RawClient, endpoint: str
) -> None:
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    with open_ws(endpoint) as push:
        push.subscribe("a", table=table, start="LATEST")
        push.subscribe("b", table=table, start="LATEST")
        assert push.next_for("a") == subscribed("a", arn)
        assert push.next_for("b") == subscribed("b", arn)
        put(ddb, table, "x1")
        assert keys_of([push.next_for("a")]) == ["x1"]
        assert keys_of([push.next_for("b")]) == ["x1"]
        push.send({"action": "unsubscribe", "id": "a"})
        assert push.next_for("a") == {"type": "unsubscribed", "id": "a"}
        put(ddb, table, "x2")
        put(ddb, table, "x3")
        assert keys_of([push.next_for("b"), push.next_for("b")]) == ["x2", "x3"]
        # "a" got nothing after its unsubscribed frame while "b" got both records
        assert not push.pending.get("a")
        push.send({"action": "unsubscribe", "id": "a"})
        assert push.next_for("a") == {
            "type": "error",
            "code": "NotFound",
            "message": "no such subscription",
            "id": "a",
        }
        x1 = read_stream(raw, arn)[0]["dynamodb"]["SequenceNumber"]
        push.subscribe("a", table=table, start={"after": x1})
        assert push.next_for("a") == subscribed("a", arn)
        check_frames(push.texts_for("a", 2), stream_frames(raw, arn, "a", after=x1))


def _resubscribe_rounds(
    push: Push, ddb: Any, table: str, rounds: int
) -> Iterator[list[dict[str, Any]]]:
    """Send subscribe/unsubscribe/subscribe/unsubscribe of id "a" back to back; after a
    barrier, yield the frames "a" got in that round."""
    for i in range(rounds):
        for action in ("subscribe", "unsubscribe", "subscribe", "unsubscribe"):
            push.send({"action": action, "id": "a", "table": table})
        # the barrier: a record reaches the other subscription, then an error frame
        # answers a later message; whatever was sent for "a" is in by then
        put(ddb, table, f"x{i}")
        assert keys_of([push.next_for("barrier")]) == [f"x{i}"]
        push.send({"action": "unsubscribe", "id": "probe"})
        assert push.next_for("probe")["code"] == "NotFound"
        yield [json.loads(t) for t in push.pending.pop("a", deque())]


def test_subscribed_comes_before_unsubscribed_and_nothing_after_it(ddb: Any, endpoint: str) -> None:
    """Each subscription is acknowledged before it is ended, and its ``unsubscribed``
    is the last frame with its id — even when the messages are sent back to back."""
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    with open_ws(endpoint) as push:
        push.subscribe("barrier", table=table)
        assert push.next_for("barrier") == subscribed("barrier", arn)
        for i, frames in enumerate(_resubscribe_rounds(push, ddb, table, 20)):
            kinds = [f.get("code", f["type"]) for f in frames]
            assert kinds == ["subscribed", "unsubscribed", "subscribed", "unsubscribed"], (
                f"round {i}: frames for 'a': {kinds}"
            )


@pytest.mark.slow
def test_rapid_resubscribe_never_leaks_a_subscription(ddb: Any, endpoint: str) -> None:
    """However the replies interleave, no unsubscribe of a live subscription is refused
    and no record is delivered to an id after it was unsubscribed."""
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    with open_ws(endpoint) as push:
        push.subscribe("barrier", table=table)
        assert push.next_for("barrier") == subscribed("barrier", arn)
        for i, frames in enumerate(_resubscribe_rounds(push, ddb, table, 1000)):
            kinds = sorted(f.get("code", f["type"]) for f in frames)
            assert kinds == ["subscribed", "subscribed", "unsubscribed", "unsubscribed"], (
                f"round {i}: frames for 'a': {kinds}"
            )


def test_ping_is_answered_while_subscribed(ddb: Any, endpoint: str) -> None:
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    with open_ws(endpoint) as push:
        push.subscribe("s", table=table)
        assert push.next_for("s") == subscribed("s", arn)
        assert push.ws.ping(b"keepalive").wait(RECV_TIMEOUT)
        put(ddb, table, "a")
        assert keys_of([push.next_for("s")]) == ["a"]
        assert push.ws.ping().wait(RECV_TIMEOUT)


def test_shutdown_closes_connections_gracefully() -> None:
    with ExitStack() as client:
        with Server().run_in_thread() as srv:
            ddb = make_client(srv.endpoint)
            table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
            assert arn is not None
            push = client.enter_context(open_ws(srv.endpoint))
            push.subscribe("s", table=table)
            assert push.next_for("s") == subscribed("s", arn)
        # the server has stopped: the client got a close frame (not a dropped
        # connection) with a "going away" / "service restart" code
        with pytest.raises(ConnectionClosed) as closed:
            push.ws.recv(timeout=RECV_TIMEOUT)
        assert closed.value.rcvd is not None, "no close frame: the connection was dropped"
        assert closed.value.rcvd.code in (1001, 1012), closed.value.rcvd
