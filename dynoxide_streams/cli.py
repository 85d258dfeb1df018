"""Command line: ``dynoxide-streams serve``, ``sidecar``, ``mcp`` (their flags built
from the settings described in ``config.Settings``) and ``healthcheck``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from dynoxide_streams import __version__
from dynoxide_streams.config import (
    Command,
    ConfigError,
    Settings,
    described,
    load_config_file,
    render_toml,
)
from dynoxide_streams.engine.store import StoreError
from dynoxide_streams.logs import configure
from dynoxide_streams.service import Service, UnsafeBind
from dynoxide_streams.triggers.declared import TriggerFileError


def _setting_flags(parser: argparse.ArgumentParser, command: Command) -> None:
    """A flag for every setting of ``command``, built from its description; a flag
    not given is None, so the environment and the config file can fill it."""
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective settings (flags > environment > file > defaults) and exit",
    )
    alternatives: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for s in described():
        about = s.about
        if command not in about.commands:
            continue
        target: argparse._ActionsContainer = parser
        if about.alternative is not None:
            if about.alternative not in alternatives:
                alternatives[about.alternative] = parser.add_mutually_exclusive_group()
            target = alternatives[about.alternative]
        options: dict[str, Any] = {"help": about.help}
        if s.shown_range:
            options["help"] += f" ({s.shown_range})"
        if s.shown_default:
            options["help"] += f" (default {s.shown_default})"
        if about.metavar is not None or s.kind in ("int", "float"):
            options["metavar"] = about.metavar or "N"
        if about.required:
            options["required"] = True
        if about.choices:
            options["choices"] = about.choices
        if s.kind == "bool":
            options.update(action="store_const", const=True)
        elif s.kind == "list" and about.comma_list:
            options["type"] = _comma_list
        elif s.kind == "list":
            options["action"] = "append"
        elif s.kind in _FLAG_TYPES:
            options["type"] = _FLAG_TYPES[s.kind]
        target.add_argument(s.flag, **options)


_FLAG_TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "path": Path}


def _comma_list(value: str) -> list[str]:
    return [item for item in value.split(",") if item]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dynoxide-streams")
    parser.add_argument("--version", action="version", version=f"dynoxide-streams {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _setting_flags(commands.add_parser("serve", help="run the server"), "serve")
    sidecar = commands.add_parser(
        "sidecar",
        help="push, triggers and TTL for an upstream DynamoDB-compatible engine",
    )
    _setting_flags(sidecar, "sidecar")
    _setting_flags(
        commands.add_parser("mcp", help="an MCP server over stdio, for coding agents"), "mcp"
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
    if args.command in ("serve", "mcp"):
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
        anyio.run(_command(args.command), settings, backend_options={"use_uvloop": True})
    except (
        OSError,
        StoreError,
        UnsafeBind,
        TriggerFileError,
        ConfigError,
        BaseExceptionGroup,
    ) as exc:
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


def _command(name: str) -> Callable[[Settings], Any]:
    """The coroutine function that runs command ``name``."""
    if name == "mcp":
        from dynoxide_streams.mcp_main import run_stdio  # the MCP SDK loads only here

        return run_stdio
    return _serve


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
) -> OSError | StoreError | UnsafeBind | TriggerFileError | ConfigError | None:
    """The start-up failure inside ``exc`` (possibly wrapped by task groups)."""
    if isinstance(exc, (OSError, StoreError, UnsafeBind, TriggerFileError, ConfigError)):
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
    """0 if ``GET url/`` answers 200; otherwise one line on stderr saying why
    (``dynoxide-streams: healthcheck: <reason>``) and 1."""
    import urllib.error  # imported here: only this command needs it
    import urllib.request

    target = url.rstrip("/") + "/"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        reason = f"HTTP status {exc.code} from {target}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = _unreachable(exc, target, timeout)
    else:
        if status == 200:
            return 0
        reason = f"HTTP status {status} from {target}"
    print(f"dynoxide-streams: healthcheck: {reason}", file=sys.stderr)
    return 1


def _unreachable(exc: Exception, target: str, timeout: float) -> str:
    """Why ``target`` could not be asked, from the exception urllib raised."""
    import urllib.error

    cause: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, TimeoutError):
        return f"no answer from {target} within {timeout:g}s"
    if isinstance(cause, ConnectionRefusedError):
        return f"connection refused at {target}"
    if isinstance(cause, OSError) and cause.strerror:
        return f"cannot reach {target}: {cause.strerror}"
    return f"cannot reach {target}: {cause}"
