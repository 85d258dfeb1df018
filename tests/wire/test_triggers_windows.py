"""Tumbling windows: a batch whose window has already ended is the final invocation."""

from __future__ import annotations

from typing import Any

from tests.wire.test_triggers_delivery import Recorder, put, stream_table, virtual_server

IDLE_WINDOW_RECHECK_S = 1.0  # how often an idle lane looks at the clock (poller.py)


def test_a_batch_of_an_ended_window_is_its_final_invocation() -> None:
    with virtual_server() as (srv, ddb):
        start = (int(srv.clock.now()) // 60 + 1) * 60
        srv.clock.set(start + 5)
        table, _ = stream_table(ddb)
        for key in ("e1", "e2", "e3"):
            put(ddb, table, key)
        srv.clock.advance(3600)  # the window ended long ago; nothing can still join it

        def count(event: dict[str, Any], context: Any, index: int) -> dict[str, Any]:
            return {"state": {"count": event["state"].get("count", 0) + len(event["Records"])}}

        rec = Recorder(count)
        srv.add_trigger(table, rec, name="ended_window", tumbling_window_in_seconds=60)
        (first,) = rec.wait_key("e3")
        # one invocation carries the whole ended window and closes it
        assert first.keys == ["e1", "e2", "e3"]
        assert first.event["isFinalInvokeForWindow"] is True
        assert first.event["state"] == {}
        # ... so no empty final invocation follows once the idle lane looks at the clock
        assert rec.quiet(lambda calls: len(calls) > 1, 2 * IDLE_WINDOW_RECHECK_S)

        put(ddb, table, "now")  # a record of the current window: not final
        calls = rec.wait_key("now")
        assert calls[-1].keys == ["now"]
        assert calls[-1].event["isFinalInvokeForWindow"] is False
        assert calls[-1].event["state"] == {}
