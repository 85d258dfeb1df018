"""The embedded server: run dynoxide-streams inside a test suite or an application.

    async with Server() as srv:            # inside an anyio/asyncio program
        boto3.client("dynamodb", endpoint_url=srv.endpoint, ...)

    with Server().run_in_thread() as srv:  # from synchronous code (e.g. pytest)
        ...

By default it listens on a free loopback port and keeps its data in a throwaway
database; pass ``data_dir=`` to persist, ``clock="virtual"`` to control time.

Triggers (Lambda event source mappings) can be declared from code, before or after
start; a declaration names a table and is bound to its stream once it has one::

    srv = Server()

    @srv.trigger("Orders", batch_size=10, function_response_types=["ReportBatchItemFailures"])
    def on_order(event, context):
        ...

    srv.register_function("audit", "http://127.0.0.1:9000/2015-03-31/functions/function/invocations")
    srv.add_trigger("Orders", "audit", filters=['{"eventName": ["REMOVE"]}'])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.from_thread
import structlog
from anyio.abc import TaskGroup
from anyio.from_thread import BlockingPortal

from dynoxide_streams.clock import Clock
from dynoxide_streams.config import Settings
from dynoxide_streams.engine.admin_ops import rotate_shards
from dynoxide_streams.engine.faults import Faults
from dynoxide_streams.logs import configure
from dynoxide_streams.service import Service, make_clock
from dynoxide_streams.triggers.declared import TriggerSpec, trigger_params
from dynoxide_streams.triggers.functions import FunctionRegistry, Handler
from dynoxide_streams.triggers.runner import check_declaration
from dynoxide_streams.ttl.sweeper import sweep


class Server:
    """An embedded dynoxide-streams server (see the module docstring)."""

    def __init__(
        self,
        *,
        port: int = 0,
        data_dir: str | Path | None = None,
        clock: str | Clock = "real",
        log_level: str = "warning",
        **settings: Any,
    ) -> None:
        """``settings`` are any of ``serve``'s settings (:class:`config.Settings`, e.g.
        ``token="t"``, ``allowed_host=["app.test"]``) with their command-line defaults,
        except: a free port, a throwaway database unless ``data_dir`` is given, and
        warnings-only logs. ``clock`` may also be a :class:`Clock` to share, and
        ``credentials`` a mapping of access key id -> secret key instead of a file.
        Raises
        TypeError for an unknown setting, ConfigError for a value out of bounds."""
        self._credentials: Mapping[str, str] | None = None
        if isinstance(settings.get("credentials"), Mapping):
            self._credentials = settings.pop("credentials")
        chosen: dict[str, Any] = {"port": port, "log_level": log_level, **settings}
        if data_dir is None:
            chosen.setdefault("in_memory", True)
        else:
            chosen["data_dir"] = data_dir
        if isinstance(clock, str):
            chosen["clock"] = clock
        self.settings = Settings.from_keywords("serve", chosen)
        if not structlog.is_configured():
            configure(self.settings.log_level, self.settings.log_format)
        self.clock: Any = make_clock(clock)
        self.functions = FunctionRegistry(self.settings.function_timeout)
        self._declared: list[TriggerSpec] = []
        self._service: Service | None = None
        self._tg: TaskGroup | None = None
        self._portal: BlockingPortal | None = None

    @property
    def endpoint(self) -> str:
        """``http://host:port`` of the running server."""
        if self._service is None:
            raise RuntimeError("the server is not running")
        return self._service.endpoint

    async def rotate_shards(self, table: str) -> dict[str, Any]:
        """Close the open shard of ``table``'s stream and open its child (async form)."""
        assert self._service is not None and self._service.ctx is not None
        return await rotate_shards(self._service.ctx, table=table)

    def rotate_shards_sync(self, table: str) -> dict[str, Any]:
        """:meth:`rotate_shards` for a server running in a thread (``run_in_thread``)."""
        if self._portal is None:
            raise RuntimeError("rotate_shards_sync needs a server started with run_in_thread()")
        result: dict[str, Any] = self._portal.call(self.rotate_shards, table)
        return result

    async def sweep_ttl(self) -> int:
        """Expire every item whose TTL has passed (by ``clock``) now; return the count."""
        assert self._service is not None and self._service.ctx is not None
        return await sweep(self._service.ctx)

    def sweep_ttl_sync(self) -> int:
        """:meth:`sweep_ttl` for a server running in a thread (``run_in_thread``)."""
        if self._portal is None:
            raise RuntimeError("sweep_ttl_sync needs a server started with run_in_thread()")
        expired: int = self._portal.call(self.sweep_ttl)
        return expired

    def inject_disk_full(self, *, commits: int = 0, checkpoints: int = 0) -> Faults:
        """Test hook: make the next ``commits`` write commits and ``checkpoints`` WAL
        checkpoints fail with SQLite's ``SQLITE_FULL``, as on a full disk (see
        ``engine/faults.py``); return the :class:`Faults`, whose ``pending()`` says how
        many are still armed. Thread-safe; there is no network route to it."""
        if self._service is None or self._service.ctx is None:
            raise RuntimeError("the server is not running")
        faults = self._service.ctx.store.faults
        faults.disk_full(commits=commits, checkpoints=checkpoints)
        return faults

    # ---------------------------------------------------------------- triggers

    def register_function(
        self, name: str, target: str | Handler, *, timeout: float | None = None
    ) -> None:
        """Register function ``name``: a Python callable ``(event, context)`` (sync or
        async), ``python:package.module:handler``, ``http(s)://…`` or ``cmd:…``."""
        self.functions.register(name, target, timeout=timeout)

    def add_trigger(
        self,
        table: str | None,
        function: str | Handler,
        *,
        timeout: float | None = None,
        **params: Any,
    ) -> None:
        """Declare a trigger: invoke ``function`` with ``table``'s stream records.

        ``function`` is a registered function name, a callable (registered under its
        ``__name__``) or a target string (registered under ``name=``). ``params`` are
        CreateEventSourceMapping parameters in snake_case (``batch_size=10``) or AWS
        spelling, plus ``filters=[pattern, ...]`` and ``on_failure=URL``; give
        ``event_source_arn=`` and ``table=None`` to name a stream directly.
        StartingPosition defaults to TRIM_HORIZON. The mapping is created once the
        table has a stream (and again if the table is re-created). Raises
        ValueError or the Lambda API's validation error for bad parameters.
        """
        name = params.pop("name", None)
        if callable(function):
            name = name or getattr(function, "__name__", None)
            if not name or name == "<lambda>":
                raise ValueError("give name= for a function without a usable __name__")
            self.functions.register(name, function, timeout=timeout)
        elif name is not None:
            self.functions.register(name, function, timeout=timeout)
        else:
            name = function
        spec = trigger_params({**params, "function": name, **({"table": table} if table else {})})
        if self._service is None or self._service.triggers is None:
            check_declaration(
                spec.table,
                spec.params,
                self.functions,
                self.settings.region,
                self.settings.account_id,
            )
            self._declared.append(spec)
        elif self._portal is not None:
            self._portal.call(self._service.triggers.declare, spec.table, spec.params)
        else:
            self._service.triggers.declare(spec.table, spec.params)

    def trigger(self, table: str, **params: Any) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add_trigger` for a Python handler."""

        def register(handler: Handler) -> Handler:
            self.add_trigger(table, handler, **params)
            return handler

        return register

    async def __aenter__(self) -> Server:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            service = Service(
                self.settings,
                clock=self.clock,
                functions=self.functions,
                triggers=self._declared,
                credentials=self._credentials,
            )
            self._service = await self._tg.start(service.run)
        except BaseException as exc:
            await self._tg.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None and self._service is not None
        self._service.stop()
        return await self._tg.__aexit__(exc_type, exc, tb)

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[Server]:
        """Run the server on an event loop in a background thread for the block."""
        with (
            anyio.from_thread.start_blocking_portal(backend_options={"use_uvloop": True}) as portal,
            portal.wrap_async_context_manager(self) as server,
        ):
            self._portal = portal
            try:
                yield server
            finally:
                self._portal = None
