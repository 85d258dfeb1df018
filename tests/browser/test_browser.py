"""The browser client (``/_streams/client.js``) and live page in a real Chromium.

Playwright drives Debian's Chromium (``/usr/bin/chromium``; ``make test`` installs it
with apt when missing — Playwright's own browser download is not used). Every test has
its own tables on a server owned by this module, whose push endpoint counts websocket
connections on the server side, so "exactly one websocket for two tabs" is measured
where it matters. Every wait is bounded (``wait_for_function`` with a timeout); nothing
sleeps. Screenshots go to ``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright import sync_api

from dynoxide_streams import Server
from dynoxide_streams.wire.websocket import PushEndpoint
from tests.conftest import RawClient, make_client
from tests.wire.test_streams import create_stream_table, read_stream

CHROMIUM = os.environ.get("DYNOXIDE_STREAMS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 20_000

if not Path(CHROMIUM).exists():  # a missing browser fails the run: it is never skipped
    pytest.fail(f"{CHROMIUM} is missing (make test installs Debian's chromium)", pytrace=False)


# ------------------------------------------------------------------------ fixtures


class SocketCounter:
    """Websocket connections the server's push endpoint has seen (total and at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.open = 0
        self.peak = 0

    def reset(self) -> None:
        with self._lock:
            self.total = self.peak = self.open

    def enter(self) -> None:
        with self._lock:
            self.total += 1
            self.open += 1
            self.peak = max(self.peak, self.open)

    def leave(self) -> None:
        with self._lock:
            self.open -= 1


@pytest.fixture(scope="module")
def sockets() -> Iterator[SocketCounter]:
    counter = SocketCounter()
    original = PushEndpoint.__call__

    async def counting(self: PushEndpoint, scope: Any, receive: Any, send: Any) -> None:
        counter.enter()
        try:
            await original(self, scope, receive, send)
        finally:
            counter.leave()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PushEndpoint, "__call__", counting)
        yield counter


@pytest.fixture(scope="module")
def bserver(sockets: SocketCounter) -> Iterator[Server]:
    with Server().run_in_thread() as srv:
        yield srv


@pytest.fixture(scope="module")
def bendpoint(bserver: Server) -> str:
    return bserver.endpoint


@pytest.fixture(scope="module")
def bddb(bendpoint: str) -> Any:
    return make_client(bendpoint)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    yield context
    context.close()


def open_tab(context: Any, endpoint: str, sockets_seen: list[str]) -> Any:
    """A same-origin page (the health page at ``/``) with the client module loaded."""
    page = context.new_page()
    page.on("websocket", lambda ws: sockets_seen.append(ws.url))
    page.on("pageerror", lambda error: print("page error:", error))
    page.goto(endpoint + "/")
    return page


SUBSCRIBE_JS = """async ({table, from}) => {
  const client = await import("/_streams/client.js");
  window.got = [];
  window.status = "new";
  window.sub = client.subscribe(
    {table, from, onStatus: (s) => { window.status = s; }},
    (record) => window.got.push(record.dynamodb.SequenceNumber),
  );
  return {tab: window.sub.tabId, locks: window.sub.useLocks};
}"""


def subscribe(page: Any, table: str, start: str = "TRIM_HORIZON") -> dict[str, Any]:
    info: dict[str, Any] = page.evaluate(SUBSCRIBE_JS, {"table": table, "from": start})
    return info


def wait_for(page: Any, expression: str, arg: Any = None) -> None:
    page.wait_for_function(expression, arg=arg, timeout=WAIT_MS)


def got(page: Any) -> list[str]:
    result: list[str] = page.evaluate("window.got")
    return result


def put_items(ddb: Any, table: str, start: int, count: int) -> None:
    for i in range(start, start + count):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "sk": {"N": str(i)}})


def stream_sequence(endpoint: str, arn: str) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in read_stream(RawClient(endpoint), arn)]


# ------------------------------------------------------------------------ static files


def http_get(endpoint: str, path: str) -> tuple[int, str, bytes]:
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("content-type") or "", response.read()
    finally:
        conn.close()


def test_static_files_are_served_with_types_and_no_traversal(bendpoint: str) -> None:
    status, kind, body = http_get(bendpoint, "/_streams/client.js")
    assert (status, kind) == (200, "text/javascript; charset=utf-8")
    assert b"export function subscribe" in body
    status, kind, body = http_get(bendpoint, "/_streams/live")
    assert (status, kind) == (200, "text/html; charset=utf-8") and b"<!doctype html>" in body
    assert http_get(bendpoint, "/_streams/static/live.css")[:2] == (200, "text/css; charset=utf-8")
    for path in (
        "/_streams/static/../../engine/model.json",
        "/_streams/static/..%2f..%2fengine%2fmodel.json",
        "/_streams/static/%2e%2e/protocol.py",
        "/_streams/static/",
        "/_streams/static/nope.js",
        "/_streams/static/__init__.py",
        "/_streams/nope",
    ):
        assert http_get(bendpoint, path)[0] == 404, path


# ------------------------------------------------------------------------ two tabs


def test_two_tabs_share_one_websocket_and_see_every_record_in_order(
    context: Any, bendpoint: str, bddb: Any, sockets: SocketCounter
) -> None:
    table, arn = create_stream_table(bddb)
    assert arn is not None
    sockets.reset()
    seen: list[str] = []
    leader, follower = open_tab(context, bendpoint, seen), open_tab(context, bendpoint, seen)
    assert subscribe(leader, table)["locks"] is True
    wait_for(leader, "window.sub.role === 'leader' && window.status === 'subscribed'")
    subscribe(follower, table)
    assert follower.evaluate("window.sub.role") == "follower"

    put_items(bddb, table, 0, 30)
    expected = stream_sequence(bendpoint, arn)
    assert len(expected) == 30
    for page in (leader, follower):
        wait_for(page, "n => window.got.length >= n", len(expected))
    assert got(leader) == expected
    assert got(follower) == expected
    assert follower.evaluate("window.sub.role") == "follower"
    assert len(seen) == 1, seen  # one websocket in the browser across both tabs …
    assert (sockets.total, sockets.peak) == (1, 1)  # … and one at the server


def test_async_iterator_form(context: Any, bendpoint: str, bddb: Any) -> None:
    table, arn = create_stream_table(bddb)
    assert arn is not None
    page = open_tab(context, bendpoint, [])
    put_items(bddb, table, 0, 5)
    envelopes = page.evaluate(
        """async (table) => {
          const { records } = await import("/_streams/client.js");
          const out = [];
          for await (const envelope of records({ table, from: "TRIM_HORIZON" })) {
            out.push(envelope);
            if (out.length === 5) break;
          }
          return out;
        }""",
        table,
    )
    assert [e["record"]["dynamodb"]["SequenceNumber"] for e in envelopes] == stream_sequence(
        bendpoint, arn
    )
    assert {(e["type"], e["streamArn"]) for e in envelopes} == {("record", arn)}
    assert all(e["shardId"].startswith("shardId-") for e in envelopes)


def test_leader_reconnects_after_a_dropped_websocket_without_gap_or_repeat(
    context: Any, bendpoint: str, bddb: Any, sockets: SocketCounter
) -> None:
    table, arn = create_stream_table(bddb)
    assert arn is not None
    sockets.reset()
    seen: list[str] = []
    page = open_tab(context, bendpoint, seen)
    subscribe(page, table)
    wait_for(page, "window.status === 'subscribed'")
    put_items(bddb, table, 0, 10)
    wait_for(page, "window.got.length >= 10")
    page.evaluate("window.sub._ws.close()")  # the connection drops
    put_items(bddb, table, 10, 10)  # written while the tab is (re)connecting
    wait_for(page, "window.got.length >= 20")
    assert got(page) == stream_sequence(bendpoint, arn)
    assert len(seen) == 2 and sockets.total == 2


def test_table_deleted_ends_the_subscription(context: Any, bendpoint: str, bddb: Any) -> None:
    table, arn = create_stream_table(bddb)
    assert arn is not None
    page = open_tab(context, bendpoint, [])
    page.evaluate(
        """async (table) => {
          const client = await import("/_streams/client.js");
          window.events = [];
          window.status = "new";
          window.sub = client.subscribe({
            table, from: "TRIM_HORIZON",
            onEvent: (e) => window.events.push(e.type),
            onStatus: (s) => { window.status = s; },
          });
        }""",
        table,
    )
    wait_for(page, "window.status === 'subscribed'")
    bddb.delete_table(TableName=table)
    wait_for(page, "window.events.includes('table_deleted')")
    assert page.evaluate("window.sub._ws === null")


# ------------------------------------------------------------------------ handover


def handover(
    context: Any,
    endpoint: str,
    ddb: Any,
    sockets: SocketCounter,
    *,
    locks: bool,
    silent: bool = False,
) -> None:
    """Close the leader tab while a writer keeps writing: the follower takes over, with
    neither a gap nor a repeat, and there was one websocket at a time.

    ``silent``: first the leader stops posting on the channel (as a hung tab would): no
    more records, heartbeats or goodbye reach the follower, which must notice the missing
    heartbeats and resume after the last record *it* saw."""
    table, arn = create_stream_table(ddb)
    assert arn is not None
    sockets.reset()
    seen: list[str] = []
    leader, follower = open_tab(context, endpoint, seen), open_tab(context, endpoint, seen)
    assert subscribe(leader, table)["locks"] is locks
    wait_for(leader, "window.sub.role === 'leader' && window.status === 'subscribed'")
    subscribe(follower, table)
    handed_over = threading.Event()
    written = [0]
    errors: list[BaseException] = []

    def writer() -> None:
        """Writes until 30 writes after the handover (at most 5,000)."""
        client = make_client(endpoint)
        after = 0
        try:
            while written[0] < 5000 and after < 30:
                put_items(client, table, written[0], 1)
                written[0] += 1
                after += handed_over.is_set()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        wait_for(follower, "window.got.length >= 20")
        at_close = written[0]
        if silent:
            leader.evaluate("window.sub._channel.postMessage = () => {}")
        leader.close()
        wait_for(follower, "window.sub.role === 'leader' && window.status === 'subscribed'")
        at_takeover = written[0]
    finally:
        handed_over.set()
        thread.join(60)
    assert not thread.is_alive() and not errors, errors
    expected = stream_sequence(endpoint, arn)
    assert len(expected) == written[0] < 5000
    wait_for(follower, "n => window.got.length >= n", len(expected))
    assert got(follower) == expected  # no gap, no duplicate, in order
    print(f"writes: {at_close} before the close, {at_takeover - at_close} during the handover")
    assert len(seen) == 2, seen  # the old leader's websocket, then the new leader's
    # The server may still be tearing down the closed tab's socket when the new leader's
    # arrives, so two can overlap there for a moment; never more, and only two in all.
    assert sockets.total == 2 and sockets.peak <= 2


def test_leader_tab_closes_while_writing_follower_takes_over(
    context: Any, bendpoint: str, bddb: Any, sockets: SocketCounter
) -> None:
    handover(context, bendpoint, bddb, sockets, locks=True)


NO_LOCKS = "delete Navigator.prototype.locks;"


def test_without_web_locks_tabs_elect_over_the_channel(
    browser: Any, bendpoint: str, bddb: Any, sockets: SocketCounter
) -> None:
    context = browser.new_context()
    context.add_init_script(NO_LOCKS)
    try:
        page = context.new_page()
        page.goto(bendpoint + "/")
        assert page.evaluate("navigator.locks === undefined")
        page.close()
        handover(context, bendpoint, bddb, sockets, locks=False)
    finally:
        context.close()


def test_without_web_locks_a_silent_leader_is_replaced_after_missed_heartbeats(
    browser: Any, bendpoint: str, bddb: Any, sockets: SocketCounter
) -> None:
    context = browser.new_context()
    context.add_init_script(NO_LOCKS)
    try:
        handover(context, bendpoint, bddb, sockets, locks=False, silent=True)
    finally:
        context.close()


def test_without_web_locks_two_tabs_one_websocket(
    browser: Any, bendpoint: str, bddb: Any, sockets: SocketCounter
) -> None:
    context = browser.new_context()
    context.add_init_script(NO_LOCKS)
    try:
        table, arn = create_stream_table(bddb)
        assert arn is not None
        sockets.reset()
        seen: list[str] = []
        tabs = [open_tab(context, bendpoint, seen) for _ in range(3)]
        for tab in tabs:  # all subscribe at once: the election must still pick one
            assert subscribe(tab, table)["locks"] is False
        wait_for(tabs[0], "window.sub.role === 'leader' && window.status === 'subscribed'")
        roles = [tab.evaluate("window.sub.role") for tab in tabs]
        assert roles == ["leader", "follower", "follower"]
        put_items(bddb, table, 0, 20)
        expected = stream_sequence(bendpoint, arn)
        for tab in tabs:
            wait_for(tab, "n => window.got.length >= n", len(expected))
            assert got(tab) == expected
        assert len(seen) == 1, seen
        assert (sockets.total, sockets.peak) == (1, 1)
    finally:
        context.close()


# ------------------------------------------------------------------------ live page


def test_live_page_shows_a_record_written_by_boto3(context: Any, bendpoint: str, bddb: Any) -> None:
    table, arn = create_stream_table(bddb)
    assert arn is not None
    page = context.new_page()
    page.set_viewport_size({"width": 1100, "height": 700})
    page.goto(f"{bendpoint}/_streams/live?table={table}")
    wait_for(page, "document.getElementById('status').textContent === 'subscribed'")
    assert page.locator("#table").input_value() == table
    bddb.put_item(
        TableName=table, Item={"pk": {"S": "alice"}, "sk": {"N": "1"}, "age": {"N": "30"}}
    )
    bddb.update_item(
        TableName=table,
        Key={"pk": {"S": "alice"}, "sk": {"N": "1"}},
        UpdateExpression="SET age = :a, city = :c",
        ExpressionAttributeValues={":a": {"N": "31"}, ":c": {"S": "Oslo"}},
    )
    bddb.delete_item(TableName=table, Key={"pk": {"S": "alice"}, "sk": {"N": "1"}})
    wait_for(page, "document.querySelectorAll('#feed li.record').length >= 3")
    events = page.eval_on_selector_all(
        "#feed li.record", "els => els.map(e => e.dataset.eventName)"
    )
    assert events == ["REMOVE", "MODIFY", "INSERT"]  # newest first
    modify = page.locator("#feed li.record.MODIFY")
    assert modify.locator("td.old").all_inner_texts() == ["30"]
    assert modify.locator("td.new").all_inner_texts() == ["31", '"Oslo"']
    assert "alice" in modify.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "live-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    print(f"screenshot: {shot}")
