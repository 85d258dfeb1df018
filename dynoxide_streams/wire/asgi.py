"""The ASGI types, content types and whole-response sending the wire routes share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

DYNAMODB_JSON = b"application/x-amz-json-1.0"
"""The content type of a DynamoDB JSON 1.0 body."""

JSON = b"application/json"
"""The content type of the Lambda, admin and ``/_streams/`` JSON bodies."""


async def send_response(send: Send, status: int, body: bytes, headers: Headers) -> None:
    """Send a complete HTTP response; ``content-length`` is appended to ``headers``."""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
