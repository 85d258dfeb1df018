"""Shared bits of the benchmark tools: the plain DynamoDB JSON protocol over HTTP/1.1.

Nothing here depends on the project under test; the tools talk to *any*
DynamoDB-compatible endpoint (this project, moto's server, DynamoDB Local).

Two clients live here:

* ``AsyncConn``: a minimal asyncio HTTP/1.1 keep-alive client on raw
  ``asyncio.open_connection`` streams, used by ``loadgen.py``.  The request
  header bytes are pre-encoded per operation; per request it only appends the
  Content-Length and body, then parses the status line, Content-Length and
  reads the body.  If the server closes the connection (e.g. moto's Werkzeug
  server answers ``Connection: close``) it transparently reconnects and counts
  it.
* ``request_sync``: a one-shot blocking request on a plain socket, used by
  ``startup.py`` to poll for readiness.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any
from urllib.parse import urlsplit

try:
    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    loads = orjson.loads
except ImportError:  # pragma: no cover - fallback when orjson is missing
    import json

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    loads = json.loads


TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
# A syntactically valid SigV4 header pair (what a signed SDK client sends); none of the
# local servers verify the signature, but some (Dynoxide) refuse a request without both.
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)
AMZ_DATE = "20260101T000000Z"


class HttpError(Exception):
    """A non-200 answer (status and body kept for the message)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``http://host:port`` -> (host, port).  Only plain http is supported."""
    parts = urlsplit(endpoint)
    if parts.scheme != "http":
        raise SystemExit(f"only http:// endpoints are supported, got {endpoint!r}")
    if not parts.hostname:
        raise SystemExit(f"no host in endpoint {endpoint!r}")
    return parts.hostname, parts.port or 80


def header_prefix(host: str, port: int, op: str, target_prefix: str = TARGET_PREFIX) -> bytes:
    """Everything of the request up to and including ``Content-Length: ``."""
    return (
        "POST / HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"X-Amz-Target: {target_prefix}{op}\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\n"
        f"Authorization: {AUTHORIZATION}\r\n"
        f"X-Amz-Date: {AMZ_DATE}\r\n"
        "Accept-Encoding: identity\r\n"
        "Content-Length: "
    ).encode("ascii")


def build_request(prefix: bytes, body: bytes) -> bytes:
    return b"".join((prefix, str(len(body)).encode("ascii"), b"\r\n\r\n", body))


def _header_value(head_lower: bytes, name: bytes) -> bytes | None:
    """Value of header ``name`` (lower-case, with trailing colon) in a lower-cased head."""
    i = head_lower.find(b"\r\n" + name)
    if i < 0:
        return None
    i += 2 + len(name)
    j = head_lower.find(b"\r\n", i)
    return head_lower[i:j].strip()


def _wants_close(head_lower: bytes) -> bool:
    conn = _header_value(head_lower, b"connection:")
    if head_lower.startswith(b"http/1.0"):
        return conn != b"keep-alive"
    return conn == b"close"


# --------------------------------------------------------------------------- async


class AsyncConn:
    """One persistent HTTP/1.1 connection; strictly one request in flight."""

    __slots__ = ("_reader", "_writer", "host", "port", "reconnects")

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.reconnects = 0  # connections opened after the first one

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, limit=1 << 20
        )

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def request(self, data: bytes) -> tuple[int, bytes]:
        """Send one complete pre-built request; return (status, body)."""
        if self._writer is None:
            self.reconnects += 1
            await self.connect()
        reader = self._reader
        writer = self._writer
        assert reader is not None and writer is not None
        try:
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            # Keep-alive connection closed under us between requests: retry once.
            self.close()
            self.reconnects += 1
            await self.connect()
            reader = self._reader
            writer = self._writer
            assert reader is not None and writer is not None
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        hl = head.lower()
        i = hl.find(b"\r\ncontent-length:")
        if i >= 0:
            j = hl.find(b"\r\n", i + 17)
            body = await reader.readexactly(int(hl[i + 17 : j]))
        elif _header_value(hl, b"transfer-encoding:") == b"chunked":
            body = await self._read_chunked(reader)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:  # no length: body runs to EOF
            body = await reader.read()
            self.close()
            return status, body
        if _wants_close(hl):
            self.close()
        return status, body

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # trailers, up to the empty line
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)


class AsyncClient:
    """Convenience wrapper for control-plane calls (CreateTable, DescribeTable, ...)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.conn = AsyncConn(host, port)
        self._prefixes: dict[str, bytes] = {}

    def prefix(self, op: str) -> bytes:
        """Request head for ``op``; ``Streams.<Op>`` targets the DynamoDB Streams API."""
        p = self._prefixes.get(op)
        if p is None:
            if op.startswith("Streams."):
                target, name = "DynamoDBStreams_20120810.", op.removeprefix("Streams.")
            else:
                target, name = TARGET_PREFIX, op
            p = self._prefixes[op] = header_prefix(self.host, self.port, name, target)
        return p

    async def call(self, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        status, body = await self.conn.request(build_request(self.prefix(op), dumps(payload)))
        if status != 200:
            raise HttpError(status, body)
        return loads(body) if body else {}

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- sync


def request_sync(
    host: str, port: int, op: str, payload: dict[str, Any], timeout: float = 5.0
) -> tuple[int, bytes]:
    """One request on a fresh blocking socket (Connection: close).  Raises OSError."""
    body = dumps(payload)
    data = (
        header_prefix(host, port, op)
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        buf = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                hl = bytes(buf[:end]).lower()
                cl = _header_value(hl + b"\r\n", b"content-length:")
                if cl is not None and len(buf) >= end + 4 + int(cl):
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("response not complete in time")
    end = buf.find(b"\r\n\r\n")
    if not buf.startswith(b"HTTP/") or end < 0:
        raise ConnectionError(f"malformed response: {bytes(buf[:100])!r}")
    return int(buf[9:12]), bytes(buf[end + 4 :])


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(host: str, port: int, timeout: float, sleep: float = 0.002) -> float:
    """Poll ListTables until 200; return seconds waited.  Raises TimeoutError."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while True:
        try:
            status, _ = request_sync(host, port, "ListTables", {}, timeout=2.0)
            if status == 200:
                return time.perf_counter() - t0
        except (OSError, ValueError):
            pass
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{host}:{port} not ready after {timeout}s")
        time.sleep(sleep)


def _cli() -> None:
    """Tiny CLI used by compare.sh: ``--free-port`` or ``--wait ENDPOINT``."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="helpers for bench/compare.sh")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--free-port", action="store_true", help="print a free loopback port")
    g.add_argument("--wait", metavar="ENDPOINT", help="wait until ListTables answers 200")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()
    if a.free_port:
        print(free_loopback_port())
        return
    h, p = parse_endpoint(a.wait)
    try:
        waited = wait_ready(h, p, a.timeout, sleep=0.05)
    except TimeoutError as e:
        raise SystemExit(str(e)) from None
    print(f"{a.wait} ready after {waited * 1000:.0f} ms", file=sys.stderr)


if __name__ == "__main__":
    _cli()
