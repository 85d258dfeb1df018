"""Importable handlers for ``python:tests.triggers_fixtures.handlers:NAME`` targets.

What a handler sees is kept per function name (``context.function_name``), so tests on
the shared session server, which use unique function names, never see each other's
calls. ``PLANS[name]`` scripts the responses of :func:`scripted`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from typing import Any

_lock = threading.Lock()
CALLS: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
"""function name → the events it was invoked with, in order."""
CONTEXTS: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
"""function name → what its context object said at each invocation."""
PLANS: dict[str, list[Any]] = {}
"""function name → responses :func:`scripted` gives, in order (then None); a callable
entry is called with the event and its result returned."""


def _remember(event: dict[str, Any], context: Any, kind: str) -> None:
    seen = {
        "kind": kind,
        "function_name": context.function_name,
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "memory_limit_in_mb": context.memory_limit_in_mb,
    }
    with _lock:
        CALLS[context.function_name].append(event)
        CONTEXTS[context.function_name].append(seen)


def calls(name: str) -> list[dict[str, Any]]:
    """A copy of the events ``name`` was invoked with."""
    with _lock:
        return list(CALLS[name])


def contexts(name: str) -> list[dict[str, Any]]:
    with _lock:
        return list(CONTEXTS[name])


def record(event: dict[str, Any], context: Any) -> None:
    """Record the event; succeed."""
    _remember(event, context, "sync")


async def async_record(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A coroutine handler: record the event after yielding to the loop; succeed."""
    await asyncio.sleep(0)
    _remember(event, context, "async")
    return {"batchItemFailures": []}


def scripted(event: dict[str, Any], context: Any) -> Any:
    """Record the event and answer the next response of ``PLANS[function_name]``."""
    _remember(event, context, "sync")
    with _lock:
        plan = PLANS.get(context.function_name) or []
        response = plan.pop(0) if plan else None
    if callable(response):
        return response(event)
    return response
