"""A plain static file server for the in-tab engine's tests and bench.

Serves ``/bundle/`` from the built ``dist/browser/``, ``/sdk.js`` (the AWS SDK for
JavaScript v3 bundled with esbuild) and ``/`` (an empty page), on a free loopback port.
It sends no COOP/COEP headers (the engine must not need cross-origin isolation),
``Cache-Control: max-age`` so a second load comes from the HTTP cache, and gzip when
the browser asks for it, counting the bytes it sent (the bench's transferred size).
"""

from __future__ import annotations

import gzip
import json
import mimetypes
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dynoxide_streams.browser.build import build

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "dist" / "browser"
SDK_DIR = REPO / ".cache" / "browser-sdk"
CLIENT_JS = REPO / "dynoxide_streams" / "push" / "static" / "client.js"
SDK_BUNDLE = SDK_DIR / "sdk.browser.js"
SDK_PINS = {
    "@aws-sdk/client-dynamodb": "3.1178.0",
    "@aws-sdk/client-dynamodb-streams": "3.1141.0",
    "esbuild": "0.28.2",
}
"""Exact versions, so the SDK the tests run is the same on every machine."""
SDK_PACKAGES = tuple(f"{name}@{version}" for name, version in SDK_PINS.items())
SDK_ENTRY = """export {
  DynamoDBClient, CreateTableCommand, DescribeTableCommand, PutItemCommand, GetItemCommand,
  UpdateItemCommand, DeleteItemCommand, QueryCommand, ScanCommand, TransactWriteItemsCommand,
} from "@aws-sdk/client-dynamodb";
export {
  DynamoDBStreamsClient, DescribeStreamCommand, GetShardIteratorCommand, GetRecordsCommand,
} from "@aws-sdk/client-dynamodb-streams";
"""
PAGE = b"<!doctype html><meta charset=utf-8><title>dynoxide-streams in a tab</title>"
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}


def ensure_bundle() -> Path:
    """Build ``dist/browser/`` (npm and PyPI downloads are cached, so this is quick
    after the first time)."""
    return build(BUNDLE)


def ensure_sdk() -> Path:
    """The SDK browser bundle, installed with npm and built with esbuild if missing."""
    npm = shutil.which("npm")
    assert npm, "npm is needed for the browser engine tests"
    modules = SDK_DIR / "node_modules"

    def installed(name: str) -> str | None:
        manifest = modules / name / "package.json"
        return json.loads(manifest.read_text())["version"] if manifest.exists() else None

    if (
        any(installed(name) != version for name, version in SDK_PINS.items())
        or not (modules / ".bin" / "esbuild").exists()
    ):
        SDK_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(SDK_DIR), *SDK_PACKAGES],
            check=True,
            capture_output=True,
            timeout=600,
        )
    entry = SDK_DIR / "entry.mjs"
    pinned = SDK_ENTRY + f"// {SDK_PACKAGES}\n"  # a new pin rebuilds the bundle
    if not SDK_BUNDLE.exists() or not entry.exists() or entry.read_text() != pinned:
        entry.write_text(pinned)
        subprocess.run(
            [str(modules / ".bin" / "esbuild"), str(entry), "--bundle", "--format=esm",
             "--platform=browser", "--minify", f"--outfile={SDK_BUNDLE}"],
            check=True, capture_output=True, timeout=120, cwd=SDK_DIR,
        )  # fmt: skip
    return SDK_BUNDLE


class BundleServer:
    """The static server; ``sent`` counts body bytes sent (after gzip)."""

    def __init__(self, bundle: Path = BUNDLE, sdk: Path | None = None) -> None:
        self.sent = 0
        self.requests: list[str] = []
        outer = self
        lock = threading.Lock()
        zipped: dict[str, tuple[bytes, bytes]] = {}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/":
                    body, kind = PAGE, "text/html; charset=utf-8"
                elif path == "/client.js":  # the push client, as /_streams/client.js
                    body, kind = CLIENT_JS.read_bytes(), "text/javascript"
                elif path == "/sdk.js" and sdk is not None:
                    body, kind = sdk.read_bytes(), "text/javascript"
                elif path.startswith("/bundle/") and ".." not in path:
                    file = bundle / path[len("/bundle/") :]
                    if not file.is_file():
                        self.send_error(404)
                        return
                    body = file.read_bytes()
                    kind = TYPES.get(file.suffix) or (
                        mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                    )
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Cache-Control", "max-age=3600")
                if "gzip" in (self.headers.get("Accept-Encoding") or ""):
                    with lock:
                        cached = zipped.get(path)
                    if cached is None or cached[0] != body:
                        cached = (body, gzip.compress(body, 6))
                        with lock:
                            zipped[path] = cached
                    body = cached[1]
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with lock:
                    outer.sent += len(body)
                    outer.requests.append(path)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
