"""The Lambda event source mapping API (REST-JSON) under ``/2015-03-31/``.

Routes: ``POST|GET /2015-03-31/event-source-mappings`` (Create, List) and
``GET|PUT|DELETE /2015-03-31/event-source-mappings/{UUID}`` (Get, Update, Delete).
Errors are rendered the way Lambda sends them: the error name in the
``x-amzn-ErrorType`` header and a body ``{"Type": "User", "message": ...}`` (the
message key's casing follows the error's model, e.g. ``Message`` for
ResourceNotFoundException).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from dynoxide_streams.engine.shapes import LAMBDA, validate_request
from dynoxide_streams.errors import (
    DynamoDBError,
    InvalidRequestContentException,
    ServiceException,
)
from dynoxide_streams.metrics import Metrics
from dynoxide_streams.triggers.runner import TriggerRunner

PREFIX = "/2015-03-31/"
_MAPPINGS = "/2015-03-31/event-source-mappings"

Response = tuple[int, bytes, list[tuple[bytes, bytes]]]


class UnknownRoute(DynamoDBError):
    name = "UnknownOperationException"
    status = 404


def render_lambda_error(error: DynamoDBError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, body and headers of a Lambda REST-JSON error."""
    kind = "Service" if error.status >= 500 else "User"
    body = orjson.dumps({"Type": kind, error.message_key: error.message})
    return error.status, body, [(b"x-amzn-errortype", error.name.encode())]


class LambdaApi:
    """Routes Lambda API requests to the :class:`TriggerRunner`."""

    def __init__(self, runner: TriggerRunner, metrics: Metrics) -> None:
        self.runner = runner
        self.requests = metrics.requests

    async def handle(self, method: str, path: str, query: bytes, body: bytes) -> Response:
        request_id = str(uuid.uuid4())
        error_name = ""
        operation = _operation(method, path)
        try:
            status, payload = await self._route(operation, method, path, query, body)
            headers: list[tuple[bytes, bytes]] = []
        except DynamoDBError as error:
            error_name = error.name
            status, payload, headers = render_lambda_error(error)
        self.requests.inc(operation=operation, error=error_name)
        headers += [
            (b"content-type", b"application/json"),
            (b"x-amzn-requestid", request_id.encode()),
        ]
        return status, payload, headers

    async def _route(
        self, operation: str, method: str, path: str, query: bytes, body: bytes
    ) -> tuple[int, bytes]:
        mapping_id = unquote(path.rstrip("/")[len(_MAPPINGS) + 1 :])
        if operation == "Lambda.CreateEventSourceMapping":
            return 202, orjson.dumps(await self.runner.create(_json(body)))
        if operation == "Lambda.ListEventSourceMappings":
            return 200, orjson.dumps(self._list(query))
        if operation == "Lambda.GetEventSourceMapping":
            return 200, orjson.dumps(self.runner.get(mapping_id))
        if operation == "Lambda.UpdateEventSourceMapping":
            return 202, orjson.dumps(await self.runner.update(mapping_id, _json(body)))
        if operation == "Lambda.DeleteEventSourceMapping":
            return 202, orjson.dumps(await self.runner.delete(mapping_id))
        raise UnknownRoute(f"Unknown operation {method} {path.rstrip('/')}")

    def _list(self, query: bytes) -> dict[str, Any]:
        params = parse_qs(query.decode("latin-1"), keep_blank_values=True)

        def one(name: str) -> str | None:
            values = params.get(name)
            return None if not values else values[-1]

        max_items: int | None = None
        raw = one("MaxItems")
        if raw is not None:
            try:
                max_items = int(raw)
            except ValueError:
                raise InvalidRequestContentException(
                    f"Could not parse request: MaxItems '{raw}' is not an integer"
                ) from None
        arn, function, marker = one("EventSourceArn"), one("FunctionName"), one("Marker")
        given = {"EventSourceArn": arn, "FunctionName": function, "Marker": marker}
        validate_request(LAMBDA, "ListEventSourceMappings", {**given, "MaxItems": max_items})
        return self.runner.list_mappings(
            event_source_arn=arn,
            function_name=function,
            marker=marker,
            max_items=max_items,
        )


def _operation(method: str, path: str) -> str:
    """The Lambda operation a method and path name ("unknown" for anything else)."""
    path = path.rstrip("/")
    if path == _MAPPINGS:
        return {
            "POST": "Lambda.CreateEventSourceMapping",
            "GET": "Lambda.ListEventSourceMappings",
        }.get(method, "unknown")
    if path.startswith(_MAPPINGS + "/") and "/" not in path[len(_MAPPINGS) + 1 :]:
        return {
            "GET": "Lambda.GetEventSourceMapping",
            "PUT": "Lambda.UpdateEventSourceMapping",
            "DELETE": "Lambda.DeleteEventSourceMapping",
        }.get(method, "unknown")
    return "unknown"


def _json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequestContentException(
            "Could not parse request body into json: Could not parse payload into json: "
            "expected a JSON object"
        )
    return value


__all__ = ["PREFIX", "LambdaApi", "ServiceException", "render_lambda_error"]
