"""A fault-injecting TCP proxy between a sidecar and its upstream: each new connection
is forwarded, refused an answer, cut short, answered 5xx or throttled, or slowed."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

ANSWERS = {  # canned answers of the fault modes that never reach the upstream
    "http500": (
        b"500 Internal Server Error",
        b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}',
    ),
    "throttle": (
        b"400 Bad Request",
        b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",'
        b'"message":"Rate of requests exceeds the allowed throughput."}',
    ),
}


def _closing(request: bytes) -> bytes:
    """The request asking the upstream to close the connection after answering (so
    the proxy reads the answer to its end, and the client does not reuse it)."""
    head, _, body = request.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


class FaultProxy:
    """A TCP proxy in front of an upstream, one request per connection (the answer
    says ``Connection: close``). ``mode`` decides what each new connection gets:

    * ``"pass"`` — forwarded to the upstream;
    * ``"close"`` — the request is read, then the connection closed without an answer;
    * ``"truncate"`` — the upstream's answer is cut after its headers and 5 body bytes;
    * ``"http500"`` — ``500 InternalServerError`` (JSON) without asking the upstream;
    * ``"throttle"`` — ``400 ThrottlingException`` (JSON) without asking the upstream;
    * ``"slow"`` — forwarded after ``delay`` seconds.
    """

    def __init__(self, upstream_port: int, *, delay: float = 1.0) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.delay = delay
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._closing = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @contextlib.contextmanager
    def running(self) -> Iterator[FaultProxy]:
        self._thread.start()
        try:
            yield self
        finally:
            self._closing = True
            self._thread.join(timeout=5)
            self._listener.close()

    def served(self, mode: str) -> int:
        with self._lock:
            return self.counts.get(mode, 0)

    def _accept(self) -> None:
        self._listener.settimeout(0.05)  # so a close is noticed without a connection
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            mode = self.mode
            with self._lock:
                self.counts[mode] = self.counts.get(mode, 0) + 1
            threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    @staticmethod
    def _read_request(sock: socket.socket) -> bytes:
        """One HTTP request (headers plus Content-Length body)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def _serve(self, client: socket.socket, mode: str) -> None:
        try:
            client.settimeout(30)
            request = self._read_request(client)
            if mode == "close":
                return
            if mode in ANSWERS:
                status, body = ANSWERS[mode]
                client.sendall(
                    b"HTTP/1.1 " + status + b"\r\n"
                    b"Content-Type: application/x-amz-json-1.0\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                    b"Connection: close\r\n\r\n" + body
                )
                return
            if mode == "slow":
                time.sleep(self.delay)
            with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as up:
                up.sendall(_closing(request))
                answer = b""
                while True:
                    chunk = up.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
            if mode == "truncate":
                head, _, body = answer.partition(b"\r\n\r\n")
                answer = head + b"\r\n\r\n" + body[:5]
            client.sendall(answer)
        except OSError:
            pass
        finally:
            client.close()
