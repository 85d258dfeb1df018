"""Triggers end to end when the function fails: Powertools partial batch responses,
bisecting to a poison record, retries, dead letters (the admin log and an HTTP
OnFailure destination), record age on a virtual clock, and failing or hung mappings
that must not stall a healthy one.

Helpers come from ``test_triggers_delivery.py``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamLambdaOnFailureDestinationModel,
    DynamoDBStreamModel,
)

from dynoxide_streams import Server
from tests.conftest import make_client
from tests.wire.test_streams import unique_name
from tests.wire.test_triggers_delivery import (
    WAIT,
    Destination,
    Recorder,
    dead_letters,
    key_of,
    mapping_of,
    put,
    put_all,
    seq_key,
    stream_seqs,
    stream_table,
    virtual_server,
    wait_dead_letters,
)

TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
ISO_SECONDS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
REQUEST_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FAILED = "PROBLEM: Function call failed"
ALWAYS = f"{FAILED} (RuntimeError: always)"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:000000000000:function:{name}"


def shard_of(endpoint: str, arn: str) -> str:
    streams = make_client(endpoint, "dynamodbstreams")
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    assert len(shards) == 1
    shard_id: str = shards[0]["ShardId"]
    return shard_id


def check_failure_record(
    letter: dict[str, Any],
    *,
    uuid: str,
    function: str,
    condition: str,
    shard_id: str,
    stream_arn: str,
    seqs: list[str],
    error: tuple[str, str] | None,
) -> dict[str, Any]:
    """A dead-letter row holds the failure record Lambda sends to OnFailure destinations,
    plus (our one added field) the last error's type and message, also shown as the
    row's ``Error``."""
    assert set(letter) == {"Id", "UUID", "Created", "Error", "Record"}
    assert letter["UUID"] == uuid
    record: dict[str, Any] = letter["Record"]
    aws_fields = {"requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"}
    if error is None:
        assert set(record) == aws_fields
        assert letter["Error"] is None
    else:
        assert set(record) == aws_fields | {"lastError"}
        assert record["lastError"] == {"errorType": error[0], "errorMessage": error[1]}
        assert letter["Error"] == f"{error[0]}: {error[1]}"
    context = record["requestContext"]
    assert set(context) == {"requestId", "functionArn", "condition", "approximateInvokeCount"}
    assert REQUEST_ID_RE.fullmatch(context["requestId"])
    assert context["functionArn"] == function_arn(function)
    assert context["condition"] == condition
    assert isinstance(context["approximateInvokeCount"], int)
    assert record["version"] == "1.0"
    assert TIMESTAMP_RE.fullmatch(record["timestamp"])
    assert record["responseContext"]["executedVersion"] == "$LATEST"
    assert record["responseContext"]["statusCode"] == 200
    info = record["DDBStreamBatchInfo"]
    assert info == {
        "shardId": shard_id,
        "startSequenceNumber": seqs[0],
        "endSequenceNumber": seqs[-1],
        "approximateArrivalOfFirstRecord": info["approximateArrivalOfFirstRecord"],
        "approximateArrivalOfLastRecord": info["approximateArrivalOfLastRecord"],
        "batchSize": len(seqs),
        "streamArn": stream_arn,
    }
    assert ISO_SECONDS_RE.fullmatch(info["approximateArrivalOfFirstRecord"])
    assert ISO_SECONDS_RE.fullmatch(info["approximateArrivalOfLastRecord"])
    model = DynamoDBStreamLambdaOnFailureDestinationModel.model_validate(record)
    assert model.request_context.condition == condition
    assert model.ddb_stream_batch_info.batch_size == len(seqs)
    assert model.ddb_stream_batch_info.start_sequence_number == seqs[0]
    return record


def wait_last_result(endpoint: str, uuid: str, result: str) -> None:
    lam = make_client(endpoint, "lambda")
    deadline = time.monotonic() + WAIT
    while True:
        got = lam.get_event_source_mapping(UUID=uuid)["LastProcessingResult"]
        if got == result:
            return
        assert time.monotonic() < deadline, f"LastProcessingResult stays {got!r}"
        time.sleep(0.01)


# -------------------------------------------------------- Powertools partial failure


def test_powertools_batch_processor_partial_failure(
    server: Server, ddb: Any, endpoint: str
) -> None:
    table, arn = stream_table(ddb)
    keys = [f"k{i:02d}" for i in range(10)]
    put_all(ddb, table, keys)  # all written before the trigger binds: one batch of 10
    seqs = stream_seqs(endpoint, arn)
    assert len(seqs) == 10

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    handled: list[str] = []
    failed_once: set[str] = set()

    def record_handler(record: DynamoDBRecord) -> None:
        assert record.dynamodb is not None
        key = record.dynamodb.keys["pk"]
        handled.append(key)
        if key == "k03" and key not in failed_once:
            failed_once.add(key)
            raise ValueError("transient failure of the 4th record")

    def handler(event: dict[str, Any], context: Any) -> Any:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    rec = Recorder(lambda event, context, index: handler(event, context))
    server.add_trigger(
        table,
        rec,
        name=unique_name("powertools"),
        batch_size=10,
        function_response_types=["ReportBatchItemFailures"],
    )
    calls = rec.wait_calls(2)
    first, second = calls[:2]
    assert first.ok and second.ok
    assert first.seqs == seqs
    assert first.response == {"batchItemFailures": [{"itemIdentifier": seqs[3]}]}
    assert second.seqs == seqs[3:]  # restarts exactly at the first failed record
    assert second.response == {"batchItemFailures": []}

    put(ddb, table, "k10")  # the shard then moves on: only the new record comes
    calls = rec.wait_key("k10")
    assert [c.keys for c in calls] == [keys, keys[3:], ["k10"]]
    assert handled == keys + keys[3:] + ["k10"]
    delivered = [k for c in calls for k in c.keys]
    assert all(delivered.count(k) == 1 for k in keys[:3])  # records 1-3 once
    assert all(delivered.count(k) == 2 for k in keys[3:])  # record 4 on: twice
    for call in calls:
        assert call.seqs == sorted(call.seqs, key=seq_key)
        DynamoDBStreamModel(**call.event)


# ------------------------------------------------------- bisect, retries, dead letters


def test_bisect_isolates_a_poison_record_and_dead_letters_it(
    server: Server, ddb: Any, endpoint: str
) -> None:
    table, arn = stream_table(ddb)
    keys = ["a0", "a1", "a2", "POISON", "a4", "a5", "a6"]
    put_all(ddb, table, keys)
    seqs = stream_seqs(endpoint, arn)
    poison_seq = seqs[3]

    def respond(event: dict[str, Any], context: Any, index: int) -> None:
        if any(key_of(r) == "POISON" for r in event["Records"]):
            raise RuntimeError("poison record")

    rec = Recorder(respond)
    function = unique_name("bisect")
    with Destination() as destination:
        server.add_trigger(
            table,
            rec,
            name=function,
            batch_size=10,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=1,
            on_failure=destination.url,
        )
        uuid = mapping_of(endpoint, arn, function)["UUID"]
        (letter,) = wait_dead_letters(endpoint, uuid, 1)
        record = check_failure_record(
            letter,
            uuid=uuid,
            function=function,
            condition="RetryAttemptsExhausted",
            shard_id=shard_of(endpoint, arn),
            stream_arn=arn,
            seqs=[poison_seq],
            error=("RuntimeError", "poison record"),
        )
        assert record["responseContext"]["functionError"] == "Unhandled"
        (posted,) = destination.wait(1)
        assert posted == record  # the same JSON went to the HTTP destination

        # every other record was processed successfully
        calls = rec.wait_for(
            lambda calls: (
                {k for c in calls if c.ok for k in c.keys} >= {k for k in keys if k != "POISON"}
            ),
            "all healthy records",
        )
        # one batch, then halves (which use no retry attempt) until POISON is alone; alone
        # it gets its first attempt plus MaximumRetryAttempts=1, then the rest goes on
        assert [c.keys for c in calls] == [
            keys,
            ["a0", "a1", "a2"],
            ["POISON", "a4", "a5", "a6"],
            ["POISON", "a4"],
            ["POISON"],
            ["POISON"],
            ["a4"],
            ["a5", "a6"],
        ]
        assert all(not c.ok for c in calls if "POISON" in c.keys)
        succeeded = [k for c in calls if c.ok for k in c.keys]
        assert sorted(succeeded) == sorted(k for k in keys if k != "POISON")  # each once
        with_poison = sum("POISON" in c.keys for c in calls)
        assert 2 <= record["requestContext"]["approximateInvokeCount"] <= with_poison
        for call in calls:
            assert call.seqs == sorted(call.seqs, key=seq_key)

        # the mapping goes on with later writes
        put(ddb, table, "later")
        calls = rec.wait_key("later")
        assert [c.keys for c in calls[8:]] == [["later"]]  # POISON is not offered again
        wait_last_result(endpoint, uuid, "OK")
        assert len(dead_letters(endpoint, uuid)) == 1
        assert len(destination.bodies) == 1


def test_function_error_retries_the_same_batch_until_it_succeeds(
    server: Server, ddb: Any, endpoint: str
) -> None:
    table, arn = stream_table(ddb)
    keys = ["r0", "r1", "r2"]
    put_all(ddb, table, keys)

    def flaky(event: dict[str, Any], context: Any, index: int) -> None:
        if index < 2:
            raise RuntimeError(f"failure {index + 1}")

    rec = Recorder(flaky)
    function = unique_name("flaky")
    server.add_trigger(table, rec, name=function, batch_size=10, maximum_retry_attempts=5)
    calls = rec.wait_calls(3)
    assert [c.keys for c in calls] == [keys, keys, keys]
    assert calls[0].seqs == calls[1].seqs == calls[2].seqs == stream_seqs(endpoint, arn)
    assert [c.ok for c in calls] == [False, False, True]
    put(ddb, table, "next")
    calls = rec.wait_key("next")
    assert [c.keys for c in calls] == [keys, keys, keys, ["next"]]
    uuid = mapping_of(endpoint, arn, function)["UUID"]
    wait_last_result(endpoint, uuid, "OK")
    assert dead_letters(endpoint, uuid) == []


def test_zero_retries_dead_letters_each_failed_batch_and_goes_on(
    server: Server, ddb: Any, endpoint: str
) -> None:
    table, arn = stream_table(ddb)
    put_all(ddb, table, ["b0", "b1"])

    def broken(event: dict[str, Any], context: Any, index: int) -> None:
        raise RuntimeError("always")

    rec = Recorder(broken)
    function = unique_name("broken")
    server.add_trigger(table, rec, name=function, batch_size=10, maximum_retry_attempts=0)
    uuid = mapping_of(endpoint, arn, function)["UUID"]
    shard_id = shard_of(endpoint, arn)
    seqs = stream_seqs(endpoint, arn)
    (letter,) = wait_dead_letters(endpoint, uuid, 1)
    record = check_failure_record(
        letter,
        uuid=uuid,
        function=function,
        condition="RetryAttemptsExhausted",
        shard_id=shard_id,
        stream_arn=arn,
        seqs=seqs,
        error=("RuntimeError", "always"),
    )
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert [c.keys for c in rec.wait_calls(1)] == [["b0", "b1"]]  # invoked once, not retried

    put(ddb, table, "c0")  # the next records are still delivered
    letters = wait_dead_letters(endpoint, uuid, 2)
    assert len(letters) == 2 and letters[0] == letter
    c0 = stream_seqs(endpoint, arn)[-1]
    check_failure_record(
        letters[1],
        uuid=uuid,
        function=function,
        condition="RetryAttemptsExhausted",
        shard_id=shard_id,
        stream_arn=arn,
        seqs=[c0],
        error=("RuntimeError", "always"),
    )
    assert letters[1]["Id"] > letters[0]["Id"]
    assert [c.keys for c in rec.wait_calls(2)] == [["b0", "b1"], ["c0"]]
    assert all(not c.ok for c in rec.calls)
    wait_last_result(endpoint, uuid, ALWAYS)
    # the admin log can be paged with ?after=
    assert _after(endpoint, uuid, letters[0]["Id"]) == [letters[1]]


def _after(endpoint: str, uuid: str, after: int) -> list[dict[str, Any]]:
    url = f"{endpoint}/_admin/triggers/dead-letters?uuid={uuid}&after={after}"
    with urllib.request.urlopen(url, timeout=10) as response:
        letters: list[dict[str, Any]] = json.loads(response.read())["DeadLetters"]
    return letters


# ----------------------------------------------------------------------- record age


def test_records_older_than_maximum_record_age_are_discarded() -> None:
    with virtual_server() as (srv, ddb):
        table, arn = stream_table(ddb)

        def broken(event: dict[str, Any], context: Any, index: int) -> None:
            raise RuntimeError("always")

        rec = Recorder(broken)
        srv.add_trigger(table, rec, name="aging", maximum_record_age_in_seconds=60)
        put(ddb, table, "old")
        rec.wait_calls(2)  # failing and being retried
        uuid = mapping_of(srv.endpoint, arn, "aging")["UUID"]
        assert dead_letters(srv.endpoint, uuid) == []
        srv.clock.advance(120)
        (letter,) = wait_dead_letters(srv.endpoint, uuid, 1)
        record = check_failure_record(
            letter,
            uuid=uuid,
            function="aging",
            condition="RecordAgeExceeded",
            shard_id=shard_of(srv.endpoint, arn),
            stream_arn=arn,
            seqs=stream_seqs(srv.endpoint, arn),
            error=("RuntimeError", "always"),
        )
        assert record["requestContext"]["approximateInvokeCount"] >= 1
        assert all(c.keys == ["old"] for c in rec.calls)

        put(ddb, table, "fresh")  # the shard moved on: old is never offered again
        calls = rec.wait_key("fresh", ok=False)
        first_fresh = next(i for i, c in enumerate(calls) if "fresh" in c.keys)
        assert all(c.keys == ["fresh"] for c in calls[first_fresh:])
        assert len(dead_letters(srv.endpoint, uuid)) == 1


# ------------------------------------------------------------------------- isolation


def test_failing_and_hung_mappings_do_not_stall_a_healthy_one() -> None:
    release = threading.Event()
    with Server().run_in_thread() as srv:
        ddb = make_client(srv.endpoint)
        table_a, arn_a = stream_table(ddb)
        table_b, arn_b = stream_table(ddb)
        table_c, arn_c = stream_table(ddb)

        def raises(event: dict[str, Any], context: Any, index: int) -> None:
            raise RuntimeError("mapping A always fails")

        def hangs(event: dict[str, Any], context: Any, index: int) -> None:
            release.wait(30)  # far longer than the function's 0.5 s timeout

        failing, hung, healthy = Recorder(raises), Recorder(hangs), Recorder()
        try:
            srv.add_trigger(table_a, failing, name="fails")
            srv.add_trigger(table_b, hung, name="hangs", timeout=0.5)
            srv.add_trigger(table_c, healthy, name="healthy")
            put(ddb, table_a, "a")
            put(ddb, table_b, "b")
            failing.wait_calls(2)
            # a second invocation starts while the first one still hangs: the timeout
            started = hung.wait_for(lambda calls: len(calls) >= 2, "a retry of the hung call")
            assert not any(c.done for c in started)

            keys = [f"c{i}" for i in range(5)]
            put_all(ddb, table_c, keys)
            healthy.wait_for(
                lambda calls: sum(len(c.records) for c in calls if c.ok) >= 5,
                "the healthy mapping's records",
                timeout=5.0,
            )
            assert [key_of(r) for r in healthy.records] == keys
            assert all(c.ok for c in healthy.calls)

            # ... while A and B go on retrying
            a_count, b_count = len(failing.calls), len(hung.calls)
            failing.wait_for(lambda calls: len(calls) > a_count, "A retrying")
            hung.wait_for(lambda calls: len(calls) > b_count, "B retrying")
            assert all(c.keys == ["a"] for c in failing.calls)
            assert all(c.keys == ["b"] for c in hung.calls)
            uuid_a = mapping_of(srv.endpoint, arn_a, "fails")["UUID"]
            uuid_b = mapping_of(srv.endpoint, arn_b, "hangs")["UUID"]
            wait_last_result(
                srv.endpoint, uuid_a, f"{FAILED} (RuntimeError: mapping A always fails)"
            )
            timed_out = "Sandbox.Timedout: Task timed out after 0.50 seconds"
            wait_last_result(srv.endpoint, uuid_b, f"{FAILED} ({timed_out})")
            wait_last_result(srv.endpoint, mapping_of(srv.endpoint, arn_c, "healthy")["UUID"], "OK")
        finally:
            release.set()
