"""The push websocket at ``/_streams/ws``: access checks and connection plumbing.

Before accepting, the Origin must be allowed (no Origin header: a non-browser client;
same origin as the Host header; a loopback origin; or one given with
``--allowed-origin``) and, when a token is configured, the request must carry it
(``?token=`` — browsers cannot set headers on websockets — or a bearer header).
Refused handshakes get HTTP 403.

One connection may hold several subscriptions, each a feed task in the connection's
task group. Sends are serialised; a send that cannot complete within
``stall_timeout`` closes the connection with code 4008, so a stalled client costs a
cursor for at most that long and never an unbounded buffer.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.lowlevel
import orjson
import structlog

from dynoxide_streams.engine.changes import ChangeSource
from dynoxide_streams.push.feed import prepare, run_feed
from dynoxide_streams.push.protocol import (
    MAX_SUBSCRIPTIONS,
    ProtocolError,
    Unsubscribe,
    frame,
    parse_message,
)
from dynoxide_streams.wire.admin import is_loopback

log = structlog.get_logger("dynoxide_streams.push")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
SendASGI = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PATH = "/_streams/ws"
CLOSE_STALLED = 4008
CLOSE_GOING_AWAY = 1001


class PushEndpoint:
    def __init__(
        self,
        source: ChangeSource,
        *,
        token: str | None,
        allowed_origins: tuple[str, ...] = (),
        stall_timeout: float = 30.0,
    ) -> None:
        self.source = source
        self.token = token
        self.allowed_origins = frozenset(o.rstrip("/") for o in allowed_origins)
        self.subscriptions = 0  # live subscriptions over every connection
        self.stall_timeout = stall_timeout

    # ------------------------------------------------------------------ access

    def origin_allowed(self, headers: dict[bytes, bytes]) -> bool:
        origin = headers.get(b"origin")
        if origin is None:
            return True
        text = origin.decode("latin-1").rstrip("/")
        if text in self.allowed_origins:
            return True
        parts = urlsplit(text)
        if parts.hostname is not None and is_loopback(parts.hostname):
            return True
        host = headers.get(b"host", b"").decode("latin-1")
        return parts.netloc == host and bool(host)

    def token_ok(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        if self.token is None:
            return True
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.get("token", [""])[0]
        bearer = headers.get(b"authorization", b"").decode("latin-1")
        return hmac.compare_digest(given.encode(), self.token.encode()) or hmac.compare_digest(
            bearer.encode(), f"Bearer {self.token}".encode()
        )

    # -------------------------------------------------------------- connection

    async def __call__(self, scope: Scope, receive: Receive, send: SendASGI) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = dict(scope["headers"])
        if not self.origin_allowed(headers) or not self.token_ok(scope, headers):
            await send({"type": "websocket.close", "code": 1008})  # handshake → HTTP 403
            return
        await send({"type": "websocket.accept"})
        lock = anyio.Lock()
        stalled = False

        async def send_frame(data: bytes) -> None:
            await anyio.lowlevel.checkpoint_if_cancelled()  # an unsubscribed feed sends nothing
            async with lock:
                with anyio.fail_after(self.stall_timeout):
                    await send({"type": "websocket.send", "text": data.decode()})

        feeds: dict[str, anyio.CancelScope] = {}

        async def feed(
            subscription_id: str, arn: str, position: str, scope_: anyio.CancelScope
        ) -> None:
            nonlocal stalled
            self.subscriptions += 1
            with scope_:
                try:
                    await run_feed(self.source, subscription_id, arn, position, send_frame)
                except TimeoutError:
                    stalled = True
                    log.info("push client stalled; closing", subscription=subscription_id)
                    tg.cancel_scope.cancel()
                finally:
                    self.subscriptions -= 1
                    if feeds.get(subscription_id) is scope_:  # a re-subscription may own the id now
                        del feeds[subscription_id]

        try:
            async with anyio.create_task_group() as tg:
                while True:
                    message = await receive()
                    if message["type"] == "websocket.disconnect":
                        tg.cancel_scope.cancel()
                        break
                    data = message.get("text") or message.get("bytes") or b""
                    try:
                        request = parse_message(data)
                        if isinstance(request, Unsubscribe):
                            cancel = feeds.pop(request.id, None)
                            if cancel is None:
                                raise ProtocolError("NotFound", "no such subscription", request.id)
                            cancel.cancel()
                            await send_frame(
                                b'{"type":"unsubscribed","id":' + _quote(request.id) + b"}"
                            )
                            continue
                        if request.id in feeds:
                            raise ProtocolError(
                                "BadRequest", "subscription id already in use", request.id
                            )
                        if len(feeds) >= MAX_SUBSCRIPTIONS:
                            raise ProtocolError(
                                "LimitExceeded",
                                f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection",
                                request.id,
                            )
                        arn, position = await prepare(self.source, request)
                        await send_frame(frame("subscribed", request.id, arn, position=position))
                        feeds[request.id] = anyio.CancelScope()
                        tg.start_soon(feed, request.id, arn, position, feeds[request.id])
                    except ProtocolError as exc:
                        await send_frame(exc.frame())
        except TimeoutError:
            stalled = True
        if stalled:
            with anyio.move_on_after(1), anyio.CancelScope(shield=True):
                try:
                    await send({"type": "websocket.close", "code": CLOSE_STALLED})
                except Exception:  # the peer is already gone
                    return


def _quote(text: str) -> bytes:
    return orjson.dumps(text)
