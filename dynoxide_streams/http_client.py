"""A minimal async HTTP/1.1 client (h11 over anyio): one POST per connection.

Used to invoke HTTP trigger targets, to deliver on-failure records, and by the
sidecar to call its upstream. No pooling: each call opens and closes a connection.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import anyio
import anyio.abc
import h11

MAX_RESPONSE_BYTES = 6 * 1024 * 1024


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
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = h11.Connection(h11.CLIENT)
    with anyio.fail_after(timeout):
        stream: anyio.abc.ByteStream = (
            await anyio.connect_tcp(host, port, tls=True)
            if tls
            else await anyio.connect_tcp(host, port)
        )
        async with stream:
            request = h11.Request(
                method="POST",
                target=target,
                headers=[
                    ("Host", parts.netloc),
                    ("Content-Type", content_type),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                    *(headers or []),
                ],
            )
            try:
                await stream.send(conn.send(request) + conn.send(h11.Data(data=body)))
                await stream.send(conn.send(h11.EndOfMessage()) or b"")
            except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                raise ConnectionError(f"{parts.netloc} closed the connection: {exc}") from None
            status = 0
            response_headers: dict[str, str] = {}
            chunks: list[bytes] = []
            size = 0
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as exc:  # closed early, garbled answer
                    raise ConnectionError(f"bad HTTP answer from {parts.netloc}: {exc}") from None
                if event is h11.NEED_DATA:
                    try:
                        data = await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        data = b""
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
                    break
    return status, response_headers, b"".join(chunks)
