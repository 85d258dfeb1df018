"""Bounded in-memory maps that evict their oldest entries first (:class:`LRU`).

Hand-written because no standard or well-kept tool has these semantics:
``functools.lru_cache`` caches a function's results, while every user here is a
map with explicit put/get/pop; ``cachetools.LRUCache`` reorders on every read and
write and refuses an oversized value. The users need reads that leave the order
alone (single-use iterators, idempotency tokens), a refresh only where they ask
for one (:meth:`LRU.touch`), a capacity counted in entries or in a weight such as
bytes, and eviction of the oldest entries while a rule holds (expiry).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A map of at most ``capacity`` (entries, or total ``weigh(value)``).

    Order is least recently used first: :meth:`put` of a new key and :meth:`touch`
    of a present one make it the most recent; replacing a present key's value keeps
    its place, as a dict does. After each :meth:`put` the oldest entries are
    evicted while the total exceeds the capacity (the new one too, if it alone is
    over). :meth:`get`, ``in``, ``len`` and iteration never reorder.
    """

    __slots__ = ("_entries", "_weigh", "capacity", "weight")

    def __init__(self, capacity: int, weigh: Callable[[V], int] | None = None) -> None:
        self.capacity = capacity
        self.weight = 0  # total weight of the entries (their count without ``weigh``)
        self._weigh = weigh
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        """The keys, least recently used first."""
        return iter(self._entries)

    def get(self, key: K) -> V | None:
        """The value of ``key`` (None when absent); the order is left alone."""
        return self._entries.get(key)

    def touch(self, key: K) -> bool:
        """Make ``key`` the most recently used; whether it was present."""
        if key not in self._entries:
            return False
        self._entries.move_to_end(key)
        return True

    def put(self, key: K, value: V) -> None:
        """Set ``key`` to ``value``, then evict the oldest entries while over capacity."""
        entries = self._entries
        if self._weigh is None:
            entries[key] = value
            self.weight = len(entries)
        else:
            if key in entries:
                self.weight -= self._weigh(entries[key])
            entries[key] = value
            self.weight += self._weigh(value)
        while self.weight > self.capacity:
            self.pop(next(iter(entries)))

    def pop(self, key: K) -> V | None:
        """Remove ``key``; its value, or None when it was absent."""
        if key not in self._entries:
            return None
        value = self._entries.pop(key)
        self.weight -= 1 if self._weigh is None else self._weigh(value)
        return value

    def evict_while(self, stale: Callable[[K, V], bool]) -> None:
        """Remove the oldest entries for as long as ``stale(key, value)`` holds."""
        entries = self._entries
        while entries:
            key, value = next(iter(entries.items()))
            if not stale(key, value):
                return
            self.pop(key)
