"""Bad input on the push websocket: every malformed subscribe/unsubscribe message gets
one clear ``error`` frame and the connection stays usable; unknown tables and streams,
duplicate ids and the 64-subscription limit are errors too; a frame beyond the
websocket's 1 MiB limit closes the connection with 1009 (message too big)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from dynoxide_streams.push.protocol import MAX_SUBSCRIPTIONS
from tests.conftest import RawClient
from tests.wire.test_push import (
    Push,
    check_frames,
    keys_of,
    open_ws,
    put,
    stream_frames,
    subscribed,
)
from tests.wire.test_streams import create_stream_table

FROM_ERROR = 'from must be "TRIM_HORIZON", "LATEST" or {"after": SequenceNumber}'
ID_ERROR = "id must be a string of 1 to 128 characters"
AFTER_ERROR = "from.after must be a SequenceNumber"
ONE_OF = "give exactly one of table or streamArn"
GOOD_SEQ = "1" + "0" * 20
ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/{table}/stream/2015-05-20T20:51:10.252"


@pytest.fixture(scope="module")
def stream(ddb: Any) -> tuple[str, str]:
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    put(ddb, table, "first")
    return table, arn


def error(code: str, message: str, sid: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if sid is not None:
        frame["id"] = sid
    return frame


def still_usable(push: Push, raw: RawClient, table: str, arn: str, sid: str = "ok") -> None:
    """After an error, the same connection subscribes and receives records."""
    push.subscribe(sid, table=table, start="TRIM_HORIZON")
    assert push.next_for(sid) == subscribed(sid, arn)
    expected = stream_frames(raw, arn, sid)
    check_frames(push.texts_for(sid, len(expected)), expected)


def _sub(**members: Any) -> str:
    return json.dumps({"action": "subscribe", "id": "s", **members}, ensure_ascii=False)


MALFORMED: list[tuple[str, str | bytes, dict[str, Any]]] = [
    ("not json", "subscribe me", error("BadRequest", "message is not JSON")),
    ("empty text", "", error("BadRequest", "message is not JSON")),
    (
        "truncated json",
        '{"action": "subscribe", "id": "s"',
        error("BadRequest", "message is not JSON"),
    ),
    ("binary garbage", b"\xff\xfe\x00", error("BadRequest", "message is not JSON")),
    ("array", '[{"action": "subscribe"}]', error("BadRequest", "message must be a JSON object")),
    ("string", '"subscribe"', error("BadRequest", "message must be a JSON object")),
    ("null", "null", error("BadRequest", "message must be a JSON object")),
    ("number", "42", error("BadRequest", "message must be a JSON object")),
    ("empty object", "{}", error("BadRequest", ID_ERROR)),
    ("no id", '{"action": "subscribe", "table": "{table}"}', error("BadRequest", ID_ERROR)),
    (
        "numeric id",
        '{"action": "subscribe", "id": 5, "table": "{table}"}',
        error("BadRequest", ID_ERROR),
    ),
    (
        "empty id",
        '{"action": "subscribe", "id": "", "table": "{table}"}',
        error("BadRequest", ID_ERROR),
    ),
    (
        "id too long",
        json.dumps({"action": "subscribe", "id": "x" * 129}),
        error("BadRequest", ID_ERROR),
    ),
    (
        "no action",
        '{"id": "s", "table": "{table}"}',
        error("BadRequest", "action must be subscribe or unsubscribe", "s"),
    ),
    (
        "unknown action",
        '{"id": "s", "action": "watch"}',
        error("BadRequest", "action must be subscribe or unsubscribe", "s"),
    ),
    ("neither table nor arn", _sub(), error("BadRequest", ONE_OF, "s")),
    ("table and arn", _sub(table="{table}", streamArn="{arn}"), error("BadRequest", ONE_OF, "s")),
    ("table not a string", _sub(table=7), error("BadRequest", ONE_OF, "s")),
    ("table an object", _sub(table={"name": "x"}), error("BadRequest", ONE_OF, "s")),
    (
        "malformed arn",
        _sub(streamArn="arn:nope"),
        error("BadRequest", "malformed streamArn: arn:nope", "s"),
    ),
    (
        "from unknown word",
        _sub(table="{table}", **{"from": "EARLIEST"}),
        error("BadRequest", FROM_ERROR, "s"),
    ),
    (
        "from lower case",
        _sub(table="{table}", **{"from": "trim_horizon"}),
        error("BadRequest", FROM_ERROR, "s"),
    ),
    ("from a number", _sub(table="{table}", **{"from": 5}), error("BadRequest", FROM_ERROR, "s")),
    ("from null", _sub(table="{table}", **{"from": None}), error("BadRequest", FROM_ERROR, "s")),
    (
        "from a list",
        _sub(table="{table}", **{"from": [GOOD_SEQ]}),
        error("BadRequest", FROM_ERROR, "s"),
    ),
    ("after missing", _sub(table="{table}", **{"from": {}}), error("BadRequest", AFTER_ERROR, "s")),
    (
        "at instead of after",
        _sub(table="{table}", **{"from": {"at": GOOD_SEQ}}),
        error("BadRequest", AFTER_ERROR, "s"),
    ),
    (
        "after a number",
        _sub(table="{table}", **{"from": {"after": int(GOOD_SEQ)}}),
        error("BadRequest", AFTER_ERROR, "s"),
    ),
    (
        "after too short",
        _sub(table="{table}", **{"from": {"after": "12345"}}),
        error("BadRequest", AFTER_ERROR, "s"),
    ),
    (
        "after not digits",
        _sub(table="{table}", **{"from": {"after": "1" * 20 + "x"}}),
        error("BadRequest", AFTER_ERROR, "s"),
    ),
    (
        "after 41 digits",
        _sub(table="{table}", **{"from": {"after": "1" * 41}}),
        error("BadRequest", AFTER_ERROR, "s"),
    ),
    (
        "after with a sign",
        _sub(table="{table}", **{"from": {"after": "-" + "1" * 21}}),
        error("BadRequest", AFTER_ERROR, "s"),
    ),
    ("unsubscribe without id", '{"action": "unsubscribe"}', error("BadRequest", ID_ERROR)),
]


@pytest.mark.parametrize(
    ("message", "expected"),
    [pytest.param(m, e, id=name) for name, m, e in MALFORMED],
)
def test_malformed_message_gets_an_error_frame_and_the_connection_stays_usable(
    raw: RawClient,
    endpoint: str,
    stream: tuple[str, str],
    message: str | bytes,
    expected: dict[str, Any],
) -> None:
    table, arn = stream
    if isinstance(message, str):
        message = message.replace("{table}", table).replace("{arn}", arn)
    with open_ws(endpoint) as push:
        push.send(message)
        assert push.recv() == expected
        still_usable(push, raw, table, arn, sid="s")


def test_errors_do_not_disturb_running_subscriptions(
    ddb: Any, raw: RawClient, endpoint: str, stream: tuple[str, str]
) -> None:
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    with open_ws(endpoint) as push:
        push.subscribe("live", table=table, start="LATEST")
        assert push.next_for("live") == subscribed("live", arn)
        for _, message, frame in MALFORMED[:10]:
            push.send(message)
            assert push.next_for(None) == frame
        put(ddb, table, "a")
        assert keys_of([push.next_for("live")]) == ["a"]


def test_unknown_table_or_stream_is_an_error_for_that_subscription(
    raw: RawClient, endpoint: str, stream: tuple[str, str]
) -> None:
    table, arn = stream
    missing_arn = ARN.format(table="no_such_table")
    with open_ws(endpoint) as push:
        push.subscribe("t", table="no_such_table", start="TRIM_HORIZON")
        assert push.next_for("t") == error(
            "ResourceNotFound", "table no_such_table does not exist or has no enabled stream", "t"
        )
        push.subscribe("a", arn=missing_arn, start="TRIM_HORIZON")
        assert push.next_for("a") == error(
            "ResourceNotFound", f"stream not found: {missing_arn}", "a"
        )
        # a well-formed ARN of an existing table with another label is not its stream
        other_label = arn.rsplit("/", 1)[0] + "/2001-01-01T00:00:00.000"
        push.subscribe("l", arn=other_label)
        assert push.next_for("l") == error(
            "ResourceNotFound", f"stream not found: {other_label}", "l"
        )
        # the failed ids are free again
        still_usable(push, raw, table, arn, sid="t")


def test_a_table_without_stream_is_an_error(ddb: Any, endpoint: str) -> None:
    table, arn = create_stream_table(ddb, None, range_key=None)
    assert arn is None
    with open_ws(endpoint) as push:
        push.subscribe("s", table=table)
        assert push.next_for("s") == error(
            "ResourceNotFound", f"table {table} does not exist or has no enabled stream", "s"
        )


def test_duplicate_subscription_id_is_refused(ddb: Any, raw: RawClient, endpoint: str) -> None:
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    with open_ws(endpoint) as push:
        push.subscribe("a", table=table, start="LATEST")
        assert push.next_for("a") == subscribed("a", arn)
        push.subscribe("a", table=table, start="TRIM_HORIZON")
        assert push.next_for("a") == error("BadRequest", "subscription id already in use", "a")
        # the first subscription is unchanged: LATEST, so only the new write
        put(ddb, table, "x")
        check_frames(push.texts_for("a", 1), stream_frames(raw, arn, "a"))


def test_at_most_64_subscriptions_per_connection(
    ddb: Any, raw: RawClient, endpoint: str, stream: tuple[str, str]
) -> None:
    assert MAX_SUBSCRIPTIONS == 64
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    with open_ws(endpoint) as push:
        for i in range(64):
            push.subscribe(f"s{i}", table=table, start="LATEST")
        for i in range(64):
            assert push.next_for(f"s{i}") == subscribed(f"s{i}", arn)
        push.subscribe("s64", table=table)
        assert push.next_for("s64") == error(
            "LimitExceeded", "at most 64 subscriptions per connection", "s64"
        )
        put(ddb, table, "fan")
        for i in range(64):
            assert keys_of([push.next_for(f"s{i}")]) == ["fan"]
        push.send({"action": "unsubscribe", "id": "s0"})
        assert push.next_for("s0") == {"type": "unsubscribed", "id": "s0"}
        push.subscribe("s64", table=table, start="TRIM_HORIZON")
        assert push.next_for("s64") == subscribed("s64", arn)
        check_frames(push.texts_for("s64", 1), stream_frames(raw, arn, "s64"))
        # the limit is per connection
        with open_ws(endpoint) as other:
            other.subscribe("s0", table=table, start="TRIM_HORIZON")
            assert other.next_for("s0") == subscribed("s0", arn)


def test_message_over_64_kib_is_refused(
    raw: RawClient, endpoint: str, stream: tuple[str, str]
) -> None:
    table, arn = stream
    with open_ws(endpoint) as push:
        push.send(_sub(table=table, padding="x" * (64 * 1024)))
        assert push.recv() == error("BadRequest", "message too large")
        still_usable(push, raw, table, arn)
        # just under the limit is fine
        message = _sub(table=table, padding="")
        message = _sub(table=table, padding="x" * (64 * 1024 - len(message)))
        assert len(message.encode()) == 64 * 1024
        push.send(message)
        assert push.next_for("s") == subscribed("s", arn)


def test_message_over_64_kib_of_utf8_is_refused(
    raw: RawClient, endpoint: str, stream: tuple[str, str]
) -> None:
    # the limit is on the bytes the client sent, whatever its characters
    table, arn = stream
    with open_ws(endpoint) as push:
        message = _sub(table=table, padding="é" * 40_000)
        assert len(message) < 64 * 1024 < len(message.encode())
        push.send(message)
        assert push.recv() == error("BadRequest", "message too large")
        still_usable(push, raw, table, arn)


def test_frame_beyond_the_websocket_limit_closes_with_1009(
    endpoint: str, stream: tuple[str, str]
) -> None:
    table, _ = stream
    with open_ws(endpoint) as push:
        push.send(_sub(table=table, padding="x" * (1024 * 1024 + 1)))
        with pytest.raises(ConnectionClosed) as closed:
            push.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
