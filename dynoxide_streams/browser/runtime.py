"""The engine as the browser worker runs it: one database, no server, no threads.

:class:`BrowserEngine` composes what ``service.py`` composes for a server — the
:class:`Store` (reads on the calling task: Pyodide has no threads), the one
:class:`Writer`, the :class:`StreamLog`, maintenance and the TTL sweeper — minus every
socket. The worker (``worker.mjs``) calls :meth:`send` with an ``X-Amz-Target`` and a
JSON body and gets ``(status, JSON body)`` back, exactly the bytes the server would
answer, errors rendered by ``wire/errors.py``. Push subscriptions run ``push/feed.py``
with a ``send`` that posts each frame to the page. After every commit group the
:class:`~dynoxide_streams.browser.mirror.Mirror` copies the change to a durable sink
(OPFS) before the Writer acknowledges it.

Runs on CPython too (the unit tests drive it there with an in-memory sink).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
import structlog
from anyio.abc import TaskStatus

from dynoxide_streams.browser.mirror import Mirror, Sink
from dynoxide_streams.clock import Clock, SystemClock, VirtualClock
from dynoxide_streams.engine import messages
from dynoxide_streams.engine.changes import LocalChangeSource
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.maintenance import repeat_until_shutdown, run_maintenance
from dynoxide_streams.engine.operations import (
    operation_for,
)
from dynoxide_streams.engine.shapes import validate_request
from dynoxide_streams.engine.store import Store
from dynoxide_streams.engine.trigger_store import TriggerStore
from dynoxide_streams.errors import (
    DynamoDBError,
    InternalServerError,
    SerializationException,
    UnknownOperationException,
)
from dynoxide_streams.push.feed import prepare, run_feed
from dynoxide_streams.push.protocol import (
    ProtocolError,
    Subscribe,
    Unsubscribe,
    frame,
    parse_message,
)
from dynoxide_streams.triggers.declared import trigger_params
from dynoxide_streams.triggers.functions import FunctionRegistry
from dynoxide_streams.triggers.runner import TriggerRunner
from dynoxide_streams.ttl.sweeper import run_sweeper, sweep
from dynoxide_streams.wire.errors import render_dynamodb_error

log = structlog.get_logger("dynoxide_streams.browser")

MAINTENANCE_PERIOD_SECONDS = 5.0
BACKGROUND_STOP_SECONDS = 5.0
"""How long stopping waits for the trigger runner, maintenance and TTL to end before
the Writer closes."""
MAX_SUBSCRIPTIONS = 256
"""Feeds one engine runs at once (each is a cursor, never a queue)."""

FrameSender = Callable[[str], Awaitable[None] | None]
JsHandler = Callable[[str], Awaitable[str]]
"""A page's trigger function: Lambda's event JSON in, the response JSON out (an
exception is a function error)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _parse(body: str) -> Any:
    """The request JSON; numbers beyond a double are read (the shape checks answer
    them), anything not JSON is DynamoDB's bare SerializationException."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise SerializationException(messages.NOT_JSON.format()) from None


class BrowserEngine:
    """One database served to one page's worker. Start with :meth:`run` in a task
    group (``await tg.start(engine.run)``); stop with :meth:`stop`."""

    def __init__(
        self,
        data_dir: Path | None,
        *,
        clock: str = "real",
        sink: Sink | None = None,
        ttl_period: float = 1.0,
        region: str = "us-east-1",
        account_id: str = "000000000000",
    ) -> None:
        self.data_dir = data_dir
        self.clock: Clock = VirtualClock() if clock == "virtual" else SystemClock()
        self._sink = sink
        self.ttl_period = ttl_period
        self.region, self.account_id = region, account_id
        self.ctx: EngineContext | None = None
        self.mirror: Mirror | None = None
        self._stopping = False
        self._failed = False
        self._wake = anyio.Event()
        self._ready = anyio.Event()
        self._declared: list[tuple[str | None, dict[str, Any]]] = []
        self.reopened = 0
        """How many times a failed sync made the engine reopen from the sink."""
        self.on_reopen: Callable[[], None] | None = None
        self._feeds: dict[str, anyio.CancelScope] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self.functions = FunctionRegistry()
        self.triggers: TriggerRunner | None = None

    # ----------------------------------------------------------------- lifecycle

    async def run(
        self, *, task_status: TaskStatus[BrowserEngine] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the database and serve until :meth:`stop`; close it on the way out.

        If a commit group cannot be made durable, the database is closed, its files
        are put back from the sink (the last synced state) and it is opened again:
        the refused writes do not remain, feeds end (``on_reopen`` tells the page to
        resubscribe) and triggers are declared again."""
        started = False
        while True:
            self._wake = anyio.Event()
            self._failed = False
            await self._serve_once(task_status if not started else None)
            started = True
            if self._stopping or not self._failed:
                return
            assert self.mirror is not None
            self.mirror.restore()
            self.reopened += 1
            if self.on_reopen is not None:
                self.on_reopen()

    async def _serve_once(self, task_status: TaskStatus[BrowserEngine] | None) -> None:
        mirror = None
        if self._sink is not None and self.data_dir is not None:
            # made before the store opens: what opening writes (a new database's
            # schema, a recovered WAL) is copied by the first sync below
            mirror = self.mirror or Mirror(self.data_dir / "data.db", self._sink, self._broken)
        store = Store.open(self.data_dir, read_pool_size=1)
        store.threads = False
        try:
            if mirror is not None:
                mirror.sync(True)
                self.mirror = mirror
                store.after_commit = mirror.sync
            # the browser keeps shard rotation and retention at the server's defaults
            ctx = EngineContext.open(
                store, self.clock, region=self.region, account_id=self.account_id
            )
            if mirror is not None:
                # opening commits outside the Writer (a new iterator secret): make it
                # durable before any iterator signed with it is handed out
                mirror.sync(False)
            writer = ctx.writer
            self.ctx = ctx
            self.triggers = TriggerRunner(
                LocalChangeSource(ctx),
                TriggerStore(ctx),
                self.functions,
                self.clock,
                region=self.region,
                account_id=self.account_id,
            )
            for table, params in self._declared:
                self.triggers.declare(table, params)
            async with anyio.create_task_group() as tg:
                self._tg = tg
                await tg.start(writer.run)
                background = anyio.CancelScope()
                background_done = anyio.Event()
                await tg.start(self._background, ctx, background, background_done)
                if task_status is not None:
                    task_status.started(self)
                self._ready.set()
                await self._wake.wait()
                self._ready = anyio.Event()
                background.cancel()
                # the trigger runner may be writing (a mapping's state, a checkpoint):
                # let it end before the Writer refuses, or it logs a failed poller
                with anyio.move_on_after(BACKGROUND_STOP_SECONDS):
                    await background_done.wait()
                for scope in self._feeds.values():
                    scope.cancel()
                writer.close()
        finally:
            self._tg = None
            store.close()

    def _broken(self) -> None:
        """The mirror could not sync: reopen from the sink once the group is answered."""
        self._failed = True
        self._wake.set()

    def stop(self) -> None:
        """Begin shutting down: queued writes finish, feeds end (idempotent)."""
        self._stopping = True
        self._wake.set()

    async def _background(
        self,
        ctx: EngineContext,
        scope: anyio.CancelScope,
        done: anyio.Event,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        assert self.triggers is not None
        try:
            with scope:
                async with anyio.create_task_group() as tg:
                    await tg.start(self.triggers.run)
                    task_status.started()
                    tg.start_soon(self._maintenance_loop, ctx)
                    if self.ttl_period > 0:
                        tg.start_soon(run_sweeper, ctx, self.ttl_period)
        finally:
            done.set()

    async def _maintenance_loop(self, ctx: EngineContext) -> None:
        async def until_due() -> None:
            with anyio.move_on_after(MAINTENANCE_PERIOD_SECONDS):
                await ctx.maintenance_due.wait()
            ctx.maintenance_due = anyio.Event()

        await repeat_until_shutdown(lambda: run_maintenance(ctx), until_due, lambda rows: None)

    async def _context(self) -> EngineContext:
        """The open database's context, waiting while it reopens."""
        if not self._ready.is_set():
            await self._ready.wait()
        assert self.ctx is not None
        return self.ctx

    # ------------------------------------------------------------------ requests

    async def send(self, target: str, body: str) -> tuple[int, str]:
        """Run one DynamoDB or Streams request (``X-Amz-Target``, JSON body); return
        the HTTP status and JSON body the server would answer, errors included."""
        try:
            status, payload = await self._dispatch(target, body)
        except DynamoDBError as error:
            status, payload = render_dynamodb_error(error)
        except Exception:
            log.exception("internal error", target=target)
            status, payload = render_dynamodb_error(InternalServerError("Internal server error"))
        return status, payload.decode("utf-8", "surrogatepass")

    async def _dispatch(self, target: str, body: str) -> tuple[int, bytes]:
        ctx = await self._context()
        prefix, _, operation = target.partition(".")
        handler = operation_for(prefix, operation)
        if handler is None:
            raise UnknownOperationException("")
        params = validate_request(prefix, operation, _parse(body))
        result = await handler(ctx, params)
        if isinstance(result, bytes):
            return 200, result
        return 200, orjson.dumps(result)

    # ------------------------------------------------------------- push frames

    async def subscribe(self, message: str, send: FrameSender) -> str | None:
        """Handle one push-protocol client message (``subscribe`` / ``unsubscribe``,
        as on the websocket). Returns the reply frame (``subscribed``, ``unsubscribed``
        or ``error``); a subscription's records then go to ``send`` as ``record``
        frames, in order, each awaited before the next is read."""
        ctx = await self._context()
        try:
            request = parse_message(message)
            if isinstance(request, Unsubscribe):
                scope = self._feeds.pop(request.id, None)
                if scope is not None:
                    scope.cancel()
                return json.dumps({"type": "unsubscribed", "id": request.id})
            if request.id in self._feeds:
                raise ProtocolError("BadRequest", "subscription id already in use", request.id)
            if len(self._feeds) >= MAX_SUBSCRIPTIONS:
                raise ProtocolError("TooManySubscriptions", "too many subscriptions", request.id)
            source = LocalChangeSource(ctx)
            arn, position = await prepare(source, request)
        except ProtocolError as error:
            return error.frame().decode()
        assert self._tg is not None
        scope = anyio.CancelScope()
        self._feeds[request.id] = scope
        self._tg.start_soon(self._feed, source, request, arn, position, send, scope)
        return frame("subscribed", request.id, arn, position=position).decode()

    def drop_subscriptions(self, prefix: str) -> int:
        """End every feed whose subscription id starts with ``prefix`` (a tab that
        went: ids are ``<tab id>:<n>``); return how many."""
        ended = [sid for sid in self._feeds if sid.startswith(prefix)]
        for sid in ended:
            self._feeds.pop(sid).cancel()
        return len(ended)

    async def _feed(
        self,
        source: LocalChangeSource,
        request: Subscribe,
        arn: str,
        position: str,
        send: FrameSender,
        scope: anyio.CancelScope,
    ) -> None:
        async def deliver(data: bytes) -> None:
            sent = send(data.decode("utf-8", "surrogatepass"))
            if sent is not None:
                await sent

        with scope:
            try:
                await run_feed(source, request.id, arn, position, deliver)
            finally:
                if self._feeds.get(request.id) is scope:
                    del self._feeds[request.id]

    # ------------------------------------------------------------------ triggers

    def add_trigger(self, name: str, params: str, handler: JsHandler) -> None:
        """Declare a trigger (``trigger_params`` keys as JSON: ``table``,
        ``batch_size``, ``filters``, ``function_response_types``, ...) whose function
        ``name`` is ``handler``: the server's mappings, batching, retry, bisect and
        partial-failure rules, with a page's function as the target. Raises
        ``TriggerFileError`` or the Lambda API's validation error for bad parameters."""

        async def call(event: dict[str, Any], context: object) -> Any:
            return json.loads(await handler(orjson.dumps(event).decode()))

        call.__name__ = name
        spec = trigger_params({**json.loads(params), "function": name})
        self.functions.register(name, call)
        if (spec.table, spec.params) in self._declared:
            return  # declared again (a tab re-registering its function): same mapping
        assert self.triggers is not None
        self.triggers.declare(spec.table, spec.params)
        self._declared.append((spec.table, spec.params))

    def forget_functions(self, names: list[str]) -> int:
        """Unregister the page functions ``names`` (their tab went): their mappings stay
        in the database with their checkpoints, and a batch for them fails (and is
        retried) until a tab declares them again. Returns how many were known."""
        return sum(self.functions.unregister(name) for name in names)

    def trigger_mappings(self) -> str:
        """The stored event source mappings as JSON, each with its checkpoints."""
        assert self.triggers is not None
        out = []
        for mapping in sorted(self.triggers.mappings.values(), key=lambda m: m.uuid):
            checkpoints = self.triggers.store.checkpoints(mapping.uuid)
            out.append(
                {
                    "uuid": mapping.uuid,
                    "functionName": mapping.function_name,
                    "eventSourceArn": mapping.event_source_arn,
                    "enabled": mapping.enabled,
                    "checkpoints": [
                        {"shardId": cp.shard_id, "position": cp.position} for cp in checkpoints
                    ],
                }
            )
        return json.dumps(out)

    # -------------------------------------------------------------- admin hooks

    async def sweep_ttl(self) -> int:
        """Expire every item whose TTL has passed by the engine's clock; the count."""
        return await sweep(await self._context())

    def advance_clock(self, seconds: float) -> float:
        """Move the virtual clock forward; its new epoch seconds. A real clock refuses."""
        if not isinstance(self.clock, VirtualClock):
            raise ValueError("the clock is not virtual (openDatabase({ clock: 'virtual' }))")
        return self.clock.advance(seconds)

    async def export_bytes(self) -> bytes:
        """The database as one SQLite file (WAL folded in), as ``serve --data-dir`` reads it."""
        store = (await self._context()).store
        store.write_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if self.mirror is not None:
            self.mirror.sync(True)
        return store.path.read_bytes()
