"""ExecuteStatement, BatchExecuteStatement and ExecuteTransaction.

Each statement is parsed (``parser``), bound and planned (``planner``), then run by the
engine's existing operations: a SELECT by the Query/Scan reader (``reads.query_keys`` /
``reads.scan_filtered``, the same 1 MB pages), a write as one :class:`WritePlan`
submitted to the Writer (``items.py``), so change records, push frames and triggers
are those of the equivalent PutItem/UpdateItem/DeleteItem. ExecuteTransaction commits
its plans in one batch through ``transactions.commit_transaction``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from dynoxide_streams.engine import expressions as ex
from dynoxide_streams.engine import messages, reads
from dynoxide_streams.engine.capacity import consumed, read_units
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.items import WritePlan, prepare_put
from dynoxide_streams.engine.partiql import ast as A
from dynoxide_streams.engine.partiql import planner
from dynoxide_streams.engine.partiql.parser import parse
from dynoxide_streams.engine.requests import refuse_key_updates
from dynoxide_streams.engine.tables import TableInfo
from dynoxide_streams.engine.transactions import (
    commit_transaction,
    transaction_capacity,
)
from dynoxide_streams.engine.values import Item, validate_value
from dynoxide_streams.engine.writer import ItemBatch
from dynoxide_streams.errors import (
    DuplicateItemException,
    DynamoDBError,
    ValidationException,
)

_RETURNING_TEXT = {
    "ALL_OLD": "ALL OLD *",
    "ALL_NEW": "ALL NEW *",
    "UPDATED_OLD": "MODIFIED OLD *",
    "UPDATED_NEW": "MODIFIED NEW *",
}


class _InsertPlan(WritePlan):
    """An INSERT: a put that fails with DuplicateItemException when the key exists."""

    def check(self, old: Item | None) -> None:
        if old is not None:
            raise DuplicateItemException(messages.PARTIQL_DUPLICATE_ITEM.format())


# ---------------------------------------------------------------------- binding


def _parameters(parsed: A.Parsed, given: list[Any] | None) -> planner.Params:
    values = [validate_value(v) for v in given or ()]
    if len(values) != parsed.params:
        raise ValidationException(messages.PARTIQL_PARAMETER_COUNT.format())
    return values


def _statement(request: dict[str, Any]) -> tuple[A.Statement, planner.Params]:
    parsed = parse(request["Statement"])
    return parsed.statement, _parameters(parsed, request.get("Parameters"))


# ----------------------------------------------------------------------- writes


@dataclass
class _Write:
    """A planned write statement and what it returns."""

    plan: WritePlan
    returning: str | None


def _plan_write(
    ctx: EngineContext,
    stmt: A.Insert | A.Update | A.Delete | A.Exists,
    params: planner.Params,
    return_old: bool,
    *,
    in_transaction: bool = False,
) -> _Write:
    """Bind and plan one write; everything that needs no table is checked first.
    ``EXISTS(SELECT ...)`` (a condition check) is planned only ``in_transaction``."""
    if isinstance(stmt, A.Exists):
        if not in_transaction:
            raise ValidationException(messages.PARTIQL_EXISTS_PLACE.format())
        select = stmt.select
        if select.where is None:
            raise ValidationException(messages.PARTIQL_KEY_EQUALITY.format())
        if select.index is not None:
            raise ValidationException(messages.PARTIQL_INDEX_WRITE.format())
        check = planner.condition(select.where, params)
        table = ctx.item_table(select.table)
        key_item = planner.key_of_where(check, table.key_names)
        key = table.key_of(key_item)
        return _Write(WritePlan(table, key, key_item, check, return_old, check_only=True), None)
    if isinstance(stmt, A.Insert):
        item = planner.insert_item(stmt, params)
        prepare = prepare_put({"Item": item})
        table = ctx.item_table(stmt.table)
        put = prepare(table)
        plan: WritePlan = _InsertPlan(
            table, put.key, put.key_item, None, False, new_item=put.new_item, new_size=put.new_size
        )
        return _Write(plan, None)
    cond = planner.condition(stmt.where, params)
    if isinstance(stmt, A.Update):
        update = planner.update_plan(stmt, params)
        table = ctx.item_table(stmt.table)
        key_item = planner.key_of_where(cond, table.key_names)
        refuse_key_updates({}, update, table.key_names)
        key = table.key_of(key_item)
        return _Write(
            WritePlan(table, key, key_item, cond, return_old, update=update), stmt.returning
        )
    if stmt.returning not in (None, "ALL_OLD"):
        raise ValidationException(
            messages.PARTIQL_DELETE_RETURNING.format(returning=_RETURNING_TEXT[stmt.returning])
        )
    table = ctx.item_table(stmt.table)
    key_item = planner.key_of_where(cond, table.key_names)
    key = table.key_of(key_item)
    condition = planner.delete_condition(cond, table.hash_key.name)
    return _Write(
        WritePlan(table, key, key_item, condition, return_old, delete=True), stmt.returning
    )


def _returned(write: _Write) -> list[Item]:
    old, new = write.plan.write.old, write.plan.write.new
    returning = write.returning
    attributes: Item | None = None
    if returning == "ALL_OLD":
        attributes = old
    elif returning == "ALL_NEW":
        attributes = new
    elif returning in ("UPDATED_OLD", "UPDATED_NEW") and write.plan.update is not None:
        source = old if returning == "UPDATED_OLD" else new
        attributes = ex.project(write.plan.update.paths, source) if source is not None else None
    return [attributes] if attributes else []


async def _run_write(ctx: EngineContext, write: _Write) -> None:
    await ctx.writer.submit(ItemBatch([write.plan.write]))


# ------------------------------------------------------------------------ reads


def _digest(request: dict[str, Any]) -> str:
    data = orjson.dumps([request["Statement"], request.get("Parameters")])
    return hashlib.sha256(data).hexdigest()[:32]


def _encode_token(digest: str, branch: int, key: Item | None) -> str:
    data = orjson.dumps({"d": digest, "b": branch, "k": key})
    return base64.urlsafe_b64encode(data).decode()


def _decode_token(token: str, digest: str) -> tuple[int, Item | None]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        found, branch, key = data["d"], data["b"], data["k"]
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise ValidationException(messages.INVALID_NEXT_TOKEN.format()) from None
    if found != digest:
        raise ValidationException(messages.PARTIQL_NEXT_TOKEN_MISMATCH.format())
    if not isinstance(branch, int) or not (key is None or isinstance(key, dict)):
        raise ValidationException(messages.INVALID_NEXT_TOKEN.format())
    return branch, key


async def _select(
    ctx: EngineContext, stmt: A.Select, params: planner.Params, request: dict[str, Any]
) -> dict[str, Any] | bytes:
    if stmt.projection is not None:
        planner.check_projection(stmt.projection)
    table = ctx.item_table(stmt.table)
    index = table.indexes.get(stmt.index) if stmt.index is not None else None
    if stmt.index is not None and index is None:
        raise ValidationException(messages.NO_SUCH_INDEX.format(name=stmt.index))
    hash_key = index.hash_key if index is not None else table.hash_key
    range_key = index.range_key if index is not None else table.range_key
    plan = planner.read_plan(stmt, params, hash_key, range_key)
    if index is None and request.get("NextToken") is None and _is_point(plan, range_key):
        return _point_select(ctx, table, stmt, plan, request)
    digest = _digest(request)
    branch, start = 0, None
    if request.get("NextToken") is not None:
        branch, start = _decode_token(request["NextToken"], digest)
    mode = request.get("ReturnConsumedCapacity")
    base: dict[str, Any] = {
        "ConsistentRead": bool(request.get("ConsistentRead")),
        "ReturnConsumedCapacity": "INDEXES" if mode == "INDEXES" else "TOTAL",
        "ScanIndexForward": plan.forward,
    }
    if stmt.index is not None:
        base["IndexName"] = stmt.index
    limit: int | None = request.get("Limit")
    items: list[Item] = []
    capacities: list[dict[str, Any]] = []
    next_token: str | None = None
    if plan.hash_values is None:
        page = await reads.scan_filtered(
            ctx, table, _page_params(base, limit, start), plan.condition
        )
        items.extend(page["Items"])
        capacities.append(page["ConsumedCapacity"])
        if "LastEvaluatedKey" in page:
            next_token = _encode_token(digest, 0, page["LastEvaluatedKey"])
    else:
        values = plan.hash_values
        while branch < len(values):
            page = await reads.query_keys(
                ctx,
                table,
                _page_params(base, limit, start),
                plan.condition,
                values[branch],
                plan.range_term,
            )
            items.extend(page["Items"])
            capacities.append(page["ConsumedCapacity"])
            if "LastEvaluatedKey" in page:
                next_token = _encode_token(digest, branch, page["LastEvaluatedKey"])
                break
            branch, start = branch + 1, None
            if limit is not None:
                limit -= page["ScannedCount"]
                if limit <= 0:
                    if branch < len(values):
                        next_token = _encode_token(digest, branch, None)
                    break
    response: dict[str, Any] = {"Items": [planner.project(i, stmt.projection) for i in items]}
    if next_token is not None:
        response["NextToken"] = next_token
    if mode in ("TOTAL", "INDEXES"):
        if len(capacities) == 1:
            response["ConsumedCapacity"] = capacities[0]
        else:
            units = sum(float(c["CapacityUnits"]) for c in capacities)
            if not capacities:
                units = read_units(0, bool(request.get("ConsistentRead")))
            response["ConsumedCapacity"] = consumed(table.name, units, mode, "Read")
    return response


def _is_point(plan: planner.ReadPlan, range_key: Any) -> bool:
    """Whether a table read names one whole primary key with equalities."""
    if plan.hash_values is None or len(plan.hash_values) != 1:
        return False
    return range_key is None or (plan.range_term is not None and plan.range_term.op == "=")


def _point_select(
    ctx: EngineContext,
    table: TableInfo,
    stmt: A.Select,
    plan: planner.ReadPlan,
    request: dict[str, Any],
) -> dict[str, Any] | bytes:
    """A SELECT of one whole key: a point read on the loop, as GetItem (the Query it
    stands for would read the same item and charge the same units)."""
    assert plan.hash_values is not None
    key_item = {table.hash_key.name: plan.hash_values[0]}
    if table.range_key is not None and plan.range_term is not None:
        key_item[table.range_key.name] = plan.range_term.values[0]
    row = ctx.store.get_item_row(table.tid, table.key_of(key_item))
    mode = request.get("ReturnConsumedCapacity")
    if (
        row is not None
        and stmt.projection is None
        and mode not in ("TOTAL", "INDEXES")
        and planner.only_key_equalities(plan.condition, key_item)
    ):
        return b'{"Items":[' + row[0] + b"]}"  # the stored item as it is, like GetItem
    items: list[Item] = []
    size = 0
    if row is not None:
        item: Item = orjson.loads(row[0])
        size = row[1]
        if plan.condition is None or ex.evaluate(plan.condition, item):
            items.append(planner.project(item, stmt.projection))
    response: dict[str, Any] = {"Items": items}
    units = read_units(size, bool(request.get("ConsistentRead")))
    capacity = consumed(table.name, units, mode, "Read")
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response


def _page_params(base: dict[str, Any], limit: int | None, start: Item | None) -> dict[str, Any]:
    params = dict(base)
    if limit is not None:
        params["Limit"] = limit
    if start is not None:
        params["ExclusiveStartKey"] = start
    return params


# ------------------------------------------------------------------- operations


async def execute_statement(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any] | bytes:
    """ExecuteStatement: one SELECT, INSERT, UPDATE or DELETE. A SELECT of one whole key
    may answer ready JSON bytes."""
    stmt, values = _statement(params)
    if isinstance(stmt, A.Select):
        return await _select(ctx, stmt, values, params)
    return_old = params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
    write = _plan_write(ctx, stmt, values, return_old)
    await _run_write(ctx, write)
    response: dict[str, Any] = {"Items": _returned(write)}
    capacity = consumed(
        write.plan.table.name,
        write.plan.capacity_units,
        params.get("ReturnConsumedCapacity"),
        "Write",
    )
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response


_CODES = {
    "ValidationException": "ValidationError",
    "ThrottlingException": "ThrottlingError",
    "InternalServerError": "InternalServerError",
}


def _error_entry(exc: DynamoDBError, table: str | None) -> dict[str, Any]:
    code = _CODES.get(exc.name, exc.name.removesuffix("Exception"))
    error: dict[str, Any] = {"Code": code, "Message": exc.message}
    if "Item" in exc.extra:
        error["Item"] = exc.extra["Item"]
    entry: dict[str, Any] = {"Error": error}
    if table is not None:
        entry["TableName"] = table
    return entry


def _parse_all(
    requests: list[dict[str, Any]],
) -> list[tuple[A.Statement, planner.Params] | DynamoDBError]:
    parsed: list[tuple[A.Statement, planner.Params] | DynamoDBError] = []
    for request in requests:
        try:
            parsed.append(_statement(request))
        except DynamoDBError as exc:
            parsed.append(exc)
    return parsed


def _refuse_mixing(
    parsed: list[tuple[A.Statement, planner.Params] | DynamoDBError], operation: str
) -> bool:
    """Whether the statements are reads; refuse reads mixed with writes."""
    kinds = {isinstance(p[0], A.Select) for p in parsed if not isinstance(p, DynamoDBError)}
    if len(kinds) > 1:
        raise ValidationException(messages.PARTIQL_MIXED_BATCH.format(operation=operation))
    return kinds == {True}


def _point_read(
    ctx: EngineContext, stmt: A.Select, params: planner.Params, operation: str
) -> tuple[TableInfo, Item | None, int]:
    """A SELECT that names the whole primary key: the table, the projected item (None
    when absent or filtered out) and the bytes read."""
    if stmt.index is not None:
        raise ValidationException(messages.PARTIQL_BATCH_SELECT_KEY.format(operation=operation))
    table = ctx.item_table(stmt.table)
    if stmt.where is None:
        raise ValidationException(messages.PARTIQL_BATCH_SELECT_KEY.format(operation=operation))
    cond = planner.condition(stmt.where, params)
    try:
        key_item = planner.key_of_where(cond, table.key_names)
    except ValidationException:
        raise ValidationException(
            messages.PARTIQL_BATCH_SELECT_KEY.format(operation=operation)
        ) from None
    if stmt.projection is not None:
        planner.check_projection(stmt.projection)
    row = ctx.store.get_item_row(table.tid, table.key_of(key_item))
    if row is None:
        return table, None, 0
    item: Item = orjson.loads(row[0])
    if not ex.evaluate(cond, item):
        return table, None, row[1]
    return table, planner.project(item, stmt.projection), row[1]


def _add_units(totals: dict[str, float], table: str, units: float) -> None:
    totals[table] = totals.get(table, 0.0) + units


def _capacity_list(totals: dict[str, float], kind: str) -> list[dict[str, Any]]:
    return [
        {"TableName": name, "CapacityUnits": units, f"{kind}CapacityUnits": units}
        for name, units in totals.items()
    ]


async def batch_execute_statement(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    """BatchExecuteStatement: up to 25 reads (each by its whole key) or 25 writes, each
    with its own result or Error; one failing does not stop the others."""
    requests: list[dict[str, Any]] = params["Statements"]
    parsed = _parse_all(requests)
    reading = _refuse_mixing(parsed, "BatchExecuteStatement")
    responses: list[dict[str, Any]] = []
    totals: dict[str, float] = {}
    for request, entry in zip(requests, parsed, strict=True):
        if isinstance(entry, DynamoDBError):
            responses.append(_error_entry(entry, None))
            continue
        stmt, values = entry
        try:
            if reading:
                assert isinstance(stmt, A.Select)
                table, item, size = _point_read(ctx, stmt, values, "BatchExecuteStatement")
                _add_units(
                    totals, table.name, read_units(size, bool(request.get("ConsistentRead")))
                )
                response: dict[str, Any] = {"TableName": table.name}
                if item is not None:
                    response["Item"] = item
                responses.append(response)
            else:
                assert not isinstance(stmt, A.Select)
                return_old = request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                write = _plan_write(ctx, stmt, values, return_old)
                await _run_write(ctx, write)
                _add_units(totals, write.plan.table.name, write.plan.capacity_units)
                responses.append({"TableName": write.plan.table.name})
        except DynamoDBError as exc:
            name = stmt.select.table if isinstance(stmt, A.Exists) else stmt.table
            known = name if name in ctx.store.tables else None
            responses.append(_error_entry(exc, known))
    result: dict[str, Any] = {"Responses": responses}
    if params.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
        result["ConsumedCapacity"] = _capacity_list(totals, "Read" if reading else "Write")
    return result


async def execute_transaction(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    """ExecuteTransaction: up to 100 reads (each by its whole key, from one snapshot)
    or writes committed all or nothing, as TransactGetItems / TransactWriteItems."""
    token = params.get("ClientRequestToken")
    fingerprint = orjson.dumps(
        {k: v for k, v in params.items() if k != "ClientRequestToken"}, option=orjson.OPT_SORT_KEYS
    )
    if token is not None:
        cached = ctx.tokens.lookup("partiql:" + token, fingerprint, ctx.clock.now())
        if cached is not None:
            return cached
    requests: list[dict[str, Any]] = params["TransactStatements"]
    statements = [_statement(request) for request in requests]
    reading = _refuse_mixing(list(statements), "ExecuteTransaction")
    if reading:
        return _read_transaction(ctx, statements, params)
    plans: list[WritePlan] = []
    for request, (stmt, values) in zip(requests, statements, strict=True):
        assert not isinstance(stmt, A.Select)
        if isinstance(stmt, A.Update | A.Delete) and stmt.returning is not None:
            raise _unsupported_returning()
        return_old = request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
        plans.append(_plan_write(ctx, stmt, values, return_old, in_transaction=True).plan)
    await commit_transaction(ctx, plans)
    response: dict[str, Any] = {}
    capacity = transaction_capacity(params, plans)
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    if token is not None:
        ctx.tokens.store("partiql:" + token, fingerprint, response, ctx.clock.now())
    return response


def _unsupported_returning() -> ValidationException:
    return ValidationException(
        messages.PARTIQL_UNSUPPORTED.format(what="RETURNING is not supported in transactions")
    )


def _read_transaction(
    ctx: EngineContext, statements: list[tuple[A.Statement, planner.Params]], params: dict[str, Any]
) -> dict[str, Any]:
    totals: dict[str, float] = {}
    responses: list[dict[str, Any]] = []
    conn = ctx.store.point_conn
    conn.execute("BEGIN")  # one snapshot for every read of the transaction
    try:
        for stmt, values in statements:
            assert isinstance(stmt, A.Select)
            table, item, size = _point_read(ctx, stmt, values, "ExecuteTransaction")
            _add_units(totals, table.name, 2 * read_units(size, True))
            responses.append({} if item is None else {"Item": item})
    finally:
        conn.execute("COMMIT")
    response: dict[str, Any] = {"Responses": responses}
    if params.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
        response["ConsumedCapacity"] = _capacity_list(totals, "Read")
    return response
