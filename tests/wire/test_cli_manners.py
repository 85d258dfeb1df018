"""Command-line and log manners of real processes: the ``listening`` line names no
setting that has no value, ``healthcheck`` says in one stderr line why it failed,
``--upstream`` without an http(s) scheme is a one-line start-up error from every
source, and an operation the server does not serve is answered as AWS does and logged
once at INFO."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RawClient
from tests.process import free_port, start_server


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dynoxide_streams", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_serve_listening_line_omits_settings_without_value(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--log-format", "json", "--log-level", "info")
    code = server.terminate()
    assert code == 0, server.log()
    listening = [r for r in _records(server.log()) if r["event"] == "listening"]
    assert len(listening) == 1, server.log()
    assert "upstream" not in listening[0]
    assert None not in listening[0].values()
    assert {"endpoint", "data", "clock"} <= listening[0].keys()


def test_healthcheck_says_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = _cli("healthcheck", "--url", url, "--timeout", "5")
    assert result.returncode == 1
    assert result.stderr == f"dynoxide-streams: healthcheck: connection refused at {url}/\n"


@pytest.fixture
def answers_503() -> Iterator[str]:
    class Unavailable(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_healthcheck_says_http_status(answers_503: str) -> None:
    result = _cli("healthcheck", "--url", answers_503)
    assert result.returncode == 1
    assert result.stderr == f"dynoxide-streams: healthcheck: HTTP status 503 from {answers_503}/\n"


def test_healthcheck_says_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = _cli("healthcheck", "--url", url, "--timeout", "0.5")
    assert result.returncode == 1
    assert result.stderr == f"dynoxide-streams: healthcheck: no answer from {url}/ within 0.5s\n"


_NO_SCHEME = "upstream must be an http:// or https:// URL (got 'localhost:8001')"


@pytest.mark.parametrize("source", ["flag", "environment", "file"])
def test_upstream_without_scheme_is_one_startup_line(tmp_path: Path, source: str) -> None:
    """The flag is required by ``sidecar``, so the environment and the file are shown
    checked through ``serve``, which reads the same settings (and ignores upstream)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNOXIDE_STREAMS_")}
    command = "sidecar" if source == "flag" else "serve"
    args = [command, "--port", str(free_port()), "--in-memory"]
    if source == "flag":
        args += ["--upstream", "localhost:8001"]
        where = ""
    elif source == "environment":
        env["DYNOXIDE_STREAMS_UPSTREAM"] = "localhost:8001"
        where = "DYNOXIDE_STREAMS_UPSTREAM: "
    else:
        config = tmp_path / "sidecar.toml"
        config.write_text('upstream = "localhost:8001"\n')
        args += ["--config", str(config)]
        where = f"{config}: "
    result = _cli(*args, env=env)
    assert result.returncode == 1
    assert result.stderr == f"dynoxide-streams: {where}{_NO_SCHEME}\n"
    assert "Traceback" not in result.stdout


def test_unserved_operation_is_answered_bare_and_logged_once(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--log-format", "json", "--log-level", "info")
    try:
        raw = RawClient(server.endpoint)
        for target in ["DynamoDB_20120810.CreateBackup"] * 3 + ["DynamoDB_20120810.NoSuchOp"]:
            response = raw.request(b"{}", target)
            assert response.status == 400
            assert response.json == {"__type": "com.amazon.coral.service#UnknownOperationException"}
    finally:
        code = server.terminate()
    assert code == 0, server.log()
    unserved = [
        (r["level"], r["operation"], r["api"])
        for r in _records(server.log())
        if r["event"] == "operation not served"
    ]
    assert unserved == [
        ("info", "CreateBackup", "DynamoDB_20120810"),
        ("info", "NoSuchOp", "DynamoDB_20120810"),
    ]


def test_account_id_that_is_not_digits_is_one_startup_line() -> None:
    """Stream ARNs carry the account id, and the Streams API parses it as digits, so a
    name such as ``local`` would give streams the server's own DescribeStream refuses:
    it is refused at start-up instead, in one line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNOXIDE_STREAMS_")}
    args = ["serve", "--port", str(free_port()), "--in-memory", "--account-id", "local"]
    result = _cli(*args, env=env)
    assert result.returncode == 1
    assert result.stderr == (
        "dynoxide-streams: account_id must be digits only, as in an AWS account id "
        "(the stream-ARN form the Streams API parses) (got 'local')\n"
    )
    assert "Traceback" not in result.stdout
