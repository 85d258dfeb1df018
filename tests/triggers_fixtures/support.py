"""Helpers for the trigger wire tests: waiting with a deadline, the echo handler's
output, a stand-in for the Lambda Runtime Interface Emulator, mappings and dead letters."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import RawClient, RawMessage

ECHO_HANDLER = Path(__file__).resolve().parent / "echo_handler.py"
RIE_PATH = "/2015-03-31/functions/function/invocations"


def echo_command(outfile: Path, *options: str) -> str:
    """``cmd:`` target running the echo handler (absolute paths, shell-quoted)."""
    argv = [sys.executable, str(ECHO_HANDLER), str(outfile), *options]
    return "cmd:" + shlex.join(argv)


def read_deliveries(outfile: Path) -> list[dict[str, Any]]:
    """The echo handler's lines so far (a line still being written is left out)."""
    try:
        text = outfile.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def stream_arn_of(ddb: Any, table: str) -> str:
    arn: str = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    return arn


@contextlib.contextmanager
def mapping(lam: Any, **params: Any) -> Iterator[str]:
    """Create an event source mapping (TRIM_HORIZON unless given); delete it on exit."""
    params.setdefault("StartingPosition", "TRIM_HORIZON")
    uuid: str = lam.create_event_source_mapping(**params)["UUID"]
    try:
        yield uuid
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


def dead_letters(raw: RawClient, uuid: str) -> list[dict[str, Any]]:
    response = raw.request(
        b"", None, method="GET", path=f"/_admin/triggers/dead-letters?uuid={uuid}"
    )
    assert response.status == 200, response.body
    letters: list[dict[str, Any]] = response.json["DeadLetters"]
    return letters


Answer = tuple[int, Any] | Callable[[dict[str, Any]], tuple[int, Any]]


@dataclass(kw_only=True)
class Invocation(RawMessage):
    """One POST the fake runtime received (header names as sent)."""

    method: str
    path: str

    @property
    def event(self) -> Any:
        """The Lambda event: the request's JSON body."""
        return self.json


@dataclass
class FakeRuntime:
    """A tiny HTTP server standing in for the Lambda RIE's invoke URL.

    It answers each POST with the next of ``answers`` — ``(status, json_body)`` or a
    callable taking the event and returning one — and then with
    ``200 {"batchItemFailures": []}``; every request is kept in ``invocations``.
    """

    answers: list[Answer] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        """Listen on a free loopback port; yields the invoke URL."""
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with runtime.lock:
                    runtime.invocations.append(
                        Invocation(
                            method="POST",
                            path=self.path,
                            headers=dict(self.headers.items()),
                            body=body,
                        )
                    )
                    answer = runtime.answers.pop(0) if runtime.answers else None
                if answer is None:
                    status, payload = 200, {"batchItemFailures": []}
                elif callable(answer):
                    status, payload = answer(json.loads(body))
                else:
                    status, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}{RIE_PATH}"
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=10)

    def received(self) -> list[Invocation]:
        with self.lock:
            return list(self.invocations)
