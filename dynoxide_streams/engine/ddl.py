"""Table operations: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable.

Tables become ACTIVE at once (CreateTable answers CREATING, as AWS does, and the next
DescribeTable says ACTIVE), so boto3's waiters return immediately. DeleteTable removes
the table from the catalog in one transaction; its rows are purged afterwards in
bounded chunks by :func:`purge_dropped_tables`, so a large table never blocks writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.tables import (
    TableInfo,
    billing_throughput,
    new_table_spec,
    resolve_table_name,
)
from dynoxide_streams.engine.writer import SchemaChange
from dynoxide_streams.errors import ResourceInUseException, ValidationException

PURGE_CHUNK = 5000


async def create_table(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    spec = new_table_spec(params, region=ctx.region, account_id=ctx.account_id, now=ctx.clock.now())
    name = resolve_table_name(params["TableName"])

    def apply(conn: sqlite3.Connection) -> tuple[TableInfo, Callable[[], None]]:
        if name in ctx.store.tables:
            raise ResourceInUseException(f"Table already exists: {name}")
        cursor = conn.execute(
            "INSERT INTO tables (name, spec) VALUES (?, ?)", (name, orjson.dumps(spec))
        )
        assert cursor.lastrowid is not None
        table = TableInfo(cursor.lastrowid, name, spec)

        def publish() -> None:
            ctx.store.tables[name] = table

        return table, publish

    job: SchemaChange[TableInfo] = SchemaChange(apply)
    await ctx.writer.submit(job)
    assert job.result is not None
    return {"TableDescription": job.result.description("CREATING")}


async def describe_table(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Table": ctx.table(params["TableName"]).description()}


async def list_tables(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    names = sorted(ctx.store.tables)
    start = params.get("ExclusiveStartTableName")
    if start is not None:
        names = [n for n in names if n > start]
    limit = params.get("Limit") or 100
    response: dict[str, Any] = {"TableNames": names[:limit]}
    if len(names) > limit:
        response["LastEvaluatedTableName"] = names[limit - 1]
    return response


async def delete_table(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.table(params["TableName"])
    if table.spec.get("DeletionProtectionEnabled"):
        raise ValidationException(
            "Resource cannot be deleted as it is currently protected against deletion. "
            "Disable deletion protection first."
        )

    def apply(conn: sqlite3.Connection) -> tuple[None, Callable[[], None]]:
        conn.execute("DELETE FROM tables WHERE tid = ?", (table.tid,))
        conn.execute("INSERT INTO dropped_tables (tid) VALUES (?)", (table.tid,))

        def publish() -> None:
            table.deleted = True
            ctx.store.tables.pop(table.name, None)
            ctx.signal_dropped()

        return None, publish

    if table.deleted:
        raise ResourceInUseException(f"Table is being deleted: {table.name}")
    await ctx.writer.submit(SchemaChange(apply))
    return {"TableDescription": table.description("DELETING")}


async def update_table(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.table(params["TableName"])
    for unsupported in ("GlobalSecondaryIndexUpdates", "StreamSpecification", "ReplicaUpdates"):
        if params.get(unsupported):
            raise ValidationException(
                f"One or more parameter values were invalid: {unsupported} is not supported by "
                "this server yet"
            )
    updatable = ("BillingMode", "ProvisionedThroughput", "DeletionProtectionEnabled", "TableClass")
    if all(params.get(member) is None for member in updatable):
        raise ValidationException(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
            "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
        )
    spec = dict(table.spec)
    now = ctx.clock.now()
    current_billing = "PAY_PER_REQUEST" if "BillingModeSummary" in spec else "PROVISIONED"
    billing = params.get("BillingMode", current_billing)
    throughput = params.get("ProvisionedThroughput")
    if billing != current_billing or throughput is not None:
        if billing == "PROVISIONED" and throughput is None:
            billing_throughput(billing, None)
        new = billing_throughput(billing, throughput)
        old = spec["ProvisionedThroughput"]
        if billing == current_billing == "PROVISIONED" and (
            new["ReadCapacityUnits"],
            new["WriteCapacityUnits"],
        ) == (old["ReadCapacityUnits"], old["WriteCapacityUnits"]):
            raise ValidationException(
                "The provisioned throughput for the table will not change. The requested value "
                "equals the current value. Current ReadCapacityUnits provisioned for the table: "
                f"{old['ReadCapacityUnits']}. Requested ReadCapacityUnits: "
                f"{new['ReadCapacityUnits']}. Current WriteCapacityUnits provisioned for the "
                f"table: {old['WriteCapacityUnits']}. Requested WriteCapacityUnits: "
                f"{new['WriteCapacityUnits']}. Refer to the Amazon DynamoDB Developer Guide for "
                "current limits and how to request higher limits."
            )
        if billing == "PAY_PER_REQUEST":
            spec["BillingModeSummary"] = {
                "BillingMode": "PAY_PER_REQUEST",
                "LastUpdateToPayPerRequestDateTime": now,
            }
        else:
            spec.pop("BillingModeSummary", None)
            if (
                new["ReadCapacityUnits"] > old["ReadCapacityUnits"]
                or new["WriteCapacityUnits"] > old["WriteCapacityUnits"]
            ):
                new["LastIncreaseDateTime"] = now
        spec["ProvisionedThroughput"] = new
    if params.get("DeletionProtectionEnabled") is not None:
        spec["DeletionProtectionEnabled"] = params["DeletionProtectionEnabled"]
    if params.get("TableClass") is not None:
        spec["TableClass"] = params["TableClass"]

    def apply(conn: sqlite3.Connection) -> tuple[None, Callable[[], None]]:
        conn.execute("UPDATE tables SET spec = ? WHERE tid = ?", (orjson.dumps(spec), table.tid))

        def publish() -> None:
            table.spec = spec

        return None, publish

    await ctx.writer.submit(SchemaChange(apply))
    return {"TableDescription": table.description()}


async def purge_dropped_tables(ctx: EngineContext) -> int:
    """Delete the rows of dropped tables in chunks; return how many rows were deleted."""
    total = 0
    while True:

        def apply(conn: sqlite3.Connection) -> tuple[int, Callable[[], None]]:
            row = conn.execute("SELECT tid FROM dropped_tables LIMIT 1").fetchone()
            if row is None:
                return -1, lambda: None
            tid = row[0]
            deleted = conn.execute(
                "DELETE FROM items WHERE tid = ? AND (h, pk, sk) IN "
                "(SELECT h, pk, sk FROM items WHERE tid = ? LIMIT ?)",
                (tid, tid, PURGE_CHUNK),
            ).rowcount
            if deleted < PURGE_CHUNK:
                conn.execute("DELETE FROM dropped_tables WHERE tid = ?", (tid,))
            return deleted, lambda: None

        job: SchemaChange[int] = SchemaChange(apply)
        await ctx.writer.submit(job)
        assert job.result is not None
        if job.result < 0:
            return total
        total += job.result
