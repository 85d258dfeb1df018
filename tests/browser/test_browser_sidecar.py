"""The browser client and the live page served by a sidecar, in a real Chromium.

The same page code as in server mode, loaded from a ``dynoxide-streams sidecar``
process whose upstream is a second server reached over HTTP: records written to the
upstream with boto3 reach both tabs (through one websocket), survive a dropped
connection without a gap or a repeat, and show on the live page with their old and
new images. Every wait is bounded; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dynoxide_streams import Server
from tests.browser.test_browser import (  # noqa: F401 - fixtures used by name
    browser,
    context,
    got,
    open_tab,
    put_items,
    stream_sequence,
    subscribe,
    wait_for,
)
from tests.conftest import make_client
from tests.process import ServerProcess, assert_clean_log, start_sidecar
from tests.wire.test_streams import create_stream_table


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with Server().run_in_thread() as srv:
        yield srv.endpoint


@pytest.fixture(scope="module")
def sidecar(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work: Path = tmp_path_factory.mktemp("browser-sidecar")
    side = start_sidecar(upstream, work)
    try:
        yield side
        assert_clean_log(side)
    finally:
        side.kill9()


@pytest.fixture(scope="module")
def upddb(upstream: str) -> Any:
    return make_client(upstream)


def test_two_tabs_on_a_sidecar_share_one_websocket_and_see_every_upstream_record(
    context: Any,  # noqa: F811
    sidecar: ServerProcess,
    upstream: str,
    upddb: Any,
) -> None:
    table, arn = create_stream_table(upddb)
    assert arn is not None
    seen: list[str] = []
    leader = open_tab(context, sidecar.endpoint, seen)
    follower = open_tab(context, sidecar.endpoint, seen)
    subscribe(leader, table)
    wait_for(leader, "window.sub.role === 'leader' && window.status === 'subscribed'")
    subscribe(follower, table)
    assert follower.evaluate("window.sub.role") == "follower"

    put_items(upddb, table, 0, 20)
    expected = stream_sequence(upstream, arn)
    assert len(expected) == 20
    for page in (leader, follower):
        wait_for(page, "n => window.got.length >= n", len(expected))
    assert got(leader) == expected
    assert got(follower) == expected
    assert len(seen) == 1 and seen[0].startswith(sidecar.endpoint.replace("http", "ws"))


def test_a_dropped_websocket_to_the_sidecar_resumes_without_gap_or_repeat(
    context: Any,  # noqa: F811
    sidecar: ServerProcess,
    upstream: str,
    upddb: Any,
) -> None:
    table, arn = create_stream_table(upddb)
    assert arn is not None
    seen: list[str] = []
    page = open_tab(context, sidecar.endpoint, seen)
    subscribe(page, table)
    wait_for(page, "window.status === 'subscribed'")
    put_items(upddb, table, 0, 8)
    wait_for(page, "window.got.length >= 8")
    page.evaluate("window.sub._ws.close()")
    put_items(upddb, table, 8, 8)  # written upstream while the tab reconnects
    wait_for(page, "window.got.length >= 16")
    assert got(page) == stream_sequence(upstream, arn)
    assert len(seen) == 2


def test_live_page_on_a_sidecar_shows_upstream_writes(
    context: Any,  # noqa: F811
    sidecar: ServerProcess,
    upddb: Any,
) -> None:
    table, arn = create_stream_table(upddb)
    assert arn is not None
    page = context.new_page()
    page.goto(f"{sidecar.endpoint}/_streams/live?table={table}")
    wait_for(page, "document.getElementById('status').textContent === 'subscribed'")
    key = {"pk": {"S": "bob"}, "sk": {"N": "1"}}
    upddb.put_item(TableName=table, Item={**key, "age": {"N": "40"}})
    upddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET age = :a",
        ExpressionAttributeValues={":a": {"N": "41"}},
    )
    upddb.delete_item(TableName=table, Key=key)
    wait_for(page, "document.querySelectorAll('#feed li.record').length >= 3")
    events = page.eval_on_selector_all(
        "#feed li.record", "els => els.map(e => e.dataset.eventName)"
    )
    assert events == ["REMOVE", "MODIFY", "INSERT"]  # newest first
    modify = page.locator("#feed li.record.MODIFY")
    assert modify.locator("td.old").all_inner_texts() == ["40"]
    assert modify.locator("td.new").all_inner_texts() == ["41"]
    assert "bob" in modify.inner_text()
