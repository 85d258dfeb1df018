"""The lease coordinator (``sidecar/leases.py``) step by step through its public
rounds (``ensure_table``, ``take_round``, ``renew_round``) and mapping views, against
a real server on a loopback port as the upstream (its DynamoDB API holds the lease
table), with a hand-moved clock for lease expiry. Two coordinators play two sidecar
processes.

* the table is created with ``leaseKey`` as its hash key, and leases are created once
  per shard, unowned;
* a lone process takes every lease; a second one steals until the split is even;
  the first notices at its next renewal and stops counting the stolen lease; lanes
  without a checkpoint start where the lease's creator's mapping did, not where the
  taker's (a later LATEST) would;
* a checkpoint of a lease that was taken is refused, and leaves the lease untouched;
* an unrenewed lease is dropped after ``duration``; a checkpoint of it is refused
  until it is taken again, then resumes from what the lease holds (no lane lost);
* a finished shard's lease says ``SHARD_END``, stops being renewed, and is deleted
  once the stream no longer lists the shard;
* a singleton lease is held by one process until it expires, then changes hands;
* a lease table deleted under a running process is created again, with a lease for
  every shard not known to be finished;
* an upstream call for a lease retries for a timeout counted from now (the time the
  lease has left by the coordinator's clock), never for a deadline on another clock.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest

from dynoxide_streams.engine.changes import ShardView
from dynoxide_streams.engine.trigger_store import Checkpoint
from dynoxide_streams.server import Server
from dynoxide_streams.sidecar.leases import LeaseCoordinator
from dynoxide_streams.sidecar.upstream import DYNAMODB, Upstream, UpstreamUnavailable
from dynoxide_streams.triggers.leases import MappingLeases
from tests.conftest import make_client

TABLE = "leases_under_test"
ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2026-11-25T00:00:00.000"
DURATION = 10.0
A_START = "100000000000000000007"  # where the first process's mapping starts (LATEST)
B_START = "100000000000000000042"  # a later LATEST, resolved by the second process
SHARDS = [
    ShardView(f"shardId-0000000000000000000{i}-0000000{i}", None, "1", None) for i in range(4)
]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with Server().run_in_thread() as srv:
        yield srv.endpoint


@asynccontextmanager
async def coordinator(
    endpoint: str, me: str, clock: Clock, table: str = TABLE
) -> AsyncIterator[LeaseCoordinator]:
    """A coordinator with its table ensured, without its background loops: the test
    runs its take and renew rounds by hand."""
    upstream = Upstream(endpoint, "us-east-1", credentials=("test", "test", None))
    c = LeaseCoordinator(upstream, table, duration=DURATION, me=me, now=clock)
    try:
        await c.ensure_table()
        yield c
    finally:
        await upstream.aclose()


@asynccontextmanager
async def one_mapping(
    endpoint: str, clock: Clock, table: str
) -> AsyncIterator[tuple[LeaseCoordinator, MappingLeases]]:
    """Process "a" attached to mapping ``fn`` of the stream."""
    async with coordinator(endpoint, "a", clock, table) as a, a.attach("fn", ARN) as view:
        yield a, view


def items(endpoint: str, table: str = TABLE) -> dict[str, dict[str, Any]]:
    ddb = make_client(endpoint)
    found = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    return {item["leaseKey"]["S"]: item for item in found}


def owners(endpoint: str, table: str = TABLE) -> dict[str, str | None]:
    return {
        key: item.get("leaseOwner", {}).get("S") for key, item in items(endpoint, table).items()
    }


@pytest.mark.anyio
async def test_split_steal_refused_checkpoint_and_retake(upstream: str, clock: Clock) -> None:
    table = "leases_split"
    async with (
        coordinator(upstream, "a", clock, table) as a,
        coordinator(upstream, "b", clock, table) as b,
    ):
        description = make_client(upstream).describe_table(TableName=table)["Table"]
        assert description["KeySchema"] == [{"AttributeName": "leaseKey", "KeyType": "HASH"}]
        async with a.attach("fn", ARN) as view_a, b.attach("fn", ARN) as view_b:
            await view_a.sync(SHARDS, A_START)
            await view_b.sync(SHARDS, B_START)  # already there: nothing new
            assert set(owners(upstream, table).values()) == {None}
            assert len(owners(upstream, table)) == 4

            await a.take_round()  # alone: every lease
            assert set(view_a.held()) == {s.shard_id for s in SHARDS}
            assert set(owners(upstream, table).values()) == {"a"}

            # b steals one lease per round until each holds two
            await b.take_round()
            await b.take_round()
            await b.take_round()  # balanced: nothing more
            split = owners(upstream, table)
            assert sorted(split.values()) == ["a", "a", "b", "b"]
            stolen = sorted(view_b.held())
            assert len(stolen) == 2
            # b starts lanes without a checkpoint where the lease's creator did
            assert {view_b.held()[s].start_after for s in stolen} == {A_START}
            lease = items(upstream, table)[f"fn|{ARN}|{stolen[0]}"]
            assert lease["startAfter"] == {"S": A_START}

            # a's checkpoint of a stolen lease is refused and changes nothing
            before = items(upstream, table)
            assert not await view_a.save(Checkpoint(stolen[0], 0, "5"), 1)
            assert items(upstream, table) == before
            # a's renewals notice the steals; its own two stay
            await a.renew_round()
            assert sorted(view_a.held()) == sorted(
                s.shard_id for s in SHARDS if s.shard_id not in stolen
            )
            # b checkpoints into its lease
            assert await view_b.save(Checkpoint(stolen[0], 0, "7"), 1)
            lease = items(upstream, table)[f"fn|{ARN}|{stolen[0]}"]
            assert lease["checkpoint"] == {"S": "7"}
            assert json.loads(lease["lanes"]["S"]) == [
                {"lane": 0, "position": "7", "finished": False, "window": None}
            ]
            assert lease["ownerSwitchesSinceCheckpoint"] == {"N": "0"}


@pytest.mark.anyio
async def test_an_unrenewed_lease_is_dropped_and_retaken_with_every_lane(
    upstream: str, clock: Clock
) -> None:
    table = "leases_retake"
    async with one_mapping(upstream, clock, table) as (a, view):
        shard = SHARDS[0]
        await view.sync([shard], A_START)
        await a.take_round()
        assert await view.save(Checkpoint(shard.shard_id, 0, "11"), 2)
        assert await view.save(Checkpoint(shard.shard_id, 1, "12"), 2)

        clock.now += DURATION + 1  # no renewal got through for a whole duration
        await a.renew_round()
        assert view.held() == {}
        # a lane still running cannot move the lease meanwhile
        assert not await view.save(Checkpoint(shard.shard_id, 0, "13"), 2)

        await a.take_round()  # the table still names this process: taken at once
        stored = view.held()[shard.shard_id]
        assert stored.start_after == A_START
        assert stored.factor == 2
        assert [(cp.lane, cp.position) for cp in stored.checkpoints] == [(0, "11"), (1, "12")]
        # a new checkpoint keeps the other lane's position
        assert await view.save(Checkpoint(shard.shard_id, 0, "14"), 2)
        lease = items(upstream, table)[f"fn|{ARN}|{shard.shard_id}"]
        written = json.loads(lease["lanes"]["S"])
        assert [(d["lane"], d["position"]) for d in written] == [(0, "14"), (1, "12")]
        assert lease["checkpoint"] == {"S": "12"}  # the earliest lane


@pytest.mark.anyio
async def test_finished_leases_stop_renewing_and_go_with_their_shard(
    upstream: str, clock: Clock
) -> None:
    table = "leases_finished"
    async with one_mapping(upstream, clock, table) as (a, view):
        parent = ShardView("shardId-00000000000000000010-0000000a", None, "1", "9")
        child = ShardView("shardId-00000000000000000011-0000000b", parent.shard_id, "10", None)
        await view.sync([parent, child], A_START)
        assert items(upstream, table)[f"fn|{ARN}|{child.shard_id}"]["parentShardId"] == {
            "S": parent.shard_id
        }
        await a.take_round()
        assert await view.save(Checkpoint(parent.shard_id, 0, "9", finished=True), 1)
        assert parent.shard_id in view.done()
        assert parent.shard_id not in view.held()
        finished = items(upstream, table)[f"fn|{ARN}|{parent.shard_id}"]
        assert finished["checkpoint"] == {"S": "SHARD_END"}
        assert not a.holds(f"fn|{ARN}|{parent.shard_id}")  # no longer renewed
        await a.renew_round()
        assert items(upstream, table)[f"fn|{ARN}|{parent.shard_id}"] == finished
        assert a.holds(f"fn|{ARN}|{child.shard_id}")  # the open shard still is
        await view.sync([child], A_START)  # the parent was trimmed away
        assert set(items(upstream, table)) == {f"fn|{ARN}|{child.shard_id}"}


@pytest.mark.anyio
async def test_a_singleton_lease_changes_hands_only_when_it_expires(
    upstream: str, clock: Clock
) -> None:
    table = "leases_singleton"
    async with (
        coordinator(upstream, "a", clock, table) as a,
        coordinator(upstream, "b", clock, table) as b,
    ):
        assert await a.claim("ttl-sweep|T")
        assert not await b.claim("ttl-sweep|T")
        clock.now += DURATION / 2
        await a.renew_round()
        assert await a.claim("ttl-sweep|T")
        clock.now += DURATION / 2 + 1  # a renewed half a duration ago: still alive
        assert not await b.claim("ttl-sweep|T")
        clock.now += DURATION + 1  # a stopped renewing
        assert await b.claim("ttl-sweep|T")
        assert owners(upstream, table) == {"ttl-sweep|T": "b"}
        assert a.holds("ttl-sweep|T")  # as far as a knows
        await a.renew_round()  # a finds out
        assert not a.holds("ttl-sweep|T")


@pytest.mark.anyio
async def test_a_deleted_lease_table_is_created_again_with_its_leases(
    upstream: str, clock: Clock
) -> None:
    table = "leases_recreated"
    async with one_mapping(upstream, clock, table) as (a, view):
        await view.sync(SHARDS[:2], A_START)
        await a.take_round()
        assert len(view.held()) == 2
        assert await view.save(Checkpoint(SHARDS[0].shard_id, 0, "9", finished=True), 1)

        make_client(upstream).delete_table(TableName=table)  # someone deletes it
        await a.take_round()  # the scan finds no table: it is created again
        described = make_client(upstream).describe_table(TableName=table)["Table"]
        assert described["TableStatus"] == "ACTIVE"
        assert items(upstream, table) == {}

        clock.now += DURATION + 1  # the old leases lapse locally
        await a.renew_round()
        assert view.held() == {}
        await view.sync(SHARDS[:2], A_START)
        # the open shard gets a lease again; the one known finished does not
        assert set(items(upstream, table)) == {f"fn|{ARN}|{SHARDS[1].shard_id}"}
        await a.take_round()
        assert set(view.held()) == {SHARDS[1].shard_id}
        assert owners(upstream, table) == {f"fn|{ARN}|{SHARDS[1].shard_id}": "a"}


BUSY = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"busy"}'


async def answer_busy(stream: anyio.abc.ByteStream, requests: list[float]) -> None:
    """Answer one HTTP request with a retryable 500, noting when it came."""
    async with stream:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive()
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        assert length is not None
        while len(body) < int(length.group(1)):
            body += await stream.receive()
        requests.append(time.monotonic())
        await stream.send(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(BUSY), BUSY)
        )


@pytest.mark.anyio
async def test_an_upstream_call_retries_for_its_timeout_from_now() -> None:
    assert len(await busy_tries(timeout=0.0)) == 1  # one try, no retry
    assert len(await busy_tries(timeout=1.0)) >= 2  # busy: retried until the timeout


async def busy_tries(timeout: float) -> list[float]:
    """When each try of one call to an always-busy upstream came."""
    requests: list[float] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    upstream = Upstream(f"http://127.0.0.1:{port}", "us-east-1", credentials=("t", "t", None))
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, lambda s: answer_busy(s, requests))
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable):
            await upstream.call(DYNAMODB, "ListTables", {}, timeout=timeout)
        await upstream.aclose()
        tg.cancel_scope.cancel()
    assert all(at - started <= timeout + 0.5 for at in requests)  # none started late
    return requests
