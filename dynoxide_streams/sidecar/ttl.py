"""TTL expiry for upstream engines that never expire items (``sidecar --ttl-sweep``).

Every period the sweeper reads each watched table's TTL setting (DescribeTimeToLive),
scans it in parallel segments for items whose TTL attribute (a Number) is at or
before now and not more than five years old, and deletes each with a conditional
DeleteItem that requires the attribute to still hold the value it saw — so a user
who extended an item's TTL meanwhile always wins. Deletes are paced by a token
bucket (``--ttl-sweep-rate`` items per second).

The keys it deleted are remembered (:class:`ServiceDeletes`, bounded, 24 hours) so
the change source can mark their REMOVE records with the service ``userIdentity``,
as the engine itself would have.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import orjson
import structlog

from dynoxide_streams.clock import Clock
from dynoxide_streams.logs import oplog
from dynoxide_streams.lru import LRU
from dynoxide_streams.sidecar.upstream import DYNAMODB, Upstream, UpstreamError, UpstreamUnavailable

log = structlog.get_logger("dynoxide_streams.sidecar")

FIVE_YEARS = 5 * 365 * 24 * 3600
REMEMBER_SECONDS = 24 * 3600.0
REMEMBER_MAX = 100_000
CLOCK_SLACK_SECONDS = 5.0  # a REMOVE stamped this much before our delete still counts
SEGMENTS = 4


class ServiceDeletes:
    """Keys deleted by the sweep, waiting for their REMOVE record (bounded).

    A REMOVE is the sweep's when its key was remembered and the record was created
    (ApproximateCreationDateTime, whole seconds) no earlier than the delete began,
    less a few seconds of clock slack: an older user REMOVE of the same key stays a
    user's. Each remembered delete marks one record.
    """

    def __init__(self, limit: int = REMEMBER_MAX) -> None:
        self.limit = limit
        self._keys: LRU[tuple[str, bytes], float] = LRU(limit)

    @staticmethod
    def _slot(table: str, key: dict[str, Any]) -> tuple[str, bytes]:
        return table, orjson.dumps(key, option=orjson.OPT_SORT_KEYS)

    def remember(self, table: str, key: dict[str, Any]) -> None:
        self._keys.put(self._slot(table, key), time.time())

    def forget(self, table: str, key: dict[str, Any]) -> None:
        self._keys.pop(self._slot(table, key))

    def claim(self, table: str, key: dict[str, Any], created_at: float) -> bool:
        """Whether the REMOVE of ``key`` created at ``created_at`` is the sweep's
        (each remembered delete is claimed once)."""
        slot = self._slot(table, key)
        stamp = self._keys.get(slot)
        if stamp is None:
            return False
        if time.time() - stamp > REMEMBER_SECONDS:
            self._keys.pop(slot)
            return False
        if created_at < int(stamp) - CLOCK_SLACK_SECONDS:
            return False  # an older REMOVE of the same key: a user's
        self._keys.pop(slot)
        return True


class _Bucket:
    """A token bucket: ``take()`` waits until one token (one delete) is available."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await anyio.sleep((1 - self.tokens) / self.rate)


class UpstreamSweeper:
    """Expires items of the watched tables of an upstream (see module docstring)."""

    def __init__(
        self,
        upstream: Upstream,
        clock: Clock,
        deletes: ServiceDeletes,
        *,
        rate: float = 100.0,
    ) -> None:
        self.upstream = upstream
        self.clock = clock
        self.deletes = deletes
        self.bucket = _Bucket(rate)

    async def ttl_attribute(self, table: str) -> str | None:
        answer = await self.upstream.call(DYNAMODB, "DescribeTimeToLive", {"TableName": table})
        description = answer.get("TimeToLiveDescription", {})
        if description.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            name: str | None = description.get("AttributeName")
            return name
        return None

    async def sweep(self, tables: list[str]) -> int:
        """One pass over ``tables``; the number of items deleted."""
        deleted = 0
        for table in tables:
            try:
                attribute = await self.ttl_attribute(table)
                if attribute is None:
                    continue
                key_names = await self._key_names(table)
                counts = [0] * SEGMENTS
                async with anyio.create_task_group() as tg:
                    for segment in range(SEGMENTS):
                        tg.start_soon(self._segment, table, attribute, key_names, segment, counts)
                deleted += sum(counts)
                if sum(counts):
                    oplog.info("ttl sweep", table=table, deleted=sum(counts))
            except (UpstreamError, UpstreamUnavailable) as exc:
                if isinstance(exc, UpstreamError) and exc.code == "ResourceNotFoundException":
                    log.debug("TTL sweep: no such table upstream (yet)", table=table)
                    continue
                log.warning(
                    "TTL sweep of a table failed; next period retries", table=table, error=str(exc)
                )
        return deleted

    async def _key_names(self, table: str) -> list[str]:
        answer = await self.upstream.call(DYNAMODB, "DescribeTable", {"TableName": table})
        return [k["AttributeName"] for k in answer["Table"]["KeySchema"]]

    async def _segment(
        self,
        table: str,
        attribute: str,
        key_names: list[str],
        segment: int,
        counts: list[int],
    ) -> None:
        now = int(self.clock.now())
        names = {"#ttl": attribute}
        names.update({f"#k{i}": k for i, k in enumerate(key_names)})
        projection = ", ".join(["#ttl", *(f"#k{i}" for i in range(len(key_names)))])
        start: dict[str, Any] | None = None
        while True:
            params: dict[str, Any] = {
                "TableName": table,
                "Segment": segment,
                "TotalSegments": SEGMENTS,
                "FilterExpression": "#ttl <= :now AND #ttl >= :oldest",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {
                    ":now": {"N": str(now)},
                    ":oldest": {"N": str(now - FIVE_YEARS)},
                },
                "ProjectionExpression": projection,
            }
            if start is not None:
                params["ExclusiveStartKey"] = start
            page = await self.upstream.call(DYNAMODB, "Scan", params)
            for item in page.get("Items", []):
                await self.bucket.take()
                if await self._delete(table, attribute, key_names, item):
                    counts[segment] += 1
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    async def _delete(
        self, table: str, attribute: str, key_names: list[str], item: dict[str, Any]
    ) -> bool:
        key = {k: item[k] for k in key_names}
        self.deletes.remember(table, key)  # before: the REMOVE may be read at once
        try:
            await self.upstream.call(
                DYNAMODB,
                "DeleteItem",
                {
                    "TableName": table,
                    "Key": key,
                    "ConditionExpression": "#ttl = :seen",
                    "ExpressionAttributeNames": {"#ttl": attribute},
                    "ExpressionAttributeValues": {":seen": item[attribute]},
                },
            )
        except UpstreamError as exc:
            self.deletes.forget(table, key)
            if exc.code == "ConditionalCheckFailedException":
                return False  # a user changed or removed it meanwhile: theirs wins
            raise
        return True
