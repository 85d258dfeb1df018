"""Query and Scan: pages of items read in key order from a worker thread.

A page stops at ``Limit`` items read or once 1 MB of items has been read, as DynamoDB
does; FilterExpression applies after the read (so Count ≤ ScannedCount) and
``LastEvaluatedKey`` is the key of the last item read when the page stopped early.
Query key conditions become SQL range predicates on the order-preserving key bytes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from dynoxide_streams.engine import expressions as ex
from dynoxide_streams.engine.capacity import consumed, read_units
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.requests import reject_legacy, substitutions
from dynoxide_streams.engine.store import BOUNDED_ROWS
from dynoxide_streams.engine.tables import StorageKey, TableInfo, hash_partition
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
    items: list[Item]
    count: int
    scanned: int
    size: int
    last_key: Item | None


def _select_and_projection(
    params: dict[str, Any], subs: ex.Substitutions
) -> tuple[str, list[ex.Path] | None]:
    select = params.get("Select")
    projection = None
    if params.get("ProjectionExpression") is not None:
        projection = ex.parse_projection(params["ProjectionExpression"], subs)
    if params.get("IndexName") is not None:
        raise ValidationException(
            f"The table does not have the specified index: {params['IndexName']}"
        )
    if select == "ALL_PROJECTED_ATTRIBUTES":
        raise ValidationException(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
        )
    if select == "SPECIFIC_ATTRIBUTES" and projection is None:
        raise ValidationException(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
            "SPECIFIC_ATTRIBUTES"
        )
    if select in ("ALL_ATTRIBUTES", "COUNT") and projection is not None:
        raise ValidationException(
            f"Cannot specify the ProjectionExpression when choosing to get {select}"
        )
    return select or ("SPECIFIC_ATTRIBUTES" if projection else "ALL_ATTRIBUTES"), projection


def _start_key(table: TableInfo, params: dict[str, Any]) -> tuple[StorageKey, Item] | None:
    start = params.get("ExclusiveStartKey")
    if start is None:
        return None
    checked = validate_item(start)
    try:
        return table.key_of(checked), checked
    except ValidationException:
        raise ValidationException(
            "The provided starting key is invalid: The provided key element does not match the schema"
        ) from None


def _read_page(
    conn: sqlite3.Connection,
    sql: str,
    args: tuple[Any, ...],
    table: TableInfo,
    limit: int | None,
    condition: ex.Condition | None,
    projection: list[ex.Path] | None,
    count_only: bool,
) -> _Page:
    page = _Page([], 0, 0, 0, None)
    last: Item | None = None
    stopped = False
    for raw, size in conn.execute(sql, args):
        item: Item = orjson.loads(raw)
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
    if stopped and last is not None:
        page.last_key = table.key_item(last)
    return page


def _response(table: TableInfo, params: dict[str, Any], page: _Page, select: str) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if select != "COUNT":
        response["Items"] = page.items
    response["Count"] = page.count
    response["ScannedCount"] = page.scanned
    if page.last_key is not None:
        response["LastEvaluatedKey"] = page.last_key
    capacity = consumed(
        table.name,
        read_units(page.size, bool(params.get("ConsistentRead"))),
        params.get("ReturnConsumedCapacity"),
        "Read",
    )
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response


# --------------------------------------------------------------------------- Query


def _prefix_successor(prefix: bytes) -> bytes | None:
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _key_terms(
    table: TableInfo, terms: list[ex.KeyTerm]
) -> tuple[AttributeValue, ex.KeyTerm | None]:
    hash_value: AttributeValue | None = None
    range_term: ex.KeyTerm | None = None
    if all(term.name != table.hash_key.name for term in terms):
        raise ValidationException(
            f"Query condition missed key schema element: {table.hash_key.name}"
        )
    for term in terms:
        if term.name == table.hash_key.name:
            if term.op != "=":
                raise ValidationException("Query key condition not supported")
            hash_value = term.values[0]
        elif table.range_key is not None and term.name == table.range_key.name:
            range_term = term
        else:
            raise ValidationException("Query key condition not supported")
    if hash_value is None:
        raise ValidationException(
            f"Query condition missed key schema element: {table.hash_key.name}"
        )
    for term in terms:
        attr = table.hash_key if term.name == table.hash_key.name else table.range_key
        assert attr is not None
        for value in term.values:
            if value_type(value) != attr.type:
                raise ValidationException(
                    "One or more parameter values were invalid: Condition parameter type does "
                    "not match schema type"
                )
    if range_term is not None and range_term.op == "BETWEEN":
        low, high = range_term.values
        if (compare(low, high) or 0) > 0:
            raise ValidationException(
                "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to "
                "be greater than or equal to lower bound; lower bound operand: AttributeValue: "
                f"{_av_repr(low)}, upper bound operand: AttributeValue: {_av_repr(high)}"
            )
    return hash_value, range_term


def _av_repr(value: AttributeValue) -> str:
    ((kind, inner),) = value.items()
    return f"{{{kind}:{inner}}}"


_RANGE_SQL = {"=": "sk = ?", "<": "sk < ?", "<=": "sk <= ?", ">": "sk > ?", ">=": "sk >= ?"}


async def query(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.item_table(params["TableName"])
    reject_legacy(params)
    if params.get("KeyConditionExpression") is None:
        raise ValidationException(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
        )
    subs = substitutions(
        params, ("KeyConditionExpression", "FilterExpression", "ProjectionExpression")
    )
    terms = ex.parse_key_condition(params["KeyConditionExpression"], subs)
    condition = None
    if params.get("FilterExpression") is not None:
        condition = ex.parse_condition(params["FilterExpression"], subs, "FilterExpression")
    select, projection = _select_and_projection(params, subs)
    subs.check_all_used()
    hash_value, range_term = _key_terms(table, terms)
    if condition is not None:
        for name in table.key_names:
            if ex.references(condition, name):
                raise ValidationException(
                    "Filter Expression can only contain non-primary key attributes: "
                    f"Primary key attribute: {name}"
                )
    pk = encode_key(hash_value)
    h = hash_partition(pk)
    where = ["tid = ?", "h = ?", "pk = ?"]
    args: list[Any] = [table.tid, h, pk]
    if range_term is not None:
        values = [encode_key(v) for v in range_term.values]
        if range_term.op == "BETWEEN":
            where.append("sk BETWEEN ? AND ?")
            args.extend(values)
        elif range_term.op == "begins_with":
            where.append("sk >= ?")
            args.append(values[0])
            upper = _prefix_successor(values[0])
            if upper is not None:
                where.append("sk < ?")
                args.append(upper)
        else:
            where.append(_RANGE_SQL[range_term.op])
            args.append(values[0])
    forward = params.get("ScanIndexForward", True) is not False
    start = _start_key(table, params)
    if start is not None:
        (_, start_pk, start_sk), _ = start
        if start_pk != pk:
            raise ValidationException(
                "The provided starting key is outside query boundaries based on provided conditions"
            )
        where.append("sk > ?" if forward else "sk < ?")
        args.append(start_sk)
    sql = (
        "SELECT item, size FROM items WHERE "
        + " AND ".join(where)
        + (" ORDER BY sk" if forward else " ORDER BY sk DESC")
    )
    limit = params.get("Limit")

    def run(conn: sqlite3.Connection) -> _Page:
        return _read_page(
            conn, sql, tuple(args), table, limit, condition, projection, select == "COUNT"
        )

    page = await ctx.store.run_read(run, bounded=limit is not None and limit <= BOUNDED_ROWS)
    return _response(table, params, page, select)


# ---------------------------------------------------------------------------- Scan


async def scan(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.item_table(params["TableName"])
    reject_legacy(params)
    segment = params.get("Segment")
    total = params.get("TotalSegments")
    if segment is not None and total is None:
        raise ValidationException(
            "The TotalSegments parameter is required but was not present in the request when "
            "Segment parameter is present"
        )
    if total is not None and segment is None:
        raise ValidationException(
            "The Segment parameter is required but was not present in the request when "
            "parameter TotalSegments is present"
        )
    if segment is not None and total is not None and segment >= total:
        raise ValidationException(
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            f"Segment: {segment} is not less than TotalSegments: {total}"
        )
    subs = substitutions(params, ("FilterExpression", "ProjectionExpression"))
    condition = None
    if params.get("FilterExpression") is not None:
        condition = ex.parse_condition(params["FilterExpression"], subs, "FilterExpression")
    select, projection = _select_and_projection(params, subs)
    subs.check_all_used()
    where = ["tid = ?"]
    args: list[Any] = [table.tid]
    if segment is not None and total is not None:
        low = segment * 2**32 // total
        high = (segment + 1) * 2**32 // total
        where.append("h >= ? AND h < ?")
        args.extend([low, high])
    start = _start_key(table, params)
    if start is not None:
        where.append("(h, pk, sk) > (?, ?, ?)")
        args.extend(start[0])
    sql = "SELECT item, size FROM items WHERE " + " AND ".join(where) + " ORDER BY h, pk, sk"
    limit = params.get("Limit")

    def run(conn: sqlite3.Connection) -> _Page:
        return _read_page(
            conn, sql, tuple(args), table, limit, condition, projection, select == "COUNT"
        )

    page = await ctx.store.run_read(run, bounded=limit is not None and limit <= BOUNDED_ROWS)
    return _response(table, params, page, select)
