"""The admin API: routes, JSON errors, and who may use it (token / loopback rule)."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any

import pytest

from dynoxide_streams import Server
from dynoxide_streams.clock import VirtualClock
from tests.conftest import make_client


def _call(
    endpoint: str, path: str, body: Any = None, token: str | None = None, method: str | None = None
) -> tuple[int, Any]:
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(
        endpoint + path, data=data, method=method or ("POST" if data is not None else "GET")
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_and_clock_on_loopback(endpoint: str) -> None:
    assert _call(endpoint, "/_admin/health") == (200, {"status": "ok"})
    status, body = _call(endpoint, "/_admin/clock")
    assert status == 200 and body["virtual"] is False and isinstance(body["now"], float)
    assert _call(endpoint, "/_admin/clock", {"advance_seconds": 10}) == (
        400,
        {"error": "BadRequest", "message": "the clock is real; start with --clock virtual"},
    )


def test_virtual_clock_moves_only_when_told() -> None:
    with Server(clock="virtual").run_in_thread() as srv:
        start = _call(srv.endpoint, "/_admin/clock")[1]["now"]
        assert _call(srv.endpoint, "/_admin/clock")[1]["now"] == start
        assert (
            _call(srv.endpoint, "/_admin/clock", {"advance_seconds": 3600})[1]["now"]
            == start + 3600
        )
        assert _call(srv.endpoint, "/_admin/clock", {"set_epoch_seconds": 1e9})[1]["now"] == 1e9
        assert srv.clock.now() == 1e9
        for bad in (
            {"advance_seconds": -1},
            {"advance_seconds": "1"},
            {},
            {"set_epoch_seconds": True},
        ):
            status, body = _call(srv.endpoint, "/_admin/clock", bad)
            assert status == 400 and body["error"] == "BadRequest"
        assert srv.clock.now() == 1e9


LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z
CLOCK_RANGE = "outside the virtual clock's range, 0 to 253402300799 (the end of year 9999)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"set_epoch_seconds": 1e300}, f"set_epoch_seconds: 1e+300 is {CLOCK_RANGE}"),
        ({"set_epoch_seconds": -1e300}, f"set_epoch_seconds: -1e+300 is {CLOCK_RANGE}"),
        ({"set_epoch_seconds": -1}, f"set_epoch_seconds: -1 is {CLOCK_RANGE}"),
        ({"set_epoch_seconds": LATEST + 1}, f"set_epoch_seconds: {LATEST + 1} is {CLOCK_RANGE}"),
        (
            {"advance_seconds": 1e300},
            "advance_seconds: advancing by 1e+300 would take the virtual clock past "
            "253402300799 (the end of year 9999)",
        ),
        (
            {"advance_seconds": LATEST},
            f"advance_seconds: advancing by {LATEST} would take the virtual clock past "
            "253402300799 (the end of year 9999)",
        ),
    ],
)
def test_clock_outside_year_0_to_9999_is_refused_and_writes_keep_working(
    change: dict[str, float], message: str
) -> None:
    """A clock set past what a 64-bit stream timestamp holds made every stream-table
    write 500 until it was reset; such a clock change is now a 400 that changes nothing."""
    with Server(clock="virtual").run_in_thread() as srv:
        ddb = make_client(srv.endpoint)
        ddb.create_table(
            TableName="stream_table",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )
        before = srv.clock.now()
        assert _call(srv.endpoint, "/_admin/clock", change) == (
            400,
            {"error": "BadRequest", "message": message},
        )
        assert srv.clock.now() == before
        ddb.put_item(TableName="stream_table", Item={"pk": {"S": "still writable"}})


def test_clock_takes_both_ends_of_its_range_and_streams_report_them() -> None:
    with Server(clock="virtual").run_in_thread() as srv:
        ddb = make_client(srv.endpoint)
        streams = make_client(srv.endpoint, "dynamodbstreams")
        arn = ddb.create_table(
            TableName="ends",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )["TableDescription"]["LatestStreamArn"]
        assert _call(srv.endpoint, "/_admin/clock", {"set_epoch_seconds": 0})[1]["now"] == 0
        assert _call(srv.endpoint, "/_admin/clock", {"set_epoch_seconds": LATEST - 10}) == (
            200,
            {"now": LATEST - 10, "virtual": True},
        )
        moved = _call(srv.endpoint, "/_admin/clock", {"advance_seconds": 10})
        assert moved == (200, {"now": LATEST, "virtual": True})
        ddb.put_item(TableName="ends", Item={"pk": {"S": "last second"}})
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][-1]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        [record] = streams.get_records(ShardIterator=iterator)["Records"]
        created = record["dynamodb"]["ApproximateCreationDateTime"]
        assert created.timestamp() == LATEST


@pytest.mark.parametrize("moment", [1e300, -1e300, -1, LATEST + 1, math.inf, math.nan, 10**400])
def test_embedded_virtual_clock_refuses_times_outside_its_range(moment: float) -> None:
    clock = VirtualClock(1e9)
    with pytest.raises(ValueError, match="outside the virtual clock's range"):
        clock.set(moment)
    with pytest.raises(ValueError, match="outside the virtual clock's range"):
        VirtualClock(moment)
    assert clock.now() == 1e9
    with pytest.raises(ValueError, match="would take the virtual clock past 253402300799"):
        clock.advance(LATEST)
    assert clock.now() == 1e9
    assert clock.advance(LATEST - 1e9) == LATEST


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/_admin/nope", None, 404, "NotFound"),
        ("/_admin/streams/rotate", b"not json", 400, "BadRequest"),
        ("/_admin/streams/rotate", [1, 2], 400, "BadRequest"),
        ("/_admin/streams/rotate", {}, 400, "ValidationException"),
        ("/_admin/streams/rotate", {"table": "missing_table"}, 400, "ResourceNotFoundException"),
        ("/_admin/streams/rotate", {"stream_arn": "arn:nope"}, 400, "ResourceNotFoundException"),
    ],
)
def test_admin_errors_are_json(
    endpoint: str, path: str, body: Any, status: int, error: str
) -> None:
    got_status, got = _call(
        endpoint, path, body, method="POST" if body is not None or path.endswith("nope") else None
    )
    assert (got_status, got["error"]) == (status, error)


def test_rotate_a_table_without_stream_is_refused(endpoint: str, make_table: Any) -> None:
    name = make_table(range_key=None)
    status, body = _call(endpoint, "/_admin/streams/rotate", {"table": name})
    assert status == 400 and body == {
        "error": "ValidationException",
        "message": f"Table {name} has no enabled stream",
    }


def test_token_protects_everything_but_health() -> None:
    with Server(token="s3cret-admin-token").run_in_thread() as srv:
        assert _call(srv.endpoint, "/_admin/health") == (200, {"status": "ok"})
        assert _call(srv.endpoint, "/_admin/clock")[0] == 403
        assert _call(srv.endpoint, "/_admin/clock", token="wrong")[0] == 403
        assert _call(srv.endpoint, "/_admin/ttl/sweep", {}, token="wrong")[0] == 403
        assert _call(srv.endpoint, "/_admin/clock", token="s3cret-admin-token")[0] == 200
        assert _call(srv.endpoint, "/_admin/ttl/sweep", {}, token="s3cret-admin-token") == (
            200,
            {"expired": 0},
        )


def test_non_loopback_bind_needs_a_token_or_explicit_insecure_flag() -> None:
    from dynoxide_streams.service import UnsafeBind

    with pytest.raises(BaseException) as info, Server(host="0.0.0.0").run_in_thread():
        pass
    assert (
        info.group_contains(UnsafeBind)
        if isinstance(info.value, BaseExceptionGroup)
        else isinstance(info.value, UnsafeBind)
    )
    with Server(host="0.0.0.0", token="t-sixteen-chars!").run_in_thread() as srv:
        assert (
            _call(
                srv.endpoint.replace("0.0.0.0", "127.0.0.1"),
                "/_admin/clock",
                token="t-sixteen-chars!",
            )[0]
            == 200
        )


def test_non_loopback_bind_without_token_refuses_admin() -> None:
    with Server(host="0.0.0.0", insecure_no_auth=True).run_in_thread() as srv:
        endpoint = srv.endpoint.replace("0.0.0.0", "127.0.0.1")
        assert _call(endpoint, "/_admin/health") == (200, {"status": "ok"})
        status, body = _call(endpoint, "/_admin/clock")
        assert status == 403 and body["error"] == "Forbidden"
