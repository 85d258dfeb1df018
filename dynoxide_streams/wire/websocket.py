"""The push websocket at ``/_streams/ws``: the handshake and connection plumbing.

A handshake is accepted only when ``wire/origins.py`` allows its Origin and, when a
token is configured, it carries the token; refused handshakes get HTTP 403.

One connection may hold several subscriptions, each a feed task in the connection's
task group. Sends are serialised; a send that cannot complete within
``stall_timeout`` closes the connection with code 4008, so a stalled client costs a
cursor for at most that long and never an unbounded buffer (``wire/limits.py`` then
aborts the transport if even the close frame cannot be flushed). A client that goes away
mid-send is normal: the connection ends quietly.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import orjson
import structlog

from dynoxide_streams.engine.changes import ChangeSource
from dynoxide_streams.wire.asgi import Receive, Scope, Send
from dynoxide_streams.wire.origins import AccessPolicy

log = structlog.get_logger("dynoxide_streams.push")

PATH = "/_streams/ws"
CLOSE_STALLED = 4008
CLOSE_GOING_AWAY = 1001


class PushEndpoint:
    """The ASGI websocket handler of ``/_streams/ws``; ``access`` decides who may connect."""

    def __init__(
        self, source: ChangeSource, *, access: AccessPolicy, stall_timeout: float = 30.0
    ) -> None:
        self.source = source
        self.access = access
        self.subscriptions = 0  # live subscriptions over every connection
        self.stall_timeout = stall_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # the push feed is imported on the first upgrade: a server no websocket client
        # talks to never loads it
        from dynoxide_streams.push.feed import prepare, run_feed
        from dynoxide_streams.push.protocol import (
            MAX_SUBSCRIPTIONS,
            ProtocolError,
            Unsubscribe,
            frame,
            parse_message,
        )

        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = dict(scope["headers"])
        origin, host = headers.get(b"origin"), headers.get(b"host")
        if not self.access.origin_allowed(origin, host) or not self.access.push_allowed(
            scope.get("query_string", b""), headers.get(b"authorization")
        ):
            await send({"type": "websocket.close", "code": 1008})  # handshake → HTTP 403
            return
        await send({"type": "websocket.accept"})
        lock = anyio.Lock()
        stalled = False

        async def send_frame(data: bytes) -> None:
            await anyio.lowlevel.checkpoint_if_cancelled()  # an unsubscribed feed sends nothing
            async with lock:
                with anyio.fail_after(self.stall_timeout):
                    try:
                        await send({"type": "websocket.send", "text": data.decode()})
                    except OSError:  # ASGI: the client is gone (uvicorn's ClientDisconnected)
                        log.debug("push client went away mid-send")
                        tg.cancel_scope.cancel()
                        await anyio.lowlevel.checkpoint()  # ends the caller: it is cancelled

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
            with anyio.move_on_after(1, shield=True):  # then wire/limits.py aborts it
                try:
                    await send({"type": "websocket.close", "code": CLOSE_STALLED})
                except Exception:  # the peer is already gone
                    return


def _quote(text: str) -> bytes:
    return orjson.dumps(text)
