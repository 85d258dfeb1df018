"""Oversized and malformed input to the trigger routes: an AWS-shaped error, nothing created."""

from __future__ import annotations

import http.client
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import make_client
from tests.wire.test_triggers_delivery import stream_table


def _request(
    endpoint: str, method: str, path: str, body: bytes = b""
) -> tuple[int, Any, dict[str, str]]:
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        return (
            response.status,
            json.loads(data) if data else None,
            {k.lower(): v for k, v in response.getheaders()},
        )
    finally:
        conn.close()


def _count(endpoint: str, arn: str) -> int:
    lam = make_client(endpoint, "lambda")
    return len(lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"])


def test_an_oversized_filter_pattern_is_refused_and_nothing_is_created(
    server: Any, ddb: Any, endpoint: str
) -> None:
    function = f"big_{uuid.uuid4().hex[:8]}"
    server.register_function(function, lambda event, context: None)
    _, arn = stream_table(ddb)
    pattern = json.dumps({"eventName": ["INSERT"], "pad": ["x" * 4100]})
    body = json.dumps(
        {
            "FunctionName": function,
            "EventSourceArn": arn,
            "StartingPosition": "TRIM_HORIZON",
            "FilterCriteria": {"Filters": [{"Pattern": pattern}]},
        }
    ).encode()
    status, payload, headers = _request(endpoint, "POST", "/2015-03-31/event-source-mappings", body)
    assert status == 400
    assert headers.get("x-amzn-errortype") == "InvalidParameterValueException"
    assert payload["Type"] == "User" and "4096" in payload["message"]
    assert _count(endpoint, arn) == 0


def test_an_oversized_request_body_is_413_and_nothing_is_created(ddb: Any, endpoint: str) -> None:
    _, arn = stream_table(ddb)
    body = b'{"FunctionName": "x", "Pad": "' + b"a" * (16 * 1024 * 1024 + 10) + b'"}'
    status, payload, headers = _request(endpoint, "POST", "/2015-03-31/event-source-mappings", body)
    assert status == 413
    assert headers.get("x-amzn-errortype") == "RequestEntityTooLarge"
    assert payload["Type"] == "User"
    assert _count(endpoint, arn) == 0


def test_dead_letters_with_a_malformed_cursor_is_a_bad_request(endpoint: str) -> None:
    status, payload, _ = _request(endpoint, "GET", "/_admin/triggers/dead-letters?after=abc")
    assert status == 400
    assert payload["error"] == "BadRequest"
