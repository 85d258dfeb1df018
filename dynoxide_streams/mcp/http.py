"""MCP over Streamable HTTP at ``/mcp`` on the server's own port (``serve --mcp``).

The transport, its sessions and its SSE streams are the SDK's
``StreamableHTTPSessionManager``; this module only guards it. Every request, before
anything of MCP runs:

1. must carry ``Authorization: Bearer <MCP token>`` (401 otherwise, with
   ``WWW-Authenticate: Bearer``); the MCP token is separate from ``--token``;
2. must come from no browser page, or from an allowed one: an ``Origin`` that
   ``wire/origins.py`` does not allow gets 403, as the MCP transport specification
   asks against DNS rebinding (the ``Host`` check has already run in ``wire/app.py``);
3. if it changes state, must pass the same cross-site rules as the admin API
   (``AccessPolicy.cross_site_refusal``: JSON bodies only);
4. a POST body is read here, as the DynamoDB route reads one (``wire/app.py``
   ``read_body``: at most 16 MiB, else 413 ``RequestEntityTooLarge``; its bytes held
   in ``--max-body-memory``, else 503), then handed to the SDK (whose own limit
   ``mcp_main.mount_http`` raises from 4 MiB to the same 16 MiB, so arguments over
   4 MiB get the engine's tool error as over stdio, not a 413 that ends the client's
   session).

:func:`resolve_token` decides the token: ``--mcp-token`` (or its environment twin),
else on a loopback bind one generated on first run and kept, mode 0600, in
``$XDG_CONFIG_HOME/dynoxide-streams/mcp-token`` (``~/.config`` by default); a
non-loopback bind without an explicit token is refused.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from pathlib import Path

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from dynoxide_streams.config import MIN_TOKEN_LENGTH
from dynoxide_streams.errors import DynamoDBError
from dynoxide_streams.wire.app import declared_length_of, read_body
from dynoxide_streams.wire.asgi import Message, Receive, Scope, Send, send_response
from dynoxide_streams.wire.body_memory import BodyMemory
from dynoxide_streams.wire.origins import AccessPolicy, is_loopback

TOKEN_FILE = "mcp-token"


class McpTokenError(Exception):
    """The MCP token cannot be decided (a non-loopback bind without one, an unreadable
    token file)."""


def config_dir(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/dynoxide-streams`` (``~/.config/dynoxide-streams``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dynoxide-streams"


def resolve_token(given: str | None, bind_host: str) -> tuple[str, bool]:
    """(the MCP token, whether it was generated just now). Raises McpTokenError."""
    if given is not None:
        return given, False
    if not is_loopback(bind_host):
        raise McpTokenError(
            f"refusing to serve MCP on {bind_host} without --mcp-token: anyone who can reach "
            "the port could drive the database (give --mcp-token or DYNOXIDE_STREAMS_MCP_TOKEN)"
        )
    path = config_dir() / TOKEN_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, encoding="utf-8") as kept_file:
            if os.fstat(kept_file.fileno()).st_mode & 0o077:
                raise McpTokenError(
                    f"MCP token file {path} is readable by others: chmod 600 it, or delete "
                    "it for a new token"
                )
            kept = kept_file.read().strip()
    except FileNotFoundError:
        kept = ""
    except OSError as exc:
        raise McpTokenError(f"cannot read MCP token file {path}: {exc.strerror}") from None
    if len(kept) >= MIN_TOKEN_LENGTH:
        return kept, False
    token = secrets.token_urlsafe(32)
    partial = path.with_name(f"{TOKEN_FILE}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # created 0600 from the start, never through a symlink, then moved into place
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(token + "\n")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise McpTokenError(f"cannot write MCP token file {path}: {exc.strerror}") from None
    return token, True


def client_snippet(url: str, token: str) -> str:
    """What to paste into an MCP client's configuration to reach ``url``."""
    config = {
        "mcpServers": {
            "dynoxide-streams": {
                "type": "http",
                "url": url,
                "headers": {"Authorization": f"Bearer {token}"},
            }
        }
    }
    return (
        "MCP over HTTP is on. Client configuration (e.g. .mcp.json):\n"
        + json.dumps(config, indent=2)
        + f"\nor: claude mcp add --transport http dynoxide-streams {url} "
        f'--header "Authorization: Bearer {token}"\n'
        f"(the token is kept in {config_dir() / TOKEN_FILE}; this is shown once)\n"
    )


class McpHttp:
    """The ASGI handler of ``/mcp``: the checks of the module docstring, then the SDK."""

    def __init__(
        self,
        manager: StreamableHTTPSessionManager,
        access: AccessPolicy,
        token: str,
        body_memory: BodyMemory,
    ) -> None:
        self.manager = manager
        self.access = access
        self.body_memory = body_memory
        self._bearer = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        given = headers.get(b"authorization", b"")
        if not hmac.compare_digest(given, self._bearer):
            await _refuse(send, 401, "Unauthorized", "a valid MCP bearer token is required")
            return
        if not self.access.origin_allowed(headers.get(b"origin"), headers.get(b"host")):
            await _refuse(send, 403, "Forbidden", "Origin not allowed")
            return
        has_body = scope["method"] == "POST"
        refusal = self.access.cross_site_refusal(scope["method"], headers, has_body=has_body)
        if refusal is not None:
            await _refuse(send, 403, refusal.name, refusal.message)
            return
        if scope["method"] != "POST":
            await self.manager.handle_request(scope, receive, send)
            return
        async with self.body_memory.hold() as hold:
            try:
                body = await read_body(receive, hold, declared_length_of(scope))
            except DynamoDBError as exc:  # RequestEntityTooLarge (413), no memory (503)
                await _refuse(send, exc.status, exc.name, exc.message)
                return
            await self.manager.handle_request(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then what ``receive`` gives."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _refuse(send: Send, status: int, error: str, message: str) -> None:
    body = json.dumps({"error": error, "message": message}).encode()
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="dynoxide-streams MCP"'))
    await send_response(send, status, body, headers)
