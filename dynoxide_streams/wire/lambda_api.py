"""The Lambda event source mapping API (REST-JSON) under ``/2015-03-31/``.

Routes: ``POST|GET /2015-03-31/event-source-mappings`` (Create, List) and
``GET|PUT|DELETE /2015-03-31/event-source-mappings/{UUID}`` (Get, Update, Delete).
Errors are rendered the way Lambda sends them, by ``wire/errors.py``'s
:func:`~dynoxide_streams.wire.errors.render_lambda_error`. Create, Update and Delete
are refused as cross-site requests when ``wire/origins.py`` says so
(``AccessPolicy.cross_site_refusal``: a foreign Origin or ``Sec-Fetch-Site:
cross-site``, or a body not sent as ``application/json``), before anything changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from dynoxide_streams.engine.shapes import LAMBDA, validate_request
from dynoxide_streams.errors import (
    DynamoDBError,
    InvalidRequestContentException,
)
from dynoxide_streams.metrics import Metrics
from dynoxide_streams.triggers.mappings import STAND_IN_SOURCE
from dynoxide_streams.triggers.runner import TriggerRunner
from dynoxide_streams.wire.asgi import JSON, Headers
from dynoxide_streams.wire.errors import render_lambda_error
from dynoxide_streams.wire.origins import AccessPolicy

PREFIX = "/2015-03-31/"
_MAPPINGS = "/2015-03-31/event-source-mappings"

Response = tuple[int, bytes, Headers]


class UnknownRoute(DynamoDBError):
    name = "UnknownOperationException"
    status = 404


class LambdaApi:
    """Routes Lambda API requests to the :class:`TriggerRunner`."""

    def __init__(self, runner: TriggerRunner, metrics: Metrics, *, access: AccessPolicy) -> None:
        self.runner = runner
        self.requests = metrics.requests
        self.access = access

    async def handle(
        self, method: str, path: str, query: bytes, body: bytes, request: Mapping[bytes, bytes]
    ) -> Response:
        """(status, body, headers) of a Lambda API request; ``request`` maps its
        lower-case header names to values."""
        request_id = str(uuid.uuid4())
        error_name = ""
        operation = _operation(method, path)
        try:
            refusal = self.access.cross_site_refusal(method, request, has_body=bool(body))
            if refusal is not None:
                raise refusal
            status, payload = await self._route(operation, method, path, query, body)
            headers: Headers = []
        except DynamoDBError as error:
            error_name = error.name
            status, payload, headers = render_lambda_error(error)
        self.requests.inc(operation=operation, error=error_name)
        headers += [
            (b"content-type", JSON),
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
        if arn is not None and self.runner.uses_source(arn):  # accepted, whatever its form
            given["EventSourceArn"] = STAND_IN_SOURCE
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
    """The request body as a JSON object (an empty body is ``{}``)."""
    if not body.strip():
        return {}
    problem = "expected a JSON object"
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        value, problem = None, str(exc)
    if isinstance(value, dict):
        return value
    raise InvalidRequestContentException(
        f"Could not parse request body into json: Could not parse payload into json: {problem}"
    )


__all__ = ["PREFIX", "LambdaApi"]
