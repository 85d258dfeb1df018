"""UpdateTimeToLive and DescribeTimeToLive.

Enabling takes effect at once: the table's TTL attribute is recorded and existing items
are indexed by their TTL value in chunks by the maintenance task (``ttl_backfill``);
from then on the Writer keeps ``ttl_index`` in step with every write. With
``--strict-ttl-limits`` a second change within an hour is refused, as on AWS.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.errors import ValidationException

TTL_CHANGE_INTERVAL_SECONDS = 3600.0


async def describe_time_to_live(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.table(params["TableName"])
    name = table.ttl_attribute
    if name is None:
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
    return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": name}}


async def update_time_to_live(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.table(params["TableName"])
    specification = params["TimeToLiveSpecification"]
    enabled = bool(specification["Enabled"])
    name = specification["AttributeName"]
    current = table.ttl_attribute
    if enabled and current is not None:
        if current == name:
            raise ValidationException(messages.TTL_ALREADY_ENABLED.format())
        raise ValidationException(messages.TTL_OTHER_ATTRIBUTE.format(current=current))
    if not enabled:
        if current is None:
            raise ValidationException(messages.TTL_ALREADY_DISABLED.format())
        if current != name:
            raise ValidationException(messages.TTL_OTHER_ATTRIBUTE.format(current=current))
    now = ctx.clock.now()
    last_change = table.spec.get("TimeToLive", {}).get("ChangedAt")
    if (
        ctx.strict_ttl_limits
        and last_change is not None
        and now - last_change < TTL_CHANGE_INTERVAL_SECONDS
    ):
        raise ValidationException(messages.TTL_TOO_OFTEN.format())
    spec = dict(table.spec)
    spec["TimeToLive"] = {"AttributeName": name, "Enabled": enabled, "ChangedAt": now}

    def write(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE tables SET spec = ? WHERE tid = ?", (orjson.dumps(spec), table.tid))
        conn.execute("DELETE FROM ttl_index WHERE tid = ?", (table.tid,))
        conn.execute("DELETE FROM ttl_backfill WHERE tid = ?", (table.tid,))
        if enabled:
            conn.execute("INSERT INTO ttl_backfill (tid) VALUES (?)", (table.tid,))

    def publish(_: None) -> None:
        table.spec = spec
        if enabled:
            ctx.wake_maintenance()

    await ctx.writer.change_schema(write, publish)
    return {"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": name}}
