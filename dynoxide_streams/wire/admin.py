"""The admin API under ``/_admin/`` (JSON in, JSON out; metrics as Prometheus text).

``GET /_admin/health`` is open to everyone and reveals nothing. Everything else is
served only to callers ``wire/origins.py`` admits (the bearer token, or a loopback
bind when no token is configured), and a POST only when it is no cross-site request
and a body is sent as ``application/json`` (``AccessPolicy.cross_site_refusal``).

Routes: ``GET /_admin/metrics`` (Prometheus text), ``GET|POST /_admin/clock``
(``{"advance_seconds": N}`` or ``{"set_epoch_seconds": T}``, virtual clock only; the
clock stays within 0 to 253402300799, anything else is a 400),
``POST /_admin/streams/rotate`` (``{"table": NAME}`` or ``{"stream_arn": ARN}``),
``POST /_admin/ttl/sweep`` (expire what is due now; answers ``{"expired": N}``) and
``GET /_admin/triggers/dead-letters`` (``?uuid=`` one mapping's, ``?after=ID`` paging;
answers ``{"DeadLetters": [...]}``, each ``{"Id", "UUID", "Created", "Error", "Record"}``
with the failure record Lambda would have sent to the OnFailure destination, and
``Error`` = ``TYPE: message`` of the last failed invocation (null if the batch was
discarded before any invocation failed)).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from dynoxide_streams.engine.admin_ops import rotate_shards
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.errors import DynamoDBError, ValidationException
from dynoxide_streams.metrics import CONTENT_TYPE as METRICS_TYPE
from dynoxide_streams.triggers.events import dead_letter_view
from dynoxide_streams.triggers.runner import TriggerRunner
from dynoxide_streams.ttl.sweeper import sweep
from dynoxide_streams.wire.asgi import JSON
from dynoxide_streams.wire.errors import render_admin_error
from dynoxide_streams.wire.origins import AccessPolicy


class AdminError(Exception):
    """An admin API error: its HTTP status, name and message."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


class Admin:
    """Routes admin requests; ``handle`` returns (status, body, content type)."""

    def __init__(
        self,
        ctx: EngineContext,
        *,
        access: AccessPolicy,
        triggers: TriggerRunner | None = None,
        sweep: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.ctx = ctx
        self._sweep = sweep  # sidecar mode: sweep the upstream instead
        self.triggers = triggers
        self.access = access

    async def handle(
        self,
        method: str,
        path: str,
        headers: dict[bytes, bytes],
        body: bytes,
        query: bytes = b"",
    ) -> tuple[int, bytes, bytes]:
        """(status, body, content type) of an admin request: JSON, or the metrics text."""
        try:
            if path == "/_admin/health" and method == "GET":
                return 200, b'{"status":"ok"}', JSON
            if not self.access.admin_allowed(headers.get(b"authorization")):
                raise AdminError(403, "Forbidden", "admin access needs a bearer token")
            refusal = self.access.cross_site_refusal(method, headers, has_body=bool(body))
            if refusal is not None:
                raise refusal
            if path == "/_admin/metrics" and method == "GET":
                return 200, self.ctx.metrics.render(), METRICS_TYPE
            payload = self._json(body) if method == "POST" else {}
            if path == "/_admin/triggers/dead-letters" and method == "GET":
                return 200, orjson.dumps(self._dead_letters(query)), JSON
            result = await self._route(method, path, payload)
            return 200, orjson.dumps(result), JSON
        except (AdminError, DynamoDBError) as exc:
            return *render_admin_error(exc.status, exc.name, exc.message), JSON

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            payload = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            raise AdminError(400, "BadRequest", "body is not JSON") from None
        if not isinstance(payload, dict):
            raise AdminError(400, "BadRequest", "body must be a JSON object")
        return payload

    async def _route(self, method: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        if path == "/_admin/clock" and method in ("GET", "POST"):
            return self._clock(payload if method == "POST" else None)
        if path == "/_admin/streams/rotate" and method == "POST":
            table, arn = payload.get("table"), payload.get("stream_arn")
            if not isinstance(table, (str, type(None))) or not isinstance(arn, (str, type(None))):
                raise ValidationException("table and stream_arn must be strings")
            return await rotate_shards(self.ctx, table=table, stream_arn=arn)
        if path == "/_admin/ttl/sweep" and method == "POST":
            if self._sweep is not None:
                return {"expired": await self._sweep()}
            return {"expired": await sweep(self.ctx)}
        raise AdminError(404, "NotFound", f"no admin route {method} {path}")

    def _dead_letters(self, query: bytes) -> dict[str, Any]:
        if self.triggers is None:
            raise AdminError(404, "NotFound", "triggers are not running")
        params = parse_qs(query.decode("latin-1"))
        uuid = params.get("uuid", [None])[-1]
        after = params.get("after", ["0"])[-1]
        if after is None or not after.isdigit():
            raise AdminError(400, "BadRequest", "after must be a non-negative integer")
        rows = self.triggers.store.dead_letters(uuid, int(after))
        return {"DeadLetters": [dead_letter_view(row) for row in rows]}

    def _clock(self, change: dict[str, Any] | None) -> dict[str, Any]:
        clock: Any = self.ctx.clock
        virtual = bool(getattr(clock, "virtual", False))
        if change is not None:
            if not virtual:
                raise AdminError(400, "BadRequest", "the clock is real; start with --clock virtual")
            if "advance_seconds" in change:
                seconds = change["advance_seconds"]
                if (
                    not isinstance(seconds, (int, float))
                    or isinstance(seconds, bool)
                    or seconds < 0
                ):
                    raise AdminError(400, "BadRequest", "advance_seconds must be a number >= 0")
                _move(clock.advance, "advance_seconds", seconds)
            elif "set_epoch_seconds" in change:
                moment = change["set_epoch_seconds"]
                if not isinstance(moment, (int, float)) or isinstance(moment, bool):
                    raise AdminError(400, "BadRequest", "set_epoch_seconds must be a number")
                _move(clock.set, "set_epoch_seconds", moment)
            else:
                raise AdminError(400, "BadRequest", "give advance_seconds or set_epoch_seconds")
            self.ctx.wake_maintenance()
        return {"now": clock.now(), "virtual": virtual}


def _move(change: Callable[[float], float], key: str, value: float) -> None:
    """Apply a virtual clock change; a value the clock refuses (a time outside 0 to
    253402300799) is a 400 naming ``key``."""
    try:
        change(value)
    except ValueError as exc:
        raise AdminError(400, "BadRequest", f"{key}: {exc}") from None
