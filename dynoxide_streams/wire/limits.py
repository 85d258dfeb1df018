"""Connection-level limits enforced below ASGI, inside uvicorn's protocol objects.

This is the one module that reaches below uvicorn's public API. ASGI has no notion of
a connection that has not yet sent a request, of a request head still being read, or of
a transport to abort, so these limits cannot be written as ASGI middleware:

* **Header timeout** (``--header-timeout``): a connection must deliver a complete
  request head within the timeout of its first byte (of connecting, for the first
  request), or it is closed without an answer. The same timeout bounds a body that
  stops arriving: no body byte for that long (while the server is reading) closes the
  connection, so a request that declares a body and never sends it does not hold its
  slot and its ``--max-body-memory`` reservation for ever.
* **Head size** (``--max-header-bytes``): a request line plus headers over the limit is
  answered 431 with a DynamoDB-shaped ``RequestHeaderFieldsTooLarge`` and the connection
  closed, as soon as the limit is passed — before httptools has buffered the rest.
* **Idle eviction** (``--max-connections``): a connection is *idle* while it has no
  request in flight (it has not sent a complete head yet, or it is a keep-alive
  connection between requests). When a new connection would take the open connections
  past ``--max-connections``, the oldest idle connection is closed to make room, so a
  flood of sockets that send nothing cannot hold the slots; only *busy* connections
  (a request in flight, or a websocket) make new requests get the 503.
* **The 503 over the limit**: uvicorn's plain-text answer is replaced with DynamoDB's
  JSON error shape (:func:`install_limit_answer`), so SDKs report
  ``ServiceUnavailableException``.
* **Websocket hard close**: once a websocket connection is closed (the app finished,
  the closing handshake timed out, a keepalive ping went unanswered), the transport has
  :data:`WS_ABORT_GRACE_SECONDS` to flush; then it is aborted. A plain
  ``transport.close()`` waits for unsent data forever, so a client that stopped
  reading (its close frame queued behind megabytes) would otherwise keep its slot.

What it relies on, from uvicorn 0.54.0 (pinned in constraints.txt) with httptools 0.9
and websockets 17.4:

* ``uvicorn.Config(http=cls, ws=cls)`` accepting protocol classes, and uvicorn creating
  them as ``cls(config=, server_state=, app_state=, _loop=)`` (the websocket one from the
  HTTP protocol's upgrade, with the same transport).
* ``HttpToolsProtocol``: the asyncio ``Protocol`` methods; the httptools parser
  callbacks ``on_url``, ``on_header``, ``on_headers_complete``, ``on_body``,
  ``on_message_complete``, ``on_response_complete`` and ``handle_websocket_upgrade``;
  the attributes ``transport``, ``loop``, ``cycle``, ``flow`` (``read_paused``: uvicorn
  stopped reading), ``connections`` (the server's set
  of open connections, websockets included, which ``limit_concurrency`` is checked
  against; a connection leaves it with ``discard`` in ``connection_lost``),
  ``timeout_keep_alive_task`` and ``_unset_keepalive_if_required``;
  ``send_400_response``, called when a parser callback raises; and the module global
  ``service_unavailable`` it answers over ``limit_concurrency`` with.
* ``WebSocketsSansIOProtocol``: ``connection_made`` / ``connection_lost`` and every
  close going through ``self.transport.close()``.

If uvicorn changes any of these, tests/wire/test_connection_limits.py fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from dynoxide_streams.errors import RequestHeaderFieldsTooLarge, ServiceUnavailableException
from dynoxide_streams.wire.asgi import DYNAMODB_JSON, Receive, Scope, Send
from dynoxide_streams.wire.errors import render_dynamodb_error

log = structlog.get_logger("dynoxide_streams.wire")

LIMIT_MESSAGE = "Too many concurrent connections; try again later (see --max-connections)"
WS_ABORT_GRACE_SECONDS = 2.0
"""How long a closed websocket transport may take to flush before it is aborted."""


async def _service_unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    status, body = render_dynamodb_error(ServiceUnavailableException(LIMIT_MESSAGE))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", DYNAMODB_JSON),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def install_limit_answer() -> None:
    """Make uvicorn's over-the-limit 503 a DynamoDB-shaped JSON error (idempotent)."""
    import sys

    # h11's protocol is patched only if something loaded it: the server runs httptools'
    # (``protocols``), and importing h11 just to patch it costs start-up time
    for name in ("uvicorn.protocols.http.httptools_impl", "uvicorn.protocols.http.h11_impl"):
        module = sys.modules.get(name)
        if module is not None:
            setattr(module, "service_unavailable", _service_unavailable)  # noqa: B010


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop httptools once a head is refused."""


class ConnectionLimits:
    """The limits of one server, shared by its connections, and the idle connections
    in the order they became idle (the first is the one evicted first).

    :meth:`protocols` gives the protocol classes to hand to ``uvicorn.Config``.
    """

    def __init__(
        self, *, max_connections: int, header_timeout: float, max_header_bytes: int
    ) -> None:
        self.max_connections = max_connections  # 0: no limit, no eviction
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self._idle: OrderedDict[LimitedHttpProtocol, None] = OrderedDict()

    def protocols(self) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
        """(HTTP protocol class, websocket protocol class) enforcing these limits."""

        class Http(LimitedHttpProtocol):
            limits = self

        return Http, _HardClosingWebSocketProtocol

    def mark_idle(self, connection: LimitedHttpProtocol) -> None:
        """``connection`` has no request in flight from now on (the newest idle one)."""
        self._idle.pop(connection, None)
        self._idle[connection] = None

    def mark_busy(self, connection: LimitedHttpProtocol) -> None:
        """``connection`` has a request in flight, is a websocket now, or is gone."""
        self._idle.pop(connection, None)

    def make_room(self, newcomer: LimitedHttpProtocol, open_connections: int) -> None:
        """Close the oldest idle connection(s) while the open ones exceed the limit."""
        if not self.max_connections:
            return
        excess = open_connections - self.max_connections
        while excess > 0:
            victim = next((c for c in self._idle if c is not newcomer), None)
            if victim is None:
                return  # every other connection is busy: the newcomer's request gets 503
            self._idle.pop(victim)
            victim.close_idle("evicted")
            excess -= 1


class _Timer:
    """A one-shot timer on the event loop that can be re-armed: :meth:`arm` (re)starts
    the countdown of ``delay`` seconds, :meth:`cancel` stops it, and ``callback`` runs
    when it runs out (the timer is then no longer :attr:`armed`)."""

    __slots__ = ("_callback", "_delay", "_handle", "_loop")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[[], None]
    ) -> None:
        self._loop, self._delay, self._callback = loop, delay, callback
        self._handle: asyncio.TimerHandle | None = None

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def arm(self) -> None:
        self.cancel()
        self._handle = self._loop.call_later(self._delay, self._expired)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expired(self) -> None:
        self._handle = None
        self._callback()


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the header timeout, the head-size cap and the
    idle bookkeeping of :class:`ConnectionLimits`."""

    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        delay = self.limits.header_timeout
        self._header_timer = _Timer(self.loop, delay, self._header_timeout_expired)
        self._body_timer = _Timer(self.loop, delay, self._body_timeout_expired)
        self._in_head = True  # reading a request head, or waiting for the next one
        self._head_bytes = 0  # bytes received while in a head (an upper bound of its size)
        self._head_size = 0  # exact size of the head parsed so far
        self._refused = False
        self._upgraded = False
        self._head_begun = False  # a request head has started arriving
        self._in_body = False  # a request body is being read
        self._messages = 0  # complete requests read on this connection

    # --------------------------------------------------------------- connection events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_header_timer()
        self.limits.mark_idle(self)
        self.limits.make_room(self, len(self.connections))

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()
        self.limits.mark_busy(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        messages = self._messages
        super().data_received(data)
        # the timers are armed once the bytes are parsed, not per parser callback: a
        # request that arrives whole in one read arms and cancels none of them
        if self._refused or self._upgraded:
            return
        if self._in_head:
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse_head()
                return
            if not self._header_timer.armed and (self._head_begun or messages == self._messages):
                self._arm_header_timer()  # a head under way (or bytes that are no request)
        if self._in_body:
            self._arm_body_timer()  # body bytes may still come: their stall timeout

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # after a 431 the parser error is ours: nothing more to say
            super().send_400_response(msg)

    def handle_websocket_upgrade(self) -> None:
        self._upgraded = True
        self._cancel_header_timer()
        self._cancel_body_timer()
        self.limits.mark_busy(self)
        super().handle_websocket_upgrade()

    # ------------------------------------------------------------------ parser events

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0
        self._head_begun = True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._count_head(len(name) + len(value) + 4)

    def on_headers_complete(self) -> None:
        self._head_complete()
        super().on_headers_complete()

    def _head_complete(self) -> None:
        """A request head has been read: the header timer stops, the connection is busy."""
        self._in_head = False
        self._head_begun = False
        self._in_body = True  # until on_message_complete, even when there is no body
        self._head_bytes = 0
        self._cancel_header_timer()
        # a request answered inside the parser callback (wire/direct.py) may have armed
        # the keep-alive timer while this pipelined one was still being read
        self._unset_keepalive_if_required()
        self.limits.mark_busy(self)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._message_read()

    def _message_read(self) -> None:
        """A whole request has been read: whatever comes next is the next one's head."""
        self._in_body = False
        self._cancel_body_timer()
        self._in_head = True
        self._messages += 1

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # kept alive, nothing pipelined
            self.limits.mark_idle(self)

    # ------------------------------------------------------------------------ limits

    def close_idle(self, reason: str) -> None:
        """Close this connection, which has no request in flight (nothing is answered).

        It leaves the server's set of open connections at once, not when asyncio
        reports it lost a loop iteration later: it holds no slot from now on."""
        self._cancel_header_timer()
        self.limits.mark_busy(self)
        self.connections.discard(self)
        if not self.transport.is_closing():
            log.debug("idle connection closed", reason=reason, client=self.client)
            self.transport.close()

    def _count_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.limits.max_header_bytes:
            self._refuse_head()
            raise _HeadTooLarge  # httptools stops parsing; uvicorn's 400 is suppressed

    def _refuse_head(self) -> None:
        """Answer 431 (DynamoDB JSON) and close the connection."""
        self._refused = True
        self._cancel_header_timer()
        self.limits.mark_busy(self)
        limit = self.limits.max_header_bytes
        error = RequestHeaderFieldsTooLarge(
            f"Request header fields too large: the request line and headers exceed {limit} "
            "bytes (see --max-header-bytes)"
        )
        status, body = render_dynamodb_error(error)
        log.warning("request head too large; refused", client=self.client, limit=limit)
        if self.transport.is_closing():
            return
        self.transport.write(
            b"HTTP/1.1 %d Request Header Fields Too Large\r\n"
            b"content-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, DYNAMODB_JSON, len(body), body)
        )
        self.transport.close()

    def _arm_header_timer(self) -> None:
        if not self._upgraded:
            self._header_timer.arm()

    def _cancel_header_timer(self) -> None:
        self._header_timer.cancel()

    def _arm_body_timer(self) -> None:
        self._body_timer.arm()

    def _cancel_body_timer(self) -> None:
        self._body_timer.cancel()

    def _body_timeout_expired(self) -> None:
        """No body byte for the header timeout: the client stalled mid-body (the app
        reads ``http.disconnect``), unless it is this side that stopped reading."""
        if self._upgraded or self.transport.is_closing():
            return
        if self.flow.read_paused:  # flow control or pipelining: not the client's stall
            self._arm_body_timer()
            return
        log.debug("request body stalled; closed", client=self.client)
        self.connections.discard(self)
        self.transport.close()

    def _header_timeout_expired(self) -> None:
        if not self._in_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_header_timer()  # a pipelined head behind a request still running
            return
        self.close_idle("header timeout")


class _AbortingTransport(asyncio.Transport):
    """A transport whose ``close()`` becomes ``abort()`` if the connection is not gone
    within :data:`WS_ABORT_GRACE_SECONDS` (unsent data is then dropped)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._abort_timer: asyncio.TimerHandle | None = None
        self.lost = False

    def close(self) -> None:
        self._transport.close()
        if not self.lost and self._abort_timer is None:
            self._abort_timer = self._loop.call_later(WS_ABORT_GRACE_SECONDS, self._abort_late)

    def _abort_late(self) -> None:
        self._abort_timer = None
        if not self.lost:
            log.info(
                "websocket did not close in time; aborted",
                unsent=self._transport.get_write_buffer_size(),
            )
            sock = self._transport.get_extra_info("socket")
            if sock is not None:  # a reset, not a FIN queued behind the unsent data
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._transport.abort()

    def connection_lost(self) -> None:
        self.lost = True
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None

    def abort(self) -> None:
        self._transport.abort()

    def write(self, data: bytes | bytearray | memoryview[int]) -> None:
        self._transport.write(data)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


class _HardClosingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets protocol whose closes cannot hang on a client that has
    stopped reading: see :class:`_AbortingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(_AbortingTransport(cast(asyncio.Transport, transport), self.loop))

    def connection_lost(self, exc: Exception | None) -> None:
        transport = self.transport
        if isinstance(transport, _AbortingTransport):
            transport.connection_lost()
        super().connection_lost(exc)
