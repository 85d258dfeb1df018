"""Reading a stream: a plain boto3 consumer across shard rotations under concurrent
writes, shard iterator types, GetRecords Limit and the 1 MB page cap."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from dynoxide_streams import Server
from tests.conftest import RawClient, make_client
from tests.wire.test_streams import (
    create_stream_table,
    describe_shards,
    drain,
    freeze,
    rotate,
    scall,
    seq,
    shard_iterator,
)

# ------------------------------------------------------------------ the consumer


@dataclass
class Consumer:
    """What a KCL-style reader does with boto3: list shards, read each one from
    TRIM_HORIZON, and start a child only after its parent is drained."""

    client: Any
    arn: str
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)  # ("read"|"drained", shard)
    shards: dict[str, dict[str, Any]] = field(default_factory=dict)
    drained: set[str] = field(default_factory=set)
    iterators: dict[str, str] = field(default_factory=dict)
    empty_open_pages: int = 0

    def refresh(self) -> None:
        kwargs: dict[str, Any] = {"StreamArn": self.arn, "Limit": 3}
        while True:
            description = self.client.describe_stream(**kwargs)["StreamDescription"]
            for shard in description["Shards"]:
                self.shards[shard["ShardId"]] = shard
            last = description.get("LastEvaluatedShardId")
            if last is None:
                return
            kwargs["ExclusiveStartShardId"] = last

    def ready(self, shard: dict[str, Any]) -> bool:
        parent = shard.get("ParentShardId")
        return parent is None or parent in self.drained or parent not in self.shards

    def poll(self) -> int:
        """One pass over the readable shards; the number of records read."""
        self.refresh()
        count = 0
        for shard_id in sorted(self.shards):  # ShardIds sort in creation order
            shard = self.shards[shard_id]
            if shard_id in self.drained or not self.ready(shard):
                continue
            iterator = self.iterators.get(shard_id)
            if iterator is None:
                iterator = self.client.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            page = self.client.get_records(ShardIterator=iterator)
            self.log.append(("read", shard_id))
            self.records.extend((shard_id, r) for r in page["Records"])
            count += len(page["Records"])
            if "NextShardIterator" in page:
                self.iterators[shard_id] = page["NextShardIterator"]
                if not page["Records"] and "EndingSequenceNumber" not in shard.get(
                    "SequenceNumberRange", {}
                ):
                    self.empty_open_pages += 1
            else:
                self.drained.add(shard_id)
                self.iterators.pop(shard_id, None)
                self.log.append(("drained", shard_id))
        return count

    def run(self, stop: threading.Event, deadline_passes: int = 100_000) -> None:
        """Poll until ``stop`` is set and a whole pass after it finds nothing new."""
        for _ in range(deadline_passes):
            stopping = stop.is_set()
            found = self.poll()
            if stopping and found == 0:
                return
        raise AssertionError("consumer did not finish")


@dataclass
class Write:
    writer: int
    index: int
    key: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


MIXED = ("put", "put", "update", "update", "delete")


def _writer(
    client: Any,
    table: str,
    n: int,
    count: int,
    keys: list[str],
    out: list[Write],
    tick: Callable[[], None],
    actions: tuple[str, ...] = MIXED,
) -> None:
    rng = random.Random(n)
    for i in range(count):
        key = rng.choice(keys)
        k = {"pk": {"S": key}}
        value = {"v": {"S": f"w{n}-{i}"}, "w": {"N": str(n)}}
        action = actions[i % len(actions)] if actions != MIXED else rng.choice(actions)
        if action == "put":
            item = {**k, **value}
            old = client.put_item(TableName=table, Item=item, ReturnValues="ALL_OLD").get(
                "Attributes"
            )
            out.append(Write(n, i, key, old, item))
        elif action == "update":
            old = client.update_item(
                TableName=table,
                Key=k,
                UpdateExpression="SET v = :v, w = :w",
                ExpressionAttributeValues={":v": value["v"], ":w": value["w"]},
                ReturnValues="ALL_OLD",
            ).get("Attributes")
            out.append(Write(n, i, key, old, {**(old or k), **value}))
        else:
            old = client.delete_item(TableName=table, Key=k, ReturnValues="ALL_OLD").get(
                "Attributes"
            )
            out.append(Write(n, i, key, old, None))
        tick()


def _run_workload(
    endpoint: str,
    table: str,
    arn: str,
    *,
    writers: int,
    per_writer: int,
    rotate_now: Callable[[], object] | None,
    rotations: int,
    key_count: int = 6,
    actions: tuple[str, ...] = MIXED,
) -> tuple[Consumer, list[Write]]:
    """Writers on overlapping keys, a concurrent consumer, rotations mid-stream."""
    keys = [f"k{i}" for i in range(key_count)]
    results: list[list[Write]] = [[] for _ in range(writers)]
    progress = threading.Semaphore(0)
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            client = make_client(endpoint)
            _writer(client, table, n, per_writer, keys, results[n], progress.release, actions)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            for _ in range(per_writer * writers):
                progress.release()

    consumer = Consumer(make_client(endpoint, "dynamodbstreams"), arn)
    stop = threading.Event()
    consumer_errors: list[BaseException] = []

    def consume() -> None:
        try:
            consumer.run(stop)
        except BaseException as exc:
            consumer_errors.append(exc)

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    threads = [threading.Thread(target=guarded, args=(n,), daemon=True) for n in range(writers)]
    for t in threads:
        t.start()
    if rotate_now is not None:
        step = writers * per_writer // (rotations + 1)
        for _ in range(rotations):
            for _ in range(step):
                assert progress.acquire(timeout=60), "writers made no progress"
            rotate_now()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    stop.set()
    reader.join(timeout=120)
    assert not reader.is_alive()
    assert not errors, errors
    assert not consumer_errors, consumer_errors
    return consumer, [w for r in results for w in r]


def _check_workload(raw: RawClient, consumer: Consumer, writes: list[Write], arn: str) -> None:
    records = [r for _, r in consumer.records]
    # every committed change exactly once, and no record that is not a committed change
    changes = [w for w in writes if w.old != w.new]
    expected = sorted(freeze([w.key, w.old, w.new]) for w in changes)
    seen = []
    for record in records:
        body = record["dynamodb"]
        assert record["eventName"] == (
            "INSERT" if "OldImage" not in body else "REMOVE" if "NewImage" not in body else "MODIFY"
        )
        seen.append(freeze([body["Keys"]["pk"]["S"], body.get("OldImage"), body.get("NewImage")]))
    assert sorted(seen) == expected
    assert len({r["eventID"] for r in records}) == len(records)
    numbers = [seq(r) for r in records]
    assert len(set(numbers)) == len(numbers)

    # per key: each record starts from the image the previous one left
    by_key: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=seq):
        by_key.setdefault(record["dynamodb"]["Keys"]["pk"]["S"], []).append(record["dynamodb"])
    for key, bodies in by_key.items():
        state = None
        for body in bodies:
            assert body.get("OldImage") == state, key
            state = body.get("NewImage")
    # per key, the consumer saw the records in the order of the changes
    order: dict[str, list[int]] = {}
    for record in records:
        order.setdefault(record["dynamodb"]["Keys"]["pk"]["S"], []).append(seq(record))
    assert all(v == sorted(v) for v in order.values())
    # each writer's own changes appear in the order it made them
    position = {
        freeze([r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")]): seq(r)
        for r in records
    }
    for n in {w.writer for w in writes}:
        mine = [position[freeze([w.old, w.new])] for w in changes if w.writer == n]
        assert mine == sorted(mine)

    # lineage: the consumer drained every parent before reading its child
    shards = describe_shards(raw, arn)
    assert sorted(consumer.shards) == [s["ShardId"] for s in shards]
    for shard in shards:
        parent = shard.get("ParentShardId")
        if parent is not None:
            assert consumer.log.index(("drained", parent)) < consumer.log.index(
                ("read", shard["ShardId"])
            )
    # sequence numbers rise from parent to child; each record lies in its shard's range
    by_shard: dict[str, list[int]] = {}
    for shard_id, record in consumer.records:
        by_shard.setdefault(shard_id, []).append(seq(record))
    for shard in shards:
        numbers = by_shard.get(shard["ShardId"], [])
        assert numbers == sorted(numbers)
        start = int(shard["SequenceNumberRange"]["StartingSequenceNumber"])
        end = shard["SequenceNumberRange"].get("EndingSequenceNumber")
        assert all(start <= n for n in numbers)
        if end is not None:
            assert all(n <= int(end) for n in numbers)
        parent = shard.get("ParentShardId")
        if parent in by_shard and numbers:
            assert max(by_shard[parent]) < min(numbers)
    # all closed shards are drained; exactly one open shard, never drained
    open_shards = [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
    assert len(open_shards) == 1
    assert consumer.drained == {s["ShardId"] for s in shards} - {open_shards[0]["ShardId"]}

    # raw: a drained closed shard ends without a NextShardIterator key, also from LATEST
    for shard in shards:
        shard_id = shard["ShardId"]
        if shard is open_shards[0]:
            page = scall(
                raw, "GetRecords", {"ShardIterator": shard_iterator(raw, arn, shard_id, "LATEST")}
            )
            assert page["Records"] == [] and isinstance(page["NextShardIterator"], str)
            continue
        got, following = drain(raw, shard_iterator(raw, arn, shard_id))
        assert following is None
        assert [seq(r) for r in got] == by_shard.get(shard_id, [])
        assert scall(
            raw, "GetRecords", {"ShardIterator": shard_iterator(raw, arn, shard_id, "LATEST")}
        ) == {"Records": []}
        if got:
            after_last = shard_iterator(
                raw, arn, shard_id, "AFTER_SEQUENCE_NUMBER", got[-1]["dynamodb"]["SequenceNumber"]
            )
            assert scall(raw, "GetRecords", {"ShardIterator": after_last}) == {"Records": []}


def test_consumer_follows_rotations_by_admin_endpoint(
    ddb: Any, raw: RawClient, endpoint: str
) -> None:
    table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
    assert arn is not None
    consumer, writes = _run_workload(
        endpoint,
        table,
        arn,
        writers=4,
        per_writer=60,
        rotate_now=lambda: rotate(raw, table),
        rotations=4,
    )
    assert len(describe_shards(raw, arn)) == 5
    _check_workload(raw, consumer, writes, arn)
    # the open shard always answered with a next iterator, also when it had nothing new
    assert consumer.empty_open_pages >= 1


def test_puts_and_deletes_racing_on_one_key_all_recorded(
    ddb: Any, raw: RawClient, endpoint: str
) -> None:
    """Concurrent puts and deletes of the same keys land in the same group commit; a
    group whose net effect on a key is nothing still records every change."""
    table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
    assert arn is not None
    consumer, writes = _run_workload(
        endpoint,
        table,
        arn,
        writers=8,
        per_writer=40,
        rotate_now=lambda: rotate(raw, table),
        rotations=3,
        key_count=2,
        actions=("put", "delete"),
    )
    assert sum(1 for w in writes if w.new is None and w.old is not None) > 0
    _check_workload(raw, consumer, writes, arn)


@pytest.fixture(scope="module")
def rotating() -> Iterator[Server]:
    with Server(shard_rotation_records=7).run_in_thread() as srv:
        yield srv


def test_consumer_follows_rotation_every_seven_records(rotating: Server) -> None:
    endpoint = rotating.endpoint
    raw = RawClient(endpoint)
    ddb = make_client(endpoint)
    table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
    assert arn is not None
    consumer, writes = _run_workload(
        endpoint, table, arn, writers=4, per_writer=50, rotate_now=None, rotations=0
    )
    _check_workload(raw, consumer, writes, arn)
    shards = describe_shards(raw, arn)
    changes = sum(1 for w in writes if w.old != w.new)
    assert len(shards) == -(-changes // 7) >= 4
    counts: dict[str, int] = {}
    for shard_id, _ in consumer.records:
        counts[shard_id] = counts.get(shard_id, 0) + 1
    # every closed shard holds exactly seven records; the open one the rest
    assert [counts.get(s["ShardId"], 0) for s in shards[:-1]] == [7] * (len(shards) - 1)
    assert 1 <= counts[shards[-1]["ShardId"]] <= 7


def test_rotation_in_embedded_server_keeps_lineage(rotating: Server) -> None:
    raw = RawClient(rotating.endpoint)
    ddb = make_client(rotating.endpoint)
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    result = rotating.rotate_shards_sync(table)
    shards = describe_shards(raw, arn)
    assert result == {
        "StreamArn": arn,
        "ShardId": shards[-1]["ShardId"],
        "ParentShardId": shards[0]["ShardId"],
    }
    ddb.put_item(TableName=table, Item={"pk": {"S": "b"}})
    records, _ = drain(raw, shard_iterator(raw, arn, shards[-1]["ShardId"]))
    assert [r["dynamodb"]["Keys"] for r in records] == [{"pk": {"S": "b"}}]


# -------------------------------------------------------------- 5. iterator types


@pytest.fixture
def five(ddb: Any, raw: RawClient) -> tuple[str, str, str, list[dict[str, Any]]]:
    """A KEYS_ONLY stream with five records in its one (open) shard."""
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    for i in range(5):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"r{i}"}})
    shard_id = describe_shards(raw, arn)[0]["ShardId"]
    records, _ = drain(raw, shard_iterator(raw, arn, shard_id))
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == [f"r{i}" for i in range(5)]
    return table, arn, shard_id, records


def _keys(records: list[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]


def test_trim_horizon_at_and_after_sequence_number(raw: RawClient, five: Any) -> None:
    _, arn, shard_id, records = five
    numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
    for index, number in enumerate(numbers):
        at, _ = drain(raw, shard_iterator(raw, arn, shard_id, "AT_SEQUENCE_NUMBER", number))
        assert at == records[index:]
        after, _ = drain(raw, shard_iterator(raw, arn, shard_id, "AFTER_SEQUENCE_NUMBER", number))
        assert after == records[index + 1 :]
    # the shard's StartingSequenceNumber is a valid AT position: it reads everything
    start = describe_shards(raw, arn)[0]["SequenceNumberRange"]["StartingSequenceNumber"]
    at_start, _ = drain(raw, shard_iterator(raw, arn, shard_id, "AT_SEQUENCE_NUMBER", start))
    assert at_start == records
    # the same record read twice is byte-for-byte the same
    again, _ = drain(raw, shard_iterator(raw, arn, shard_id))
    assert again == records


def test_latest_sees_the_very_next_write(ddb: Any, raw: RawClient, five: Any) -> None:
    table, arn, shard_id, _ = five
    latest = shard_iterator(raw, arn, shard_id, "LATEST")
    empty = scall(raw, "GetRecords", {"ShardIterator": latest})
    assert empty["Records"] == [] and "NextShardIterator" in empty
    ddb.put_item(TableName=table, Item={"pk": {"S": "next"}})
    # both the LATEST iterator and the empty page's next iterator see exactly the new write
    for iterator in (latest, empty["NextShardIterator"]):
        page = scall(raw, "GetRecords", {"ShardIterator": iterator})
        assert _keys(page["Records"]) == ["next"]
        assert (
            scall(raw, "GetRecords", {"ShardIterator": page["NextShardIterator"]})["Records"] == []
        )
    # AFTER the newest record behaves like LATEST
    newest = drain(raw, shard_iterator(raw, arn, shard_id))[0][-1]["dynamodb"]["SequenceNumber"]
    after = shard_iterator(raw, arn, shard_id, "AFTER_SEQUENCE_NUMBER", newest)
    ddb.put_item(TableName=table, Item={"pk": {"S": "later"}})
    assert _keys(scall(raw, "GetRecords", {"ShardIterator": after})["Records"]) == ["later"]


def test_at_starting_sequence_number_of_empty_shards(ddb: Any, raw: RawClient) -> None:
    """AWS accepts AT/AFTER_SEQUENCE_NUMBER with a shard's StartingSequenceNumber even
    before the shard holds any record (a new stream, a freshly rotated child)."""
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    shard = describe_shards(raw, arn)[0]
    start = shard["SequenceNumberRange"]["StartingSequenceNumber"]
    at = shard_iterator(raw, arn, shard["ShardId"], "AT_SEQUENCE_NUMBER", start)
    ddb.put_item(TableName=table, Item={"pk": {"S": "first"}})
    assert _keys(scall(raw, "GetRecords", {"ShardIterator": at})["Records"]) == ["first"]
    rotate(raw, table)
    child = describe_shards(raw, arn)[-1]
    child_start = child["SequenceNumberRange"]["StartingSequenceNumber"]
    at_child = shard_iterator(raw, arn, child["ShardId"], "AT_SEQUENCE_NUMBER", child_start)
    ddb.put_item(TableName=table, Item={"pk": {"S": "second"}})
    assert _keys(scall(raw, "GetRecords", {"ShardIterator": at_child})["Records"]) == ["second"]


def test_get_records_limit(raw: RawClient, five: Any) -> None:
    _, arn, shard_id, records = five
    iterator = shard_iterator(raw, arn, shard_id)
    pages = []
    while True:
        page = scall(raw, "GetRecords", {"ShardIterator": iterator, "Limit": 2})
        pages.append(_keys(page["Records"]))
        iterator = page["NextShardIterator"]
        if not page["Records"]:
            break
    assert pages == [["r0", "r1"], ["r2", "r3"], ["r4"], []]
    one = scall(
        raw, "GetRecords", {"ShardIterator": shard_iterator(raw, arn, shard_id), "Limit": 1}
    )
    assert one["Records"] == records[:1]
    most = scall(
        raw, "GetRecords", {"ShardIterator": shard_iterator(raw, arn, shard_id), "Limit": 1000}
    )
    assert most["Records"] == records


def test_limit_across_a_closed_shard_end(ddb: Any, raw: RawClient) -> None:
    table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
    assert arn is not None
    for i in range(3):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"c{i}"}})
    rotate(raw, table)
    parent = describe_shards(raw, arn)[0]["ShardId"]
    iterator = shard_iterator(raw, arn, parent)
    first = scall(raw, "GetRecords", {"ShardIterator": iterator, "Limit": 2})
    assert _keys(first["Records"]) == ["c0", "c1"] and "NextShardIterator" in first
    last = scall(raw, "GetRecords", {"ShardIterator": first["NextShardIterator"], "Limit": 2})
    # the last page of a closed shard may carry records and still end the shard
    assert _keys(last["Records"]) == ["c2"]
    if "NextShardIterator" in last:
        assert scall(raw, "GetRecords", {"ShardIterator": last["NextShardIterator"]}) == {
            "Records": []
        }


def test_one_megabyte_page_cap(ddb: Any, raw: RawClient) -> None:
    table, arn = create_stream_table(ddb, "NEW_IMAGE", range_key=None)
    assert arn is not None
    big = "x" * 300_000
    for i in range(7):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"big{i}"}, "blob": {"S": big}})
    shard_id = describe_shards(raw, arn)[0]["ShardId"]
    iterator = shard_iterator(raw, arn, shard_id)
    sizes = []
    seen: list[str] = []
    while True:
        response = raw.call(
            "GetRecords", {"ShardIterator": iterator}, prefix="DynamoDBStreams_20120810"
        )
        assert response.status == 200
        page = response.json
        if not page["Records"]:
            break
        assert len(response.body) <= 1024 * 1024 + 4096
        assert sum(r["dynamodb"]["SizeBytes"] for r in page["Records"]) <= 1024 * 1024
        sizes.append(len(page["Records"]))
        seen.extend(_keys(page["Records"]))
        iterator = page["NextShardIterator"]
    assert sizes == [3, 3, 1]
    assert seen == [f"big{i}" for i in range(7)]
