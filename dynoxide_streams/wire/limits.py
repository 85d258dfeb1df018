"""The connection limit's answer: a DynamoDB-shaped 503 instead of uvicorn's plain text.

uvicorn answers requests beyond ``--max-connections`` with a plain-text 503 and offers
no hook to change it; :func:`install_limit_answer` swaps that responder (process-wide,
once) for one that sends DynamoDB's JSON error shape, so SDKs report a clear
``ServiceUnavailableException``.
"""

from __future__ import annotations

from dynoxide_streams.errors import ServiceUnavailableException
from dynoxide_streams.wire.asgi import DYNAMODB_JSON, Receive, Scope, Send
from dynoxide_streams.wire.errors import render_dynamodb_error

LIMIT_MESSAGE = "Too many concurrent connections; try again later (see --max-connections)"


async def _service_unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    status, body = render_dynamodb_error(ServiceUnavailableException(LIMIT_MESSAGE))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", DYNAMODB_JSON),
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
