"""The admin API under ``/_admin/`` (JSON in, JSON out).

``GET /_admin/health`` is open to everyone and reveals nothing. Everything else needs
``Authorization: Bearer <token>`` when a token is configured; with no token it is
served only when the server listens on a loopback address.

Routes: ``GET|POST /_admin/clock`` (``{"advance_seconds": N}`` or
``{"set_epoch_seconds": T}``, virtual clock only), ``POST /_admin/streams/rotate``
(``{"table": NAME}`` or ``{"stream_arn": ARN}``), ``POST /_admin/ttl/sweep`` (expire
what is due now; answers ``{"expired": N}``) and ``GET /_admin/triggers/dead-letters``
(``?uuid=`` one mapping's, ``?after=ID`` paging; answers ``{"DeadLetters": [...]}``,
each ``{"Id", "UUID", "Created", "Record"}`` with the failure record Lambda would have
sent to the OnFailure destination).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from dynoxide_streams.engine.admin_ops import rotate_shards
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.errors import DynamoDBError, ValidationException
from dynoxide_streams.triggers.runner import TriggerRunner
from dynoxide_streams.ttl.sweeper import sweep


class AdminError(Exception):
    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Admin:
    """Routes admin requests; ``handle`` returns (status, JSON body)."""

    def __init__(
        self,
        ctx: EngineContext,
        *,
        bind_host: str,
        token: str | None,
        triggers: TriggerRunner | None = None,
        sweep: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.ctx = ctx
        self._sweep = sweep  # sidecar mode: sweep the upstream instead
        self.triggers = triggers
        self.token = token
        self.loopback = is_loopback(bind_host)

    def authorized(self, headers: dict[bytes, bytes]) -> bool:
        if self.token is None:
            return self.loopback
        given = headers.get(b"authorization", b"").decode("latin-1")
        return hmac.compare_digest(given, f"Bearer {self.token}")

    async def handle(
        self,
        method: str,
        path: str,
        headers: dict[bytes, bytes],
        body: bytes,
        query: bytes = b"",
    ) -> tuple[int, bytes]:
        """(status, JSON body) of an admin request (metrics: see :meth:`metrics`)."""
        try:
            if path == "/_admin/health" and method == "GET":
                return 200, b'{"status":"ok"}'
            if not self.authorized(headers):
                raise AdminError(403, "Forbidden", "admin access needs a bearer token")
            payload = self._json(body) if method == "POST" else {}
            if path == "/_admin/triggers/dead-letters" and method == "GET":
                return 200, orjson.dumps(self._dead_letters(query))
            result = await self._route(method, path, payload)
            return 200, orjson.dumps(result)
        except AdminError as exc:
            return exc.status, orjson.dumps({"error": exc.name, "message": exc.message})
        except DynamoDBError as exc:
            return exc.status, orjson.dumps({"error": exc.name, "message": exc.message})

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
        return {
            "DeadLetters": [
                {"Id": i, "UUID": u, "Created": c, "Record": body} for i, u, c, body in rows
            ]
        }

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
                clock.advance(float(seconds))
            elif "set_epoch_seconds" in change:
                moment = change["set_epoch_seconds"]
                if not isinstance(moment, (int, float)) or isinstance(moment, bool):
                    raise AdminError(400, "BadRequest", "set_epoch_seconds must be a number")
                clock.set(float(moment))
            else:
                raise AdminError(400, "BadRequest", "give advance_seconds or set_epoch_seconds")
            self.ctx.wake_maintenance()
        return {"now": clock.now(), "virtual": virtual}
