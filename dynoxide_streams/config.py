"""Server settings: one dataclass, filled from flags, environment and defaults.

Every setting ``name`` has a flag ``--name`` (underscores become dashes) and an
environment twin ``DYNOXIDE_STREAMS_<NAME>``; a flag wins over the environment, which
wins over the default.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "DYNOXIDE_STREAMS_"


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
    ws_stall_timeout: float = 30.0
    stream_retention_seconds: float = 86400.0
    shard_rotation_seconds: float = 14400.0
    shard_rotation_records: int = 0  # 0: no rotation by record count
    ttl_period: float = 1.0  # seconds between TTL sweeps; 0 disables sweeping
    strict_ttl_limits: bool = False
    function: list[str] = field(default_factory=list)  # NAME=TARGET, repeatable
    function_timeout: float = 3.0  # seconds an invocation may take (Lambda's default)
    triggers: str | None = None  # a TOML file of [functions] and [[trigger]] tables

    @classmethod
    def from_sources(
        cls, overrides: dict[str, Any], environ: dict[str, str] | None = None
    ) -> Settings:
        """Settings from ``overrides`` (flags; None = not given), then environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            given = overrides.get(f.name)
            if given is None:
                raw = env.get(ENV_PREFIX + f.name.upper())
                if raw is None:
                    continue
                default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[operator]
                given = _convert(default, raw)
            values[f.name] = given
        settings = cls(**values)
        settings.data_dir = Path(settings.data_dir)
        return settings


def _convert(default: Any, raw: str) -> Any:
    if isinstance(default, list):  # comma-separated in the environment
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
