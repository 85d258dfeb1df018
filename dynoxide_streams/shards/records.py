"""Stream records in the GetRecords shape, built from one item change.

INSERT when the item did not exist, REMOVE when it no longer does, MODIFY otherwise.
``Keys`` always; ``NewImage``/``OldImage`` per StreamViewType (absent, not empty, when
not applicable); ``SizeBytes`` = the item sizes of Keys and the included images;
``ApproximateCreationDateTime`` in whole epoch seconds.
"""

from __future__ import annotations

import math
from typing import Any

from dynoxide_streams.engine.values import Item, item_size

VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
SERVICE_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


def event_name(old: Item | None, new: Item | None) -> str:
    if old is None:
        return "INSERT"
    if new is None:
        return "REMOVE"
    return "MODIFY"


def build_record(
    *,
    event_id: str,
    region: str,
    keys: Item,
    old: Item | None,
    new: Item | None,
    view_type: str,
    sequence_number: str,
    created_at: float,
    service: bool = False,
    old_size: int | None = None,
    new_size: int | None = None,
) -> dict[str, Any]:
    """One record as GetRecords returns it (PascalCase ``userIdentity``).

    ``old_size``/``new_size`` are the images' item sizes when the caller knows them.
    """
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": math.floor(created_at),
        "Keys": keys,
    }
    size = item_size(keys)
    if new is not None and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        dynamodb["NewImage"] = new
        size += item_size(new) if new_size is None else new_size
    if old is not None and view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        dynamodb["OldImage"] = old
        size += item_size(old) if old_size is None else old_size
    dynamodb["SequenceNumber"] = sequence_number
    dynamodb["SizeBytes"] = size
    dynamodb["StreamViewType"] = view_type
    record: dict[str, Any] = {
        "eventID": event_id,
        "eventName": event_name(old, new),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
    }
    if service:
        record["userIdentity"] = dict(SERVICE_IDENTITY)
    return record


def should_rotate(
    *,
    opened_at: float,
    records: int,
    now: float,
    rotation_seconds: float | None,
    rotation_records: int | None,
) -> bool:
    """Whether the open shard closes (and a child opens) before the next record."""
    if rotation_records is not None and records >= rotation_records:
        return True
    return rotation_seconds is not None and now - opened_at >= rotation_seconds
