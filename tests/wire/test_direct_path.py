"""The direct path (``wire/direct.py``): plain DynamoDB requests answered without the
ASGI cycle give the very bytes the ASGI path gives, keep pipelined order, keep the
Host check, the body-memory reservation, the body stall timeout and graceful shutdown.

A request is sent twice over raw sockets: with ``Content-Length`` (the direct path) and
with ``Transfer-Encoding: chunked`` (not eligible: uvicorn and ``App``), and the raw
responses are compared byte for byte, the request id aside.
``DirectHttpProtocol.direct_answers`` tells which path answered.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from dynoxide_streams import Server
from dynoxide_streams.wire.direct import DirectHttpProtocol
from tests.polling import wait_until

TABLE = "direct_path"
REQUEST_ID = re.compile(rb"\r\nx-amzn-requestid: ([A-Z0-9]{52})\r\n")


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def head(port: int, target: str, extra: bytes = b"", host: bytes | None = None) -> bytes:
    return (
        b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"X-Amz-Target: %s\r\n%s" % (host or b"127.0.0.1:%d" % port, target.encode(), extra)
    )


def direct(port: int, target: str, body: bytes, extra: bytes = b"") -> bytes:
    """The request framed with Content-Length (eligible for the direct path)."""
    return head(port, target, extra) + b"Content-Length: %d\r\n\r\n" % len(body) + body


def chunked(port: int, target: str, body: bytes, extra: bytes = b"") -> bytes:
    """The same request framed with Transfer-Encoding: chunked (the ASGI path)."""
    framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
    return head(port, target, extra) + b"Transfer-Encoding: chunked\r\n\r\n" + framed


def read_raw(sock: socket.socket, buf: bytearray) -> bytes:
    """One whole raw response (head and body) from ``sock``; extra bytes stay in ``buf``."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response head: {bytes(buf)!r}"
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    length = int(re.search(rb"\r\ncontent-length: (\d+)\r\n", bytes(buf[:end])).group(1))  # type: ignore[union-attr]
    while len(buf) < end + length:
        chunk = sock.recv(65536)
        assert chunk, "closed inside a response body"
        buf += chunk
    raw = bytes(buf[: end + length])
    del buf[: end + length]
    return raw


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return read_raw(sock, bytearray())


def masked(raw: bytes) -> bytes:
    assert REQUEST_ID.search(raw), raw
    return REQUEST_ID.sub(b"\r\nx-amzn-requestid: <id>\r\n", raw)


def closed(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (EOF within 10 s)."""
    sock.settimeout(10)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture(scope="module")
def port(endpoint: str) -> int:
    port = _port(endpoint)
    body = json.dumps(
        {
            "TableName": TABLE,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
    ).encode()
    exchange(port, direct(port, "DynamoDB_20120810.CreateTable", body))
    item = {"TableName": TABLE, "Item": {"pk": {"S": "a"}, "n": {"N": "1"}}}
    exchange(port, direct(port, "DynamoDB_20120810.PutItem", json.dumps(item).encode()))
    return port


def get(key: str) -> bytes:
    return json.dumps({"TableName": TABLE, "Key": {"pk": {"S": key}}}).encode()


CASES: dict[str, tuple[str, bytes, bytes]] = {
    "GetItem hit": ("DynamoDB_20120810.GetItem", get("a"), b""),
    "GetItem miss": ("DynamoDB_20120810.GetItem", get("nothing"), b""),
    "PutItem": (
        "DynamoDB_20120810.PutItem",
        json.dumps({"TableName": TABLE, "Item": {"pk": {"S": "b"}}}).encode(),
        b"",
    ),
    "Query": (
        "DynamoDB_20120810.Query",
        json.dumps(
            {
                "TableName": TABLE,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": "a"}},
            }
        ).encode(),
        b"",
    ),
    "ListStreams": ("DynamoDBStreams_20120810.ListStreams", b"{}", b""),
    "ValidationException": (
        "DynamoDB_20120810.GetItem",
        json.dumps({"TableName": TABLE}).encode(),
        b"",
    ),
    "ResourceNotFoundException": (
        "DynamoDB_20120810.GetItem",
        json.dumps({"TableName": "no_such_table", "Key": {"pk": {"S": "a"}}}).encode(),
        b"",
    ),
    "SerializationException": ("DynamoDB_20120810.GetItem", b"{", b""),
    "UnknownOperationException": ("DynamoDB_20120810.NoSuchThing", b"{}", b""),
    "empty body": ("DynamoDB_20120810.ListTables", b"", b""),
    "application/json echoed": (
        "DynamoDB_20120810.ListTables",
        b"{}",
        b"Content-Type: application/json\r\n",
    ),
    "connection close": ("DynamoDB_20120810.GetItem", get("a"), b"Connection: close\r\n"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_both_paths_answer_the_same_bytes(port: int, case: str) -> None:
    target, body, extra = CASES[case]
    before = DirectHttpProtocol.direct_answers
    via_asgi = exchange(port, chunked(port, target, body, extra))
    assert DirectHttpProtocol.direct_answers == before, "chunked took the direct path"
    via_direct = exchange(port, direct(port, target, body, extra))
    assert DirectHttpProtocol.direct_answers == before + 1, "not answered directly"
    assert masked(via_direct) == masked(via_asgi)
    head_lines = via_direct.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    names = [line.split(b":", 1)[0] for line in head_lines[1:]]
    assert names[:4] == [b"content-type", b"x-amzn-requestid", b"x-amz-crc32", b"content-length"]
    assert (b"connection" in names) == (case == "connection close")


def test_the_connection_close_answer_closes_the_connection(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(direct(port, "DynamoDB_20120810.GetItem", get("a"), b"Connection: close\r\n"))
        raw = read_raw(sock, bytearray())
        assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
        assert closed(sock)


@pytest.mark.parametrize("frame", [direct, chunked], ids=["direct", "asgi"])
def test_nothing_pipelined_behind_a_connection_close_answer_runs(
    port: int, frame: Callable[..., bytes]
) -> None:
    """Both paths alike: a request sent after one that closes the connection, in the
    same packet, is never started (its write does not happen)."""
    key = f"after-close-{frame.__name__}"
    put = json.dumps({"TableName": TABLE, "Item": {"pk": {"S": key}}}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            frame(port, "DynamoDB_20120810.GetItem", get("a"), b"Connection: close\r\n")
            + direct(port, "DynamoDB_20120810.PutItem", put)
        )
        assert read_raw(sock, bytearray()).startswith(b"HTTP/1.1 200 OK\r\n")
        assert closed(sock)
    raw = exchange(port, direct(port, "DynamoDB_20120810.GetItem", get(key)))
    assert raw.endswith(b"\r\n\r\n{}"), raw


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    """Direct and ASGI requests sent back to back on one connection, in one write."""
    keys = ["a", "b", "nothing", "a", "b"]
    framers: list[Callable[[int, str, bytes], bytes]] = [direct, chunked, direct, direct, chunked]
    put = json.dumps({"TableName": TABLE, "Item": {"pk": {"S": "b"}, "n": {"N": "2"}}})
    requests = [direct(port, "DynamoDB_20120810.PutItem", put.encode())]
    requests += [
        frame(port, "DynamoDB_20120810.GetItem", get(k))
        for frame, k in zip(framers, keys, strict=True)
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"".join(requests))
        buf = bytearray()
        answers = [read_raw(sock, buf) for _ in requests]
    bodies = [json.loads(a.split(b"\r\n\r\n", 1)[1]) for a in answers]
    assert bodies == [
        {},
        {"Item": {"pk": {"S": "a"}, "n": {"N": "1"}}},
        {"Item": {"pk": {"S": "b"}, "n": {"N": "2"}}},
        {},
        {"Item": {"pk": {"S": "a"}, "n": {"N": "1"}}},
        {"Item": {"pk": {"S": "b"}, "n": {"N": "2"}}},
    ]
    ids = [REQUEST_ID.search(a).group(1) for a in answers]  # type: ignore[union-attr]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            lambda p: (
                head(p, "DynamoDB_20120810.ListTables", host=b"evil.example")
                + b"Content-Length: 2\r\n\r\n{}"
            ),
            id="foreign Host",
        ),
        pytest.param(
            lambda p: direct(
                p, "DynamoDB_20120810.ListTables", b"{}", b"Origin: http://localhost:3000\r\n"
            ),
            id="Origin",
        ),
        pytest.param(
            lambda p: direct(p, "DynamoDB_20120810.ListTables", b"{}").replace(
                b"POST / ", b"POST /?x=1 ", 1
            ),
            id="query string",
        ),
        pytest.param(
            lambda p: direct(p, "DynamoDB_20120810.ListTables", b"{}").replace(
                b"HTTP/1.1", b"HTTP/1.0", 1
            ),
            id="HTTP/1.0",
        ),
        pytest.param(
            lambda p: direct(p, "DynamoDB_20120810.ListTables", b" " * 70_000 + b"{}"),
            id="large body",
        ),
    ],
)
def test_other_requests_keep_the_asgi_path(
    port: int, request_bytes: Callable[[int], bytes]
) -> None:
    before = DirectHttpProtocol.direct_answers
    raw = exchange(port, request_bytes(port))
    assert DirectHttpProtocol.direct_answers == before
    assert raw.startswith((b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 403 Forbidden\r\n")), raw[:200]


def test_a_second_host_header_cannot_slip_past_the_host_check(port: int) -> None:
    """App checks the first Host header; the direct path must not answer on the
    strength of a later, allowed one."""
    before = DirectHttpProtocol.direct_answers
    raw = exchange(
        port,
        head(port, "DynamoDB_20120810.ListTables", host=b"evil.example")
        + b"Host: 127.0.0.1:%d\r\nContent-Length: 2\r\n\r\n{}" % port,
    )
    assert raw.startswith(b"HTTP/1.1 403 Forbidden\r\n"), raw[:200]
    assert DirectHttpProtocol.direct_answers == before


def test_a_foreign_host_is_refused_as_on_the_asgi_path(port: int) -> None:
    raw = exchange(
        port,
        head(port, "DynamoDB_20120810.ListTables", host=b"evil.example")
        + b"Content-Length: 2\r\n\r\n{}",
    )
    status, _, body = raw.partition(b"\r\n")[0], None, raw.split(b"\r\n\r\n", 1)[1]
    assert status == b"HTTP/1.1 403 Forbidden"
    assert json.loads(body)["__type"] == "com.amazon.coral.service#AccessDeniedException"


@pytest.fixture
def quick_server() -> Iterator[tuple[Server, ExitStack]]:
    """A server with a 1 s header timeout, and the stack that stops it."""
    with ExitStack() as stack:
        srv = stack.enter_context(Server(header_timeout=1).run_in_thread())
        yield srv, stack


def _held(srv: Server) -> int:
    assert srv._service is not None and srv._service.app is not None
    return srv._service.app.body_memory.held


def test_a_direct_body_that_stops_arriving_is_cut_off_and_frees_its_memory(
    quick_server: tuple[Server, Any],
) -> None:
    srv, _ = quick_server
    port = _port(srv.endpoint)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head(port, "DynamoDB_20120810.ListTables") + b"Content-Length: 100\r\n\r\n{")
        wait_until(lambda: _held(srv) == 100, what="the body to be reserved")
        assert closed(sock), "a direct request whose body stopped stayed open"
    wait_until(lambda: _held(srv) == 0, what="the reservation to be given back")


def test_shutdown_answers_a_direct_request_in_flight(
    quick_server: tuple[Server, ExitStack],
) -> None:
    srv, stack = quick_server
    port = _port(srv.endpoint)
    body = b'{"Limit": 5}'
    before = DirectHttpProtocol.direct_answers
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            head(port, "DynamoDB_20120810.ListTables")
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body[:3]
        )
        wait_until(lambda: _held(srv) == len(body), what="the request to be in flight")
        stopping = threading.Thread(target=stack.close)
        stopping.start()

        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return True
            return False

        wait_until(refused, what="the server to stop listening")
        sock.sendall(body[3:])  # the request completes while the server shuts down
        raw = read_raw(sock, bytearray())
        assert closed(sock)
    stopping.join(timeout=30)
    assert not stopping.is_alive()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nconnection: close\r\n" in raw
    assert json.loads(raw.split(b"\r\n\r\n", 1)[1]) == {"TableNames": []}
    assert DirectHttpProtocol.direct_answers == before + 1


def test_getitem_is_answered_inside_the_parser_callback(port: int) -> None:
    """GetItem's handler never waits, so its answer needs no task (a GetItem that
    started waiting would still be answered, by a task, but this would fail)."""
    inline = DirectHttpProtocol.inline_answers
    answers = DirectHttpProtocol.direct_answers
    for key in ("a", "nothing"):
        raw = exchange(port, direct(port, "DynamoDB_20120810.GetItem", get(key)))
        assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    raw = exchange(port, direct(port, "DynamoDB_20120810.GetItem", b"{"))
    assert raw.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    exchange(port, direct(port, "DynamoDB_20120810.ListTables", b"{}"))  # a task's
    wait_until(lambda: DirectHttpProtocol.direct_answers == answers + 4, what="4 answers")
    wait_until(lambda: DirectHttpProtocol.inline_answers == inline + 3, what="3 inline")


def test_a_pipelined_write_behind_an_inline_answer_keeps_its_connection() -> None:
    """An inline GetItem arms the keep-alive timer while the PutItem behind it, in the
    same packet, is still in flight: that PutItem's head must stop the timer."""
    with Server(keep_alive_timeout=0.5).run_in_thread() as srv:
        port = _port(srv.endpoint)
        exchange(
            port,
            direct(
                port,
                "DynamoDB_20120810.CreateTable",
                json.dumps(
                    {
                        "TableName": TABLE,
                        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                        "BillingMode": "PAY_PER_REQUEST",
                    }
                ).encode(),
            ),
        )
        put = json.dumps({"TableName": TABLE, "Item": {"pk": {"S": "a"}}}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            # the PutItem's body arrives only after the keep-alive timeout has passed
            sock.sendall(
                direct(port, "DynamoDB_20120810.GetItem", get("a"))
                + head(port, "DynamoDB_20120810.PutItem")
                + b"Content-Length: %d\r\n\r\n" % len(put)
            )
            buf = bytearray()
            assert read_raw(sock, buf).startswith(b"HTTP/1.1 200 OK\r\n")
            sock.settimeout(1.5)
            with pytest.raises(TimeoutError):  # not closed by the keep-alive timer
                sock.recv(1)
            sock.settimeout(10)
            sock.sendall(put)
            assert read_raw(sock, buf).startswith(b"HTTP/1.1 200 OK\r\n")


def test_an_inline_coroutine_that_waits_is_finished_by_a_task() -> None:
    """What ``on_message_complete`` does if an inline operation ever waits: the
    coroutine, stepped once outside a task, is finished in one (futures and bare
    yields alike)."""
    from dynoxide_streams.wire.direct import _resume

    out: list[int] = []

    async def answer() -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        loop.call_soon(future.set_result, 5)
        out.append(await future)
        await asyncio.sleep(0)
        out.append(6)

    async def main() -> None:
        coro = answer()
        awaited = coro.send(None)  # the first step, as inside the parser callback
        assert out == []
        await asyncio.get_running_loop().create_task(_resume(coro, awaited))  # type: ignore[arg-type]

    asyncio.run(main())
    assert out == [5, 6]
