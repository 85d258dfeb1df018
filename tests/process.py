"""Real child processes for the tests: ``dynoxide-streams serve`` and ``sidecar``
started on a free loopback port and waited healthy, their logs, and :class:`Processes`,
which kills every process it started when its ``with`` block ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.polling import wait_until

SIDECAR_ENV = {
    "AWS_ACCESS_KEY_ID": "sidecar-test",
    "AWS_SECRET_ACCESS_KEY": "sidecar-test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYTHONUNBUFFERED": "1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    endpoint: str
    log_path: Path

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_healthy(endpoint: str, proc: subprocess.Popen[bytes], deadline_s: float = 30.0) -> None:
    """Poll ``GET /`` until it answers 200 (bounded); fail if the process exits."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(endpoint + "/", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"server at {endpoint} did not become healthy")


def start_command(
    command: str, args: list[str], log_dir: Path, *, port: int, env: dict[str, str]
) -> ServerProcess:
    """``python -m dynoxide_streams COMMAND --port PORT ARGS...`` with ``env`` added to
    the environment, its output in a log file in ``log_dir``, waited healthy (killed
    if it does not get there)."""
    log_path = log_dir / f"{command}-{port}-{time.monotonic_ns()}.log"
    cmd = [sys.executable, "-m", "dynoxide_streams", command, "--port", str(port), *args]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(endpoint, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return ServerProcess(proc, endpoint, log_path)


def start_server(data_dir: Path, *extra: str, port: int | None = None) -> ServerProcess:
    """``dynoxide-streams serve --data-dir DATA_DIR EXTRA...``; its log beside ``data_dir``."""
    args = ["--data-dir", str(data_dir), *extra]
    return start_command("serve", args, data_dir.parent, port=port or free_port(), env={})


def start_sidecar(
    upstream: str,
    work: Path,
    *flags: str,
    data_dir: Path | None = None,
    port: int | None = None,
) -> ServerProcess:
    """``dynoxide-streams sidecar --upstream URL`` with ``--data-dir`` (or
    ``--in-memory``) and test credentials; its log in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    where = ["--data-dir", str(data_dir)] if data_dir is not None else ["--in-memory"]
    args = ["--upstream", upstream, *where, *flags]
    return start_command("sidecar", args, work, port=port or free_port(), env=SIDECAR_ENV)


class Processes:
    """Starts upstreams and sidecars and kills every one still alive on exit."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.started: list[ServerProcess] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.started:
            if server.proc.poll() is None:
                server.kill9()

    def upstream(
        self, *flags: str, data_dir: Path | None = None, port: int | None = None
    ) -> ServerProcess:
        data_dir = data_dir or self.work / f"upstream-{len(self.started)}"
        server = start_server(data_dir, *flags, port=port)
        self.started.append(server)
        return server

    def sidecar(self, upstream: str, *flags: str, **options: Any) -> ServerProcess:
        server = start_sidecar(upstream, self.work, *flags, **options)
        self.started.append(server)
        return server


def log_lines(server: ServerProcess) -> list[str]:
    return server.log().splitlines()


def wait_log(server: ServerProcess, *words: str, timeout: float = 15.0) -> str:
    """The first log line holding every one of ``words`` (waited for)."""

    def found() -> str | None:
        return next((line for line in log_lines(server) if all(w in line for w in words)), None)

    line: str = wait_until(found, timeout, what=f"a log line with {words}")
    return line


def assert_running(server: ServerProcess) -> None:
    """The process has not exited (else: its exit status and the end of its log)."""
    code = server.proc.poll()
    assert code is None, f"the process exited with {code}:\n{server.log()[-4000:]}"


def assert_clean_log(server: ServerProcess) -> None:
    """No traceback and no error-level line in the process's log."""
    text = server.log()
    assert "Traceback" not in text, text[-6000:]
    assert "[error" not in text, text[-6000:]
