"""The push message protocol (dynoxide_streams/push/protocol.py), pure: client messages
parsed into Subscribe/Unsubscribe or refused with a ProtocolError (``BadRequest`` and a
clear message, carrying the subscription id once it is known), and the server frames
built exactly as the module docstring specifies — record frames wrapping the stored
GetRecords bytes without re-encoding them."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynoxide_streams.push.protocol import (
    MAX_MESSAGE_BYTES,
    MAX_SUBSCRIPTIONS,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    frame,
    parse_message,
    record_frame,
)
from dynoxide_streams.shards import ids

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/users/stream/2015-05-20T20:51:10.252"
SEQ = ids.sequence_number(41)
FROM_ERROR = 'from must be "TRIM_HORIZON", "LATEST" or {"after": SequenceNumber}'
ID_ERROR = "id must be a string of 1 to 128 characters"
AFTER_ERROR = "from.after must be a SequenceNumber"
ONE_OF = "give exactly one of table or streamArn"


def msg(**members: Any) -> str:
    return json.dumps(members)


def refused(data: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse_message(data)
    return caught.value


def test_limits() -> None:
    assert MAX_SUBSCRIPTIONS == 64
    assert MAX_MESSAGE_BYTES == 64 * 1024


# -------------------------------------------------------------------- valid messages


@pytest.mark.parametrize(
    ("message", "parsed"),
    [
        (
            {"action": "subscribe", "id": "s1", "table": "users", "from": "TRIM_HORIZON"},
            Subscribe("s1", "users", None, "TRIM_HORIZON"),
        ),
        (
            {"action": "subscribe", "id": "s2", "streamArn": ARN, "from": "LATEST"},
            Subscribe("s2", None, ARN, "LATEST"),
        ),
        (
            {"action": "subscribe", "id": "s3", "table": "users", "from": {"after": SEQ}},
            Subscribe("s3", "users", None, SEQ),
        ),
        (  # "from" defaults to LATEST
            {"action": "subscribe", "id": "s4", "table": "users"},
            Subscribe("s4", "users", None, "LATEST"),
        ),
        (  # the first sequence number; the longest one
            {"action": "subscribe", "id": "x", "streamArn": ARN, "from": {"after": "1" + "0" * 20}},
            Subscribe("x", None, ARN, "1" + "0" * 20),
        ),
        (
            {"action": "subscribe", "id": "x", "table": "t.1-_", "from": {"after": "9" * 40}},
            Subscribe("x", "t.1-_", None, "9" * 40),
        ),
        (  # unknown members are ignored
            {"action": "subscribe", "id": "x", "table": "users", "extra": [1, 2]},
            Subscribe("x", "users", None, "LATEST"),
        ),
        ({"action": "unsubscribe", "id": "s1"}, Unsubscribe("s1")),
        ({"action": "unsubscribe", "id": "s1", "table": 5}, Unsubscribe("s1")),
        ({"action": "unsubscribe", "id": "i" * 128}, Unsubscribe("i" * 128)),
    ],
)
def test_valid_messages(message: dict[str, Any], parsed: Subscribe | Unsubscribe) -> None:
    text = json.dumps(message)
    assert parse_message(text) == parsed
    assert parse_message(text.encode()) == parsed  # a binary frame parses the same


def test_id_may_hold_any_characters() -> None:
    assert parse_message(msg(action="unsubscribe", id="é 🙂 \n")) == Unsubscribe("é 🙂 \n")
    assert parse_message(msg(action="unsubscribe", id="🙂" * 128)) == Unsubscribe("🙂" * 128)


# ----------------------------------------------------------------- refused messages


@pytest.mark.parametrize(
    ("data", "message", "subscription"),
    [
        ("", "message is not JSON", None),
        ("subscribe", "message is not JSON", None),
        ('{"action": "subscribe", "id": "s"', "message is not JSON", None),
        (b"\xff\xfe", "message is not JSON", None),
        ("{'single': 'quotes'}", "message is not JSON", None),
        ("[]", "message must be a JSON object", None),
        ('"text"', "message must be a JSON object", None),
        ("null", "message must be a JSON object", None),
        ("true", "message must be a JSON object", None),
        ("3.5", "message must be a JSON object", None),
        ("{}", ID_ERROR, None),
        (msg(action="subscribe", table="users"), ID_ERROR, None),
        (msg(action="subscribe", id=None, table="users"), ID_ERROR, None),
        (msg(action="subscribe", id=1, table="users"), ID_ERROR, None),
        (msg(action="subscribe", id=["s"], table="users"), ID_ERROR, None),
        (msg(action="subscribe", id="", table="users"), ID_ERROR, None),
        (msg(action="subscribe", id="x" * 129, table="users"), ID_ERROR, None),
        (msg(action="unsubscribe"), ID_ERROR, None),
        (msg(id="s", table="users"), "action must be subscribe or unsubscribe", "s"),
        (msg(id="s", action="SUBSCRIBE"), "action must be subscribe or unsubscribe", "s"),
        (msg(id="s", action=None), "action must be subscribe or unsubscribe", "s"),
        (msg(action="subscribe", id="s"), ONE_OF, "s"),
        (msg(action="subscribe", id="s", table="users", streamArn=ARN), ONE_OF, "s"),
        (msg(action="subscribe", id="s", table=None, streamArn=None), ONE_OF, "s"),
        (msg(action="subscribe", id="s", table=5), ONE_OF, "s"),
        (msg(action="subscribe", id="s", table=["users"]), ONE_OF, "s"),
        (msg(action="subscribe", id="s", table={"name": "users"}), ONE_OF, "s"),
        (msg(action="subscribe", id="s", table=""), ONE_OF, "s"),
        (msg(action="subscribe", id="s", streamArn=5), ONE_OF, "s"),
        (msg(action="subscribe", id="s", streamArn=""), "malformed streamArn: ", "s"),
        (msg(action="subscribe", id="s", streamArn="arn:x"), "malformed streamArn: arn:x", "s"),
        (
            msg(action="subscribe", id="s", streamArn=ARN + "x"),
            f"malformed streamArn: {ARN}x",
            "s",
        ),
        (
            msg(action="subscribe", id="s", streamArn=ARN.replace("table/users", "table/u")),
            "malformed streamArn: " + ARN.replace("table/users", "table/u"),
            "s",
        ),
        (msg(action="subscribe", id="s", table="users", **{"from": "EARLIEST"}), FROM_ERROR, "s"),
        (msg(action="subscribe", id="s", table="users", **{"from": "latest"}), FROM_ERROR, "s"),
        (msg(action="subscribe", id="s", table="users", **{"from": ""}), FROM_ERROR, "s"),
        (msg(action="subscribe", id="s", table="users", **{"from": None}), FROM_ERROR, "s"),
        (msg(action="subscribe", id="s", table="users", **{"from": 0}), FROM_ERROR, "s"),
        (msg(action="subscribe", id="s", table="users", **{"from": [SEQ]}), FROM_ERROR, "s"),
        (msg(action="subscribe", id="s", table="users", **{"from": SEQ}), FROM_ERROR, "s"),
        (msg(action="subscribe", id="s", table="users", **{"from": {}}), AFTER_ERROR, "s"),
        (
            msg(action="subscribe", id="s", table="users", **{"from": {"at": SEQ}}),
            AFTER_ERROR,
            "s",
        ),
        (
            msg(action="subscribe", id="s", table="users", **{"from": {"after": int(SEQ)}}),
            AFTER_ERROR,
            "s",
        ),
        (
            msg(action="subscribe", id="s", table="users", **{"from": {"after": None}}),
            AFTER_ERROR,
            "s",
        ),
        (
            msg(action="subscribe", id="s", table="users", **{"from": {"after": "1" * 20}}),
            AFTER_ERROR,
            "s",
        ),
        (
            msg(action="subscribe", id="s", table="users", **{"from": {"after": "1" * 41}}),
            AFTER_ERROR,
            "s",
        ),
        (
            msg(action="subscribe", id="s", table="users", **{"from": {"after": "1" * 20}}),
            AFTER_ERROR,
            "s",
        ),
        (
            msg(action="subscribe", id="s", table="users", **{"from": {"after": " " + SEQ}}),
            AFTER_ERROR,
            "s",
        ),
        (
            msg(action="subscribe", id="s", table="users", **{"from": {"after": SEQ + "\n"}}),
            AFTER_ERROR,
            "s",
        ),
        (
            msg(action="subscribe", id="s", table="users", **{"from": {"after": "\uff11" * 21}}),
            AFTER_ERROR,
            "s",
        ),
    ],
)
def test_refused_messages(data: str | bytes, message: str, subscription: str | None) -> None:
    error = refused(data)
    assert (error.code, error.message, error.subscription) == ("BadRequest", message, subscription)
    assert str(error) == message


def test_message_size_limit_counts_bytes() -> None:
    base = msg(action="subscribe", id="s", table="users", pad="")
    at_limit = msg(
        action="subscribe", id="s", table="users", pad="x" * (MAX_MESSAGE_BYTES - len(base))
    )
    assert len(at_limit) == MAX_MESSAGE_BYTES
    assert parse_message(at_limit) == Subscribe("s", "users", None, "LATEST")
    assert parse_message(at_limit.encode()) == Subscribe("s", "users", None, "LATEST")
    over = at_limit.replace('"pad": "', '"pad": "x', 1)
    for data in (over, over.encode()):
        error = refused(data)
        assert (error.code, error.message, error.subscription) == (
            "BadRequest",
            "message too large",
            None,
        )


def test_message_size_limit_counts_utf8_bytes_of_text() -> None:
    # MAX_MESSAGE_BYTES is a byte limit: a text frame of 40,000 "é" (80,000 UTF-8 bytes,
    # the bytes the client sent) is over it even though it has fewer than 65,536 characters
    text = json.dumps(
        {"action": "subscribe", "id": "s", "table": "users", "pad": "é" * 40_000},
        ensure_ascii=False,
    )
    assert len(text) < MAX_MESSAGE_BYTES < len(text.encode())
    assert refused(text.encode()).message == "message too large"
    assert refused(text).message == "message too large"


def test_deeply_nested_json_is_refused_cleanly() -> None:
    data = "[" * 5000 + "]" * 5000
    assert refused(data).message in ("message is not JSON", "message must be a JSON object")


# ---------------------------------------------------------------- fuzz: never crash

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
near_messages = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from(["subscribe", "unsubscribe", "Subscribe", ""]) | json_values,
        "id": st.text(min_size=0, max_size=140) | json_values,
        "table": st.sampled_from(["users", "", "x"]) | json_values,
        "streamArn": st.sampled_from([ARN, "arn:", ""]) | json_values,
        "from": st.sampled_from(["TRIM_HORIZON", "LATEST", {"after": SEQ}, {"after": "12"}])
        | st.fixed_dictionaries({"after": st.from_regex(r"[0-9]{19,42}", fullmatch=True)})
        | json_values,
    },
)


def _check_outcome(data: str | bytes) -> None:
    try:
        parsed = parse_message(data)
    except ProtocolError as error:
        assert error.code == "BadRequest" and error.message
        body = orjson.loads(error.frame())
        assert body["type"] == "error"
        return
    message = orjson.loads(data)
    assert isinstance(parsed, Subscribe | Unsubscribe)
    assert parsed.id == message["id"] and 1 <= len(parsed.id) <= 128
    if isinstance(parsed, Subscribe):
        assert message["action"] == "subscribe"
        assert (parsed.table is None) != (parsed.stream_arn is None)
        if parsed.stream_arn is not None:
            assert ids.parse_stream_arn(parsed.stream_arn) is not None
        start = message.get("from", "LATEST")
        if isinstance(start, dict):
            assert parsed.start == start["after"]
            assert ids.parse_sequence_number(parsed.start) is not None
        else:
            assert parsed.start == start in ("TRIM_HORIZON", "LATEST")
    else:
        assert message["action"] == "unsubscribe"


@given(near_messages)
def test_any_object_is_parsed_or_refused_with_bad_request(message: dict[str, Any]) -> None:
    _check_outcome(json.dumps(message))
    _check_outcome(json.dumps(message).encode())


@given(json_values)
def test_any_json_value_is_parsed_or_refused(value: Any) -> None:
    _check_outcome(json.dumps(value))


@given(st.binary(max_size=200))
def test_any_bytes_are_parsed_or_refused(data: bytes) -> None:
    _check_outcome(data)


@given(st.text(max_size=200))
def test_any_text_is_parsed_or_refused(data: str) -> None:
    _check_outcome(data)


# ------------------------------------------------------------------ server frames


def test_error_frames() -> None:
    assert ProtocolError("BadRequest", "message is not JSON").frame() == (
        b'{"type":"error","code":"BadRequest","message":"message is not JSON"}'
    )
    assert orjson.loads(ProtocolError("NotFound", "no such subscription", "s1").frame()) == {
        "type": "error",
        "code": "NotFound",
        "message": "no such subscription",
        "id": "s1",
    }
    error = refused(msg(action="subscribe", id='quote"d', table=5))
    assert orjson.loads(error.frame()) == {
        "type": "error",
        "code": "BadRequest",
        "message": ONE_OF,
        "id": 'quote"d',
    }


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("subscribed", {}),
        ("shard_end", {"shardId": "shardId-00000001432153770000-abcdef01"}),
        ("trimmed", {"message": "records before this point were trimmed"}),
        ("stream_disabled", {}),
        ("table_deleted", {}),
    ],
)
def test_frames_are_the_documented_objects(kind: str, extra: dict[str, Any]) -> None:
    data = frame(kind, "s1", ARN, **extra)
    assert isinstance(data, bytes)
    decoded = json.loads(data)
    assert decoded == {"type": kind, "id": "s1", "streamArn": ARN, **extra}
    assert list(decoded)[:3] == ["type", "id", "streamArn"]


def test_record_frame_wraps_the_stored_bytes_verbatim() -> None:
    stored = (
        b'{"eventID":"0123456789abcdef0123456789abcdef","eventName":"INSERT",'
        b'"eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",'
        b'"dynamodb":{"ApproximateCreationDateTime":1700000000,"Keys":{"pk":{"S":"h\xc3\xa9"}},'
        b'"NewImage":{"pk":{"S":"h\xc3\xa9"},"n":{"N":"1.50"}},"SequenceNumber":"'
        + SEQ.encode()
        + b'","SizeBytes":12,"StreamViewType":"NEW_IMAGE"}}'
    )
    shard = "shardId-00000001432153770000-abcdef01"
    data = record_frame('s"1', ARN, shard, stored)
    assert data == (
        b'{"type":"record","id":"s\\"1","streamArn":"'
        + ARN.encode()
        + b'","shardId":"'
        + shard.encode()
        + b'","record":'
        + stored
        + b"}"
    )
    decoded = json.loads(data)
    assert decoded["record"] == json.loads(stored)
    assert list(decoded) == ["type", "id", "streamArn", "shardId", "record"]


@given(st.text(min_size=1, max_size=128), st.dictionaries(st.text(max_size=8), st.text(max_size=8)))
def test_record_frame_is_valid_json_for_any_id(subscription: str, record: dict[str, str]) -> None:
    stored = orjson.dumps(record)
    decoded = orjson.loads(record_frame(subscription, ARN, "shardId-1", stored))
    assert decoded == {
        "type": "record",
        "id": subscription,
        "streamArn": ARN,
        "shardId": "shardId-1",
        "record": record,
    }
