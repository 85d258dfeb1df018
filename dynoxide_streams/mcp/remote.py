"""``mcp --endpoint URL``: the tools over a running server's own APIs, so the stdio
MCP works with a server the developer already runs (and shares its data directory
without opening it).

* DynamoDB and Streams tools go through the DynamoDB API (``sidecar/upstream.py``'s
  signing client over ``http_client.py``: environment credentials when there are
  some, so a ``--credentials`` server accepts them); its error answers come back as
  tool errors with the same name and message.
* ``read_changes`` and the table subscriptions read the server's Streams API through
  ``sidecar/source.py``'s :class:`UpstreamChangeSource`, woken by the server's push
  websocket (``push_wake.py``): a notification follows a commit by milliseconds.
* ``sweep_ttl`` and ``advance_clock`` use the admin API (``--token`` as bearer).
* Snapshots, trigger listings and dead letters need the server's own process and are
  not offered; ``database_info`` says so.

Against a sidecar, which refuses the DynamoDB and Streams APIs, :func:`probe`
returns the upstream engine the sidecar names in its refusal, and
:class:`SidecarBackend` offers only the change feed: ``read_changes``,
``list_streams``, ``describe_stream`` and the table resources, read from that
upstream's Streams API exactly as the sidecar itself reads them (the same
:class:`UpstreamChangeSource`, woken by the sidecar's push websocket); ``database_info`` and the server's instructions say
so. An endpoint that neither answers nor names an upstream raises
:class:`SidecarRefused`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from dynoxide_streams.engine.changes import ChangeSource
from dynoxide_streams.errors import DynamoDBError, ValidationException
from dynoxide_streams.mcp.changes import read_changes
from dynoxide_streams.mcp.push_wake import PushWokenSource
from dynoxide_streams.mcp.tools import ToolSpec
from dynoxide_streams.sidecar.source import UpstreamChangeSource
from dynoxide_streams.sidecar.upstream import (
    DYNAMODB,
    STREAMS,
    Upstream,
    UpstreamError,
    UpstreamUnavailable,
)

STREAM_OPERATIONS = frozenset({"ListStreams", "DescribeStream"})
REMOTE_TOOLS = frozenset({"bulk_put_items", "read_changes", "sweep_ttl", "advance_clock"})
"""The tools of no DynamoDB operation that attach mode offers (with ``database_info``)."""
NOT_OFFERED = (
    "create_snapshot, list_snapshots, delete_snapshot, restore_snapshot, "
    "list_event_source_mappings, list_dead_letters"
)


class RemoteError(DynamoDBError):
    """An error answered by the server, with its exception name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name  # type: ignore[misc]  # the server's name, per instance


class SidecarRefused(Exception):
    """The endpoint is a dynoxide-streams sidecar (it serves no DynamoDB API)."""


_SIDECAR_REFUSAL = re.compile(r"dynoxide-streams sidecar: .* upstream engine at (\S+)$")


async def probe(upstream: Upstream) -> str | None:
    """None when ``upstream`` answers the DynamoDB API; the upstream engine's URL when
    it is a sidecar (from its refusal). Raises UpstreamUnavailable when it cannot be
    reached, SidecarRefused for a sidecar whose upstream cannot be told."""
    try:
        await upstream.call(DYNAMODB, "ListTables", {"Limit": 1}, timeout=5.0)
    except UpstreamError as exc:
        if exc.code == "UnknownOperationException" and "sidecar" in exc.message:
            found = _SIDECAR_REFUSAL.search(exc.message)
            if found is None:
                raise SidecarRefused(exc.message) from None
            return found.group(1)
    return None


class RemoteBackend:
    """Tools over a running server at ``url`` (see the module docstring)."""

    def __init__(self, url: str, region: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.upstream = Upstream(self.url, region)
        inner = UpstreamChangeSource(self.upstream, tables=None, poll_seconds=0.0)
        self.push = PushWokenSource(inner, self.url, token)
        self.source: ChangeSource = self.push
        self._token = token

    def tool_available(self, spec: ToolSpec) -> bool:
        return (
            spec.operation is not None or spec.name in REMOTE_TOOLS or spec.name == "database_info"
        )

    async def call(self, spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
        if spec.operation is not None:
            return await self.operation(spec.operation, arguments)
        if spec.name == "bulk_put_items":
            return await self._bulk_put(arguments)
        if spec.name == "read_changes":
            return await read_changes(self.source, arguments)
        if spec.name == "sweep_ttl":
            answer = await self._admin("/_admin/ttl/sweep", {})
            return {"Expired": answer["expired"]}
        if spec.name == "advance_clock":
            return await self._advance_clock(arguments)
        return {
            "Server": self.url,
            "Attached": True,
            "NotOffered": NOT_OFFERED,
            "Note": "attached to a running server: its data, its triggers and TTL sweeps; "
            "snapshots and trigger listings need the server's own process",
        }

    async def operation(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        prefix = STREAMS if name in STREAM_OPERATIONS else DYNAMODB
        try:
            return await self.upstream.call(prefix, name, arguments, timeout=10.0)
        except UpstreamError as exc:
            raise RemoteError(exc.code, exc.message) from None
        except UpstreamUnavailable as exc:
            raise RemoteError("ServiceUnavailableException", str(exc)) from None

    async def _bulk_put(self, arguments: dict[str, Any]) -> dict[str, Any]:
        table, items = arguments.get("TableName"), arguments.get("Items")
        if not isinstance(items, list):
            raise ValidationException("Items must be a list of items (DynamoDB JSON)")
        for start in range(0, len(items), 25):
            chunk = items[start : start + 25]
            request = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
            while request:
                answer = await self.operation("BatchWriteItem", {"RequestItems": request})
                request = answer.get("UnprocessedItems") or {}
        return {"TableName": table, "Written": len(items)}

    async def _advance_clock(self, arguments: dict[str, Any]) -> dict[str, Any]:
        seconds, moment = arguments.get("Seconds"), arguments.get("EpochSeconds")
        body = {"advance_seconds": seconds} if moment is None else {"set_epoch_seconds": moment}
        answer = await self._admin("/_admin/clock", body)
        return {"Now": answer["now"], "Virtual": answer["virtual"]}

    async def _admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = [] if self._token is None else [("Authorization", f"Bearer {self._token}")]
        status, _, raw = await self.upstream.pool.post(
            self.url + path, orjson.dumps(body), timeout=30.0, headers=headers
        )
        data = orjson.loads(raw) if raw.strip() else {}
        if status != 200:
            name = str(data.get("error") or data.get("__type") or status)
            raise RemoteError(name, str(data.get("message", "")))
        result: dict[str, Any] = data
        return result

    async def aclose(self) -> None:
        await self.upstream.aclose()


SIDECAR_TOOLS = frozenset({"read_changes", "list_streams", "describe_stream", "database_info"})
SIDECAR_NOTE = (
    "Attached to a dynoxide-streams sidecar: only the change feed is offered here "
    "(read_changes, list_streams, describe_stream, table resources and subscriptions), "
    "read from the upstream engine at {upstream}; send DynamoDB requests to that engine.\n"
)


class SidecarBackend:
    """The change-feed tools of a sidecar's upstream (see the module docstring)."""

    def __init__(self, sidecar_url: str, upstream_url: str, region: str, token: str | None) -> None:
        self.url = sidecar_url.rstrip("/")
        self.upstream_url = upstream_url.rstrip("/")
        self.upstream = Upstream(self.upstream_url, region)
        inner = UpstreamChangeSource(self.upstream, tables=None, poll_seconds=0.0)
        self.push = PushWokenSource(inner, self.url, token)  # the sidecar's websocket
        self.source: ChangeSource = self.push

    def tool_available(self, spec: ToolSpec) -> bool:
        return spec.name in SIDECAR_TOOLS

    async def call(self, spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
        if spec.name == "read_changes":
            return await read_changes(self.source, arguments)
        if spec.operation is not None:
            try:
                return await self.upstream.call(STREAMS, spec.operation, arguments, timeout=10.0)
            except UpstreamError as exc:
                raise RemoteError(exc.code, exc.message) from None
            except UpstreamUnavailable as exc:
                raise RemoteError("ServiceUnavailableException", str(exc)) from None
        return {
            "Server": self.url,
            "Sidecar": True,
            "Upstream": self.upstream_url,
            "Note": SIDECAR_NOTE.format(upstream=self.upstream_url).strip(),
        }

    async def aclose(self) -> None:
        await self.upstream.aclose()
