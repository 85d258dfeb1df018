"""The running server: composes the store, the writer, background tasks and HTTP.

:class:`Service` owns one task group holding every long-lived task (the writer, which
also checkpoints the WAL; maintenance — purges and index backfills; the HTTP server). ``await
tg.start(service.run)`` returns once the socket is listening. :meth:`Service.stop`
begins a graceful shutdown: HTTP stops accepting and finishes in-flight requests, the
writer commits what it was given, background tasks are cancelled, and the WAL is
checkpointed as the database closes.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import structlog
import uvicorn
from anyio.abc import TaskStatus

from dynoxide_streams.clock import Clock, SystemClock, VirtualClock
from dynoxide_streams.config import (
    ConfigError,
    Settings,
    check_credentials,
    load_config_file,
    load_credentials_file,
)
from dynoxide_streams.datadir import DataDirLock
from dynoxide_streams.engine.changes import ChangeSource, LocalChangeSource
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.maintenance import repeat_until_shutdown, run_maintenance
from dynoxide_streams.engine.store import Store
from dynoxide_streams.engine.trigger_store import TriggerStore
from dynoxide_streams.errors import DynamoDBError
from dynoxide_streams.logs import oplog
from dynoxide_streams.triggers.declared import (
    TriggerFileError,
    TriggerSpec,
    load_trigger_file,
    parse_function_flag,
    parse_trigger_data,
)
from dynoxide_streams.triggers.functions import FunctionRegistry, add_app_dir
from dynoxide_streams.triggers.runner import TriggerRunner, check_declaration
from dynoxide_streams.ttl.sweeper import run_sweeper
from dynoxide_streams.wire import App
from dynoxide_streams.wire.direct import direct_protocols
from dynoxide_streams.wire.limits import ConnectionLimits, install_limit_answer
from dynoxide_streams.wire.origins import is_loopback

if TYPE_CHECKING:
    from dynoxide_streams.sidecar.runtime import Sidecar  # imported by `sidecar` only

log = structlog.get_logger("dynoxide_streams")

MAINTENANCE_PERIOD_SECONDS = 5.0


class _UvicornServer(uvicorn.Server):
    """uvicorn without its own signal handling; reports when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = anyio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class UnsafeBind(Exception):
    """A network bind without a token (and without --insecure-no-auth)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 = a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def make_clock(kind: str | Clock) -> Clock:
    if not isinstance(kind, str):
        return kind
    if kind == "virtual":
        return VirtualClock()
    if kind == "real":
        return SystemClock()
    raise ValueError(f"unknown clock {kind!r} (expected 'real' or 'virtual')")


def _credentials(settings: Settings, given: Mapping[str, str] | None) -> dict[str, str] | None:
    """The SigV4 keys to require: ``given``, else ``--credentials``' file (logging a
    warning when others than its owner may read it), else None. Raises ConfigError."""
    if given is not None:
        return check_credentials(given, "credentials")
    if settings.credentials is None:
        return None
    keys, mode = load_credentials_file(settings.credentials)
    if mode & 0o077:
        log.warning(
            "credentials file readable by others than its owner (expected mode 0600)",
            path=str(settings.credentials),
            mode=f"{mode:04o}",
        )
    return keys


class Service:
    """One server instance. Not reusable: create a new one to start again."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        functions: FunctionRegistry | None = None,
        triggers: list[TriggerSpec] | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        """``credentials`` (access key id -> secret) replaces ``settings.credentials``'
        file. Raises ConfigError for a bad credentials file or mapping."""
        self.settings = settings
        self.credentials = _credentials(settings, credentials)
        self.clock = clock if clock is not None else make_clock(settings.clock)
        self.endpoint = ""
        self.ctx: EngineContext | None = None
        self.triggers: TriggerRunner | None = None
        self.source: ChangeSource | None = None  # what push and triggers read
        self.app: App | None = None  # the ASGI app being served (for tests)
        self.sidecar: Sidecar | None = None
        self.functions = functions or FunctionRegistry(settings.function_timeout)
        self._declared = list(triggers or [])
        self._stop = anyio.Event()
        self.mcp_token: str | None = None  # serve --mcp: the bearer token of /mcp
        self._mcp_token_new = False
        self._load_declarations()

    def _load_declarations(self) -> None:
        """Functions and triggers from ``--function`` and ``--triggers`` (raises
        TriggerFileError before anything starts)."""
        settings = self.settings
        specs = [parse_function_flag(flag) for flag in settings.function]
        if settings.config:
            try:
                _, sections = load_config_file(settings.config)
            except ConfigError as exc:
                raise TriggerFileError(str(exc)) from None
            loaded = parse_trigger_data(sections, settings.config)
            specs = loaded.functions + specs
            self._declared = loaded.triggers + self._declared
        if settings.triggers:
            loaded = load_trigger_file(Path(settings.triggers))
            specs = loaded.functions + specs
            self._declared = loaded.triggers + self._declared
        for spec in specs:
            try:
                self.functions.register(spec.name, spec.target, timeout=spec.timeout)
            except ValueError as exc:
                raise TriggerFileError(f"function {spec.name}: {exc}") from None
        for declared in self._declared:
            try:
                check_declaration(
                    declared.table,
                    declared.params,
                    self.functions,
                    settings.region,
                    settings.account_id,
                )
            except DynamoDBError as exc:
                where = declared.table or declared.params.get("EventSourceArn")
                raise TriggerFileError(f"trigger on {where}: {exc.name}: {exc.message}") from None

    def stop(self) -> None:
        """Begin a graceful shutdown (idempotent)."""
        self._stop.set()

    async def run(self, *, task_status: TaskStatus[Service] = anyio.TASK_STATUS_IGNORED) -> None:
        settings = self.settings
        if (
            not is_loopback(settings.host)
            and settings.token is None
            and not settings.insecure_no_auth
        ):
            raise UnsafeBind(
                f"refusing to listen on {settings.host} without --token: the admin API and the "
                "push websocket would be open to the network (give --token, or "
                "--insecure-no-auth if that is really intended)"
            )
        if settings.mcp:
            from dynoxide_streams.mcp.http import McpTokenError, resolve_token

            try:
                self.mcp_token, self._mcp_token_new = resolve_token(
                    settings.mcp_token, settings.host
                )
            except McpTokenError as exc:
                raise UnsafeBind(str(exc)) from None
        add_app_dir(settings.app_dir)
        with contextlib.ExitStack() as held:
            lock = None if settings.in_memory else DataDirLock.acquire(settings.data_dir)
            if lock is not None:
                held.callback(lock.release)
            sock = bind_socket(settings.host, settings.port)
            held.callback(sock.close)
            host, port = sock.getsockname()[:2]
            shown_host = f"[{host}]" if ":" in host else host
            self.endpoint = f"http://{shown_host}:{port}"
            if lock is not None:
                lock.record_port(port)
            store = Store.open(None if settings.in_memory else settings.data_dir)
            held.callback(store.close)
            try:
                await self._run(store, sock, task_status)
            finally:
                held.close()
                oplog.info("stopped", endpoint=self.endpoint)

    async def _run(
        self, store: Store, sock: socket.socket, task_status: TaskStatus[Service]
    ) -> None:
        settings = self.settings
        ctx = EngineContext.open(
            store,
            self.clock,
            region=settings.region,
            account_id=settings.account_id,
            retention_seconds=settings.stream_retention_seconds,
            rotation_seconds=settings.shard_rotation_seconds or None,
            rotation_records=settings.shard_rotation_records or None,
            strict_ttl_limits=settings.strict_ttl_limits,
        )
        writer = ctx.writer
        self.ctx = ctx
        source: ChangeSource
        if settings.upstream:
            from dynoxide_streams.sidecar.runtime import Sidecar

            self.sidecar = Sidecar(
                settings.upstream,
                settings.region,
                self.clock,
                tables=None if settings.all_tables or not settings.tables else settings.tables,
                ttl_sweep=settings.ttl_sweep,
                ttl_period=settings.ttl_period,
                ttl_sweep_rate=settings.ttl_sweep_rate,
                lease_table=settings.lease_table,
                lease_duration=settings.lease_duration,
            )
            source = self.sidecar.source
        else:
            source = LocalChangeSource(ctx)
        self.source = source
        triggers = TriggerRunner(
            source,
            TriggerStore(ctx),
            self.functions,
            self.clock,
            region=settings.region,
            account_id=settings.account_id,
            leases=None if self.sidecar is None else self.sidecar.leases,
        )
        for spec in self._declared:
            try:
                triggers.declare(spec.table, spec.params)
            except DynamoDBError as exc:
                raise TriggerFileError(
                    f"trigger on {spec.table or spec.params.get('EventSourceArn')}: {exc.name}: {exc.message}"
                ) from None
        self.triggers = triggers
        limits = ConnectionLimits(
            max_connections=settings.max_connections,
            header_timeout=settings.header_timeout,
            max_header_bytes=settings.max_header_bytes,
        )
        app = App(
            ctx,
            bind_host=settings.host,
            token=settings.token,
            allowed_origins=tuple(settings.allowed_origin),
            stall_timeout=settings.ws_stall_timeout,
            triggers=triggers,
            allowed_hosts=tuple(settings.allowed_host),
            source=source,
            upstream=settings.upstream,
            sweep=None if self.sidecar is None else self.sidecar.sweep_now,
            credentials=self.credentials,
            max_body_memory=settings.max_body_memory,
        )
        mcp_manager: Any = None
        if settings.mcp:
            from dynoxide_streams.mcp_main import mount_http

            mcp_manager = mount_http(self, app)
        self.app = app
        # httptools and websockets-sansio with wire/limits.py's limits, and wire/direct.py's
        # direct path for plain DynamoDB requests
        http_protocol, ws_protocol = direct_protocols(limits, app)
        config = uvicorn.Config(
            app,
            http=http_protocol,
            ws=ws_protocol,
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
            ws_max_size=1024 * 1024,
            lifespan="off",
            # uvicorn counts the connection being served: N connections need N + 1
            limit_concurrency=settings.max_connections + 1 if settings.max_connections else None,
            timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]  # call_later takes a float
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=10,
            server_header=False,
            proxy_headers=False,
            date_header=False,
        )
        install_limit_answer()
        server = _UvicornServer(config)
        async with anyio.create_task_group() as tg:
            await tg.start(writer.run)
            background = anyio.CancelScope()
            await tg.start(self._background, ctx, triggers, background)
            http_done = anyio.Event()

            async def serve_http() -> None:
                try:
                    await server.serve(sockets=[sock])
                finally:
                    http_done.set()

            if mcp_manager is not None:
                await tg.start(self._serve_mcp, mcp_manager)
            tg.start_soon(serve_http)
            with anyio.fail_after(30):
                await server.ready.wait()
            started = {
                "endpoint": self.endpoint,
                "upstream": settings.upstream,
                "data": "in-memory" if settings.in_memory else str(settings.data_dir),
                "clock": "virtual" if getattr(self.clock, "virtual", False) else "real",
            }
            oplog.info("listening", **{k: v for k, v in started.items() if v is not None})
            if self._mcp_token_new and self.mcp_token is not None:
                from dynoxide_streams.mcp.http import client_snippet

                print(client_snippet(f"{self.endpoint}/mcp", self.mcp_token), file=sys.stderr)
            task_status.started(self)
            await self._stop.wait()
            oplog.info("shutting down", endpoint=self.endpoint)
            server.should_exit = True
            await http_done.wait()
            background.cancel()
            writer.close()

    async def _serve_mcp(
        self, manager: Any, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the MCP session manager (``serve --mcp``) until the service stops: its
        sessions end first, so their SSE streams do not hold the HTTP drain."""
        async with manager.run():
            task_status.started()
            await self._stop.wait()

    async def _background(
        self,
        ctx: EngineContext,
        triggers: TriggerRunner,
        scope: anyio.CancelScope,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        with scope:
            async with anyio.create_task_group() as tg:
                await tg.start(triggers.run)
                task_status.started()
                tg.start_soon(self._maintenance_loop, ctx)
                if self.sidecar is not None:
                    tg.start_soon(self.sidecar.run)
                elif self.settings.ttl_period > 0:
                    tg.start_soon(run_sweeper, ctx, self.settings.ttl_period)

    async def _maintenance_loop(self, ctx: EngineContext) -> None:
        async def until_due() -> None:
            with anyio.move_on_after(MAINTENANCE_PERIOD_SECONDS):  # retention needs ticks
                await ctx.maintenance_due.wait()
            ctx.maintenance_due = anyio.Event()

        await repeat_until_shutdown(
            lambda: run_maintenance(ctx),
            until_due,
            lambda rows: log.debug("maintenance done", rows=rows),
        )
