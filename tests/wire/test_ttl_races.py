"""Time to Live under concurrency and on the real clock: user writes racing sweeps are
never lost, concurrent sweeps delete each item once, and the background sweeper on the
real clock removes due items within a bounded time."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from typing import Any

import pytest

from dynoxide_streams import Server
from tests.conftest import RawClient, make_client
from tests.wire.test_streams import read_stream, seq
from tests.wire.test_ttl import (
    SERVICE,
    TTL,
    Env,
    batch_put,
    check_service_remove,
    get,
    n,
    pk_of,
    put,
    removes,
    service_removes,
    ttl_table,
    virtual_env,
)

FAR = 4_000_000_000


def _events(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in sorted(records, key=seq):
        by_key[pk_of(record)].append(record)
    return by_key


def _scan(env: Env, table: str) -> dict[str, dict[str, Any]]:
    """Every item of ``table`` by its ``pk`` (consistent reads, all pages)."""
    items: dict[str, dict[str, Any]] = {}
    start: dict[str, Any] = {}
    while True:
        page = env.ddb.scan(TableName=table, ConsistentRead=True, **start)
        items.update((item["pk"]["S"], item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def _shape(records: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """(eventName, made by the TTL service) per record."""
    return [(r["eventName"], r.get("userIdentity") == SERVICE) for r in records]


@pytest.mark.slow
def test_user_writes_racing_sweeps_are_never_lost() -> None:
    """Items expire one second of data time at a time while eight threads extend their
    TTL, remove it under ``attribute_exists`` or delete them, and two sweepers run.

    Whatever the interleaving, every user write that was acknowledged is in the final
    state, each item has at most one REMOVE, a TTL REMOVE's OldImage is always the item
    as loaded (never one carrying a user's change), and a change acknowledged while the
    clock was still before the item's expiry is never followed by a TTL delete."""
    steps, count, workers = 40, 800, 8
    with virtual_env() as env:
        table, arn = ttl_table(env)
        assert arn is not None
        t0 = int(env.now)
        actions = ("extend", "cond_remove", "delete", "untouched")
        items: dict[str, dict[str, Any]] = {}
        plan: dict[str, str] = {}
        for i in range(count):
            key = f"k{i:04d}"
            items[key] = {"pk": {"S": key}, TTL: n(t0 + 1 + i % steps), "payload": {"S": key}}
            plan[key] = actions[i % len(actions)]
        batch_put(env.ddb, table, list(items.values()))
        acting = [key for key in items if plan[key] != "untouched"]
        random.Random(7).shuffle(acting)
        pace = len(acting) // steps

        outcomes: dict[str, tuple[str, float, dict[str, Any] | None]] = {}
        condition = threading.Condition()
        done = [0]
        finished = threading.Event()
        swept: list[int] = []
        errors: list[BaseException] = []

        def user(keys: list[str], me: str) -> None:
            ddb = make_client(env.srv.endpoint)
            try:
                for key in keys:
                    k = {"pk": {"S": key}}
                    attributes = None
                    if plan[key] == "extend":
                        ddb.update_item(
                            TableName=table,
                            Key=k,
                            UpdateExpression="SET #t = :far, touched = :me",
                            ExpressionAttributeNames={"#t": TTL},
                            ExpressionAttributeValues={":far": n(FAR), ":me": {"S": me}},
                        )
                        result = "ok"
                    elif plan[key] == "cond_remove":
                        try:
                            ddb.update_item(
                                TableName=table,
                                Key=k,
                                UpdateExpression="REMOVE #t SET touched = :me",
                                ConditionExpression="attribute_exists(pk)",
                                ExpressionAttributeNames={"#t": TTL},
                                ExpressionAttributeValues={":me": {"S": me}},
                            )
                            result = "ok"
                        except ddb.exceptions.ConditionalCheckFailedException:
                            result = "failed"
                    else:
                        response = ddb.delete_item(TableName=table, Key=k, ReturnValues="ALL_OLD")
                        attributes = response.get("Attributes")
                        result = "user" if attributes is not None else "gone"
                    clock_after = env.srv.clock.now()  # read after the acknowledgement
                    with condition:
                        outcomes[key] = (result, clock_after, attributes)
                        done[0] += 1
                        condition.notify_all()
            except BaseException as exc:
                errors.append(exc)
                with condition:
                    condition.notify_all()

        def pacer() -> None:
            """Advance data time one second per ``pace`` user writes, sweeping after each."""
            try:
                for step in range(1, steps + 1):
                    with condition:
                        condition.wait_for(
                            lambda s=step: done[0] >= s * pace or bool(errors), timeout=60
                        )
                    env.advance(1)
                    swept.append(env.sweep())
            except BaseException as exc:
                errors.append(exc)

        def spinner() -> None:
            """A second sweeper (the embedded hook): one sweep per completed user write."""
            try:
                while not finished.is_set():
                    swept.append(env.srv.sweep_ttl_sync())
                    with condition:
                        last = done[0]
                        condition.wait_for(
                            lambda last=last: done[0] != last or finished.is_set() or bool(errors),
                            timeout=5,
                        )
            except BaseException as exc:
                errors.append(exc)

        shares = [acting[w::workers] for w in range(workers)]
        users = [
            threading.Thread(target=user, args=(share, f"w{w}"), daemon=True)
            for w, share in enumerate(shares)
        ]
        sweepers = [threading.Thread(target=f, daemon=True) for f in (pacer, spinner)]
        for thread in users + sweepers:
            thread.start()
        for thread in [*users, sweepers[0]]:
            thread.join(timeout=120)
        finished.set()
        with condition:
            condition.notify_all()
        sweepers[1].join(timeout=60)
        assert not errors, errors
        assert all(not t.is_alive() for t in users + sweepers)
        assert len(outcomes) == len(acting)

        env.set_clock(t0 + steps + 1)  # every original TTL has passed
        while (expired := env.sweep()) > 0:
            swept.append(expired)

        records = read_stream(env.raw, arn)
        by_key = _events(records)
        assert sum(swept) == len(service_removes(records))
        final: dict[str, Any] = _scan(env, table)
        seen: dict[str, set[str]] = defaultdict(set)
        for key, original in items.items():
            events = by_key[key]
            action = plan[key]
            expires = t0 + 1 + int(key[1:]) % steps
            assert sum(r["eventName"] == "REMOVE" for r in events) <= 1, events
            for record in service_removes(events):
                check_service_remove(record, "NEW_AND_OLD_IMAGES", original)
            assert events[0]["eventName"] == "INSERT" and "userIdentity" not in events[0]
            if action == "untouched":
                assert key not in final
                assert _shape(events) == [("INSERT", False), ("REMOVE", True)]
                continue
            result, clock_after, attributes = outcomes[key]
            before_expiry = clock_after < expires
            if action == "extend":
                item = final.get(key)
                assert item is not None and item[TTL] == n(FAR) and "touched" in item
                if "payload" in item:  # the user's write reached the live item
                    assert item == {**original, TTL: n(FAR), "touched": item["touched"]}
                    assert _shape(events) == [("INSERT", False), ("MODIFY", False)]
                    seen[action].add("kept")
                else:  # swept first; the update then created the item anew
                    assert not before_expiry, (key, clock_after, expires)
                    assert item == {"pk": {"S": key}, TTL: n(FAR), "touched": item["touched"]}
                    assert _shape(events) == [
                        ("INSERT", False),
                        ("REMOVE", True),
                        ("INSERT", False),
                    ]
                    seen[action].add("recreated")
            elif action == "cond_remove":
                if result == "ok":
                    item = final.get(key)
                    assert item is not None
                    expected = {k: v for k, v in original.items() if k != TTL}
                    assert item == {**expected, "touched": item["touched"]}
                    assert _shape(events) == [("INSERT", False), ("MODIFY", False)]
                else:
                    assert not before_expiry, (key, clock_after, expires)
                    assert key not in final
                    assert _shape(events) == [("INSERT", False), ("REMOVE", True)]
                seen[action].add(result)
            else:
                assert key not in final
                if result == "user":
                    assert attributes == original
                    assert _shape(events) == [("INSERT", False), ("REMOVE", False)]
                else:
                    assert not before_expiry, (key, clock_after, expires)
                    assert _shape(events) == [("INSERT", False), ("REMOVE", True)]
                seen[action].add(result)
        # the interleavings above really happened, both ways
        assert seen == {
            "extend": {"kept", "recreated"},
            "cond_remove": {"ok", "failed"},
            "delete": {"user", "gone"},
        }


@pytest.mark.slow
def test_concurrent_sweeps_delete_each_item_once() -> None:
    with virtual_env() as env:
        table, arn = ttl_table(env, "KEYS_ONLY")
        assert arn is not None
        now = int(env.now)
        keys = [f"k{i:05d}" for i in range(3000)]
        batch_put(
            env.ddb, table, [{"pk": {"S": k}, TTL: n(now - i % 50)} for i, k in enumerate(keys)]
        )
        counts: list[int] = []
        lock = threading.Lock()

        def over_http() -> None:
            expired = Env(env.srv, RawClient(env.srv.endpoint), None, None).sweep()
            with lock:
                counts.append(expired)

        def embedded() -> None:
            expired = env.srv.sweep_ttl_sync()
            with lock:
                counts.append(expired)

        threads = [threading.Thread(target=f) for f in (over_http, embedded) * 3]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(counts) == 6 and sum(counts) == 3000
        assert env.scan_keys(table) == []
        ttl_removes = service_removes(read_stream(env.raw, arn))
        assert sorted(pk_of(r) for r in ttl_removes) == keys


# ------------------------------------------------------------------------ 4. real clock


def _real_env(srv: Server) -> Env:
    return Env(
        srv,
        RawClient(srv.endpoint),
        make_client(srv.endpoint),
        make_client(srv.endpoint, "dynamodbstreams"),
    )


def test_background_sweeper_on_the_real_clock() -> None:
    with Server(ttl_period=0.05).run_in_thread() as srv:
        env = _real_env(srv)
        table, arn = ttl_table(env)
        assert arn is not None
        now = time.time()
        soon = round(now + 1.0, 3)
        put(env, table, "past", **{TTL: n(int(now) - 5)})
        put(env, table, "soon", **{TTL: n(soon)})
        put(env, table, "future", **{TTL: n(int(now) + 3600)})
        put(env, table, "plain", other=n(int(now) - 5))
        gone: dict[str, float] = {}
        deadline = time.monotonic() + 10
        while len(gone) < 2 and time.monotonic() < deadline:
            for key in ("past", "soon"):
                if key not in gone and get(env, table, {"pk": {"S": key}}) is None:
                    gone[key] = time.time()
            time.sleep(0.01)
        assert set(gone) == {"past", "soon"}, gone
        assert gone["soon"] >= soon  # never before its time
        assert env.scan_keys(table) == ["future", "plain"]
        ttl_removes = service_removes(read_stream(env.raw, arn))
        assert sorted(pk_of(r) for r in ttl_removes) == ["past", "soon"]
        assert removes(read_stream(env.raw, arn)) == ttl_removes
        # the manual hook works on the real clock too, and finds nothing left
        assert env.sweep() == 0


def _extensions_racing_a_sweep(env: Env, count: int, workers: int) -> tuple[int, int]:
    """One round of :func:`test_extensions_racing_large_sweeps`; (kept, re-created)."""
    table, arn = ttl_table(env)
    assert arn is not None
    now = int(env.now)
    items = {
        f"k{i:05d}": {"pk": {"S": f"k{i:05d}"}, TTL: n(now - 1000 + i // 10), "v": n(i)}
        for i in range(count)
    }
    rows = list(items.values())
    loaders = [
        threading.Thread(target=batch_put, args=(make_client(env.srv.endpoint), table, rows[w::4]))
        for w in range(4)
    ]
    for thread in loaders:
        thread.start()
    for thread in loaders:
        thread.join(timeout=120)
    extended: set[str] = set()
    lock = threading.Lock()
    started = threading.Barrier(workers + 1)
    sweep_done = threading.Event()
    errors: list[BaseException] = []

    def user(seed: int) -> None:
        ddb = make_client(env.srv.endpoint)
        keys = list(items)
        random.Random(seed).shuffle(keys)
        try:
            started.wait(timeout=30)
            for key in keys:
                if sweep_done.is_set():
                    return
                ddb.update_item(
                    TableName=table,
                    Key={"pk": {"S": key}},
                    UpdateExpression="SET #t = :far",
                    ExpressionAttributeNames={"#t": TTL},
                    ExpressionAttributeValues={":far": n(FAR)},
                )
                with lock:
                    extended.add(key)
        except BaseException as exc:
            errors.append(exc)

    users = [threading.Thread(target=user, args=(w,), daemon=True) for w in range(workers)]
    for thread in users:
        thread.start()
    started.wait(timeout=30)
    expired = env.sweep()
    sweep_done.set()
    for thread in users:
        thread.join(timeout=60)
    assert not errors, errors
    assert extended, "no extension ran during the sweep"

    records = read_stream(env.raw, arn)
    by_key = _events(records)
    assert expired == len(service_removes(records))
    final = _scan(env, table)
    kept = recreated = 0
    for key, original in items.items():
        events = by_key[key]
        for record in service_removes(events):  # never an image carrying the extension
            check_service_remove(record, "NEW_AND_OLD_IMAGES", original)
        item = final.get(key)
        if key not in extended:
            assert item is None and _shape(events) == [("INSERT", False), ("REMOVE", True)]
        elif item is not None and "v" in item:
            assert item == {**original, TTL: n(FAR)}
            assert _shape(events) == [("INSERT", False), ("MODIFY", False)]
            kept += 1
        else:
            assert item == {"pk": {"S": key}, TTL: n(FAR)}
            assert _shape(events) == [("INSERT", False), ("REMOVE", True), ("INSERT", False)]
            recreated += 1
    assert kept + recreated == len(extended)
    assert expired == count - kept
    return kept, recreated


@pytest.mark.slow
def test_extensions_racing_large_sweeps() -> None:
    """Sixteen threads extend random items of a large expired set while one sweep
    deletes it in batches, four rounds. An extension the Writer commits before the
    sweep's batch reaches the item keeps it (the sweep re-checks inside the
    transaction, even for items it already chose); one committed after the delete
    re-creates it. Either way the extension is in the final state, and a TTL REMOVE
    never carries it."""
    with virtual_env() as env:
        totals = [_extensions_racing_a_sweep(env, 3000, 16) for _ in range(4)]
    assert sum(kept for kept, _ in totals) > 0
