"""The change source of sidecar mode: an upstream engine's DynamoDB Streams API.

Implements :class:`~dynoxide_streams.engine.changes.ChangeSource` over HTTP, so push
and triggers run unchanged:

* shards come from DescribeStream (paged with ExclusiveStartShardId) and are put in
  lineage order, parents before children;
* ``read`` keeps the NextShardIterator of each reader's position, so a reader going
  forward costs one GetRecords per page; a missing or expired iterator (15 minutes,
  ExpiredIteratorException) is renewed from the position with
  AFTER_SEQUENCE_NUMBER — positions, not iterators, are what readers keep;
  TrimmedDataAccessException restarts at TRIM_HORIZON and reports ``trimmed``;
* there is no commit notification upstream: ``wait_for_records`` waits one poll
  interval (readers then read again), so an idle reader polls each shard 4 times a
  second, as Lambda does;
* readers share upstream reads: a GetRecords page is fetched once for all readers
  asking for the same position at the same time, and kept (bounded by bytes) so a
  reader at any position inside it is served without a call; an empty page (the
  tail) is reused for one poll interval. However many websockets and mappings follow
  a shard, the upstream sees about 4 GetRecords a second for its tail — under
  DynamoDB Streams' limit of 5 per shard;
* REMOVE records of keys the sidecar's own TTL sweep deleted get the service
  ``userIdentity``, as the engine would have written them;
* a shard is ended only when GetRecords says so (no NextShardIterator) or when a child
  shard names it as ParentShardId. An ``EndingSequenceNumber`` in DescribeStream alone
  is not trusted: Dynoxide reports one (its newest record) on the open shard of an
  ENABLED stream, and believing it would end readers early and lose every later
  record. The shards readers see carry an ending only once it is certain, so lineage
  order (parents before children) is unchanged.

Quirks of an upstream engine (an ending on an open shard, a stream ARN whose region is
not an AWS region) are logged once each, at WARNING.

Upstream errors never reach readers as exceptions: calls are retried with back-off
(and logged) until they succeed or the reader is cancelled.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
import structlog

from dynoxide_streams.engine.changes import ReadResult, ShardView, StreamView
from dynoxide_streams.lru import LRU
from dynoxide_streams.shards.positions import is_after, latest
from dynoxide_streams.sidecar.ttl import ServiceDeletes
from dynoxide_streams.sidecar.upstream import (
    DYNAMODB,
    STREAMS,
    Upstream,
    UpstreamError,
    UpstreamUnavailable,
)

log = structlog.get_logger("dynoxide_streams.sidecar")

BEFORE_ALL = "0" * 21
POLL_SECONDS = 0.25
SHARDS_TTL_SECONDS = 1.0  # how long a DescribeStream answer is reused
ITERATOR_CACHE = 4096
ITERATOR_MAX_AGE = 14 * 60.0  # iterators expire after 15 minutes upstream
MARKED_MAX = 100_000  # service REMOVEs remembered by sequence number (for re-reads)
PAGE_LIMIT = 1000  # every upstream GetRecords asks for the most it may
PAGES_MAX_BYTES = 8 * 1024 * 1024  # fetched pages kept for other readers, at most
SERVICE_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
ENDED_MAX = 4096  # shards GetRecords said ended, remembered (an LRU; re-learnt if dropped)
AWS_REGION = re.compile(r"(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}")
"""The region part of botocore's Lambda ``Arn`` pattern: what AWS calls a region."""


@dataclass
class _Page:
    """One GetRecords answer, or the part of one after some record."""

    records: list[bytes]
    seqs: list[str]
    position: str
    closed: bool
    trimmed: bool
    fetched: float
    size: int

    def result(self, limit: int) -> tuple[ReadResult, _Page | None]:
        """The answer for a reader of ``limit`` records, and the rest of the page
        (to serve the reader's next read) when the limit cut it."""
        if len(self.records) <= limit:
            return ReadResult(self.records, self.position, self.closed, self.trimmed), None
        kept = self.records[:limit]
        rest = _Page(
            self.records[limit:],
            self.seqs[limit:],
            self.position,
            self.closed,
            False,
            self.fetched,
            self.size - sum(len(r) for r in kept),
        )
        return ReadResult(kept, self.seqs[limit - 1], False, self.trimmed), rest


@dataclass
class _Flight:
    """A fetch under way that other readers of the same position wait for."""

    done: anyio.Event
    page: _Page | None = None
    ok: bool = False  # False: cancelled or failed — waiters fetch themselves


@dataclass
class _Shards:
    fetched: float
    status: str
    table: str
    shards: list[ShardView]  # endings only where certain (see ``_shard_views``)
    reported_ends: dict[str, str]  # EndingSequenceNumbers DescribeStream gave, not trusted


class UpstreamChangeSource:
    """Streams of the watched tables of one upstream (see the module docstring)."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        tables: list[str] | None,
        deletes: ServiceDeletes | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.upstream = upstream
        self.watched = None if tables is None else set(tables)  # None: every table
        self.deletes = deletes or ServiceDeletes()
        self.poll_seconds = poll_seconds
        self._tick = 0
        self._generation = 0
        self._known_streams: set[str] = set()
        self._shards: dict[str, _Shards] = {}
        self._iterators: LRU[tuple[str, str, str], tuple[str, float]] = LRU(ITERATOR_CACHE)
        self._newest: dict[str, str] = {}
        self._marked: LRU[tuple[str, str], None] = LRU(MARKED_MAX)
        self._pages: LRU[tuple[str, str, str], _Page] = LRU(PAGES_MAX_BYTES, lambda page: page.size)
        self._flights: dict[tuple[str, str, str], _Flight] = {}
        self._ended: LRU[tuple[str, str], str] = LRU(ENDED_MAX)  # GetRecords said: ended
        self._quirks: set[str] = set()  # upstream quirks already logged
        self.fetches = 0  # GetRecords pages fetched (for tests and metrics)

    # ------------------------------------------------------------------ calls

    async def _call(self, prefix: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """A call retried until it succeeds (UpstreamError still raises)."""
        while True:
            try:
                return await self.upstream.call(prefix, operation, params)
            except UpstreamUnavailable as exc:
                log.warning("upstream unavailable; will retry", error=str(exc))
                await anyio.sleep(1.0)

    def watches(self, table: str) -> bool:
        return self.watched is None or table in self.watched

    def _quirk(self, name: str, message: str, **context: str) -> None:
        """Log an upstream quirk at WARNING, the first time it is seen only."""
        if name not in self._quirks:
            self._quirks.add(name)
            log.warning(message, upstream=self.upstream.url, **context)

    def _note_arn(self, stream_arn: str) -> None:
        parts = stream_arn.split(":")
        if len(parts) < 4 or not AWS_REGION.fullmatch(parts[3]):
            self._quirk(
                "region",
                "non-AWS region in stream ARN; accepted as an event source anyway",
                stream=stream_arn,
            )

    # ---------------------------------------------------------------- catalog

    async def tables(self) -> list[str]:
        """The ``--tables`` given (whether they exist upstream yet or not), else every
        upstream table."""
        if self.watched is not None:
            return sorted(self.watched)
        names: list[str] = []
        start: str | None = None
        while True:
            params: dict[str, Any] = {"ExclusiveStartTableName": start} if start else {}
            page = await self._call(DYNAMODB, "ListTables", params)
            names.extend(page.get("TableNames", []))
            start = page.get("LastEvaluatedTableName")
            if not start:
                return names

    async def refresh(self) -> None:
        """Look for new streams of the watched tables (bumps the generation)."""
        arns: set[str] = set()
        for table in await self.tables():
            for view in await self.list_streams(table):
                arns.add(view.stream_arn)
        if not arns <= self._known_streams:
            self._known_streams |= arns
            self._generation += 1

    async def list_streams(self, table: str) -> list[StreamView]:
        if not self.watches(table):
            return []
        try:
            described = await self._call(DYNAMODB, "DescribeTable", {"TableName": table})
        except UpstreamError as exc:
            if exc.code == "ResourceNotFoundException":
                return []
            raise
        latest = described["Table"].get("LatestStreamArn")
        enabled = described["Table"].get("StreamSpecification", {}).get("StreamEnabled", False)
        views: list[StreamView] = []
        start: str | None = None
        while True:
            params: dict[str, Any] = {"TableName": table}
            if start:
                params["ExclusiveStartStreamArn"] = start
            page = await self._call(STREAMS, "ListStreams", params)
            for entry in page.get("Streams", []):
                arn = entry["StreamArn"]
                self._note_arn(arn)
                status = "ENABLED" if arn == latest and enabled else "DISABLED"
                views.append(StreamView(arn, table, status, True))
            start = page.get("LastEvaluatedStreamArn")
            if not start:
                break
        views.sort(key=lambda v: (v.stream_arn == latest, v.stream_arn))
        return views

    async def stream(self, stream_arn: str) -> StreamView | None:
        """The stream, if the upstream knows it and its table is watched (None for an
        ARN the upstream refuses as malformed, too)."""
        try:
            described = await self._describe(stream_arn, force=True)
        except UpstreamError as exc:
            if exc.code == "ValidationException":
                return None
            raise
        if described is None or not self.watches(described.table):
            return None
        self._note_arn(stream_arn)
        return StreamView(stream_arn, described.table, described.status, True)

    async def _describe(self, stream_arn: str, *, force: bool = False) -> _Shards | None:
        cached = self._shards.get(stream_arn)
        if (
            cached is not None
            and not force
            and time.monotonic() - cached.fetched < SHARDS_TTL_SECONDS
        ):
            return cached
        shards: list[ShardView] = []  # as reported
        start: str | None = None
        status, table = "DISABLED", ""
        while True:
            params: dict[str, Any] = {"StreamArn": stream_arn}
            if start:
                params["ExclusiveStartShardId"] = start
            try:
                page = await self._call(STREAMS, "DescribeStream", params)
            except UpstreamError as exc:
                if exc.code == "ResourceNotFoundException":
                    self._shards.pop(stream_arn, None)
                    return None
                raise
            description = page["StreamDescription"]
            status = description.get("StreamStatus", "DISABLED")
            table = description.get("TableName", "")
            for shard in description.get("Shards", []):
                seqs = shard.get("SequenceNumberRange", {})
                shards.append(
                    ShardView(
                        shard["ShardId"],
                        shard.get("ParentShardId"),
                        seqs.get("StartingSequenceNumber", BEFORE_ALL),
                        seqs.get("EndingSequenceNumber"),
                    )
                )
            start = description.get("LastEvaluatedShardId")
            if not start:
                break
        reported = {
            s.shard_id: s.ending_sequence_number
            for s in shards
            if s.ending_sequence_number is not None
        }
        views = _lineage_order(self._shard_views(stream_arn, shards))
        found = _Shards(time.monotonic(), status, table, views, reported)
        self._shards[stream_arn] = found
        for end in reported.values():
            self._note_newest(stream_arn, end)
        return found

    def _shard_views(self, stream_arn: str, shards: list[ShardView]) -> list[ShardView]:
        """The shards as readers see them: an ending is kept only for a shard that has
        a child (it closed when the child opened) or that GetRecords said ended (the
        ending is then the reported one, else the position where it ended)."""
        parents = {s.parent_id for s in shards if s.parent_id is not None}
        views: list[ShardView] = []
        for shard in shards:
            ended = self._ended.get((stream_arn, shard.shard_id))
            certain = shard.shard_id in parents or ended is not None
            end = (shard.ending_sequence_number or ended) if certain else None
            views.append(
                ShardView(shard.shard_id, shard.parent_id, shard.starting_sequence_number, end)
            )
        return views

    async def describe_shards(self, stream_arn: str) -> list[ShardView]:
        described = await self._describe(stream_arn)
        return [] if described is None else list(described.shards)

    async def start_position(self, stream_arn: str, where: str) -> str | None:
        described = await self._describe(stream_arn, force=True)
        if described is None:
            return None
        if where != "LATEST":
            return BEFORE_ALL
        newest = BEFORE_ALL
        for shard in described.shards:
            end = shard.ending_sequence_number
            if end is not None:
                newest = latest([newest, end])
                continue
            position = BEFORE_ALL  # an open shard: read to its current end
            while True:
                result = await self.read(stream_arn, shard.shard_id, position, 1000)
                if result is None or not result.records:
                    break
                position = result.position
            newest = latest([newest, position])
        return newest

    async def shard_for(self, stream_arn: str, after: str) -> str | None:
        shards = await self.describe_shards(stream_arn)
        for shard in shards:
            end = shard.ending_sequence_number
            if end is None or is_after(end, after):
                return shard.shard_id
        return shards[-1].shard_id if shards else None

    async def child_of(self, stream_arn: str, shard_id: str) -> str | None:
        for _ in range(2):  # a child appears with the parent's close; look again once
            for shard in await self.describe_shards(stream_arn):
                if shard.parent_id == shard_id:
                    return shard.shard_id
            await self._describe(stream_arn, force=True)
        return None

    # ------------------------------------------------------------------ reads

    async def read(
        self, stream_arn: str, shard_id: str, after: str, limit: int
    ) -> ReadResult | None:
        key = (stream_arn, shard_id, after)
        while True:
            page = self._page(key)
            if page is not None:
                break
            flight = self._flights.get(key)
            if flight is not None:  # another reader is fetching this very page
                await flight.done.wait()
                if flight.ok:
                    page = flight.page
                    break
                continue
            flight = self._flights[key] = _Flight(anyio.Event())
            try:
                flight.page = await self._fetch(stream_arn, shard_id, after)
                flight.ok = True
            finally:
                del self._flights[key]
                flight.done.set()
            page = flight.page
            if page is not None:
                self._keep(key, page)
            break
        if page is None:
            return None
        result, rest = page.result(limit)
        if rest is not None:
            self._keep((stream_arn, shard_id, result.position), rest)
        return result

    def _page(self, key: tuple[str, str, str]) -> _Page | None:
        """A kept page for ``key``: any with records (they never change), an empty
        one only for a poll interval (the tail may have grown since)."""
        page = self._pages.get(key)
        if page is None:
            return None
        if not page.records and time.monotonic() - page.fetched >= self.poll_seconds:
            self._pages.pop(key)
            return None
        self._pages.touch(key)
        return page

    def _keep(self, key: tuple[str, str, str], page: _Page) -> None:
        if page.size > PAGES_MAX_BYTES // 4:
            return
        self._pages.pop(key)  # a kept page becomes the most recent
        self._pages.put(key, page)

    async def _fetch(self, stream_arn: str, shard_id: str, after: str) -> _Page | None:
        """One upstream page of the records after ``after`` (None: no such shard)."""
        described = await self._describe(stream_arn)
        shard = (
            None
            if described is None
            else next((s for s in described.shards if s.shard_id == shard_id), None)
        )
        if shard is None:
            described = await self._describe(stream_arn, force=True)
            shard = (
                None
                if described is None
                else next((s for s in described.shards if s.shard_id == shard_id), None)
            )
            if shard is None:
                return None
        end = shard.ending_sequence_number
        if end is not None and not is_after(end, after):
            return _Page([], [], after, True, False, time.monotonic(), 0)
        trimmed = False
        iterator = self._cached_iterator(stream_arn, shard_id, after)
        for _ in range(3):
            if iterator is None:
                iterator, trimmed_now = await self._iterator(stream_arn, shard, after)
                trimmed = trimmed or trimmed_now
                if iterator is None:
                    return None
            try:
                self.fetches += 1
                page = await self._call(
                    STREAMS, "GetRecords", {"ShardIterator": iterator, "Limit": PAGE_LIMIT}
                )
            except UpstreamError as exc:
                if exc.code in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                    trimmed = trimmed or exc.code == "TrimmedDataAccessException"
                    if trimmed:
                        after = BEFORE_ALL
                    iterator = None
                    continue
                if exc.code == "ResourceNotFoundException":
                    return None
                raise
            records = page.get("Records", [])
            position = after
            encoded: list[bytes] = []
            seqs: list[str] = []
            for record in records:
                self._mark_service(stream_arn, described, record)
                encoded.append(orjson.dumps(record))
                position = record["dynamodb"]["SequenceNumber"]
                seqs.append(position)
            following = page.get("NextShardIterator")
            if records:
                self._note_newest(stream_arn, position)
            if following:
                self._remember(stream_arn, shard_id, position, following)
                reported = None if described is None else described.reported_ends.get(shard_id)
                if reported is not None and not is_after(reported, position):
                    self._quirk(
                        "open-shard-end",
                        "upstream reports EndingSequenceNumber on an open shard; "
                        "a shard counts as ended only when GetRecords says so "
                        "or a child shard exists",
                        stream=stream_arn,
                        shard=shard_id,
                        ending=reported,
                    )
            else:
                self._shard_ended(stream_arn, shard_id, position)
            size = sum(len(r) for r in encoded)
            return _Page(encoded, seqs, position, not following, trimmed, time.monotonic(), size)
        log.warning("could not get a usable shard iterator", stream=stream_arn, shard=shard_id)
        return _Page([], [], after, False, trimmed, time.monotonic(), 0)

    async def _iterator(
        self, stream_arn: str, shard: ShardView, after: str
    ) -> tuple[str | None, bool]:
        params: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": shard.shard_id}
        if is_after(shard.starting_sequence_number, after):
            params["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            params["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            params["SequenceNumber"] = after
        try:
            answer = await self._call(STREAMS, "GetShardIterator", params)
        except UpstreamError as exc:
            if exc.code == "TrimmedDataAccessException":
                params = {"StreamArn": stream_arn, "ShardId": shard.shard_id}
                params["ShardIteratorType"] = "TRIM_HORIZON"
                answer = await self._call(STREAMS, "GetShardIterator", params)
                return answer.get("ShardIterator"), True
            if exc.code == "ResourceNotFoundException":
                return None, False
            raise
        return answer.get("ShardIterator"), False

    def _cached_iterator(self, stream_arn: str, shard_id: str, after: str) -> str | None:
        entry = self._iterators.pop((stream_arn, shard_id, after))
        if entry is None or time.monotonic() - entry[1] > ITERATOR_MAX_AGE:
            return None
        return entry[0]

    def _remember(self, stream_arn: str, shard_id: str, position: str, iterator: str) -> None:
        self._iterators.put((stream_arn, shard_id, position), (iterator, time.monotonic()))

    def _mark_service(
        self, stream_arn: str, described: _Shards | None, record: dict[str, Any]
    ) -> None:
        """Give the sweep's REMOVE records the service identity — the same for every
        reader and every re-read (marked records are remembered by sequence number)."""
        if record.get("eventName") != "REMOVE" or "userIdentity" in record or described is None:
            return
        dynamodb = record["dynamodb"]
        slot = (stream_arn, dynamodb["SequenceNumber"])
        if not self._marked.touch(slot):
            if not self.deletes.claim(
                described.table,
                dynamodb.get("Keys", {}),
                float(dynamodb.get("ApproximateCreationDateTime", 0)),
            ):
                return
            self._marked.put(slot, None)
        record["userIdentity"] = dict(SERVICE_IDENTITY)

    def _shard_ended(self, stream_arn: str, shard_id: str, position: str) -> None:
        """GetRecords said the shard has nothing after ``position``: remember it, and
        show the ending in the cached shard list at once."""
        if self._ended.get((stream_arn, shard_id)) is not None:
            return
        self._ended.put((stream_arn, shard_id), position)
        cached = self._shards.get(stream_arn)
        if cached is not None:
            cached.shards = [
                ShardView(
                    s.shard_id,
                    s.parent_id,
                    s.starting_sequence_number,
                    cached.reported_ends.get(s.shard_id, position),
                )
                if s.shard_id == shard_id and s.ending_sequence_number is None
                else s
                for s in cached.shards
            ]

    def _note_newest(self, stream_arn: str, position: str) -> None:
        known = self._newest.get(stream_arn)
        if known is None or is_after(position, known):
            self._newest[stream_arn] = position

    # ----------------------------------------------------------------- waiting

    async def wait_for_records(self, after_commit: int, timeout: float) -> int:
        await anyio.sleep(min(timeout, self.poll_seconds))
        self._tick += 1
        return max(self._tick, after_commit + 1)

    @property
    def high_water(self) -> int:
        return self._tick

    @property
    def streams_generation(self) -> int:
        return self._generation

    def newest_known(self, stream_arn: str) -> str | None:
        return self._newest.get(stream_arn)


def _lineage_order(shards: list[ShardView]) -> list[ShardView]:
    """Parents before children, keeping the upstream's order otherwise."""
    known = {s.shard_id for s in shards}
    placed: set[str] = set()
    ordered: list[ShardView] = []
    pending = list(shards)
    while pending:
        rest = []
        for shard in pending:
            parent = shard.parent_id
            if parent is None or parent not in known or parent in placed:
                ordered.append(shard)
                placed.add(shard.shard_id)
            else:
                rest.append(shard)
        if len(rest) == len(pending):  # a cycle cannot happen; keep what is left
            ordered.extend(rest)
            break
        pending = rest
    return ordered
