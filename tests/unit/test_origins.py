"""Who may call (dynoxide_streams/wire/origins.py), pure: the Host allowlist against DNS
rebinding (including AWS's own endpoint names and the bounded verdict cache), the Origin
rule of browser callers, the bearer-token checks of the admin API and the push
websocket, and the CORS headers (responses and preflights) granted to an allowed
Origin."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynoxide_streams.wire.origins import (
    EXPOSE_HEADERS,
    HOST_VERDICTS,
    PREFLIGHT_MAX_AGE,
    AccessPolicy,
    is_loopback,
)

OPEN = AccessPolicy()
TOKEN = "s3cret"
LOCKED = AccessPolicy(token=TOKEN)


# ------------------------------------------------------------------------ Host


@pytest.mark.parametrize(
    "host",
    [
        b"localhost",
        b"localhost:8000",
        b"LOCALHOST.",
        b"app.localhost:3000",
        b"127.0.0.1",
        b"127.0.0.1:8000",
        b"10.1.2.3:80",
        b"[::1]:8000",
        b"[::1]",
        b"::1",
        b"dynamodb.us-east-1.amazonaws.com",
        b"dynamodb.us-east-1.amazonaws.com:443",
        b"streams.dynamodb.eu-west-1.amazonaws.com",
        b"DYNAMODB.CN-NORTH-1.AMAZONAWS.COM.CN.",
        b"dynamodb.cn-northwest-1.amazonaws.com.cn:8000",
    ],
)
def test_loopback_names_and_ip_literals_are_served(host: bytes) -> None:
    assert OPEN.host_allowed(host)


@pytest.mark.parametrize(
    "host",
    [
        b"evil.example",
        b"evil.example:8000",
        b"localhost.evil.example",
        b"",
        b"  ",
        b"[::1",
        b"amazonaws.com",  # the bare zone: not an endpoint name
        b"amazonaws.com.cn",
        b"amazonaws.com.evil.example",  # look-alikes
        b"dynamodb.us-east-1.amazonaws.com.evil.example:8000",
        b"evilamazonaws.com",
        b"dynamodb.amazonaws.com.cn.evil.example",
        b"dynamodb.amazonaws.co",
    ],
)
def test_other_names_and_malformed_hosts_are_refused(host: bytes) -> None:
    assert not OPEN.host_allowed(host)


def test_a_request_without_host_is_served() -> None:
    assert OPEN.host_allowed(None)


def test_allowed_host_names_are_served_case_and_dot_insensitively() -> None:
    policy = AccessPolicy(allowed_hosts=(" Dynamo.Internal. ",))
    assert policy.host_allowed(b"dynamo.internal:8000")
    assert policy.host_allowed(b"DYNAMO.INTERNAL.")
    assert not policy.host_allowed(b"other.internal")


def test_a_port_that_is_not_a_number_is_refused() -> None:
    assert not OPEN.host_allowed(b"localhost:http")


def test_star_serves_every_host() -> None:
    assert AccessPolicy(allowed_hosts=("*",)).host_allowed(b"evil.example")


@given(st.from_regex(r"[a-z]{1,10}\.example(:[0-9]{1,5})?", fullmatch=True))
def test_no_public_name_is_served_by_default(host: str) -> None:
    assert not OPEN.host_allowed(host.encode())


def test_host_verdicts_are_remembered_up_to_the_bound_and_stay_right_beyond() -> None:
    policy = AccessPolicy()
    for i in range(HOST_VERDICTS + 50):
        assert not policy.host_allowed(f"n{i}.example".encode())
    assert len(policy._host_verdicts) == HOST_VERDICTS
    assert policy.host_allowed(b"dynamodb.us-east-1.amazonaws.com")  # beyond: computed
    assert not policy.host_allowed(b"amazonaws.com.evil.example")
    assert policy.host_allowed(b"n0.example") is False  # remembered
    assert len(policy._host_verdicts) == HOST_VERDICTS


# ---------------------------------------------------------------------- Origin


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        (None, b"localhost:8000"),  # not a browser
        (b"http://localhost:3000", b"localhost:8000"),  # loopback page
        (b"http://127.0.0.1:5173/", b"localhost:8000"),
        (b"http://[::1]:5173", None),
        (b"http://dynamo.internal:8000", b"dynamo.internal:8000"),  # same origin
        (b"https://app.example", b"evil.example"),  # given with --allowed-origin
        (b"https://app.example/", b"evil.example"),
    ],
)
def test_allowed_origins(origin: bytes | None, host: bytes | None) -> None:
    policy = AccessPolicy(allowed_origins=("https://app.example/",))
    assert policy.origin_allowed(origin, host)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        (b"https://evil.example", b"localhost:8000"),
        (b"https://evil.example", None),
        (b"https://evil.example", b""),
        (b"null", b"localhost:8000"),
        (b"http://[::1", b"localhost:8000"),  # malformed: refused, not an error
        (b"http://dynamo.internal:9000", b"dynamo.internal:8000"),  # other port
    ],
)
def test_refused_origins(origin: bytes, host: bytes | None) -> None:
    assert not OPEN.origin_allowed(origin, host)


def test_cors_headers_name_an_allowed_origin() -> None:
    policy = AccessPolicy(allowed_origins=("https://app.example",))
    assert policy.cors_headers(b"https://app.example", b"localhost:8000") == [
        (b"access-control-allow-origin", b"https://app.example"),
        (b"vary", b"Origin"),
    ]


@pytest.mark.parametrize("origin", [None, b"https://evil.example"])
def test_no_cors_headers_without_an_allowed_origin(origin: bytes | None) -> None:
    assert OPEN.cors_headers(origin, b"localhost:8000") == []
    assert OPEN.api_cors_headers(origin, b"localhost:8000") == []
    assert OPEN.preflight_headers(origin, b"localhost:8000", b"POST", b"x-amz-target") == []


def test_api_responses_expose_the_request_id_and_crc32() -> None:
    assert OPEN.api_cors_headers(b"http://127.0.0.1:5173", b"127.0.0.1:8000") == [
        (b"access-control-allow-origin", b"http://127.0.0.1:5173"),
        (b"vary", b"Origin"),
        (b"access-control-expose-headers", EXPOSE_HEADERS),
    ]
    assert EXPOSE_HEADERS.split(b",") == [
        b"x-amzn-RequestId",
        b"x-amzn-ErrorType",
        b"x-amzn-ErrorMessage",
        b"Date",
        b"x-amz-crc32",
    ]


def test_a_preflight_echoes_the_requested_method_and_headers() -> None:
    asked = b"content-type,x-amz-target,x-amz-user-agent"
    assert OPEN.preflight_headers(b"http://localhost:3000", None, b"POST", asked) == [
        (b"access-control-allow-origin", b"http://localhost:3000"),
        (b"vary", b"Origin"),
        (b"access-control-expose-headers", EXPOSE_HEADERS),
        (b"access-control-allow-methods", b"POST"),
        (b"access-control-allow-headers", asked),
        (b"access-control-max-age", PREFLIGHT_MAX_AGE),
    ]
    without_headers = OPEN.preflight_headers(b"http://localhost:3000", None, b"POST", None)
    assert b"access-control-allow-headers" not in dict(without_headers)


def test_an_options_without_a_requested_method_is_no_preflight() -> None:
    assert OPEN.preflight_headers(b"http://localhost:3000", None, None, b"x-amz-target") == []


# ---------------------------------------------------------------- bearer token


def test_admin_without_token_is_served_only_on_a_loopback_bind() -> None:
    assert AccessPolicy(bind_host="127.0.0.1").admin_allowed(None)
    assert AccessPolicy(bind_host="::1").admin_allowed(None)
    assert not AccessPolicy(bind_host="0.0.0.0").admin_allowed(None)
    assert not AccessPolicy(bind_host="192.168.1.5").admin_allowed(b"Bearer anything")


def test_admin_with_token_needs_the_bearer_header() -> None:
    assert LOCKED.admin_allowed(f"Bearer {TOKEN}".encode())
    assert not LOCKED.admin_allowed(None)
    assert not LOCKED.admin_allowed(TOKEN.encode())
    assert not LOCKED.admin_allowed(b"Bearer wrong")
    assert not LOCKED.admin_allowed("Bearer sécret".encode())


def test_admin_token_is_required_even_on_a_loopback_bind() -> None:
    assert not AccessPolicy(bind_host="127.0.0.1", token=TOKEN).admin_allowed(None)


def test_push_without_token_is_open() -> None:
    assert AccessPolicy(bind_host="0.0.0.0").push_allowed(b"", None)


@pytest.mark.parametrize(
    ("query", "authorization"),
    [(f"token={TOKEN}".encode(), None), (b"a=1&token=s3cret", None), (b"", b"Bearer s3cret")],
)
def test_push_token_in_query_or_bearer_header(query: bytes, authorization: bytes | None) -> None:
    assert LOCKED.push_allowed(query, authorization)


@pytest.mark.parametrize(
    ("query", "authorization"),
    [(b"", None), (b"token=wrong", None), (b"token=", b"Bearer wrong"), (b"", b"s3cret")],
)
def test_push_refused_without_the_token(query: bytes, authorization: bytes | None) -> None:
    assert not LOCKED.push_allowed(query, authorization)


# -------------------------------------------------------------------- loopback


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com", "localhost."])
def test_not_loopback_hosts(host: str) -> None:
    assert not is_loopback(host)


# ------------------------------------------------------------- cross-site writes

CROSS = AccessPolicy(allowed_origins=("https://app.test",))
JSON_BODY = {b"content-type": b"application/json"}


@pytest.mark.parametrize(
    ("method", "headers", "has_body"),
    [
        ("GET", {b"origin": b"http://evil.example"}, False),  # reads change nothing
        ("HEAD", {b"sec-fetch-site": b"cross-site"}, False),
        ("POST", JSON_BODY, True),  # no browser
        ("POST", {**JSON_BODY, b"origin": b"http://localhost:5173"}, True),
        ("PUT", {**JSON_BODY, b"origin": b"http://[::1]:8000"}, True),
        ("POST", {**JSON_BODY, b"origin": b"https://app.test/"}, True),  # --allowed-origin
        (
            "POST",
            {**JSON_BODY, b"origin": b"http://10.0.0.5:8000", b"host": b"10.0.0.5:8000"},
            True,
        ),
        ("POST", {b"content-type": b"Application/JSON; charset=utf-8"}, True),
        ("POST", {b"content-type": b"application/x-amz-json-1.1"}, True),
        ("POST", {b"sec-fetch-site": b"same-site"}, False),
        ("DELETE", {}, False),  # bodiless: no Content-Type needed
        ("POST", {b"content-type": b"text/plain"}, False),
    ],
)
def test_writes_served(method: str, headers: dict[bytes, bytes], has_body: bool) -> None:
    assert CROSS.cross_site_refusal(method, headers, has_body=has_body) is None


@pytest.mark.parametrize(
    ("headers", "has_body", "name"),
    [
        ({**JSON_BODY, b"origin": b"http://evil.example"}, True, "AccessDeniedException"),
        ({b"origin": b"null"}, False, "AccessDeniedException"),  # sandboxed frame
        ({**JSON_BODY, b"sec-fetch-site": b"cross-site"}, True, "AccessDeniedException"),
        ({b"sec-fetch-site": b"Cross-Site"}, False, "AccessDeniedException"),
        ({b"content-type": b"text/plain"}, True, "UnsupportedMediaTypeException"),
        ({b"content-type": b"application/jsonp"}, True, "UnsupportedMediaTypeException"),
        ({}, True, "UnsupportedMediaTypeException"),
    ],
)
def test_writes_refused(headers: dict[bytes, bytes], has_body: bool, name: str) -> None:
    refusal = CROSS.cross_site_refusal("POST", headers, has_body=has_body)
    assert refusal is not None and refusal.name == name
    assert refusal.status == (403 if name == "AccessDeniedException" else 415)


@pytest.mark.parametrize("token", ["", " ", "\t\n"])
def test_a_blank_token_protects_nothing(token: str) -> None:
    with pytest.raises(ValueError, match="empty or blank token"):
        AccessPolicy(token=token)
