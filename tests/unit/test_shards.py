"""The pure Streams model (dynoxide_streams/shards): identifiers, sequence numbers, shard
iterators (encode/decode, tampering, expiry), record building and the rotation rule."""

from __future__ import annotations

import base64
import math
import re
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dynoxide_streams.engine.values import item_size
from dynoxide_streams.shards import ids
from dynoxide_streams.shards.iterators import (
    ITERATOR_LIFETIME_SECONDS,
    ExpiredIterator,
    InvalidIterator,
    ShardIterator,
    decode_iterator,
)
from dynoxide_streams.shards.records import (
    SERVICE_IDENTITY,
    VIEW_TYPES,
    build_record,
    event_name,
    should_rotate,
)

SECRET = b"s" * 32
ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/users/stream/2015-05-20T20:51:10.252"
table_names = st.from_regex(r"[a-zA-Z0-9_.-]{3,255}", fullmatch=True)
MAX_N = 10**40 - 1 - ids.SEQUENCE_BASE  # the last counter value that still fits 40 digits


# ----------------------------------------------------------------------- ids


def test_stream_label_is_iso8601_utc_milliseconds() -> None:
    assert ids.stream_label(1432153870.252) == "2015-05-20T20:31:10.252"
    assert ids.stream_label(0) == "1970-01-01T00:00:00.000"
    assert ids.stream_label(1_700_000_000.9999) == "2023-11-14T22:13:20.999"


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_stream_label_format(moment: float) -> None:
    label = ids.stream_label(moment)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", label)


@given(table_names, st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_stream_arn_round_trip(table: str, moment: float) -> None:
    label = ids.stream_label(moment)
    arn = ids.stream_arn("us-east-1", "000000000000", table, label)
    assert arn == f"arn:aws:dynamodb:us-east-1:000000000000:table/{table}/stream/{label}"
    assert ids.parse_stream_arn(arn) == (table, label)


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "kossaapaaasdafsdaasdasdasdasasdasfadfadfasdasdas",
        "arn:aws:dynamodb:us-east-1:000000000000:table/users",
        "arn:aws:dynamodb:us-east-1:000000000000:table/users/stream/",
        "arn:aws:dynamodb:us-east-1:000000000000:table/users/stream/2015-05-20T20:51:10",
        "arn:aws:dynamodb:us-east-1:000000000000:table/users/stream/2015-05-20T20:51:10.252Z",
        "arn:aws:dynamodb:us-east-1:000000000000:table/us/stream/2015-05-20T20:51:10.252",
        "arn:aws:s3:us-east-1:000000000000:table/users/stream/2015-05-20T20:51:10.252",
        "arn:aws:dynamodb:us-east-1:000000000000:table/users/index/2015-05-20T20:51:10.252",
        ARN + "\n",
    ],
)
def test_parse_stream_arn_rejects_malformed(arn: str) -> None:
    assert ids.parse_stream_arn(arn) is None


@given(st.text(max_size=200))
def test_parse_stream_arn_never_raises(text: str) -> None:
    parsed = ids.parse_stream_arn(text)
    if parsed is not None:
        assert text.endswith(f"table/{parsed[0]}/stream/{parsed[1]}")


def test_shard_id_form() -> None:
    shard = ids.shard_id(1414562045508, ARN, 0)
    assert re.fullmatch(r"shardId-00000001414562045508-[0-9a-f]{8}", shard)
    assert len(shard) == 37
    assert ids.shard_id(1414562045508, ARN, 0) == shard  # deterministic
    suffixes = {ids.shard_id(1414562045508, ARN, n)[-8:] for n in range(50)}
    assert len(suffixes) == 50


@given(
    st.lists(st.integers(min_value=0, max_value=10**20 - 1), min_size=2, max_size=20, unique=True)
)
def test_shard_ids_sort_by_creation_time(times: list[int]) -> None:
    shards = [ids.shard_id(t, ARN, n) for n, t in enumerate(times)]
    for shard in shards:
        assert re.fullmatch(r"shardId-\d{20}-[0-9a-f]{8}", shard)
        assert 28 <= len(shard) <= 65
    assert [s for _, s in sorted(zip(times, shards, strict=True))] == sorted(shards)


def test_sequence_number_range() -> None:
    assert ids.sequence_number(0) == "100000000000000000000"
    assert len(ids.sequence_number(0)) == 21
    assert len(ids.sequence_number(MAX_N)) == 40
    assert ids.parse_sequence_number("100000000000000000000") == 0
    assert ids.parse_sequence_number("9" * 40) == MAX_N


@given(st.integers(min_value=0, max_value=MAX_N))
def test_sequence_number_round_trip(n: int) -> None:
    text = ids.sequence_number(n)
    assert re.fullmatch(r"[0-9]{21,40}", text)
    assert ids.parse_sequence_number(text) == n


@given(st.integers(min_value=0, max_value=MAX_N - 1), st.integers(min_value=1, max_value=10**6))
def test_sequence_numbers_rise_as_big_integers(n: int, step: int) -> None:
    assume(n + step <= MAX_N)
    assert int(ids.sequence_number(n)) < int(ids.sequence_number(n + step))


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1" * 20, "1" * 41, "0" * 21, "099999999999999999999", "1" * 20 + "a", " " + "1" * 21,
     "1" * 21 + "\n", "-" + "1" * 21, "+" + "1" * 21, "1" * 10 + "." + "1" * 10, "\uff11" * 21],
)  # fmt: skip
def test_parse_sequence_number_rejects(text: str) -> None:
    assert ids.parse_sequence_number(text) is None


def test_parse_sequence_number_rejects_non_strings() -> None:
    assert ids.parse_sequence_number(10**20) is None  # type: ignore[arg-type]
    assert ids.parse_sequence_number(None) is None  # type: ignore[arg-type]


@given(st.text(max_size=50))
def test_parse_sequence_number_never_raises(text: str) -> None:
    value = ids.parse_sequence_number(text)
    assert value is None or ids.sequence_number(value) == text


def test_event_ids() -> None:
    salt = ids.event_salt(ARN)
    assert salt == ids.event_salt(ARN)  # a per-stream constant
    event_ids = [ids.event_id(salt, n) for n in range(1000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", e) for e in event_ids)
    assert len(set(event_ids)) == 1000
    assert ids.event_id(salt, 7) == ids.event_id(salt, 7)
    assert ids.event_id(salt, 7) != ids.event_id(ids.event_salt(ARN.replace("users", "other")), 7)


@given(st.integers(min_value=0, max_value=2**63), st.integers(min_value=0, max_value=2**63))
def test_event_ids_unique_within_a_stream(a: int, b: int) -> None:
    salt = ids.event_salt(ARN)
    assert re.fullmatch(r"[0-9a-f]{32}", ids.event_id(salt, a))
    assert (ids.event_id(salt, a) == ids.event_id(salt, b)) == (a == b)


# ------------------------------------------------------------------ iterators


iterators = st.builds(
    ShardIterator,
    stream_arn=st.builds(
        lambda t, m: ids.stream_arn("us-east-1", "000000000000", t, ids.stream_label(m)),
        table_names,
        st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
    ),
    stream_id=st.integers(min_value=1, max_value=2**62),
    shard_id=st.builds(
        lambda t, o: ids.shard_id(t, ARN, o),
        st.integers(min_value=0, max_value=10**20 - 1),
        st.integers(min_value=0, max_value=10**6),
    ),
    position=st.integers(min_value=-1, max_value=2**63 - 1),  # a stream counter
    issued_at=st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
)


@given(iterators)
def test_iterator_round_trip(iterator: ShardIterator) -> None:
    token = iterator.encode(SECRET)
    assert 1 <= len(token) <= 2048
    assert token.startswith(iterator.stream_arn + "|1|")
    assert decode_iterator(token, SECRET, iterator.issued_at) == iterator
    assert (
        decode_iterator(token, SECRET, iterator.issued_at + ITERATOR_LIFETIME_SECONDS) == iterator
    )


def _sample() -> ShardIterator:
    return ShardIterator(ARN, 3, ids.shard_id(1414562045508, ARN, 1), 41, 1_000_000.0)


def test_iterator_expiry_boundary() -> None:
    iterator = _sample()
    token = iterator.encode(SECRET)
    assert ITERATOR_LIFETIME_SECONDS == 900
    assert decode_iterator(token, SECRET, 1_000_000.0 + 899.999) == iterator
    assert decode_iterator(token, SECRET, 1_000_000.0 + 900) == iterator
    with pytest.raises(ExpiredIterator):
        decode_iterator(token, SECRET, 1_000_000.0 + 900.001)
    with pytest.raises(ExpiredIterator):
        decode_iterator(token, SECRET, 1_000_000.0 + 86_400)


@given(iterators, st.data())
def test_any_changed_character_is_detected(iterator: ShardIterator, data: st.DataObject) -> None:
    token = iterator.encode(SECRET)
    prefix_len = len(iterator.stream_arn) + 3  # "<arn>|1|"
    position = data.draw(st.integers(min_value=prefix_len, max_value=len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.|="
    replacement = data.draw(st.sampled_from(alphabet).filter(lambda c: c != token[position]))
    tampered = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(InvalidIterator):
        decode_iterator(tampered, SECRET, iterator.issued_at)


@given(iterators, iterators)
def test_iterator_cannot_be_moved_to_another_stream(a: ShardIterator, b: ShardIterator) -> None:
    assume(a.stream_arn != b.stream_arn)
    token_a, token_b = a.encode(SECRET), b.encode(SECRET)
    with pytest.raises(InvalidIterator):
        decode_iterator(b.stream_arn + token_a[len(a.stream_arn) :], SECRET, a.issued_at)
    with pytest.raises(InvalidIterator):  # a's signature on b's payload
        decode_iterator(
            token_b.rpartition(".")[0] + "." + token_a.rpartition(".")[2], SECRET, b.issued_at
        )


def test_iterator_needs_the_right_secret() -> None:
    token = _sample().encode(SECRET)
    with pytest.raises(InvalidIterator):
        decode_iterator(token, b"t" * 32, 1_000_000.0)
    assert _sample().encode(b"t" * 32) != token


def test_iterator_payload_is_opaque_but_signed() -> None:
    """A correctly signed payload of the wrong shape is still refused (defence in depth)."""
    import hashlib
    import hmac

    def signed(payload: bytes, arn: str = ARN, version: str = "1") -> str:
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        mac = hmac.new(SECRET, body.encode(), hashlib.sha256).digest()[:12]
        return f"{arn}|{version}|{body}." + base64.urlsafe_b64encode(mac).decode().rstrip("=")

    good = signed(b'[1,3,"shardId-x",5,1000.0,"' + ARN.encode() + b'"]')
    assert decode_iterator(good, SECRET, 1000.0).position == 5
    for payload in (b"[1,2,3]", b"not json", b'{"a":1}'):
        with pytest.raises(InvalidIterator):
            decode_iterator(signed(payload), SECRET, 1000.0)
    with pytest.raises(InvalidIterator):  # the ARN inside differs from the one in front
        decode_iterator(signed(b'[1,3,"s",5,1000.0,"other"]'), SECRET, 1000.0)
    with pytest.raises(InvalidIterator):
        decode_iterator(
            signed(b'[1,3,"s",5,1000.0,"' + ARN.encode() + b'"]', version="2"), SECRET, 1000.0
        )


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "|",
        "||",
        "a|1|",
        "a|1|b",
        "a|1|b.",
        "a|2|b.c",
        ARN + "|1|.",
        "a|1|b.\u00e9",
        "\u00e9|1|\u00e9.\u00e9",
    ],
)
def test_garbage_iterators_are_invalid(token: str) -> None:
    with pytest.raises(InvalidIterator):
        decode_iterator(token, SECRET, 0.0)


@given(st.text(max_size=300))
def test_decode_only_ever_raises_invalid(token: str) -> None:
    """Whatever a client sends, decoding fails only with InvalidIterator (the wire turns
    that into a ValidationException); anything else would be a 500."""
    with pytest.raises(InvalidIterator):
        decode_iterator(token, SECRET, 0.0)


# -------------------------------------------------------------------- records


KEYS = {"pk": {"S": "u1"}, "sk": {"N": "3"}}
OLD = {**KEYS, "name": {"S": "old"}, "tags": {"SS": ["a"]}}
NEW = {**KEYS, "name": {"S": "new"}, "n": {"N": "1.5"}, "b": {"B": "AQID"}}


def _build(old: Any, new: Any, view_type: str, **extra: Any) -> dict[str, Any]:
    return build_record(
        event_id="0" * 32,
        region="eu-west-1",
        keys=KEYS,
        old=old,
        new=new,
        view_type=view_type,
        sequence_number=ids.sequence_number(5),
        created_at=1_464_806_460.999,
        **extra,
    )


def test_event_names() -> None:
    assert event_name(None, NEW) == "INSERT"
    assert event_name(OLD, NEW) == "MODIFY"
    assert event_name(OLD, None) == "REMOVE"


@pytest.mark.parametrize("view_type", VIEW_TYPES)
@pytest.mark.parametrize(("old", "new"), [(None, NEW), (OLD, NEW), (OLD, None)])
def test_record_shape_per_view_type(view_type: str, old: Any, new: Any) -> None:
    record = _build(old, new, view_type)
    dynamodb: dict[str, Any] = {"ApproximateCreationDateTime": 1_464_806_460, "Keys": KEYS}
    size = item_size(KEYS)
    if new is not None and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        dynamodb["NewImage"] = new
        size += item_size(new)
    if old is not None and view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        dynamodb["OldImage"] = old
        size += item_size(old)
    dynamodb.update(
        {"SequenceNumber": "100000000000000000005", "SizeBytes": size, "StreamViewType": view_type}
    )
    assert record == {
        "eventID": "0" * 32,
        "eventName": event_name(old, new),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": dynamodb,
    }
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)


def test_service_identity_only_when_asked() -> None:
    ttl = _build(OLD, None, "KEYS_ONLY", service=True)
    assert ttl["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
    ttl["userIdentity"]["Type"] = "changed"  # a copy: the constant stays intact
    assert SERVICE_IDENTITY == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
    assert "userIdentity" not in _build(OLD, None, "KEYS_ONLY")


def test_size_bytes_counts_names_and_values() -> None:
    keys = {"Artist": {"S": "No One You Know"}, "SongTitle": {"S": "Call Me Today"}}
    record = build_record(
        event_id="e" * 32,
        region="us-east-1",
        keys=keys,
        old=None,
        new=keys,
        view_type="KEYS_ONLY",
        sequence_number=ids.sequence_number(0),
        created_at=0.0,
    )
    assert record["dynamodb"]["SizeBytes"] == len("Artist") + 15 + len("SongTitle") + 13 == 43
    both = _build(OLD, NEW, "NEW_AND_OLD_IMAGES")
    assert both["dynamodb"]["SizeBytes"] == item_size(KEYS) + item_size(OLD) + item_size(NEW)


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_creation_time_is_whole_seconds_rounded_down(moment: float) -> None:
    record = build_record(
        event_id="0" * 32,
        region="us-east-1",
        keys=KEYS,
        old=None,
        new=NEW,
        view_type="KEYS_ONLY",
        sequence_number=ids.sequence_number(0),
        created_at=moment,
    )
    value = record["dynamodb"]["ApproximateCreationDateTime"]
    assert isinstance(value, int) and value == math.floor(moment)


# ------------------------------------------------------------------- rotation


def test_rotation_rule_examples() -> None:
    common = {"opened_at": 100.0, "rotation_seconds": 60.0, "rotation_records": 7}
    assert not should_rotate(records=0, now=100.0, **common)
    assert not should_rotate(records=6, now=159.999, **common)
    assert should_rotate(records=7, now=100.0, **common)
    assert should_rotate(records=0, now=160.0, **common)
    off = {"opened_at": 0.0, "rotation_seconds": None, "rotation_records": None}
    assert not should_rotate(records=10**9, now=10**9, **off)


@given(
    opened=st.floats(min_value=0, max_value=1e10, allow_nan=False),
    age=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    records=st.integers(min_value=0, max_value=10**6),
    seconds=st.none() | st.floats(min_value=0.001, max_value=1e6, allow_nan=False),
    limit=st.none() | st.integers(min_value=1, max_value=10**6),
)
def test_rotation_rule(
    opened: float, age: float, records: int, seconds: float | None, limit: int | None
) -> None:
    now = opened + age
    expected = (limit is not None and records >= limit) or (
        seconds is not None and now - opened >= seconds
    )
    assert (
        should_rotate(
            opened_at=opened,
            records=records,
            now=now,
            rotation_seconds=seconds,
            rotation_records=limit,
        )
        is expected
    )
