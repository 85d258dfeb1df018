"""The JSON a Lambda function sees: DynamoDB stream events and on-failure records.

Pure functions. A Lambda-format record differs from a GetRecords record in two
places only: it carries ``eventSourceARN`` (the stream ARN) and its ``userIdentity``
(TTL deletes) is camelCase — ``{"type": "Service", "principalId": ...}``.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson


def lambda_record(raw: bytes, stream_arn: str) -> dict[str, Any]:
    """The Lambda event record for one GetRecords-format record (JSON bytes)."""
    source = orjson.loads(raw)
    record: dict[str, Any] = {
        "eventID": source["eventID"],
        "eventName": source["eventName"],
        "eventVersion": source["eventVersion"],
        "eventSource": source["eventSource"],
        "awsRegion": source["awsRegion"],
        "dynamodb": source["dynamodb"],
        "eventSourceARN": stream_arn,
    }
    identity = source.get("userIdentity")
    if identity is not None:
        record["userIdentity"] = {
            "type": identity["Type"],
            "principalId": identity["PrincipalId"],
        }
    return record


def sequence_of(record: dict[str, Any]) -> str:
    seq: str = record["dynamodb"]["SequenceNumber"]
    return seq


def created_at(record: dict[str, Any]) -> float:
    """The record's ApproximateCreationDateTime (epoch seconds)."""
    value: float = record["dynamodb"]["ApproximateCreationDateTime"]
    return value


def iso_seconds(epoch: float) -> str:
    """``2019-11-14T00:13:19Z``."""
    moment = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(epoch: float) -> str:
    """``2019-11-14T00:13:49.717Z``."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stream_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The event of a plain (no tumbling window) invocation."""
    return {"Records": records}


def window_event(
    records: list[dict[str, Any]],
    *,
    window_start: float,
    window_end: float,
    state: dict[str, Any],
    shard_id: str,
    stream_arn: str,
    final: bool,
    terminated_early: bool = False,
) -> dict[str, Any]:
    """The event of a tumbling-window invocation (Records plus the window fields)."""
    return {
        "Records": records,
        "window": {"start": iso_seconds(window_start), "end": iso_seconds(window_end)},
        "state": state,
        "shardId": shard_id,
        "eventSourceARN": stream_arn,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": terminated_early,
    }


def failure_record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    status_code: int,
    function_error: str | None,
    shard_id: str,
    stream_arn: str,
    records: list[dict[str, Any]],
    now: float,
    last_error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """What Lambda sends to an OnFailure destination when it discards a batch.

    ``condition`` is ``RetryAttemptsExhausted`` or ``RecordAgeExceeded``. The records
    themselves are not included (as with SQS/SNS destinations): the batch info says
    where to re-read them. ``last_error`` (type, message) of the last failed
    invocation adds ``lastError`` = ``{"errorType", "errorMessage"}``: not AWS's, the
    one field this server adds (a documented deviation), so a dead letter says what
    went wrong.
    """
    response: dict[str, Any] = {"statusCode": status_code, "executedVersion": "$LATEST"}
    if function_error is not None:
        response["functionError"] = function_error
    first, last = records[0], records[-1]
    record: dict[str, Any] = {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": iso_millis(now),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": sequence_of(first),
            "endSequenceNumber": sequence_of(last),
            "approximateArrivalOfFirstRecord": iso_seconds(created_at(first)),
            "approximateArrivalOfLastRecord": iso_seconds(created_at(last)),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
    if last_error is not None:
        record[LAST_ERROR] = {"errorType": last_error[0], "errorMessage": last_error[1]}
    return record


LAST_ERROR = "lastError"
"""The failure record's one field that AWS's has not: the last error's type and message."""


def type_and_message(error_type: str, message: str) -> str:
    """``TYPE: message``, either part left out when empty."""
    return ": ".join(part for part in (error_type, message) if part)


def error_text(record: dict[str, Any]) -> str | None:
    """``TYPE: message`` of a failure record's ``lastError``; None without one."""
    last = record.get(LAST_ERROR)
    if not isinstance(last, dict):
        return None
    text = type_and_message(str(last.get("errorType") or ""), str(last.get("errorMessage") or ""))
    return text or None


def dead_letter_view(row: tuple[int, str, float, dict[str, Any]]) -> dict[str, Any]:
    """A stored dead letter as the admin API and the MCP tool show it."""
    number, uuid, created, record = row
    return {
        "Id": number,
        "UUID": uuid,
        "Created": created,
        "Error": error_text(record),
        "Record": record,
    }
