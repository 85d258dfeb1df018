"""The ASGI application: routing, body limits, request ids, CRC32 and error mapping.

``POST /`` (any path) carries DynamoDB operations, selected by ``X-Amz-Target``;
``GET /`` answers the health string AWS answers. Every response to a protocol request
has ``x-amzn-RequestId`` and ``x-amz-crc32`` (CRC32 of the exact body bytes, which
botocore verifies). ``OPTIONS`` on the protocol route answers CORS preflights, and a
protocol response or static file requested with an ``Origin`` carries the CORS headers
``wire/origins.py`` grants that Origin (none for a foreign one). Client errors are rendered by ``wire/errors.py``; any other
exception is logged and answered as a 500 InternalServerError, never a dropped
connection.
"""

from __future__ import annotations

import itertools
import json
import os
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn

import anyio
import orjson
import structlog

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.changes import ChangeSource, LocalChangeSource
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.operations import (
    DYNAMODB_PREFIX,
    OPERATIONS,
    STREAM_OPERATIONS,
    STREAMS_PREFIX,
    operation_for,
)
from dynoxide_streams.engine.shapes import validate_request
from dynoxide_streams.errors import (
    AccessDeniedException,
    DynamoDBError,
    InternalServerError,
    RequestEntityTooLarge,
    SerializationException,
    ServiceException,
    ServiceUnavailableException,
    SignatureError,
    UnknownOperationException,
)
from dynoxide_streams.triggers.runner import TriggerRunner
from dynoxide_streams.wire import sigv4
from dynoxide_streams.wire.admin import Admin
from dynoxide_streams.wire.asgi import (
    DYNAMODB_JSON,
    JSON,
    Headers,
    Receive,
    Scope,
    Send,
    send_response,
)
from dynoxide_streams.wire.body_memory import BodyHold, BodyMemory
from dynoxide_streams.wire.errors import (
    STATIC_NOT_FOUND,
    UNKNOWN_ROUTE,
    render_admin_error,
    render_dynamodb_error,
    render_lambda_error,
)
from dynoxide_streams.wire.lambda_api import PREFIX as LAMBDA_PREFIX
from dynoxide_streams.wire.lambda_api import LambdaApi
from dynoxide_streams.wire.origins import AccessPolicy
from dynoxide_streams.wire.static import PREFIX as STATIC_PREFIX
from dynoxide_streams.wire.static import lookup as static_lookup
from dynoxide_streams.wire.websocket import PATH as PUSH_PATH
from dynoxide_streams.wire.websocket import PushEndpoint

log = structlog.get_logger("dynoxide_streams.wire")
_UNSERVED_LOGGED = 256  # distinct unserved operation names logged per process
_UNSERVED_NAME_CHARS = 128  # longer X-Amz-Target values are logged cut to this

MAX_BODY_BYTES = 16 * 1024 * 1024
TABLES_PATH = "/_streams/tables"
TABLES_TIMEOUT = 5.0
DYNAMODB_SIGNING = ("dynamodb", sigv4.UNKNOWN_KEY)
"""(scope service, unknown-key text) of DynamoDB and Streams (botocore signs Streams as
``dynamodb``; DynamoDB's text has no final period)."""
LAMBDA_SIGNING = ("lambda", sigv4.UNKNOWN_KEY + ".")
"""(scope service, unknown-key text) of the Lambda API (Lambda's text ends with ".")."""
_REQUEST_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_REQUEST_ID_COUNTER_MASK = (1 << 48) - 1
_CONTENT_TYPE_HEADERS = {
    DYNAMODB_JSON: (b"content-type", DYNAMODB_JSON),
    JSON: (b"content-type", JSON),
}
"""The ``content-type`` header of a protocol response, per content type it echoes."""


class RequestIds:
    """Request ids in AWS's form (52 upper-case alphanumerics), unique per server:
    a random 40-character prefix chosen at start plus a 12-digit upper-case hex counter
    (2**48 ids before it wraps)."""

    def __init__(self) -> None:
        self._prefix = "".join(_REQUEST_ID_ALPHABET[b % 36] for b in os.urandom(40))
        self._count = itertools.count(int.from_bytes(os.urandom(4), "big"))

    def next(self) -> str:
        return f"{self._prefix}{next(self._count) & _REQUEST_ID_COUNTER_MASK:012X}"


class App:
    """The ASGI callable served by uvicorn."""

    def __init__(
        self,
        ctx: EngineContext,
        *,
        bind_host: str = "127.0.0.1",
        token: str | None = None,
        allowed_origins: tuple[str, ...] = (),
        stall_timeout: float = 30.0,
        triggers: TriggerRunner | None = None,
        allowed_hosts: tuple[str, ...] = (),
        source: ChangeSource | None = None,
        upstream: str | None = None,
        sweep: Callable[[], Awaitable[int]] | None = None,
        credentials: Mapping[str, str] | None = None,
        max_body_memory: int = 256 * 1024 * 1024,
    ) -> None:
        self.ctx = ctx
        self.body_memory = BodyMemory(max_body_memory)
        self.access = AccessPolicy(
            bind_host=bind_host,
            token=token,
            allowed_hosts=allowed_hosts,
            allowed_origins=allowed_origins,
            credentials=credentials,
        )
        self._health = f"healthy: dynamodb.{ctx.region}.amazonaws.com ".encode()
        self._request_ids = RequestIds()
        self.upstream = upstream  # sidecar mode: DynamoDB requests belong upstream
        self._unserved: set[str] = set()  # operations asked for and not served, logged once
        self.mcp: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        """``/mcp`` (``serve --mcp``): set by the service to ``mcp/http.py``'s handler."""
        self.admin = Admin(ctx, access=self.access, triggers=triggers, sweep=sweep)
        self.lambda_api = (
            None if triggers is None else LambdaApi(triggers, ctx.metrics, access=self.access)
        )
        self._requests = ctx.metrics.requests
        self._known_targets = frozenset(
            [f"{DYNAMODB_PREFIX}.{op}" for op in OPERATIONS]
            + [f"{STREAMS_PREFIX}.{op}" for op in STREAM_OPERATIONS]
        )
        ctx.metrics.gauge(
            "dynoxide_websocket_subscribers",
            "Live push subscriptions over all websocket connections.",
            lambda: [((), float(self.push.subscriptions))],
        )
        if triggers is not None:
            ctx.metrics.gauge(
                "dynoxide_trigger_lag_records",
                "Records of the mapping's stream after its slowest lane's checkpoint.",
                triggers.lag,
            )
        self.source = source if source is not None else LocalChangeSource(ctx)
        self.push = PushEndpoint(self.source, access=self.access, stall_timeout=stall_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v for k, v in scope["headers"] if k == b"host"), None)
            if not self.access.host_allowed(host):
                log.warning("request refused: host not allowed", host=host, path=scope["path"])
                if scope["type"] == "websocket":
                    await receive()
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    status, body = render_dynamodb_error(_host_refused(host))
                    await send_response(send, status, body, [(b"content-type", DYNAMODB_JSON)])
                return
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            if scope["path"] == PUSH_PATH:
                await self.push(scope, receive, send)
            else:
                await receive()
                await send({"type": "websocket.close", "code": 1008})
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if self.mcp is not None and scope["path"] in ("/mcp", "/mcp/"):
            await self.mcp(scope, receive, send)
        elif scope["path"].startswith("/_admin/"):
            await self._admin(scope, receive, send)
        elif scope["path"].startswith(LAMBDA_PREFIX) and self.lambda_api is not None:
            await self._lambda(scope, receive, send)
        elif method == "POST":
            await self._protocol(scope, receive, send)
        elif method == "OPTIONS":
            await self._preflight(scope, send)
        elif method in ("GET", "HEAD") and scope["path"] == "/":
            await send_response(send, 200, self._health, [(b"content-type", b"text/plain")])
        elif method in ("GET", "HEAD") and scope["path"] == TABLES_PATH:
            await self._tables(send, head=method == "HEAD")
        elif method in ("GET", "HEAD") and scope["path"].startswith(STATIC_PREFIX):
            found = static_lookup(scope["path"])
            if found is None:
                await _send_fixed(send, STATIC_NOT_FOUND)
            else:
                headers = dict(scope["headers"])
                await send_response(
                    send,
                    200,
                    found[0] if method == "GET" else b"",
                    [
                        (b"content-type", found[1]),
                        (b"cache-control", b"no-cache"),
                        (b"x-content-type-options", b"nosniff"),
                        *self.access.cors_headers(headers.get(b"origin"), headers.get(b"host")),
                    ],
                )
        else:
            await _send_fixed(send, UNKNOWN_ROUTE)

    async def _tables(self, send: Send, *, head: bool) -> None:
        """``GET /_streams/tables``: ``{"TableNames": [...]}``, the tables the push
        endpoint serves (every table here; the watched ones in sidecar mode)."""
        names: list[str] | None = None
        try:
            with anyio.fail_after(TABLES_TIMEOUT):
                names = await self.source.tables()
        except Exception as exc:  # an upstream that is down, slow or refusing
            log.warning("table list unavailable", error=f"{type(exc).__name__}: {exc}")
        if names is None:
            status, body = render_admin_error(
                503, "ServiceUnavailable", "the table list is unavailable"
            )
        else:
            status, body = 200, orjson.dumps({"TableNames": names})
        headers = [(b"content-type", JSON), (b"cache-control", b"no-cache")]
        await send_response(send, status, b"" if head else body, headers)

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = JSON
        try:
            async with self.body_memory.hold() as hold:
                body = await read_body(receive, hold, declared_length_of(scope))
                status, payload, content_type = await self.admin.handle(
                    scope["method"],
                    scope["path"],
                    dict(scope["headers"]),
                    body,
                    scope.get("query_string", b""),
                )
        except RequestEntityTooLarge:
            status, payload = render_admin_error(413, "TooLarge")
        except ServiceUnavailableException as exc:
            status, payload = render_admin_error(503, "ServiceUnavailable", exc.message)
        except Exception:
            log.exception("admin request failed", path=scope["path"])
            status, payload = render_admin_error(500, "InternalServerError")
        await send_response(send, status, payload, [(b"content-type", content_type)])

    async def _lambda(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.lambda_api is not None
        try:
            async with self.body_memory.hold() as hold:
                body = await read_body(receive, hold, declared_length_of(scope))
                refusal = self._signature_refusal(scope, body, LAMBDA_SIGNING)
                if refusal is not None:
                    raise refusal
                status, payload, headers = await self.lambda_api.handle(
                    scope["method"],
                    scope["path"],
                    scope.get("query_string", b""),
                    body,
                    dict(scope["headers"]),
                )
        except DynamoDBError as error:
            status, payload, headers = render_lambda_error(error)
        except Exception:
            log.exception("internal error", path=scope["path"])
            status, payload, headers = render_lambda_error(
                ServiceException("Internal server error")
            )
        if not any(name == b"content-type" for name, _ in headers):
            headers.append((b"content-type", JSON))
        await send_response(send, status, payload, headers)

    async def _protocol(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, headers, payload = await self.answer_protocol(
            scope, BodyHold(self.body_memory), receive
        )
        await send_response(send, status, payload, headers)

    async def answer_protocol(
        self, scope: Scope, hold: BodyHold, receive: Receive | None, body: bytes = b""
    ) -> tuple[int, Headers, bytes]:
        """(status, headers without ``content-length``, body) of a DynamoDB or Streams
        request (``POST``; the Host check already passed). The body is read from
        ``receive`` into ``hold``; with ``receive=None`` it is ``body``, already read and
        reserved in ``hold`` (``wire/direct.py``). ``hold`` is released here, once the
        answer is computed. Both paths answer through this method, so they answer the
        same bytes."""
        rid = self._request_ids.next()
        target = ""
        content_type = DYNAMODB_JSON
        declared_length = -1
        origin: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-amz-target":
                target = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length" and value.isdigit():
                declared_length = int(value)
            elif name == b"origin":
                origin = value
        error_name = ""
        try:
            try:
                if receive is not None:
                    body = await read_body(receive, hold, declared_length)
                if self.access.checks_signatures:
                    refusal = self._signature_refusal(scope, body, DYNAMODB_SIGNING)
                    if refusal is not None:
                        raise refusal
                status, payload = await self._dispatch(target, body)
            finally:
                hold.release()
        except DynamoDBError as error:
            error_name = error.name
            status, payload = render_dynamodb_error(error)
        except Exception:
            log.exception("internal error", target=target, request_id=rid)
            error_name = "InternalServerError"
            status, payload = render_dynamodb_error(InternalServerError("Internal server error"))
        operation = target if target in self._known_targets else "unknown"
        self._requests.inc(operation=operation, error=error_name)
        log.debug("request", target=operation, status=status, error=error_name, request_id=rid)
        headers = [
            _CONTENT_TYPE_HEADERS.get(content_type) or _CONTENT_TYPE_HEADERS[DYNAMODB_JSON],
            (b"x-amzn-requestid", rid.encode()),
            (b"x-amz-crc32", b"%d" % zlib.crc32(payload)),
        ]
        if origin is not None:  # a browser: CORS headers if its Origin is allowed
            host = next((v for k, v in scope["headers"] if k == b"host"), None)
            headers += self.access.api_cors_headers(origin, host)
        return status, headers, payload

    async def _preflight(self, scope: Scope, send: Send) -> None:
        """``OPTIONS`` on the protocol route: 200 with no body, and the CORS preflight
        headers ``wire/origins.py`` grants (none for a foreign Origin, which makes the
        browser refuse the request it asked about)."""
        headers = dict(scope["headers"])
        cors = self.access.preflight_headers(
            headers.get(b"origin"),
            headers.get(b"host"),
            headers.get(b"access-control-request-method"),
            headers.get(b"access-control-request-headers"),
        )
        await send_response(send, 200, b"", cors)

    def _signature_refusal(
        self, scope: Scope, body: bytes, signing: tuple[str, str]
    ) -> SignatureError | None:
        """The one SigV4 check (before any parsing or validation) of a DynamoDB,
        Streams (``DYNAMODB_SIGNING``) or Lambda (``LAMBDA_SIGNING``) request."""
        raw_path = scope.get("raw_path") or scope["path"].encode()
        request = sigv4.Request(
            method=scope["method"],
            raw_path=raw_path.decode("latin-1"),
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            body=body,
        )
        service, unknown_key = signing
        return self.access.signature_refusal(
            request, service=service, unknown_key_message=unknown_key
        )

    def _note_unserved(self, target: str) -> None:
        """Log (at INFO) an operation this server does not serve, the first time it is
        asked for; at most ``_UNSERVED_LOGGED`` names are remembered, so a client
        sending made-up names cannot grow memory or flood the log."""
        name = target[:_UNSERVED_NAME_CHARS]
        if name in self._unserved or len(self._unserved) >= _UNSERVED_LOGGED:
            return
        self._unserved.add(name)
        api, dot, operation = name.rpartition(".")
        log.info("operation not served", operation=operation, api=api if dot else None)

    async def _dispatch(self, target: str, body: bytes) -> tuple[int, bytes]:
        prefix, _, operation = target.partition(".")
        if self.upstream is not None:
            raise UnknownOperationException(
                f"This is a dynoxide-streams sidecar: send {prefix or 'DynamoDB'} requests "
                f"to the upstream engine at {self.upstream}"
            )
        handler = operation_for(prefix, operation)
        if handler is None:
            self._note_unserved(target)
            raise UnknownOperationException("")
        try:
            params = orjson.loads(body)
        except orjson.JSONDecodeError:
            params = _json_beyond_doubles(body)
        params = validate_request(prefix, operation, params)
        result = await handler(self.ctx, params)
        if isinstance(result, bytes):
            return 200, result
        return 200, orjson.dumps(result)


def declared_length_of(scope: Scope) -> int:
    """The request's Content-Length, or -1 when it has none (or a malformed one)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return -1


async def read_body(receive: Receive, hold: BodyHold, declared_length: int) -> bytes:
    """The whole request body, its bytes reserved in ``hold`` (all of a declared length
    up front). Raises RequestEntityTooLarge over MAX_BODY_BYTES and
    ServiceUnavailableException when ``--max-body-memory`` has no room in time."""
    if declared_length > MAX_BODY_BYTES:
        raise RequestEntityTooLarge("Request entity too large")
    await hold.reserve(declared_length)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestEntityTooLarge("Request entity too large")
        await hold.reserve(size)  # beyond the declared length: a chunked body
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send_fixed(send: Send, response: tuple[int, bytes, bytes]) -> None:
    """Send one of ``wire/errors.py``'s fixed (status, body, content type) answers."""
    status, body, content_type = response
    await send_response(send, status, body, [(b"content-type", content_type)])


def _host_refused(host: bytes | None) -> AccessDeniedException:
    shown = "" if host is None else host.decode("latin-1")
    return AccessDeniedException(
        f"Host {shown!r} is not allowed (DNS-rebinding protection); "
        "start the server with --allowed-host NAME to serve it"
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(name)


def _json_beyond_doubles(body: bytes) -> Any:
    """Parse a body orjson refused. orjson refuses valid JSON whose numbers do not fit a
    double (``1e9999``, a 400-digit integer); those are read here (integers exactly,
    other numbers as floats, possibly infinite) so the shape checks answer them as they
    answer any wrong number. Anything else is not JSON: a SerializationException with
    no message, as DynamoDB sends."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise SerializationException(messages.NOT_JSON.format()) from None
