"""What the tools run against: :class:`EngineBackend`, this process's engine (the
same operation functions, request validation and errors as the wire API).

A backend answers :meth:`call` with the tool's response (a dict) or raises a
:class:`~dynoxide_streams.errors.DynamoDBError`; :class:`~dynoxide_streams.mcp.server`
turns either into a tool result. ``source`` is the change feed the table resources
and ``read_changes`` follow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import anyio.to_thread
import orjson

from dynoxide_streams.engine.changes import ChangeSource
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.operations import (
    DYNAMODB_PREFIX,
    OPERATIONS,
    STREAM_OPERATIONS,
    STREAMS_PREFIX,
)
from dynoxide_streams.engine.shapes import validate_request
from dynoxide_streams.engine.snapshots import Snapshots
from dynoxide_streams.errors import ResourceNotFoundException, ValidationException
from dynoxide_streams.mcp.changes import read_changes
from dynoxide_streams.mcp.tools import ToolSpec
from dynoxide_streams.triggers.events import dead_letter_view
from dynoxide_streams.triggers.runner import TriggerRunner
from dynoxide_streams.ttl.sweeper import sweep

BATCH_WRITE_MAX = 25


class Backend(Protocol):
    """What the MCP server needs of an engine, embedded or remote."""

    source: ChangeSource

    async def call(self, spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]: ...

    def tool_available(self, spec: ToolSpec) -> bool:
        """Whether this backend offers the tool at all."""
        ...


class EngineBackend:
    """Tools over this process's engine (``ctx``), its change source and triggers."""

    def __init__(
        self,
        ctx: EngineContext,
        source: ChangeSource,
        triggers: TriggerRunner | None,
        info: Callable[[], dict[str, Any]],
    ) -> None:
        self.ctx = ctx
        self.source = source
        self.triggers = triggers
        self._info = info
        self.snapshots = Snapshots(ctx)

    def tool_available(self, spec: ToolSpec) -> bool:
        return True

    async def call(self, spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
        if spec.name == "delete_table":
            return await self._delete_table(arguments)
        if spec.operation is not None:
            return await self.operation(spec.operation, arguments)
        own: dict[str, Callable[[dict[str, Any]], Any]] = {
            "bulk_put_items": self._bulk_put,
            "sweep_ttl": self._sweep,
            "advance_clock": self._advance_clock,
            "read_changes": self._read_changes,
            "list_event_source_mappings": self._mappings,
            "list_dead_letters": self._dead_letters,
            "database_info": self._database_info,
            "create_snapshot": self._create_snapshot,
            "list_snapshots": self._list_snapshots,
            "delete_snapshot": self._delete_snapshot,
            "restore_snapshot": self._restore_snapshot,
        }
        result: dict[str, Any] = await own[spec.name](arguments)
        return result

    async def operation(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run DynamoDB (or Streams) operation ``name`` as the wire API does: the
        request validated and normalised by ``validate_request``, then the operation."""
        if name in OPERATIONS:
            prefix, handler = DYNAMODB_PREFIX, OPERATIONS[name]
        else:
            prefix, handler = STREAMS_PREFIX, STREAM_OPERATIONS[name]
        params = validate_request(prefix, name, arguments)
        result = await handler(self.ctx, params)
        if isinstance(result, bytes):
            loaded: dict[str, Any] = orjson.loads(result)
            return loaded
        return result

    async def _delete_table(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """DeleteTable, after an automatic snapshot when the table exists."""
        name = arguments.get("TableName")
        snapshot = None
        if isinstance(name, str) and name in self.ctx.store.tables:
            snapshot = await self.snapshots.create(reason=f"before delete_table {name}", auto=True)
        result = await self.operation("DeleteTable", arguments)
        if snapshot is not None:
            result["AutomaticSnapshot"] = snapshot.name
        return result

    async def _create_snapshot(self, arguments: dict[str, Any]) -> dict[str, Any]:
        name = arguments.get("SnapshotName")
        info = await self.snapshots.create(name, reason="create_snapshot")
        return {"Snapshot": info.describe()}

    async def _list_snapshots(self, arguments: dict[str, Any]) -> dict[str, Any]:
        found = await anyio.to_thread.run_sync(self.snapshots.list)  # opens each file
        return {"Snapshots": [s.describe() for s in found]}

    async def _delete_snapshot(self, arguments: dict[str, Any]) -> dict[str, Any]:
        self.snapshots.delete(self._snapshot_name(arguments))
        return {}

    def _snapshot_name(self, arguments: dict[str, Any]) -> str:
        name = arguments.get("SnapshotName")
        self.snapshots.path_of(name)  # raises for anything that is no snapshot name
        assert isinstance(name, str)
        return name

    async def _restore_snapshot(self, arguments: dict[str, Any]) -> dict[str, Any]:
        name, table = self._snapshot_name(arguments), arguments.get("TableName")
        if not isinstance(table, str):
            raise ValidationException("TableName must be a string")
        auto = await self.snapshots.create(
            reason=f"before restore_snapshot {name} {table}", auto=True, protect=name
        )
        result = await self.snapshots.restore(name, table)
        result["AutomaticSnapshot"] = auto.name
        return result

    async def _bulk_put(self, arguments: dict[str, Any]) -> dict[str, Any]:
        table, items = arguments.get("TableName"), arguments.get("Items")
        if not isinstance(items, list):
            raise ValidationException("Items must be a list of items (DynamoDB JSON)")
        written = 0
        for start in range(0, len(items), BATCH_WRITE_MAX):
            chunk = items[start : start + BATCH_WRITE_MAX]
            request = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
            while request:
                answer = await self.operation("BatchWriteItem", {"RequestItems": request})
                request = answer.get("UnprocessedItems") or {}
            written += len(chunk)
        return {"TableName": table, "Written": written}

    async def _sweep(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"Expired": await sweep(self.ctx)}

    async def _advance_clock(self, arguments: dict[str, Any]) -> dict[str, Any]:
        clock: Any = self.ctx.clock
        if not getattr(clock, "virtual", False):
            raise ValidationException("the clock is real; start with --clock virtual")
        seconds, moment = arguments.get("Seconds"), arguments.get("EpochSeconds")
        try:
            if isinstance(seconds, (int, float)) and moment is None and _is_number(seconds):
                if seconds < 0:
                    raise ValidationException("Seconds must be a number >= 0")
                clock.advance(seconds)
            elif isinstance(moment, (int, float)) and _is_number(moment) and seconds is None:
                clock.set(moment)
            else:
                raise ValidationException("give Seconds (a number >= 0) or EpochSeconds")
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        self.ctx.wake_maintenance()
        return {"Now": clock.now(), "Virtual": True}

    async def _read_changes(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return await read_changes(self.source, arguments)

    async def _mappings(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if self.triggers is None:
            return {"EventSourceMappings": []}
        text = {k: arguments.get(k) for k in ("EventSourceArn", "FunctionName", "Marker")}
        for key, value in text.items():
            if value is not None and not isinstance(value, str):
                raise ValidationException(f"{key} must be a string")
        max_items = arguments.get("MaxItems")
        if max_items is not None and (not _is_number(max_items) or max_items < 1):
            raise ValidationException("MaxItems must be a positive integer")
        return self.triggers.list_mappings(
            event_source_arn=text["EventSourceArn"],
            function_name=text["FunctionName"],
            marker=text["Marker"],
            max_items=None if max_items is None else int(max_items),
        )

    async def _dead_letters(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if self.triggers is None:
            raise ResourceNotFoundException("triggers are not running")
        uuid, after = arguments.get("UUID"), arguments.get("After", 0)
        limit = arguments.get("Limit", DEAD_LETTER_PAGE)
        if uuid is not None and not isinstance(uuid, str):
            raise ValidationException("UUID must be a string")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ValidationException("After must be a non-negative integer (a dead letter Id)")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise ValidationException("Limit must be an integer from 1 to 1000")
        rows = self.triggers.store.dead_letters(uuid, after, limit)
        out: dict[str, Any] = {"DeadLetters": [dead_letter_view(row) for row in rows]}
        if len(rows) == limit:  # perhaps more: the next page is After this Id
            out["LastEvaluatedId"] = rows[-1][0]
        return out

    async def _database_info(self, arguments: dict[str, Any]) -> dict[str, Any]:
        clock: Any = self.ctx.clock
        return {
            **self._info(),
            "Tables": len(self.ctx.store.tables),
            "Clock": {"Now": clock.now(), "Virtual": bool(getattr(clock, "virtual", False))},
            "Region": self.ctx.region,
            "AccountId": self.ctx.account_id,
        }


DEAD_LETTER_PAGE = 1000
"""Dead letters one ``list_dead_letters`` call returns at most (its ``Limit``)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
