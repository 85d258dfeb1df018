"""Wake-ups from a server's push websocket, for ``mcp --endpoint``.

:class:`PushWokenSource` wraps the HTTP change source of an attached server
(``UpstreamChangeSource``, whose own ``wait_for_records`` is a 0.25 s poll) and replaces
only the waiting: one websocket to the server's ``/_streams/ws`` (``push/protocol.py``),
subscribed from LATEST to each stream a reader has read, and every ``record`` frame
wakes the waiters at once. Records are still read by position through the Streams API,
so a wake-up lost (the websocket not yet subscribed, or gone) costs only latency: the
waiters read anyway every second (every 0.25 s while the websocket is down). The
inner source must keep no empty tail page (``poll_seconds=0``), or a read right after a
wake-up could be answered from before the write.

The websocket runs in :meth:`run` (a task of the caller's task group); a broken
connection is reopened after a second, its subscriptions renewed.
"""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import orjson
import structlog
from anyio.abc import TaskStatus

from dynoxide_streams.engine.changes import ChangeSource, ReadResult, ShardView, StreamView

log = structlog.get_logger("dynoxide_streams.mcp")

PUSH_PATH = "/_streams/ws"
MAX_STREAMS = 64  # subscriptions one push connection may hold (push/protocol.py)
RECONNECT_SECONDS = 1.0
READY_SECONDS = 2.0  # how long start_position waits for the push subscription
POLL_CONNECTED = 1.0  # read anyway this often while the websocket is up
POLL_ALONE = 0.25  # and this often while it is down (as a sidecar polls)


class PushWokenSource:
    """``inner``'s reads, woken by the push websocket of the server at ``url``."""

    def __init__(self, inner: ChangeSource, url: str, token: str | None) -> None:
        self.inner = inner
        self.ws_url = (
            url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
            + PUSH_PATH
        )
        self._token = token
        self._connected = False
        self._mark = 0
        self._woken = anyio.Event()
        self._wanted: dict[str, None] = {}  # stream ARNs to subscribe to, in order
        self._want_more = anyio.Event()
        self._ready: dict[str, anyio.Event] = {}  # set once the server confirmed
        self.frames = 0  # record frames received (for tests)

    # ------------------------------------------------------------ waking

    async def wait_for_records(self, after_commit: int, timeout: float) -> int:
        """Return as soon as a record frame arrived after mark ``after_commit``, or
        after ``POLL_CONNECTED`` seconds (``POLL_ALONE`` while the websocket is down)."""
        if self._mark > after_commit:
            return self._mark
        fallback = POLL_CONNECTED if self._connected else POLL_ALONE
        with anyio.move_on_after(min(timeout, fallback)):
            await self._woken.wait()
        if self._mark == after_commit:
            self._mark += 1  # nothing heard: the caller reads anyway (poll fallback)
        return self._mark

    @property
    def high_water(self) -> int:
        return self._mark

    def _wake(self) -> None:
        self._mark += 1
        woken, self._woken = self._woken, anyio.Event()
        woken.set()

    def _want(self, stream_arn: str) -> None:
        if stream_arn not in self._wanted and len(self._wanted) < MAX_STREAMS:
            self._wanted[stream_arn] = None
            self._ready[stream_arn] = anyio.Event()
            self._want_more.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Keep the websocket open and subscribed until cancelled."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        headers = {} if self._token is None else {"Authorization": f"Bearer {self._token}"}
        task_status.started()
        ids = itertools.count()
        warned = False  # one WARNING per outage; a reconnect re-arms it
        while True:
            try:
                async with connect(self.ws_url, additional_headers=headers) as ws:
                    self._connected = True
                    warned = False
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._subscribe_wanted, ws, ids)
                        async for frame in ws:
                            kind = _kind(frame)
                            if kind == "record":
                                self.frames += 1
                                self._wake()
                            elif kind == "subscribed":
                                arn = orjson.loads(frame).get("streamArn")
                                if arn in self._ready:
                                    self._ready[arn].set()
                        tg.cancel_scope.cancel()
            except (OSError, WebSocketException, ValueError) as exc:
                # a wrong --token (401/403), a server gone or a frame that is not JSON:
                # notifications fall back to polling until the websocket is back
                (log.debug if warned else log.warning)(
                    "push websocket unavailable; polling", url=self.ws_url, error=str(exc)
                )
                warned = True
            finally:
                self._connected = False
            await anyio.sleep(RECONNECT_SECONDS)

    async def _subscribe_wanted(self, ws: Any, ids: itertools.count[int]) -> None:
        """Subscribe ``ws`` to every wanted stream, now and whenever one is added."""
        subscribed: set[str] = set()
        while True:
            self._want_more = anyio.Event()
            for arn in list(self._wanted):
                if arn not in subscribed:
                    subscribed.add(arn)
                    message = {
                        "action": "subscribe",
                        "id": f"w{next(ids)}",
                        "streamArn": arn,
                        "from": "LATEST",
                    }
                    await ws.send(orjson.dumps(message).decode())
            await self._want_more.wait()

    # ------------------------------------------------------ the rest: inner

    async def tables(self) -> list[str]:
        return await self.inner.tables()

    async def list_streams(self, table: str) -> list[StreamView]:
        return await self.inner.list_streams(table)

    async def stream(self, stream_arn: str) -> StreamView | None:
        return await self.inner.stream(stream_arn)

    async def describe_shards(self, stream_arn: str) -> list[ShardView]:
        return await self.inner.describe_shards(stream_arn)

    async def start_position(self, stream_arn: str, where: str) -> str | None:
        """The inner source's answer, once the websocket follows the stream (at most
        ``READY_SECONDS``): a subscriber starting from LATEST is woken by the very
        next write."""
        self._want(stream_arn)
        ready = self._ready.get(stream_arn)
        if ready is not None and self._connected:
            with anyio.move_on_after(READY_SECONDS):
                await ready.wait()
        return await self.inner.start_position(stream_arn, where)

    async def shard_for(self, stream_arn: str, after: str) -> str | None:
        return await self.inner.shard_for(stream_arn, after)

    async def child_of(self, stream_arn: str, shard_id: str) -> str | None:
        return await self.inner.child_of(stream_arn, shard_id)

    async def read(
        self, stream_arn: str, shard_id: str, after: str, limit: int
    ) -> ReadResult | None:
        self._want(stream_arn)
        return await self.inner.read(stream_arn, shard_id, after, limit)

    @property
    def streams_generation(self) -> int:
        return self.inner.streams_generation

    def newest_known(self, stream_arn: str) -> str | None:
        return self.inner.newest_known(stream_arn)


def _kind(frame: Any) -> str | None:
    """A push frame's ``type``, read from its head (a record is not parsed)."""
    head = frame[:40] if isinstance(frame, (str, bytes)) else ""
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    for kind in ("record", "subscribed"):
        if f'"type":"{kind}"' in text:
            return kind
    return None
