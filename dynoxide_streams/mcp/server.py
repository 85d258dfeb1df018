"""The MCP server itself: the SDK's low-level ``Server`` with the tools of
``tools.py`` over a :class:`~dynoxide_streams.mcp.backend.Backend`.

The low-level ``Server`` (not FastMCP) is used because the tools are a table, not one
Python function each, and because tool errors must carry the DynamoDB exception name
and message rather than FastMCP's text. Every call answers a ``CallToolResult``: the
response as compact JSON text, or ``isError`` with
``{"__type": <exception name>, "message": ...}`` (plus the modeled members AWS adds,
such as ``CancellationReasons``). No exception escapes to the session: an unexpected
one is logged and answered as an ``InternalServerError`` tool error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mcp.types as types
import orjson
import structlog
from mcp.server.lowlevel import Server

from dynoxide_streams.errors import DynamoDBError, RequestEntityTooLarge
from dynoxide_streams.mcp.backend import Backend
from dynoxide_streams.mcp.tools import (
    BY_NAME,
    MAX_ARGUMENT_BYTES,
    TOOLS,
    ToolSpec,
    capped_limit,
    continuation,
    fitting_count,
    input_schema,
    read_only_allows,
)

log = structlog.get_logger("dynoxide_streams.mcp")

NAME = "dynoxide-streams"
INSTRUCTIONS = """\
dynoxide-streams: a local DynamoDB (with DynamoDB Streams, TTL and Lambda-style
triggers) backed by SQLite. Tools take the DynamoDB API's own request members and
answer its responses, items in DynamoDB JSON ({"S": "x"}, {"N": "1"}).
Live change feed: each table is a resource dynamodb://table/<name>. Subscribe to it
and you are notified after every committed write (yours, the app's, a trigger's, a
TTL expiry); the notification's _meta has StreamArn and SequenceNumber. Call
read_changes with TableName and After=<the position you last read> to get exactly
the new records, then continue from the Position it returns.
"""


@dataclass(frozen=True)
class Options:
    """How the tools behave: ``--read-only``, ``--max-items``, ``--max-bytes``."""

    read_only: bool = False
    max_items: int | None = None
    max_bytes: int | None = None


class ReadOnlyRefusal(DynamoDBError):
    """A write tool called on a ``--read-only`` MCP server."""

    name = "AccessDeniedException"


class ResultTooLarge(DynamoDBError):
    """A result over ``--max-bytes`` that cannot be paged."""

    name = "ResultTooLargeException"


def tool_list(backend: Backend, options: Options) -> list[types.Tool]:
    """The tools this server offers: all of the backend's, minus writes when read-only
    (PartiQL stays: its SELECTs are reads)."""
    out = []
    for spec in TOOLS:
        if not backend.tool_available(spec):
            continue
        if options.read_only and spec.writes and "partiql" not in spec.name:
            continue
        out.append(
            types.Tool(
                name=spec.name,
                description=spec.description,
                inputSchema=input_schema(spec),
                annotations=types.ToolAnnotations(
                    readOnlyHint=not spec.writes,
                    destructiveHint=spec.name in ("delete_table", "delete_item", "sweep_ttl"),
                    openWorldHint=False,
                ),
            )
        )
    return out


def text_result(payload: dict[str, Any], *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=orjson.dumps(payload).decode())],
        isError=error,
    )


def error_result(exc: DynamoDBError) -> types.CallToolResult:
    """A tool error carrying the DynamoDB exception name and message."""
    return text_result({"__type": exc.name, "message": exc.message, **exc.extra}, error=True)


async def call_tool(
    backend: Backend, options: Options, name: str, arguments: dict[str, Any]
) -> types.CallToolResult:
    """Run one tool call; never raises (see the module docstring)."""
    spec = BY_NAME.get(name)
    try:
        if spec is None or not backend.tool_available(spec):
            raise DynamoDBError(f"unknown tool {name!r}")
        if options.read_only and not read_only_allows(spec, arguments):
            raise ReadOnlyRefusal(f"this MCP server is read-only (--read-only): {name} writes")
        if len(orjson.dumps(arguments)) > MAX_ARGUMENT_BYTES:
            raise RequestEntityTooLarge("Request entity too large")
        return text_result(await _capped(backend, options, spec, arguments))
    except DynamoDBError as exc:
        return error_result(exc)
    except Exception as exc:
        log.exception("MCP tool failed", tool=name)
        return text_result(
            {"__type": "InternalServerError", "message": f"Internal server error: {exc!r}"},
            error=True,
        )


async def _capped(
    backend: Backend, options: Options, spec: ToolSpec, arguments: dict[str, Any]
) -> dict[str, Any]:
    """The tool's result within ``--max-items`` and ``--max-bytes``: a paged read is
    asked for fewer items (so the engine's own continuation member says where to go
    on); anything else over ``--max-bytes`` is refused with a hint."""
    limit = capped_limit(spec, arguments, options.max_items)
    call_args = dict(arguments)
    if limit is not None and spec.limit_arg is not None:
        call_args[spec.limit_arg] = limit
    result = await backend.call(spec, call_args)
    by = None
    if limit is not None and spec.items_key and len(result.get(spec.items_key) or []) >= limit:
        by = "max_items"
    if options.max_bytes is not None and len(orjson.dumps(result)) > options.max_bytes:
        if spec.items_key is None or spec.limit_arg is None:
            raise ResultTooLarge(
                f"the result is larger than --max-bytes {options.max_bytes}: ask for less "
                "(a ProjectionExpression, fewer keys)"
            )
        fits = fitting_count(result, spec.items_key, options.max_bytes)
        call_args[spec.limit_arg] = fits
        result = await backend.call(spec, call_args)
        by = "max_bytes"
    if by is not None:
        result["Truncated"] = continuation(spec, result, by)
    return result


def build_server(backend: Backend, options: Options, *, version: str) -> Server[Any, Any]:
    """The SDK server with this project's tools registered (``version``: this
    package's, told to clients on initialisation)."""
    server: Server[Any, Any] = Server(NAME, version=version, instructions=INSTRUCTIONS)

    @server.list_tools()  # type: ignore[no-untyped-call, untyped-decorator]
    async def _list_tools() -> list[types.Tool]:
        return tool_list(backend, options)

    # The engine checks arguments (as it checks a request body), so an agent gets
    # DynamoDB's own error texts rather than JSON-schema ones.
    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def _call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        return await call_tool(backend, options, name, arguments)

    return server
