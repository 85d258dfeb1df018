"""Server settings: one dataclass, filled from flags, environment, a config file, defaults.

Every setting ``name`` has a flag ``--name`` (underscores become dashes), an
environment twin ``DYNOXIDE_STREAMS_<NAME>`` (lists comma-separated or a JSON array)
and a key ``name`` (or ``name-with-dashes``) in the TOML file given with ``--config``. A flag wins over the environment, which wins
over the file, which wins over the default. The same file may hold ``[functions]`` and
``[[trigger]]`` tables (see ``triggers/declared.py``); they are returned untouched.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "DYNOXIDE_STREAMS_"
CHOICES: dict[str, tuple[str, ...]] = {
    "log_level": ("debug", "info", "warning", "error"),
    "log_format": ("console", "json"),
    "clock": ("real", "virtual"),
}
"""Settings whose flag takes only these values (so do their twins and file keys)."""
TRIGGER_SECTIONS = ("functions", "trigger")
_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}")


class ConfigError(Exception):
    """A setting cannot be used (the message names the setting and where it came from)."""


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".dynoxide-streams")
    in_memory: bool = False
    log_level: str = "info"
    log_format: str = "console"
    region: str = "us-east-1"
    account_id: str = "000000000000"
    clock: str = "real"
    token: str | None = None
    insecure_no_auth: bool = False
    allowed_origin: list[str] = field(default_factory=list)
    allowed_host: list[str] = field(default_factory=list)  # besides IP literals, localhost
    max_connections: int = 1000  # concurrent connections before 503s
    ws_stall_timeout: float = 30.0
    stream_retention_seconds: float = 86400.0
    shard_rotation_seconds: float = 14400.0
    shard_rotation_records: int = 0  # 0: no rotation by record count
    ttl_period: float = 1.0  # seconds between TTL sweeps; 0 disables sweeping
    strict_ttl_limits: bool = False
    function: list[str] = field(default_factory=list)  # NAME=TARGET, repeatable
    function_timeout: float = 3.0  # seconds an invocation may take (Lambda's default)
    triggers: str | None = None  # a TOML file of [functions] and [[trigger]] tables
    config: str | None = None  # the TOML config file these settings were read from
    upstream: str | None = None  # sidecar mode: the engine's DynamoDB endpoint
    tables: list[str] = field(default_factory=list)  # sidecar: tables to serve
    all_tables: bool = False  # sidecar: serve every upstream table (default if no tables)
    ttl_sweep: bool = False  # sidecar: expire TTL items upstream
    ttl_sweep_rate: float = 100.0  # sidecar: deletes per second at most
    lease_table: str | None = None  # sidecar: share shards with other sidecars through it
    lease_duration: float = 10.0  # sidecar: seconds before an unrenewed lease may be taken

    @classmethod
    def from_sources(
        cls,
        overrides: dict[str, Any],
        environ: dict[str, str] | None = None,
        file_values: dict[str, Any] | None = None,
    ) -> Settings:
        """Settings from ``overrides`` (flags; None = not given), then the environment,
        then ``file_values`` (from :func:`load_config_file`). Raises ConfigError."""
        env = os.environ if environ is None else environ
        from_file = file_values or {}
        values: dict[str, Any] = {}
        for f in fields(cls):
            given = overrides.get(f.name)
            if given is None:
                raw = env.get(ENV_PREFIX + f.name.upper())
                if raw is not None:
                    given = _from_env(f, raw)
                elif f.name in from_file:
                    given = from_file[f.name]
                else:
                    continue
            values[f.name] = given
        settings = cls(**values)
        settings.data_dir = Path(settings.data_dir)
        if not 0 <= settings.port <= 65535:
            raise ConfigError(f"port {settings.port} is out of range (0-65535)")
        if not settings.lease_duration > 0:
            raise ConfigError(f"lease_duration must be positive (got {settings.lease_duration})")
        if settings.lease_table is not None and not _TABLE_NAME.fullmatch(settings.lease_table):
            raise ConfigError(
                "lease_table must be a DynamoDB table name: 3 to 255 of a-z A-Z 0-9 _ - . "
                f"(got {settings.lease_table!r})"
            )
        return settings

    def public(self) -> dict[str, Any]:
        """The settings as TOML-ready values, the token redacted."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "token" and value is not None:
                value = "<set>"
            if isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        return out


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory()  # type: ignore[operator]


def _kind(f: Field[Any]) -> str:
    """bool, int, float, list, path or str (optional strings included)."""
    default = _default(f)
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, list):
        return "list"
    if isinstance(default, Path):
        return "path"
    return "str"


def _from_env(f: Field[Any], raw: str) -> Any:
    name = ENV_PREFIX + f.name.upper()
    kind = _kind(f)
    try:
        if kind == "list":  # comma-separated, or a JSON array when a value has commas
            if raw.lstrip().startswith("["):
                return _json_list(raw)
            return [part.strip() for part in raw.split(",") if part.strip()]
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind}") from None
    allowed = CHOICES.get(f.name)
    if allowed is not None and raw not in allowed:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(allowed)}")
    return raw


def _json_list(raw: str) -> list[str]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(raw) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(raw)
    return value


def _from_file(f: Field[Any], value: Any, where: str) -> Any:
    kind = _kind(f)
    ok = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "list": isinstance(value, str)
        or (isinstance(value, list) and all(isinstance(v, str) for v in value)),
        "path": isinstance(value, str),
        "str": isinstance(value, str),
    }[kind]
    if not ok:
        raise ConfigError(f"{where}: {f.name} must be a {kind}, not {type(value).__name__}")
    allowed = CHOICES.get(f.name)
    if allowed is not None and value not in allowed:
        raise ConfigError(f"{where}: {f.name} = {value!r} is not one of {', '.join(allowed)}")
    if kind == "float":
        return float(value)
    if kind == "list" and isinstance(value, str):
        return [value]
    return value


def load_config_file(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a TOML config file: (setting values, the [functions]/[[trigger]] tables).

    Raises ConfigError for an unreadable file, bad TOML, an unknown key or a value of
    the wrong type.
    """
    where = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {where}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in TRIGGER_SECTIONS:
            extra[key] = value
            continue
        name = key.replace("-", "_")
        f = known.get(name)
        if f is None or name == "config":
            raise ConfigError(f"{where}: unknown setting {key!r}")
        values[name] = _from_file(f, value, where)
    return values, extra


def render_toml(values: dict[str, Any]) -> str:
    """``key = value`` lines (values that are None are shown commented out)."""
    lines = []
    for key, value in values.items():
        if value is None:
            lines.append(f"# {key} = (not set)")
        elif isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            lines.append(f"{key} = {value!r}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(_quote(v) for v in value)}]")
        else:
            lines.append(f"{key} = {_quote(str(value))}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
