"""UpdateEventSourceMapping while records are flowing: nothing skipped.

Changing ParallelizationFactor re-lays a shard's lane checkpoints; changing the batch
size or the function restarts the pollers. Either way every record written before and
after the update reaches the (new) function.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from tests.conftest import make_client
from tests.wire.test_triggers_delivery import Recorder, key_of, put_all, stream_table

WAIT = 20.0


def _create(endpoint: str, function: str, arn: str, **params: Any) -> str:
    lam = make_client(endpoint, "lambda")
    created = lam.create_event_source_mapping(
        FunctionName=function, EventSourceArn=arn, StartingPosition="TRIM_HORIZON", **params
    )
    mapping_id: str = created["UUID"]
    return mapping_id


def test_parallelization_change_mid_stream_skips_nothing(
    server: Any, ddb: Any, endpoint: str
) -> None:
    """Three lanes at different checkpoints (one held on a record) are merged into one:
    the new lane starts from the earliest, so the held record and its lane's later
    records are delivered after the update, not skipped."""
    release = threading.Event()
    held = threading.Event()

    def respond(event: dict[str, Any], context: Any, index: int) -> None:
        if any(key_of(r) == "a005" for r in event["Records"]) and not held.is_set():
            held.set()
            release.wait(WAIT)

    recorder = Recorder(respond)
    function = f"relane_{uuid.uuid4().hex[:8]}"
    server.register_function(function, recorder)
    table, arn = stream_table(ddb)
    keys = [f"a{i:03d}" for i in range(30)]
    put_all(ddb, table, keys)
    mapping_id = _create(endpoint, function, arn, BatchSize=1, ParallelizationFactor=3)
    lam = make_client(endpoint, "lambda")
    try:
        assert held.wait(WAIT)
        # the two other lanes run on past the held one
        recorder.wait_for(lambda calls: sum(c.done for c in calls) >= 12, "the other lanes")
        updated = lam.update_event_source_mapping(UUID=mapping_id, ParallelizationFactor=1)
        assert updated["ParallelizationFactor"] == 1
        with recorder.cond:
            at_update = len(recorder.calls)
        release.set()
        more = [f"b{i:03d}" for i in range(5)]
        put_all(ddb, table, more)
        wanted = set(keys) | set(more)

        def after_update(calls: list[Any]) -> set[str]:
            return {key_of(r) for c in calls[at_update:] if c.done and c.ok for r in c.records}

        calls = recorder.wait_for(lambda c: "b004" in after_update(c), "the last record")
        delivered_before = {
            key_of(r) for c in calls[:at_update] if c.done and c.ok for r in c.records
        }
        # nothing skipped: every record was delivered, and the held one (never
        # checkpointed) again after the update
        assert "a005" in after_update(calls)
        assert wanted <= delivered_before | after_update(calls)
        # one lane now: records after the update arrive in stream order
        order = [key_of(r) for c in calls[at_update:] if c.ok for r in c.records]
        assert order == sorted(order)
    finally:
        release.set()
        lam.delete_event_source_mapping(UUID=mapping_id)


def test_function_change_moves_delivery_to_the_new_function(
    server: Any, ddb: Any, endpoint: str
) -> None:
    old, new = Recorder(), Recorder()
    suffix = uuid.uuid4().hex[:8]
    server.register_function(f"old_{suffix}", old)
    server.register_function(f"new_{suffix}", new)
    table, arn = stream_table(ddb)
    mapping_id = _create(endpoint, f"old_{suffix}", arn, BatchSize=10)
    lam = make_client(endpoint, "lambda")
    try:
        put_all(ddb, table, ["k1", "k2"])
        old.wait_key("k2")
        updated = lam.update_event_source_mapping(
            UUID=mapping_id, FunctionName=f"new_{suffix}", BatchSize=1
        )
        assert updated["FunctionArn"].endswith(f":function:new_{suffix}")
        put_all(ddb, table, ["k3", "k4"])
        calls = new.wait_key("k4")
        assert [key_of(r) for c in calls for r in c.records] == ["k3", "k4"]
        assert all(len(c.records) == 1 for c in calls)
        assert [key_of(r) for r in old.records] == ["k1", "k2"]
    finally:
        lam.delete_event_source_mapping(UUID=mapping_id)
