"""Server settings: each described once (type, default, choices, range, help, commands),
filled from flags, environment, a config file and defaults.

Every setting ``name`` has a flag ``--name`` (underscores become dashes) on the commands
it applies to, an environment twin ``DYNOXIDE_STREAMS_<NAME>`` (lists comma-separated or
a JSON array) and a key ``name`` (or ``name-with-dashes``) in the TOML file given with
``--config``. A flag wins over the environment, which wins over the file, which wins
over the default. The same file may hold ``[functions]`` and ``[[trigger]]`` tables (see
``triggers/declared.py``); they are returned untouched.

A setting is one field of :class:`Settings` whose metadata holds an :class:`About`,
declared with :func:`setting` (``port: int = setting(8000, "port to bind", ge=0,
le=65535)``); :func:`described` lists them for the command line
(``cli.py``), the embedded server (``server.py``) and the README check.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

ENV_PREFIX = "DYNOXIDE_STREAMS_"
TRIGGER_SECTIONS = ("functions", "trigger")

Command = Literal["serve", "sidecar", "mcp"]
"""A command a setting can apply to (``mcp`` is the stdio MCP server)."""
Kind = Literal["bool", "int", "float", "list", "path", "str"]
"""How a setting's value is written in a flag, an environment variable or the file."""

MIN_TOKEN_LENGTH = 16
"""The fewest characters a token (``--token``) may have."""
DAY = 86_400
TEN_YEARS = 3650 * DAY

SERVER: frozenset[Command] = frozenset({"serve", "sidecar"})
SERVE: frozenset[Command] = frozenset({"serve"})
SIDECAR: frozenset[Command] = frozenset({"sidecar"})
EVERY: frozenset[Command] = frozenset({"serve", "sidecar", "mcp"})
MCP: frozenset[Command] = frozenset({"mcp"})


class ConfigError(Exception):
    """A setting cannot be used (the message names the setting and where it came from)."""


@dataclass(frozen=True)
class About:
    """What a setting is, besides its name, type and default (field metadata)."""

    help: str
    commands: frozenset[Command] = SERVER
    choices: tuple[str, ...] = ()  # the only values accepted, from any source
    ge: float | None = None  # allowed range: value >= ge, value > gt, value <= le
    gt: float | None = None
    le: float | None = None
    pattern: tuple[re.Pattern[str], str] | None = None  # (regex, what it means)
    min_length: int | None = None  # a string's fewest characters (no blank, no edge spaces)
    secret: bool = False  # never shown: redacted by --print-config, not echoed in errors
    metavar: str | None = None
    alternative: str | None = None  # flags sharing this name exclude each other
    required: bool = False  # the flag must be given (on every command it applies to)
    comma_list: bool = False  # a list flag given once as a,b instead of repeated
    in_file: bool = True  # may be a key of the config file


def about(help: str, **details: Any) -> dict[str, About]:
    """The metadata of a :class:`Settings` field: its :class:`About`."""
    return {"about": About(help, **details)}


def setting(default: Any, help: str, **rules: Any) -> Any:
    """One :class:`Settings` field, declared in one line: its ``default`` (a list
    default is copied for each instance), its ``help`` text and the :class:`About`
    ``rules`` (``commands``, ``choices``, ``ge``/``gt``/``le``, ``metavar`` ...).
    Typed ``Any`` so that the field's annotation gives its type, as with ``field()``."""
    if isinstance(default, list):
        return field(default_factory=default.copy, metadata=about(help, **rules))
    return field(default=default, metadata=about(help, **rules))


def seconds(default: float, help: str, *, le: float, **rules: Any) -> Any:
    """A :func:`setting` that is a duration: shown as ``SECONDS``, at most ``le``, more
    than 0 unless ``rules`` give ``ge=0`` (where 0 means "never" or "off")."""
    bounds = {"gt": 0} if "ge" not in rules else {}
    return setting(default, help, le=le, metavar="SECONDS", **bounds, **rules)


_TABLE_NAME = (
    re.compile(r"[a-zA-Z0-9_.-]{3,255}"),
    "a DynamoDB table name: 3 to 255 of a-z A-Z 0-9 _ - .",
)
_ACCOUNT_ID = (
    re.compile(r"[0-9]{1,64}"),
    "digits only, as in an AWS account id (the stream-ARN form the Streams API parses)",
)
_HTTP_URL = (
    re.compile(r"https?://[^\s/?#]+(/\S*)?", re.IGNORECASE),
    "an http:// or https:// URL",
)


@dataclass
class Settings:
    """Every setting of every command (see the module docstring).

    A setting is one declaration, ``name: type = setting(default, help, **rules)``
    (``seconds(...)`` for a duration); add new ones at the end of the class, as a
    group under a comment naming their feature."""

    config: str | None = setting(
        None,
        "TOML file of settings (flag names as keys) and [functions]/[[trigger]] tables",
        metavar="FILE",
        in_file=False,
        commands=EVERY,
    )
    host: str = setting("127.0.0.1", "address to bind")
    port: int = setting(8000, "port to bind", ge=0, le=65535)
    data_dir: Path = setting(
        Path(".dynoxide-streams"),
        "database directory",
        alternative="data",
        metavar="DIR",
        commands=EVERY,
    )
    in_memory: bool = setting(
        False, "throwaway database, deleted at exit", alternative="data", commands=EVERY
    )
    log_level: str = setting(
        "info", "log threshold", choices=("debug", "info", "warning", "error"), commands=EVERY
    )
    log_format: str = setting(
        "console", "log line format", choices=("console", "json"), commands=EVERY
    )
    region: str = setting("us-east-1", "region in ARNs and health text")
    account_id: str = setting("000000000000", "account id in ARNs", pattern=_ACCOUNT_ID)
    clock: str = setting("real", "data-time clock", choices=("real", "virtual"), commands=EVERY)
    token: str | None = setting(
        None,
        f"bearer token required for the admin API and websocket "
        f"(at least {MIN_TOKEN_LENGTH} characters)",
        min_length=MIN_TOKEN_LENGTH,
        secret=True,
        commands=EVERY,
    )
    credentials: Path | None = setting(
        None,
        "TOML file whose [credentials] table maps access key ids to secret keys: "
        "every DynamoDB, Streams and Lambda request must then be SigV4-signed by one",
        metavar="FILE",
    )
    insecure_no_auth: bool = setting(False, "allow a non-loopback bind without --token")
    allowed_origin: list[str] = setting(
        [],
        "a browser origin allowed to open the push websocket, to call the DynamoDB "
        "API (CORS) and to send admin and Lambda requests (repeatable)",
        metavar="URL",
    )
    allowed_host: list[str] = setting(
        [],
        "a Host name the HTTP API answers besides IP addresses, localhost and "
        "*.amazonaws.com(.cn) (repeatable; '*' allows any: DNS-rebinding protection off)",
        metavar="NAME",
    )
    max_connections: int = setting(
        1000, "concurrent connections before new requests get 503; 0: no limit", ge=0, le=1_000_000
    )
    header_timeout: float = seconds(
        10.0,
        "seconds a connection has to send a complete request head (or, mid-body, its "
        "next bytes) before it is closed",
        le=3600,
    )
    keep_alive_timeout: float = seconds(
        5.0, "seconds an idle keep-alive connection is kept open", le=3600
    )
    max_header_bytes: int = setting(
        64 * 1024,
        "bytes of a request head (request line and headers) before it is refused with 431",
        ge=4096,
        le=16 * 1024 * 1024,
    )
    max_body_memory: int = setting(
        256 * 1024 * 1024,
        "bytes of request bodies held in memory at once; beyond it requests wait, then get 503",
        ge=32 * 1024 * 1024,
        le=64 * 1024 * 1024 * 1024,
    )
    ws_stall_timeout: float = seconds(
        30.0, "seconds before a push client that accepts nothing is closed", le=DAY
    )
    stream_retention_seconds: float = seconds(
        86400.0, "seconds a stream record is kept", le=TEN_YEARS, commands=SERVE
    )
    shard_rotation_seconds: float = seconds(
        14400.0,
        "close a shard after this many seconds; 0: never",
        le=TEN_YEARS,
        commands=SERVE,
        ge=0,
    )
    shard_rotation_records: int = setting(
        0, "close a shard after this many records; 0: never", commands=SERVE, ge=0, le=1_000_000_000
    )
    ttl_period: float = seconds(
        1.0, "seconds between TTL sweeps; 0: no sweeping", le=DAY, ge=0, commands=EVERY
    )
    strict_ttl_limits: bool = setting(
        False, "refuse a second TTL change within an hour, as AWS does", commands=SERVE
    )
    function: list[str] = setting(
        [],
        "register a function for event source mappings (repeatable); TARGET is python:package.module:handler, http(s)://URL or cmd:COMMAND",
        metavar="NAME=TARGET",
        commands=EVERY,
    )
    function_timeout: float = seconds(
        3.0, "seconds a function invocation may take", le=900, commands=EVERY
    )
    triggers: str | None = setting(
        None,
        "TOML file of [functions] and [[trigger]] tables to set up at start",
        metavar="FILE",
        commands=EVERY,
    )
    upstream: str | None = setting(
        None,
        "the engine's DynamoDB endpoint",
        commands=SIDECAR,
        required=True,
        metavar="URL",
        pattern=_HTTP_URL,
    )
    tables: list[str] = setting(
        [],
        "upstream tables to serve",
        commands=SIDECAR,
        alternative="tables",
        comma_list=True,
        metavar="A,B",
    )
    all_tables: bool = setting(
        False,
        "serve every upstream table (the default when no tables are named)",
        commands=SIDECAR,
        alternative="tables",
    )
    ttl_sweep: bool = setting(
        False, "expire items of TTL-enabled tables upstream", commands=SIDECAR
    )
    ttl_sweep_rate: float = setting(
        100.0, "TTL deletes per second at most", commands=SIDECAR, gt=0, le=1_000_000, metavar="N"
    )
    lease_table: str | None = setting(
        None,
        "share the streams' shards with other sidecars through leases in this upstream "
        "table (created if missing)",
        commands=SIDECAR,
        pattern=_TABLE_NAME,
        metavar="NAME",
    )
    lease_duration: float = seconds(
        10.0, "seconds after which a lease not renewed is taken over", le=DAY, commands=SIDECAR
    )

    # issue 20 §2, triggers say what went wrong: where python: targets are imported from
    app_dir: Path = field(
        default=Path("."),
        metadata=about(
            "directory put first on sys.path at start, so python:package.module:handler "
            "targets resolve relative to it (. is the directory the server starts in)",
            metavar="DIR",
        ),
    )

    # --- the MCP server (issue 21) ---
    read_only: bool = setting(
        False, "MCP: refuse every write tool (PartiQL SELECTs still run)", commands=MCP
    )
    max_items: int = setting(
        0,
        "MCP: items (or records) one tool call returns at most; the result says how "
        "to continue; 0: no cap",
        commands=MCP,
        ge=0,
        le=1_000_000,
    )
    max_bytes: int = setting(
        0,
        "MCP: bytes of JSON one tool call returns at most; a paged read is cut and "
        "says how to continue; 0: no cap",
        commands=MCP,
        ge=0,
        le=64 * 1024 * 1024,
    )
    endpoint: str | None = setting(
        None,
        "MCP: attach to the server running at this URL (its DynamoDB, Streams and "
        "admin APIs) instead of opening a database",
        commands=MCP,
        alternative="data",
        metavar="URL",
        pattern=_HTTP_URL,
    )
    data_model: Path | None = setting(
        None,
        "MCP: a single-table data model (OneTable JSON schema) that describe_table "
        "returns for the table it describes",
        commands=frozenset({"serve", "mcp"}),
        metavar="FILE",
    )
    mcp: bool = setting(
        False,
        "also serve MCP (Streamable HTTP) at /mcp on this port; every request needs "
        "the MCP bearer token",
        commands=SERVE,
    )
    mcp_token: str | None = setting(
        None,
        f"bearer token of /mcp (at least {MIN_TOKEN_LENGTH} characters; separate from "
        "--token); default on a loopback bind: generated once and kept in "
        "$XDG_CONFIG_HOME/dynoxide-streams/mcp-token",
        commands=SERVE,
        min_length=MIN_TOKEN_LENGTH,
        secret=True,
    )

    @classmethod
    def from_sources(
        cls,
        overrides: Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
        file_values: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Settings from ``overrides`` (flags; None = not given), then the environment,
        then ``file_values`` (from :func:`load_config_file`). Raises ConfigError."""
        env = os.environ if environ is None else environ
        from_file = file_values or {}
        values: dict[str, Any] = {}
        for s in described():
            given = overrides.get(s.name)
            if given is None:
                raw = env.get(s.env)
                if raw is not None:
                    given = _from_env(s, raw)
                elif s.name in from_file:
                    given = from_file[s.name]
                else:
                    continue
            values[s.name] = Path(given) if s.kind == "path" else given
        settings = cls(**values)
        settings.check()
        return settings

    @classmethod
    def from_keywords(cls, command: Command, values: Mapping[str, Any]) -> Settings:
        """Settings from keyword arguments naming settings of ``command`` (lists may be
        any iterable, paths strings); the others keep their defaults. Raises TypeError
        for a name that is no such setting, ConfigError for a value out of bounds."""
        known = {s.name: s for s in described() if command in s.about.commands}
        known.pop("config", None)  # a source of settings, not one of them
        unknown = sorted(set(values) - known.keys())
        if unknown:
            raise TypeError(f"unexpected setting {unknown[0]!r} (not a setting of {command})")
        converted: dict[str, Any] = {}
        for name, value in values.items():
            kind = known[name].kind
            if kind == "list":
                value = list(value)
            elif kind == "path":
                value = Path(value)
            converted[name] = value
        settings = cls(**converted)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ConfigError unless every value is among its choices, in its range,
        matches its pattern and is long enough (types are the sources' business)."""
        for s in described():
            value = getattr(self, s.name)
            if value is None:
                continue
            problem = _problem(s, value)
            if problem is not None:
                raise ConfigError(problem)

    def public(self) -> dict[str, Any]:
        """The settings as TOML-ready values, secrets (the token) redacted."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata["about"].secret and value is not None:
                value = "<set>"
            if isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        return out


def _problem(s: Setting, value: Any) -> str | None:
    """What is wrong with ``value`` for setting ``s`` (None: nothing): a value not
    among its choices, out of its range, not matching its pattern or too short. A
    secret's value is never part of the answer."""
    about, name = s.about, s.name
    shown = "<secret>" if about.secret else repr(value)
    if about.choices and value not in about.choices:
        return f"{name} {shown} is not one of {', '.join(about.choices)}"
    if s.kind in ("int", "float") and not isinstance(value, bool):
        return _range_problem(name, value, about)
    if about.pattern is not None and not about.pattern[0].fullmatch(value):
        return f"{name} must be {about.pattern[1]} (got {shown})"
    if about.min_length is not None and isinstance(value, str):
        if not value.strip():
            return f"{name} is empty or blank: give at least {about.min_length} characters"
        if value != value.strip():
            return f"{name} must not start or end with whitespace"
        if len(value) < about.min_length:
            return f"{name} must be at least {about.min_length} characters (got {len(value)})"
    return None


def _number(bound: float | None) -> str:
    """A range bound as people write it: ``900``, ``0.5``."""
    assert bound is not None
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _range_problem(name: str, value: float, about: About) -> str | None:
    """The one-line complaint about a number outside ``about``'s range (None: inside).
    Both bounds inclusive: ``port 70000 is out of range (0-65535)``; otherwise the
    bound it breaks: ``lease_duration must be positive (got 0.0)``."""
    if not math.isfinite(value):
        return f"{name} must be a finite number (got {value})"
    ge, gt, le = about.ge, about.gt, about.le
    too_low = (gt is not None and value <= gt) or (ge is not None and value < ge)
    too_high = le is not None and value > le
    if not (too_low or too_high):
        return None
    if ge is not None and le is not None:
        return f"{name} {value} is out of range ({_number(ge)}-{_number(le)})"
    if too_high:
        return f"{name} must be at most {_number(le)} (got {value})"
    if gt is not None:
        bound = "positive" if gt == 0 else f"greater than {_number(gt)}"
        return f"{name} must be {bound} (got {value})"
    return f"{name} must be at least {_number(ge)} (got {value})"


@dataclass(frozen=True)
class Setting:
    """One setting as the command line, the environment and the docs see it."""

    name: str
    kind: Kind
    default: Any
    about: About

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def shown_range(self) -> str:
        """The allowed range as help text and the README show it ("" when unbounded):
        ``0 to 65535``, ``more than 0, at most 900``, ``at least 1``."""
        about = self.about
        low = f"more than {_number(about.gt)}" if about.gt is not None else None
        if low is None and about.ge is not None:
            low = f"at least {_number(about.ge)}"
        if about.le is None:
            return low or ""
        if about.ge is not None and about.gt is None:
            return f"{_number(about.ge)} to {_number(about.le)}"
        return (
            f"at most {_number(about.le)}" if low is None else f"{low}, at most {_number(about.le)}"
        )

    @property
    def shown_default(self) -> str:
        """The default as help text and the README show it ("" when there is none)."""
        value = self.default
        if value is None or value is False or value == []:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)


@functools.cache
def described() -> tuple[Setting, ...]:
    """Every setting, in :class:`Settings` field order."""
    hints = typing.get_type_hints(Settings)
    out = []
    for f in fields(Settings):
        default = f.default
        if default is MISSING:
            default = f.default_factory()  # type: ignore[operator]
        out.append(Setting(f.name, _kind(hints[f.name]), default, f.metadata["about"]))
    return tuple(out)


def _kind(hint: Any) -> Kind:
    """The kind of a field's type (``X | None`` counts as ``X``)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) is list:
        return "list"
    kinds: dict[Any, Kind] = {bool: "bool", int: "int", float: "float", Path: "path", str: "str"}
    return kinds[hint]


def _from_env(s: Setting, raw: str) -> Any:
    kind = s.kind
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
            return _checked(s, int(raw), s.env)
        if kind == "float":
            return _checked(s, float(raw), s.env)
    except ValueError:
        raise ConfigError(f"{s.env}={raw!r} is not a valid {kind}") from None
    allowed = s.about.choices
    if allowed and raw not in allowed:
        raise ConfigError(f"{s.env}={raw!r} is not one of {', '.join(allowed)}")
    return _checked(s, raw, s.env)


def _json_list(raw: str) -> list[str]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(raw) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(raw)
    return value


def _from_file(s: Setting, value: Any, where: str) -> Any:
    kind = s.kind
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
        raise ConfigError(f"{where}: {s.name} must be a {kind}, not {type(value).__name__}")
    allowed = s.about.choices
    if allowed and value not in allowed:
        raise ConfigError(f"{where}: {s.name} = {value!r} is not one of {', '.join(allowed)}")
    if kind == "float":
        value = float(value)
    if kind == "list" and isinstance(value, str):
        return [value]
    return _checked(s, value, where)


def _checked(s: Setting, value: Any, where: str) -> Any:
    """``value`` if :func:`_problem` finds nothing wrong with it, else ConfigError
    naming ``where`` it came from (an environment variable, a file)."""
    problem = _problem(s, value)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
    return value


def load_config_file(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a TOML config file: (setting values, the [functions]/[[trigger]] tables).

    Raises ConfigError for an unreadable file, bad TOML, an unknown key or a value of
    the wrong type.
    """
    import tomllib  # imported here: a plain `serve` reads no TOML

    where = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {where}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    known = {s.name: s for s in described() if s.about.in_file}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in TRIGGER_SECTIONS:
            extra[key] = value
            continue
        name = key.replace("-", "_")
        s = known.get(name)
        if s is None:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        values[name] = _from_file(s, value, where)
    return values, extra


def load_credentials_file(path: str | Path) -> tuple[dict[str, str], int]:
    """The ``[credentials]`` table of a TOML file (access key id -> secret key) and
    the file's permission bits. Raises ConfigError for a file that cannot be read, is
    not TOML, has no such table, an empty one, or a value that is not a string."""
    import tomllib  # imported here: a plain `serve` reads no TOML

    where = str(path)
    try:
        raw = Path(path).read_bytes()
        mode = Path(path).stat().st_mode & 0o777
        data = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read credentials file {where}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"credentials file {where}: {exc}") from None
    return check_credentials(data.get("credentials"), where), mode


def check_credentials(table: Any, where: str) -> dict[str, str]:
    """``table`` as access key id -> secret key; ConfigError (naming ``where``) unless
    it is a non-empty mapping of non-empty strings to non-empty strings."""
    if not isinstance(table, Mapping) or not table:
        raise ConfigError(
            f'{where}: needs a non-empty [credentials] table of access key id = "secret key"'
        )
    for key, secret in table.items():
        if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
            raise ConfigError(f"{where}: credentials {key!r} must be a non-empty string secret key")
    return dict(table)


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
