"""The embedded Server: async context manager, thread mode, virtual clock, 500 mapping."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from dynoxide_streams import Server
from dynoxide_streams.clock import VirtualClock
from dynoxide_streams.engine import operations
from tests.conftest import RawClient, make_client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_context_manager_serves_and_stops() -> None:
    async with Server() as srv:
        endpoint = srv.endpoint
        client = make_client(endpoint)
        names = await anyio.to_thread.run_sync(lambda: client.list_tables()["TableNames"])
        assert names == []
    with pytest.raises(OSError):
        # the port is closed once the block exits
        await anyio.connect_tcp("127.0.0.1", int(endpoint.rsplit(":", 1)[1]))


def test_run_in_thread_with_persistent_data_dir(tmp_path: Any) -> None:
    with Server(data_dir=tmp_path / "db").run_in_thread() as srv:
        make_client(srv.endpoint).create_table(
            TableName="kept",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    with Server(data_dir=tmp_path / "db").run_in_thread() as srv:
        assert make_client(srv.endpoint).list_tables()["TableNames"] == ["kept"]


def test_virtual_clock_sets_creation_time() -> None:
    clock = VirtualClock(start=1_000_000_000.0)
    with Server(clock=clock).run_in_thread() as srv:
        client = make_client(srv.endpoint)
        client.create_table(
            TableName="clocked",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        created = client.describe_table(TableName="clocked")["Table"]["CreationDateTime"]
        assert created.timestamp() == 1_000_000_000.0
        assert srv.clock.advance(60) == 1_000_000_060.0


def test_unexpected_exception_becomes_logged_500(
    raw: RawClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: Any, params: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setitem(operations.OPERATIONS, "ListTables", broken)
    response = raw.call("ListTables", {})
    assert response.status == 500
    assert response.json == {
        "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
        "message": "Internal server error",
    }
    monkeypatch.undo()
    assert raw.call("ListTables", {}).status == 200
