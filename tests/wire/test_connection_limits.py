"""Connection-level denial of service, against a real ``dynoxide-streams serve`` child
process: raw sockets attack while a healthy boto3 client (no retries) does GetItem, and
the healthy client's errors are counted — under 1 % while each attack runs.

* Idle sockets: 1,001 connections that send nothing (reopened as the server closes
  them) do not lock out the healthy client; unheaded and slowloris connections are
  closed after ``--header-timeout``, idle keep-alive ones after ``--keep-alive-timeout``.
* Headers: a head over ``--max-header-bytes`` gets 431 ``RequestHeaderFieldsTooLarge``;
  a 64 MB header is cut off after a few MB, not buffered.
* Bodies: beyond ``--max-body-memory`` requests wait, then get 503
  ``ServiceUnavailableException``; a body that stops arriving is cut off after
  ``--header-timeout``; concurrent large uploads keep the server's memory bounded.
* Stalled websockets: after ``--ws-stall-timeout`` their sockets are really closed
  (aborted) and their ``--max-connections`` slots freed.
* Clients that vanish mid-send leave no traceback in the log.

The new limits are given through their environment twins.
"""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from tests.conftest import make_client
from tests.polling import wait_until
from tests.process import ServerProcess, free_port, start_command
from tests.wire.test_push_flow import PeakSampler
from tests.wire.test_streams import create_stream_table

MiB = 1024 * 1024
TARGET = "DynamoDB_20120810."
ATTACK_SECONDS = 3.0
MAX_HEALTHY_CALLS = 5000


def serve(tmp_path: Path, *flags: str, **env: str) -> ServerProcess:
    """``serve`` on a free loopback port; ``env`` keys are settings (environment twins)."""
    variables = {f"DYNOXIDE_STREAMS_{name.upper()}": value for name, value in env.items()}
    args = ["--data-dir", str(tmp_path / "data"), *flags]
    return start_command("serve", args, tmp_path, port=free_port(), env=variables)


def address(server: ServerProcess) -> tuple[str, int]:
    port = urlsplit(server.endpoint).port
    assert port is not None
    return "127.0.0.1", port


def make_table(server: ServerProcess) -> str:
    ddb = make_client(server.endpoint)
    ddb.create_table(
        TableName="healthy",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="healthy", Item={"pk": {"S": "k"}, "v": {"N": "1"}})
    return "healthy"


class Healthy:
    """A boto3 client (no retries) doing GetItem in a thread until stopped (bounded by
    :data:`MAX_HEALTHY_CALLS`): every call that does not return the item is an error."""

    def __init__(self, server: ServerProcess, table: str) -> None:
        self.ddb = make_client(server.endpoint)
        self.table = table
        self.calls = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and self.calls < MAX_HEALTHY_CALLS:
            self.calls += 1
            try:
                item = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": "k"}})["Item"]
                if item != {"pk": {"S": "k"}, "v": {"N": "1"}}:
                    self.errors.append(f"wrong item {item}")
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def __enter__(self) -> Healthy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def check(self, at_least: int = 20) -> None:
        """At least ``at_least`` calls were made, and under 1 % of them failed."""
        assert self.calls >= at_least, f"only {self.calls} healthy calls: {self.errors[:5]}"
        assert len(self.errors) * 100 < self.calls, (
            f"{len(self.errors)} of {self.calls} healthy calls failed: {self.errors[:5]}"
        )


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes ``sock`` within ``timeout`` seconds (EOF or reset;
    anything it sends first is read and dropped)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return False
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
    return False


def read_reply(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (status, lower-cased headers, body) read from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed inside the response body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def get_item_head(port: int, extra: bytes = b"", length: int = 0) -> bytes:
    return (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"X-Amz-Target: DynamoDB_20120810.GetItem\r\nContent-Length: %d\r\n%s\r\n"
        % (port, length, extra)
    )


# ---------------------------------------------------------------- idle connections


@contextmanager
def idle_flood(where: tuple[str, int], count: int) -> Iterator[list[int]]:
    """``count`` connections that send nothing, kept at ``count`` by a thread that
    reopens each one the server closes; yields a one-element list: reopen count."""
    socks: dict[int, socket.socket] = {}
    poller = select.poll()
    reopened = [0]
    stop = threading.Event()

    def open_one() -> None:
        sock = socket.create_connection(where, timeout=10)
        socks[sock.fileno()] = sock
        poller.register(sock, select.POLLIN)

    def keep() -> None:
        while not stop.is_set():
            for fd, _ in poller.poll(50):
                sock = socks.pop(fd)
                poller.unregister(fd)
                sock.close()
                if not stop.is_set():
                    open_one()
                    reopened[0] += 1

    for _ in range(count):
        open_one()
    thread = threading.Thread(target=keep, daemon=True)
    thread.start()
    try:
        yield reopened
    finally:
        stop.set()
        thread.join(timeout=10)
        for sock in socks.values():
            sock.close()


def test_idle_connections_cannot_lock_out_healthy_clients(tmp_path: Path) -> None:
    server = serve(tmp_path, header_timeout="1", keep_alive_timeout="1")
    try:
        table = make_table(server)
        where = address(server)
        # 1,001 sockets against the default --max-connections 1000, held for the attack
        with idle_flood(where, 1001) as reopened, Healthy(server, table) as healthy:
            time.sleep(ATTACK_SECONDS)
        healthy.check()
        assert reopened[0] > 0, "the server closed none of the idle connections"

        # below the limit, nothing is evicted: the header timeout closes them
        silent = [socket.create_connection(where, timeout=10) for _ in range(5)]
        slowloris = socket.create_connection(where, timeout=10)
        slowloris.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for sock in [*silent, slowloris]:
            assert closed_by_server(sock, 10), "a connection without a request head stayed open"
            sock.close()

        # a keep-alive connection is served, then closed when idle past its limit
        with socket.create_connection(where, timeout=10) as sock:
            body = json.dumps({"TableName": table, "Key": {"pk": {"S": "k"}}}).encode()
            sock.sendall(get_item_head(where[1], length=len(body)) + body)
            status, headers, reply = read_reply(sock)
            assert status == 200 and json.loads(reply)["Item"]["v"] == {"N": "1"}
            assert headers.get("connection") != "close"
            assert closed_by_server(sock, 4), "an idle keep-alive connection stayed open"
    finally:
        server.terminate()


# ---------------------------------------------------------------------- big headers


def test_an_oversized_request_head_is_refused_early(tmp_path: Path) -> None:
    server = serve(tmp_path)  # --max-header-bytes 64 KiB (the default)
    try:
        table = make_table(server)
        where = address(server)
        body = json.dumps({"TableName": table, "Key": {"pk": {"S": "k"}}}).encode()

        # just under the limit is served
        with socket.create_connection(where, timeout=10) as sock:
            sock.sendall(get_item_head(where[1], b"X-Pad: " + b"a" * 60_000 + b"\r\n", len(body)))
            sock.sendall(body)
            assert read_reply(sock)[0] == 200

        # over it (in one piece, or a header line growing past it): 431, then closed
        for head in (
            get_item_head(where[1], b"X-Pad: " + b"a" * 70_000 + b"\r\n", len(body)),
            get_item_head(where[1], b"".join(b"X-%d: %s\r\n" % (i, b"b" * 90) for i in range(800))),
        ):
            with socket.create_connection(where, timeout=10) as sock:
                sock.sendall(head)
                status, headers, reply = read_reply(sock)
                assert status == 431, reply
                assert headers["content-type"] == "application/x-amz-json-1.0"
                assert headers["connection"] == "close"
                assert json.loads(reply) == {
                    "__type": "com.amazon.coral.service#RequestHeaderFieldsTooLarge",
                    "message": "Request header fields too large: the request line and headers "
                    "exceed 65536 bytes (see --max-header-bytes)",
                }
                assert closed_by_server(sock, 5)

        # three clients sending 64 MB headers over and over: each is cut off early, and
        # the healthy client is unharmed
        sent: list[int] = []
        stop = threading.Event()

        def attack() -> None:
            piece = b"c" * MiB
            while not stop.is_set():
                total = 0
                with socket.create_connection(where, timeout=10) as sock:
                    try:
                        sock.sendall(get_item_head(where[1])[:-2] + b"X-Huge: ")
                        for _ in range(64):
                            sock.sendall(piece)
                            total += len(piece)
                    except OSError:
                        pass
                sent.append(total)

        with Healthy(server, table) as healthy:
            attackers = [threading.Thread(target=attack) for _ in range(3)]
            for thread in attackers:
                thread.start()
            time.sleep(ATTACK_SECONDS)
            stop.set()
            for thread in attackers:
                thread.join(timeout=60)
        healthy.check()
        assert len(sent) >= 3 and max(sent) < 16 * MiB, f"bytes taken before refusal: {sent}"
    finally:
        server.terminate()


# ----------------------------------------------------------------- concurrent bodies


def test_bodies_beyond_the_memory_bound_wait_then_get_503(tmp_path: Path) -> None:
    server = serve(tmp_path, max_body_memory=str(32 * MiB))
    try:
        table = make_table(server)
        where = address(server)
        # four requests declare 10 MB bodies and send none: three fit in the 30 MiB
        # large bodies may hold, the fourth waits, then gets 503
        socks = [socket.create_connection(where, timeout=20) for _ in range(4)]
        with Healthy(server, table) as healthy:
            for sock in socks:
                sock.sendall(get_item_head(where[1], length=10_000_000))
            poller = select.poll()
            for sock in socks:
                poller.register(sock, select.POLLIN)
            answered = poller.poll(15_000)
        healthy.check()
        try:
            assert len(answered) == 1, f"{len(answered)} of the 4 requests were answered"
            (answered_sock,) = [s for s in socks if s.fileno() == answered[0][0]]
            status, headers, reply = read_reply(answered_sock)
            assert status == 503
            assert headers["content-type"] == "application/x-amz-json-1.0"
            assert json.loads(reply) == {
                "__type": "com.amazon.coral.service#ServiceUnavailableException",
                "message": "Too many request bodies in memory; try again later "
                "(see --max-body-memory)",
            }
        finally:
            for sock in socks:
                sock.close()
        # the reservations are given back: a body of the same size is read again
        ddb = make_client(server.endpoint)
        wait_until(lambda: ddb.list_tables()["TableNames"] == [table], what="the server to serve")
    finally:
        server.terminate()


def test_a_body_that_stops_arriving_is_cut_off_and_frees_its_memory(tmp_path: Path) -> None:
    server = serve(tmp_path, header_timeout="1", max_body_memory=str(32 * MiB))
    try:
        table = make_table(server)
        where = address(server)
        # three requests reserve 30 MB between them, send 1 KB each and stall
        stalled = [socket.create_connection(where, timeout=10) for _ in range(3)]
        for sock in stalled:
            sock.sendall(get_item_head(where[1], length=10_000_000) + b"{" * 1024)
        for sock in stalled:
            assert closed_by_server(sock, 5), "a request whose body stopped stayed open"
            sock.close()
        # their reservations are gone: a 10 MB body is read at once (and refused: too big)
        payload = json.dumps(
            {"TableName": table, "Item": {"pk": {"S": "big"}, "v": {"S": "x" * 10_000_000}}}
        ).encode()
        with socket.create_connection(where, timeout=10) as sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-amz-json-1.0\r\n"
                b"X-Amz-Target: DynamoDB_20120810.PutItem\r\nContent-Length: %d\r\n\r\n"
                % len(payload)
                + payload
            )
            status, _, body = read_reply(sock)
        assert (status, json.loads(body)["__type"]) == (
            400,
            "com.amazon.coral.validate#ValidationException",
        ), body[:300]
    finally:
        server.terminate()


def test_concurrent_large_bodies_keep_memory_bounded(tmp_path: Path) -> None:
    server = serve(tmp_path, max_body_memory=str(32 * MiB))
    try:
        table = make_table(server)
        where = address(server)
        payload = json.dumps(
            {"TableName": table, "Item": {"pk": {"S": "big"}, "v": {"S": "x" * (12 * MiB)}}}
        ).encode()
        head = (
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b"X-Amz-Target: DynamoDB_20120810.PutItem\r\nContent-Length: %d\r\n\r\n" % len(payload)
        )
        replies: list[tuple[int, Any]] = []

        def upload() -> None:
            with socket.create_connection(where, timeout=30) as sock:
                sock.sendall(head + payload)
                status, _, body = read_reply(sock)
                replies.append((status, json.loads(body)))

        process = psutil.Process(server.proc.pid)
        with PeakSampler(process) as sampler, Healthy(server, table) as healthy:
            baseline = sampler.peak
            uploaders = [threading.Thread(target=upload) for _ in range(16)]
            for thread in uploaders:
                thread.start()
            for thread in uploaders:
                thread.join(timeout=60)
        healthy.check()
        assert len(replies) == 16
        for status, body in replies:  # each one read and refused (too big), or 503
            assert (status, body["__type"].rpartition("#")[2]) in (
                (400, "ValidationException"),
                (503, "ServiceUnavailableException"),
            ), (status, body)
        growth = sampler.peak - baseline
        # 16 bodies of 12 MB at once would be ~200 MB held; 32 MiB allows two at a time
        assert growth < 120 * MiB, f"peak growth {growth / MiB:.0f} MiB"
    finally:
        server.terminate()


# ---------------------------------------------------------------- stalled websockets


def ws_subscribe(where: tuple[str, int], table: str, rcvbuf: int = 16 * 1024) -> socket.socket:
    """A raw push-websocket socket (small receive buffer) subscribed to ``table`` from
    TRIM_HORIZON; it reads nothing more after the handshake."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(where)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET /_streams/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
        % (where[1], key)
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    message = json.dumps(
        {"action": "subscribe", "id": "s", "table": table, "from": "TRIM_HORIZON"}
    ).encode()
    mask = os.urandom(4)
    assert len(message) < 126
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(message))
    sock.sendall(struct.pack("!BB", 0x81, 0x80 | len(message)) + mask + masked)
    return sock


def fill_stream(server: ServerProcess, records: int, size: int) -> str:
    ddb = make_client(server.endpoint)
    table, arn = create_stream_table(ddb, "NEW_IMAGE", range_key=None)
    assert arn is not None
    for i in range(records):
        value = base64.b64encode(os.urandom(size)).decode()  # incompressible
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i:03d}"}, "v": {"S": value}})
    return table


def test_stalled_websockets_are_closed_and_free_their_slots(tmp_path: Path) -> None:
    server = serve(tmp_path, "--max-connections", "5", "--ws-stall-timeout", "1")
    try:
        table = make_table(server)
        stream_table = fill_stream(server, 40, 225_000)  # ~12 MB: more than buffers hold
        where = address(server)
        stalled = [ws_subscribe(where, stream_table) for _ in range(5)]
        try:
            ports = {s.getsockname()[1] for s in stalled}
            process = psutil.Process(server.proc.pid)

            def server_side_closed() -> bool:
                held = {
                    c.raddr.port
                    for c in process.net_connections(kind="tcp")
                    if c.raddr and c.raddr.port in ports
                }
                return not held

            wait_until(server_side_closed, 20, "the server to close the stalled websockets")
            # the attackers still hold their sockets: the slots are free all the same
            with Healthy(server, table) as healthy:
                wait_until(lambda: healthy.calls >= 100, 30, "100 healthy calls")
            healthy.check(at_least=100)
            assert "push client stalled" in server.log()
            for sock in stalled:  # the peer sees the end: EOF or a reset, after the data
                assert closed_by_server(sock, 10)
        finally:
            for sock in stalled:
                sock.close()
    finally:
        server.terminate()


def test_clients_that_vanish_mid_send_leave_no_traceback(tmp_path: Path) -> None:
    server = serve(tmp_path)
    try:
        stream_table = fill_stream(server, 20, 100_000)
        where = address(server)
        for _ in range(8):
            sock = ws_subscribe(where, stream_table, rcvbuf=64 * 1024)
            sock.recv(4096)  # the records are on their way
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # a reset while the server sends

        def no_subscriber() -> bool:
            url = server.endpoint + "/_admin/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                return b"\ndynoxide_websocket_subscribers 0" in response.read()

        wait_until(no_subscriber, 15, "every subscription to end")
        log = server.log()
        assert "Exception in ASGI application" not in log, log[-4000:]
        assert "Traceback" not in log, log[-4000:]
    finally:
        server.terminate()
