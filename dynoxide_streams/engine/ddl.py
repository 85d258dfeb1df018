"""Table operations: Create/Describe/List/Update/DeleteTable, tags, limits, backups.

Tables become ACTIVE at once (CreateTable answers CREATING, as AWS does, and the next
DescribeTable says ACTIVE), so boto3's waiters return immediately. A GSI added by
UpdateTable is CREATING (Backfilling) until ``engine/maintenance.py`` has indexed the
existing items. Deleted tables and indexes leave the catalog in one transaction; their
rows are purged afterwards in bounded chunks, so a large table never blocks writes.

Tables created or deleted and streams enabled or disabled are operator events
(``logs.oplog``), logged once the change has committed.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.change_log import StreamInfo
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.schema import (
    billing_throughput,
    check_tags,
    global_index_spec,
    new_table_spec,
    stream_view_type,
)
from dynoxide_streams.engine.tables import TableInfo, resolve_table_name
from dynoxide_streams.errors import (
    ResourceInUseException,
    ResourceNotFoundException,
    TableNotFoundException,
    ValidationException,
)
from dynoxide_streams.logs import oplog


def _save_spec(conn: sqlite3.Connection, table: TableInfo, spec: dict[str, Any]) -> None:
    conn.execute("UPDATE tables SET spec = ? WHERE tid = ?", (orjson.dumps(spec), table.tid))


async def _set_spec(ctx: EngineContext, table: TableInfo, member: str, value: Any) -> None:
    """Store ``table``'s description with ``member`` set to ``value``; the catalog
    follows after COMMIT."""
    spec = dict(table.spec)
    spec[member] = value

    def publish(_: None) -> None:
        table.spec = spec

    await ctx.writer.change_schema(lambda conn: _save_spec(conn, table, spec), publish)


def _check_exists(table: TableInfo) -> None:
    """Raise ResourceNotFoundException when ``table`` was deleted meanwhile."""
    if table.deleted:
        raise ResourceNotFoundException(messages.TABLE_NOT_FOUND.format(name=table.name))


def _run(publish: Callable[[], None] | None) -> None:
    """Call a stream's post-COMMIT ``publish``, if the change made one."""
    if publish is not None:
        publish()


def _link_stream(spec: dict[str, Any], arn: str, label: str, view_type: str) -> None:
    spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
    spec["LatestStreamArn"] = arn
    spec["LatestStreamLabel"] = label


async def create_table(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    spec = new_table_spec(params, region=ctx.region, account_id=ctx.account_id, now=ctx.clock.now())
    name = resolve_table_name(params["TableName"])

    view_type = stream_view_type(params.get("StreamSpecification"))

    def write(conn: sqlite3.Connection) -> tuple[TableInfo, Callable[[], None] | None]:
        if name in ctx.store.tables:
            raise ResourceInUseException(messages.TABLE_EXISTS.format(name=name))
        cursor = conn.execute(
            "INSERT INTO tables (name, spec) VALUES (?, ?)", (name, orjson.dumps(spec))
        )
        assert cursor.lastrowid is not None
        table = TableInfo(cursor.lastrowid, name, spec)
        conn.executemany(
            "INSERT INTO index_stats (tid, iid) VALUES (?, ?)",
            [(table.tid, index.iid) for index in table.indexes.values()],
        )
        if view_type is None:
            return table, None
        stream, publish_stream = ctx.streams.create_stream(conn, table, view_type)
        _link_stream(spec, stream.arn, stream.label, view_type)
        _save_spec(conn, table, spec)
        table.stream = stream
        return table, publish_stream

    def publish(written: tuple[TableInfo, Callable[[], None] | None]) -> None:
        table, publish_stream = written
        _run(publish_stream)
        ctx.store.tables[name] = table

    table, _ = await ctx.writer.change_schema(write, publish)
    oplog.info("table created", table=name)
    if table.stream is not None:
        _stream_enabled(table.name, table.stream)
    return {"TableDescription": table.description("CREATING")}


def _stream_enabled(table: str, stream: StreamInfo) -> None:
    oplog.info("stream enabled", table=table, stream_arn=stream.arn, view_type=stream.view_type)


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
        raise ValidationException(messages.DELETION_PROTECTED.template)

    def write(conn: sqlite3.Connection) -> Callable[[], None] | None:
        _check_exists(table)
        conn.execute("DELETE FROM tables WHERE tid = ?", (table.tid,))
        conn.execute("DELETE FROM index_stats WHERE tid = ?", (table.tid,))
        conn.execute("INSERT INTO dropped_tables (tid) VALUES (?)", (table.tid,))
        stream = table.stream
        # the table's stream stays readable (DISABLED) until its retention ends
        return ctx.streams.disable(conn, stream) if stream is not None else None

    def publish(disable_stream: Callable[[], None] | None) -> None:
        _run(disable_stream)
        table.stream = None
        table.deleted = True
        ctx.store.tables.pop(table.name, None)
        ctx.wake_maintenance()

    stream = table.stream
    await ctx.writer.change_schema(write, publish)
    oplog.info("table deleted", table=table.name)
    if stream is not None:
        oplog.info("stream disabled", table=table.name, stream_arn=stream.arn)
    description = table.description("DELETING")
    for index in description.get("GlobalSecondaryIndexes", ()):
        index["IndexStatus"] = "DELETING"  # the table's indexes go with it
    return {"TableDescription": description}


# ---------------------------------------------------------------------- UpdateTable


async def update_table(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    for unsupported in ("ReplicaUpdates",):
        if params.get(unsupported):
            raise ValidationException(messages.NOT_SUPPORTED_HERE.format(member=unsupported))
    updatable = (
        "BillingMode",
        "ProvisionedThroughput",
        "DeletionProtectionEnabled",
        "TableClass",
        "GlobalSecondaryIndexUpdates",
        "StreamSpecification",
    )
    if all(params.get(member) is None for member in updatable):
        raise ValidationException(messages.UPDATE_TABLE_NOTHING.template)
    table = ctx.table(params["TableName"])  # after the request's own checks, as AWS does
    spec = copy.deepcopy(table.spec)
    now = ctx.clock.now()
    _update_billing(spec, params, now)
    if params.get("DeletionProtectionEnabled") is not None:
        spec["DeletionProtectionEnabled"] = params["DeletionProtectionEnabled"]
    if params.get("TableClass") is not None:
        spec["TableClass"] = params["TableClass"]
    created, deleted = _update_indexes(table, spec, params)
    stream_change = params.get("StreamSpecification")
    view_type = stream_view_type(stream_change)
    if stream_change is not None:
        if view_type is not None and table.stream is not None:
            raise ValidationException(messages.STREAM_ALREADY_ENABLED.format(name=table.name))
        if view_type is None and table.stream is None:
            raise ValidationException(messages.NO_STREAM_TO_DISABLE.format(name=table.name))

    def write(conn: sqlite3.Connection) -> tuple[StreamInfo | None, Callable[[], None] | None]:
        _check_exists(table)
        publish_stream: Callable[[], None] | None = None
        new_stream = None
        if stream_change is not None and view_type is not None:
            new_stream, publish_stream = ctx.streams.create_stream(conn, table, view_type)
            _link_stream(spec, new_stream.arn, new_stream.label, view_type)
        elif stream_change is not None and table.stream is not None:
            publish_stream = ctx.streams.disable(conn, table.stream)
            spec.pop("StreamSpecification", None)
        _save_spec(conn, table, spec)
        for iid in created:
            conn.execute("INSERT INTO index_stats (tid, iid) VALUES (?, ?)", (table.tid, iid))
        for iid in deleted:
            conn.execute("DELETE FROM index_stats WHERE tid = ? AND iid = ?", (table.tid, iid))
            conn.execute("INSERT INTO dropped_indexes (tid, iid) VALUES (?, ?)", (table.tid, iid))
        return new_stream, publish_stream

    def publish(written: tuple[StreamInfo | None, Callable[[], None] | None]) -> None:
        new_stream, publish_stream = written
        _run(publish_stream)
        if stream_change is not None:
            table.stream = new_stream
        table.spec = spec
        table.load_indexes({iid: (0, 0) for iid in created})
        if created or deleted:
            ctx.wake_maintenance()

    old_stream = table.stream
    await ctx.writer.change_schema(write, publish)
    if stream_change is not None and table.stream is not None:
        _stream_enabled(table.name, table.stream)
    elif stream_change is not None and old_stream is not None:
        oplog.info("stream disabled", table=table.name, stream_arn=old_stream.arn)
    return {"TableDescription": table.description()}


def _update_billing(spec: dict[str, Any], params: dict[str, Any], now: float) -> None:
    current = "PAY_PER_REQUEST" if "BillingModeSummary" in spec else "PROVISIONED"
    billing = params.get("BillingMode", current)
    throughput = params.get("ProvisionedThroughput")
    if billing == current and throughput is None:
        return
    new = billing_throughput(billing, throughput)
    old = spec["ProvisionedThroughput"]
    if billing == current == "PROVISIONED" and (
        new["ReadCapacityUnits"],
        new["WriteCapacityUnits"],
    ) == (old["ReadCapacityUnits"], old["WriteCapacityUnits"]):
        raise ValidationException(
            messages.THROUGHPUT_UNCHANGED.format(
                old_read=old["ReadCapacityUnits"],
                new_read=new["ReadCapacityUnits"],
                old_write=old["WriteCapacityUnits"],
                new_write=new["WriteCapacityUnits"],
            )
        )
    if billing == "PAY_PER_REQUEST":
        spec["BillingModeSummary"] = {
            "BillingMode": "PAY_PER_REQUEST",
            "LastUpdateToPayPerRequestDateTime": now,
        }
        for index in spec.get("GlobalSecondaryIndexes", ()):
            index["ProvisionedThroughput"] = billing_throughput("PAY_PER_REQUEST", None)
    else:
        spec.pop("BillingModeSummary", None)
        if (
            new["ReadCapacityUnits"] > old["ReadCapacityUnits"]
            or new["WriteCapacityUnits"] > old["WriteCapacityUnits"]
        ):
            new["LastIncreaseDateTime"] = now
        if current == "PAY_PER_REQUEST":
            for index in spec.get("GlobalSecondaryIndexes", ()):
                index["ProvisionedThroughput"] = dict(new)
    spec["ProvisionedThroughput"] = new


def _update_indexes(
    table: TableInfo, spec: dict[str, Any], params: dict[str, Any]
) -> tuple[list[int], list[int]]:
    """Apply GlobalSecondaryIndexUpdates to ``spec``; return created and deleted ids."""
    updates = params.get("GlobalSecondaryIndexUpdates")
    if not updates:
        return [], []
    structural = [u for u in updates if "Create" in u or "Delete" in u]
    if len(structural) > 1:
        raise ValidationException(messages.ONE_INDEX_AT_A_TIME.template)
    billing = "PAY_PER_REQUEST" if "BillingModeSummary" in spec else "PROVISIONED"
    indexes: list[dict[str, Any]] = spec.setdefault("GlobalSecondaryIndexes", [])
    created: list[int] = []
    deleted: list[int] = []
    for update in updates:
        actions = [k for k in ("Create", "Update", "Delete") if update.get(k) is not None]
        if len(actions) != 1:
            raise ValidationException(messages.GSI_UPDATE_ONE_OF.template)
        action = update[actions[0]]
        name = action["IndexName"]
        existing = next((ix for ix in indexes if ix["IndexName"] == name), None)
        if actions[0] == "Create":
            if existing is not None or any(
                ix["IndexName"] == name for ix in spec.get("LocalSecondaryIndexes", ())
            ):
                raise ValidationException(messages.INDEX_EXISTS.format(name=name))
            if len(indexes) >= 20:
                raise ValidationException(messages.TOO_MANY_GSIS.format(limit=20))
            definitions = {
                d["AttributeName"]: d["AttributeType"] for d in spec["AttributeDefinitions"]
            }
            for definition in params.get("AttributeDefinitions") or []:
                known = definitions.get(definition["AttributeName"])
                if known is not None and known != definition["AttributeType"]:
                    raise ValidationException(
                        messages.ATTRIBUTE_TYPE_CHANGE.format(name=definition["AttributeName"])
                    )
                definitions[definition["AttributeName"]] = definition["AttributeType"]
            iid = int(spec.get("NextIndexId", 1))
            spec["NextIndexId"] = iid + 1
            indexes.append(global_index_spec(action, definitions, billing, iid, "CREATING"))
            used = {k["AttributeName"] for k in spec["KeySchema"]}
            for ix in [*indexes, *spec.get("LocalSecondaryIndexes", ())]:
                used.update(k["AttributeName"] for k in ix["KeySchema"])
            spec["AttributeDefinitions"] = [
                {"AttributeName": n, "AttributeType": t}
                for n, t in definitions.items()
                if n in used
            ]
            created.append(iid)
        elif existing is None:
            raise ResourceNotFoundException(
                messages.INDEX_NOT_FOUND.format(name=name, table=table.name)
            )
        elif actions[0] == "Delete":
            if existing.get("IndexStatus") == "CREATING":
                raise ResourceInUseException(messages.INDEX_BEING_CREATED.format(name=name))
            indexes.remove(existing)
            deleted.append(int(existing["IndexId"]))
        else:
            if billing == "PAY_PER_REQUEST":
                raise ValidationException(messages.INDEX_THROUGHPUT_FORBIDDEN.format(name=name))
            existing["ProvisionedThroughput"] = billing_throughput(
                "PROVISIONED", action.get("ProvisionedThroughput")
            )
    if not indexes:
        spec.pop("GlobalSecondaryIndexes")
    return created, deleted


# ----------------------------------------------------------------------------- tags


NOT_A_TABLE_ARN = messages.NOT_A_TABLE_ARN
ARN_NOT_FOUND = messages.ARN_NOT_FOUND


def _table_by_arn(ctx: EngineContext, arn: str) -> TableInfo:
    """The table a tagging call's ``ResourceArn`` names.

    Not a DynamoDB table ARN of this region (malformed, another service, an index's
    ARN ``…:table/<t>/index/<i>``, a stream's ARN, another region) is ValidationException
    ``Invalid TableArn: Invalid ResourceArn provided as input <arn>``; a well-formed
    table ARN of another account or of a table that does not exist is AWS's
    ResourceNotFoundException ``Requested resource not found: ResourcArn: <arn> not
    found`` (sic).
    """
    parts = arn.split(":", 5)
    if (
        len(parts) != 6
        or parts[0] != "arn"
        or parts[2] != "dynamodb"
        or parts[3] != ctx.region
        or not parts[5].startswith("table/")
        or "/" in parts[5][len("table/") :]
    ):
        raise ValidationException(NOT_A_TABLE_ARN.format(arn=arn))
    table = ctx.store.tables.get(parts[5][len("table/") :])
    if table is None or parts[4] != ctx.account_id:
        raise ResourceNotFoundException(ARN_NOT_FOUND.format(arn=arn))
    return table


async def tag_resource(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    check_tags(params["Tags"], {})  # the tags themselves before the table, as AWS does
    table = _table_by_arn(ctx, params["ResourceArn"])
    await _set_spec(ctx, table, "Tags", check_tags(params["Tags"], table.spec.get("Tags", {})))
    return {}


async def untag_resource(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = _table_by_arn(ctx, params["ResourceArn"])
    tags = {k: v for k, v in table.spec.get("Tags", {}).items() if k not in params["TagKeys"]}
    await _set_spec(ctx, table, "Tags", tags)
    return {}


async def list_tags_of_resource(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    start = 0
    if params.get("NextToken"):
        try:
            start = int(params["NextToken"])
        except ValueError:
            raise ValidationException(messages.INVALID_NEXT_TOKEN.template) from None
    table = _table_by_arn(ctx, params["ResourceArn"])
    tags = [{"Key": k, "Value": v} for k, v in table.spec.get("Tags", {}).items()]
    page = tags[start : start + 10]
    response: dict[str, Any] = {"Tags": page}
    if start + 10 < len(tags):
        response["NextToken"] = str(start + 10)
    return response


# ------------------------------------------------------------------ account-level


async def describe_limits(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }


async def describe_endpoints(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "Endpoints": [
            {"Address": f"dynamodb.{ctx.region}.amazonaws.com", "CachePeriodInMinutes": 1440}
        ]
    }


def _backups(table: TableInfo) -> dict[str, Any]:
    pitr = "ENABLED" if table.spec.get("PointInTimeRecovery") else "DISABLED"
    return {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": pitr},
        }
    }


async def describe_continuous_backups(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.store.tables.get(resolve_table_name(params["TableName"]))
    if table is None:
        raise TableNotFoundException(
            messages.TABLE_NOT_FOUND_SHORT.format(name=params["TableName"])
        )
    return _backups(table)


async def update_continuous_backups(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.store.tables.get(resolve_table_name(params["TableName"]))
    if table is None:
        raise TableNotFoundException(
            messages.TABLE_NOT_FOUND_SHORT.format(name=params["TableName"])
        )
    enabled = bool(params["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])
    await _set_spec(ctx, table, "PointInTimeRecovery", enabled)
    return _backups(table)
