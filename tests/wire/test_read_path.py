"""The read path: a Query that reads past the on-loop row budget never stalls the loop.

A Query or Scan starts on the event loop and moves to a worker thread once it has read
``LOOP_ROWS`` rows (``engine/store.py``), continuing the same statement on the same
snapshot. The ordering tests hold the worker-thread part of a 1 MB Query with an SQLite
progress handler until a GetItem sent afterwards has been answered: had the Query run on
the loop, the GetItem could not be answered first.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from dynoxide_streams import Server
from dynoxide_streams.engine.store import LOOP_ROWS
from tests.conftest import make_client

TABLE = "reads"
PAYLOAD = "x" * 180
ITEMS = 6000  # ~200 bytes each: a Query of the partition reads a full 1 MB page
WAIT = 60.0


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server().run_in_thread() as srv:
        client = make_client(srv.endpoint)
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for start in range(0, ITEMS, 25):
            client.batch_write_item(
                RequestItems={
                    TABLE: [
                        {
                            "PutRequest": {
                                "Item": {
                                    "pk": {"S": "big"},
                                    "sk": {"N": str(n)},
                                    "payload": {"S": PAYLOAD},
                                }
                            }
                        }
                        for n in range(start, start + 25)
                    ]
                }
            )
        client.put_item(TableName=TABLE, Item={"pk": {"S": "small"}, "sk": {"N": "0"}})
        yield srv


def _hold_worker_reads(srv: Server) -> tuple[threading.Event, threading.Event, Callable[[], None]]:
    """Install a progress handler on the pooled read connections that, the first time
    it runs off the event-loop thread, sets ``entered`` and waits for ``release``.
    Returns (entered, release, uninstall)."""
    assert srv._service is not None and srv._service.ctx is not None and srv._portal is not None
    store = srv._service.ctx.store
    loop_thread = srv._portal.call(threading.get_ident)
    entered, release = threading.Event(), threading.Event()

    def handler() -> int:
        if threading.get_ident() != loop_thread and not entered.is_set():
            entered.set()
            release.wait(WAIT)
        return 0

    pool: list[sqlite3.Connection] = list(store._pool)

    def install(fn: Callable[[], int] | None) -> None:
        for conn in pool:
            conn.set_progress_handler(fn, 1000)

    srv._portal.call(install, handler)
    return entered, release, lambda: srv._portal.call(install, None) if srv._portal else None


def _query(srv: Server, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = make_client(srv.endpoint).query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "big"}},
        **extra,
    )
    return response


def test_get_item_answered_while_a_1mb_query_reads_past_the_loop_budget(server: Server) -> None:
    expected = _query(server)
    assert expected["ScannedCount"] > LOOP_ROWS  # the read goes beyond the on-loop budget
    assert "LastEvaluatedKey" in expected  # it stopped at the 1 MB page size
    entered, release, uninstall = _hold_worker_reads(server)
    order: list[str] = []
    try:
        with ThreadPoolExecutor(1) as pool:

            def query_then_record() -> dict[str, Any]:
                result = _query(server)
                order.append("Query")
                return result

            pending = pool.submit(query_then_record)
            assert entered.wait(WAIT)  # the Query is reading, in its worker-thread part
            got = make_client(server.endpoint).get_item(
                TableName=TABLE, Key={"pk": {"S": "small"}, "sk": {"N": "0"}}
            )
            order.append("GetItem")
            release.set()
            result = pending.result(WAIT)
    finally:
        release.set()
        uninstall()
    assert got["Item"]["pk"] == {"S": "small"}
    assert order == ["GetItem", "Query"]
    for name in ("Items", "Count", "ScannedCount", "LastEvaluatedKey"):
        assert result[name] == expected[name]


def test_query_continued_in_a_worker_keeps_its_snapshot(server: Server) -> None:
    """A write committed while the Query's worker-thread part is held is not seen by it:
    the worker continues the statement the loop started, on the same snapshot."""
    expected = _query(server, Limit=LOOP_ROWS * 3)
    last_sk = expected["Items"][-1]["sk"]
    entered, release, uninstall = _hold_worker_reads(server)
    client = make_client(server.endpoint)
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(_query, server, Limit=LOOP_ROWS * 3)
            assert entered.wait(WAIT)
            client.put_item(
                TableName=TABLE,
                Item={"pk": {"S": "big"}, "sk": last_sk, "payload": {"S": "changed"}},
            )
            release.set()
            result = pending.result(WAIT)
    finally:
        release.set()
        uninstall()
        client.put_item(
            TableName=TABLE,
            Item={"pk": {"S": "big"}, "sk": last_sk, "payload": {"S": PAYLOAD}},
        )
    assert result["Items"] == expected["Items"]
    assert result["LastEvaluatedKey"] == expected["LastEvaluatedKey"]


def test_small_query_without_limit_matches_a_limited_one(server: Server) -> None:
    """No Limit or a Limit: the same rows (the on-loop rule changes where, not what)."""
    unlimited = _query(server)
    limited = _query(server, Limit=50)
    assert unlimited["Items"][:50] == limited["Items"]
    assert limited["ScannedCount"] == 50
