"""What the log tells an operator at the default INFO level, one test per event: tables
created and deleted, streams enabled and disabled, GSI backfills (started, progress by
the engine's clock, finished), TTL sweeps that deleted something, the sidecar's
upstream becoming unreachable and reachable again, shutdown — and no line per request.

In-process servers are read through ``logs.oplog`` (not cached on first use, so a
structlog configuration set by the ``oplog`` fixture captures it); the sidecar and the
per-request check read a real process's JSON lines. Trigger failures are in
``test_triggers_errors.py``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture

from dynoxide_streams import Server
from dynoxide_streams.clock import VirtualClock
from dynoxide_streams.engine.maintenance import CHUNK, PROGRESS_SECONDS
from tests.conftest import make_client
from tests.polling import wait_until
from tests.process import Processes, free_port, start_server

OPERATOR_EVENTS = {
    "table created",
    "table deleted",
    "stream enabled",
    "stream disabled",
    "index backfill started",
    "index backfill progress",
    "index backfill finished",
    "ttl sweep",
}


@pytest.fixture
def oplog() -> Iterator[list[dict[str, Any]]]:
    """The operator events logged while the test runs (INFO and above)."""
    saved = structlog.get_config()
    capture = LogCapture()
    structlog.configure(
        processors=[capture], wrapper_class=structlog.make_filtering_bound_logger(logging.INFO)
    )
    try:
        yield capture.entries
    finally:
        structlog.configure(**saved)


def seen(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["event"] in OPERATOR_EVENTS]


def create(ddb: Any, name: str, **extra: Any) -> dict[str, Any]:
    description: dict[str, Any] = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )["TableDescription"]
    return description


STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_a_table_created_and_deleted(oplog: list[dict[str, Any]]) -> None:
    with Server().run_in_thread() as srv:
        ddb = make_client(srv.endpoint)
        create(ddb, "orders")
        ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}})
        ddb.delete_table(TableName="orders")
    assert seen(oplog) == [
        {"event": "table created", "log_level": "info", "table": "orders"},
        {"event": "table deleted", "log_level": "info", "table": "orders"},
    ]


def test_a_stream_enabled_and_disabled(oplog: list[dict[str, Any]]) -> None:
    with Server().run_in_thread() as srv:
        ddb = make_client(srv.endpoint)
        first = create(ddb, "orders", StreamSpecification=STREAM)["LatestStreamArn"]
        ddb.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
        again = ddb.update_table(
            TableName="orders",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )["TableDescription"]["LatestStreamArn"]
        ddb.delete_table(TableName="orders")  # its stream goes with it
    enabled, disabled = "stream enabled", "stream disabled"
    assert seen(oplog) == [
        {"event": "table created", "log_level": "info", "table": "orders"},
        {
            "event": enabled,
            "log_level": "info",
            "table": "orders",
            "stream_arn": first,
            "view_type": "NEW_IMAGE",
        },
        {"event": disabled, "log_level": "info", "table": "orders", "stream_arn": first},
        {
            "event": enabled,
            "log_level": "info",
            "table": "orders",
            "stream_arn": again,
            "view_type": "KEYS_ONLY",
        },
        {"event": "table deleted", "log_level": "info", "table": "orders"},
        {"event": disabled, "log_level": "info", "table": "orders", "stream_arn": again},
    ]


def fill(ddb: Any, table: str, count: int) -> None:
    """``count`` items, each with ``g`` (the index key of :func:`add_index`)."""
    for start in range(0, count, 25):
        puts = [
            {"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "g": {"S": "x"}}}}
            for i in range(start, min(start + 25, count))
        ]
        ddb.batch_write_item(RequestItems={table: puts})


def add_index(ddb: Any, table: str) -> None:
    ddb.update_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by-g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )


def finished(entries: list[dict[str, Any]]) -> bool:
    return any(e["event"] == "index backfill finished" for e in entries)


class TickingClock(VirtualClock):
    """A virtual clock that, once ticking, moves ``tick`` seconds at every reading: each
    backfill chunk then sees more than PROGRESS_SECONDS pass since the one before."""

    def __init__(self, tick: float) -> None:
        super().__init__()
        self.tick = tick
        self.ticking = False

    def now(self) -> float:
        if self.ticking:
            self.advance(self.tick)
        return super().now()


def test_a_gsi_backfill_started_its_progress_and_finished(oplog: list[dict[str, Any]]) -> None:
    items = 2 * CHUNK + 500  # three chunks: started, progress, finished
    clock = TickingClock(2 * PROGRESS_SECONDS)
    with Server(clock=clock, ttl_period=0).run_in_thread() as srv:
        ddb = make_client(srv.endpoint)
        create(ddb, "big")
        fill(ddb, "big", items)
        clock.ticking = True
        add_index(ddb, "big")
        wait_until(lambda: finished(oplog), what="the backfill finished")
        clock.ticking = False
    fields = {"log_level": "info", "table": "big", "index": "by-g"}
    assert seen(oplog)[1:] == [
        {"event": "index backfill started", **fields, "items": items},
        {"event": "index backfill progress", **fields, "scanned": 2 * CHUNK, "items": items},
        {"event": "index backfill finished", **fields, "scanned": items, "indexed": items},
    ]


def test_a_short_backfill_logs_no_progress(oplog: list[dict[str, Any]]) -> None:
    with Server(clock="virtual").run_in_thread() as srv:  # a frozen clock: no time passes
        ddb = make_client(srv.endpoint)
        create(ddb, "small")
        fill(ddb, "small", CHUNK + 1)  # two chunks
        add_index(ddb, "small")
        wait_until(lambda: finished(oplog), what="the backfill finished")
    assert [e["event"] for e in seen(oplog)] == [
        "table created",
        "index backfill started",
        "index backfill finished",
    ]


def test_a_ttl_sweep_that_deleted_something(oplog: list[dict[str, Any]]) -> None:
    with Server(clock="virtual", ttl_period=0).run_in_thread() as srv:
        ddb = make_client(srv.endpoint)
        create(ddb, "sessions")
        ddb.update_time_to_live(
            TableName="sessions",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
        )
        now = int(srv.clock.now())
        for i, expires in enumerate([now + 10, now + 10, now + 10, now + 1000]):
            ddb.put_item(
                TableName="sessions",
                Item={"pk": {"S": f"s{i}"}, "expires": {"N": str(expires)}},
            )
        assert srv.sweep_ttl_sync() == 0  # nothing due: nothing logged
        srv.clock.advance(60)
        assert srv.sweep_ttl_sync() == 3
        assert srv.sweep_ttl_sync() == 0
    assert seen(oplog)[1:] == [
        {"event": "ttl sweep", "log_level": "info", "table": "sessions", "deleted": 3}
    ]


# ------------------------------------------------------------------- real processes


def json_events(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.strip():
            record = json.loads(line)
            record.pop("timestamp")
            out.append(record)
    return out


def test_puts_at_info_write_no_line_per_request_and_shutdown_is_logged(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--log-format", "json", "--log-level", "info")
    try:
        ddb = make_client(server.endpoint)
        arn = create(ddb, "orders", StreamSpecification=STREAM)["LatestStreamArn"]
        for i in range(100):
            ddb.put_item(TableName="orders", Item={"pk": {"S": f"o{i}"}})
            ddb.get_item(TableName="orders", Key={"pk": {"S": f"o{i}"}})
        assert ddb.scan(TableName="orders")["Count"] == 100
    finally:
        code = server.terminate()
    assert code == 0, server.log()
    endpoint = server.endpoint
    assert json_events(server.log()) == [
        {
            "event": "listening",
            "level": "info",
            "endpoint": endpoint,
            "data": str(tmp_path / "data"),
            "clock": "real",
        },
        {"event": "table created", "level": "info", "table": "orders"},
        {
            "event": "stream enabled",
            "level": "info",
            "table": "orders",
            "stream_arn": arn,
            "view_type": "NEW_IMAGE",
        },
        {"event": "shutting down", "level": "info", "endpoint": endpoint},
        {"event": "stopped", "level": "info", "endpoint": endpoint},
    ]


def test_the_sidecar_logs_its_upstream_unreachable_and_reachable_again(tmp_path: Path) -> None:
    port = free_port()
    with Processes(tmp_path) as procs:
        up = procs.upstream(port=port, data_dir=tmp_path / "upstream")
        side = procs.sidecar(up.endpoint, "--log-format", "json")

        def reach() -> list[dict[str, Any]]:
            return [
                e
                for e in json_events(side.log())
                if e["event"] in ("upstream reachable", "upstream unreachable")
            ]

        wait_until(lambda: len(reach()) >= 1, what="the upstream reached")
        assert up.terminate() == 0
        wait_until(lambda: len(reach()) >= 2, what="the upstream unreachable")
        procs.upstream(port=port, data_dir=tmp_path / "upstream")
        changes = wait_until(lambda: (found := reach())[2:] and found, what="reachable again")
        side.terminate()
    reachable = {"event": "upstream reachable", "level": "info", "upstream": up.endpoint}
    assert changes[0] == reachable and changes[2] == reachable
    assert len(changes) == 3, changes
    lost = changes[1]
    assert set(lost) == {"event", "level", "upstream", "error"}
    assert (lost["event"], lost["level"], lost["upstream"]) == (
        "upstream unreachable",
        "warning",
        up.endpoint,
    )
    assert lost["error"].startswith(f"ConnectionError: {up.endpoint}/: ")
