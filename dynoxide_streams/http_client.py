"""A minimal async HTTP/1.1 client (h11 over anyio).

:func:`http_post` opens a connection for one POST and closes it (trigger targets,
on-failure destinations). :class:`ConnectionPool` keeps connections alive between
POSTs to the same origin — the sidecar's upstream calls, where a TLS handshake per
call would cost more than the call — with a bounded number of idle connections.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import anyio.abc
import h11

MAX_RESPONSE_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class _Origin:
    host: str
    port: int
    tls: bool
    netloc: str
    target: str

    @classmethod
    def of(cls, url: str) -> _Origin:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or (443 if tls else 80),
            tls,
            parts.netloc,
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        )

    @property
    def key(self) -> tuple[str, int, bool]:
        return (self.host, self.port, self.tls)

    async def connect(self) -> anyio.abc.ByteStream:
        if self.tls:
            return await anyio.connect_tcp(self.host, self.port, tls=True)
        return await anyio.connect_tcp(self.host, self.port)


class _AnswerNotStarted(ConnectionError):
    """The connection failed before any byte of the answer arrived."""


async def _exchange(
    stream: anyio.abc.ByteStream,
    conn: h11.Connection,
    origin: _Origin,
    body: bytes,
    headers: list[tuple[str, str]],
) -> tuple[int, dict[str, str], bytes]:
    """One request and its answer on an open connection."""
    request = h11.Request(
        method="POST",
        target=origin.target,
        headers=[("Host", origin.netloc), ("Content-Length", str(len(body))), *headers],
    )
    try:
        await stream.send(conn.send(request) + conn.send(h11.Data(data=body)))
        await stream.send(conn.send(h11.EndOfMessage()) or b"")
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
        raise _AnswerNotStarted(f"{origin.netloc} closed the connection: {exc}") from None
    status = 0
    response_headers: dict[str, str] = {}
    chunks: list[bytes] = []
    size = 0
    started = False
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:  # closed early, garbled answer
            if not started:
                raise _AnswerNotStarted(f"no answer from {origin.netloc}: {exc}") from None
            raise ConnectionError(f"bad HTTP answer from {origin.netloc}: {exc}") from None
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                data = b""
            started = started or bool(data)
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
            response_headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers
            }
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_RESPONSE_BYTES:
                raise OSError("response larger than 6 MB")
            chunks.append(bytes(event.data))
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return status, response_headers, b"".join(chunks)


async def http_post(
    url: str,
    body: bytes,
    *,
    timeout: float,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` to ``url`` (HTTP/1.1, one connection); (status, headers, body).

    Raises OSError (ConnectionError for a connection closed early or a malformed
    answer) or TimeoutError; the response body is capped at 6 MB.
    """
    origin = _Origin.of(url)
    with anyio.fail_after(timeout):
        async with await origin.connect() as stream:
            return await _exchange(
                stream,
                h11.Connection(h11.CLIENT),
                origin,
                body,
                [("Content-Type", content_type), ("Connection", "close"), *(headers or [])],
            )


@dataclass
class _Idle:
    stream: anyio.abc.ByteStream
    conn: h11.Connection
    since: float


class ConnectionPool:
    """Keep-alive connections for POSTs, at most ``max_idle`` idle ones per origin
    (more may be open while calls are under way; the surplus is closed after use).

    A connection is reused only when both sides finished the previous exchange and
    neither asked to close; one idle longer than ``idle_seconds`` is closed instead
    (4 s by default: under the keep-alive timeout of common servers, uvicorn's 5 s).
    A reused connection that fails before any byte of the answer (the server closed
    it while idle) is replaced by a new one and the request sent again, once.
    """

    def __init__(self, *, max_idle: int = 8, idle_seconds: float = 4.0) -> None:
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self._idle: dict[tuple[str, int, bool], deque[_Idle]] = {}
        self.opened = 0  # connections opened so far (for tests and metrics)

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        timeout: float,
        headers: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, str], bytes]:
        """As :func:`http_post`, on a pooled connection."""
        origin = _Origin.of(url)
        all_headers = [("Content-Type", content_type), *(headers or [])]
        with anyio.fail_after(timeout):
            reused = await self._take(origin)
            if reused is not None:
                try:
                    return await self._use(origin, reused.stream, reused.conn, body, all_headers)
                except _AnswerNotStarted:
                    pass  # closed while idle: send again on a new connection
            stream = await origin.connect()
            self.opened += 1
            return await self._use(origin, stream, h11.Connection(h11.CLIENT), body, all_headers)

    async def _take(self, origin: _Origin) -> _Idle | None:
        idle = self._idle.get(origin.key)
        now = time.monotonic()
        while idle:
            entry = idle.pop()  # the most recently used is the likeliest still open
            if now - entry.since <= self.idle_seconds:
                return entry
            await _close(entry.stream)
        return None

    async def _use(
        self,
        origin: _Origin,
        stream: anyio.abc.ByteStream,
        conn: h11.Connection,
        body: bytes,
        headers: list[tuple[str, str]],
    ) -> tuple[int, dict[str, str], bytes]:
        keep = False
        try:
            answer = await _exchange(stream, conn, origin, body, headers)
            keep = conn.our_state is h11.DONE and conn.their_state is h11.DONE
            if keep:
                conn.start_next_cycle()
                idle = self._idle.setdefault(origin.key, deque())
                if len(idle) < self.max_idle:
                    idle.append(_Idle(stream, conn, time.monotonic()))
                else:
                    keep = False
            return answer
        finally:
            if not keep:  # failed, cancelled, asked to close, or the pool is full
                await _close(stream)

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, {}
        for entries in idle.values():
            for entry in entries:
                await _close(entry.stream)


async def _close(stream: anyio.abc.ByteStream) -> None:
    quiet = contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
    with anyio.CancelScope(shield=True), anyio.move_on_after(1.0), quiet:
        await stream.aclose()
