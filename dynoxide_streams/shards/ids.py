"""Identifiers in AWS's formats: stream labels and ARNs, shard ids, sequence numbers.

* Stream label: ISO-8601 UTC with milliseconds, no zone (``2015-05-20T20:51:10.252``).
* Stream ARN: ``arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>``.
* ShardId: ``shardId-`` + 20 digits (the shard's creation time in epoch ms, strictly
  increasing within a stream so ids sort in creation order) + ``-`` + 8 hex digits.
* SequenceNumber: a decimal string of 21 to 40 digits; the n-th number of a stream is
  ``SEQUENCE_BASE + n``, so numbers rise strictly within a shard and from a parent
  shard to its child (a stream is one lineage of shards sharing one counter).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

SEQUENCE_BASE = 10**20  # 21 digits from the first number on
MAX_SEQUENCE_DIGITS = 40

_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:dynamodb:(?P<region>[a-z0-9-]*):(?P<account>[0-9]*):"
    r"table/(?P<table>[a-zA-Z0-9_.-]{3,255})/stream/(?P<label>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})"
)
_SEQUENCE = re.compile(r"[0-9]{21,40}")


def stream_label(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def stream_arn(region: str, account: str, table: str, label: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{table}/stream/{label}"


def parse_stream_arn(arn: str) -> tuple[str, str] | None:
    """(table, label) of a well-formed stream ARN, or None."""
    match = _ARN.fullmatch(arn)
    return None if match is None else (match.group("table"), match.group("label"))


def shard_id(created_ms: int, stream_arn: str, ordinal: int) -> str:
    suffix = hashlib.blake2b(f"{stream_arn}#{ordinal}".encode(), digest_size=4).hexdigest()
    return f"shardId-{created_ms:020d}-{suffix}"


def sequence_number(n: int) -> str:
    """The wire form of the stream's n-th sequence number."""
    return str(SEQUENCE_BASE + n)


def is_sequence_number(text: object) -> bool:
    """Whether ``text`` has the wire form of a sequence number (21 to 40 digits)."""
    return isinstance(text, str) and _SEQUENCE.fullmatch(text) is not None


def parse_sequence_number(text: str) -> int | None:
    """The counter value of a wire sequence number, or None if it is malformed."""
    if not isinstance(text, str) or not _SEQUENCE.fullmatch(text):
        return None
    value = int(text) - SEQUENCE_BASE
    return value if value >= 0 else None


_MIX = 0x9E3779B97F4A7C15F39CC0605CEDC835  # odd: n -> salt + n * _MIX is one-to-one


def event_salt(stream_arn: str) -> int:
    """A per-stream constant for :func:`event_id` (compute once per stream)."""
    return int.from_bytes(hashlib.blake2b(stream_arn.encode(), digest_size=16).digest(), "big")


def event_id(salt: int, n: int) -> str:
    """A stable 32-hex-digit eventID for the stream's n-th record, unique within the
    stream (an odd multiplier modulo 2**128 is a bijection) and random-looking."""
    return f"{(salt + n * _MIX) & ((1 << 128) - 1):032x}"
