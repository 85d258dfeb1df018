"""The one place where errors become bytes on the wire: one renderer a protocol family.

- DynamoDB JSON 1.0 (``POST /``, and the Host refusal and connection-limit answers):
  ``{"__type": "namespace#Name", "message": ...}`` plus the error's modeled members.
- Lambda REST-JSON (``/2015-03-31/``): the name in the ``x-amzn-ErrorType`` header and
  ``{"Type": "User" | "Service", "message": ...}`` (the key's casing follows the model).
- Admin JSON (``/_admin/`` and the other JSON routes under ``/_streams/``):
  ``{"error": Name, "message": ...}``.

The fixed non-JSON answers (unknown route, missing static file) are here too.
"""

from __future__ import annotations

from typing import Any

import orjson

from dynoxide_streams.errors import DynamoDBError, SignatureError
from dynoxide_streams.wire.asgi import Headers

UNKNOWN_ROUTE = (404, b"<UnknownOperationException/>\n", b"text/xml")
"""(status, body, content type) for a path no route serves, as DynamoDB answers it."""

STATIC_NOT_FOUND = (404, b"not found\n", b"text/plain")
"""(status, body, content type) for a static file that does not exist."""


def render_dynamodb_error(error: DynamoDBError) -> tuple[int, bytes]:
    """HTTP status and JSON body of a DynamoDB-protocol error response."""
    body: dict[str, Any] = {"__type": f"{error.namespace}#{error.name}"}
    if error.message:
        body[error.message_key] = error.message
    body.update(error.extra)
    return error.status, orjson.dumps(body)


def render_lambda_error(error: DynamoDBError) -> tuple[int, bytes, Headers]:
    """HTTP status, body and the ``x-amzn-ErrorType`` header of a Lambda REST-JSON error.

    A status of 500 or more is a ``Service`` fault, anything else a ``User`` one. A
    :class:`SignatureError` is a 403, as Lambda answers authentication failures.
    """
    status = 403 if isinstance(error, SignatureError) else error.status
    kind = "Service" if status >= 500 else "User"
    body = orjson.dumps({"Type": kind, error.message_key: error.message})
    return status, body, [(b"x-amzn-errortype", error.name.encode())]


def render_admin_error(status: int, name: str, message: str | None = None) -> tuple[int, bytes]:
    """HTTP status and JSON body ``{"error": name, "message": message}`` of an admin
    error (no ``message`` key when ``message`` is None)."""
    body = {"error": name} if message is None else {"error": name, "message": message}
    return status, orjson.dumps(body)
