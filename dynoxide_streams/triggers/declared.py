"""Triggers and functions declared in a TOML file (``serve --triggers FILE``).

    [functions]
    orders = "python:app.handlers:on_order"
    rie = { target = "http://127.0.0.1:9000/2015-03-31/functions/function/invocations", timeout = 10 }

    [[trigger]]
    table = "Orders"                 # or event_source_arn = "arn:aws:dynamodb:…/stream/…"
    function = "orders"
    batch_size = 10
    starting_position = "TRIM_HORIZON"
    filters = ['{"eventName": ["INSERT"]}']
    on_failure = "http://127.0.0.1:9001/dlq"
    function_response_types = ["ReportBatchItemFailures"]

Trigger keys are CreateEventSourceMapping parameters, in snake_case or as AWS spells
them (``BatchSize``), plus ``table``, ``filters`` (a list of pattern strings or
tables) and ``on_failure`` (a destination ARN or URL) as shorthands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

_NAMES = {
    "function": "FunctionName",
    "function_name": "FunctionName",
    "event_source_arn": "EventSourceArn",
    "starting_position": "StartingPosition",
    "enabled": "Enabled",
    "batch_size": "BatchSize",
    "maximum_batching_window_in_seconds": "MaximumBatchingWindowInSeconds",
    "batching_window": "MaximumBatchingWindowInSeconds",
    "parallelization_factor": "ParallelizationFactor",
    "maximum_record_age_in_seconds": "MaximumRecordAgeInSeconds",
    "maximum_retry_attempts": "MaximumRetryAttempts",
    "bisect_batch_on_function_error": "BisectBatchOnFunctionError",
    "destination_config": "DestinationConfig",
    "function_response_types": "FunctionResponseTypes",
    "filter_criteria": "FilterCriteria",
    "tumbling_window_in_seconds": "TumblingWindowInSeconds",
}
AWS_NAMES = frozenset(_NAMES.values())


class TriggerFileError(Exception):
    """The trigger file cannot be used (the message says where and why)."""


@dataclass
class TriggerSpec:
    """One declared trigger: a table name or a stream ARN, and the other parameters."""

    table: str | None
    params: dict[str, Any]


@dataclass
class FunctionSpec:
    name: str
    target: str
    timeout: float | None = None


@dataclass
class TriggerFile:
    functions: list[FunctionSpec] = field(default_factory=list)
    triggers: list[TriggerSpec] = field(default_factory=list)


def trigger_params(raw: dict[str, Any], where: str = "trigger") -> TriggerSpec:
    """Normalise one trigger declaration (snake_case or AWS names, shorthands)."""
    params: dict[str, Any] = {}
    table: str | None = None
    for key, value in raw.items():
        if key == "table":
            if not isinstance(value, str) or not value:
                raise TriggerFileError(f"{where}: table must be a table name")
            table = value
        elif key == "filters":
            if not isinstance(value, list):
                raise TriggerFileError(f"{where}: filters must be a list of patterns")
            params["FilterCriteria"] = {
                "Filters": [
                    {"Pattern": p if isinstance(p, str) else orjson.dumps(p).decode()}
                    for p in value
                ]
            }
        elif key == "on_failure":
            params["DestinationConfig"] = {"OnFailure": {"Destination": value}}
        elif key in _NAMES:
            params[_NAMES[key]] = value
        elif key in AWS_NAMES:
            params[key] = value
        else:
            raise TriggerFileError(f"{where}: unknown key {key!r}")
    if "FunctionName" not in params:
        raise TriggerFileError(f"{where}: function is required")
    if (table is None) == ("EventSourceArn" not in params):
        raise TriggerFileError(f"{where}: give exactly one of table or event_source_arn")
    return TriggerSpec(table, params)


def parse_trigger_file(text: str, where: str = "triggers file") -> TriggerFile:
    """Parse the TOML text of a trigger file. Raises TriggerFileError."""
    import tomllib  # imported here: a plain `serve` reads no TOML

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TriggerFileError(f"{where}: {exc}") from None
    unknown = set(data) - {"functions", "trigger"}
    if unknown:
        raise TriggerFileError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}")
    return parse_trigger_data(data, where)


def parse_trigger_data(data: dict[str, Any], where: str) -> TriggerFile:
    """The ``[functions]`` and ``[[trigger]]`` tables of parsed TOML (a trigger file
    or the config file). Raises TriggerFileError."""
    out = TriggerFile()
    functions = data.get("functions", {})
    if not isinstance(functions, dict):
        raise TriggerFileError(f"{where}: [functions] must be a table")
    for name, value in functions.items():
        if isinstance(value, str):
            out.functions.append(FunctionSpec(name, value))
        elif isinstance(value, dict) and isinstance(value.get("target"), str):
            extra = set(value) - {"target", "timeout"}
            if extra:
                raise TriggerFileError(
                    f"{where}: functions.{name}: unknown key(s) {', '.join(sorted(extra))}"
                )
            timeout = value.get("timeout")
            if timeout is not None and (
                not isinstance(timeout, (int, float)) or isinstance(timeout, bool)
            ):
                raise TriggerFileError(f"{where}: functions.{name}.timeout must be a number")
            out.functions.append(FunctionSpec(name, value["target"], timeout))
        else:
            raise TriggerFileError(
                f"{where}: functions.{name} must be a target string or {{ target = ... }}"
            )
    triggers = data.get("trigger", [])
    if not isinstance(triggers, list):
        raise TriggerFileError(f"{where}: use [[trigger]] tables")
    for index, raw in enumerate(triggers):
        if not isinstance(raw, dict):
            raise TriggerFileError(f"{where}: trigger {index + 1} must be a table ([[trigger]])")
        out.triggers.append(trigger_params(raw, f"{where}: trigger {index + 1}"))
    return out


def load_trigger_file(path: Path) -> TriggerFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TriggerFileError(f"cannot read {path}: {exc.strerror}") from None
    return parse_trigger_file(text, str(path))


def parse_function_flag(value: str) -> FunctionSpec:
    """``NAME=TARGET`` from ``--function``."""
    name, sep, target = value.partition("=")
    name, target = name.strip(), target.strip()
    if not sep or not name or not target:
        raise TriggerFileError(f"--function {value!r}: expected NAME=TARGET")
    return FunctionSpec(name, target)
