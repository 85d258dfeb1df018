"""Static browser files under ``/_streams/``, read from the installed package.

``GET /_streams/client.js`` is the ES module, ``GET /_streams/live`` the local console
(tables, items and the live change feed; its modules are ``live.js`` and the files it
imports) and ``GET /_streams/static/<name>`` any other file of
``dynoxide_streams/push/static``.
Only plain file names that exist in that folder are served (no ``/``, no ``..``), so a
path can never leave it.
"""

from __future__ import annotations

import re
from importlib import resources

PREFIX = "/_streams/"
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")
_TYPES = {
    ".js": b"text/javascript; charset=utf-8",
    ".mjs": b"text/javascript; charset=utf-8",
    ".html": b"text/html; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".json": b"application/json",
    ".md": b"text/markdown; charset=utf-8",
}
_ALIASES = {"/_streams/client.js": "client.js", "/_streams/live": "live.html"}


def _load(name: str) -> bytes | None:
    folder = resources.files("dynoxide_streams.push").joinpath("static")
    try:
        entry = folder.joinpath(name)
        return entry.read_bytes() if entry.is_file() else None
    except OSError:
        return None


def lookup(path: str) -> tuple[bytes, bytes] | None:
    """(body, content type) for a static path, or None when there is no such file."""
    name = _ALIASES.get(path)
    if name is None:
        if not path.startswith("/_streams/static/"):
            return None
        name = path.removeprefix("/_streams/static/")
    if not _NAME.fullmatch(name) or ".." in name:
        return None
    kind = _TYPES.get(name[name.rfind(".") :] if "." in name else "")
    if kind is None:
        return None
    body = _load(name)
    return None if body is None else (body, kind)
