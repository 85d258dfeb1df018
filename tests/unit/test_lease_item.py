"""The lease item codec (``sidecar/lease_item.py``), without an upstream.

* a new shard lease is written with exactly the documented attributes (no owner, no
  lanes, counter 0) and a singleton lease with key, owner and counter only;
* lanes are written as sorted JSON with their summary checkpoint and factor, and read
  back naming the shard of the key;
* any lease whose stored checkpoint is its lanes' summary reads back as written;
* missing optional attributes read as their defaults (factor 1, no lanes).
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dynoxide_streams.shards.positions import Checkpoint, StoredLanes
from dynoxide_streams.sidecar.lease_item import LeaseItem, lease_key, split_key

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2026-11-25T00:00:00.000"
SHARD = "shardId-00000000000000000001-00000001"
KEY = f"fn|{ARN}|{SHARD}"


def test_keys_split_into_mapping_prefix_and_shard() -> None:
    assert lease_key("fn", ARN, SHARD) == KEY
    assert split_key(KEY) == (lease_key("fn", ARN, ""), SHARD)


def test_a_new_shard_lease_has_the_documented_attributes() -> None:
    lease = LeaseItem(
        KEY,
        lanes=StoredLanes(start_after="100000000000000000007"),
        function_name="fn",
        stream_arn=ARN,
        shard_id=SHARD,
        parent_shard_id="shardId-00000000000000000000-00000000",
    )
    assert lease.to_item() == {
        "leaseKey": {"S": KEY},
        "leaseCounter": {"N": "0"},
        "startAfter": {"S": "100000000000000000007"},
        "functionName": {"S": "fn"},
        "streamArn": {"S": ARN},
        "shardId": {"S": SHARD},
        "parentShardId": {"S": "shardId-00000000000000000000-00000000"},
    }
    assert "parentShardId" not in LeaseItem(KEY, shard_id=SHARD).to_item()


def test_a_singleton_lease_is_key_owner_and_counter() -> None:
    assert LeaseItem("ttl-sweep|T", owner="me", counter=1).to_item() == {
        "leaseKey": {"S": "ttl-sweep|T"},
        "leaseOwner": {"S": "me"},
        "leaseCounter": {"N": "1"},
    }


def test_lanes_are_stored_sorted_with_their_summary() -> None:
    lanes = StoredLanes(
        2, (Checkpoint(SHARD, 1, "12"), Checkpoint(SHARD, 0, "14", window={"start": 1.0}))
    )
    item = LeaseItem(KEY, owner="a", counter=3, lanes=lanes).to_item()
    assert json.loads(item["lanes"]["S"]) == [
        {"lane": 0, "position": "14", "finished": False, "window": {"start": 1.0}},
        {"lane": 1, "position": "12", "finished": False, "window": None},
    ]
    assert item["checkpoint"] == {"S": "12"}
    assert item["parallelizationFactor"] == {"N": "2"}
    read = LeaseItem.from_item(item)
    assert [cp.shard_id for cp in read.lanes.checkpoints] == [SHARD, SHARD]
    assert [cp.lane for cp in read.lanes.checkpoints] == [0, 1]
    assert not read.finished


def test_missing_attributes_read_as_defaults() -> None:
    lease = LeaseItem.from_item({"leaseKey": {"S": KEY}, "leaseCounter": {"N": "4"}})
    assert lease == LeaseItem(KEY, counter=4)
    assert lease.lanes == StoredLanes(1, (), None)
    assert lease.owner is None and lease.checkpoint is None


positions = st.integers(10**20, 10**21).map(str)
checkpoints = st.lists(
    st.tuples(st.integers(0, 3), positions, st.booleans()), max_size=4, unique_by=lambda t: t[0]
)
texts = st.none() | st.text(min_size=1, max_size=8)


@given(
    owner=texts,
    counter=st.integers(0, 10**6),
    factor=st.integers(1, 4),
    lanes=checkpoints,
    start=st.none() | positions,
    switches=st.none() | st.integers(0, 50),
    function_name=texts,
    parent=texts,
)
def test_leases_read_back_as_written(
    owner: str | None,
    counter: int,
    factor: int,
    lanes: list[tuple[int, str, bool]],
    start: str | None,
    switches: int | None,
    function_name: str | None,
    parent: str | None,
) -> None:
    stored = StoredLanes(
        factor if lanes else 1,
        tuple(Checkpoint(SHARD, lane, p, done) for lane, p, done in sorted(lanes)),
        start,
    )
    lease = LeaseItem(
        KEY,
        owner=owner,
        counter=counter,
        lanes=stored,
        checkpoint=stored.summary,
        owner_switches=switches,
        function_name=function_name,
        stream_arn=ARN,
        shard_id=SHARD,
        parent_shard_id=parent,
    )
    item = lease.to_item()
    assert LeaseItem.from_item(item) == lease
    assert LeaseItem.from_item(json.loads(json.dumps(item))) == lease
    assert lease.finished == stored.finished
