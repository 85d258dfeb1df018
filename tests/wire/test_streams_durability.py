"""Streams across restarts and crashes: a consumer continues where it stopped, stream
ARNs, shards and lineage survive, and a SIGKILL never separates a write from its record."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dynoxide_streams import Server
from tests.conftest import RawClient, make_client
from tests.process import start_server
from tests.wire.test_streams import (
    create_stream_table,
    describe_shards,
    drain,
    freeze,
    read_stream,
    scall,
    seq,
    shard_iterator,
)


def _keys(records: list[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]


def _put(ddb: Any, table: str, key: str, value: int = 0) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": key}, "v": {"N": str(value)}})


def _snapshot(raw: RawClient, table: str, arn: str) -> tuple[Any, Any, Any]:
    description = scall(raw, "DescribeStream", {"StreamArn": arn})["StreamDescription"]
    listed = scall(raw, "ListStreams", {"TableName": table})
    table_description = raw.call("DescribeTable", {"TableName": table}).json["Table"]
    stream_members = {
        k: table_description[k]
        for k in ("StreamSpecification", "LatestStreamArn", "LatestStreamLabel")
    }
    return description, listed, stream_members


def test_consumer_continues_across_embedded_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Server(data_dir=data).run_in_thread() as srv:
        raw, ddb = RawClient(srv.endpoint), make_client(srv.endpoint)
        table, arn = create_stream_table(ddb, "NEW_AND_OLD_IMAGES", range_key=None)
        assert arn is not None
        for i in range(5):
            _put(ddb, table, f"a{i}", i)
        srv.rotate_shards_sync(table)
        for i in range(3):
            _put(ddb, table, f"b{i}", i)
        parent, child = describe_shards(raw, arn)
        first, following = drain(raw, shard_iterator(raw, arn, parent["ShardId"]))
        assert _keys(first) == [f"a{i}" for i in range(5)] and following is None
        page = scall(
            raw,
            "GetRecords",
            {"ShardIterator": shard_iterator(raw, arn, child["ShardId"]), "Limit": 2},
        )
        assert _keys(page["Records"]) == ["b0", "b1"]
        held_iterator = page["NextShardIterator"]
        held_sequence = page["Records"][-1]["dynamodb"]["SequenceNumber"]
        before = _snapshot(raw, table, arn)
        old_ids = {r["eventID"] for r in first + page["Records"]}

    with Server(data_dir=data).run_in_thread() as srv:
        raw, ddb = RawClient(srv.endpoint), make_client(srv.endpoint)
        assert _snapshot(raw, table, arn) == before
        _put(ddb, table, "c0")
        # the held iterator (issued before the restart, not expired) goes on: no gap, no repeat
        rest, following = drain(raw, held_iterator)
        assert _keys(rest) == ["b2", "c0"] and following is not None
        after, _ = drain(
            raw, shard_iterator(raw, arn, child["ShardId"], "AFTER_SEQUENCE_NUMBER", held_sequence)
        )
        assert after == rest
        assert seq(rest[0]) > int(held_sequence)
        assert not old_ids & {r["eventID"] for r in rest}
        # the lineage continues from the shards made before the restart
        result = srv.rotate_shards_sync(table)
        assert result["ParentShardId"] == child["ShardId"]
        _put(ddb, table, "d0")
        shards = describe_shards(raw, arn)
        assert [s["ShardId"] for s in shards[:2]] == [parent["ShardId"], child["ShardId"]]
        everything = read_stream(raw, arn)
        assert _keys(everything) == [f"a{i}" for i in range(5)] + ["b0", "b1", "b2", "c0", "d0"]
        numbers = [seq(r) for r in everything]
        assert numbers == sorted(set(numbers))


def test_consumer_continues_across_process_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        raw, ddb = RawClient(server.endpoint), make_client(server.endpoint)
        table, arn = create_stream_table(ddb, "KEYS_ONLY", range_key=None)
        assert arn is not None
        for i in range(4):
            _put(ddb, table, f"k{i}")
        shard_id = describe_shards(raw, arn)[0]["ShardId"]
        page = scall(
            raw, "GetRecords", {"ShardIterator": shard_iterator(raw, arn, shard_id), "Limit": 3}
        )
        held_iterator = page["NextShardIterator"]
        held_sequence = page["Records"][-1]["dynamodb"]["SequenceNumber"]
        before = _snapshot(raw, table, arn)
    finally:
        assert server.terminate() == 0
    # a hard crash right after the clean restart changes nothing either
    crashed = start_server(data)
    crashed.kill9()
    restarted = start_server(data)
    try:
        raw, ddb = RawClient(restarted.endpoint), make_client(restarted.endpoint)
        assert _snapshot(raw, table, arn) == before
        _put(ddb, table, "k4")
        rest, _ = drain(raw, held_iterator)
        assert _keys(rest) == ["k3", "k4"]
        after, _ = drain(
            raw, shard_iterator(raw, arn, shard_id, "AFTER_SEQUENCE_NUMBER", held_sequence)
        )
        assert after == rest
    finally:
        restarted.terminate()


def test_sigkill_never_separates_a_write_from_its_record(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, "--shard-rotation-records", "40")
    writers = 6
    keys = [f"k{i}" for i in range(8)]
    acked: list[list[tuple[str, Any, Any]]] = [[] for _ in range(writers)]
    attempted: set[str] = set()
    lock = threading.Lock()
    enough = threading.Event()
    try:
        client = make_client(server.endpoint)
        table, arn = create_stream_table(client, "NEW_AND_OLD_IMAGES", range_key=None)
        assert arn is not None

        def writer(n: int) -> None:
            c = make_client(server.endpoint)
            i = 0
            while True:
                key = keys[(n * 7 + i * 3) % len(keys)]
                k = {"pk": {"S": key}}
                value = f"w{n}-{i}"
                with lock:
                    attempted.add(value)
                try:
                    if i % 5 == 4:
                        old = c.delete_item(TableName=table, Key=k, ReturnValues="ALL_OLD").get(
                            "Attributes"
                        )
                        new = None
                    elif i % 2:
                        old = c.update_item(
                            TableName=table,
                            Key=k,
                            UpdateExpression="SET v = :v",
                            ExpressionAttributeValues={":v": {"S": value}},
                            ReturnValues="ALL_OLD",
                        ).get("Attributes")
                        new = {**(old or k), "v": {"S": value}}
                    else:
                        new = {**k, "v": {"S": value}, "n": {"N": str(i)}}
                        old = c.put_item(TableName=table, Item=new, ReturnValues="ALL_OLD").get(
                            "Attributes"
                        )
                except Exception:
                    return  # the server died under us: this write was never acknowledged
                acked[n].append((key, old, new))
                i += 1
                if sum(len(a) for a in acked) >= 400:
                    enough.set()

        threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(writers)]
        for t in threads:
            t.start()
        assert enough.wait(timeout=120), "writers made no progress"
        server.kill9()
        for t in threads:
            t.join(timeout=60)
    finally:
        if server.proc.poll() is None:
            server.kill9()

    restarted = start_server(data, "--shard-rotation-records", "40")
    try:
        raw, client = RawClient(restarted.endpoint), make_client(restarted.endpoint)
        shards = describe_shards(raw, arn)
        assert len(shards) >= 5  # rotations happened during the run
        records = read_stream(raw, arn)
        numbers = [seq(r) for r in records]
        assert numbers == sorted(set(numbers))

        # every acknowledged change has exactly one record
        seen: dict[str, int] = {}
        for record in records:
            body = record["dynamodb"]
            token = freeze([body["Keys"]["pk"]["S"], body.get("OldImage"), body.get("NewImage")])
            seen[token] = seen.get(token, 0) + 1
        assert all(count == 1 for count in seen.values())
        changes = [c for per in acked for c in per if c[1] != c[2]]
        missing = [c for c in changes if freeze(list(c)) not in seen]
        assert not missing, f"{len(missing)} acknowledged writes have no record"
        # at most one write per writer was in flight when the server died
        assert len(records) - len(changes) <= writers

        # no record without its write: each record's images are values the item really had,
        # each change starts from the image the previous one left, and the table ends in
        # the state of the last record
        by_key: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
        for record in records:
            by_key[record["dynamodb"]["Keys"]["pk"]["S"]].append(record["dynamodb"])
        for key, bodies in by_key.items():
            state = None
            for body in bodies:
                assert body.get("OldImage") == state, key
                state = body.get("NewImage")
                if state is not None:
                    assert state["v"]["S"] in attempted
            item = client.get_item(
                TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True
            ).get("Item")
            assert item == state, key
        # and the stream goes on after the crash
        client.put_item(TableName=table, Item={"pk": {"S": "after"}})
        last = read_stream(raw, arn)[-1]
        assert last["dynamodb"]["Keys"] == {"pk": {"S": "after"}}
        assert seq(last) > max(numbers)
    finally:
        restarted.terminate()
