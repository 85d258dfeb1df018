"""Build the wheel (and the sdist) and run the server from a fresh virtual environment.

The wheel is built with pip from a copy of the source tree, installed with ``--no-deps``
into a new venv whose only other path is the project venv's site-packages (through a
``.pth`` line, so the project's editable install is *not* active there): imports of
``dynoxide_streams`` must come from the wheel. The server is then started the way the
container image starts it (ENTRYPOINT + CMD and ENV of deploy/Dockerfile).
"""

from __future__ import annotations

import email.message
import email.parser
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaging.deploy_files import (
    ROOT,
    clean_env,
    compose,
    copy_source_tree,
    dockerfile,
    image_server_command,
    source_files,
)

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
VERSION = PROJECT["version"]
DIST_INFO = f"dynoxide_streams-{VERSION}.dist-info"
STATIC_ASSETS = [
    "dynoxide_streams/push/static/client.js",
    "dynoxide_streams/push/static/ddb.js",
    "dynoxide_streams/push/static/feed.js",
    "dynoxide_streams/push/static/items.js",
    "dynoxide_streams/push/static/live.css",
    "dynoxide_streams/push/static/live.html",
    "dynoxide_streams/push/static/live.js",
    "dynoxide_streams/push/static/tables.js",
    "dynoxide_streams/push/static/values.js",
    "dynoxide_streams/engine/model.json",
    "dynoxide_streams/engine/lambda_model.json",
    "dynoxide_streams/engine/messages.json",
    "dynoxide_streams/mcp/tools.json",
]
REPO_URL = "https://github.com/dynoxide-streams/dynoxide-streams"


def _run(
    cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"{cmd} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result


@dataclass
class Built:
    src: Path
    wheel: Path


@dataclass
class Fresh:
    root: Path
    bin: Path
    site: Path
    work: Path  # an empty directory to run in (never the repository: no source on sys.path)

    def command(self, name: str) -> str:
        return str(self.bin / name)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    src = copy_source_tree(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheels")
    _run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps"),
            *("--disable-pip-version-check", "-q", "-w", str(out), str(src)),
        ],
        cwd=src,
    )
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return Built(src, wheels[0])


@pytest.fixture(scope="module")
def fresh(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Fresh:
    root = tmp_path_factory.mktemp("fresh") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    python = root / "bin" / "python"
    # The project's own pip installs into the new venv (--python): offline, no ensurepip.
    _run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install"),
            *("--no-deps", "--no-index", "--disable-pip-version-check", "-q", str(built.wheel)),
        ]
    )
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    # Dependencies from the project venv. A plain path line: .pth files *inside* that
    # directory (the editable install's finder) are not processed, and the path comes
    # after the venv's own site-packages, so the wheel's package wins.
    (site / "zz_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path_factory.mktemp("work")
    return Fresh(root, root / "bin", site, work)


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(f"{DIST_INFO}/METADATA").decode()
    return email.parser.Parser().parsestr(text)


# ---- wheel contents -----------------------------------------------------------------


def test_wheel_carries_every_package_file(built: Built) -> None:
    names = _wheel_names(built.wheel)
    for asset in STATIC_ASSETS:
        assert asset in names, f"{asset} missing from {built.wheel.name}"
    # Every file of the package in the source tree (Python or not) is in the wheel.
    package = [n for n in source_files() if n.startswith("dynoxide_streams/")]
    missing = [n for n in package if n not in names]
    assert not missing, f"not packaged: {missing}"
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"dynoxide_streams", DIST_INFO}, f"unexpected top-level entries: {top}"


def test_wheel_license_and_entry_points(built: Built) -> None:
    names = _wheel_names(built.wheel)
    licenses = [n for n in names if n in (f"{DIST_INFO}/LICENSE", f"{DIST_INFO}/licenses/LICENSE")]
    assert len(licenses) == 1, sorted(n for n in names if n.startswith(DIST_INFO))
    with zipfile.ZipFile(built.wheel) as zf:
        assert zf.read(licenses[0]) == (ROOT / "LICENSE").read_bytes()
        entry_points = zf.read(f"{DIST_INFO}/entry_points.txt").decode()
    assert "dynoxide-streams = dynoxide_streams.cli:main" in entry_points
    assert "dynoxide_streams = dynoxide_streams.testing.pytest_plugin" in entry_points
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert "Copyright (c) 2026 dynoxide-streams contributors" in license_text


def test_wheel_metadata(built: Built) -> None:
    meta = _metadata(built.wheel)
    assert meta["Name"] == "dynoxide-streams"
    assert meta["Version"] == VERSION
    assert meta["Requires-Python"] == ">=3.11"
    assert "MIT" in (meta.get("License-Expression") or meta.get("License") or "")
    assert "dynoxide-streams contributors" in (meta.get("Author") or meta.get("Author-email") or "")
    assert "dynamodb" in (meta.get("Keywords") or "")
    classifiers = set(meta.get_all("Classifier") or [])
    for wanted in [
        "Development Status :: 3 - Alpha",
        "Framework :: AnyIO",
        "Intended Audience :: Developers",
        "License :: OSI Approved :: MIT License",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Database",
        "Topic :: Software Development :: Testing",
    ]:
        assert wanted in classifiers, wanted
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert urls == {
        "Homepage": REPO_URL,
        "Documentation": f"{REPO_URL}/blob/main/README.md",
        "Changelog": f"{REPO_URL}/blob/main/CHANGELOG.md",
        "Issues": f"{REPO_URL}/issues",
    }
    # The linked files exist at those paths in this repository.
    assert (ROOT / "README.md").is_file() and (ROOT / "CHANGELOG.md").is_file()
    header = "\n".join(f"{k}: {v}" for k, v in meta.items()).lower()
    for bad in ("placeholder", "example.com", "todo", "your-org", "changeme"):
        assert bad not in header, f"{bad!r} in wheel metadata"


def test_changelog_has_release_and_unreleased_sections() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text
    assert f"## [{VERSION}] - 2026-11-25" in text
    assert text.index("## [Unreleased]") < text.index(f"## [{VERSION}]")
    assert "keepachangelog.com" in text


def test_sdist_carries_docs_license_and_build_inputs(built: Built, tmp_path: Path) -> None:
    """The sdist (built with setuptools' PEP 517 hook, as pip would) holds the docs,
    the license, the package data, and every file deploy/Dockerfile copies."""
    probe = subprocess.run([sys.executable, "-c", "import setuptools"], capture_output=True)
    assert probe.returncode == 0, "setuptools must be importable to build the sdist"
    out = tmp_path / "sdist"
    _run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta as b; b.build_sdist(sys.argv[1])",
            str(out),
        ],
        cwd=built.src,
    )
    [sdist] = list(out.glob("*.tar.gz"))
    with tarfile.open(sdist) as tf:
        names = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name}
    wanted = {"LICENSE", "CHANGELOG.md", "README.md", "SECURITY.md", "pyproject.toml"}
    wanted |= set(STATIC_ASSETS)
    for instruction in dockerfile()[0].all("COPY"):
        *sources, _dest = (w for w in instruction.args.split() if not w.startswith("--"))
        for source in sources:
            if (ROOT / source).is_dir():  # a directory: something under it must be there
                assert any(n.startswith(source + "/") for n in names), source
            else:
                wanted.add(source)
    missing = sorted(wanted - names)
    assert not missing, f"not in {sdist.name}: {missing}"


# ---- the fresh environment ----------------------------------------------------------


def test_fresh_venv_imports_the_wheel_not_the_work_tree(fresh: Fresh) -> None:
    code = (
        "import importlib.metadata as m, importlib.resources as r, dynoxide_streams\n"
        "print(dynoxide_streams.__file__)\n"
        "print(m.version('dynoxide-streams'))\n"
        "print(len(r.files('dynoxide_streams.push').joinpath('static/client.js').read_bytes()))\n"
        "print(len(r.files('dynoxide_streams.engine').joinpath('model.json').read_bytes()))\n"
    )
    out = _run([fresh.command("python"), "-c", code], cwd=fresh.work, env=clean_env()).stdout
    module_file, version, client_len, model_len = out.split()
    assert Path(module_file).resolve().is_relative_to(fresh.site.resolve()), module_file
    assert version == VERSION
    assert int(client_len) > 0 and int(model_len) > 0


def test_version_from_script_and_module(fresh: Fresh) -> None:
    expected = f"dynoxide-streams {VERSION}"
    env = clean_env()
    script = _run([fresh.command("dynoxide-streams"), "--version"], cwd=fresh.work, env=env)
    assert script.stdout.strip() == expected
    module = _run(
        [fresh.command("python"), "-m", "dynoxide_streams", "--version"], cwd=fresh.work, env=env
    )
    assert module.stdout.strip() == expected


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str, host: str | None = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        response = conn.getresponse()
        return response.status, response.getheader("content-type") or "", response.read()
    finally:
        conn.close()


def _healthcheck(fresh: Fresh, port: int) -> int:
    return subprocess.run(
        [
            *(fresh.command("dynoxide-streams"), "healthcheck"),
            *("--url", f"http://127.0.0.1:{port}", "--timeout", "1"),
        ],
        cwd=fresh.work,
        env=clean_env(),
        capture_output=True,
        timeout=30,
    ).returncode


@pytest.fixture
def image_like_command(fresh: Fresh, tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The image's command line run from the fresh venv: ENTRYPOINT + CMD of
    deploy/Dockerfile plus a test port and --in-memory, with the image's ENV (the data
    directory moved to tmp) and compose.yaml's allowed hosts."""
    argv, image_env = image_server_command()
    port = _free_port()
    cmd = [fresh.command(argv[0]), *argv[1:], "--port", str(port), "--in-memory"]
    env = clean_env(**image_env)
    env["DYNOXIDE_STREAMS_DATA_DIR"] = str(tmp_path / "data")
    service_env = compose()["services"]["dynoxide"]["environment"]
    env["DYNOXIDE_STREAMS_ALLOWED_HOST"] = service_env["DYNOXIDE_STREAMS_ALLOWED_HOST"]
    yield cmd, env


def test_image_command_refuses_a_network_bind_without_token(
    fresh: Fresh, image_like_command: tuple[list[str], dict[str, str]]
) -> None:
    cmd, env = image_like_command
    assert env["DYNOXIDE_STREAMS_HOST"] == "0.0.0.0"
    result = subprocess.run(
        cmd, cwd=fresh.work, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1, result
    assert "--token" in result.stderr


def test_image_command_serves_from_the_wheel_and_stops_on_sigterm(
    fresh: Fresh, image_like_command: tuple[list[str], dict[str, str]], tmp_path: Path
) -> None:
    cmd, env = image_like_command
    port = int(cmd[cmd.index("--port") + 1])
    env["DYNOXIDE_STREAMS_TOKEN"] = secrets.token_hex(16)
    assert _healthcheck(fresh, port) == 1  # nothing listens yet: the check says so

    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=fresh.work, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while _healthcheck(fresh, port) != 0:
            assert proc.poll() is None, f"server exited {proc.returncode}: {log_path.read_text()}"
            assert time.monotonic() < deadline, f"never healthy: {log_path.read_text()}"
            time.sleep(0.1)

        status, content_type, body = _get(port, "/_streams/client.js")
        assert status == 200
        assert content_type.startswith("text/javascript")
        assert b"export" in body and b"subscribe" in body
        assert body == (ROOT / "dynoxide_streams/push/static/client.js").read_bytes()
        status, content_type, _ = _get(port, "/_streams/live")
        assert (status, content_type.split(";")[0]) == (200, "text/html")

        # compose.yaml's allowed host is served; a rebound DNS name is not.
        assert _get(port, "/", host=f"dynoxide:{port}")[0] == 200
        refused = _get(port, "/", host=f"rebind.invalid:{port}")[0]
        assert 400 <= refused < 500
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 0, log_path.read_text()
    assert not (tmp_path / "data").exists() or not os.listdir(tmp_path / "data")
