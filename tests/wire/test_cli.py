"""The command line: each command's --help lists its own flags, healthcheck exit codes,
start-up errors, graceful SIGTERM."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dynoxide_streams.config import described
from tests.conftest import make_client
from tests.process import free_port, start_server


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dynoxide_streams", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_healthcheck_succeeds_against_running_server(endpoint: str) -> None:
    assert _cli("healthcheck", "--url", endpoint).returncode == 0


def test_healthcheck_fails_when_nothing_listens() -> None:
    assert (
        _cli("healthcheck", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "1").returncode
        == 1
    )


def test_version() -> None:
    result = _cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("dynoxide-streams ")


@pytest.mark.parametrize("command", ["serve", "sidecar"])
def test_help_lists_the_flags_of_the_command_only(command: str) -> None:
    result = _cli(command, "--help")
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"^  (--[a-z-]+)", result.stdout, re.MULTILINE))
    wanted = {s.flag for s in described() if command in s.about.commands}
    assert listed == wanted | {"--print-config"}
    if command == "sidecar":  # serve-only settings stay out of the sidecar's help
        assert "--strict-ttl-limits" not in result.stdout and "--upstream" in result.stdout
    else:
        assert "--upstream" not in result.stdout and "--lease-table" not in result.stdout


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cli("serve", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_shuts_down_cleanly_and_checkpoints(tmp_path: Path) -> None:
    data = tmp_path / "d"
    server = start_server(data)
    try:
        client = make_client(server.endpoint)
        client.create_table(
            TableName="tab1",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="tab1", Item={"pk": {"S": "x"}})
    finally:
        code = server.terminate()
    assert code == 0
    log = server.log()
    assert "listening" in log and server.endpoint in log
    assert "Traceback" not in log
    wal = data / "data.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_in_memory_and_env_port(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynoxide_streams", "serve", "--in-memory"],
        env={**__import__("os").environ, "DYNOXIDE_STREAMS_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        from tests.process import wait_healthy

        wait_healthy(f"http://127.0.0.1:{port}", proc)
        assert make_client(f"http://127.0.0.1:{port}").list_tables()["TableNames"] == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not (tmp_path / ".dynoxide-streams").exists()


def test_network_bind_without_token_refuses_to_start(tmp_path: Path) -> None:
    result = _cli("serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without --token" in result.stderr
    assert "Traceback" not in result.stderr
