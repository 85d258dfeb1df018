"""Build the in-browser bundle: ``python -m dynoxide_streams.browser.build [OUT]``.

Lays out ``OUT`` (default ``dist/browser/``) from what the registries serve at build
time, never from a CDN at run time:

- ``pyodide/``: the Pyodide core files from the npm ``pyodide`` package (pinned to
  :data:`PYODIDE_VERSION`, installed with npm into the git-ignored ``.cache/browser``):
  the loader, the WebAssembly runtime, the stdlib zip and the lock file. No micropip,
  no Pyodide-built wheels.
- ``pyodide/python_stdlib.zip``: Pyodide's stdlib with bytecode added for the modules
  the engine imports, and ``python.zip`` with bytecode beside every module, both
  compiled by Pyodide itself under Node at build time (``precompile.mjs``).
- ``python.zip``: what the worker puts on ``sys.path`` (imported from the zip): this
  package (the engine, shards, TTL, push protocol, trigger rules; never ``wire/``,
  ``sidecar/``, ``mcp/``, ``cli.py``, ``mcp_main.py``, ``http_client.py``; the
  precompile step fails if the engine imports a server module), its pure-Python dependencies unpacked from PyPI wheels
  (versions from ``constraints.txt``), and ``orjson_fallback.py`` as ``orjson``.
- ``dynoxide-streams.mjs`` and ``worker.mjs``: the JavaScript module pages import and
  the dedicated worker it starts.

Idempotent: npm and pip are called only when their cache misses.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PYODIDE_VERSION = "314.0.8"
"""npm ``pyodide`` version: CPython 3.14.2 (its ``pyodide-lock.json`` ``info.python``)."""

PURE_DEPENDENCIES = ("anyio", "idna", "structlog", "typing_extensions")
"""PyPI distributions unpacked into the bundle (all pure Python; sniffio-free anyio)."""

PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
)

WIRE_MODULES = ("wire/__init__.py", "wire/errors.py", "wire/asgi.py")
"""The only ``wire/`` modules the browser loads: the error renderer and its types."""

SKIPPED_MODULES = (
    "wire/",
    "sidecar/",
    "mcp/",
    "testing/",
    "cli.py",
    "mcp_main.py",
    "http_client.py",
    "service.py",
    "server.py",
    "__main__.py",
    "datadir.py",
    "browser/build.py",
    "browser/orjson_fallback.py",
    "push/static/",
)
"""Paths under ``dynoxide_streams/`` the browser never loads (server-only modules)."""

SERVER_ONLY_MODULES = (
    "uvicorn",
    "websockets",
    "httpx",
    "mcp",
    "starlette",
    "dynoxide_streams.wire.app",
    "dynoxide_streams.sidecar",
    "dynoxide_streams.cli",
    "dynoxide_streams.service",
    "dynoxide_streams.server",
    "dynoxide_streams.mcp",
    "dynoxide_streams.mcp_main",
    "dynoxide_streams.http_client",
)
"""Modules (and their submodules) the engine must not import: ``precompile.mjs`` fails
the build when running the engine under Pyodide brought one in."""

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
REPO = PACKAGE.parent
CACHE = REPO / ".cache" / "browser"


def _run(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(list(args), check=True, cwd=cwd)


def npm_pyodide() -> Path:
    """The npm ``pyodide`` package directory, installed into the cache if missing."""
    target = CACHE / "npm" / "node_modules" / "pyodide"
    stamp = target / "package.json"
    if stamp.exists() and json.loads(stamp.read_text())["version"] == PYODIDE_VERSION:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to build the browser bundle")
    (CACHE / "npm").mkdir(parents=True, exist_ok=True)
    _run(
        npm,
        "install",
        "--no-audit",
        "--no-fund",
        "--prefix",
        str(CACHE / "npm"),
        f"pyodide@{PYODIDE_VERSION}",
    )
    return target


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[name.lower().replace("-", "_")] = version.split(";")[0].strip()
    return pins


PYODIDE_TARGET = (
    "--python-version",
    "3.14",
    "--implementation",
    "py",
    "--abi",
    "none",
    "--platform",
    "any",
    "--only-binary=:all:",
)
"""``pip download`` options for what Pyodide can load: pure-Python wheels for CPython
3.14 (Pyodide's), whatever Python and platform run the build."""


def _wheel(wheels_dir: Path, name: str, version: str) -> Path | None:
    hits = sorted(wheels_dir.glob(f"{name}-{version}-*.whl"))
    return hits[0] if hits else None


def dependency_wheels() -> list[Path]:
    """The pure-Python dependency wheels, downloaded from PyPI into the cache (once:
    a wheel still missing after the download raises instead of trying again)."""
    pins = _pins()
    wheels_dir = CACHE / "wheels"
    wheels_dir.mkdir(parents=True, exist_ok=True)
    wanted = [(name, pins[name]) for name in PURE_DEPENDENCIES]
    missing = [f"{n}=={v}" for n, v in wanted if _wheel(wheels_dir, n, v) is None]
    if missing:
        _run(
            sys.executable,
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "-q",
            "--no-deps",
            *PYODIDE_TARGET,
            "-d",
            str(wheels_dir),
            *missing,
        )
    found = []
    for name, version in wanted:
        wheel = _wheel(wheels_dir, name, version)
        if wheel is None:
            raise SystemExit(f"pip download gave no wheel for {name}=={version} in {wheels_dir}")
        found.append(wheel)
    return found


def _skipped(relative: str) -> bool:
    if relative in WIRE_MODULES:
        return False
    return (
        any(relative.startswith(prefix) for prefix in SKIPPED_MODULES)
        or "__pycache__" in relative
        or not (relative.endswith(".py") or relative.endswith(".json"))
    )


def python_zip(out: Path) -> None:
    """Write ``python.zip``: this package's browser modules, the dependencies and the
    orjson fallback, laid out as ``site-packages`` content (sources only)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(PACKAGE.rglob("*")):
            relative = path.relative_to(PACKAGE).as_posix()
            if path.is_file() and not _skipped(relative):
                archive.write(path, f"dynoxide_streams/{relative}")
        archive.write(HERE / "orjson_fallback.py", "orjson.py")
        for wheel in dependency_wheels():
            with zipfile.ZipFile(wheel) as source:
                for info in source.infolist():
                    name = info.filename
                    if ".dist-info/" in name or (
                        not name.endswith(".py") and not name.endswith(".typed")
                    ):
                        continue
                    # the wheel's own time stamp, not now: the zip (and the
                    # precompile cache key) stays the same from build to build
                    entry = zipfile.ZipInfo(name, date_time=info.date_time)
                    entry.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(entry, source.read(info))


def precompile(pyodide: Path, raw_package: Path, stdlib_out: Path, package_out: Path) -> None:
    """Write the stdlib zip and python.zip with bytecode for the modules the engine
    uses (``precompile.mjs``, run by Node with Pyodide's own CPython: the tab then
    compiles nothing at start; measured in the decisions log). Cached by input hash."""
    server_only = ",".join(SERVER_ONLY_MODULES)
    key = hashlib.sha256(
        raw_package.read_bytes()
        + (HERE / "precompile.mjs").read_bytes()
        + PYODIDE_VERSION.encode()
        + server_only.encode()
    ).hexdigest()[:16]
    cached = CACHE / "precompiled" / key
    if not (cached / "python.zip").exists():
        node = shutil.which("node")
        if node is None:
            raise SystemExit("node is needed to build the browser bundle")
        work = CACHE / "precompiling"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        _run(
            node,
            str(HERE / "precompile.mjs"),
            str(pyodide),
            str(pyodide / "python_stdlib.zip"),
            str(work / "python_stdlib.zip"),
            str(raw_package),
            str(work / "python.zip"),
            server_only,
        )
        cached.parent.mkdir(parents=True, exist_ok=True)
        for stale in cached.parent.iterdir():  # one entry: the cache does not grow
            shutil.rmtree(stale, ignore_errors=True)
        work.rename(cached)
    shutil.copy2(cached / "python_stdlib.zip", stdlib_out)
    shutil.copy2(cached / "python.zip", package_out)


def build(out: Path) -> Path:
    """Build the bundle into ``out`` (replacing its content); return ``out``."""
    pyodide = npm_pyodide()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="browser-", dir=out.parent))  # renamed into place
    try:
        (staging / "pyodide").mkdir()
        for name in PYODIDE_FILES:
            shutil.copy2(pyodide / name, staging / "pyodide" / name)
        python_zip(staging / "python-source.zip")
        precompile(
            pyodide,
            staging / "python-source.zip",
            staging / "pyodide" / "python_stdlib.zip",
            staging / "python.zip",
        )
        (staging / "python-source.zip").unlink()
        for name in ("dynoxide-streams.mjs", "worker.mjs"):
            shutil.copy2(HERE / name, staging / name)
        staging.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else REPO / "dist" / "browser"
    out.parent.mkdir(parents=True, exist_ok=True)
    print(build(out.resolve()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
