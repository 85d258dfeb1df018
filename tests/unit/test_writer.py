"""The single writer's group commit: ordering, isolation of failures, change lists."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from dynoxide_streams.engine.changes import Change
from dynoxide_streams.engine.store import Store
from dynoxide_streams.engine.tables import TableInfo
from dynoxide_streams.engine.values import Item, item_size
from dynoxide_streams.engine.writer import ItemBatch, ItemWrite, Outcome, Writer
from dynoxide_streams.errors import (
    DISK_FULL_MESSAGE,
    ConditionalCheckFailedException,
    DiskFull,
    ServiceUnavailable,
)

SPEC: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "TableArn": "arn:aws:dynamodb:us-east-1:000000000000:table/t",
    "TableId": "x",
    "CreationDateTime": 0.0,
    "ProvisionedThroughput": {},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _table(store: Store) -> TableInfo:
    with store.transaction() as conn:
        conn.execute("INSERT INTO tables (name, spec) VALUES ('t', ?)", (json.dumps(SPEC),))
    table = TableInfo(1, "t", SPEC)
    store.tables["t"] = table
    return table


def put(table: TableInfo, key: str, value: str, *, only_if_absent: bool = False) -> ItemWrite:
    item: Item = {"pk": {"S": key}, "v": {"S": value}}

    def decide(old: Item | None) -> Outcome:
        if only_if_absent and old is not None:
            raise ConditionalCheckFailedException("The conditional request failed")
        return item, item_size(item)

    return ItemWrite(table, table.key_of_item(item), decide)


@pytest.mark.anyio
async def test_group_applies_in_order_and_isolates_failures(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    table = _table(store)
    writer = Writer(store)
    seen: list[Sequence[Change]] = []
    writer.listeners.append(seen.append)
    results: dict[str, str] = {}

    async def submit(name: str, batch: ItemBatch) -> None:
        try:
            await writer.submit(batch)
            results[name] = "ok"
        except ConditionalCheckFailedException:
            results[name] = "failed"

    try:
        async with anyio.create_task_group() as tg:
            await tg.start(writer.run)
            async with anyio.create_task_group() as clients:
                # queued before the writer runs: all five land in one group
                clients.start_soon(
                    submit, "first", ItemBatch([put(table, "a", "1", only_if_absent=True)])
                )
                clients.start_soon(
                    submit, "second", ItemBatch([put(table, "a", "2", only_if_absent=True)])
                )
                clients.start_soon(
                    submit,
                    "pair",
                    ItemBatch([put(table, "b", "1"), put(table, "a", "3", only_if_absent=True)]),
                )
                clients.start_soon(submit, "same", ItemBatch([put(table, "a", "1")]))
                clients.start_soon(submit, "c", ItemBatch([put(table, "c", "1")]))
            writer.close()
    finally:
        store.close()

    assert results == {"first": "ok", "second": "failed", "pair": "failed", "same": "ok", "c": "ok"}
    changes = [c for group in seen for c in group]
    # "same" rewrote a with identical content: no change recorded for it
    assert [(c.key[1], c.old, c.new and c.new["v"]["S"]) for c in changes] == [
        (b"a", None, "1"),
        (b"c", None, "1"),
    ]
    assert table.item_count == 2
    assert writer.high_water >= 1


@pytest.mark.anyio
async def test_a_checkpointed_wal_restarts_small_so_groups_do_not_each_checkpoint(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path)
    table = _table(store)
    writer = Writer(store)
    writer.checkpoint_bytes = 64 * 1024
    writer.idle_checkpoint_seconds = 3600.0
    checkpoints = 0
    checkpoint = store.checkpoint

    async def counted() -> None:
        nonlocal checkpoints
        checkpoints += 1
        await checkpoint()

    store.checkpoint = counted  # type: ignore[method-assign]
    groups = 200
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(writer.run)
            for i in range(groups):  # one group each, a few pages of WAL each
                await writer.submit(ItemBatch([put(table, f"k{i}", "x" * 3000)]))
            writer.close()
        assert 1 <= checkpoints <= groups // 2
        assert store.wal_bytes() <= 2 * writer.checkpoint_bytes
    finally:
        store.close()


@pytest.mark.anyio
async def test_counters_persist_and_failed_batch_writes_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    table = _table(store)
    writer = Writer(store)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        await writer.submit(ItemBatch([put(table, "a", "1"), put(table, "b", "1")]))
        with pytest.raises(ConditionalCheckFailedException):
            await writer.submit(
                ItemBatch([put(table, "c", "1"), put(table, "a", "9", only_if_absent=True)])
            )
        writer.close()
    store.close()
    reopened = Store.open(tmp_path)
    try:
        assert reopened.tables["t"].item_count == 2
        assert reopened.get_item_row(1, table.key_of({"pk": {"S": "c"}})) is None
    finally:
        reopened.close()


@pytest.mark.anyio
async def test_submit_after_close_is_service_unavailable(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    table = _table(store)
    writer = Writer(store)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(writer.run)
            writer.close()
        with pytest.raises(ServiceUnavailable):
            await writer.submit(ItemBatch([put(table, "a", "1")]))
    finally:
        store.close()


@pytest.mark.anyio
async def test_wait_for_commit_wakes_after_commit(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    table = _table(store)
    writer = Writer(store)
    woke: list[int] = []
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(writer.run)

            async def waiter() -> None:
                woke.append(await writer.wait_for_commit(writer.high_water))

            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            assert woke == []
            await writer.submit(ItemBatch([put(table, "a", "1")]))
            await anyio.wait_all_tasks_blocked()
            assert woke == [1]
            writer.close()
    finally:
        store.close()


@pytest.mark.anyio
async def test_changes_that_cancel_out_in_one_group_are_still_captured(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    table = _table(store)
    writer = Writer(store)
    captured: list[tuple[str | None, str | None]] = []

    def capture(conn: Any, changes: Sequence[Change]) -> None:
        captured.extend((c.old and c.old["v"]["S"], c.new and c.new["v"]["S"]) for c in changes)

    writer.capture.append(capture)
    item = put(table, "a", "1")

    def delete(old: Item | None) -> Outcome:
        return None

    try:
        async with anyio.create_task_group() as tg:
            await tg.start(writer.run)
            async with anyio.create_task_group() as clients:
                clients.start_soon(writer.submit, ItemBatch([item]))
                clients.start_soon(writer.submit, ItemBatch([ItemWrite(table, item.key, delete)]))
            writer.close()
    finally:
        store.close()
    # the net effect on the table is nothing, but both changes happened
    assert captured == [(None, "1"), ("1", None)]


@pytest.mark.anyio
async def test_a_full_database_refuses_the_group_publishes_nothing_and_recovers(
    tmp_path: Path,
) -> None:
    """SQLite's real SQLITE_FULL (``max_page_count`` reached): the group is refused with
    DiskFull, counters, listeners and ``high_water`` do not move, the next group
    starts clean, and writes go through once there is room again."""
    store = Store.open(tmp_path)
    table = _table(store)
    writer = Writer(store)
    seen: list[Sequence[Change]] = []
    writer.listeners.append(seen.append)
    big = "x" * 20000
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        await writer.submit(ItemBatch([put(table, "a", "1")]))
        pages = store.write_conn.execute("PRAGMA page_count").fetchone()[0]
        store.write_conn.execute(f"PRAGMA max_page_count = {pages}")
        high_water, count, size = writer.high_water, table.item_count, table.size_bytes
        for key in ("b", "c"):  # twice: the first failure left nothing open behind it
            with pytest.raises(DiskFull) as refused:
                await writer.submit(ItemBatch([put(table, key, big), put(table, "a", "2")]))
            assert refused.value.message == DISK_FULL_MESSAGE
            assert refused.value.name == "InternalServerError" and refused.value.status == 500
        assert (writer.high_water, table.item_count, table.size_bytes) == (high_water, count, size)
        assert len(seen) == 1
        assert not store.write_conn.in_transaction
        assert store.get_item_row(1, table.key_of({"pk": {"S": "b"}})) is None
        assert b'"1"' in store.get_item_row(1, table.key_of({"pk": {"S": "a"}}))[0]

        store.write_conn.execute("PRAGMA max_page_count = 1073741823")
        await writer.submit(ItemBatch([put(table, "b", big)]))
        assert (writer.high_water, table.item_count) == (high_water + 1, count + 1)
        writer.close()
    store.close()
    reopened = Store.open(tmp_path)
    try:
        assert reopened.tables["t"].item_count == 2
    finally:
        reopened.close()
