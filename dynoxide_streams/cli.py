"""Command line: ``dynoxide-streams serve`` and ``dynoxide-streams healthcheck``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import anyio

from dynoxide_streams import __version__
from dynoxide_streams.config import ConfigError, Settings, load_config_file, render_toml
from dynoxide_streams.engine.store import StoreError
from dynoxide_streams.logs import configure
from dynoxide_streams.service import Service, UnsafeBind
from dynoxide_streams.triggers.declared import TriggerFileError


def _server_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags ``serve`` and ``sidecar`` share."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file of settings (flag names as keys) and [functions]/[[trigger]] tables",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective settings (flags > environment > file > defaults) and exit",
    )
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default 8000)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir", type=Path, help="database directory (default ./.dynoxide-streams)"
    )
    where.add_argument("--in-memory", action="store_const", const=True, help="throwaway database")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["console", "json"])
    parser.add_argument("--region", help="region in ARNs and health text (default us-east-1)")
    parser.add_argument("--account-id", help="account id in ARNs (default 000000000000)")
    parser.add_argument(
        "--clock", choices=["real", "virtual"], help="data-time clock (default real)"
    )
    parser.add_argument("--token", help="bearer token required for the admin API and websocket")
    parser.add_argument(
        "--insecure-no-auth",
        action="store_const",
        const=True,
        help="allow a non-loopback bind without --token",
    )
    parser.add_argument(
        "--allowed-origin",
        action="append",
        help="a browser origin allowed to open the push websocket (repeatable)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        help="a Host name the HTTP API answers besides IP addresses and localhost "
        "(repeatable; '*' allows any: DNS-rebinding protection off)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        help="concurrent connections before new requests get 503 (default 1000)",
    )
    parser.add_argument(
        "--ws-stall-timeout",
        type=float,
        help="close a push client that accepts nothing for this long (default 30 s)",
    )
    parser.add_argument(
        "--stream-retention-seconds", type=float, help="stream record retention (default 86400)"
    )
    parser.add_argument(
        "--shard-rotation-seconds",
        type=float,
        help="close a shard after this long (default 14400; 0: never)",
    )
    parser.add_argument(
        "--ttl-period", type=float, help="seconds between TTL sweeps (default 1; 0: no sweeping)"
    )
    parser.add_argument(
        "--strict-ttl-limits",
        action="store_const",
        const=True,
        help="refuse a second TTL change within an hour, as AWS does",
    )
    parser.add_argument(
        "--shard-rotation-records",
        type=int,
        help="close a shard after this many records (default: never)",
    )
    parser.add_argument(
        "--function",
        action="append",
        metavar="NAME=TARGET",
        help="register a function for event source mappings (repeatable); TARGET is "
        "python:package.module:handler, http(s)://URL or cmd:COMMAND",
    )
    parser.add_argument(
        "--function-timeout",
        type=float,
        help="seconds a function invocation may take (default 3)",
    )
    parser.add_argument(
        "--triggers",
        metavar="FILE",
        help="TOML file of [functions] and [[trigger]] tables to set up at start",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dynoxide-streams")
    parser.add_argument("--version", action="version", version=f"dynoxide-streams {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _server_arguments(commands.add_parser("serve", help="run the server"))
    sidecar = commands.add_parser(
        "sidecar",
        help="push, triggers and TTL for an upstream DynamoDB-compatible engine",
    )
    _server_arguments(sidecar)
    sidecar.add_argument(
        "--upstream", required=True, metavar="URL", help="the engine's DynamoDB endpoint"
    )
    which = sidecar.add_mutually_exclusive_group()
    which.add_argument(
        "--tables", type=lambda v: [t for t in v.split(",") if t], help="tables to serve: a,b"
    )
    which.add_argument(
        "--all-tables", action="store_const", const=True, help="serve every upstream table"
    )
    sidecar.add_argument(
        "--ttl-sweep",
        action="store_const",
        const=True,
        help="expire items of TTL-enabled tables upstream (for engines that never do)",
    )
    sidecar.add_argument(
        "--ttl-sweep-rate", type=float, help="deletes per second at most (default 100)"
    )
    sidecar.add_argument(
        "--lease-table",
        metavar="NAME",
        help="share the streams' shards with other sidecars through leases in this "
        "upstream table (created if missing)",
    )
    sidecar.add_argument(
        "--lease-duration",
        type=float,
        metavar="SECONDS",
        help="a lease not renewed for this long is taken over (default 10)",
    )
    health = commands.add_parser("healthcheck", help="exit 0 if the server answers")
    health.add_argument(
        "--url",
        help="server to ask (default http://127.0.0.1:$DYNOXIDE_STREAMS_PORT, port 8000)",
    )
    health.add_argument("--timeout", type=float, default=3.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "healthcheck":
        port = os.environ.get("DYNOXIDE_STREAMS_PORT", "8000")
        return healthcheck(args.url or f"http://127.0.0.1:{port}", args.timeout)
    try:
        settings = _settings(vars(args))
    except ConfigError as exc:
        print(f"dynoxide-streams: {exc}", file=sys.stderr)
        return 1
    if args.command == "serve":
        settings.upstream = None  # only `sidecar` reads an upstream
    elif not _has_botocore():
        print(
            "dynoxide-streams: sidecar mode needs botocore "
            "(pip install 'dynoxide-streams[sidecar]')",
            file=sys.stderr,
        )
        return 1
    if args.print_config:
        sys.stdout.write(render_toml(settings.public()))
        return 0
    configure(settings.log_level, settings.log_format)
    try:
        anyio.run(_serve, settings, backend_options={"use_uvloop": True})
    except (OSError, StoreError, UnsafeBind, TriggerFileError, BaseExceptionGroup) as exc:
        cause = _startup_error(exc)
        if cause is None:
            raise
        if isinstance(cause, OSError):
            message = f"cannot listen on {settings.host}:{settings.port}: {cause.strerror}"
        else:
            message = str(cause)
        print(f"dynoxide-streams: {message}", file=sys.stderr)
        return 1
    return 0


def _has_botocore() -> bool:
    import importlib.util

    return importlib.util.find_spec("botocore") is not None


def _settings(flags: dict[str, object]) -> Settings:
    """Flags over environment over the config file (``--config`` or its twin)."""
    path = flags.get("config") or os.environ.get("DYNOXIDE_STREAMS_CONFIG")
    file_values: dict[str, object] = {}
    if path:
        file_values, _ = load_config_file(str(path))
    overrides = dict(flags)
    if overrides.get("data_dir") is not None and overrides.get("in_memory") is None:
        overrides["in_memory"] = False  # the flags are alternatives: --data-dir wins
    settings = Settings.from_sources(overrides, file_values=file_values)
    settings.config = str(path) if path else None
    return settings


def _startup_error(
    exc: BaseException,
) -> OSError | StoreError | UnsafeBind | TriggerFileError | None:
    """The start-up failure inside ``exc`` (possibly wrapped by task groups)."""
    if isinstance(exc, (OSError, StoreError, UnsafeBind, TriggerFileError)):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _startup_error(inner)
            if found is not None:
                return found
    return None


async def _serve(settings: Settings) -> None:
    service = Service(settings)
    async with anyio.create_task_group() as tg:
        await tg.start(service.run)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                service.stop()
                break


def healthcheck(url: str, timeout: float) -> int:
    """0 if ``GET url/`` answers 200, 1 otherwise."""
    import urllib.error  # imported here: only this command needs it
    import urllib.request

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/", timeout=timeout) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError, ValueError):
        return 1
