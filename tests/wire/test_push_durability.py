"""Resuming push subscriptions across server restarts (SIGTERM and SIGKILL): a client
that reconnects with ``{"from": {"after": <last SequenceNumber seen>}}`` receives exactly
the records that follow — no gap, no duplicate — across shard rotations made before and
after the restart. A clean shutdown closes the websocket with a close frame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import RawClient, make_client
from tests.process import ServerProcess, start_server
from tests.wire.test_push import (
    RECV_TIMEOUT,
    check_frames,
    keys_of,
    open_ws,
    put,
    stream_frames,
    subscribed,
)
from tests.wire.test_streams import create_stream_table, read_stream, rotate


def _seen_records(texts: list[str]) -> list[dict[str, Any]]:
    frames = [json.loads(t) for t in texts]
    return [f["record"] for f in frames if f["type"] == "record"]


def _first_run(server: ServerProcess) -> tuple[dict[str, str], RawClient]:
    """Two tables with streams, writes, and a rotation of the first; (arn per table, raw)."""
    ddb, raw = make_client(server.endpoint), RawClient(server.endpoint)
    arns: dict[str, str] = {}
    for view in ("NEW_AND_OLD_IMAGES", "KEYS_ONLY"):
        table, arn = create_stream_table(ddb, view, range_key=None)
        assert arn is not None
        arns[table] = arn
    one, two = arns
    for i in range(4):
        put(ddb, one, f"a{i}", v=str(i))
        put(ddb, two, f"a{i}")
    rotate(raw, one)
    for i in range(4):
        put(ddb, one, f"b{i}", v=str(i))
    put(ddb, one, "a0", v="changed")
    return arns, raw


def _resume_after_stop(tmp_path: Path, stop: str) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        arns, raw = _first_run(server)
        one, two = arns
        last: dict[str, str] = {}
        with open_ws(server.endpoint) as push:
            push.subscribe(one, table=one, start="TRIM_HORIZON")
            push.subscribe(two, table=two, start="TRIM_HORIZON")
            for table, count in ((one, 6), (two, 3)):  # one: a0..a3, shard_end, b0
                assert push.next_for(table) == subscribed(table, arns[table])
                texts = push.texts_for(table, count)
                check_frames(texts, stream_frames(raw, arns[table], table)[:count])
                last[table] = _seen_records(texts)[-1]["dynamodb"]["SequenceNumber"]
            if stop == "terminate":
                assert server.terminate() == 0
                # a clean shutdown says so with a close frame before the socket goes
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        push.recv_text(RECV_TIMEOUT)
                assert closed.value.rcvd is not None, "no close frame on a clean shutdown"
                assert closed.value.rcvd.code in (1001, 1012), closed.value.rcvd
            else:
                server.kill9()
                with pytest.raises(ConnectionClosed):
                    while True:
                        push.recv_text(RECV_TIMEOUT)
    finally:
        if server.proc.poll() is None:
            server.terminate()

    restarted = start_server(data)
    try:
        ddb, raw = make_client(restarted.endpoint), RawClient(restarted.endpoint)
        # more history while the client was away, including a rotation of each stream
        put(ddb, one, "c0")
        rotate(raw, two)
        put(ddb, two, "c0")
        with open_ws(restarted.endpoint) as push:
            for table in (one, two):
                push.subscribe(table, table=table, start={"after": last[table]})
            for table in (one, two):
                assert push.next_for(table) == subscribed(table, arns[table])
                expected = stream_frames(raw, arns[table], table, after=last[table])
                texts = push.texts_for(table, len(expected))
                check_frames(texts, expected)
                seen = _seen_records(texts)
                everything = read_stream(raw, arns[table])
                numbers = [r["dynamodb"]["SequenceNumber"] for r in everything]
                # exactly the records after the last one seen: no gap, no duplicate
                assert [r["dynamodb"]["SequenceNumber"] for r in seen] == numbers[
                    numbers.index(last[table]) + 1 :
                ]
            assert keys_of([json.loads(t) for t in push.log if json.loads(t)["id"] == one][1:]) == [
                "b1",
                "b2",
                "b3",
                "a0",
                "c0",
            ]
            # and the resumed subscriptions are live
            put(ddb, one, "d0")
            put(ddb, two, "d0")
            for table in (one, two):
                assert keys_of([push.next_for(table)]) == ["d0"]
    finally:
        restarted.terminate()


def test_resume_by_sequence_number_across_a_clean_restart(tmp_path: Path) -> None:
    _resume_after_stop(tmp_path, "terminate")


def test_resume_by_sequence_number_across_a_sigkill(tmp_path: Path) -> None:
    _resume_after_stop(tmp_path, "kill9")


def test_subscriptions_made_before_a_restart_match_those_after(tmp_path: Path) -> None:
    """A TRIM_HORIZON subscriber after a SIGKILL sees every acknowledged write exactly
    once, with the same eventIDs and sequence numbers a subscriber saw before it."""
    data = tmp_path / "data"
    server = start_server(data)
    try:
        ddb, raw = make_client(server.endpoint), RawClient(server.endpoint)
        table, arn = create_stream_table(ddb, "NEW_IMAGE", range_key=None)
        assert arn is not None
        with open_ws(server.endpoint) as push:
            push.subscribe("s", table=table, start="TRIM_HORIZON")
            assert push.next_for("s") == subscribed("s", arn)
            for i in range(20):
                put(ddb, table, f"k{i}", v=str(i))
                if i % 7 == 6:
                    rotate(raw, table)
            before = stream_frames(raw, arn, "s")
            texts_before = push.texts_for("s", len(before))
            check_frames(texts_before, before)
        server.kill9()
    finally:
        if server.proc.poll() is None:
            server.terminate()
    restarted = start_server(data)
    try:
        raw = RawClient(restarted.endpoint)
        with open_ws(restarted.endpoint) as push:
            push.subscribe("s", arn=arn, start="TRIM_HORIZON")
            assert push.next_for("s") == subscribed("s", arn)
            texts_after = push.texts_for("s", len(before))
            check_frames(texts_after, stream_frames(raw, arn, "s"))
            assert texts_after == texts_before
    finally:
        restarted.terminate()
