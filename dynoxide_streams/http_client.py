"""The project's outgoing HTTP: POSTs through httpx, imported on first use.

:func:`http_post` sends one POST on a connection of its own, closed after the answer
(trigger targets, on-failure destinations). :class:`HttpClient` keeps connections
alive between POSTs — the sidecar's upstream calls, where a TLS handshake per call
would cost more than the call — with a bounded number of idle ones.

Both take proxies from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``,
``ALL_PROXY``, ``NO_PROXY``) and verify TLS against the system trust store. A call
answers ``(status, headers with lower-case names, body)``; it raises TimeoutError
past its timeout (which bounds the whole call: connecting, sending, reading) and
ConnectionError (an OSError) when the connection fails, the answer is malformed or
the proxy settings cannot be used; an answer body over 6 MB raises OSError.

httpx is imported by the first call, never at import time, so a server that sends
no HTTP pays nothing for it.
"""

from __future__ import annotations

import functools
import ssl
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    import httpx

MAX_RESPONSE_BYTES = 6 * 1024 * 1024

Answer = tuple[int, dict[str, str], bytes]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system trust store (and ``SSL_CERT_FILE``/``SSL_CERT_DIR``), made once."""
    return ssl.create_default_context()


def _new_client(*, max_idle: int, idle_seconds: float) -> httpx.AsyncClient:
    import httpx

    try:
        return httpx.AsyncClient(
            verify=_tls_context(),
            limits=httpx.Limits(
                max_connections=None,
                max_keepalive_connections=max_idle,
                keepalive_expiry=idle_seconds,
            ),
            timeout=None,  # the caller's timeout bounds each whole call instead
            headers={"Accept-Encoding": "identity"},  # bodies arrive as sent
            trust_env=True,
        )
    except (ImportError, ValueError) as exc:  # e.g. a socks:// proxy, an unknown scheme
        raise ConnectionError(f"cannot use the proxy settings: {exc}") from None


class _ReusedConnectionClosed(ConnectionError):
    """A kept connection failed before any answer: the server closed it while idle."""


async def _send(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: list[tuple[str, str]],
) -> Answer:
    """One POST and its whole answer, with httpx's errors turned into OSErrors."""
    import httpx

    opened = False

    async def trace(event: str, info: dict[str, Any]) -> None:
        nonlocal opened
        opened = opened or event.startswith("connection.connect_")

    try:
        request = client.build_request(
            "POST", url, content=body, headers=headers, extensions={"trace": trace}
        )
        try:
            response = await client.send(request, stream=True)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if not opened:
                raise _ReusedConnectionClosed(f"{url}: {exc}") from None
            raise
        try:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise OSError("response larger than 6 MB")
                chunks.append(chunk)
        finally:
            await response.aclose()
    except httpx.TimeoutException as exc:
        raise TimeoutError(f"{url}: {exc}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ConnectionError(f"{url}: {type(exc).__name__}: {exc}") from None
    return (
        response.status_code,
        {k.lower(): v for k, v in response.headers.items()},
        b"".join(chunks),
    )


async def http_post(
    url: str,
    body: bytes,
    *,
    timeout: float,
    headers: list[tuple[str, str]] | None = None,
) -> Answer:
    """POST the JSON ``body`` to ``url`` on a new connection, closed after the answer."""
    all_headers = [("Content-Type", "application/json"), ("Connection", "close"), *(headers or [])]
    with anyio.fail_after(timeout):
        async with _new_client(max_idle=0, idle_seconds=0.0) as client:
            return await _send(client, url, body, all_headers)


class HttpClient:
    """Keep-alive connections for POSTs, at most ``max_idle`` of them idle (more may
    be open while calls are under way; the surplus is closed after use).

    One client serves one origin in this project (the sidecar's upstream), so the
    bound is per origin. A connection goes back to the pool only when both sides
    finished the exchange and neither asked to close, so a cancelled or failed call
    never leaves its connection for the next one. A connection idle longer than
    ``idle_seconds`` is closed instead of reused (4 s by default: under the
    keep-alive timeout of common servers, uvicorn's 5 s), and so is one the server
    closed while it was idle. If a kept connection fails before any byte of the
    answer (the server closed it just as it was reused), the request is sent again,
    once.
    """

    def __init__(self, *, max_idle: int = 8, idle_seconds: float = 4.0) -> None:
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self._client: httpx.AsyncClient | None = None

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        timeout: float,
        headers: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Answer:
        """POST ``body`` to ``url``, on a kept connection when one is idle."""
        all_headers = [("Content-Type", content_type), *(headers or [])]
        with anyio.fail_after(timeout):
            if self._client is None:
                self._client = _new_client(max_idle=self.max_idle, idle_seconds=self.idle_seconds)
            try:
                return await _send(self._client, url, body, all_headers)
            except _ReusedConnectionClosed:
                return await _send(self._client, url, body, all_headers)

    async def aclose(self) -> None:
        """Close every idle connection (a later call opens new ones)."""
        client, self._client = self._client, None
        if client is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                await client.aclose()
