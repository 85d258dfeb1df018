"""Guards in front of every route.

* Host allowlist (DNS-rebinding protection): a request whose Host header names a host
  that is not an IP literal, ``localhost``/``*.localhost`` or an ``--allowed-host`` is
  refused with 403 and a JSON body naming that host — on every route family, before
  anything runs (a refused write changes nothing); a request without Host (HTTP/1.0)
  is served; ``--allowed-host NAME`` (and its environment twin) adds names, ``'*'``
  turns the check off.
* Connection limit: beyond ``max_connections`` busy connections requests get a
  DynamoDB-shaped JSON 503 (boto3 reports ``ServiceUnavailableException``) until
  connections close; idle connections are closed to make room instead.
* ``--token``: ``/_admin/metrics`` needs the bearer token, ``/_admin/health`` does not.

(The 16 MB body cap is covered by test_protocol.py and the 64-subscription limit by
test_push_errors.py; Origin checks of the websocket by test_push_access.py.)
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from dynoxide_streams import Server
from tests.conftest import make_client
from tests.polling import wait_until
from tests.process import ServerProcess, start_server

TARGET = "DynamoDB_20120810."
TIMEOUT = 10.0


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def _port(endpoint: str) -> int:
    port = urlsplit(endpoint).port
    assert port is not None
    return port


def send(
    endpoint: str,
    method: str,
    path: str,
    host: str,
    *,
    body: Any = None,
    target: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One HTTP/1.1 request carrying exactly ``Host: host``."""
    conn = http.client.HTTPConnection("127.0.0.1", _port(endpoint), timeout=TIMEOUT)
    all_headers = {"Host": host, **(headers or {})}
    data: bytes | None = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers["Content-Type"] = "application/x-amz-json-1.0"
    if target is not None:
        all_headers["X-Amz-Target"] = TARGET + target
    try:
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        payload = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)
    finally:
        conn.close()


def call(endpoint: str, host: str, operation: str, params: Any) -> Reply:
    return send(endpoint, "POST", "/", host, body=params, target=operation)


def handshake(endpoint: str, host: str, path: str = "/_streams/ws") -> int:
    """Status of a websocket handshake sent with ``Host: host`` and no Origin."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    with socket.create_connection(("127.0.0.1", _port(endpoint)), timeout=TIMEOUT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, f"closed before a status line: {head!r}"
            head += chunk
    status_line = head.split(b"\r\n", 1)[0].decode()
    assert status_line.startswith("HTTP/1.1 "), status_line
    return int(status_line.split()[1])


def http10_without_host(endpoint: str, method: str, body: bytes = b"", target: str = "") -> Reply:
    """An HTTP/1.0 request with no Host header at all (read until the server closes)."""
    lines = [f"{method} / HTTP/1.0"]
    if target:
        lines.append(f"X-Amz-Target: {TARGET}{target}")
        lines.append("Content-Type: application/x-amz-json-1.0")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    data = b""
    with socket.create_connection(("127.0.0.1", _port(endpoint)), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), headers, payload)


def assert_host_refused(reply: Reply, host: str) -> None:
    assert reply.status == 403, (reply.status, reply.body)
    assert reply.headers["content-type"] == "application/x-amz-json-1.0"
    body = reply.json
    assert str(body["__type"]).endswith("AccessDeniedException"), body
    assert f"Host {host!r} is not allowed" in body["message"], body
    assert "--allowed-host" in body["message"]


def assert_served(endpoint: str, host: str) -> None:
    """GET / and a DynamoDB call both answer 200 for ``Host: host``."""
    health = send(endpoint, "GET", "/", host)
    assert health.status == 200 and health.body.startswith(b"healthy: dynamodb."), health.body
    tables = call(endpoint, host, "ListTables", {})
    assert tables.status == 200 and "TableNames" in tables.json, tables.body


def create_table(endpoint: str, name: str) -> None:
    make_client(endpoint).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


# ----------------------------------------------------------------- default policy

ROUTES: list[tuple[str, str, str | None, Any]] = [
    ("POST", "/", "ListTables", {}),
    ("POST", "/", "CreateTable", {"TableName": "x"}),
    ("POST", "/anything", "ListTables", {}),
    ("GET", "/", None, None),
    ("HEAD", "/", None, None),
    ("GET", "/_admin/health", None, None),
    ("GET", "/_admin/clock", None, None),
    ("POST", "/_admin/ttl/sweep", None, {}),
    ("GET", "/_admin/metrics", None, None),
    ("GET", "/2015-03-31/event-source-mappings", None, None),
    ("POST", "/2015-03-31/event-source-mappings", None, {"FunctionName": "f"}),
    ("GET", "/_streams/client.js", None, None),
    ("GET", "/_streams/live", None, None),
    ("GET", "/no/such/route", None, None),
]


@pytest.mark.parametrize(
    ("method", "path", "target", "body"),
    ROUTES,
    ids=[f"{m} {p} {t or ''}".strip() for m, p, t, _ in ROUTES],
)
def test_every_route_refuses_a_foreign_host(
    endpoint: str, method: str, path: str, target: str | None, body: Any
) -> None:
    host = f"evil.example:{_port(endpoint)}"
    reply = send(endpoint, method, path, host, body=body, target=target)
    if method == "HEAD":
        assert reply.status == 403 and reply.body == b""
    else:
        assert_host_refused(reply, host)


def test_the_websocket_handshake_refuses_a_foreign_host(endpoint: str) -> None:
    port = _port(endpoint)
    assert handshake(endpoint, f"evil.example:{port}") == 403
    assert handshake(endpoint, f"evil.example:{port}", "/not-the-push-path") == 403
    assert handshake(endpoint, f"localhost:{port}") == 101


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "evil.example",
        "EVIL.example:{port}",
        "localhost.evil.example:{port}",
        "127.0.0.1.evil.example:{port}",
        "myhost:{port}",  # single-label names are names too
        "localhost:abc",  # malformed port
        "",
    ],
)
def test_foreign_or_malformed_hosts_are_refused(endpoint: str, host: str) -> None:
    host = host.format(port=_port(endpoint))
    assert_host_refused(send(endpoint, "GET", "/", host), host)
    assert_host_refused(call(endpoint, host, "ListTables", {}), host)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}",
        "127.0.0.1",
        "localhost:{port}",
        "LocalHost:{port}",
        "localhost.:{port}",
        "foo.localhost:{port}",
        "a.b.localhost",
        "[::1]:{port}",
        "10.1.2.3:{port}",
        "192.168.0.20",
        "[fe80::1]:{port}",
    ],
)
def test_ip_literals_and_localhost_names_are_served(endpoint: str, host: str) -> None:
    assert_served(endpoint, host.format(port=_port(endpoint)))


def test_a_request_without_host_is_served(endpoint: str) -> None:
    health = http10_without_host(endpoint, "GET")
    assert health.status == 200 and health.body.startswith(b"healthy: dynamodb.")
    tables = http10_without_host(endpoint, "POST", b"{}", "ListTables")
    assert tables.status == 200 and "TableNames" in tables.json


def test_a_refused_write_changes_nothing(endpoint: str, table_name: str) -> None:
    port = _port(endpoint)
    evil = f"evil.example:{port}"
    ddb = make_client(endpoint)
    create = {
        "TableName": table_name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    assert_host_refused(call(endpoint, evil, "CreateTable", create), evil)
    with pytest.raises(ClientError) as missing:
        ddb.describe_table(TableName=table_name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"

    # the same request from an allowed host works, then a refused PutItem, UpdateItem
    # and DeleteTable leave the table and its items alone
    assert call(endpoint, f"localhost:{port}", "CreateTable", create).status == 200
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "kept"}, "v": {"N": "1"}})
    for operation, params in (
        ("PutItem", {"TableName": table_name, "Item": {"pk": {"S": "new"}}}),
        (
            "UpdateItem",
            {
                "TableName": table_name,
                "Key": {"pk": {"S": "kept"}},
                "UpdateExpression": "SET v = :two",
                "ExpressionAttributeValues": {":two": {"N": "2"}},
            },
        ),
        ("DeleteItem", {"TableName": table_name, "Key": {"pk": {"S": "kept"}}}),
        ("DeleteTable", {"TableName": table_name}),
    ):
        assert_host_refused(call(endpoint, evil, operation, params), evil)
    items = ddb.scan(TableName=table_name, ConsistentRead=True)["Items"]
    assert items == [{"pk": {"S": "kept"}, "v": {"N": "1"}}]


# ------------------------------------------------------------ configured policies


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_path_factory.mktemp("allowed-host") / "data", "--allowed-host", "app.test"
    )
    try:
        yield server
    finally:
        server.terminate()


def test_allowed_host_flag_adds_that_name(named: ServerProcess) -> None:
    endpoint = named.endpoint
    port = _port(endpoint)
    for host in (f"app.test:{port}", "app.test", f"APP.Test:{port}", f"app.test.:{port}"):
        assert_served(endpoint, host)
    # IP literals and localhost stay allowed besides the configured name
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert_served(endpoint, host)
    for host in (
        f"other.test:{port}",
        "other.test",
        f"sub.app.test:{port}",
        f"app.test.evil:{port}",
    ):
        assert_host_refused(send(endpoint, "GET", "/", host), host)
        assert_host_refused(call(endpoint, host, "ListTables", {}), host)
    assert handshake(endpoint, f"app.test:{port}") == 101
    assert handshake(endpoint, f"other.test:{port}") == 403


TOKEN = "T0ken-of-16-chars"


@pytest.fixture(scope="module")
def anything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_path_factory.mktemp("any-host") / "data",
        "--allowed-host",
        "*",
        "--token",
        TOKEN,
    )
    try:
        yield server
    finally:
        server.terminate()


def test_star_allows_every_host(anything: ServerProcess) -> None:
    endpoint = anything.endpoint
    port = _port(endpoint)
    for host in (f"evil.example:{port}", "whatever", f"other.test:{port}", f"localhost:{port}"):
        assert_served(endpoint, host)
    assert handshake(endpoint, f"evil.example:{port}", f"/_streams/ws?token={TOKEN}") == 101
    reply = send(endpoint, "GET", "/_streams/client.js", "evil.example")
    assert reply.status == 200


def test_allowed_host_env_twin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNOXIDE_STREAMS_ALLOWED_HOST", "a.test, b.test")
    server = start_server(tmp_path / "data")
    try:
        endpoint = server.endpoint
        port = _port(endpoint)
        for host in (f"a.test:{port}", f"b.test:{port}", f"localhost:{port}"):
            assert_served(endpoint, host)
        for host in (f"c.test:{port}", f"a.test.b.test:{port}"):
            assert_host_refused(call(endpoint, host, "ListTables", {}), host)
    finally:
        server.terminate()


# -------------------------------------------------------------------------- token


def _metrics(endpoint: str, host: str, authorization: str | None) -> Reply:
    headers = {} if authorization is None else {"Authorization": authorization}
    return send(endpoint, "GET", "/_admin/metrics", host, headers=headers)


def test_token_guards_metrics_but_not_health(anything: ServerProcess) -> None:
    endpoint = anything.endpoint
    host = f"127.0.0.1:{_port(endpoint)}"
    for authorization in (None, "Bearer wrong", TOKEN, f"Bearer {TOKEN[:-1]}", f"bearer {TOKEN}"):
        reply = _metrics(endpoint, host, authorization)
        assert reply.status == 403, (authorization, reply.status)
        assert reply.json["error"] == "Forbidden"
        assert b"dynoxide_requests_total" not in reply.body
    reply = _metrics(endpoint, host, f"Bearer {TOKEN}")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE dynoxide_requests_total counter" in reply.body
    health = send(endpoint, "GET", "/_admin/health", host)
    assert (health.status, health.json) == (200, {"status": "ok"})
    clock = send(endpoint, "GET", "/_admin/clock", host)
    assert clock.status == 403


# --------------------------------------------------------------- connection limit


def _list_tables(endpoint: str) -> Reply:
    return call(endpoint, f"127.0.0.1:{_port(endpoint)}", "ListTables", {})


def assert_limit_reply(reply: Reply) -> None:
    assert reply.status == 503, (reply.status, reply.body)
    assert reply.headers["content-type"] == "application/x-amz-json-1.0"
    assert reply.headers.get("connection") == "close"
    body = reply.json
    assert body["__type"] == "com.amazon.coral.service#ServiceUnavailableException"
    assert "--max-connections" in body["message"]


@pytest.fixture(scope="module")
def limited() -> Iterator[Server]:
    with Server(max_connections=3).run_in_thread() as srv:
        yield srv


def _busy_connection(endpoint: str) -> socket.socket:
    """A connection with a request in flight: its head is read (the server answered
    ``100 Continue``) and its 2-byte body is not sent yet."""
    sock = socket.create_connection(("127.0.0.1", _port(endpoint)), timeout=TIMEOUT)
    sock.sendall(
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{_port(endpoint)}\r\n"
        f"X-Amz-Target: {TARGET}ListTables\r\nContent-Type: application/x-amz-json-1.0\r\n"
        "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        assert chunk, f"closed before 100 Continue: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 100 "), head
    return sock


def _finish(sock: socket.socket) -> int:
    """Send the 2-byte body of a :func:`_busy_connection`; the response status."""
    sock.sendall(b"{}")
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "closed before a response"
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_over_the_limit_is_a_json_503_until_connections_close(limited: Server) -> None:
    endpoint = limited.endpoint
    wait_until(lambda: _list_tables(endpoint).status == 200, what="the server to serve")
    busy = [_busy_connection(endpoint) for _ in range(3)]
    try:
        assert_limit_reply(_list_tables(endpoint))
        with pytest.raises(ClientError) as error:
            make_client(endpoint).list_tables()
        assert error.value.response["Error"]["Code"] == "ServiceUnavailableException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    finally:
        for sock in busy:
            sock.close()
    wait_until(lambda: _list_tables(endpoint).status == 200, what="requests to succeed again")
    assert make_client(endpoint).list_tables()["TableNames"] == []


def test_max_connections_serves_that_many_connections(limited: Server) -> None:
    """``max_connections=3``: three connections with requests in flight are served, a
    fourth connection's request is refused."""
    endpoint = limited.endpoint
    wait_until(lambda: _list_tables(endpoint).status == 200, what="the server to serve")
    busy = [_busy_connection(endpoint) for _ in range(3)]
    try:
        assert_limit_reply(_list_tables(endpoint))
        assert [_finish(sock) for sock in busy] == [200, 200, 200]
    finally:
        for sock in busy:
            sock.close()
    wait_until(lambda: _list_tables(endpoint).status == 200, what="requests to succeed again")


def test_idle_connections_do_not_hold_the_slots(limited: Server) -> None:
    """Connections with no request in flight (silent, or kept alive after a response)
    are closed, oldest first, to make room for a new one."""
    endpoint = limited.endpoint
    port = _port(endpoint)
    wait_until(lambda: _list_tables(endpoint).status == 200, what="the server to serve")
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    kept.request("GET", "/")
    kept.getresponse().read()
    silent = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(2)]
    try:
        assert [_list_tables(endpoint).status for _ in range(5)] == [200] * 5
        assert kept.sock is not None
        assert kept.sock.recv(1) == b"", "the oldest idle connection was not closed"
    finally:
        kept.close()
        for sock in silent:
            sock.close()
