"""Guards in front of every route: the Host allowlist and the connection limit's answer.

**Host allowlist (DNS rebinding).** A page on ``evil.example`` can make the browser
resolve that name to 127.0.0.1 and call this server as a same-origin request. Such a
request carries ``Host: evil.example``. Requests are therefore served only when the
Host is an IP literal, ``localhost`` (or ``*.localhost``), or a name given with
``--allowed-host`` (``*`` turns the check off). A request without a Host header (HTTP/1.0
tools) is served.

**Connection limit.** uvicorn answers requests beyond ``--max-connections`` with a
plain-text 503 and offers no hook to change it; :func:`install_limit_answer` swaps that
responder (process-wide, once) for one that sends DynamoDB's JSON error shape, so SDKs
report a clear ``ServiceUnavailableException``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

LIMIT_MESSAGE = "Too many concurrent connections; try again later (see --max-connections)"


class HostAllowlist:
    """Decides whether a request's Host header may be served."""

    def __init__(self, allowed: tuple[str, ...] = ()) -> None:
        self.any = "*" in allowed
        self.names = frozenset(name.strip().lower().rstrip(".") for name in allowed)

    def allowed(self, host_header: bytes | None) -> bool:
        if self.any or host_header is None:
            return True
        host = _hostname(host_header.decode("latin-1"))
        if host is None:
            return False
        if host == "localhost" or host.endswith(".localhost") or host in self.names:
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True


def _hostname(value: str) -> str | None:
    """The host part of a Host header, lower-cased; None if malformed."""
    value = value.strip().lower()
    if not value:
        return None
    if value.startswith("["):  # [v6]:port
        end = value.find("]")
        return value[1:end] if end > 0 else None
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if port and not port.isdigit():
        return None
    return host.rstrip(".") or None


def host_refused_body(host: bytes | None) -> bytes:
    shown = "" if host is None else host.decode("latin-1")
    return orjson.dumps(
        {
            "__type": "com.amazon.coral.service#AccessDeniedException",
            "message": f"Host {shown!r} is not allowed (DNS-rebinding protection); "
            "start the server with --allowed-host NAME to serve it",
        }
    )


async def _service_unavailable(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    body = orjson.dumps(
        {"__type": "com.amazon.coral.service#ServiceUnavailableException", "message": LIMIT_MESSAGE}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/x-amz-json-1.0"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def install_limit_answer() -> None:
    """Make uvicorn's over-the-limit 503 a DynamoDB-shaped JSON error (idempotent)."""
    from uvicorn.protocols.http import h11_impl, httptools_impl

    for module in (httptools_impl, h11_impl):
        setattr(module, "service_unavailable", _service_unavailable)  # noqa: B010
