"""Hosts and browsers (issue 17 §4), over raw HTTP against real servers.

* AWS's endpoint names are served: ``Host: dynamodb.<region>.amazonaws.com`` (and
  ``.amazonaws.com.cn``), as an SDK sends when a hosts entry or a proxy points it here,
  writes and reads; a look-alike (``amazonaws.com.evil.example``) stays refused with
  403 and changes nothing.
* CORS on the DynamoDB route, as DynamoDB does it, for allowed Origins only (loopback
  origins by default, ``--allowed-origin`` ones too): a preflight (``OPTIONS`` with
  ``Access-Control-Request-Method``) gets 200, no body, the requested method and headers
  echoed, ``Access-Control-Max-Age`` and ``Access-Control-Expose-Headers``; DynamoDB and
  Streams responses (errors too) get ``Access-Control-Allow-Origin`` naming the Origin,
  ``Vary: Origin`` and the exposed headers (``x-amzn-RequestId``, ``x-amz-crc32``, ...).
  A foreign Origin, or no Origin, gets no CORS header at all.
* Static files under ``/_streams/`` name an allowed Origin (so ``client.js`` can be
  imported from another loopback origin); the admin and Lambda routes answer no
  preflight, so their cross-site refusal stands.

The exact header values are DynamoDB's (sources in docs/architecture.md, "CORS").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from dynoxide_streams import Server
from tests.wire.test_host_and_limits import Reply, assert_host_refused, call, send

EXPOSED = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date,x-amz-crc32"
ASKED = "content-type,x-amz-target,x-amz-user-agent,amz-sdk-invocation-id"
LOOPBACK_PAGE = "http://127.0.0.1:5173"
FOREIGN_PAGE = "http://evil.test:5173"


def cors(reply: Reply) -> dict[str, str]:
    """The CORS headers (and Vary) of a reply."""
    return {
        name: value
        for name, value in reply.headers.items()
        if name.startswith("access-control-") or name == "vary"
    }


def own_host(endpoint: str) -> str:
    netloc = urlsplit(endpoint).netloc
    assert netloc
    return netloc


def preflight(endpoint: str, origin: str | None, path: str = "/", **extra: str) -> Reply:
    headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": ASKED}
    if origin is not None:
        headers["Origin"] = origin
    headers.update(extra)
    return send(endpoint, "OPTIONS", path, own_host(endpoint), headers=headers)


def api(endpoint: str, operation: str, params: Any, origin: str | None) -> Reply:
    headers = {} if origin is None else {"Origin": origin}
    return send(
        endpoint, "POST", "/", own_host(endpoint), body=params, target=operation, headers=headers
    )


def response_cors(origin: str) -> dict[str, str]:
    return {
        "access-control-allow-origin": origin,
        "vary": "Origin",
        "access-control-expose-headers": EXPOSED,
    }


def preflight_cors(origin: str) -> dict[str, str]:
    return {
        **response_cors(origin),
        "access-control-allow-methods": "POST",
        "access-control-allow-headers": ASKED,
        "access-control-max-age": "172800",
    }


# ------------------------------------------------------------------------ Host


@pytest.mark.parametrize(
    "host",
    [
        "dynamodb.us-east-1.amazonaws.com",
        "dynamodb.eu-west-1.amazonaws.com:443",
        "dynamodb.cn-north-1.amazonaws.com.cn",
    ],
)
def test_aws_endpoint_hosts_write_and_read(endpoint: str, make_table: Any, host: str) -> None:
    table = make_table(range_key=None)
    item = {"pk": {"S": host}}
    put = call(endpoint, host, "PutItem", {"TableName": table, "Item": item})
    assert (put.status, put.json) == (200, {})
    got = call(endpoint, host, "GetItem", {"TableName": table, "Key": item})
    assert (got.status, got.json) == (200, {"Item": item})


@pytest.mark.parametrize(
    "host",
    [
        "amazonaws.com.evil.example",
        "dynamodb.us-east-1.amazonaws.com.evil.example",
        "evilamazonaws.com",
        "amazonaws.com",
    ],
)
def test_aws_look_alike_hosts_stay_refused_and_change_nothing(
    endpoint: str, make_table: Any, host: str
) -> None:
    table = make_table(range_key=None)
    item = {"pk": {"S": "x"}}
    assert_host_refused(call(endpoint, host, "PutItem", {"TableName": table, "Item": item}), host)
    got = call(endpoint, own_host(endpoint), "GetItem", {"TableName": table, "Key": item})
    assert (got.status, got.json) == (200, {})


# ------------------------------------------------------------- CORS, loopback


def test_a_loopback_page_preflight_gets_the_requested_method_and_headers(endpoint: str) -> None:
    reply = preflight(endpoint, LOOPBACK_PAGE)
    assert (reply.status, reply.body) == (200, b"")
    assert cors(reply) == preflight_cors(LOOPBACK_PAGE)
    # any path: the DynamoDB route is POST on any path
    assert cors(preflight(endpoint, "http://localhost:3000", "/x")) == preflight_cors(
        "http://localhost:3000"
    )


def test_a_foreign_page_preflight_gets_no_cors_headers(endpoint: str) -> None:
    reply = preflight(endpoint, FOREIGN_PAGE)
    assert (reply.status, reply.body, cors(reply)) == (200, b"", {})
    assert cors(preflight(endpoint, "null")) == {}


def test_an_options_without_origin_or_requested_method_gets_no_cors_headers(
    endpoint: str,
) -> None:
    assert cors(preflight(endpoint, None)) == {}
    reply = send(endpoint, "OPTIONS", "/", own_host(endpoint), headers={"Origin": LOOPBACK_PAGE})
    assert (reply.status, reply.body, cors(reply)) == (200, b"", {})


def test_dynamodb_and_streams_responses_name_a_loopback_origin(
    endpoint: str, make_table: Any
) -> None:
    table = make_table(range_key=None)
    item = {"pk": {"S": "cors"}}
    put = api(endpoint, "PutItem", {"TableName": table, "Item": item}, LOOPBACK_PAGE)
    assert (put.status, put.json) == (200, {})
    assert cors(put) == response_cors(LOOPBACK_PAGE)
    assert len(put.headers["x-amzn-requestid"]) == 52 and put.headers["x-amz-crc32"].isdigit()
    got = api(endpoint, "GetItem", {"TableName": table, "Key": item}, LOOPBACK_PAGE)
    assert (got.status, got.json, cors(got)) == (200, {"Item": item}, response_cors(LOOPBACK_PAGE))
    missing = api(endpoint, "GetItem", {"TableName": "nope", "Key": item}, LOOPBACK_PAGE)
    assert missing.status == 400
    assert missing.json["__type"].endswith("#ResourceNotFoundException")
    assert cors(missing) == response_cors(LOOPBACK_PAGE)
    streams = send(
        endpoint,
        "POST",
        "/",
        own_host(endpoint),
        body={},
        headers={"Origin": LOOPBACK_PAGE, "X-Amz-Target": "DynamoDBStreams_20120810.ListStreams"},
    )
    assert streams.status == 200 and "Streams" in streams.json
    assert cors(streams) == response_cors(LOOPBACK_PAGE)


def test_foreign_or_no_origin_responses_carry_no_cors_headers(endpoint: str) -> None:
    for origin in (FOREIGN_PAGE, None):
        reply = api(endpoint, "ListTables", {}, origin)
        assert reply.status == 200 and "TableNames" in reply.json
        assert cors(reply) == {}


def test_static_files_name_a_loopback_origin_only(endpoint: str) -> None:
    host = own_host(endpoint)
    allowed = send(endpoint, "GET", "/_streams/client.js", host, headers={"Origin": LOOPBACK_PAGE})
    assert allowed.status == 200 and b"export function subscribe" in allowed.body
    assert cors(allowed) == {"access-control-allow-origin": LOOPBACK_PAGE, "vary": "Origin"}
    foreign = send(endpoint, "GET", "/_streams/client.js", host, headers={"Origin": FOREIGN_PAGE})
    assert (foreign.status, cors(foreign)) == (200, {})
    assert cors(send(endpoint, "GET", "/_streams/client.js", host)) == {}


@pytest.mark.parametrize("path", ["/_admin/health", "/2015-03-31/event-source-mappings/"])
def test_admin_and_lambda_routes_answer_no_preflight(endpoint: str, path: str) -> None:
    assert cors(preflight(endpoint, LOOPBACK_PAGE, path)) == {}


# ------------------------------------------------------- CORS, --allowed-origin


@pytest.fixture(scope="module")
def app_endpoint() -> Iterator[str]:
    with Server(allowed_origin=["https://app.test"]).run_in_thread() as srv:
        yield srv.endpoint


def test_an_allowed_origin_gets_cors_and_another_does_not(app_endpoint: str) -> None:
    assert cors(preflight(app_endpoint, "https://app.test")) == preflight_cors("https://app.test")
    assert cors(api(app_endpoint, "ListTables", {}, "https://app.test")) == response_cors(
        "https://app.test"
    )
    assert cors(preflight(app_endpoint, "https://other.test")) == {}
    assert cors(api(app_endpoint, "ListTables", {}, "https://other.test")) == {}
    # loopback pages stay allowed alongside --allowed-origin
    assert cors(preflight(app_endpoint, LOOPBACK_PAGE)) == preflight_cors(LOOPBACK_PAGE)


def test_static_files_name_an_allowed_origin_and_no_other(app_endpoint: str) -> None:
    """``import ... from "<server>/_streams/client.js"`` in a page of an
    ``--allowed-origin`` works: the module answer names that origin, and only it."""
    host = own_host(app_endpoint)
    path = "/_streams/client.js"
    allowed = send(app_endpoint, "GET", path, host, headers={"Origin": "https://app.test"})
    assert allowed.status == 200 and b"export function subscribe" in allowed.body
    assert cors(allowed) == {"access-control-allow-origin": "https://app.test", "vary": "Origin"}
    other = send(app_endpoint, "GET", path, host, headers={"Origin": "https://other.test"})
    assert (other.status, cors(other)) == (200, {})
