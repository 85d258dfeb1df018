"""BatchGetItem and BatchWriteItem.

BatchWriteItem validates every request first (nothing is written if any is bad), then
commits all puts and deletes as one Writer batch, so ``UnprocessedItems`` is always
empty. BatchGetItem reads its keys (≤ 100) by primary key and returns up to 16 MB,
leaving the rest in ``UnprocessedKeys`` as DynamoDB does.
"""

from __future__ import annotations

from typing import Any

import orjson

from dynoxide_streams.engine import expressions as ex
from dynoxide_streams.engine import messages
from dynoxide_streams.engine.capacity import consumed, read_units
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.items import (
    Planner,
    WritePlan,
    bind_plans,
    collection_metrics,
    prepare_delete,
    prepare_put,
)
from dynoxide_streams.engine.requests import item_projection
from dynoxide_streams.engine.values import validate_item
from dynoxide_streams.engine.writer import ItemBatch
from dynoxide_streams.errors import ValidationException

MAX_BATCH_WRITE = 25
MAX_BATCH_GET = 100
MAX_BATCH_GET_BYTES = 16 * 1024 * 1024
DUPLICATES = messages.BATCH_DUPLICATE_KEYS.template


def metrics_by_table(
    ctx: EngineContext, params: dict[str, Any], plans: list[WritePlan]
) -> dict[str, list[dict[str, Any]]] | None:
    """The ``ItemCollectionMetrics`` map of a committed multi-item write (BatchWriteItem,
    TransactWriteItems): one entry per write, listed under its table, for tables with a
    local secondary index; None when not asked for or when no table has one."""
    if params.get("ReturnItemCollectionMetrics") != "SIZE":
        return None
    found: dict[str, list[dict[str, Any]]] = {}
    for plan in plans:
        if plan.check_only:
            continue
        metrics = collection_metrics(ctx, plan)
        if metrics is not None:
            found.setdefault(plan.table.name, []).append(metrics)
    return found or None


def _capacity_list(
    mode: str | None, units: dict[str, float], kind: str
) -> list[dict[str, Any]] | None:
    """The ``ConsumedCapacity`` list of a batch: one entry a table (see ``consumed``)."""
    if mode not in ("TOTAL", "INDEXES"):
        return None
    return [
        entry
        for name, total in units.items()
        if (entry := consumed(name, total, mode, kind)) is not None
    ]


async def batch_write_item(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    request_items: dict[str, list[dict[str, Any]]] = params["RequestItems"]
    if sum(len(requests) for requests in request_items.values()) > MAX_BATCH_WRITE:
        raise ValidationException(messages.BATCH_WRITE_TOO_MANY.template)
    planners: list[tuple[str, Planner]] = []
    for name, requests in request_items.items():
        for request in requests:
            put, delete = request.get("PutRequest"), request.get("DeleteRequest")
            if (put is None) == (delete is None):
                raise ValidationException(messages.WRITE_REQUEST_ONE_OF.template)
            planner = prepare_put(put) if put is not None else prepare_delete(delete or {})
            planners.append((name, planner))
    # every request is checked before any table is looked up, as AWS does
    plans = bind_plans(ctx, planners, DUPLICATES)
    await ctx.writer.submit(ItemBatch([plan.write for plan in plans]))
    response: dict[str, Any] = {"UnprocessedItems": {}}
    units: dict[str, float] = {}
    for plan in plans:
        units[plan.table.name] = units.get(plan.table.name, 0.0) + plan.capacity_units
    capacity = _capacity_list(params.get("ReturnConsumedCapacity"), units, "Write")
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    metrics = metrics_by_table(ctx, params, plans)
    if metrics is not None:
        response["ItemCollectionMetrics"] = metrics
    return response


async def batch_get_item(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    request_items: dict[str, dict[str, Any]] = params["RequestItems"]
    if sum(len(spec.get("Keys") or []) for spec in request_items.values()) > MAX_BATCH_GET:
        raise ValidationException(messages.BATCH_GET_TOO_MANY.template)
    checked_specs = []
    for name, spec in request_items.items():
        projection = item_projection(spec)
        checked = [validate_item(key) for key in spec["Keys"]]
        canonical = {orjson.dumps(key, option=orjson.OPT_SORT_KEYS) for key in checked}
        if len(canonical) != len(checked):
            raise ValidationException(DUPLICATES)  # a request check: before the lookup
        checked_specs.append((name, spec, projection, checked))
    # every table's keys and projection are checked before any table is looked up
    plans = []
    for name, spec, projection, checked in checked_specs:
        table = ctx.item_table(name)
        keys = []
        seen: set[tuple[int, bytes, bytes]] = set()
        for key, key_item in zip(spec["Keys"], checked, strict=True):
            storage = table.key_of(key_item)
            if storage in seen:
                raise ValidationException(DUPLICATES)
            seen.add(storage)
            keys.append((key, storage))
        plans.append((name, table, spec, projection, keys))
    responses: dict[str, list[Any]] = {}
    unprocessed: dict[str, Any] = {}
    units: dict[str, float] = {}
    total = 0
    for name, table, spec, projection, keys in plans:
        found = responses.setdefault(name, [])
        consistent = bool(spec.get("ConsistentRead"))
        for position, (_, storage) in enumerate(keys):
            if total >= MAX_BATCH_GET_BYTES:
                rest = {k: v for k, v in spec.items() if k != "Keys"}
                rest["Keys"] = [k for k, _ in keys[position:]]
                unprocessed[name] = rest
                break
            row = ctx.store.get_item_row(table.tid, storage)
            size = 0 if row is None else row[1]
            units[name] = units.get(name, 0.0) + read_units(size, consistent)
            if row is None:
                continue
            total += size
            item = orjson.loads(row[0])
            found.append(item if projection is None else ex.project(projection, item))
    response: dict[str, Any] = {"Responses": responses, "UnprocessedKeys": unprocessed}
    capacity = _capacity_list(params.get("ReturnConsumedCapacity"), units, "Read")
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response
