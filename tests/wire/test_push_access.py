"""Who may open the push websocket: the Origin allowlist (no Origin, same origin,
loopback origins, and ``--allowed-origin``) and the optional token (``?token=`` or a
bearer header). A refused handshake is HTTP 403 and no websocket."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import InvalidStatus

from dynoxide_streams import Server
from tests.conftest import make_client
from tests.process import ServerProcess, start_server
from tests.wire.test_push import RECV_TIMEOUT, keys_of, open_ws, put, subscribed
from tests.wire.test_streams import create_stream_table

TOKEN = "s3cret-Token_42-push"


def refused(endpoint: str, query: str = "", **options: Any) -> None:
    """The handshake is answered with HTTP 403."""
    with pytest.raises(InvalidStatus) as rejected, open_ws(endpoint, query, **options):
        pass
    assert rejected.value.response.status_code == 403


def works(endpoint: str, table: str, arn: str, query: str = "", **options: Any) -> None:
    """The handshake succeeds and the connection delivers records."""
    with open_ws(endpoint, query, **options) as push:
        push.subscribe("s", table=table, start="TRIM_HORIZON")
        assert push.next_for("s") == subscribed("s", arn)
        assert keys_of([push.next_for("s")]) == ["first"]


def raw_handshake(endpoint: str, host_header: str, origin: str | None) -> int:
    """Status of a websocket handshake sent with an exact Host (and Origin) header —
    what a browser on ``host_header`` sends; the websockets client derives Host from
    the URL."""
    parts = urlsplit(endpoint)
    lines = [
        "GET /_streams/ws HTTP/1.1",
        f"Host: {host_header}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=RECV_TIMEOUT) as sock:
        sock.sendall(request)
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed before a status line: {head!r}"
            head += chunk
    status_line = head.split(b"\r\n", 1)[0].decode()
    assert status_line.startswith("HTTP/1.1 "), status_line
    return int(status_line.split()[1])


@pytest.fixture(scope="module")
def stream(ddb: Any) -> tuple[str, str]:
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    put(ddb, table, "first")
    return table, arn


# --------------------------------------------------------------------------- Origin


@pytest.mark.parametrize(
    "origin",
    [
        None,  # not a browser
        "http://localhost:3000",
        "https://localhost",
        "http://127.0.0.1:5500",
        "http://127.8.9.10:8080",
        "http://[::1]:8080",
    ],
)
def test_no_origin_and_loopback_origins_are_accepted(
    endpoint: str, stream: tuple[str, str], origin: str | None
) -> None:
    works(endpoint, *stream, origin=origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://evil.example:{port}",  # same port, another host
        "http://localhost.evil.example",
        "http://127.0.0.1.evil.example",
        "http://10.0.0.7:3000",
        "null",  # sandboxed iframes, file:// pages
        "https://app.example.com",  # allowed only when configured
    ],
)
def test_foreign_origins_are_refused_with_403(
    endpoint: str, stream: tuple[str, str], origin: str
) -> None:
    refused(endpoint, origin=origin.replace("{port}", str(urlsplit(endpoint).port)))


def test_same_origin_is_accepted() -> None:
    # a page served by this server under a non-loopback name (a LAN name, a proxy),
    # which the operator allowed with --allowed-host
    with Server(allowed_host=["dynoxide.test"]).run_in_thread() as srv:
        endpoint = srv.endpoint
        port = urlsplit(endpoint).port
        assert port is not None
        host = f"dynoxide.test:{port}"
        assert raw_handshake(endpoint, host, f"http://{host}") == 101
        assert raw_handshake(endpoint, host, None) == 101
        assert raw_handshake(endpoint, host, f"http://dynoxide.test:{port + 1}") == 403
        assert raw_handshake(endpoint, host, f"http://other.test:{port}") == 403


def test_a_host_name_not_allowed_is_refused_before_the_upgrade(endpoint: str) -> None:
    # DNS rebinding: evil.test resolved to 127.0.0.1, same-origin from the page's view
    port = urlsplit(endpoint).port
    host = f"evil.test:{port}"
    assert raw_handshake(endpoint, host, f"http://{host}") == 403
    assert raw_handshake(endpoint, host, None) == 403


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A child server started with two --allowed-origin flags."""
    data: Path = tmp_path_factory.mktemp("push-origin") / "data"
    server = start_server(
        data,
        "--allowed-origin",
        "https://app.example.com",
        "--allowed-origin",
        "http://intranet.test:8080",
    )
    try:
        yield server
    finally:
        server.terminate()


def test_allowed_origin_flag_admits_exactly_those_origins(configured: ServerProcess) -> None:
    endpoint = configured.endpoint
    table, arn = create_stream_table(make_client(endpoint), "KEYS_ONLY", range_key=None)
    assert arn is not None
    put(make_client(endpoint), table, "first")
    for origin in ("https://app.example.com", "http://intranet.test:8080", "http://localhost:1"):
        works(endpoint, table, arn, origin=origin)
    for origin in (
        "http://app.example.com",  # another scheme is another origin
        "https://app.example.com:8443",  # another port too
        "https://sub.app.example.com",
        "http://intranet.test",
        "https://evil.example",
    ):
        refused(endpoint, origin=origin)


# ---------------------------------------------------------------------------- token


@pytest.fixture(scope="module")
def guarded() -> Iterator[Server]:
    with Server(token=TOKEN).run_in_thread() as srv:
        yield srv


def test_token_is_required_when_configured(guarded: Server) -> None:
    endpoint = guarded.endpoint
    ddb = make_client(endpoint)
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    put(ddb, table, "first")

    refused(endpoint)
    refused(endpoint, "?token=")
    refused(endpoint, "?token=wrong")
    refused(endpoint, "?token=" + TOKEN[:-1])
    refused(endpoint, "?token=" + TOKEN + "x")
    refused(endpoint, "?other=" + TOKEN)
    refused(endpoint, additional_headers={"Authorization": "Bearer wrong"})
    refused(endpoint, additional_headers={"Authorization": TOKEN})  # not a bearer header
    # the right token does not admit a foreign origin
    refused(endpoint, "?token=" + TOKEN, origin="https://evil.example")

    works(endpoint, table, arn, "?token=" + TOKEN)
    works(endpoint, table, arn, additional_headers={"Authorization": f"Bearer {TOKEN}"})
    works(endpoint, table, arn, "?token=" + TOKEN, origin="http://localhost:3000")


def test_without_a_token_any_local_client_connects(endpoint: str, stream: tuple[str, str]) -> None:
    works(endpoint, *stream)
    works(endpoint, *stream, "?token=anything")  # an unneeded token is ignored
    works(endpoint, *stream, additional_headers={"Authorization": "Bearer anything"})
