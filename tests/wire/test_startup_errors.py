"""A server that cannot start says why in one line: ``dynoxide-streams: <problem>`` on
stderr, exit status 1, no traceback — for a data directory that cannot be created, a
database of a newer schema version, a file that is not a database, a database path
that is a directory, a missing ``--triggers`` file, a trigger naming an unknown
function, a bad ``--function`` flag or target and bad trigger tables in the config
file, a port out of range, and a clock kind the flag would refuse given through the
environment or the config file. The database files it refused are left exactly as
they were.

(A port in use and a network bind without a token are covered by test_cli.py.)
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.process import free_port


@dataclass
class Case:
    args: list[str]
    needles: list[str]
    check: Callable[[], None] | None = None  # runs after the process exited
    env: dict[str, str] = field(default_factory=dict)  # DYNOXIDE_STREAMS_* additions
    free_port: bool = True  # pass --port with a free port before ``args``


def _newer_schema(base: Path) -> Case:
    data = base / "data"
    data.mkdir()
    conn = sqlite3.connect(data / "data.db")
    conn.execute("CREATE TABLE keep_me (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()

    def untouched() -> None:
        conn = sqlite3.connect(data / "data.db")
        try:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
            assert names == ["keep_me"]  # no migration ran
        finally:
            conn.close()

    return Case(
        ["--data-dir", str(data)],
        [f"database {data / 'data.db'} has schema version 99", "upgrade dynoxide-streams"],
        untouched,
    )


def _corrupt(base: Path) -> Case:
    data = base / "data"
    data.mkdir()
    garbage = b"not sqlite" + os.urandom(64 * 1024)
    (data / "data.db").write_bytes(garbage)

    def untouched() -> None:
        assert (data / "data.db").read_bytes() == garbage

    return Case(
        ["--data-dir", str(data)],
        [f"cannot open database {data / 'data.db'}", "file is not a database"],
        untouched,
    )


def _under_a_file(base: Path) -> Case:
    regular = base / "a-file"
    regular.write_text("I am a file\n")
    target = regular / "data"

    def untouched() -> None:
        assert regular.read_text() == "I am a file\n"

    return Case(
        ["--data-dir", str(target)],
        [f"cannot create data directory {target}", "Not a directory"],
        untouched,
    )


def _db_is_a_directory(base: Path) -> Case:
    data = base / "data"
    (data / "data.db").mkdir(parents=True)
    return Case(
        ["--data-dir", str(data)],
        [f"cannot open database {data / 'data.db'}", "unable to open database file"],
    )


def _missing_triggers_file(base: Path) -> Case:
    missing = base / "no-such-triggers.toml"
    return Case(
        ["--data-dir", str(base / "data"), "--triggers", str(missing)],
        [f"cannot read {missing}", "No such file or directory"],
    )


def _trigger_names_unknown_function(base: Path) -> Case:
    triggers = base / "triggers.toml"
    triggers.write_text('[[trigger]]\ntable = "orders"\nfunction = "ghost"\n')
    return Case(
        ["--data-dir", str(base / "data"), "--triggers", str(triggers)],
        ["trigger on orders", "Function not found", "function:ghost"],
    )


def _bad_trigger_key(base: Path) -> Case:
    triggers = base / "triggers.toml"
    triggers.write_text(
        '[functions]\nf = "cmd:true"\n[[trigger]]\ntable = "orders"\nfunction = "f"\nbatchsize = 3\n'
    )
    return Case(
        ["--data-dir", str(base / "data"), "--triggers", str(triggers)],
        [str(triggers), "trigger 1", "unknown key 'batchsize'"],
    )


def _bad_function_flag(base: Path) -> Case:
    return Case(
        ["--data-dir", str(base / "data"), "--function", "nonsense"],
        ["--function 'nonsense'", "expected NAME=TARGET"],
    )


def _bad_function_target(base: Path) -> Case:
    return Case(
        ["--data-dir", str(base / "data"), "--function", "x=ftp://nope"],
        ["function x", "unknown target 'ftp://nope'"],
    )


def _config_functions_not_a_table(base: Path) -> Case:
    config = base / "config.toml"
    config.write_text('functions = "cmd:true"\n')
    return Case(
        ["--data-dir", str(base / "data"), "--config", str(config)],
        [str(config), "[functions] must be a table"],
    )


def _config_trigger_names_unknown_function(base: Path) -> Case:
    config = base / "config.toml"
    config.write_text(
        'region = "eu-west-1"\n[functions]\nreal = "cmd:true"\n'
        '[[trigger]]\ntable = "orders"\nfunction = "imaginary"\n'
    )
    return Case(
        ["--data-dir", str(base / "data"), "--config", str(config)],
        ["trigger on orders", "Function not found", "eu-west-1", "function:imaginary"],
    )


def _port_out_of_range_flag(base: Path) -> Case:
    return Case(
        ["--data-dir", str(base / "data"), "--port", "70000"],
        ["70000"],
    )


def _port_out_of_range_in_config(base: Path) -> Case:
    config = base / "config.toml"
    config.write_text("port = -1\n")
    return Case(
        ["--data-dir", str(base / "data"), "--config", str(config)],
        ["-1"],
        free_port=False,
    )


def _unknown_clock_from_env(base: Path) -> Case:
    # the flag refuses it (argparse choices); its environment twin must too
    return Case(
        ["--data-dir", str(base / "data")],
        ["weird"],
        env={"DYNOXIDE_STREAMS_CLOCK": "weird"},
    )


def _unknown_clock_in_config(base: Path) -> Case:
    config = base / "config.toml"
    config.write_text('clock = "wall"\n')
    return Case(
        ["--data-dir", str(base / "data"), "--config", str(config)],
        ["wall"],
    )


CASES: dict[str, Callable[[Path], Case]] = {
    "data dir under a regular file": _under_a_file,
    "newer schema version": _newer_schema,
    "corrupted database": _corrupt,
    "database path is a directory": _db_is_a_directory,
    "missing triggers file": _missing_triggers_file,
    "trigger names an unknown function": _trigger_names_unknown_function,
    "unknown trigger key": _bad_trigger_key,
    "function flag without =": _bad_function_flag,
    "function with an unknown target": _bad_function_target,
    "config [functions] not a table": _config_functions_not_a_table,
    "config trigger names an unknown function": _config_trigger_names_unknown_function,
    "port out of range (flag)": _port_out_of_range_flag,
    "port out of range (config file)": _port_out_of_range_in_config,
    "unknown clock (environment)": _unknown_clock_from_env,
    "unknown clock (config file)": _unknown_clock_in_config,
}


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[subprocess.CompletedProcess[str], Case]]:
    """Every case run as ``serve``, the processes side by side (each is a fresh
    interpreter; running them together keeps the module fast)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNOXIDE_STREAMS_")}
    started: dict[str, tuple[subprocess.Popen[str], Case]] = {}
    try:
        for name, make in CASES.items():
            base = tmp_path_factory.mktemp("startup")
            case = make(base)
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dynoxide_streams",
                    "serve",
                    *(["--port", str(free_port())] if case.free_port else []),
                    *case.args,
                ],
                cwd=base,
                env={**env, **case.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            started[name] = (proc, case)
        results = {}
        for name, (proc, case) in started.items():
            out, err = proc.communicate(timeout=60)
            results[name] = (
                subprocess.CompletedProcess(proc.args, proc.returncode, out, err),
                case,
            )
        return results
    finally:
        for proc, _ in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("name", list(CASES))
def test_start_up_failure_is_one_clear_line(
    outcomes: dict[str, tuple[subprocess.CompletedProcess[str], Case]], name: str
) -> None:
    result, case = outcomes[name]
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    assert "Traceback" not in result.stdout, result.stdout[-800:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("dynoxide-streams: "), line
    for needle in case.needles:
        assert needle in line, (needle, line)
    if case.check is not None:
        case.check()
