"""The browser engine's Python side on CPython: the orjson fallback, the thread-free
read path and the commit mirror (the same code Pyodide runs; the Chromium tests in
``tests/browser/test_browser_engine.py`` run it there)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynoxide_streams.browser import orjson_fallback
from dynoxide_streams.browser.runtime import BrowserEngine

pytestmark = pytest.mark.unit

DDB = "DynamoDB_20120810."

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_the_fallback_writes_and_reads_what_orjson_does(value: Any) -> None:
    for option in (None, orjson.OPT_SORT_KEYS):
        text = orjson.dumps(value, option=option)
        assert orjson_fallback.loads(orjson_fallback.dumps(value, option=option)) == orjson.loads(
            text
        )
        assert orjson_fallback.loads(text) == orjson.loads(text)
    assert orjson_fallback.dumps({"b": 1, "a": "é"}, option=orjson_fallback.OPT_SORT_KEYS) == (
        orjson.dumps({"b": 1, "a": "é"}, option=orjson.OPT_SORT_KEYS)
    )


@pytest.mark.parametrize("text", [b"NaN", b"[Infinity]", b"1e999", b"9" * 400, b"{", b"\xff"])
def test_the_fallback_refuses_what_orjson_refuses(text: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)
    with pytest.raises(orjson_fallback.JSONDecodeError):
        orjson_fallback.loads(text)
    assert issubclass(orjson_fallback.JSONDecodeError, ValueError)


def test_the_fallback_reads_integers_beyond_64_bits_as_orjson_does() -> None:
    for text in (b"18446744073709551616", b"-9223372036854775809", b"1" + b"0" * 30):
        assert orjson_fallback.loads(text) == orjson.loads(text)


class DictSink:
    """Durable files as byte arrays; ``fail`` makes the next flush raise."""

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}
        self.flushes = 0
        self.fail = False

    def write(self, name: str, offset: int, data: bytes) -> None:
        file = self.files.setdefault(name, bytearray())
        file[offset : offset + len(data)] = data

    def truncate(self, name: str, size: int) -> None:
        del self.files.setdefault(name, bytearray())[size:]

    def flush(self, name: str) -> None:
        if self.fail:
            self.fail = False
            raise OSError(28, "QuotaExceededError")
        self.flushes += 1

    def restore(self, name: str, path: str) -> None:
        data = self.files.get(name)
        if data:
            Path(path).write_bytes(bytes(data))
        else:
            Path(path).unlink(missing_ok=True)


TABLE = {
    "TableName": "things",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}


async def _put_many(engine: BrowserEngine, count: int) -> None:
    status, _ = await engine.send(DDB + "CreateTable", json.dumps(TABLE))
    assert status == 200
    for i in range(count):
        item = {"pk": {"S": f"k{i}"}, "blob": {"S": "x" * 2000}}
        status, body = await engine.send(
            DDB + "PutItem", json.dumps({"TableName": "things", "Item": item})
        )
        assert (status, body) == (200, "{}")


def _forbid_threads_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``anyio.to_thread.run_sync`` fail when called from this test's thread (the
    browser engine's loop). Calls from other threads go through: a server another test
    left running in the same process (its own loop in its own thread) must not be
    broken by this test."""
    here = threading.get_ident()
    original = anyio.to_thread.run_sync

    def run_sync(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == here:
            raise AssertionError("the browser engine hopped to a thread")
        return original(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", run_sync)


@pytest.mark.parametrize("checkpoint_bytes", [64 * 1024, None])
def test_every_acknowledged_write_is_in_the_sink_and_reopens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkpoint_bytes: int | None
) -> None:
    _forbid_threads_here(monkeypatch)
    sink = DictSink()

    async def write() -> None:
        engine = BrowserEngine(tmp_path / "a", sink=sink, ttl_period=0)
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            assert engine.ctx is not None
            if checkpoint_bytes is not None:  # several checkpoints and WAL restarts
                engine.ctx.writer.checkpoint_bytes = checkpoint_bytes
            await _put_many(engine, 300)
            assert engine.mirror is not None
            # the first sync copies the new database file; then only WAL frames
            assert (engine.mirror.checkpoints >= 5) == (checkpoint_bytes is not None)
            if checkpoint_bytes is not None:
                # a checkpoint copies the pages its WAL frames carried, not the file
                db_size = (tmp_path / "a" / "data.db").stat().st_size
                mirror = engine.mirror
                assert mirror.db_bytes_written * 10 < mirror.checkpoints * db_size
            # a scan of every item reads past the loop budget: no thread either
            status, body = await engine.send(DDB + "Scan", '{"TableName":"things"}')
            assert status == 200 and json.loads(body)["Count"] == 300
            assert sink.flushes >= 301
            # the crash: copy the durable files before any close-time checkpoint
            restored = tmp_path / "b"
            restored.mkdir()
            for name, data in sink.files.items():
                (restored / name).write_bytes(bytes(data))
            engine.stop()

    anyio.run(write)

    async def reopen() -> None:
        engine = BrowserEngine(tmp_path / "b", ttl_period=0)
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            status, body = await engine.send(
                DDB + "Scan", '{"TableName":"things","Select":"COUNT"}'
            )
            assert (status, json.loads(body)["Count"]) == (200, 300)
            engine.stop()

    anyio.run(reopen)


def test_a_failed_sync_rejects_the_group_and_reopens_from_the_synced_state(
    tmp_path: Path,
) -> None:
    sink = DictSink()

    async def main() -> None:
        engine = BrowserEngine(tmp_path, sink=sink, ttl_period=0)
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await _put_many(engine, 3)
            sink.fail = True  # a quota error on the next commit group's flush
            status, body = await engine.send(
                DDB + "PutItem", '{"TableName":"things","Item":{"pk":{"S":"lost"}}}'
            )
            assert status == 500
            assert json.loads(body) == {
                "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "message": "Internal server error: the write could not be saved to the "
                "browser's storage (OSError: [Errno 28] QuotaExceededError), so it was not "
                "applied; free storage and retry",
            }
            # the engine reopened from the sink: the refused item is gone, the rest kept
            status, body = await engine.send(DDB + "Scan", '{"TableName":"things"}')
            assert status == 200
            assert sorted(i["pk"]["S"] for i in json.loads(body)["Items"]) == ["k0", "k1", "k2"]
            assert engine.reopened == 1
            status, body = await engine.send(
                DDB + "PutItem", '{"TableName":"things","Item":{"pk":{"S":"after"}}}'
            )
            assert (status, body) == (200, "{}")
            engine.stop()

    anyio.run(main)
    restored = tmp_path / "restored"
    restored.mkdir()
    for name, data in sink.files.items():
        (restored / name).write_bytes(bytes(data))

    async def reopen() -> None:
        engine = BrowserEngine(restored, ttl_period=0)
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            status, body = await engine.send(DDB + "Scan", '{"TableName":"things"}')
            assert status == 200
            assert sorted(i["pk"]["S"] for i in json.loads(body)["Items"]) == [
                "after",
                "k0",
                "k1",
                "k2",
            ]
            engine.stop()

    anyio.run(reopen)


def test_errors_are_the_servers_bytes(tmp_path: Path) -> None:
    async def main() -> None:
        engine = BrowserEngine(None, ttl_period=0)
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            assert await engine.send(DDB + "PutItem", "{not json") == (
                400,
                '{"__type":"com.amazon.coral.service#SerializationException"}',
            )
            assert await engine.send("DynamoDB_20120810.Nope", "{}") == (
                400,
                '{"__type":"com.amazon.coral.service#UnknownOperationException"}',
            )
            status, body = await engine.send(DDB + "GetItem", '{"TableName":"missing","Key":{}}')
            assert status == 400
            assert json.loads(body) == {
                "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
                "message": "Requested resource not found",
            }
            engine.stop()

    anyio.run(main)


def test_the_feeds_of_a_tab_that_went_are_dropped(tmp_path: Path) -> None:
    async def main() -> None:
        engine = BrowserEngine(None, ttl_period=0)
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await _put_many(engine, 1)
            frames: list[str] = []
            got = anyio.Event()

            def send(frame: str) -> None:
                frames.append(frame)
                got.set()

            for sid in ("tabA:1", "tabA:2", "tabB:1"):
                message = {"action": "subscribe", "id": sid, "table": "things"}
                reply = await engine.subscribe(json.dumps(message), send)
                assert reply is not None and json.loads(reply)["type"] == "subscribed"
            assert engine.drop_subscriptions("tabA:") == 2
            await _put_many_more(engine, ["after"])
            with anyio.fail_after(10):
                await got.wait()
            await engine.send(DDB + "Scan", '{"TableName":"things"}')  # the feeds ran
            assert [json.loads(f)["id"] for f in frames] == ["tabB:1"]
            engine.stop()

    anyio.run(main)


async def _put_many_more(engine: BrowserEngine, keys: list[str]) -> None:
    for key in keys:
        body = json.dumps({"TableName": "things", "Item": {"pk": {"S": key}}})
        assert await engine.send(DDB + "PutItem", body) == (200, "{}")


def test_the_browser_engine_imports_no_server_module() -> None:
    """What the bundle leaves out (``SKIPPED_MODULES``) must not be needed: importing the
    runtime and declaring a trigger brings in none of the server's modules (the build
    checks the same under Pyodide in ``precompile.mjs``)."""
    import subprocess
    import sys

    from dynoxide_streams.browser.build import SERVER_ONLY_MODULES

    code = (
        "import json, sys\n"
        "from dynoxide_streams.browser.runtime import BrowserEngine\n"
        "import dynoxide_streams.triggers.dead_letters\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    loaded = json.loads(out)
    assert [
        m for m in loaded if any(m == s or m.startswith(s + ".") for s in SERVER_ONLY_MODULES)
    ] == []
    assert "dynoxide_streams.triggers.functions" in loaded


def test_the_bundle_leaves_the_server_modules_out(tmp_path: Path) -> None:
    from dynoxide_streams.browser import build

    names = {
        p.relative_to(build.PACKAGE).as_posix()
        for p in build.PACKAGE.rglob("*.py")
        if not build._skipped(p.relative_to(build.PACKAGE).as_posix())
    }
    for server in ("cli.py", "mcp_main.py", "http_client.py", "service.py", "server.py"):
        assert server not in names
    assert not any(n.startswith(("mcp/", "sidecar/")) for n in names)
    assert not any(n.startswith("wire/") for n in names - set(build.WIRE_MODULES))


def test_the_bundle_wheels_are_asked_for_pyodide_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pip download`` targets Pyodide's CPython 3.14 pure-Python wheels whatever runs
    the build; a wheel it did not give (e.g. a file name that does not match) is an
    error after one download, not another download."""
    from dynoxide_streams.browser import build

    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(build, "CACHE", tmp_path)
    monkeypatch.setattr(build, "_run", lambda *args, cwd=None: calls.append(args))
    with pytest.raises(SystemExit, match="pip download gave no wheel for anyio=="):
        build.dependency_wheels()
    assert len(calls) == 1
    args = calls[0]
    assert args[args.index("--python-version") + 1] == "3.14"
    assert args[args.index("--implementation") + 1] == "py"
    assert args[args.index("--abi") + 1] == "none"
    assert args[args.index("--platform") + 1] == "any"
    assert "--only-binary=:all:" in args
    assert {a.split("==")[0] for a in args if "==" in a} == set(build.PURE_DEPENDENCIES)


def test_the_iterator_secret_is_in_the_sink_before_the_engine_serves(tmp_path: Path) -> None:
    """Opening a new database commits its iterator secret outside the Writer (no
    commit hook): it is synced before any iterator signed with it can be handed out, so
    an iterator survives a crash right after the engine started."""
    import sqlite3

    sink = DictSink()

    async def start() -> bytes:
        engine = BrowserEngine(tmp_path / "a", sink=sink, ttl_period=0)
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            assert engine.ctx is not None
            secret = engine.ctx.streams.secret
            restored = tmp_path / "b"  # the crash: what the sink holds now
            restored.mkdir()
            for name, data in sink.files.items():
                (restored / name).write_bytes(bytes(data))
            engine.stop()
        return secret

    secret = anyio.run(start)
    conn = sqlite3.connect(tmp_path / "b" / "data.db")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'iterator_secret'").fetchone()
    finally:
        conn.close()
    assert row is not None and bytes(row[0]) == secret


def test_stopping_lets_the_trigger_runner_finish_before_the_writer_closes(
    tmp_path: Path,
) -> None:
    """Stopping right after a page function answered: the runner's last writes (the
    mapping's state, the checkpoint) end before the Writer refuses, so no poller fails
    with ServiceUnavailable on the way out."""
    from structlog.testing import capture_logs

    async def main() -> None:
        engine = BrowserEngine(tmp_path / "a", sink=DictSink(), ttl_period=0)
        invoked = anyio.Event()

        async def handler(event: str) -> str:
            invoked.set()
            return "null"

        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            status, _ = await engine.send(DDB + "CreateTable", json.dumps(TABLE))
            assert status == 200
            engine.add_trigger("stop-fn", '{"table": "things"}', handler)
            await engine.send(DDB + "PutItem", '{"TableName":"things","Item":{"pk":{"S":"a"}}}')
            await invoked.wait()
            engine.stop()

    with capture_logs() as logs:
        anyio.run(main)
    assert [e for e in logs if e["log_level"] in ("error", "critical")] == []
