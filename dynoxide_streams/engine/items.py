"""Single-item operations: PutItem, GetItem, DeleteItem, UpdateItem.

Each write validates its request, builds a ``decide`` function (condition, update,
size limit) and hands it to the Writer, which runs it against the item's current
state inside the group transaction. GetItem reads the committed row directly.
"""

from __future__ import annotations

from typing import Any

from dynoxide_streams.engine import expressions as ex
from dynoxide_streams.engine.capacity import consumed, read_units, write_units
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.requests import (
    checked_key,
    reject_legacy,
    return_values,
    substitutions,
)
from dynoxide_streams.engine.tables import TableInfo
from dynoxide_streams.engine.values import MAX_ITEM_SIZE, Item, item_size, validate_item
from dynoxide_streams.engine.writer import ItemBatch, ItemWrite, Outcome
from dynoxide_streams.errors import ConditionalCheckFailedException, ValidationException

CONDITION_FAILED = "The conditional request failed"


def _condition(params: dict[str, Any], subs: ex.Substitutions) -> ex.Condition | None:
    text = params.get("ConditionExpression")
    return None if text is None else ex.parse_condition(text, subs)


def _check_condition(
    condition: ex.Condition | None, old: Item | None, params: dict[str, Any]
) -> None:
    if condition is not None and not ex.evaluate(condition, old):
        if params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old is not None:
            raise ConditionalCheckFailedException(CONDITION_FAILED, Item=old)
        raise ConditionalCheckFailedException(CONDITION_FAILED)


def _write_response(
    table: TableInfo, params: dict[str, Any], attributes: Item | None, old_size: int, new_size: int
) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if attributes:
        response["Attributes"] = attributes
    capacity = consumed(
        table.name, write_units(old_size, new_size), params.get("ReturnConsumedCapacity"), "Write"
    )
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response


class _Sizes:
    """The sizes a decide function saw, for capacity accounting."""

    old = 0
    new = 0


async def put_item(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.item_table(params["TableName"])
    reject_legacy(params)
    item = validate_item(params["Item"])
    key = table.key_of_item(item)
    size = item_size(item)
    if size > MAX_ITEM_SIZE:
        raise ValidationException("Item size has exceeded the maximum allowed size")
    returns = return_values(params, ("NONE", "ALL_OLD"))
    subs = substitutions(params, ("ConditionExpression",))
    condition = _condition(params, subs)
    subs.check_all_used()
    sizes = _Sizes()

    def decide(old: Item | None) -> Outcome:
        _check_condition(condition, old, params)
        if old is not None:
            sizes.old = item_size(old)
        return item, size

    write = ItemWrite(table, key, decide)
    await ctx.writer.submit(ItemBatch([write]))
    return _write_response(
        table, params, write.old if returns == "ALL_OLD" else None, sizes.old, size
    )


async def delete_item(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.item_table(params["TableName"])
    reject_legacy(params)
    key = table.key_of(checked_key(params))
    returns = return_values(params, ("NONE", "ALL_OLD"))
    subs = substitutions(params, ("ConditionExpression",))
    condition = _condition(params, subs)
    subs.check_all_used()
    sizes = _Sizes()

    def decide(old: Item | None) -> Outcome:
        _check_condition(condition, old, params)
        if old is not None:
            sizes.old = item_size(old)
        return None

    write = ItemWrite(table, key, decide)
    await ctx.writer.submit(ItemBatch([write]))
    return _write_response(table, params, write.old if returns == "ALL_OLD" else None, sizes.old, 0)


async def update_item(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.item_table(params["TableName"])
    reject_legacy(params)
    key_item = checked_key(params)
    key = table.key_of(key_item)
    returns = return_values(params, ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"))
    subs = substitutions(params, ("UpdateExpression", "ConditionExpression"))
    plan = None
    if params.get("UpdateExpression") is not None:
        plan = ex.parse_update(params["UpdateExpression"], subs)
        for path in plan.paths:
            if path[0] in table.key_names:
                raise ValidationException(
                    "One or more parameter values were invalid: Cannot update attribute "
                    f"{path[0]}. This attribute is part of the key"
                )
    condition = _condition(params, subs)
    subs.check_all_used()
    sizes = _Sizes()

    def decide(old: Item | None) -> Outcome:
        _check_condition(condition, old, params)
        base = old if old is not None else dict(key_item)
        new = base if plan is None else ex.apply_update(plan, base)
        size = item_size(new)
        if size > MAX_ITEM_SIZE:
            raise ValidationException("Item size to update has exceeded the maximum allowed size")
        sizes.old = 0 if old is None else item_size(old)
        sizes.new = size
        return new, size

    write = ItemWrite(table, key, decide)
    await ctx.writer.submit(ItemBatch([write]))
    attributes: Item | None = None
    if returns == "ALL_OLD":
        attributes = write.old
    elif returns == "ALL_NEW":
        attributes = write.new
    elif returns in ("UPDATED_OLD", "UPDATED_NEW") and plan is not None:
        source = write.old if returns == "UPDATED_OLD" else write.new
        attributes = ex.project(plan.paths, source) if source is not None else None
    return _write_response(table, params, attributes, sizes.old, sizes.new)


async def get_item(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any] | bytes:
    """GetItem. Returns ready JSON bytes when the stored item can be sent as it is."""
    table = ctx.item_table(params["TableName"])
    reject_legacy(params)
    key = table.key_of(checked_key(params))
    subs = substitutions(params, ("ProjectionExpression",))
    projection = None
    if params.get("ProjectionExpression") is not None:
        projection = ex.parse_projection(params["ProjectionExpression"], subs)
    subs.check_all_used()
    row = ctx.store.get_item_row(table.tid, key)
    mode = params.get("ReturnConsumedCapacity")
    if row is None:
        response: dict[str, Any] = {}
        size = 0
    elif projection is None and mode not in ("TOTAL", "INDEXES"):
        return b'{"Item":' + row[0] + b"}"
    else:
        import orjson

        item = orjson.loads(row[0])
        size = row[1]
        response = {"Item": item if projection is None else ex.project(projection, item)}
    capacity = consumed(
        table.name, read_units(size, bool(params.get("ConsistentRead"))), mode, "Read"
    )
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response
