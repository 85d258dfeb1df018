"""Time to Live across restarts and crashes: a SIGKILL in the middle of a large expiry
neither loses nor repeats a delete, and the TTL configuration and index survive."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from dynoxide_streams import Server
from tests.conftest import RawClient, make_client
from tests.process import start_server
from tests.wire.test_streams import admin, create_stream_table, read_stream
from tests.wire.test_ttl import (
    COOLDOWN,
    TTL,
    Env,
    batch_put,
    check_service_remove,
    n,
    pk_of,
    put,
    removes,
    spec,
    update_ttl_error,
    virtual_env,
)

FLAGS = ("--clock", "virtual", "--ttl-period", "0")


def _env(endpoint: str, srv: Any = None) -> Env:
    return Env(srv, RawClient(endpoint), make_client(endpoint), None)


def _item_count(raw: RawClient, table: str) -> int:
    response = raw.call("DescribeTable", {"TableName": table})
    assert response.status == 200, response.body
    return int(response.json["Table"]["ItemCount"])


def test_sigkill_in_the_middle_of_a_large_expiry(tmp_path: Path) -> None:
    data = tmp_path / "data"
    expired_count = 3000
    server = start_server(data, *FLAGS)
    try:
        env = _env(server.endpoint)
        table, arn = create_stream_table(env.ddb, "NEW_AND_OLD_IMAGES", range_key=None)
        assert arn is not None
        env.enable(table)
        past = int(time.time()) - 3600  # the child's clock started at its own start time
        expired = {
            f"e{i:05d}": {"pk": {"S": f"e{i:05d}"}, TTL: n(past - i % 10), "p": {"S": "x" * 200}}
            for i in range(expired_count)
        }
        living = {f"l{i:03d}": {"pk": {"S": f"l{i:03d}"}, TTL: n(past + 10**6)} for i in range(100)}
        plain = {f"p{i:03d}": {"pk": {"S": f"p{i:03d}"}} for i in range(100)}
        everything = {**expired, **living, **plain}
        rows = list(everything.values())
        loaders = [
            threading.Thread(
                target=batch_put, args=(make_client(server.endpoint), table, rows[w::4])
            )
            for w in range(4)
        ]
        for thread in loaders:
            thread.start()
        for thread in loaders:
            thread.join(timeout=120)
        total = len(everything)
        assert _item_count(env.raw, table) == total

        outcome: dict[str, Any] = {}

        def sweep() -> None:
            try:
                outcome["answer"] = admin(env.raw, "/_admin/ttl/sweep", {})
            except Exception as exc:  # the server dies under the request
                outcome["error"] = exc

        sweeper = threading.Thread(target=sweep, daemon=True)
        sweeper.start()
        deadline = time.monotonic() + 60
        while _item_count(env.raw, table) == total:  # until the first batch commits
            assert time.monotonic() < deadline, "the sweep deleted nothing"
        server.kill9()
        sweeper.join(timeout=30)
        assert "answer" not in outcome, outcome  # killed before the sweep finished
    finally:
        if server.proc.poll() is None:
            server.kill9()

    restarted = start_server(data, *FLAGS)
    try:
        env = _env(restarted.endpoint)
        assert env.describe_ttl(table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL}
        records = read_stream(env.raw, arn)
        first = removes(records)
        removed = [pk_of(r) for r in first]
        present = set(env.scan_keys(table))
        # every committed delete has its record and vice versa; nothing half-done
        assert len(removed) == len(set(removed))
        assert set(removed) <= set(expired)
        assert not present & set(removed)
        assert present == set(everything) - set(removed)
        assert _item_count(env.raw, table) == len(present)
        assert 0 < len(removed) < expired_count, len(removed)  # the kill came mid-way
        for record in first:
            check_service_remove(record, "NEW_AND_OLD_IMAGES", expired[pk_of(record)])

        assert env.sweep() == expired_count - len(removed)
        assert env.sweep() == 0
        records = read_stream(env.raw, arn)
        assert [r["eventName"] for r in records].count("INSERT") == total
        final_removes = removes(records)
        assert sorted(pk_of(r) for r in final_removes) == sorted(expired)  # each exactly once
        assert final_removes[: len(first)] == first
        for record in final_removes:
            check_service_remove(record, "NEW_AND_OLD_IMAGES", expired[pk_of(record)])
        assert set(env.scan_keys(table)) == set(living) | set(plain)
        assert _item_count(env.raw, table) == len(living) + len(plain)
        assert restarted.terminate() == 0
    finally:
        if restarted.proc.poll() is None:
            restarted.kill9()


def test_ttl_configuration_and_index_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with virtual_env(data_dir=data) as env:
        t0 = int(env.now)
        on, _ = create_stream_table(env.ddb, None, range_key=None)
        off, _ = create_stream_table(env.ddb, None, range_key=None)
        env.enable(on)
        env.enable(off, "gone")
        env.disable(off, "gone")
        for i in range(10):
            put(env, on, f"k{i}", **{TTL: n(t0 + 60 + i)})
            put(env, off, f"k{i}", gone=n(t0 - 60))
    with virtual_env(data_dir=data) as env:
        assert env.describe_ttl(on) == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL}
        assert env.describe_ttl(off)["TimeToLiveStatus"] == "DISABLED"
        env.set_clock(t0 + 64)
        assert env.sweep() == 5
        assert env.scan_keys(on) == [f"k{i}" for i in range(5, 10)]
        assert len(env.scan_keys(off)) == 10


def test_the_change_limit_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Server(data_dir=data, strict_ttl_limits=True).run_in_thread() as srv:
        env = _env(srv.endpoint, srv)
        table, _ = create_stream_table(env.ddb, None, range_key=None)
        env.enable(table)
    with Server(data_dir=data, strict_ttl_limits=True).run_in_thread() as srv:
        env = _env(srv.endpoint, srv)
        update_ttl_error(env.raw, spec(table, False), message=COOLDOWN)
        assert env.describe_ttl(table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL}
