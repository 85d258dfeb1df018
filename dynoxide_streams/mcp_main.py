"""The ``mcp`` command: an MCP server over stdio (what agent configurations launch);
and :func:`mount_http`, which ``serve --mcp`` uses to put the same server at ``/mcp``.

It runs its own engine: a :class:`~dynoxide_streams.service.Service` on a free
loopback port (so the app under development and boto3 can share the database;
``database_info`` tells the endpoint), with the MCP server of ``mcp/`` reading
stdin and writing stdout. A data directory held by a running server is refused by
the Service's data-directory lock, with the one-line message naming that server.
The session ends when stdin closes (the client went away) or on SIGINT/SIGTERM.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from dynoxide_streams import __version__
from dynoxide_streams.config import ConfigError, Settings
from dynoxide_streams.mcp.backend import EngineBackend
from dynoxide_streams.mcp.data_model import load_data_model
from dynoxide_streams.mcp.http import McpHttp
from dynoxide_streams.mcp.server import Options, build_server
from dynoxide_streams.service import Service
from dynoxide_streams.wire import App
from dynoxide_streams.wire.app import MAX_BODY_BYTES

SHUTDOWN_SECONDS = 15.0
"""How long a signalled ``mcp`` waits for its engine to stop before it exits."""


def options_of(settings: Settings) -> Options:
    """The tools' behaviour from the settings; ConfigError for a bad ``--data-model``."""
    model = None if settings.data_model is None else load_data_model(settings.data_model)
    return Options(
        data_model=model,
        read_only=settings.read_only,
        max_items=settings.max_items or None,
        max_bytes=settings.max_bytes or None,
    )


def engine_backend(service: Service, settings: Settings) -> EngineBackend:
    """Tools over a started ``service``'s engine."""
    assert service.ctx is not None and service.source is not None

    def info() -> dict[str, Any]:
        return {
            "Server": f"dynoxide-streams {__version__}",
            "Endpoint": service.endpoint,
            "DataDirectory": None if settings.in_memory else str(settings.data_dir),
            "InMemory": settings.in_memory,
            "ReadOnly": settings.read_only,
            "MaxItems": settings.max_items or None,
            "MaxBytes": settings.max_bytes or None,
        }

    return EngineBackend(service.ctx, service.source, service.triggers, info)


async def run_stdio(settings: Settings) -> None:
    """Serve MCP on stdin/stdout until stdin closes: over an embedded engine, or
    (``--endpoint``) over a running server's APIs."""
    if settings.endpoint is not None:
        await run_attached(settings, settings.endpoint)
        return
    settings.host, settings.port = "127.0.0.1", 0
    options = options_of(settings)
    service = Service(settings)
    stopped = anyio.Event()

    async def run_service(*, task_status: TaskStatus[Service] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            await service.run(task_status=task_status)
        finally:
            stopped.set()

    async def shutdown() -> None:
        service.stop()
        await stopped.wait()

    async with anyio.create_task_group() as tg:
        await tg.start(exit_on_signal, shutdown)  # first: a signal during start-up too
        await tg.start(run_service)
        server = build_server(engine_backend(service, settings), options, version=__version__)
        try:
            await serve_stdio(server)
        finally:
            service.stop()
            await stopped.wait()  # a graceful stop: the writer commits, the WAL closes
            tg.cancel_scope.cancel()  # then the signal watcher


async def exit_on_signal(
    shutdown: Callable[[], Awaitable[None]],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """On SIGINT or SIGTERM, run ``shutdown`` (at most ``SHUTDOWN_SECONDS``) and end the
    process with ``os._exit``: the SDK reads stdin in a worker thread that no
    cancellation interrupts, so with the client still attached nothing else would."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for _ in signals:
            with anyio.move_on_after(SHUTDOWN_SECONDS):
                await shutdown()
            os._exit(0)


async def serve_stdio(server: Server[Any, Any]) -> None:
    """Run ``server`` on stdin/stdout until stdin closes."""
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def mount_http(service: Service, app: App) -> StreamableHTTPSessionManager:
    """Put the MCP server at ``/mcp`` of ``app`` (``serve --mcp``), guarded by
    ``mcp/http.py``; the caller runs the returned session manager (``manager.run()``)
    in its task group. Stateful sessions: a subscription needs its session's stream."""
    assert service.mcp_token is not None
    settings = service.settings
    server = build_server(
        engine_backend(service, settings), options_of(settings), version=__version__
    )
    # the body limit is the DynamoDB route's (mcp/http.py reads the body), not the
    # SDK's 4 MiB: arguments a DynamoDB request may carry get the engine's answer
    manager = StreamableHTTPSessionManager(
        app=server, stateless=False, max_request_body_size=MAX_BODY_BYTES
    )
    app.mcp = McpHttp(manager, app.access, service.mcp_token, app.body_memory)
    return manager


class AttachError(ConfigError):
    """``mcp --endpoint`` cannot attach (a sidecar, an unreachable server): a
    ConfigError, so the command line prints its one line and exits 1."""


async def run_attached(settings: Settings, endpoint: str) -> None:
    """Serve MCP on stdio over the server at ``endpoint`` (``mcp/remote.py``): all the
    tools of a server, the change feed only of a sidecar. Raises AttachError (one line)
    when it cannot be reached."""
    from dynoxide_streams.mcp.remote import (
        SIDECAR_NOTE,
        RemoteBackend,
        SidecarBackend,
        SidecarRefused,
        probe,
    )
    from dynoxide_streams.sidecar.upstream import UpstreamUnavailable

    options = options_of(settings)
    backend: RemoteBackend | SidecarBackend = RemoteBackend(
        endpoint, settings.region, settings.token
    )
    try:
        try:
            upstream = await probe(backend.upstream)
        except SidecarRefused as exc:
            raise AttachError(
                f"{endpoint} is a dynoxide-streams sidecar that does not name its upstream "
                f"({exc}): attach to the upstream engine's server instead"
            ) from None
        except UpstreamUnavailable as exc:
            raise AttachError(f"cannot attach to {endpoint}: {exc}") from None
        if upstream is not None:
            await backend.aclose()
            backend = SidecarBackend(endpoint, upstream, settings.region, settings.token)
            options = dataclasses.replace(options, note=SIDECAR_NOTE.format(upstream=upstream))
        server = build_server(backend, options, version=__version__)
        async with anyio.create_task_group() as tg:
            await tg.start(exit_on_signal, backend.aclose)
            await tg.start(backend.push.run)
            await serve_stdio(server)
            tg.cancel_scope.cancel()
    finally:
        await backend.aclose()
