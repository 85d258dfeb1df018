"""Triggers say what went wrong, through the console script a user runs:
``python:package.module:handler`` resolves relative to the working directory (or
``--app-dir``), a failing handler is logged at WARNING once per failure streak with the
mapping, function, error and the decision taken (the traceback and the later attempts
at DEBUG), and the dead letter, ``GET /_admin/triggers/dead-letters`` and
``LastProcessingResult`` carry the error's type and message.

The server is the installed ``dynoxide-streams`` script (not ``python -m``, which would
put the working directory on ``sys.path`` by itself), with ``PYTHONPATH`` naming only
this checkout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import make_client
from tests.polling import wait_until
from tests.process import free_port, wait_healthy

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "dynoxide-streams"

HANDLERS = """\
import json
from pathlib import Path

RAN = Path(__file__).resolve().parent.parent / "ran.jsonl"


def handler(event, context):
    with RAN.open("a") as out:
        for record in event["Records"]:
            out.write(json.dumps(record["dynamodb"]["Keys"]) + "\\n")


def broken(event, context):
    raise ValueError("boom")
"""


def make_app(root: Path) -> Path:
    """``root/app/handlers.py`` (a package); returns ``root``."""
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "handlers.py").write_text(HANDLERS)
    return root


@contextmanager
def console_script(cwd: Path, *args: str) -> Iterator[tuple[str, Path]]:
    """``dynoxide-streams serve --in-memory --log-format json ARGS`` started in ``cwd``;
    yields its endpoint and log file, stops it with SIGTERM."""
    port = free_port()
    log_path = cwd.parent / f"serve-{port}.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    command = [str(SCRIPT), "serve", "--port", str(port), "--in-memory", "--log-format", "json"]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [*command, *args], cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(endpoint, proc)
        yield endpoint, log_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def log_records(log_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def events(log_path: Path, name: str) -> list[dict[str, Any]]:
    """The log records of event ``name``, without their timestamps."""
    found = [r for r in log_records(log_path) if r["event"] == name]
    for record in found:
        record.pop("timestamp", None)
    return found


def stream_table(endpoint: str, name: str) -> str:
    """A table with a stream; its stream ARN."""
    ddb = make_client(endpoint)
    description = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    arn: str = description["LatestStreamArn"]
    return arn


def map_function(endpoint: str, function: str, arn: str, **params: Any) -> str:
    lam = make_client(endpoint, "lambda")
    created = lam.create_event_source_mapping(
        FunctionName=function, EventSourceArn=arn, StartingPosition="TRIM_HORIZON", **params
    )
    uuid: str = created["UUID"]
    return uuid


def dead_letters(endpoint: str, uuid: str) -> list[dict[str, Any]]:
    url = f"{endpoint}/_admin/triggers/dead-letters?uuid={uuid}"
    with urllib.request.urlopen(url, timeout=10) as response:
        letters: list[dict[str, Any]] = json.loads(response.read())["DeadLetters"]
    return letters


def ran(root: Path) -> list[dict[str, Any]]:
    path = root / "ran.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------ --app-dir


def test_a_python_target_resolves_relative_to_the_working_directory(tmp_path: Path) -> None:
    root = make_app(tmp_path / "project")
    with console_script(root, "--function", "fn=python:app.handlers:handler") as (endpoint, _):
        arn = stream_table(endpoint, "orders")
        map_function(endpoint, "fn", arn)
        make_client(endpoint).put_item(TableName="orders", Item={"pk": {"S": "o-1"}})
        assert wait_until(lambda: ran(root), what="the handler's output") == [{"pk": {"S": "o-1"}}]


def test_app_dir_names_where_python_targets_resolve(tmp_path: Path) -> None:
    root = make_app(tmp_path / "elsewhere")
    started_in = tmp_path / "started-here"
    started_in.mkdir()
    with console_script(
        started_in, "--app-dir", str(root), "--function", "fn=python:app.handlers:handler"
    ) as (endpoint, _):
        arn = stream_table(endpoint, "orders")
        map_function(endpoint, "fn", arn)
        make_client(endpoint).put_item(TableName="orders", Item={"pk": {"S": "o-2"}})
        assert wait_until(lambda: ran(root), what="the handler's output") == [{"pk": {"S": "o-2"}}]


# -------------------------------------------------------- failures say what went wrong


def test_a_failing_handler_is_logged_once_per_streak_and_its_dead_letter_names_the_error(
    tmp_path: Path,
) -> None:
    root = make_app(tmp_path / "project")
    problem = "PROBLEM: Function call failed (ValueError: boom)"
    with console_script(root, "--function", "bad=python:app.handlers:broken") as (endpoint, log):
        arn = stream_table(endpoint, "orders")
        uuid = map_function(endpoint, "bad", arn, MaximumRetryAttempts=2)
        make_client(endpoint).put_item(TableName="orders", Item={"pk": {"S": "o-1"}})
        (letter,) = wait_until(lambda: dead_letters(endpoint, uuid), what="the dead letter")
        lam = make_client(endpoint, "lambda")
        wait_until(
            lambda: lam.get_event_source_mapping(UUID=uuid)["LastProcessingResult"] == problem,
            what="LastProcessingResult",
        )
        listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
        assert [m["LastProcessingResult"] for m in listed] == [problem]
        shard = make_client(endpoint, "dynamodbstreams").describe_stream(StreamArn=arn)[
            "StreamDescription"
        ]["Shards"][0]["ShardId"]
    assert letter["Error"] == "ValueError: boom"
    record = letter["Record"]
    assert record["lastError"] == {"errorType": "ValueError", "errorMessage": "boom"}
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    # three failed invocations, one WARNING line: the streak's first, with the decision
    assert events(log, "trigger invocation failed") == [
        {
            "event": "trigger invocation failed",
            "level": "warning",
            "uuid": uuid,
            "function": "bad",
            "shard": shard,
            "lane": 0,
            "error_type": "ValueError",
            "error": "boom",
            "decision": "retry",
            "attempt": 1,
            "records": 1,
        }
    ]
    assert events(log, "batch discarded") == [
        {
            "event": "batch discarded",
            "level": "warning",
            "uuid": uuid,
            "function": "bad",
            "condition": "RetryAttemptsExhausted",
            "first": record["DDBStreamBatchInfo"]["startSequenceNumber"],
            "size": 1,
            "error_type": "ValueError",
            "error": "boom",
        }
    ]
    assert events(log, "trigger handler traceback") == []  # DEBUG only


def test_at_debug_every_failure_and_the_handlers_traceback_are_logged(tmp_path: Path) -> None:
    root = make_app(tmp_path / "project")
    with console_script(
        root, "--log-level", "debug", "--function", "bad=python:app.handlers:broken"
    ) as (endpoint, log):
        arn = stream_table(endpoint, "orders")
        uuid = map_function(endpoint, "bad", arn, MaximumRetryAttempts=2)
        make_client(endpoint).put_item(TableName="orders", Item={"pk": {"S": "o-1"}})
        wait_until(lambda: dead_letters(endpoint, uuid), what="the dead letter")
        failed = wait_until(
            lambda: (found := events(log, "trigger invocation failed"))[2:] and found,
            what="three failure lines",
        )
    assert [(r["level"], r.get("streak"), r["decision"], r["attempt"]) for r in failed] == [
        ("warning", None, "retry", 1),
        ("debug", 2, "retry", 2),
        ("debug", 3, "dead-letter", 3),
    ]
    tracebacks = events(log, "trigger handler traceback")
    assert len(tracebacks) == 3
    for line in tracebacks:
        assert line["level"] == "debug"
        assert line["uuid"] == uuid and line["function"] == "bad"
        assert line["traceback"].startswith("Traceback (most recent call last):")
        assert 'raise ValueError("boom")' in line["traceback"]
        assert line["traceback"].endswith("ValueError: boom\n")
