"""Real processes for the sidecar wire tests: an upstream ``serve`` process, a
``sidecar`` process reading it over HTTP, and a fault-injecting TCP proxy between them.

Every process started through :class:`Processes` is killed when the ``with`` block
ends, whatever happened inside it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.polling import wait_until
from tests.process import ServerProcess, free_port, start_server, wait_healthy

SIDECAR_ENV = {
    "AWS_ACCESS_KEY_ID": "sidecar-test",
    "AWS_SECRET_ACCESS_KEY": "sidecar-test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYTHONUNBUFFERED": "1",
}


def start_sidecar(
    upstream: str,
    work: Path,
    *flags: str,
    data_dir: Path | None = None,
    port: int | None = None,
) -> ServerProcess:
    """``python -m dynoxide_streams sidecar --upstream URL --port P`` with ``--data-dir``
    (or ``--in-memory``), waited healthy; its output goes to a log file in ``work``."""
    port = port or free_port()
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / f"sidecar-{port}-{time.monotonic_ns()}.log"
    where = ["--data-dir", str(data_dir)] if data_dir is not None else ["--in-memory"]
    cmd = [
        sys.executable,
        "-m",
        "dynoxide_streams",
        "sidecar",
        "--upstream",
        upstream,
        "--port",
        str(port),
        *where,
        *flags,
    ]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **SIDECAR_ENV}
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(endpoint, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return ServerProcess(proc, endpoint, log_path)


class Processes:
    """Starts upstreams and sidecars and kills every one still alive on exit."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.started: list[ServerProcess] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.started:
            if server.proc.poll() is None:
                server.kill9()

    def upstream(
        self, *flags: str, data_dir: Path | None = None, port: int | None = None
    ) -> ServerProcess:
        data_dir = data_dir or self.work / f"upstream-{len(self.started)}"
        server = start_server(data_dir, *flags, port=port)
        self.started.append(server)
        return server

    def sidecar(self, upstream: str, *flags: str, **options: Any) -> ServerProcess:
        server = start_sidecar(upstream, self.work, *flags, **options)
        self.started.append(server)
        return server


def log_lines(server: ServerProcess) -> list[str]:
    return server.log().splitlines()


def wait_log(server: ServerProcess, *words: str, timeout: float = 15.0) -> str:
    """The first log line holding every one of ``words`` (waited for)."""

    def found() -> str | None:
        return next((line for line in log_lines(server) if all(w in line for w in words)), None)

    line: str = wait_until(found, timeout, what=f"a log line with {words}")
    return line


def assert_running(server: ServerProcess) -> None:
    """The process has not exited (else: its exit status and the end of its log)."""
    code = server.proc.poll()
    assert code is None, f"the process exited with {code}:\n{server.log()[-4000:]}"


def assert_clean_log(server: ServerProcess) -> None:
    """No traceback and no error-level line in the process's log."""
    text = server.log()
    assert "Traceback" not in text, text[-6000:]
    assert "[error" not in text, text[-6000:]


# ------------------------------------------------------------------- fault injection


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
