"""The lease item: one lease as a dataclass and as its item in the lease table
(DynamoDB JSON). Every attribute name and type of a lease is written here only.

A shard lease is keyed by ``leaseKey = <function name>|<stream ARN>|<shard id>`` — a
mapping is the same mapping in every process when its function name and stream ARN
are — and holds:

==============================  ==========================================================
``leaseOwner`` (S)              the process holding it (``host:pid:random``); absent: free
``leaseCounter`` (N)            incremented by every renewal and take
``checkpoint`` (S)              ``SHARD_END`` when every lane finished, else the earliest
                                lane position (absent before the first checkpoint)
``lanes`` (S)                   JSON: a checkpoint per lane (position, finished, window)
``parallelizationFactor`` (N)   how many lanes ``lanes`` was written for
``ownerSwitchesSinceCheckpoint`` takes since the last checkpoint
``startAfter`` (S)              where lanes without a checkpoint start: the position of
                                the mapping of the process that created the lease
``functionName`` / ``streamArn`` / ``shardId`` / ``parentShardId`` (S)   for people
==============================  ==========================================================

A singleton lease (``ttl-sweep|<table>``) has only ``leaseKey``, ``leaseOwner`` and
``leaseCounter``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from dynoxide_streams.shards.positions import SHARD_END, Checkpoint, StoredLanes

AttributeValue = dict[str, Any]
"""One DynamoDB JSON attribute value (``{"S": ...}``, ``{"N": ...}``)."""


def lease_key(function_name: str, stream_arn: str, shard_id: str) -> str:
    """The key of a shard's lease; with ``shard_id=""``, the prefix of a mapping's."""
    return f"{function_name}|{stream_arn}|{shard_id}"


def split_key(key: str) -> tuple[str, str]:
    """(the mapping's key prefix, the shard id) of a shard lease's key."""
    prefix, _, shard_id = key.rpartition("|")
    return prefix + "|", shard_id


def string(text: str) -> AttributeValue:
    return {"S": text}


def number(value: int) -> AttributeValue:
    return {"N": str(value)}


@dataclass(frozen=True)
class LeaseItem:
    """A lease item; an attribute that is None (or lanes without checkpoints) is
    absent from the item."""

    key: str
    owner: str | None = None
    counter: int = 0
    lanes: StoredLanes = field(default_factory=StoredLanes)
    checkpoint: str | None = None  # as stored; lanes with checkpoints write their summary
    owner_switches: int | None = None
    function_name: str | None = None
    stream_arn: str | None = None
    shard_id: str | None = None
    parent_shard_id: str | None = None

    @property
    def finished(self) -> bool:
        """Every lane of the shard finished (by any process)."""
        return self.checkpoint == SHARD_END

    def to_item(self) -> dict[str, AttributeValue]:
        item = {"leaseKey": string(self.key), "leaseCounter": number(self.counter)}
        if self.owner is not None:
            item["leaseOwner"] = string(self.owner)
        item.update(lanes_attributes(self.lanes))
        if self.checkpoint is not None and "checkpoint" not in item:
            item["checkpoint"] = string(self.checkpoint)
        if self.lanes.start_after is not None:
            item["startAfter"] = string(self.lanes.start_after)
        if self.owner_switches is not None:
            item["ownerSwitchesSinceCheckpoint"] = number(self.owner_switches)
        for name, value in (
            ("functionName", self.function_name),
            ("streamArn", self.stream_arn),
            ("shardId", self.shard_id),
            ("parentShardId", self.parent_shard_id),
        ):
            if value is not None:
                item[name] = string(value)
        return item

    @classmethod
    def from_item(cls, item: dict[str, AttributeValue]) -> LeaseItem:
        """The lease an item holds. Lane checkpoints name the shard of the key.
        KeyError/ValueError when ``leaseKey`` or ``leaseCounter`` is missing or bad."""
        key = str(item["leaseKey"]["S"])
        return cls(
            key=key,
            owner=_string(item, "leaseOwner"),
            counter=int(item["leaseCounter"]["N"]),
            lanes=StoredLanes(
                int(item.get("parallelizationFactor", {}).get("N", "1")),
                _decode_lanes(_string(item, "lanes"), split_key(key)[1]),
                _string(item, "startAfter"),
            ),
            checkpoint=_string(item, "checkpoint"),
            owner_switches=_number(item, "ownerSwitchesSinceCheckpoint"),
            function_name=_string(item, "functionName"),
            stream_arn=_string(item, "streamArn"),
            shard_id=_string(item, "shardId"),
            parent_shard_id=_string(item, "parentShardId"),
        )


def lanes_attributes(lanes: StoredLanes) -> dict[str, AttributeValue]:
    """``lanes``, ``checkpoint`` and ``parallelizationFactor`` as an item stores them
    (nothing before the first lane checkpoint)."""
    summary = lanes.summary
    if summary is None:
        return {}
    return {
        "lanes": string(_encode_lanes(lanes.checkpoints)),
        "checkpoint": string(summary),
        "parallelizationFactor": number(lanes.factor),
    }


def _encode_lanes(checkpoints: tuple[Checkpoint, ...]) -> str:
    return orjson.dumps(
        [
            {"lane": cp.lane, "position": cp.position, "finished": cp.finished, "window": cp.window}
            for cp in sorted(checkpoints, key=lambda cp: cp.lane)
        ]
    ).decode()


def _decode_lanes(raw: str | None, shard_id: str) -> tuple[Checkpoint, ...]:
    if raw is None:
        return ()
    by_lane = {
        int(d["lane"]): Checkpoint(
            shard_id, int(d["lane"]), str(d["position"]), bool(d["finished"]), d["window"]
        )
        for d in orjson.loads(raw)
    }
    return tuple(by_lane[lane] for lane in sorted(by_lane))


def _string(item: dict[str, AttributeValue], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return None if value is None else str(value)


def _number(item: dict[str, AttributeValue], name: str) -> int | None:
    value = item.get(name, {}).get("N")
    return None if value is None else int(value)
