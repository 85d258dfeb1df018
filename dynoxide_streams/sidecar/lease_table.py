"""The lease table in the upstream: creating it when it is missing, and every read and
conditional write of its lease items.

The writes are the lease protocol's (see :mod:`dynoxide_streams.sidecar.leases`):
each is conditional, and a failed condition is an answer (False or None), not an
error — the lease was renewed, taken or released by another process meanwhile.
Every other upstream error is raised as :class:`UpstreamError` or
:class:`UpstreamUnavailable`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import anyio
import structlog

from dynoxide_streams.shards.positions import SHARD_END, StoredLanes
from dynoxide_streams.sidecar.lease_item import (
    AttributeValue,
    LeaseItem,
    lanes_attributes,
    number,
    string,
)
from dynoxide_streams.sidecar.upstream import (
    DYNAMODB,
    RETRY_SECONDS,
    Upstream,
    UpstreamError,
    UpstreamUnavailable,
)

log = structlog.get_logger("dynoxide_streams.sidecar")

CONDITION_FAILED = "ConditionalCheckFailedException"
TABLE_WAIT_SECONDS = 60.0  # how long a table may stay CREATING before it is looked at anew


class LeaseTable:
    """One lease table (hash key ``leaseKey``) of an upstream."""

    def __init__(self, upstream: Upstream, name: str) -> None:
        self.upstream = upstream
        self.name = name

    # ------------------------------------------------------------------- table

    async def ensure(self, *, retry_seconds: float) -> None:
        """Return once the table is ACTIVE, creating it if it does not exist; upstream
        trouble is logged and retried every ``retry_seconds`` (no error is raised)."""
        while True:
            try:
                status = await self.status()
                if status is None:
                    await self.create()
                    status = await self.status()
                deadline = time.monotonic() + TABLE_WAIT_SECONDS
                while status != "ACTIVE" and time.monotonic() < deadline:
                    await anyio.sleep(0.5)
                    status = await self.status()
                if status == "ACTIVE":
                    return
                log.warning("lease table not active yet", table=self.name, status=status)
            except (UpstreamError, UpstreamUnavailable) as exc:
                log.warning("lease table unavailable; retrying", table=self.name, error=str(exc))
                await anyio.sleep(retry_seconds)

    async def status(self) -> str | None:
        """The table's TableStatus; None when it does not exist."""
        try:
            answer = await self._call("DescribeTable", {})
        except UpstreamError as exc:
            if exc.code == "ResourceNotFoundException":
                return None
            raise
        return str(answer["Table"]["TableStatus"])

    async def create(self) -> None:
        """CreateTable (on demand); a table another process created first is fine."""
        try:
            await self._call(
                "CreateTable",
                {
                    "AttributeDefinitions": [{"AttributeName": "leaseKey", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "leaseKey", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            )
            log.info("lease table created", table=self.name)
        except UpstreamError as exc:
            if exc.code != "ResourceInUseException":  # another process created it first
                raise

    # ------------------------------------------------------------------- reads

    async def scan(self) -> list[LeaseItem]:
        """Every lease, read consistently (UpstreamError ResourceNotFoundException
        when the table is gone). An item that is not a lease is logged and left out."""
        leases: list[LeaseItem] = []
        params: dict[str, Any] = {"ConsistentRead": True}
        while True:
            answer = await self._call("Scan", params)
            for item in answer.get("Items", []):
                try:
                    leases.append(LeaseItem.from_item(item))
                except (KeyError, ValueError, TypeError, AttributeError) as exc:
                    log.warning("not a lease item", table=self.name, error=repr(exc))
            last = answer.get("LastEvaluatedKey")
            if not last:
                return leases
            params["ExclusiveStartKey"] = last

    async def get(self, key: str) -> LeaseItem | None:
        """The lease ``key``, read consistently; None when there is none."""
        answer = await self._call("GetItem", {"Key": _key(key), "ConsistentRead": True})
        item = answer.get("Item")
        return None if item is None else LeaseItem.from_item(item)

    # ------------------------------------------------------------------ writes

    async def create_lease(self, lease: LeaseItem) -> bool:
        """Put ``lease`` unless its key exists; False when it does."""
        return await self._conditional(
            "PutItem",
            {"Item": lease.to_item(), "ConditionExpression": "attribute_not_exists(leaseKey)"},
        )

    async def delete_finished(self, key: str) -> bool:
        """Delete the lease ``key`` if its shard is finished; False when it is not."""
        return await self._conditional(
            "DeleteItem",
            {
                "Key": _key(key),
                "ConditionExpression": "checkpoint = :end",
                "ExpressionAttributeValues": {":end": string(SHARD_END)},
            },
        )

    async def take(self, lease: LeaseItem, owner: str, *, shard: bool) -> LeaseItem | None:
        """Make ``owner`` the owner of ``lease`` if its counter is still the one
        ``lease`` shows, counting one more. A shard lease also counts the owner switch
        and is answered as the table now holds it. None: the counter moved (renewed
        or taken meanwhile)."""
        update = "SET leaseOwner = :me, leaseCounter = :next"
        values = _owner_counter(owner, lease.counter)
        params: dict[str, Any] = {}
        if shard:
            update += (
                ", ownerSwitchesSinceCheckpoint = "
                "if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one"
            )
            values |= {":one": number(1), ":zero": number(0)}
            params["ReturnValues"] = "ALL_NEW"
        answer = await self._update(lease.key, update, "leaseCounter = :counter", values, params)
        if answer is None:
            return None
        if "Attributes" in answer:
            return LeaseItem.from_item(answer["Attributes"])
        return replace(lease, owner=owner, counter=lease.counter + 1)

    async def renew(self, key: str, owner: str, counter: int, *, timeout: float) -> bool:
        """Count one more if ``owner`` still holds the lease at ``counter``; False when
        it does not. Retries for at most ``timeout`` seconds."""
        answer = await self._update(
            key,
            "SET leaseCounter = :next",
            "leaseOwner = :me AND leaseCounter = :counter",
            _owner_counter(owner, counter),
            timeout=timeout,
        )
        return answer is not None

    async def save_lanes(self, key: str, owner: str, lanes: StoredLanes, *, timeout: float) -> bool:
        """Store ``lanes`` (and their summary checkpoint) in the lease if ``owner``
        holds it, resetting its owner switches; False when it does not. Retries for at
        most ``timeout`` seconds."""
        attributes = lanes_attributes(lanes)
        answer = await self._update(
            key,
            "SET lanes = :lanes, checkpoint = :cp, parallelizationFactor = :factor, "
            "ownerSwitchesSinceCheckpoint = :zero",
            "leaseOwner = :me",
            {
                ":lanes": attributes["lanes"],
                ":cp": attributes["checkpoint"],
                ":factor": attributes["parallelizationFactor"],
                ":zero": number(0),
                ":me": string(owner),
            },
            timeout=timeout,
        )
        return answer is not None

    async def release(self, key: str, owner: str, *, timeout: float) -> bool:
        """Remove ``owner`` as the lease's owner (counting one more) if it is the
        owner; False when it is not. Retries for at most ``timeout`` seconds."""
        answer = await self._update(
            key,
            "REMOVE leaseOwner SET leaseCounter = leaseCounter + :one",
            "leaseOwner = :me",
            {":me": string(owner), ":one": number(1)},
            timeout=timeout,
        )
        return answer is not None

    # ---------------------------------------------------------------- requests

    async def _update(
        self,
        key: str,
        update: str,
        condition: str,
        values: dict[str, AttributeValue],
        params: dict[str, Any] | None = None,
        *,
        timeout: float = RETRY_SECONDS,
    ) -> dict[str, Any] | None:
        """One conditional UpdateItem of a lease: its answer, None when the condition
        failed."""
        request = {
            "Key": _key(key),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            **(params or {}),
        }
        try:
            return await self._call("UpdateItem", request, timeout=timeout)
        except UpstreamError as exc:
            if exc.code == CONDITION_FAILED:
                return None
            raise

    async def _conditional(self, operation: str, params: dict[str, Any]) -> bool:
        try:
            await self._call(operation, params)
        except UpstreamError as exc:
            if exc.code == CONDITION_FAILED:
                return False
            raise
        return True

    async def _call(
        self, operation: str, params: dict[str, Any], *, timeout: float = RETRY_SECONDS
    ) -> dict[str, Any]:
        request = {"TableName": self.name, **params}
        return await self.upstream.call(DYNAMODB, operation, request, timeout=timeout)


def _key(key: str) -> dict[str, AttributeValue]:
    return {"leaseKey": string(key)}


def _owner_counter(owner: str, counter: int) -> dict[str, AttributeValue]:
    """The values of a write conditional on ``counter`` that sets ``counter + 1``."""
    return {":me": string(owner), ":counter": number(counter), ":next": number(counter + 1)}
