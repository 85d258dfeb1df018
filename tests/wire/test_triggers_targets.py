"""Trigger function targets over the wire: ``python:module:handler`` (sync, async, missing
module), an HTTP endpoint standing in for the Lambda Runtime Interface Emulator, ``cmd:``
subprocesses (exit status, timeout kill), handler responses that are not acceptable,
and functions/triggers declared on the command line and in a trigger file."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from dynoxide_streams import Server
from tests.conftest import RawClient, make_client
from tests.polling import wait_until
from tests.process import ServerProcess, free_port, start_server
from tests.triggers_fixtures import handlers
from tests.triggers_fixtures.support import (
    RIE_PATH,
    FakeRuntime,
    dead_letters,
    echo_command,
    mapping,
    read_deliveries,
)
from tests.wire.test_streams import create_stream_table, read_stream

REPO = Path(__file__).resolve().parents[2]
HANDLERS = "python:tests.triggers_fixtures.handlers"
LAMBDA_KEYS = {
    "eventID",
    "eventName",
    "eventVersion",
    "eventSource",
    "awsRegion",
    "dynamodb",
    "eventSourceARN",
}


@pytest.fixture(scope="module")
def lam(endpoint: str) -> Any:
    return make_client(endpoint, "lambda")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def put(ddb: Any, table: str, *keys: str) -> None:
    for key in keys:
        ddb.put_item(TableName=table, Item={"pk": {"S": key}, "v": {"S": f"value of {key}"}})


def keys_of(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]


def seqs_of(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:000000000000:function:{name}"


def as_lambda_records(stream_records: list[dict[str, Any]], arn: str) -> list[dict[str, Any]]:
    """The Lambda event records for GetRecords records of a stream (no TTL deletes)."""
    keep = LAMBDA_KEYS - {"eventSourceARN"}
    return [{**{k: r[k] for k in keep}, "eventSourceARN": arn} for r in stream_records]


# ------------------------------------------------------------------ python: targets


def test_python_target_gets_the_records_and_a_lambda_context(
    server: Server, ddb: Any, raw: RawClient, lam: Any
) -> None:
    name = unique("rec")
    server.register_function(name, f"{HANDLERS}:record", timeout=5)
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "k0", "k1", "k2")
    with mapping(lam, FunctionName=name, EventSourceArn=arn, BatchSize=10):
        wait_until(lambda: handlers.calls(name), what="the first invocation")
        put(ddb, table, "k3")
        calls = wait_until(
            lambda: len(handlers.calls(name)) >= 2 and handlers.calls(name),
            what="the second invocation",
        )
    assert [keys_of(e) for e in calls] == [["k0", "k1", "k2"], ["k3"]]
    assert [r for e in calls for r in e["Records"]] == as_lambda_records(read_stream(raw, arn), arn)
    contexts = handlers.contexts(name)
    for context in contexts:
        assert context["function_name"] == name
        assert context["invoked_function_arn"] == function_arn(name)
        assert str(uuid.UUID(context["aws_request_id"])) == context["aws_request_id"]
        assert 0 < context["remaining_ms"] <= 5000
        assert isinstance(context["memory_limit_in_mb"], int)
        assert context["memory_limit_in_mb"] > 0
    assert contexts[0]["aws_request_id"] != contexts[1]["aws_request_id"]


def test_async_python_target(server: Server, ddb: Any, lam: Any) -> None:
    name = unique("arec")
    server.register_function(name, f"{HANDLERS}:async_record")
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "a", "b")
    with mapping(lam, FunctionName=name, EventSourceArn=arn) as esm:
        calls = wait_until(lambda: handlers.calls(name), what="an invocation")
        wait_until(
            lambda: lam.get_event_source_mapping(UUID=esm)["LastProcessingResult"] == "OK",
            what="LastProcessingResult OK",
        )
    assert [keys_of(e) for e in calls] == [["a", "b"]]
    assert handlers.contexts(name)[0]["kind"] == "async"
    assert handlers.contexts(name)[0]["function_name"] == name


def test_python_target_whose_module_is_missing_fails_retries_and_dead_letters(
    server: Server, ddb: Any, raw: RawClient, lam: Any
) -> None:
    missing = "python:tests.triggers_fixtures.no_such_module:handler"
    once, thrice = unique("nomod0"), unique("nomod2")
    server.register_function(once, missing)
    server.register_function(thrice, missing)
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "x", "y")
    stream = read_stream(raw, arn)
    with (
        mapping(lam, FunctionName=once, EventSourceArn=arn, MaximumRetryAttempts=0) as first,
        mapping(lam, FunctionName=thrice, EventSourceArn=arn, MaximumRetryAttempts=2) as second,
    ):
        letters = {
            uid: wait_until(lambda uid=uid: dead_letters(raw, uid), what=f"dead letter of {uid}")
            for uid in (first, second)
        }
        assert lam.get_event_source_mapping(UUID=first)["LastProcessingResult"] == (
            "PROBLEM: Function call failed (Runtime.ImportModuleError: Unable to import module "
            "'tests.triggers_fixtures.no_such_module': "
            "No module named 'tests.triggers_fixtures.no_such_module')"
        )
    for uid, name, invokes in ((first, once, 1), (second, thrice, 3)):
        assert len(letters[uid]) == 1
        record = letters[uid][0]["Record"]
        assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == invokes
        assert record["requestContext"]["functionArn"] == function_arn(name)
        assert record["responseContext"]["functionError"] == "Unhandled"
        assert record["lastError"] == {
            "errorType": "Runtime.ImportModuleError",
            "errorMessage": "Unable to import module 'tests.triggers_fixtures.no_such_module': "
            "No module named 'tests.triggers_fixtures.no_such_module'",
        }
        info = record["DDBStreamBatchInfo"]
        assert info["batchSize"] == 2
        assert info["streamArn"] == arn
        assert info["startSequenceNumber"] == stream[0]["dynamodb"]["SequenceNumber"]
        assert info["endSequenceNumber"] == stream[1]["dynamodb"]["SequenceNumber"]


def test_python_target_whose_handler_is_missing_says_so_as_the_lambda_runtime_does(
    server: Server, ddb: Any, raw: RawClient, lam: Any
) -> None:
    name = unique("nohandler")
    server.register_function(name, f"{HANDLERS}:no_such_handler")
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "x")
    missing = "Handler 'no_such_handler' missing on module 'tests.triggers_fixtures.handlers'"
    with mapping(lam, FunctionName=name, EventSourceArn=arn, MaximumRetryAttempts=0) as uid:
        (letter,) = wait_until(lambda: dead_letters(raw, uid), what="the dead letter")
        problem = f"PROBLEM: Function call failed (Runtime.HandlerNotFound: {missing})"
        wait_until(
            lambda: lam.get_event_source_mapping(UUID=uid)["LastProcessingResult"] == problem,
            what="LastProcessingResult",
        )
    assert letter["Record"]["lastError"] == {
        "errorType": "Runtime.HandlerNotFound",
        "errorMessage": missing,
    }


# ------------------------------------------------------------------- http targets


def test_http_target_gets_the_exact_lambda_event(
    server: Server, ddb: Any, raw: RawClient, lam: Any
) -> None:
    runtime = FakeRuntime()
    name = unique("rie")
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "a")
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "7"}},
    )
    ddb.delete_item(TableName=table, Key={"pk": {"S": "a"}})
    put(ddb, table, "b")
    with runtime.serving() as url:
        server.register_function(name, url)
        with mapping(lam, FunctionName=name, EventSourceArn=arn) as esm:
            wait_until(runtime.received, what="a POST")
            wait_until(
                lambda: lam.get_event_source_mapping(UUID=esm)["LastProcessingResult"] == "OK",
                what="LastProcessingResult OK",
            )
    [call] = runtime.received()
    assert call.method == "POST"
    assert call.path == RIE_PATH
    assert call.headers["Content-Type"] == "application/json"
    event = call.event
    assert list(event) == ["Records"]
    assert event["Records"] == as_lambda_records(read_stream(raw, arn), arn)
    assert [r["eventName"] for r in event["Records"]] == ["INSERT", "MODIFY", "REMOVE", "INSERT"]
    for record in event["Records"]:
        assert set(record) == LAMBDA_KEYS
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == "us-east-1"
        assert record["eventSourceARN"] == arn
        assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_http_error_answers_are_function_errors_and_retried(
    server: Server, ddb: Any, lam: Any
) -> None:
    runtime = FakeRuntime(
        answers=[
            (200, {"errorMessage": "boom", "errorType": "Exception"}),
            (500, {"message": "internal failure"}),
        ]
    )
    name = unique("rie_err")
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "a", "b")
    with runtime.serving() as url:
        server.register_function(name, url)
        with mapping(lam, FunctionName=name, EventSourceArn=arn):
            wait_until(lambda: len(runtime.received()) >= 3, what="two retries")
            put(ddb, table, "c")
            wait_until(lambda: len(runtime.received()) >= 4, what="the next batch")
    events = [call.event for call in runtime.received()]
    assert len(events) == 4
    assert events[0] == events[1] == events[2]
    assert keys_of(events[0]) == ["a", "b"]
    assert keys_of(events[3]) == ["c"]  # the third answer (success) checkpointed a and b


def test_http_partial_batch_failure_retries_from_the_first_failed_record(
    server: Server, ddb: Any, lam: Any
) -> None:
    def fail_third_and_fourth(event: dict[str, Any]) -> tuple[int, Any]:
        seqs = seqs_of(event)
        return 200, {
            "batchItemFailures": [{"itemIdentifier": seqs[3]}, {"itemIdentifier": seqs[2]}]
        }

    runtime = FakeRuntime(answers=[fail_third_and_fourth])
    name = unique("rie_part")
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "a", "b", "c", "d", "e")
    with runtime.serving() as url:
        server.register_function(name, url)
        with mapping(
            lam,
            FunctionName=name,
            EventSourceArn=arn,
            FunctionResponseTypes=["ReportBatchItemFailures"],
        ):
            wait_until(lambda: len(runtime.received()) >= 2, what="the retry")
            put(ddb, table, "f")
            wait_until(lambda: len(runtime.received()) >= 3, what="the next batch")
    events = [call.event for call in runtime.received()]
    assert len(events) == 3
    assert keys_of(events[0]) == ["a", "b", "c", "d", "e"]
    assert events[1]["Records"] == events[0]["Records"][2:]
    assert keys_of(events[2]) == ["f"]


# -------------------------------------------------------------------- cmd targets


def test_command_target_gets_the_event_on_stdin(
    server: Server, ddb: Any, raw: RawClient, lam: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out with space.jsonl"
    name = unique("cmd")
    server.register_function(name, echo_command(out), timeout=10)
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "a", "b", "c")
    with mapping(lam, FunctionName=name, EventSourceArn=arn, BatchSize=2) as esm:
        wait_until(lambda: len(read_deliveries(out)) >= 3, what="three lines")
        wait_until(
            lambda: lam.get_event_source_mapping(UUID=esm)["LastProcessingResult"] == "OK",
            what="LastProcessingResult OK",
        )
    lines = read_deliveries(out)
    stream = read_stream(raw, arn)
    assert [(line["seq"], line["key"]) for line in lines] == [
        (r["dynamodb"]["SequenceNumber"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in stream
    ]
    assert {line["ppid"] for line in lines} == {os.getpid()}


def test_command_exiting_non_zero_is_a_function_error(
    server: Server, ddb: Any, raw: RawClient, lam: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    name = unique("cmd_exit")
    server.register_function(name, echo_command(out, "--exit-code", "3"), timeout=10)
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "a", "b")
    with mapping(lam, FunctionName=name, EventSourceArn=arn, MaximumRetryAttempts=1) as esm:
        [letter] = wait_until(lambda: dead_letters(raw, esm), what="the dead letter")
    assert [line["key"] for line in read_deliveries(out)] == ["a", "b", "a", "b"]  # one retry
    record = letter["Record"]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"]["functionError"] == "Unhandled"


def _leftover_children(marker: str, pids: set[int]) -> list[int]:
    """Children of this process (the embedded server's) that are an attempt of the hung
    command: a pid it wrote, ``marker`` in the command line, or a zombie (unreaped)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if (
                child.pid in pids
                or child.status() == psutil.STATUS_ZOMBIE
                or any(marker in part for part in child.cmdline())
            ):
                found.append(child.pid)
        except psutil.ZombieProcess:
            found.append(child.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def _is_not_ours(pid: int) -> bool:
    """A pid of an attempt that now belongs to an unrelated process (pid reuse)."""
    try:
        return psutil.Process(pid).ppid() != os.getpid()
    except psutil.NoSuchProcess:
        return True


def test_hung_command_is_killed_at_the_timeout_and_retried(
    server: Server, ddb: Any, lam: Any, tmp_path: Path
) -> None:
    out, pid_file = tmp_path / "out.jsonl", tmp_path / f"{unique('pids')}.txt"
    name = unique("cmd_hang")
    command = echo_command(out, "--hang", "30", "--pid-file", str(pid_file))
    server.register_function(name, command, timeout=0.5)
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "a")

    def pids() -> list[int]:
        if not pid_file.exists():
            return []
        return [int(p) for p in pid_file.read_text().split("\n")[:-1]]

    with mapping(lam, FunctionName=name, EventSourceArn=arn) as esm:
        wait_until(lambda: len(pids()) >= 2, what="a retry after the timeout")
        first = pids()[0]
        # the timed-out process was killed and reaped: no zombie, no process
        wait_until(lambda: first not in _leftover_children(str(pid_file), set()), what="kill")
        result = lam.get_event_source_mapping(UUID=esm)["LastProcessingResult"]
        assert result == (
            "PROBLEM: Function call failed (Sandbox.Timedout: Task timed out after 0.50 seconds)"
        )
    # deleting the mapping kills the attempt in flight too
    wait_until(lambda: not _leftover_children(str(pid_file), set(pids())), what="no attempt left")
    assert all(not psutil.pid_exists(pid) or _is_not_ours(pid) for pid in pids())
    assert read_deliveries(out) == []


# --------------------------------------------------------- unacceptable responses


def _scripted(server: Server, plan: list[Any]) -> str:
    name = unique("scr")
    handlers.PLANS[name] = plan
    server.register_function(name, f"{HANDLERS}:scripted")
    return name


def test_unserialisable_response_is_a_function_error(server: Server, ddb: Any, lam: Any) -> None:
    name = _scripted(server, [object()])
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "a", "b")
    with mapping(lam, FunctionName=name, EventSourceArn=arn):
        wait_until(lambda: len(handlers.calls(name)) >= 2, what="the retry")
        put(ddb, table, "c")
        wait_until(lambda: len(handlers.calls(name)) >= 3, what="the next batch")
    calls = handlers.calls(name)
    assert len(calls) == 3
    assert calls[0] == calls[1]
    assert keys_of(calls[0]) == ["a", "b"]
    assert keys_of(calls[2]) == ["c"]


BAD_REPORTS = {
    "not-a-list": {"batchItemFailures": "nope"},
    "unknown-item": {"batchItemFailures": [{"itemIdentifier": "99999999999999999999999999"}]},
    "empty-item": {"batchItemFailures": [{"itemIdentifier": ""}]},
    "wrong-key": {"batchItemFailures": [{"itemId": "1"}]},
    "not-an-object": ["nope"],
}


@pytest.mark.parametrize("response", BAD_REPORTS.values(), ids=BAD_REPORTS.keys())
def test_malformed_batch_item_failures_fail_the_whole_batch(
    server: Server, ddb: Any, lam: Any, response: Any
) -> None:
    name = _scripted(server, [response])
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "a", "b", "c")
    with mapping(
        lam,
        FunctionName=name,
        EventSourceArn=arn,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    ):
        wait_until(lambda: len(handlers.calls(name)) >= 2, what="the retry")
        put(ddb, table, "d")
        wait_until(lambda: len(handlers.calls(name)) >= 3, what="the next batch")
    calls = handlers.calls(name)
    assert len(calls) == 3
    assert keys_of(calls[0]) == ["a", "b", "c"]
    assert calls[1] == calls[0]  # retried from the start of the batch
    assert keys_of(calls[2]) == ["d"]


GOOD_REPORTS = {
    "empty-list": {"batchItemFailures": []},
    "null-list": {"batchItemFailures": None},
    "none": None,
    "empty-object": {},
}


@pytest.mark.parametrize("response", GOOD_REPORTS.values(), ids=GOOD_REPORTS.keys())
def test_batch_item_failures_meaning_success(
    server: Server, ddb: Any, lam: Any, response: Any
) -> None:
    name = _scripted(server, [response, response])
    table, arn = create_stream_table(ddb, range_key=None)
    put(ddb, table, "a", "b")
    with mapping(
        lam,
        FunctionName=name,
        EventSourceArn=arn,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    ):
        wait_until(lambda: handlers.calls(name), what="the first invocation")
        put(ddb, table, "c")
        wait_until(lambda: len(handlers.calls(name)) >= 2, what="the next batch")
    assert [keys_of(e) for e in handlers.calls(name)] == [["a", "b"], ["c"]]


# ------------------------------------------------------- command line, trigger file


@contextlib.contextmanager
def running(data_dir: Path, *flags: str) -> Iterator[ServerProcess]:
    """A real server process, SIGKILLed on exit if it is still running."""
    proc = start_server(data_dir, *flags)
    try:
        yield proc
    finally:
        if proc.proc.poll() is None:
            proc.kill9()


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def test_trigger_file_binds_a_table_created_after_start(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    table = unique("Orders")
    triggers = tmp_path / "triggers.toml"
    triggers.write_text(
        f"[functions]\nrec = {toml_string(echo_command(out))}\n\n"
        f'[[trigger]]\ntable = "{table}"\nfunction = "rec"\nbatch_size = 5\n'
    )
    with running(tmp_path / "data", "--triggers", str(triggers)) as proc:
        ddb = make_client(proc.endpoint)
        _, arn = create_stream_table(ddb, range_key=None, name=table)
        keys = [f"o{i}" for i in range(12)]
        put(ddb, table, *keys)
        wait_until(lambda: len(read_deliveries(out)) >= 12, what="12 lines")
        listed = make_client(proc.endpoint, "lambda").list_event_source_mappings()
        stream = read_stream(RawClient(proc.endpoint), arn)
        log = proc.log()
    lines = read_deliveries(out)
    assert [line["key"] for line in lines] == keys, log
    assert [line["seq"] for line in lines] == [r["dynamodb"]["SequenceNumber"] for r in stream]
    assert {line["ppid"] for line in lines} == {proc.proc.pid}
    [esm] = listed["EventSourceMappings"]
    assert esm["EventSourceArn"] == arn
    assert esm["FunctionArn"] == function_arn("rec")
    assert esm["BatchSize"] == 5
    assert esm["StartingPosition"] == "TRIM_HORIZON"


def test_function_flag_and_mapping_through_the_lambda_api(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with running(tmp_path / "data", "--function", f"rec={echo_command(out)}") as proc:
        ddb, lam = make_client(proc.endpoint), make_client(proc.endpoint, "lambda")
        table, arn = create_stream_table(ddb, range_key=None)
        put(ddb, table, "a", "b")
        created = lam.create_event_source_mapping(
            FunctionName="rec", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=1
        )
        put(ddb, table, "c")
        wait_until(lambda: len(read_deliveries(out)) >= 3, what="3 lines")
        log = proc.log()
    assert created["FunctionArn"] == function_arn("rec")
    assert [line["key"] for line in read_deliveries(out)] == ["a", "b", "c"], log


BAD_TRIGGER_FILES = {
    "unknown-key": (
        '[functions]\nrec = "cmd:true"\n[[trigger]]\ntable = "Orders"\nfunction = "rec"\n'
        "bach_size = 5\n",
        "bach_size",
    ),
    "toml-syntax": ('[functions]\nrec = "cmd:true"\n[[trigger]\ntable = \n', "triggers.toml"),
    "unknown-function": ('[[trigger]]\ntable = "Orders"\nfunction = "nope"\n', "nope"),
    "batch-size-zero": (
        '[functions]\nrec = "cmd:true"\n[[trigger]]\ntable = "Orders"\nfunction = "rec"\n'
        "batch_size = 0\n",
        "batchSize",
    ),
    "bad-target": (
        '[functions]\nrec = "foo:bar"\n[[trigger]]\ntable = "Orders"\nfunction = "rec"\n',
        "foo:bar",
    ),
}


@pytest.mark.parametrize(
    ("text", "mentions"), BAD_TRIGGER_FILES.values(), ids=BAD_TRIGGER_FILES.keys()
)
def test_bad_trigger_file_stops_the_server_with_one_line(
    tmp_path: Path, text: str, mentions: str
) -> None:
    path = tmp_path / "triggers.toml"
    path.write_text(text)
    command = [sys.executable, "-m", "dynoxide_streams", "serve", "--triggers", str(path)]
    result = subprocess.run(
        [*command, "--port", str(free_port()), "--in-memory"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dynoxide-streams: ")
    assert mentions in lines[0]
