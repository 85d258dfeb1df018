"""The keep-alive client the sidecar calls its upstream with (``http_client.HttpClient``).

Observed from the server side, on a loopback HTTP/1.1 server that counts the TCP
connections it accepts and how many are still open: consecutive calls share one
connection; concurrent calls open more, and no more than ``max_idle`` stay open
afterwards; a connection idle past ``idle_seconds`` is not reused; a call cancelled
mid-way never returns its connection to the pool; a connection the server closed
while idle is replaced, and a call whose kept connection dies before any answer
byte is sent again on a new one. Calls go through ``HTTP_PROXY`` when it is set.
Against the real server: keep-alive calls get its answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import anyio.to_thread
import orjson
import pytest

from dynoxide_streams.http_client import HttpClient, http_post

TARGET = [("X-Amz-Target", "DynamoDB_20120810.ListTables")]
JSON = "application/x-amz-json-1.0"
OK = (200, b'{"ok":true}')


class CountingServer(ThreadingHTTPServer):
    """Answers every POST with ``{"ok":true}`` and counts connections.

    ``close_after_answer``: close each connection after one answer, although the
    answer does not say ``Connection: close``. ``drop_second``: close a connection
    without answering when a second request arrives on it. ``gate``: answers wait
    until that many requests are in flight at once. ``/hang`` is answered only once
    ``release`` is set.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.changed = threading.Condition()
        self.accepted = 0
        self.open = 0
        self.per_connection: list[int] = []  # requests answered on each connection
        self.targets: list[str] = []
        self.close_after_answer = False
        self.drop_second = False
        self.gate: threading.Barrier | None = None
        self.arrived = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def wait_until(self, condition: Callable[[], bool]) -> bool:
        with self.changed:
            return self.changed.wait_for(condition, timeout=10)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # an answer leaves in one write
    disable_nagle_algorithm = True
    server: CountingServer

    def setup(self) -> None:
        super().setup()
        with self.server.changed:
            self.server.accepted += 1
            self.server.open += 1
            self.index = len(self.server.per_connection)
            self.server.per_connection.append(0)
            self.server.changed.notify_all()

    def finish(self) -> None:
        super().finish()
        with self.server.changed:
            self.server.open -= 1
            self.server.changed.notify_all()

    def do_POST(self) -> None:
        server = self.server
        self.rfile.read(int(self.headers["Content-Length"]))
        if server.drop_second and server.per_connection[self.index] == 1:
            self.close_connection = True
            return
        with server.changed:
            server.per_connection[self.index] += 1
            server.targets.append(self.path)
        if self.path == "/hang":
            server.arrived.set()
            server.release.wait(10)
        if server.gate is not None:
            server.gate.wait()
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if server.close_after_answer:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[CountingServer]:
    server = CountingServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def _post(client: HttpClient, url: str) -> tuple[int, bytes]:
    status, _, body = await client.post(url, b"{}", timeout=10)
    return status, body


def _calls_in_turn(url: str, calls: int, client: HttpClient) -> None:
    """``calls`` POSTs one after the other on ``client``, each answered OK; then close it."""

    async def main() -> None:
        try:
            for _ in range(calls):
                assert await _post(client, url) == OK
        finally:
            await client.aclose()

    anyio.run(main)


def test_consecutive_calls_share_one_connection(server: CountingServer) -> None:
    _calls_in_turn(server.url, 25, HttpClient())
    assert server.accepted == 1
    assert server.per_connection == [25]
    assert server.wait_until(lambda: server.open == 0)  # aclose closed it


def test_concurrent_calls_keep_at_most_max_idle_connections(server: CountingServer) -> None:
    server.gate = threading.Barrier(12, timeout=10)  # all twelve in flight at once

    async def main() -> None:
        client = HttpClient(max_idle=3)
        results: list[tuple[int, bytes]] = []

        async def call() -> None:
            results.append(await _post(client, server.url))

        try:
            async with anyio.create_task_group() as tg:
                for _ in range(12):
                    tg.start_soon(call)
            assert results == [OK] * 12
            assert server.accepted == 12
            assert server.wait_until(lambda: server.open == 3)  # the surplus was closed
            server.gate = None
            for _ in range(6):  # later calls reuse the kept ones
                assert await _post(client, server.url) == OK
            assert server.accepted == 12
        finally:
            await client.aclose()
        assert server.wait_until(lambda: server.open == 0)

    anyio.run(main)


def test_a_connection_idle_past_idle_seconds_is_not_reused(server: CountingServer) -> None:
    assert HttpClient().idle_seconds == 4.0  # under uvicorn's 5 s keep-alive
    _calls_in_turn(server.url, 2, HttpClient(idle_seconds=0.0))
    assert server.accepted == 2
    assert server.per_connection == [1, 1]


def test_a_cancelled_call_does_not_return_its_connection(server: CountingServer) -> None:
    async def main() -> None:
        client = HttpClient()
        try:
            assert await _post(client, server.url) == OK
            async with anyio.create_task_group() as tg:
                tg.start_soon(_post, client, server.url + "hang")
                await anyio.to_thread.run_sync(server.arrived.wait, 10)
                tg.cancel_scope.cancel()  # mid-exchange: sent, no answer yet
            assert server.targets == ["/", "/hang"]
            assert server.accepted == 1  # the hanging call used the kept connection
            server.release.set()
            assert await _post(client, server.url) == OK
            assert server.accepted == 2  # ... which was closed, not kept
            assert server.wait_until(lambda: server.open == 1)
        finally:
            await client.aclose()

    anyio.run(main)


def test_a_connection_closed_while_idle_is_replaced(server: CountingServer) -> None:
    server.close_after_answer = True
    _calls_in_turn(server.url, 4, HttpClient())
    assert server.accepted == 4
    assert server.per_connection == [1, 1, 1, 1]


def test_a_kept_connection_that_dies_before_answering_is_replaced_and_the_call_sent_again(
    server: CountingServer,
) -> None:
    server.drop_second = True  # closes a kept connection just as it is reused
    _calls_in_turn(server.url, 3, HttpClient())
    assert server.accepted == 3
    assert server.per_connection == [1, 1, 1]


def test_calls_go_through_the_proxy_from_the_environment(
    server: CountingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async def main() -> None:
        client = HttpClient()
        try:
            assert await _post(client, "http://upstream.invalid/") == OK
        finally:
            await client.aclose()
        status, _, body = await http_post("http://target.invalid/x", b"{}", timeout=10)
        assert (status, body) == OK

    anyio.run(main)
    assert server.targets == ["http://upstream.invalid/", "http://target.invalid/x"]


def test_http_post_uses_a_connection_of_its_own(server: CountingServer) -> None:
    async def main() -> None:
        for _ in range(3):
            status, _, body = await http_post(server.url, b"{}", timeout=10)
            assert (status, body) == OK

    anyio.run(main)
    assert server.accepted == 3
    assert server.wait_until(lambda: server.open == 0)


def test_keep_alive_calls_against_the_real_server(endpoint: str) -> None:
    async def main() -> None:
        client = HttpClient()
        try:
            for _ in range(25):
                status, headers, body = await client.post(
                    endpoint + "/", b"{}", timeout=10, headers=TARGET, content_type=JSON
                )
                assert status == 200, body
                assert headers["content-type"] == JSON
                assert "TableNames" in orjson.loads(body)
        finally:
            await client.aclose()

    anyio.run(main)
