"""TransactWriteItems and TransactGetItems.

A write transaction is one Writer batch: every action decides against the current
items in order; if any condition fails (or an update is invalid for the item) the
whole batch is rejected with TransactionCanceledException listing one reason per
action, exactly as botocore parses it. ``ClientRequestToken`` makes a transaction
idempotent for 10 minutes (by the data clock); tokens are remembered in a bounded
in-memory table (a restart forgets them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from dynoxide_streams.engine import expressions as ex
from dynoxide_streams.engine import messages
from dynoxide_streams.engine.batch_ops import metrics_by_table
from dynoxide_streams.engine.capacity import read_units
from dynoxide_streams.engine.context import EngineContext
from dynoxide_streams.engine.items import (
    Planner,
    WritePlan,
    bind_plans,
    prepare_check,
    prepare_delete,
    prepare_put,
    prepare_update,
)
from dynoxide_streams.engine.requests import item_projection
from dynoxide_streams.engine.values import Item, item_size, validate_item
from dynoxide_streams.engine.writer import UNCHANGED, ItemBatch, Outcome
from dynoxide_streams.errors import (
    ConditionalCheckFailedException,
    DuplicateItemException,
    TransactionCanceledException,
    ValidationException,
)

SAME_ITEM = messages.TRANSACTION_SAME_ITEM.template
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
TOO_LARGE = messages.TRANSACTION_TOO_LARGE.template
KEY_MISMATCH = messages.KEY_SCHEMA_MISMATCH.template

_PLANNERS: dict[str, Callable[[dict[str, Any]], Planner]] = {
    "ConditionCheck": prepare_check,
    "Put": prepare_put,
    "Delete": prepare_delete,
    "Update": prepare_update,
}


def _cancelled(reasons: list[dict[str, Any] | None]) -> TransactionCanceledException:
    """The cancellation of a transaction: one reason per action, ``None`` for the rest."""
    listed = [reason or {"Code": "None"} for reason in reasons]
    codes = ", ".join(str(r["Code"]) for r in listed)
    return TransactionCanceledException(
        messages.TRANSACTION_CANCELLED.format(codes=codes),
        CancellationReasons=listed,
    )


async def transact_write_items(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    token = params.get("ClientRequestToken")
    fingerprint = orjson.dumps(
        {k: v for k, v in params.items() if k != "ClientRequestToken"}, option=orjson.OPT_SORT_KEYS
    )
    if token is not None:
        cached = ctx.tokens.lookup(token, fingerprint, ctx.clock.now())
        if cached is not None:
            return cached
    planners: list[tuple[str, Planner]] = []
    for action in params["TransactItems"]:
        kinds = [kind for kind in _PLANNERS if action.get(kind) is not None]
        if len(kinds) != 1:
            raise ValidationException(messages.TRANSACT_ITEM_ONE_OF.template)
        request = action[kinds[0]]
        planners.append((request["TableName"], _PLANNERS[kinds[0]](request)))
    # every action is checked before any table is looked up, as AWS does
    plans = bind_plans(ctx, planners, SAME_ITEM)
    await commit_transaction(ctx, plans)
    response: dict[str, Any] = {}
    capacity = transaction_capacity(params, plans)
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    metrics = metrics_by_table(ctx, params, plans)
    if metrics is not None:
        response["ItemCollectionMetrics"] = metrics
    if token is not None:
        ctx.tokens.store(token, fingerprint, response, ctx.clock.now())
    return response


def transaction_capacity(
    params: dict[str, Any], plans: list[WritePlan]
) -> list[dict[str, Any]] | None:
    """The ConsumedCapacity list of a committed write transaction (twice the units of each write, one
    entry per table), or None when not asked for."""
    if params.get("ReturnConsumedCapacity") not in ("TOTAL", "INDEXES"):
        return None
    units: dict[str, float] = {}
    for plan in plans:
        units[plan.table.name] = units.get(plan.table.name, 0.0) + 2 * plan.capacity_units
    return [
        {"TableName": name, "CapacityUnits": total, "WriteCapacityUnits": total}
        for name, total in units.items()
    ]


async def commit_transaction(ctx: EngineContext, plans: list[WritePlan]) -> None:
    """Commit ``plans`` all or nothing in one Writer batch (also ExecuteTransaction's).

    Raises ValidationException for two plans on one item or more than 4 MB, and
    TransactionCanceledException with one reason per plan when any plan fails.
    """
    seen: set[tuple[int, tuple[int, bytes, bytes]]] = set()
    for plan in plans:
        if (plan.table.tid, plan.key) in seen:
            raise ValidationException(SAME_ITEM)
        seen.add((plan.table.tid, plan.key))
    # the aggregate counts each Put's item and the key of every other action
    total = sum(
        plan.new_size if plan.new_item is not None else item_size(plan.key_item) for plan in plans
    )
    if total > MAX_TRANSACTION_BYTES:
        raise ValidationException(TOO_LARGE)
    reasons: list[dict[str, Any] | None] = [None] * len(plans)

    def guarded(index: int, plan: WritePlan) -> Callable[[Item | None], Outcome]:
        def decide(old: Item | None) -> Outcome:
            try:
                return plan.decide(old)
            except ConditionalCheckFailedException as exc:
                reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": exc.message}
                if "Item" in exc.extra:
                    reason["Item"] = exc.extra["Item"]
                reasons[index] = reason
            except ValidationException as exc:
                reasons[index] = {"Code": "ValidationError", "Message": exc.message}
            except DuplicateItemException as exc:
                reasons[index] = {"Code": "DuplicateItem", "Message": exc.message}
            return UNCHANGED

        return decide

    def finish() -> None:
        if any(reason is not None for reason in reasons):
            raise _cancelled(reasons)

    writes = []
    for index, plan in enumerate(plans):
        plan.write.decide = guarded(index, plan)
        writes.append(plan.write)
    await ctx.writer.submit(ItemBatch(writes, finish=finish))


async def transact_get_items(ctx: EngineContext, params: dict[str, Any]) -> dict[str, Any]:
    requests = []
    for action in params["TransactItems"]:
        request = action["Get"]
        requests.append((request, validate_item(request["Key"]), item_projection(request)))
    # every Get is checked before any table is looked up, as AWS does
    gets = []
    seen: set[tuple[int, tuple[int, bytes, bytes]]] = set()
    reasons: list[dict[str, Any] | None] = []
    for request, key_item, projection in requests:
        table = ctx.item_table(request["TableName"])
        try:
            key = table.key_of(key_item)
        except ValidationException as exc:
            if exc.message != KEY_MISMATCH:
                raise
            # AWS cancels the transaction for a key that does not fit the schema
            reasons.append({"Code": "ValidationError", "Message": exc.message})
            continue
        reasons.append(None)
        if (table.tid, key) in seen:
            raise ValidationException(SAME_ITEM)
        seen.add((table.tid, key))
        gets.append((table, key, projection))
    if any(reason is not None for reason in reasons):
        raise _cancelled(reasons)
    conn = ctx.store.point_conn
    responses: list[dict[str, Any]] = []
    units: dict[str, float] = {}
    conn.execute("BEGIN")  # one snapshot for every read of the transaction
    try:
        for table, key, projection in gets:
            row = ctx.store.get_item_row(table.tid, key)
            units[table.name] = units.get(table.name, 0.0) + 2 * read_units(
                0 if row is None else row[1], True
            )
            if row is None:
                responses.append({})
                continue
            item = orjson.loads(row[0])
            responses.append({"Item": item if projection is None else ex.project(projection, item)})
    finally:
        conn.execute("COMMIT")
    response: dict[str, Any] = {"Responses": responses}
    if params.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
        response["ConsumedCapacity"] = [
            {"TableName": name, "CapacityUnits": total, "ReadCapacityUnits": total}
            for name, total in units.items()
        ]
    return response
