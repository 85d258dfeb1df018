"""Nonsensical settings refuse to start, in one line, from every source: each numeric
setting out of its range as a flag, one given through the environment and one in the
config file; and empty, blank or short tokens (``--token ""`` used to start a network
server whose admin API accepted ``Authorization: Bearer ``). The embedded server
refuses the same values as keyword arguments."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest

from dynoxide_streams import Server
from dynoxide_streams.config import ConfigError, described
from tests.process import free_port

SIDECAR = ["sidecar", "--upstream", "http://127.0.0.1:9", "--in-memory"]
MCP = ["mcp", "--in-memory"]  # no --port: the stdio MCP's engine takes a free one


@dataclass
class Case:
    args: list[str]
    message: str  # the whole stderr line after "dynoxide-streams: "
    env: dict[str, str] = field(default_factory=dict)
    config: str | None = None  # written to a file passed with --config
    command: list[str] = field(default_factory=lambda: ["serve", "--in-memory"])


FLAG_CASES = {
    "port": Case(["--port", "65536"], "port 65536 is out of range (0-65535)"),
    "max_connections": Case(
        ["--max-connections", "-1"], "max_connections -1 is out of range (0-1000000)"
    ),
    "ws_stall_timeout": Case(
        ["--ws-stall-timeout", "0"], "ws_stall_timeout must be positive (got 0.0)"
    ),
    "stream_retention_seconds": Case(
        ["--stream-retention-seconds", "-10"],
        "stream_retention_seconds must be positive (got -10.0)",
    ),
    "shard_rotation_seconds": Case(
        ["--shard-rotation-seconds", "-1"],
        "shard_rotation_seconds -1.0 is out of range (0-315360000)",
    ),
    "shard_rotation_records": Case(
        ["--shard-rotation-records", "-1"],
        "shard_rotation_records -1 is out of range (0-1000000000)",
    ),
    "ttl_period": Case(["--ttl-period", "-1"], "ttl_period -1.0 is out of range (0-86400)"),
    "header_timeout": Case(["--header-timeout", "0"], "header_timeout must be positive (got 0.0)"),
    "keep_alive_timeout": Case(
        ["--keep-alive-timeout", "0"], "keep_alive_timeout must be positive (got 0.0)"
    ),
    "max_header_bytes": Case(
        ["--max-header-bytes", "100"], "max_header_bytes 100 is out of range (4096-16777216)"
    ),
    "max_body_memory": Case(
        ["--max-body-memory", "1000"],
        "max_body_memory 1000 is out of range (33554432-68719476736)",
    ),
    "function_timeout": Case(
        ["--function-timeout", "0"], "function_timeout must be positive (got 0.0)"
    ),
    "function_timeout above": Case(
        ["--function-timeout", "901"], "function_timeout must be at most 900 (got 901.0)"
    ),
    "ttl_sweep_rate": Case(
        ["--ttl-sweep-rate", "0"], "ttl_sweep_rate must be positive (got 0.0)", command=SIDECAR
    ),
    "lease_duration": Case(
        ["--lease-duration", "-5"], "lease_duration must be positive (got -5.0)", command=SIDECAR
    ),
    "infinite": Case(
        ["--stream-retention-seconds", "inf"],
        "stream_retention_seconds must be a finite number (got inf)",
    ),
    "not a number": Case(["--ttl-period", "nan"], "ttl_period must be a finite number (got nan)"),
    "max_items": Case(
        ["--max-items", "-1"], "max_items -1 is out of range (0-1000000)", command=MCP
    ),
    "max_bytes": Case(
        ["--max-bytes", "67108865"],
        "max_bytes 67108865 is out of range (0-67108864)",
        command=MCP,
    ),
}

OTHER_CASES = {
    "environment": Case(
        [],
        "DYNOXIDE_STREAMS_MAX_CONNECTIONS: max_connections -1 is out of range (0-1000000)",
        env={"DYNOXIDE_STREAMS_MAX_CONNECTIONS": "-1"},
    ),
    "config file": Case(
        [],
        "{config}: stream_retention_seconds must be positive (got -10.0)",
        config="stream-retention-seconds = -10\n",
    ),
    "empty token": Case(
        ["--host", "0.0.0.0", "--token", ""],
        "token is empty or blank: give at least 16 characters",
    ),
    "blank token": Case(
        ["--host", "0.0.0.0", "--token", " "],
        "token is empty or blank: give at least 16 characters",
    ),
    "empty token in the environment": Case(
        ["--host", "0.0.0.0"],
        "DYNOXIDE_STREAMS_TOKEN: token is empty or blank: give at least 16 characters",
        env={"DYNOXIDE_STREAMS_TOKEN": ""},
    ),
    "short token": Case(
        ["--token", "fifteen-chars!!"], "token must be at least 16 characters (got 15)"
    ),
    "short token in the config file": Case(
        [], "{config}: token must be at least 16 characters (got 6)", config='token = "s3cret"\n'
    ),
    "token with edge spaces": Case(
        ["--token", " sixteen-chars-and-more "], "token must not start or end with whitespace"
    ),
}
CASES = {**FLAG_CASES, **OTHER_CASES}


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    expected: str


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case run as its own process, side by side (each exits at start-up)."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("DYNOXIDE_STREAMS_")}
    started: dict[str, tuple[subprocess.Popen[str], str]] = {}
    try:
        for name, case in CASES.items():
            work = tmp_path_factory.mktemp("ranges")
            extra: list[str] = []
            expected = case.message
            if case.config is not None:
                path = work / "settings.toml"
                path.write_text(case.config, encoding="utf-8")
                extra = ["--config", str(path)]
                expected = expected.format(config=path)
            given = "--port" in case.args or case.command[0] == "mcp"
            port = [] if given else ["--port", str(free_port())]
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dynoxide_streams",
                    *case.command,
                    *port,
                    *extra,
                    *case.args,
                ],
                cwd=work,
                env={**base_env, **case.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            started[name] = (proc, expected)
        results = {}
        deadline = time.monotonic() + 60  # one for all: a server that started never exits
        for name, (proc, expected) in started.items():
            try:
                out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # it started: the value was accepted
                proc.kill()
                out, err = proc.communicate()
            results[name] = Outcome(proc.returncode, out, err, expected)
        return results
    finally:
        for proc, _ in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("name", list(CASES))
def test_out_of_range_setting_is_a_one_line_startup_error(
    outcomes: dict[str, Outcome], name: str
) -> None:
    outcome = outcomes[name]
    assert (outcome.code, outcome.stdout) == (1, ""), outcome.stderr
    assert outcome.stderr == f"dynoxide-streams: {outcome.expected}\n"


def test_every_numeric_flag_has_a_refusal_case() -> None:
    numeric = {s.name for s in described() if s.kind in ("int", "float")}
    assert numeric <= set(FLAG_CASES), sorted(numeric - set(FLAG_CASES))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_connections": -1}, "max_connections -1 is out of range (0-1000000)"),
        (
            {"stream_retention_seconds": -10.0},
            "stream_retention_seconds must be positive (got -10.0)",
        ),
        ({"ttl_period": float("inf")}, "ttl_period must be a finite number (got inf)"),
        ({"token": ""}, "token is empty or blank: give at least 16 characters"),
        ({"token": "short"}, "token must be at least 16 characters (got 5)"),
    ],
)
def test_embedded_server_refuses_the_same_values(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Server(**settings)
    assert str(caught.value) == message
