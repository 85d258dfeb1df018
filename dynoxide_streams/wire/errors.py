"""The one place where exceptions become bytes on the wire (DynamoDB JSON protocol)."""

from __future__ import annotations

from typing import Any

import orjson

from dynoxide_streams.errors import DynamoDBError


def render_error(error: DynamoDBError) -> tuple[int, bytes]:
    """HTTP status and JSON body of a DynamoDB-protocol error response."""
    body: dict[str, Any] = {"__type": f"{error.namespace}#{error.name}"}
    if error.message:
        body[error.message_key] = error.message
    body.update(error.extra)
    return error.status, orjson.dumps(body)
