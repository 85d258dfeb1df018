"""Triggers and functions declared in a TOML file and on the command line
(dynoxide_streams/triggers/declared): accepted forms, normalisation to
CreateEventSourceMapping parameters, and every error a user can make."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from dynoxide_streams.triggers.declared import (
    FunctionSpec,
    TriggerFile,
    TriggerFileError,
    TriggerSpec,
    load_trigger_file,
    parse_function_flag,
    parse_trigger_file,
)
from dynoxide_streams.triggers.mappings import check_create

STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/Orders/stream/2024-01-01T00:00:00.000"
RIE = "http://127.0.0.1:9000/2015-03-31/functions/function/invocations"


def test_full_file_with_every_accepted_form() -> None:
    text = f"""
[functions]
orders = "python:app.handlers:on_order"
rie = {{ target = "{RIE}", timeout = 10 }}
slow = {{ target = "cmd:./handle.sh", timeout = 2.5 }}
plain = {{ target = "http://127.0.0.1:9001/" }}

[[trigger]]
table = "Orders"
function = "orders"
batch_size = 10
starting_position = "LATEST"
filters = ['{{"eventName": ["INSERT"]}}', {{ dynamodb = {{ Keys = {{ Id = {{ N = ["1"] }} }} }} }}]
on_failure = "http://127.0.0.1:9001/dlq"
function_response_types = ["ReportBatchItemFailures"]
bisect_batch_on_function_error = true
maximum_retry_attempts = 2
maximum_record_age_in_seconds = 3600
parallelization_factor = 4
batching_window = 1
tumbling_window_in_seconds = 30
enabled = false

[[trigger]]
EventSourceArn = "{STREAM}"
FunctionName = "rie"
BatchSize = 5
MaximumBatchingWindowInSeconds = 2
DestinationConfig = {{ OnFailure = {{ Destination = "arn:aws:sqs:us-east-1:000000000000:q" }} }}
FilterCriteria = {{ Filters = [{{ Pattern = '{{"eventName": ["REMOVE"]}}' }}] }}
"""
    parsed = parse_trigger_file(text)
    assert parsed.functions == [
        FunctionSpec("orders", "python:app.handlers:on_order", None),
        FunctionSpec("rie", RIE, 10),
        FunctionSpec("slow", "cmd:./handle.sh", 2.5),
        FunctionSpec("plain", "http://127.0.0.1:9001/", None),
    ]
    first, second = parsed.triggers
    assert first.table == "Orders"
    assert first.params == {
        "FunctionName": "orders",
        "BatchSize": 10,
        "StartingPosition": "LATEST",
        "FilterCriteria": {
            "Filters": [
                {"Pattern": '{"eventName": ["INSERT"]}'},
                {"Pattern": '{"dynamodb":{"Keys":{"Id":{"N":["1"]}}}}'},
            ]
        },
        "DestinationConfig": {"OnFailure": {"Destination": "http://127.0.0.1:9001/dlq"}},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": 2,
        "MaximumRecordAgeInSeconds": 3600,
        "ParallelizationFactor": 4,
        "MaximumBatchingWindowInSeconds": 1,
        "TumblingWindowInSeconds": 30,
        "Enabled": False,
    }
    # A table given as a TOML table is the same pattern as its JSON text.
    table_pattern = first.params["FilterCriteria"]["Filters"][1]["Pattern"]
    assert orjson.loads(table_pattern) == {"dynamodb": {"Keys": {"Id": {"N": ["1"]}}}}
    assert second == TriggerSpec(
        None,
        {
            "EventSourceArn": STREAM,
            "FunctionName": "rie",
            "BatchSize": 5,
            "MaximumBatchingWindowInSeconds": 2,
            "DestinationConfig": {
                "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}
            },
            "FilterCriteria": {"Filters": [{"Pattern": '{"eventName": ["REMOVE"]}'}]},
        },
    )
    # The normalised parameters are valid CreateEventSourceMapping parameters.
    check_create({**first.params, "EventSourceArn": STREAM})
    check_create({**second.params, "StartingPosition": "TRIM_HORIZON"})


def test_long_snake_case_names() -> None:
    parsed = parse_trigger_file(
        f"""
[[trigger]]
event_source_arn = "{STREAM}"
function_name = "f"
maximum_batching_window_in_seconds = 3
destination_config = {{ OnFailure = {{ Destination = "http://127.0.0.1:1/x" }} }}
filter_criteria = {{ Filters = [] }}
"""
    )
    assert parsed.triggers == [
        TriggerSpec(
            None,
            {
                "EventSourceArn": STREAM,
                "FunctionName": "f",
                "MaximumBatchingWindowInSeconds": 3,
                "DestinationConfig": {"OnFailure": {"Destination": "http://127.0.0.1:1/x"}},
                "FilterCriteria": {"Filters": []},
            },
        )
    ]


def test_empty_file_and_functions_only() -> None:
    assert parse_trigger_file("") == TriggerFile([], [])
    assert parse_trigger_file('[functions]\nf = "python:m:h"\n') == TriggerFile(
        [FunctionSpec("f", "python:m:h")], []
    )


def test_load_trigger_file_reads_a_path_and_names_it_in_errors(tmp_path: Path) -> None:
    good = tmp_path / "triggers.toml"
    good.write_text('[[trigger]]\ntable = "Orders"\nfunction = "f"\n', encoding="utf-8")
    assert load_trigger_file(good).triggers == [TriggerSpec("Orders", {"FunctionName": "f"})]
    bad = tmp_path / "bad.toml"
    bad.write_text("[nope]\n", encoding="utf-8")
    with pytest.raises(TriggerFileError, match=r"bad\.toml: unknown section\(s\) nope"):
        load_trigger_file(bad)
    with pytest.raises(TriggerFileError, match=r"cannot read .*missing\.toml"):
        load_trigger_file(tmp_path / "missing.toml")


# ------------------------------------------------------------------- errors


def error(text: str) -> str:
    with pytest.raises(TriggerFileError) as caught:
        parse_trigger_file(text, "t.toml")
    return str(caught.value)


def test_toml_syntax_error() -> None:
    message = error("[[trigger]\ntable = ")
    assert message.startswith("t.toml: ")
    assert "line 1" in message


def test_unknown_sections() -> None:
    assert error('[function]\nf = "x"\n[triggers]\n') == (
        "t.toml: unknown section(s) function, triggers"
    )
    assert error('title = "x"\n') == "t.toml: unknown section(s) title"


def test_unknown_trigger_key() -> None:
    text = '[[trigger]]\ntable = "T"\nfunction = "f"\n\n[[trigger]]\ntable = "T"\nfunction = "f"\nbatchsize = 1\n'
    assert error(text) == "t.toml: trigger 2: unknown key 'batchsize'"


def test_missing_function() -> None:
    assert error('[[trigger]]\ntable = "T"\nbatch_size = 1\n') == (
        "t.toml: trigger 1: function is required"
    )


@pytest.mark.parametrize(
    "where",
    [
        'table = "T"\nevent_source_arn = "arn:aws:dynamodb:us-east-1:0:table/T/stream/x"\n',
        'table = "T"\nEventSourceArn = "arn:aws:dynamodb:us-east-1:0:table/T/stream/x"\n',
        "",
    ],
    ids=["both", "both-aws-cased", "neither"],
)
def test_exactly_one_of_table_or_event_source_arn(where: str) -> None:
    assert error(f'[[trigger]]\nfunction = "f"\n{where}') == (
        "t.toml: trigger 1: give exactly one of table or event_source_arn"
    )


@pytest.mark.parametrize("table", ['""', "5"])
def test_bad_table_name(table: str) -> None:
    assert error(f'[[trigger]]\nfunction = "f"\ntable = {table}\n') == (
        "t.toml: trigger 1: table must be a table name"
    )


def test_filters_must_be_a_list() -> None:
    text = '[[trigger]]\nfunction = "f"\ntable = "T"\nfilters = \'{"eventName": ["INSERT"]}\'\n'
    assert error(text) == "t.toml: trigger 1: filters must be a list of patterns"


@pytest.mark.parametrize("timeout", ['"5"', "true", "[1]"])
def test_bad_function_timeout(timeout: str) -> None:
    assert error(f'[functions]\nf = {{ target = "x", timeout = {timeout} }}\n') == (
        "t.toml: functions.f.timeout must be a number"
    )


@pytest.mark.parametrize("value", ["5", "{ timeout = 1 }", "{ target = 5 }", '["x"]'])
def test_bad_function_entry(value: str) -> None:
    assert error(f"[functions]\nf = {value}\n") == (
        "t.toml: functions.f must be a target string or { target = ... }"
    )


def test_functions_must_be_a_table() -> None:
    assert error('functions = "x"\n') == "t.toml: [functions] must be a table"


def test_trigger_must_be_an_array_of_tables() -> None:
    assert error('[trigger]\ntable = "T"\nfunction = "f"\n') == "t.toml: use [[trigger]] tables"


@pytest.mark.parametrize("value", ['["Orders"]', '[{ table = "T", function = "f" }, 5]'])
def test_trigger_entries_that_are_not_tables_are_a_file_error(value: str) -> None:
    # Must be reported as a TriggerFileError (which serve prints), not crash with another error.
    message = error(f"trigger = {value}\n")
    assert message.startswith("t.toml: ")


# ---------------------------------------------------------------- --function


@pytest.mark.parametrize(
    ("flag", "name", "target"),
    [
        ("orders=python:app.handlers:on_order", "orders", "python:app.handlers:on_order"),
        (f"rie={RIE}", "rie", RIE),
        ("q=http://127.0.0.1:9/x?a=b&c=d", "q", "http://127.0.0.1:9/x?a=b&c=d"),
        ("run=cmd:python -c 'print(1)'", "run", "cmd:python -c 'print(1)'"),
        (" spaced = cmd:./x.sh ", "spaced", "cmd:./x.sh"),
    ],
)
def test_parse_function_flag(flag: str, name: str, target: str) -> None:
    assert parse_function_flag(flag) == FunctionSpec(name, target, None)


@pytest.mark.parametrize("flag", ["orders", "=python:m:h", "orders=", "", "="])
def test_parse_function_flag_errors(flag: str) -> None:
    with pytest.raises(TriggerFileError) as caught:
        parse_function_flag(flag)
    assert str(caught.value) == f"--function {flag!r}: expected NAME=TARGET"


@pytest.mark.parametrize("flag", [" =python:m:h", "orders=  ", " = "])
def test_parse_function_flag_rejects_blank_name_or_target(flag: str) -> None:
    with pytest.raises(TriggerFileError):
        parse_function_flag(flag)
