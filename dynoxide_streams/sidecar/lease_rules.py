"""The pure rules of shard leases: when a lease counts as expired, which leases a
process takes and from whom it steals. No I/O and no clock of its own, so every
rule is tested (and simulated across many processes) without an upstream.

The rules are the Kinesis Client Library's:

* A process never compares its clock with another's. It remembers, for every lease,
  the counter it last saw and since when (its own monotonic time); a lease whose
  counter has not moved for ``duration`` seconds — or that has no owner — is expired.
* Every process aims at ``ceil(live leases / workers)`` leases, workers being the
  owners of unexpired leases plus itself. Short of that, it takes expired leases
  first; when there are none, it steals one lease from the most loaded worker if
  that worker holds more than the target (or exactly the target while this process
  needs more than one). One steal per round keeps ownership from thrashing.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class LeaseSeen:
    """A lease as one scan of the lease table showed it."""

    key: str
    owner: str | None
    counter: int
    finished: bool = False


@dataclass(frozen=True)
class Observation:
    """The counter last seen for a lease and the local time it was first seen."""

    counter: int
    since: float


def observe(observed: dict[str, Observation], leases: Iterable[LeaseSeen], now: float) -> None:
    """Record a scan: a lease whose counter moved (or that is new) is seen ``now``;
    leases no longer in the table are forgotten."""
    keys = set()
    for lease in leases:
        keys.add(lease.key)
        old = observed.get(lease.key)
        if old is None or old.counter != lease.counter:
            observed[lease.key] = Observation(lease.counter, now)
    for key in [k for k in observed if k not in keys]:
        del observed[key]


def is_expired(
    lease: LeaseSeen, observed: Mapping[str, Observation], now: float, duration: float
) -> bool:
    """No owner, or a counter that has not moved for ``duration`` seconds."""
    if lease.owner is None:
        return True
    seen = observed.get(lease.key)
    return seen is not None and seen.counter == lease.counter and now - seen.since > duration


def to_take(
    leases: Iterable[LeaseSeen],
    me: str,
    held: set[str],
    observed: Mapping[str, Observation],
    now: float,
    duration: float,
    rng: random.Random | None = None,
) -> list[LeaseSeen]:
    """The leases this process should try to take now (conditional on the counter
    each shows, so a lease someone renewed or took meanwhile is simply missed).

    ``held`` are the keys this process holds; a lease the table names this process
    as owner of but that it does not hold (a renewal it gave up on) is takeable at
    once.
    """
    rng = rng or random.Random()
    live = [lease for lease in leases if not lease.finished]
    if not live:
        return []
    takeable: list[LeaseSeen] = []
    load: Counter[str] = Counter()
    load[me] = 0
    for lease in live:
        if lease.key in held:
            load[me] += 1
        elif lease.owner == me or is_expired(lease, observed, now, duration):
            takeable.append(lease)
        else:
            assert lease.owner is not None
            load[lease.owner] += 1
    target = math.ceil(len(live) / len(load))
    need = target - load[me]
    if need <= 0:
        return []
    if takeable:
        return rng.sample(takeable, min(need, len(takeable)))
    others = [(count, owner) for owner, count in load.items() if owner != me]
    if not others:
        return []
    most = max(count for count, _ in others)
    if most > target or (most == target and need > 1):
        victims = sorted(owner for count, owner in others if count == most)
        victim = rng.choice(victims)
        candidates = sorted(
            (lease for lease in live if lease.owner == victim and lease.key not in held),
            key=lambda lease: lease.key,
        )
        return [rng.choice(candidates)]
    return []
