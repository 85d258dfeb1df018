"""Run ``dynoxide-streams serve`` as a real child process for restart/crash tests."""

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


def start_server(data_dir: Path, *extra: str, port: int | None = None) -> ServerProcess:
    port = port or free_port()
    log_path = data_dir.parent / f"server-{port}-{time.monotonic_ns()}.log"
    log_file = log_path.open("wb")
    cmd = [
        sys.executable,
        "-m",
        "dynoxide_streams",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *extra,
    ]
    proc = subprocess.Popen(
        cmd, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(endpoint, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return ServerProcess(proc, endpoint, log_path)
