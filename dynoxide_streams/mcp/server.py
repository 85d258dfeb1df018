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

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import mcp.types as types
import orjson
import structlog
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.models import InitializationOptions
from mcp.shared.exceptions import McpError

from dynoxide_streams.errors import DynamoDBError, RequestEntityTooLarge, UnknownOperationException
from dynoxide_streams.mcp import data_model
from dynoxide_streams.mcp.backend import Backend
from dynoxide_streams.mcp.changes import current_stream, read_changes
from dynoxide_streams.mcp.feeds import URI_PREFIX, Feeds, session_feeds, table_of
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
from dynoxide_streams.shards import ids

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
    data_model: dict[str, Any] | None = None  # --data-model: a OneTable schema
    note: str = ""  # a line the instructions add (attached to a sidecar: what is offered)


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
            raise UnknownOperationException(f"unknown tool {name!r}")
        if options.read_only and not read_only_allows(spec, arguments):
            raise ReadOnlyRefusal(f"this MCP server is read-only (--read-only): {name} writes")
        if len(orjson.dumps(arguments)) > MAX_ARGUMENT_BYTES:
            raise RequestEntityTooLarge("Request entity too large")
        result = await _capped(backend, options, spec, arguments)
        model = options.data_model
        if (
            spec.name == "describe_table"
            and model is not None
            and data_model.matches(model, result)
        ):
            result["DataModel"] = model
        return text_result(result)
    except DynamoDBError as exc:
        return error_result(exc)
    except Exception:
        log.exception("MCP tool failed", tool=name)
        return text_result(
            {"__type": "InternalServerError", "message": "Internal server error"},
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


RECENT_CHANGES = 20
"""How many of a table's newest change records its resource shows."""


def _not_found(message: str) -> McpError:
    return McpError(types.ErrorData(code=types.INVALID_PARAMS, message=message))


async def table_resources(backend: Backend) -> list[types.Resource]:
    """One resource per table the change source knows."""
    return [
        types.Resource(
            uri=f"{URI_PREFIX}{name}",  # type: ignore[arg-type]  # pydantic parses the str
            name=name,
            description=f"Table {name}: its description and most recent changes; "
            "subscribe to be told of every write",
            mimeType="application/json",
        )
        for name in await backend.source.tables()
    ]


async def read_table_resource(backend: Backend, uri: str) -> list[ReadResourceContents]:
    """A table's description plus its ``RECENT_CHANGES`` newest change records, and in
    ``_meta`` the stream ARN and the position the records end at."""
    table = table_of(uri)
    if table is None or table not in await backend.source.tables():
        raise _not_found(f"no such resource: {uri}")
    out: dict[str, Any] = {}
    if backend.tool_available(BY_NAME["describe_table"]):
        try:
            described = await backend.call(BY_NAME["describe_table"], {"TableName": table})
        except DynamoDBError as exc:
            raise _not_found(f"{exc.name}: {exc.message}") from None
        out["Table"] = described.get("Table")
    meta: dict[str, Any] = {}
    stream = await current_stream(backend.source, table)
    if stream is not None:
        newest = backend.source.newest_known(stream.stream_arn)
        counter = None if newest is None else ids.parse_sequence_number(newest)
        after = "TRIM_HORIZON"
        if counter is not None and counter >= RECENT_CHANGES:
            after = ids.sequence_number(counter - RECENT_CHANGES)
        changes = await read_changes(
            backend.source,
            {"StreamArn": stream.stream_arn, "After": after, "Limit": 1000},
        )
        out["RecentChanges"] = changes["Records"][-RECENT_CHANGES:]
        out["StreamArn"] = stream.stream_arn
        out["Position"] = changes["Position"]
        meta = {"StreamArn": stream.stream_arn, "SequenceNumber": changes["Position"]}
    return [
        ReadResourceContents(
            content=orjson.dumps(out).decode(), mime_type="application/json", meta=meta or None
        )
    ]


class _Server(Server[Any, Any]):
    """The SDK's low-level server, announcing resource subscriptions (it registers the
    handler but always says ``subscribe: false``). Every transport asks this method,
    the stdio one and each Streamable HTTP session alike."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        options = super().create_initialization_options(
            notification_options, experimental_capabilities
        )
        if options.capabilities.resources is not None:
            options.capabilities.resources.subscribe = True
        return options


def build_server(backend: Backend, options: Options, *, version: str) -> Server[Any, Any]:
    """The SDK server with this project's tools registered (``version``: this
    package's, told to clients on initialisation)."""

    @asynccontextmanager
    async def lifespan(_: Server[Any, Any]) -> AsyncIterator[dict[str, Feeds]]:
        async with session_feeds(backend.source) as feeds:  # one per session
            yield {"feeds": feeds}

    told = INSTRUCTIONS + options.note
    if options.data_model is not None:
        told += data_model.instructions(options.data_model)
    server = _Server(NAME, version=version, instructions=told, lifespan=lifespan)

    @server.list_tools()  # type: ignore[no-untyped-call, untyped-decorator]
    async def _list_tools() -> list[types.Tool]:
        return tool_list(backend, options)

    # The engine checks arguments (as it checks a request body), so an agent gets
    # DynamoDB's own error texts rather than JSON-schema ones.
    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def _call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        return await call_tool(backend, options, name, arguments)

    @server.list_resources()  # type: ignore[no-untyped-call, untyped-decorator]
    async def _list_resources() -> list[types.Resource]:
        return await table_resources(backend)

    @server.list_resource_templates()  # type: ignore[no-untyped-call, untyped-decorator]
    async def _templates() -> list[types.ResourceTemplate]:
        return [
            types.ResourceTemplate(
                uriTemplate=URI_PREFIX + "{name}",
                name="table",
                description="A table: description and most recent changes (subscribable)",
                mimeType="application/json",
            )
        ]

    @server.read_resource()  # type: ignore[no-untyped-call, untyped-decorator]
    async def _read(uri: Any) -> list[ReadResourceContents]:
        return await read_table_resource(backend, str(uri))

    @server.subscribe_resource()  # type: ignore[no-untyped-call, untyped-decorator]
    async def _subscribe(uri: Any) -> None:
        context = server.request_context
        feeds: Feeds = context.lifespan_context["feeds"]
        await feeds.subscribe(str(uri), context.session)

    @server.unsubscribe_resource()  # type: ignore[no-untyped-call, untyped-decorator]
    async def _unsubscribe(uri: Any) -> None:
        feeds: Feeds = server.request_context.lifespan_context["feeds"]
        feeds.unsubscribe(str(uri))

    return server
