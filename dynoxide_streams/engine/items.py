"""Single-item operations: PutItem, GetItem, DeleteItem, UpdateItem.

Each write is first turned into a :class:`WritePlan` — the table, the storage key and
a ``decide`` function (condition, update, index and size rules) — by ``plan_put``,
``plan_delete``, ``plan_update`` or ``plan_check``. The single-item operations submit
one plan; BatchWriteItem and TransactWriteItems (``engine/batch_ops.py``,
``engine/transactions.py``) submit many in one batch. The Writer runs ``decide``
against the item's current state inside the group transaction. GetItem reads the
committed row directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from dynoxide_streams.engine import expressions as ex
from dynoxide_streams.engine import messages
from dynoxide_streams.engine.capacity import consumed, read_units, write_units
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.requests import (
    Applier,
    checked_key,
    item_projection,
    refuse_key_updates,
    return_values,
    update_plan,
    write_condition,
    write_substitutions,
)
from dynoxide_streams.engine.tables import StorageKey, TableInfo
from dynoxide_streams.engine.values import (
    MAX_ITEM_SIZE,
    Item,
    item_size,
    validate_item_sized,
)
from dynoxide_streams.engine.writer import UNCHANGED, ItemBatch, ItemWrite, Outcome
from dynoxide_streams.errors import ConditionalCheckFailedException, ValidationException

CONDITION_FAILED = messages.CONDITION_FAILED.template
GIGABYTE = 1024**3


@dataclass(eq=False)
class WritePlan:
    """One validated item write, ready for the Writer."""

    table: TableInfo
    key: StorageKey
    key_item: Item
    condition: ex.Condition | None
    return_old_on_failure: bool
    update: ex.UpdatePlan | None = None
    apply: Applier = ex.apply_update
    new_item: Item | None = None
    new_size: int = 0
    delete: bool = False
    check_only: bool = False
    result_size: int = 0
    write: ItemWrite = field(init=False)

    def __post_init__(self) -> None:
        self.write = ItemWrite(self.table, self.key, self.decide)

    def check(self, old: Item | None) -> None:
        """Raise ConditionalCheckFailedException if the condition fails on ``old``."""
        if self.condition is not None and not ex.evaluate(self.condition, old):
            if self.return_old_on_failure and old is not None:
                raise ConditionalCheckFailedException(CONDITION_FAILED, Item=old)
            raise ConditionalCheckFailedException(CONDITION_FAILED)

    def decide(self, old: Item | None) -> Outcome:
        self.check(old)
        if self.check_only:
            return UNCHANGED
        if self.delete:
            return None
        if self.new_item is not None:
            self.result_size = self.new_size
            return self.new_item, self.new_size
        if old is None and self.update is not None and ex.only_removes(self.update):
            return UNCHANGED  # DynamoDB creates no item for REMOVE/DELETE on a missing one
        base = old if old is not None else dict(self.key_item)
        new = base if self.update is None else self.apply(self.update, base)
        self.table.check_index_keys(new)
        size = item_size(new)
        if size > MAX_ITEM_SIZE:
            raise ValidationException(messages.UPDATED_ITEM_TOO_LARGE.template)
        self.result_size = size
        return new, size

    @property
    def capacity_units(self) -> float:
        return write_units(self.write.old_size, self.result_size)


Planner = Callable[[TableInfo], WritePlan]
"""The table-dependent half of a write's validation: binds a checked request to its
table (key schema, index keys) and returns the plan."""


def prepare_put(params: dict[str, Any]) -> Planner:
    """Check everything of a PutItem-shaped request (also a PutRequest or a transaction
    Put) that needs no table, as AWS does before it looks the table up; the planner
    does the rest."""
    item, size = validate_item_sized(params["Item"])
    subs = write_substitutions(params, ("ConditionExpression",))
    condition = write_condition(params, subs)
    subs.check_all_used()
    if size > MAX_ITEM_SIZE:
        raise ValidationException(messages.ITEM_TOO_LARGE.template)
    return_old = params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"

    def plan(table: TableInfo) -> WritePlan:
        key = table.key_of_item(item)
        table.check_index_keys(item)
        return WritePlan(
            table, key, table.key_item(item), condition, return_old, new_item=item, new_size=size
        )

    return plan


def plan_put(table: TableInfo, params: dict[str, Any]) -> WritePlan:
    """Validate a PutItem-shaped request against ``table``."""
    return prepare_put(params)(table)


def _prepare_keyed(
    params: dict[str, Any],
    *,
    update: bool = False,
    delete: bool = False,
    check_only: bool = False,
) -> Planner:
    """The table-free checks of a ``Key``-addressed write: its key values, its
    condition and, with ``update``, its update (parsed before the condition, so its
    errors come first)."""
    key_item = checked_key(params)
    members = ("UpdateExpression", "ConditionExpression") if update else ("ConditionExpression",)
    subs = write_substitutions(params, members)
    parsed: ex.UpdatePlan | None = None
    apply: Applier = ex.apply_update
    if update:
        parsed, apply = update_plan(params, subs)
    condition = write_condition(params, subs)
    subs.check_all_used()
    return_old = params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"

    def plan(table: TableInfo) -> WritePlan:
        key = table.key_of(key_item)
        if update:
            refuse_key_updates(params, parsed, table.key_names)
        return WritePlan(
            table,
            key,
            key_item,
            condition,
            return_old,
            update=parsed,
            apply=apply,
            delete=delete,
            check_only=check_only,
        )

    return plan


def prepare_delete(params: dict[str, Any]) -> Planner:
    """The table-free checks of a DeleteItem-shaped request."""
    return _prepare_keyed(params, delete=True)


def prepare_check(params: dict[str, Any]) -> Planner:
    """The table-free checks of a transaction's ConditionCheck."""
    return _prepare_keyed(params, check_only=True)


def prepare_update(params: dict[str, Any]) -> Planner:
    """The table-free checks of an UpdateItem-shaped request."""
    return _prepare_keyed(params, update=True)


def plan_delete(table: TableInfo, params: dict[str, Any]) -> WritePlan:
    """Validate a DeleteItem-shaped request."""
    return prepare_delete(params)(table)


def plan_check(table: TableInfo, params: dict[str, Any]) -> WritePlan:
    """Validate a transaction's ConditionCheck."""
    return prepare_check(params)(table)


def plan_update(table: TableInfo, params: dict[str, Any]) -> WritePlan:
    """Validate an UpdateItem-shaped request."""
    return prepare_update(params)(table)


def bind_plans(
    ctx: EngineContext, planners: list[tuple[str, Planner]], duplicate: str
) -> list[WritePlan]:
    """Look up each planner's table (after every request was checked, as AWS does) and
    plan it; a second write to one item in the same request is ``duplicate``'s
    ValidationException."""
    plans: list[WritePlan] = []
    seen: set[tuple[int, tuple[int, bytes, bytes]]] = set()
    for name, planner in planners:
        table = ctx.item_table(name)
        plan = planner(table)
        if (table.tid, plan.key) in seen:
            raise ValidationException(duplicate)
        seen.add((table.tid, plan.key))
        plans.append(plan)
    return plans


def collection_metrics(ctx: EngineContext, plan: WritePlan) -> dict[str, Any] | None:
    """The ``ItemCollectionMetrics`` of a committed write, or None when its table has no
    local secondary index (DynamoDB reports item collections only for such tables).

    ``ItemCollectionKey`` is the item's partition key attribute; ``SizeEstimateRangeGB``
    brackets the size of the item collection (every item with that partition key) in
    whole gigabytes, ``[floor, floor + 1]``: ``[0.0, 1.0]`` below 1 GB.
    """
    table = plan.table
    if not any(index.local for index in table.indexes.values()):
        return None
    h, pk, _ = plan.key
    (size,) = ctx.store.point_conn.execute(
        "SELECT COALESCE(SUM(size), 0) FROM items WHERE tid = ? AND h = ? AND pk = ?",
        (table.tid, h, pk),
    ).fetchone()
    low = float(math.floor(size / GIGABYTE))
    name = table.hash_key.name
    return {"ItemCollectionKey": {name: plan.key_item[name]}, "SizeEstimateRangeGB": [low, low + 1]}


def _write_response(
    ctx: EngineContext, plan: WritePlan, params: dict[str, Any], attributes: Item | None
) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if attributes:
        response["Attributes"] = attributes
    capacity = consumed(
        plan.table.name, plan.capacity_units, params.get("ReturnConsumedCapacity"), "Write"
    )
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    if params.get("ReturnItemCollectionMetrics") == "SIZE":
        metrics = collection_metrics(ctx, plan)
        if metrics is not None:
            response["ItemCollectionMetrics"] = metrics
    return response


async def _write_one(
    ctx: EngineContext,
    params: dict[str, Any],
    prepare: Callable[[dict[str, Any]], Planner],
    allowed_returns: tuple[str, ...],
) -> tuple[WritePlan, str]:
    """Validate (ReturnValues first, then everything that needs no table, then the
    table and what depends on it), plan and commit one item write; the committed plan
    and the ReturnValues asked for."""
    returns = return_values(params, allowed_returns)
    planner = prepare(params)
    plan = planner(ctx.item_table(params["TableName"]))
    await ctx.writer.submit(ItemBatch([plan.write]))
    return plan, returns


async def put_item(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    plan, returns = await _write_one(ctx, params, prepare_put, ("NONE", "ALL_OLD"))
    return _write_response(ctx, plan, params, plan.write.old if returns == "ALL_OLD" else None)


async def delete_item(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    plan, returns = await _write_one(ctx, params, prepare_delete, ("NONE", "ALL_OLD"))
    return _write_response(ctx, plan, params, plan.write.old if returns == "ALL_OLD" else None)


async def update_item(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    plan, returns = await _write_one(
        ctx, params, prepare_update, ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
    )
    old, new = plan.write.old, plan.write.new
    attributes: Item | None = None
    if returns == "ALL_OLD":
        attributes = old
    elif returns == "ALL_NEW":
        attributes = new
    elif returns in ("UPDATED_OLD", "UPDATED_NEW") and plan.update is not None:
        source = old if returns == "UPDATED_OLD" else new
        attributes = ex.project(plan.update.paths, source) if source is not None else None
    return _write_response(ctx, plan, params, attributes)


async def get_item(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any] | bytes:
    """GetItem. Returns ready JSON bytes when the stored item can be sent as it is."""
    key_item = checked_key(params)
    projection = item_projection(params)
    table = ctx.item_table(params["TableName"])
    key = table.key_of(key_item)
    row = ctx.store.get_item_row(table.tid, key)
    mode = params.get("ReturnConsumedCapacity")
    if row is None:
        response: dict[str, Any] = {}
        size = 0
    elif projection is None and mode not in ("TOTAL", "INDEXES"):
        return b'{"Item":' + row[0] + b"}"
    else:
        item = orjson.loads(row[0])
        size = row[1]
        response = {"Item": item if projection is None else ex.project(projection, item)}
    units = read_units(size, bool(params.get("ConsistentRead")))
    capacity = consumed(table.name, units, mode, "Read")
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response
