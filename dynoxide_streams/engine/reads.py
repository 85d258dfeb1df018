"""Query and Scan, on a table or on a secondary index.

A page stops at ``Limit`` items read or once 1 MB has been read, as DynamoDB does;
FilterExpression applies after the read (so Count ≤ ScannedCount) and
``LastEvaluatedKey`` is the key of the last item read when the page stopped early —
for an index, its table key plus its index key. Key conditions become SQL range
predicates on the order-preserving key bytes; index entries with equal index keys are
returned in table-key order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import orjson

from dynoxide_streams.engine import expressions as ex
from dynoxide_streams.engine import messages
from dynoxide_streams.engine.capacity import consumed, read_units
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.requests import ReadRequest, read_request
from dynoxide_streams.engine.store import BOUNDED_ROWS, finish_steps
from dynoxide_streams.engine.tables import IndexInfo, KeyAttribute, TableInfo, hash_partition
from dynoxide_streams.engine.values import (
    AttributeValue,
    Item,
    compare,
    encode_key,
    validate_item,
    value_type,
)
from dynoxide_streams.errors import ValidationException

PAGE_BYTES = 1024 * 1024


@dataclass
class _Page:
    items: list[Item] = field(default_factory=list)
    count: int = 0
    scanned: int = 0
    size: int = 0
    last_key: Item | None = None


@dataclass
class _Target:
    """What a Query/Scan reads: a table, or one of its indexes."""

    table: TableInfo
    index: IndexInfo | None
    hash_key: KeyAttribute
    range_key: KeyAttribute | None
    fetch_base: bool = False

    @property
    def key_names(self) -> tuple[str, ...]:
        names = list(self.table.key_names)
        if self.index is not None:
            names.extend(n for n in self.index.key_names if n not in names)
        return tuple(names)


def _target(table: TableInfo, params: dict[str, Any]) -> _Target:
    name = params.get("IndexName")
    if name is None:
        return _Target(table, None, table.hash_key, table.range_key)
    index = table.indexes.get(name)
    if index is None:
        raise ValidationException(messages.NO_SUCH_INDEX.format(name=name))
    if index.status == "CREATING":
        raise ValidationException(messages.INDEX_BACKFILLING.format(name=name))
    if not index.local and params.get("ConsistentRead"):
        raise ValidationException(messages.GSI_CONSISTENT_READ.format())
    return _Target(table, index, index.hash_key, index.range_key)


def _check_select(params: dict[str, Any], request: ReadRequest) -> None:
    """Check Select against the projection and IndexName: what needs no table."""
    select = params.get("Select")
    projection = request.projection
    if select == "ALL_PROJECTED_ATTRIBUTES" and params.get("IndexName") is None:
        raise ValidationException(messages.ALL_PROJECTED_WITHOUT_INDEX.format())
    if select == "SPECIFIC_ATTRIBUTES" and projection is None:
        raise ValidationException(messages.SPECIFIC_WITHOUT_PROJECTION.format())
    if select in ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "COUNT") and projection is not None:
        which = "AttributesToGet" if request.legacy_projection else "ProjectionExpression"
        raise ValidationException(
            messages.PROJECTION_WITH_SELECT.format(which=which, select=select)
        )


def _select(target: _Target, params: dict[str, Any], request: ReadRequest) -> str:
    """The effective Select, checked against the index (after :func:`_check_select`)."""
    select = params.get("Select")
    projection = request.projection
    index = target.index
    if select is None:
        if projection is not None:
            select = "SPECIFIC_ATTRIBUTES"
        else:
            select = "ALL_ATTRIBUTES" if index is None else "ALL_PROJECTED_ATTRIBUTES"
    if index is not None and index.projected_names is not None:
        wanted: set[str] | None = None
        if select == "ALL_ATTRIBUTES":
            wanted = None
        elif select == "SPECIFIC_ATTRIBUTES" and projection is not None:
            wanted = {str(path[0]) for path in projection}
        else:
            return select
        missing = None if wanted is None else sorted(wanted - index.projected_names)
        if wanted is None or missing:
            if not index.local:
                if wanted is None:
                    raise ValidationException(messages.GSI_SELECT_ALL.format(name=index.name))
                raise ValidationException(
                    messages.GSI_NOT_PROJECTED.format(
                        name=index.name, missing=", ".join(missing or [])
                    )
                )
            target.fetch_base = True
    return select


def _start_key(target: _Target, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """The storage position after ``ExclusiveStartKey``: (h, pk, sk) or, for an index,
    (ih, ipk, isk, pk, sk)."""
    start = params.get("ExclusiveStartKey")
    if start is None:
        return None
    invalid = ValidationException(messages.START_KEY_INVALID.format())
    checked = validate_item(start)
    if set(checked) != set(target.key_names):
        raise invalid
    try:
        table_key = target.table.key_of({n: checked[n] for n in target.table.key_names})
    except ValidationException:
        raise invalid from None
    if target.index is None:
        return table_key
    index_key = target.index.entry_key(checked)
    if index_key is None:
        raise invalid
    return (*index_key, table_key[1], table_key[2])


def _read_page(
    conn: sqlite3.Connection,
    sql: str,
    args: tuple[Any, ...],
    target: _Target,
    limit: int | None,
    request: ReadRequest,
    count_only: bool,
) -> Generator[int, None, _Page]:
    """Read one page; yields each row's byte size as it is read (see
    ``Store.run_read_steps``) and returns the page. Closing it resets the statement."""
    page = _Page()
    last: Item | None = None
    stopped = False
    condition, projection = request.condition, request.projection
    cursor = conn.execute(sql, args)
    try:
        for row in cursor:
            item: Item = orjson.loads(row[0])
            size: int = row[1]
            if target.fetch_base:
                base = conn.execute(
                    "SELECT item, size FROM items WHERE tid = ? AND h = ? AND pk = ? AND sk = ?",
                    (target.table.tid, hash_partition(row[2]), row[2], row[3]),
                ).fetchone()
                if base is not None:
                    item, size = orjson.loads(base[0]), size + base[1]
            page.scanned += 1
            page.size += size
            last = item
            if condition is None or ex.evaluate(condition, item):
                page.count += 1
                if not count_only:
                    page.items.append(item if projection is None else ex.project(projection, item))
            if (limit is not None and page.scanned >= limit) or page.size >= PAGE_BYTES:
                stopped = True
                break
            yield size
    finally:
        cursor.close()
    if stopped and last is not None:
        page.last_key = {name: last[name] for name in target.key_names if name in last}
    return page


def _response(target: _Target, params: dict[str, Any], page: _Page, select: str) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if select != "COUNT":
        response["Items"] = page.items
    response["Count"] = page.count
    response["ScannedCount"] = page.scanned
    if page.last_key is not None:
        response["LastEvaluatedKey"] = page.last_key
    mode = params.get("ReturnConsumedCapacity")
    capacity = consumed(
        target.table.name, read_units(page.size, bool(params.get("ConsistentRead"))), mode, "Read"
    )
    if capacity is not None:
        if mode == "INDEXES" and target.index is not None:
            units = capacity.pop("Table")
            member = "LocalSecondaryIndexes" if target.index.local else "GlobalSecondaryIndexes"
            capacity["Table"] = {"CapacityUnits": 0.0, "ReadCapacityUnits": 0.0}
            capacity[member] = {target.index.name: units}
        response["ConsumedCapacity"] = capacity
    return response


async def _execute(
    ctx: EngineContext,
    target: _Target,
    params: dict[str, Any],
    sql: str,
    args: list[Any],
    request: ReadRequest,
    select: str,
) -> dict[str, Any]:
    limit = params.get("Limit")

    def run(conn: sqlite3.Connection) -> Generator[int, None, _Page]:
        return _read_page(conn, sql, tuple(args), target, limit, request, select == "COUNT")

    if limit is not None and limit <= BOUNDED_ROWS:  # at most 100 rows: the point connection
        page = await ctx.store.run_read(lambda conn: finish_steps(run(conn)), bounded=True)
    else:  # on the loop until it has read LOOP_ROWS rows, then in a worker thread
        page = await ctx.store.run_read_steps(run)
    return _response(target, params, page, select)


def _source(target: _Target) -> tuple[str, list[Any], tuple[str, str, str, str]]:
    """FROM clause, fixed predicates and the (h, pk, sk, tail) column names."""
    if target.index is None:
        return (
            "SELECT item, size FROM items WHERE tid = ?",
            [target.table.tid],
            ("h", "pk", "sk", ""),
        )
    return (
        "SELECT item, size, pk, sk FROM index_items WHERE tid = ? AND iid = ?",
        [target.table.tid, target.index.iid],
        ("ih", "ipk", "isk", ", pk, sk"),
    )


# --------------------------------------------------------------------------- Query


def _prefix_successor(prefix: bytes) -> bytes | None:
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _key_terms(
    target: _Target, terms: list[ex.KeyTerm]
) -> tuple[AttributeValue, ex.KeyTerm | None]:
    hash_key, range_key = target.hash_key, target.range_key
    hash_value: AttributeValue | None = None
    range_term: ex.KeyTerm | None = None
    key_count = 1 if range_key is None else 2
    if len(terms) > key_count:
        raise ValidationException(
            messages.TOO_MANY_KEY_CONDITIONS.format(count=len(terms), keys=key_count)
        )
    if all(term.name != hash_key.name for term in terms):
        raise ValidationException(messages.KEY_CONDITION_MISSED.format(name=hash_key.name))
    for term in terms:
        if term.name == hash_key.name:
            if term.op != "=":
                raise ValidationException(messages.KEY_CONDITION_NOT_SUPPORTED.format())
            hash_value = term.values[0]
        elif range_key is not None and term.name == range_key.name:
            range_term = term
        else:
            raise ValidationException(messages.KEY_CONDITION_NOT_SUPPORTED.format())
    assert hash_value is not None
    for term in terms:
        attr = hash_key if term.name == hash_key.name else range_key
        assert attr is not None
        for value in term.values:
            if value_type(value) != attr.type:
                raise ValidationException(messages.CONDITION_TYPE_MISMATCH.format())
    if range_term is not None and range_term.op == "BETWEEN":
        low, high = range_term.values
        if (compare(low, high) or 0) > 0:
            raise ValidationException(
                messages.BETWEEN_BOUNDS.format(low=_av_repr(low), high=_av_repr(high))
            )
    return hash_value, range_term


def _av_repr(value: AttributeValue) -> str:
    ((kind, inner),) = value.items()
    return f"{{{kind}:{inner}}}"


_COMPARISONS = {"=": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


async def query(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    request = read_request(params, query=True)
    _check_select(params, request)
    table = ctx.item_table(params["TableName"])
    target = _target(table, params)
    select = _select(target, params, request)
    assert request.key_terms is not None
    hash_value, range_term = _key_terms(target, request.key_terms)
    if request.condition is not None:
        keys = target.index.key_names if target.index is not None else table.key_names
        for name in keys:
            if ex.references(request.condition, name):
                which = (
                    "QueryFilter" if params.get("QueryFilter") is not None else "Filter Expression"
                )
                raise ValidationException(messages.FILTER_ON_KEY.format(which=which, name=name))
    return await _query(ctx, target, params, request, select, hash_value, range_term)


async def query_keys(
    ctx: EngineContext,
    table: TableInfo,
    params: dict[str, Any],
    condition: ex.Condition | None,
    hash_value: AttributeValue,
    range_term: ex.KeyTerm | None,
) -> dict[str, Any]:
    """A Query already planned (PartiQL): ``hash_value`` of the partition key's type,
    ``range_term`` a checked sort-key term, ``condition`` a filter that may also read
    the key attributes. ``params`` gives IndexName, Limit, ConsistentRead,
    ExclusiveStartKey, ScanIndexForward and ReturnConsumedCapacity."""
    request = ReadRequest(None, condition, None)
    target = _target(table, params)
    select = _select(target, params, request)
    return await _query(ctx, target, params, request, select, hash_value, range_term)


async def _query(
    ctx: EngineContext,
    target: _Target,
    params: dict[str, Any],
    request: ReadRequest,
    select: str,
    hash_value: AttributeValue,
    range_term: ex.KeyTerm | None,
) -> dict[str, Any]:
    base, args, (h_col, pk_col, sk_col, tail) = _source(target)
    pk = encode_key(hash_value)
    where = [base, f"{h_col} = ?", f"{pk_col} = ?"]
    args.extend([hash_partition(pk), pk])
    if range_term is not None:
        values = [encode_key(v) for v in range_term.values]
        if range_term.op == "BETWEEN":
            where.append(f"{sk_col} BETWEEN ? AND ?")
            args.extend(values)
        elif range_term.op == "begins_with":
            where.append(f"{sk_col} >= ?")
            args.append(values[0])
            upper = _prefix_successor(values[0])
            if upper is not None:
                where.append(f"{sk_col} < ?")
                args.append(upper)
        else:
            where.append(f"{sk_col} {_COMPARISONS[range_term.op]} ?")
            args.append(values[0])
    forward = params.get("ScanIndexForward", True) is not False
    start = _start_key(target, params)
    if start is not None:
        if start[1] != pk:
            raise ValidationException(messages.START_KEY_OUTSIDE.format())
        tail_values = start[2:]
        columns = f"({sk_col}{tail})" if tail else sk_col
        marks = "(" + ", ".join("?" * len(tail_values)) + ")" if tail else "?"
        where.append(f"{columns} {'>' if forward else '<'} {marks}")
        args.extend(tail_values)
    direction = "" if forward else " DESC"
    order = ", ".join(
        f"{c}{direction}" for c in [sk_col, *([c.strip() for c in tail.split(",") if c.strip()])]
    )
    sql = " AND ".join(where) + f" ORDER BY {order}"
    return await _execute(ctx, target, params, sql, args, request, select)


# ---------------------------------------------------------------------------- Scan


async def scan(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    segment = params.get("Segment")
    total = params.get("TotalSegments")
    if segment is not None and total is None:
        raise ValidationException(messages.TOTAL_SEGMENTS_REQUIRED.format())
    if total is not None and segment is None:
        raise ValidationException(messages.SEGMENT_REQUIRED.format())
    if segment is not None and total is not None and segment >= total:
        raise ValidationException(messages.SEGMENT_TOO_BIG.format(segment=segment, total=total))
    request = read_request(params, query=False)
    _check_select(params, request)
    table = ctx.item_table(params["TableName"])
    target = _target(table, params)
    select = _select(target, params, request)
    return await _scan(ctx, target, params, request, select)


async def scan_filtered(
    ctx: EngineContext, table: TableInfo, params: dict[str, Any], condition: ex.Condition | None
) -> dict[str, Any]:
    """A Scan already planned (PartiQL): ``condition`` filters the items read.
    ``params`` gives IndexName, Limit, ConsistentRead, ExclusiveStartKey and
    ReturnConsumedCapacity."""
    request = ReadRequest(None, condition, None)
    target = _target(table, params)
    select = _select(target, params, request)
    return await _scan(ctx, target, params, request, select)


async def _scan(
    ctx: EngineContext,
    target: _Target,
    params: dict[str, Any],
    request: ReadRequest,
    select: str,
) -> dict[str, Any]:
    segment = params.get("Segment")
    total = params.get("TotalSegments")
    base, args, (h_col, pk_col, sk_col, tail) = _source(target)
    where = [base]
    if segment is not None and total is not None:
        where.append(f"{h_col} >= ? AND {h_col} < ?")
        args.extend([segment * 2**32 // total, (segment + 1) * 2**32 // total])
    columns = f"{h_col}, {pk_col}, {sk_col}{tail}"
    start = _start_key(target, params)
    if start is not None:
        where.append(f"({columns}) > ({', '.join('?' * len(start))})")
        args.extend(start)
    sql = " AND ".join(where) + f" ORDER BY {columns}"
    return await _execute(ctx, target, params, sql, args, request, select)
