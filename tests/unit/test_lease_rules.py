"""The pure lease rules (dynoxide_streams/sidecar/lease_rules): ``observe`` (the last
counter of every lease and since when, forgetting leases a scan no longer shows),
``is_expired`` (no owner, or a counter unchanged for more than ``duration``) and
``to_take`` (the target ``ceil(live / workers)``, expired and own-but-not-held leases
before any steal, one steal per round only from a worker above the target or at it
while this process needs more than one, finished leases ignored, never more than
needed, deterministic under a seeded ``random.Random``).

A hypothesis simulation then runs several workers over a simulated lease table the
way the coordinator (sidecar/leases.py) uses the rules: every round each worker
renews what it holds (conditional on owner and counter, dropping what it lost),
scans, observes, drops what the scan shows someone else owns, and performs each
take ``to_take`` returns as a write conditional on the counter it saw. It checks that
a lease never has two holders that can renew it, that the split becomes balanced
(every worker at floor or ceil of leases / workers, every live lease owned) and stays
so without further moves, and that after a worker dies the survivors take its leases
over and balance again. Time is a number passed in: no sleeps, no wall clock.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynoxide_streams.sidecar.lease_rules import (
    LeaseSeen,
    Observation,
    is_expired,
    observe,
    to_take,
)

ME = "me"
OTHER = "other"
DURATION = 10.0


def fresh(leases: list[LeaseSeen], now: float) -> dict[str, Observation]:
    """What a process that has just scanned ``leases`` at ``now`` remembers."""
    observed: dict[str, Observation] = {}
    observe(observed, leases, now)
    return observed


def owned(owner: str | None, count: int, prefix: str, *, finished: bool = False) -> list[LeaseSeen]:
    return [LeaseSeen(f"{prefix}{i}", owner, 1, finished) for i in range(count)]


# ------------------------------------------------------------------- observe


def test_observe_records_a_new_lease_at_now() -> None:
    observed: dict[str, Observation] = {}
    observe(observed, [LeaseSeen("a", OTHER, 3), LeaseSeen("b", None, 0)], 5.0)
    assert observed == {"a": Observation(3, 5.0), "b": Observation(0, 5.0)}


def test_observe_keeps_since_while_the_counter_is_unchanged() -> None:
    observed = {"a": Observation(3, 5.0)}
    observe(observed, [LeaseSeen("a", OTHER, 3)], 12.0)
    assert observed == {"a": Observation(3, 5.0)}
    observe(observed, [LeaseSeen("a", OTHER, 3)], 100.0)
    assert observed["a"].since == 5.0


def test_observe_resets_since_when_the_counter_moves() -> None:
    observed = {"a": Observation(3, 5.0)}
    observe(observed, [LeaseSeen("a", OTHER, 4)], 12.0)
    assert observed == {"a": Observation(4, 12.0)}
    # A counter that moves under another owner (a take) also counts as moved.
    observe(observed, [LeaseSeen("a", ME, 5)], 13.0)
    assert observed == {"a": Observation(5, 13.0)}


def test_observe_forgets_leases_absent_from_the_scan() -> None:
    observed = {"a": Observation(3, 5.0), "b": Observation(1, 6.0), "c": Observation(0, 7.0)}
    observe(observed, [LeaseSeen("b", OTHER, 1)], 8.0)
    assert observed == {"b": Observation(1, 6.0)}
    observe(observed, [], 9.0)
    assert observed == {}


# ---------------------------------------------------------------- is_expired


def test_an_unowned_lease_is_expired() -> None:
    lease = LeaseSeen("a", None, 7)
    assert is_expired(lease, {}, 0.0, DURATION)
    assert is_expired(lease, {"a": Observation(7, 0.0)}, 0.0, DURATION)


def test_an_owned_lease_expires_only_after_more_than_duration() -> None:
    lease = LeaseSeen("a", OTHER, 7)
    observed = {"a": Observation(7, 100.0)}
    assert not is_expired(lease, observed, 100.0, DURATION)
    assert not is_expired(lease, observed, 100.0 + DURATION, DURATION)
    assert is_expired(lease, observed, 100.0 + DURATION + 0.001, DURATION)
    assert is_expired(lease, observed, 1_000.0, DURATION)


def test_an_owned_lease_whose_counter_moved_is_not_expired() -> None:
    lease = LeaseSeen("a", OTHER, 8)
    observed = {"a": Observation(7, 100.0)}
    assert not is_expired(lease, observed, 100.0 + 10 * DURATION, DURATION)


def test_an_owned_lease_never_observed_is_not_expired() -> None:
    lease = LeaseSeen("a", OTHER, 7)
    assert not is_expired(lease, {}, 1_000_000.0, DURATION)
    assert not is_expired(lease, {"b": Observation(7, 0.0)}, 1_000_000.0, DURATION)


# -------------------------------------------------------------------- to_take


def test_alone_takes_every_unowned_lease() -> None:
    leases = owned(None, 4, "s")
    taken = to_take(leases, ME, set(), fresh(leases, 0.0), 0.0, DURATION, random.Random(1))
    assert sorted(lease.key for lease in taken) == ["s0", "s1", "s2", "s3"]
    assert len(taken) == len({lease.key for lease in taken})


def test_steals_exactly_one_from_a_live_worker_holding_everything() -> None:
    leases = owned(OTHER, 4, "s")
    taken = to_take(leases, ME, set(), fresh(leases, 0.0), 0.0, DURATION, random.Random(1))
    assert len(taken) == 1
    assert taken[0] in leases
    assert taken[0].owner == OTHER


def test_an_even_split_takes_nothing() -> None:
    leases = owned(ME, 2, "m") + owned(OTHER, 2, "o")
    observed = fresh(leases, 0.0)
    assert to_take(leases, ME, {"m0", "m1"}, observed, 0.0, DURATION, random.Random(1)) == []
    # The other side of the same split agrees.
    assert to_take(leases, OTHER, {"o0", "o1"}, observed, 0.0, DURATION, random.Random(1)) == []


def test_no_steal_from_a_worker_exactly_at_target_when_needing_one() -> None:
    # 3 leases, 2 workers: target 2; the other holds exactly 2 and this process
    # needs only one more, so stealing would just move the imbalance around.
    leases = owned(OTHER, 2, "o") + owned(ME, 1, "m")
    observed = fresh(leases, 0.0)
    assert to_take(leases, ME, {"m0"}, observed, 0.0, DURATION, random.Random(1)) == []


def test_steals_one_from_a_worker_above_target() -> None:
    # 5 leases, 2 workers: target 3; the other holds 4 > 3, this process needs 2
    # but steals only one per round.
    leases = owned(OTHER, 4, "o") + owned(ME, 1, "m")
    observed = fresh(leases, 0.0)
    taken = to_take(leases, ME, {"m0"}, observed, 0.0, DURATION, random.Random(1))
    assert len(taken) == 1
    assert taken[0].owner == OTHER
    assert taken[0].key.startswith("o")


def test_steals_from_a_worker_at_target_when_needing_more_than_one() -> None:
    # 4 leases, 3 workers: target 2; both others hold exactly 2 and this process
    # needs 2, so it steals one (from either).
    leases = owned("a", 2, "a") + owned("b", 2, "b")
    observed = fresh(leases, 0.0)
    victims = set()
    for seed in range(20):
        taken = to_take(leases, ME, set(), observed, 0.0, DURATION, random.Random(seed))
        assert len(taken) == 1
        assert taken[0].owner in {"a", "b"}
        victims.add(taken[0].owner)
    assert victims == {"a", "b"}


def test_expired_leases_are_taken_before_any_steal() -> None:
    busy = owned(OTHER, 3, "o")
    dead = [LeaseSeen("d0", "dead", 5), LeaseSeen("d1", "dead", 5)]
    leases = busy + dead
    observed = fresh(leases, 0.0)
    now = 2 * DURATION
    renewed = [LeaseSeen(lease.key, OTHER, 2) for lease in busy]
    live = renewed + dead
    observe(observed, live, now)  # the other renewed; the dead owner did not
    assert all(not is_expired(lease, observed, now, DURATION) for lease in renewed)
    assert all(is_expired(lease, observed, now, DURATION) for lease in dead)
    # Workers: other and me (the dead owner no longer counts): target ceil(5/2) = 3.
    # The other holds 3 = target, so without expired leases nothing would be taken;
    # with them this process takes both (need 3, takeable 2) and steals nothing.
    taken = to_take(live, ME, set(), observed, now, DURATION, random.Random(1))
    assert sorted(lease.key for lease in taken) == ["d0", "d1"]


def test_an_unowned_lease_is_taken_instead_of_stealing() -> None:
    leases = [*owned(OTHER, 4, "o"), LeaseSeen("free", None, 9)]
    observed = fresh(leases, 0.0)
    for seed in range(10):
        taken = to_take(leases, ME, set(), observed, 0.0, DURATION, random.Random(seed))
        assert taken == [LeaseSeen("free", None, 9)]


def test_a_lease_the_table_says_is_mine_but_not_held_is_takeable_at_once() -> None:
    mine = LeaseSeen("m0", ME, 4)
    leases = [mine, LeaseSeen("o0", OTHER, 4)]
    observed = fresh(leases, 0.0)
    assert not is_expired(mine, observed, 0.0, DURATION)
    assert to_take(leases, ME, set(), observed, 0.0, DURATION, random.Random(1)) == [mine]
    # Also when it was never observed at all.
    assert to_take(leases, ME, set(), {}, 0.0, DURATION, random.Random(1)) == [mine]
    # Once held again, it counts as held and nothing more is needed.
    assert to_take(leases, ME, {"m0"}, observed, 0.0, DURATION, random.Random(1)) == []


def test_finished_leases_are_never_returned() -> None:
    leases = owned(None, 2, "live") + owned(None, 3, "done", finished=True)
    taken = to_take(leases, ME, set(), fresh(leases, 0.0), 0.0, DURATION, random.Random(1))
    assert sorted(lease.key for lease in taken) == ["live0", "live1"]
    only_finished = owned(None, 3, "done", finished=True) + owned(OTHER, 3, "x", finished=True)
    observed = fresh(only_finished, 0.0)
    assert to_take(only_finished, ME, set(), observed, 0.0, DURATION, random.Random(1)) == []


def test_finished_leases_do_not_count_towards_load_or_target() -> None:
    # Counting the other's 5 finished leases would make it look overloaded
    # (7 leases, target 4, this process short by 3): it is not.
    leases = owned(ME, 1, "m") + owned(OTHER, 1, "o") + owned(OTHER, 5, "done", finished=True)
    observed = fresh(leases, 0.0)
    assert to_take(leases, ME, {"m0"}, observed, 0.0, DURATION, random.Random(1)) == []
    # Nor do finished leases this process holds: it still needs its share.
    leases = owned(None, 4, "live") + owned(ME, 3, "done", finished=True)
    held = {"done0", "done1", "done2"}
    taken = to_take(leases, ME, held, fresh(leases, 0.0), 0.0, DURATION, random.Random(1))
    assert sorted(lease.key for lease in taken) == ["live0", "live1", "live2", "live3"]


def test_never_takes_more_than_needed() -> None:
    # 13 live leases, 2 workers: target 7; this process holds 1, so it needs 6 of
    # the 10 free ones.
    leases = owned(None, 10, "f") + owned(OTHER, 2, "o") + owned(ME, 1, "m")
    observed = fresh(leases, 0.0)
    for seed in range(10):
        taken = to_take(leases, ME, {"m0"}, observed, 0.0, DURATION, random.Random(seed))
        assert len(taken) == 6
        assert len({lease.key for lease in taken}) == 6
        assert all(lease.owner is None for lease in taken)


@st.composite
def lease_tables(draw: st.DrawFn) -> tuple[list[LeaseSeen], set[str], dict[str, Observation]]:
    """A scan as one process might see it: leases of a few owners, some finished,
    some held by this process, some observed long ago (expired)."""
    owners = st.sampled_from([None, ME, "a", "b", "c"])
    rows = draw(
        st.lists(st.tuples(owners, st.integers(0, 5), st.booleans(), st.booleans()), max_size=15)
    )
    leases = [
        LeaseSeen(f"k{i}", owner, counter, finished)
        for i, (owner, counter, finished, _) in enumerate(rows)
    ]
    observed = {
        lease.key: Observation(lease.counter, -2 * DURATION if old else 0.0)
        for lease, (_, _, _, old) in zip(leases, rows, strict=True)
    }
    held = {lease.key for lease in leases if lease.owner == ME and draw(st.booleans())}
    return leases, held, observed


@settings(max_examples=150, deadline=None)
@given(lease_tables(), st.integers(0, 2**32))
def test_to_take_properties(
    table: tuple[list[LeaseSeen], set[str], dict[str, Observation]], seed: int
) -> None:
    leases, held, observed = table
    taken = to_take(leases, ME, held, observed, 0.0, DURATION, random.Random(seed))
    live = [lease for lease in leases if not lease.finished]
    workers = {ME} | {
        lease.owner
        for lease in live
        if lease.key not in held
        and lease.owner not in (None, ME)
        and not is_expired(lease, observed, 0.0, DURATION)
    }
    need = math.ceil(len(live) / len(workers)) - sum(lease.key in held for lease in live)
    assert len(taken) <= max(0, need)
    assert len({lease.key for lease in taken}) == len(taken)
    for lease in taken:
        assert lease in leases
        assert not lease.finished
        assert lease.key not in held
    takeable = [
        lease
        for lease in live
        if lease.key not in held
        and (lease.owner == ME or is_expired(lease, observed, 0.0, DURATION))
    ]
    if takeable and need > 0:
        assert taken and all(lease in takeable for lease in taken)
    if any(lease not in takeable for lease in taken):  # a steal: only ever one
        assert len(taken) == 1


@pytest.mark.parametrize("held", [set(), {"m0"}])
def test_seeded_choices_are_deterministic(held: set[str]) -> None:
    free = owned(None, 8, "f")
    loaded = owned("a", 6, "a") + owned("b", 6, "b") + owned(ME, 1, "m")
    for leases in (free, loaded):
        observed = fresh(leases, 0.0)
        runs = [
            to_take(leases, ME, held, observed, 0.0, DURATION, random.Random(42)) for _ in range(3)
        ]
        assert runs[0]
        assert runs[0] == runs[1] == runs[2]
    # Different seeds do vary the choice (sampling 3 of 8 free leases).
    leases = owned(None, 8, "f") + owned(OTHER, 3, "o")
    observed = fresh(leases, 0.0)
    choices = {
        tuple(
            lease.key
            for lease in to_take(leases, ME, set(), observed, 0.0, DURATION, random.Random(s))
        )
        for s in range(20)
    }
    assert len(choices) > 1


# ---------------------------------------------------------------- simulation


@dataclass
class Table:
    """The lease table: key -> (owner, counter); finished leases are never owned."""

    rows: dict[str, tuple[str | None, int]]
    finished: frozenset[str] = frozenset()

    def scan(self) -> list[LeaseSeen]:
        return [
            LeaseSeen(key, owner, counter, key in self.finished)
            for key, (owner, counter) in self.rows.items()
        ]

    def owned_by(self, worker: str) -> dict[str, int]:
        return {key: counter for key, (owner, counter) in self.rows.items() if owner == worker}

    def renew(self, key: str, me: str, counter: int) -> bool:
        """``SET leaseCounter = :next`` if ``leaseOwner = :me AND leaseCounter = :counter``."""
        if self.rows[key] != (me, counter):
            return False
        self.rows[key] = (me, counter + 1)
        return True

    def take(self, key: str, me: str, counter: int) -> bool:
        """``SET leaseOwner = :me, leaseCounter = :next`` if ``leaseCounter = :counter``."""
        if self.rows[key][1] != counter:
            return False
        self.rows[key] = (me, counter + 1)
        return True


@dataclass
class Worker:
    name: str
    rng: random.Random
    observed: dict[str, Observation] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)  # key -> counter it last wrote
    alive: bool = True
    takes: int = 0

    def act(self, table: Table, now: float) -> None:
        """One renewal pass and one take round, as the coordinator runs them."""
        for key, counter in list(self.held.items()):
            if table.renew(key, self.name, counter):
                self.held[key] = counter + 1
            else:
                del self.held[key]  # taken by another process
        # After renewing, this worker holds only what the table says it owns, at
        # the counter it wrote: it can never think it holds someone else's lease.
        mine = table.owned_by(self.name)
        assert all(mine.get(key) == counter for key, counter in self.held.items())

        seen = table.scan()
        observe(self.observed, seen, now)
        for lease in seen:
            if lease.key in self.held and lease.owner != self.name:
                del self.held[lease.key]
        choice = to_take(seen, self.name, set(self.held), self.observed, now, DURATION, self.rng)
        assert len({lease.key for lease in choice}) == len(choice)
        for lease in choice:
            assert not lease.finished
            assert lease.key not in self.held
            if table.take(lease.key, self.name, lease.counter):
                self.held[lease.key] = lease.counter + 1
                self.takes += 1
        assert self.held == table.owned_by(self.name)


@dataclass
class Simulation:
    table: Table
    workers: list[Worker]
    now: float = 0.0
    rounds: int = 0

    @classmethod
    def start(cls, n_workers: int, n_leases: int, n_finished: int, seeds: list[int]) -> Simulation:
        rows: dict[str, tuple[str | None, int]] = {
            f"shard-{i:02d}": (None, 0) for i in range(n_leases)
        }
        finished = {f"done-{i}" for i in range(n_finished)}
        rows.update((key, (None, 0)) for key in sorted(finished))
        workers = [Worker(f"w{i}", random.Random(seeds[i])) for i in range(n_workers)]
        return cls(Table(rows, frozenset(finished)), workers)

    def round(self, order: list[int]) -> None:
        for index in order:
            worker = self.workers[index]
            if worker.alive:
                worker.act(self.table, self.now)
        self.check_single_holder()
        self.now += DURATION / 2
        self.rounds += 1

    def check_single_holder(self) -> None:
        """At most one worker can still renew a lease: the table's owner, at the
        table's counter. A worker robbed later in the round still lists the lease
        but at a stale owner/counter, so its next renewal fails and drops it."""
        for key, (owner, counter) in self.table.rows.items():
            renewable = [
                worker.name
                for worker in self.workers
                if worker.alive and worker.held.get(key) == counter and owner == worker.name
            ]
            assert len(renewable) <= 1
            if owner is not None and any(w.alive and w.name == owner for w in self.workers):
                assert renewable == [owner], (key, owner, counter)
            if key in self.table.finished:
                assert owner is None

    def live_keys(self) -> set[str]:
        return set(self.table.rows) - self.table.finished

    def split(self) -> dict[str, int]:
        return {w.name: len(self.table.owned_by(w.name)) for w in self.workers if w.alive}

    def assert_balanced(self) -> None:
        alive = {w.name for w in self.workers if w.alive}
        n_live = len(self.live_keys())
        low, high = n_live // len(alive), math.ceil(n_live / len(alive))
        split = self.split()
        assert all(low <= count <= high for count in split.values()), (self.rounds, split)
        owners = {self.table.rows[key][0] for key in self.live_keys()}
        assert owners <= alive, (self.rounds, owners)
        for worker in self.workers:
            if worker.alive:
                assert set(worker.held) == set(self.table.owned_by(worker.name))


def rounds_needed(n_leases: int) -> int:
    return 10 + 3 * n_leases


def run(sim: Simulation, data: st.DataObject, rounds: int) -> None:
    indexes = list(range(len(sim.workers)))
    for _ in range(rounds):
        sim.round(data.draw(st.permutations(indexes), label="order"))


def assert_stable(sim: Simulation, data: st.DataObject, rounds: int) -> None:
    """Once balanced, further rounds move no lease (no thrashing)."""
    owners = {key: owner for key, (owner, _) in sim.table.rows.items()}
    takes = [w.takes for w in sim.workers]
    run(sim, data, rounds)
    assert {key: owner for key, (owner, _) in sim.table.rows.items()} == owners
    assert [w.takes for w in sim.workers] == takes
    sim.assert_balanced()


sim_params = st.tuples(
    st.integers(2, 5),  # workers
    st.integers(1, 20),  # live leases
    st.integers(0, 2),  # finished leases
    st.lists(st.integers(0, 2**32), min_size=5, max_size=5),  # a seed per worker
)


@settings(max_examples=30, deadline=None)
@given(sim_params, st.data())
def test_simulated_workers_converge_to_a_balanced_split(
    params: tuple[int, int, int, list[int]], data: st.DataObject
) -> None:
    n_workers, n_leases, n_finished, seeds = params
    sim = Simulation.start(n_workers, n_leases, n_finished, seeds)
    run(sim, data, rounds_needed(n_leases))
    sim.assert_balanced()
    assert sum(sim.split().values()) == n_leases
    assert_stable(sim, data, 5)


@settings(max_examples=15, deadline=None)
@given(sim_params, st.data())
def test_survivors_take_over_and_rebalance_after_a_worker_dies(
    params: tuple[int, int, int, list[int]], data: st.DataObject
) -> None:
    n_workers, n_leases, n_finished, seeds = params
    sim = Simulation.start(n_workers, n_leases, n_finished, seeds)
    run(sim, data, rounds_needed(n_leases))
    sim.assert_balanced()

    dead = sim.workers[data.draw(st.integers(0, n_workers - 1), label="dies")]
    orphaned = set(sim.table.owned_by(dead.name))
    dead.alive = False  # stops renewing and taking; its leases must expire
    run(sim, data, rounds_needed(n_leases))
    sim.assert_balanced()
    survivors = {w.name for w in sim.workers if w.alive}
    assert {sim.table.rows[key][0] for key in sim.live_keys()} <= survivors
    assert all(sim.table.rows[key][0] in survivors for key in orphaned)
    assert sum(sim.split().values()) == n_leases
    assert_stable(sim, data, 5)


def test_a_dead_workers_leases_wait_for_expiry() -> None:
    """Deterministic companion to the simulation: a lease of a dead worker is taken
    only once its counter has been still for more than ``duration`` (three rounds of
    ``duration / 2``), not before — unless stolen as one worker's single steal."""
    sim = Simulation.start(2, 2, 0, [1, 2])
    for _ in range(6):
        sim.round([0, 1])
    sim.assert_balanced()
    dead, survivor = sim.workers
    dead_lease = next(iter(sim.table.owned_by(dead.name)))
    dead.alive = False
    # Survivor holds 1 of 2 with target 1 while the dead worker still looks alive.
    sim.round([0, 1])  # still for duration / 2
    assert sim.table.rows[dead_lease][0] == dead.name
    sim.round([0, 1])  # still for exactly duration: not expired yet
    assert sim.table.rows[dead_lease][0] == dead.name
    sim.round([0, 1])  # still for 1.5 * duration: expired and taken
    assert sim.table.rows[dead_lease][0] == survivor.name
    assert set(survivor.held) == {"shard-00", "shard-01"}
