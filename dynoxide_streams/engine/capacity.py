"""Consumed capacity, computed as DynamoDB bills it.

Writes: one unit per started KB of the larger of the old and new item (minimum 1).
Reads: one unit per started 4 KB read (minimum 1), half for eventually consistent
reads; Query/Scan round the total size of the items read, not each item.
"""

from __future__ import annotations

import math
from typing import Any


def write_units(old_size: int, new_size: int) -> float:
    return float(max(1, math.ceil(max(old_size, new_size) / 1024)))


def read_units(total_size: int, consistent: bool) -> float:
    units = max(1, math.ceil(total_size / 4096))
    return float(units) if consistent else units / 2


def consumed(table_name: str, units: float, mode: str | None, kind: str) -> dict[str, Any] | None:
    """The ``ConsumedCapacity`` member for ReturnConsumedCapacity ``mode``, or None.

    ``kind`` is ``"Read"`` or ``"Write"``.
    """
    if mode not in ("TOTAL", "INDEXES"):
        return None
    result: dict[str, Any] = {
        "TableName": table_name,
        "CapacityUnits": units,
        f"{kind}CapacityUnits": units,
    }
    if mode == "INDEXES":
        result["Table"] = {"CapacityUnits": units, f"{kind}CapacityUnits": units}
    return result
