"""Acknowledged writes survive SIGKILL (once, and again and again under every write
operation with a GSI and a stream); data survives a clean restart."""

from __future__ import annotations

import http.client
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RawClient, make_client
from tests.polling import wait_until
from tests.process import start_server
from tests.wire.test_disk_full import (
    assert_consistent,
    create_indexed_stream_table,
)
from tests.wire.test_disk_full import (
    client as one_attempt_client,
)


def _create(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_sigkill_mid_stream_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    acknowledged: list[set[str]] = [set() for _ in range(8)]
    counters: list[set[str]] = [set() for _ in range(8)]
    enough = threading.Event()
    try:
        client = make_client(server.endpoint)
        _create(client, "durable")

        def writer(n: int) -> None:
            c = make_client(server.endpoint)
            i = 0
            while True:
                key = f"w{n}-{i}"
                try:
                    c.put_item(TableName="durable", Item={"pk": {"S": key}, "n": {"N": str(i)}})
                    # An UpdateItem ADD on a shared counter: acknowledged increments must survive.
                    c.update_item(
                        TableName="durable",
                        Key={"pk": {"S": "counter"}},
                        UpdateExpression="ADD hits :one, #w :me",
                        ExpressionAttributeNames={"#w": "writers"},
                        ExpressionAttributeValues={":one": {"N": "1"}, ":me": {"SS": [key]}},
                    )
                except Exception:
                    return  # the server died under us: this write was never acknowledged
                acknowledged[n].add(key)
                counters[n].add(key)
                i += 1
                if sum(len(a) for a in acknowledged) >= 400:
                    enough.set()

        threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(8)]
        for t in threads:
            t.start()
        assert enough.wait(timeout=120), "writers made no progress"
        server.kill9()
        for t in threads:
            t.join(timeout=60)
    finally:
        if server.proc.poll() is None:
            server.kill9()

    restarted = start_server(data)
    try:
        client = make_client(restarted.endpoint)
        keys = set().union(*acknowledged)
        assert len(keys) >= 400
        found: set[str] = set()
        pages = client.get_paginator("scan").paginate(TableName="durable")
        for page in pages:
            found.update(item["pk"]["S"] for item in page["Items"])
        assert keys <= found, f"lost {len(keys - found)} acknowledged writes"
        counter = client.get_item(
            TableName="durable", Key={"pk": {"S": "counter"}}, ConsistentRead=True
        )["Item"]
        acked_updates = set().union(*counters)
        assert acked_updates <= set(counter["writers"]["SS"])
        # every increment in the counter matches a recorded writer (no phantom, no loss)
        assert int(counter["hits"]["N"]) == len(counter["writers"]["SS"])
    finally:
        restarted.terminate()


def test_clean_restart_keeps_tables_and_items(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        client = make_client(server.endpoint)
        _create(client, "kept")
        for i in range(50):
            client.put_item(TableName="kept", Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})
        before = client.describe_table(TableName="kept")["Table"]
    finally:
        assert server.terminate() == 0
    assert "listening" in server.log() and "stopped" in server.log()
    restarted = start_server(data)
    try:
        client = make_client(restarted.endpoint)
        after = client.describe_table(TableName="kept")["Table"]
        assert after["TableId"] == before["TableId"]
        assert after["CreationDateTime"] == before["CreationDateTime"]
        assert after["ItemCount"] == 50
        assert client.get_item(TableName="kept", Key={"pk": {"S": "k7"}})["Item"]["v"] == {"N": "7"}
    finally:
        restarted.terminate()


# ------------------------------------------------------------------ kill -9 loop

KILL_LOOP_SECONDS = 35.0
"""Rounds start until this much time has passed (with at least MIN_KILLS kills)."""
MIN_KILLS = 3
WRITERS = 6
KEYS_PER_WRITER = 6

Image = dict[str, Any] | None


class WriterModel:
    """What one writer thread knows of its own keys (no other thread writes them):
    the state its acknowledged writes left, and the writes of the one request in
    flight when the server died (applied whole, or not at all)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.keys = [f"w{n}-{j}" for j in range(KEYS_PER_WRITER)]
        self.acked: dict[str, Image] = dict.fromkeys(self.keys)
        self.pending: dict[str, Image] = {}
        self.step = 0
        self.acknowledged = 0
        self.failures: list[str] = []

    def _put(self, key: str, i: int) -> dict[str, Any]:
        return {"pk": {"S": key}, "g": {"S": f"g{i % 3}"}, "v": {"N": str(i)}}

    def _updated(self, key: str, i: int, *, g: bool) -> dict[str, Any]:
        old = self.acked[key] or {"pk": {"S": key}}
        new = {**old, "v": {"N": str(i)}, "c": {"N": str(int(old.get("c", {"N": "0"})["N"]) + 1)}}
        if g:
            new["g"] = {"S": f"g{i % 3}"}
        else:
            new.pop("g", None)
        return new

    def next_request(self, table: str) -> tuple[str, dict[str, Any]]:
        """The next write (cycling through every write operation); sets ``pending``."""
        i = self.step
        key, other = self.keys[i % KEYS_PER_WRITER], self.keys[(i + 1) % KEYS_PER_WRITER]
        ops = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
        operation = ops[i % len(ops)]
        if operation == "PutItem":
            self.pending = {key: self._put(key, i)}
            return operation, {"TableName": table, "Item": self._put(key, i)}
        if operation == "UpdateItem":
            self.pending = {key: self._updated(key, i, g=True)}
            return operation, {
                "TableName": table,
                "Key": {"pk": {"S": key}},
                "UpdateExpression": "SET v = :v, g = :g ADD c :one",
                "ExpressionAttributeValues": {
                    ":v": {"N": str(i)},
                    ":g": {"S": f"g{i % 3}"},
                    ":one": {"N": "1"},
                },
            }
        if operation == "DeleteItem":
            self.pending = {key: None}
            return operation, {"TableName": table, "Key": {"pk": {"S": key}}}
        if operation == "BatchWriteItem":
            self.pending = {key: self._put(key, i), other: None}
            return operation, {
                "RequestItems": {
                    table: [
                        {"PutRequest": {"Item": self._put(key, i)}},
                        {"DeleteRequest": {"Key": {"pk": {"S": other}}}},
                    ]
                }
            }
        self.pending = {key: self._put(key, i), other: self._updated(other, i, g=False)}
        return operation, {
            "TransactItems": [
                {"Put": {"TableName": table, "Item": self._put(key, i)}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": other}},
                        "UpdateExpression": "SET v = :v REMOVE g ADD c :one",
                        "ExpressionAttributeValues": {":v": {"N": str(i)}, ":one": {"N": "1"}},
                    }
                },
            ]
        }

    def acknowledge(self) -> None:
        self.acked.update(self.pending)
        self.pending = {}
        self.step += 1
        self.acknowledged += 1

    def reconcile(self, found: dict[str, dict[str, Any]]) -> None:
        """Check the restarted server's items: every key holds its acknowledged state,
        or the in-flight request's state for all of its keys; adopt what is there."""
        applied = set()
        for key in self.keys:
            actual = found.get(key)
            if actual == self.acked[key]:
                continue
            assert key in self.pending and actual == self.pending[key], (
                f"{key}: lost an acknowledged write or holds a write never made: "
                f"{actual} != acknowledged {self.acked[key]}"
            )
            applied.add(key)
        if applied:  # the in-flight request was committed: whole, never in part
            whole = {k for k, v in self.pending.items() if v != self.acked[k]}
            assert applied == whole, (applied, whole)
            self.acknowledge()
        self.pending = {}


@pytest.mark.slow
def test_kill9_loop_every_write_operation_with_gsi_and_stream(tmp_path: Path) -> None:
    """SIGKILL the server again and again under writers doing every write operation on
    a table with a GSI and a NEW_AND_OLD_IMAGES stream: after each restart nothing
    acknowledged is lost, the GSI matches the table, replaying the stream gives the
    table, the counts are exact; at the end ``PRAGMA integrity_check`` is ok."""
    data = tmp_path / "data"
    started = time.monotonic()
    server = start_server(data)
    models = [WriterModel(n) for n in range(WRITERS)]
    kills = 0
    try:
        ddb, raw = one_attempt_client(server.endpoint), RawClient(server.endpoint)
        arn = create_indexed_stream_table(ddb, "crash")
        while True:
            stop = threading.Event()
            target = sum(m.acknowledged for m in models) + 40 * WRITERS

            def write(model: WriterModel, endpoint: str, stop: threading.Event = stop) -> None:
                raw_client = RawClient(endpoint)
                round_ends = time.monotonic() + 20  # stops by itself whatever happens
                while not stop.is_set() and time.monotonic() < round_ends:
                    operation, params = model.next_request("crash")
                    try:
                        answer = raw_client.call(operation, params)
                    except (OSError, http.client.HTTPException):
                        return  # the server died under us: never acknowledged
                    if answer.status != 200:
                        model.failures.append(f"{operation}: {answer.status} {answer.json}")
                        return
                    model.acknowledge()

            threads = [
                threading.Thread(target=write, args=(m, server.endpoint), daemon=True)
                for m in models
            ]
            for t in threads:
                t.start()

            def progressed(target: int = target, threads: list[threading.Thread] = threads) -> bool:
                done = sum(m.acknowledged for m in models) >= target
                return done or not any(t.is_alive() for t in threads)

            wait_until(progressed, 30, what="writers to make progress")
            server.kill9()
            kills += 1
            stop.set()
            for t in threads:
                t.join(timeout=30)
                assert not t.is_alive()
            assert not [f for m in models for f in m.failures]

            server = start_server(data)
            ddb, raw = one_attempt_client(server.endpoint), RawClient(server.endpoint)
            items = assert_consistent(ddb, raw, "crash", arn)
            for model in models:
                model.reconcile(items)
            assert set(items) <= {k for m in models for k in m.keys}
            if kills >= MIN_KILLS and time.monotonic() - started > KILL_LOOP_SECONDS:
                break
        assert sum(m.acknowledged for m in models) >= 40 * WRITERS * kills
    finally:
        if server.proc.poll() is None:
            assert server.terminate() == 0
    conn = sqlite3.connect(data / "data.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
