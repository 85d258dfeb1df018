"""``--log-format json``: every line a real server process writes (stdout and stderr) is
a JSON object, uvicorn's own records included (an unparsable request makes uvicorn log
"Invalid HTTP request received."), from start-up to a clean SIGTERM shutdown."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from tests.conftest import make_client
from tests.process import start_server


def send_garbage(endpoint: str) -> bytes:
    """Send bytes that are no HTTP request; return what the server answers."""
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"NOT HTTP AT ALL\x00\x01\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def test_json_log_format_writes_only_json_lines(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--log-format", "json", "--log-level", "info")
    try:
        client = make_client(server.endpoint)
        client.create_table(
            TableName="logged",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="logged", Item={"pk": {"S": "a"}})
        assert b"400" in send_garbage(server.endpoint).split(b"\r\n", 1)[0]
        assert client.list_tables()["TableNames"] == ["logged"]
    finally:
        code = server.terminate()
    assert code == 0, server.log()
    lines = [line for line in server.log().splitlines() if line.strip()]
    records: list[dict[str, Any]] = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(record, dict), line
        assert {"event", "level", "timestamp"} <= record.keys(), line
        records.append(record)
    events = [(r.get("logger"), r["event"]) for r in records]
    assert (None, "listening") in events and (None, "stopped") in events
    assert ("uvicorn.error", "Invalid HTTP request received.") in events, events
