"""Acknowledged writes survive SIGKILL; data survives a clean restart."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tests.conftest import make_client
from tests.process import start_server


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
