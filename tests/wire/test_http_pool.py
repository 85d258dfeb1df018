"""The keep-alive pool the sidecar calls its upstream with (``http_client.ConnectionPool``).

Against the real server on a loopback port: consecutive calls share one connection;
concurrent calls open more, and no more than ``max_idle`` stay open afterwards; a
call cancelled mid-way never returns its connection to the pool. Against a raw
socket server that closes each connection after one answer while advertising
keep-alive: the next call notices before any answer byte and is sent again on a new
connection, once.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import anyio
import orjson
import pytest

from dynoxide_streams.http_client import ConnectionPool

TARGET = [("X-Amz-Target", "DynamoDB_20120810.ListTables")]
JSON = "application/x-amz-json-1.0"


async def _list_tables(pool: ConnectionPool, endpoint: str) -> dict[str, object]:
    status, headers, body = await pool.post(
        endpoint + "/", b"{}", timeout=10, headers=TARGET, content_type=JSON
    )
    assert status == 200, body
    assert headers["content-type"] == JSON
    answer: dict[str, object] = orjson.loads(body)
    return answer


def test_consecutive_calls_share_one_connection(endpoint: str) -> None:
    async def main() -> None:
        pool = ConnectionPool()
        try:
            answers = [await _list_tables(pool, endpoint) for _ in range(25)]
        finally:
            await pool.aclose()
        assert all("TableNames" in answer for answer in answers)
        assert pool.opened == 1

    anyio.run(main)


def test_concurrent_calls_keep_at_most_max_idle_connections(endpoint: str) -> None:
    async def main() -> None:
        pool = ConnectionPool(max_idle=3)
        results: list[dict[str, object]] = []

        async def call() -> None:
            results.append(await _list_tables(pool, endpoint))

        try:
            async with anyio.create_task_group() as tg:
                for _ in range(12):
                    tg.start_soon(call)
            assert len(results) == 12
            opened = pool.opened
            assert opened > 3  # they did run at once
            idle = sum(len(entries) for entries in pool._idle.values())
            assert idle == 3
            for _ in range(6):  # later calls reuse the kept ones
                await _list_tables(pool, endpoint)
            assert pool.opened == opened
        finally:
            await pool.aclose()
        assert not pool._idle

    anyio.run(main)


def test_a_cancelled_call_does_not_return_its_connection(endpoint: str) -> None:
    async def main() -> None:
        pool = ConnectionPool()
        try:
            await _list_tables(pool, endpoint)
            assert pool.opened == 1
            with anyio.CancelScope() as scope:
                scope.cancel()  # cancelled at its first await, mid-exchange
                await pool.post(
                    endpoint + "/", b"{}", timeout=10, headers=TARGET, content_type=JSON
                )
            assert scope.cancelled_caught
            assert not any(pool._idle.values())  # the connection was closed, not kept
            await _list_tables(pool, endpoint)
            assert pool.opened == 2
        finally:
            await pool.aclose()

    anyio.run(main)


@pytest.fixture
def one_answer_server() -> Iterator[tuple[str, list[int]]]:
    """A server answering one request per connection and then closing it, although
    its answer does not say ``Connection: close``; yields (url, requests per
    connection)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    per_connection: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            with client:
                client.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if not data:
                    per_connection.append(0)
                    continue
                per_connection.append(1)
                body = b'{"ok":true}'
                client.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/", per_connection
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_connection_closed_while_idle_is_replaced_and_the_call_sent_again(
    one_answer_server: tuple[str, list[int]],
) -> None:
    url, per_connection = one_answer_server

    async def main() -> None:
        pool = ConnectionPool()
        try:
            for _ in range(4):
                status, _, body = await pool.post(url, b"{}", timeout=10)
                assert (status, body) == (200, b'{"ok":true}')
        finally:
            await pool.aclose()
        # each call after the first found its kept connection closed and opened a new one
        assert pool.opened == 4

    anyio.run(main)
    assert per_connection.count(1) == 4
