"""AWS Signature Version 4 verification: is this request signed by a known key?

:func:`verify` is pure (no I/O, no clock): given a request's method, path, query,
headers and body, the current real time and a key lookup, it returns None for a good
signature or the :class:`~dynoxide_streams.errors.SignatureError` AWS would answer.

It is hand-written because nothing maintained does the job: botocore is only an
optional dependency of dynoxide-streams, and its ``SigV4Auth`` signs requests, it does
not verify them. The algorithm is AWS's (the "Signature Version 4 signing process"):

1. The ``Authorization`` header ``AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/
   aws4_request, SignedHeaders=a;b;c, Signature=HEX`` names the key, the scope and the
   headers that were signed.
2. The canonical request is the method; the path, with dot segments and repeated
   slashes removed, percent-encoded once more as botocore and the JavaScript SDK do for
   every service but S3 (so ``%3A`` in the path as sent is signed as ``%253A``); the
   query pairs decoded, re-encoded (RFC 3986 unreserved characters kept) and sorted;
   each signed header as ``name:value`` with the values of a repeated header joined by
   ``,`` and runs of whitespace folded to one space; the signed header list; the
   payload hash (``x-amz-content-sha256`` when sent, which must then be the body's
   SHA-256 or ``UNSIGNED-PAYLOAD``, else the body's SHA-256).
3. The string to sign is ``AWS4-HMAC-SHA256``, the request time, the scope and the
   canonical request's SHA-256; the signing key is the HMAC chain ``AWS4<secret>`` →
   date → region → service → ``aws4_request``. Signatures are compared in constant time.

The request time is ``x-amz-date`` (``20260101T000000Z``), else the ``Date`` header
(RFC 7231); more than :data:`MAX_SKEW` away from ``now`` is refused. The scope's
service must be the one the endpoint serves (``dynamodb`` for DynamoDB and DynamoDB
Streams, whose botocore model signs as ``dynamodb``; ``lambda`` for Lambda); any region
is accepted (it is part of the signed scope). Presigned URLs (``X-Amz-Signature`` in
the query) are not accepted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from dynoxide_streams.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    SignatureError,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW = timedelta(minutes=15)
"""How far the request time may be from the real time (AWS allows 15 minutes)."""
TIME_FORMAT = "%Y%m%dT%H%M%SZ"

# AWS's texts, as quoted from real answers in public issue threads:
# - MISSING_TOKEN: DynamoDB, 400 (amazon-archives/aws-dynamodb-session-tomcat#42);
#   Lambda, 403 (brefphp/bref#1250).
# - UNKNOWN_KEY: DynamoDB's raw body, 400, no final period (baopham/laravel-dynamodb#228,
#   pynamodb/PynamoDB#603); Lambda's ends with "." and is a 403 (aws/chalice#152,
#   iann0036/iamlive#58).
# - BAD_SIGNATURE: DynamoDB's raw body (ttsuruoka/php-simple-amazon-dynamodb#1).
# - "Signature expired: ... (... - 15 min.)": aws/aws-sdk-js#254 (400); Lambda 403
#   (serverless/serverless#27); "Signature not yet current: ... (... + 5 min.)":
#   serverless/enterprise#11, here with 15 min.
# - "Credential should be scoped to correct service: 'x'. " (InvalidSignatureException):
#   patrobinson/gokini#13; IncompleteSignatureException's "Authorization header requires
#   'Credential' parameter. ..." and "'...' not a valid key=value pair (missing
#   equal-sign) in Authorization header: '...'.": aws/chalice#828, aws/aws-sdk-go#289.
# - Unsourced (written from memory of AWS's wording): the terminator, the 5-element
#   Credential and the scope-date-mismatch texts.
MISSING_TOKEN = "Request is missing Authentication Token"
UNKNOWN_KEY = "The security token included in the request is invalid"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@dataclass(frozen=True)
class Request:
    """What a signature covers. ``raw_path`` is the path as sent (still
    percent-encoded), ``query`` the raw query string without ``?``, ``headers`` the
    header (name, value) pairs in order, names in any case, repeats kept."""

    method: str
    raw_path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes


def verify(
    request: Request,
    *,
    service: str,
    now: datetime,
    secret_for: Callable[[str], str | None],
    unknown_key_message: str = UNKNOWN_KEY,
) -> SignatureError | None:
    """None if ``request`` carries a valid SigV4 signature for ``service`` by a key that
    ``secret_for`` knows (it returns the key's secret, or None), at a time within
    :data:`MAX_SKEW` of ``now`` (aware); otherwise the error AWS answers:
    MissingAuthenticationTokenException (no ``Authorization``),
    IncompleteSignatureException (a malformed one), UnrecognizedClientException (an
    unknown key; ``unknown_key_message`` is its text, which differs between AWS
    services) or InvalidSignatureException (a wrong scope, time or signature)."""
    headers = _header_map(request.headers)
    authorization = ",".join(headers.get("authorization", []))
    if not authorization:
        return MissingAuthenticationTokenException(MISSING_TOKEN)
    parsed = _parse_authorization(authorization)
    if isinstance(parsed, SignatureError):
        return parsed
    credential, signed_headers, signature = parsed
    amz_date = _request_time(headers)
    if amz_date is None:
        return IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a "
            f"'Date' header. Authorization={authorization}"
        )
    parts = credential.split("/")
    if len(parts) != 5:
        return IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{credential}'"
        )
    key_id, scope_date, region, scope_service, terminator = parts
    secret = secret_for(key_id)
    if secret is None:
        return UnrecognizedClientException(unknown_key_message)
    if scope_service != service:
        return InvalidSignatureException(
            f"Credential should be scoped to correct service: '{service}'. "
        )
    if terminator != "aws4_request":
        return InvalidSignatureException(
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            f"not '{terminator}'. "
        )
    stamp, when = amz_date
    shown_now = now.astimezone(UTC).strftime(TIME_FORMAT)
    if when < now - MAX_SKEW:
        limit = (now - MAX_SKEW).astimezone(UTC).strftime(TIME_FORMAT)
        return InvalidSignatureException(
            f"Signature expired: {stamp} is now earlier than {limit} ({shown_now} - 15 min.)"
        )
    if when > now + MAX_SKEW:
        limit = (now + MAX_SKEW).astimezone(UTC).strftime(TIME_FORMAT)
        return InvalidSignatureException(
            f"Signature not yet current: {stamp} is still later than {limit} "
            f"({shown_now} + 15 min.)"
        )
    if scope_date != stamp[:8]:
        return InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
            f"date from HTTP: '{scope_date}' != '{stamp[:8]}', from '{stamp}'."
        )
    payload_hash = _payload_hash(headers, request.body)
    if payload_hash is None:
        return InvalidSignatureException(BAD_SIGNATURE)
    canonical = canonical_request(request, headers, signed_headers, payload_hash)
    scope = f"{scope_date}/{region}/{scope_service}/aws4_request"
    expected = signature_of(secret, stamp, scope, canonical)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return InvalidSignatureException(BAD_SIGNATURE)
    return None


def signature_of(secret: str, stamp: str, scope: str, canonical: str) -> str:
    """The hex signature of a canonical request at ``stamp`` (``20260101T000000Z``)
    in ``scope`` (``date/region/service/aws4_request``) with ``secret``."""
    string_to_sign = "\n".join(
        [ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_request(
    request: Request,
    headers: dict[str, list[str]],
    signed_headers: str,
    payload_hash: str,
) -> str:
    """The canonical request of ``request`` over the ``;``-separated
    ``signed_headers`` (``headers``: :func:`_header_map` of its headers)."""
    lines = [
        request.method.upper(),
        canonical_uri(request.raw_path),
        canonical_query(request.query),
    ]
    for name in signed_headers.split(";"):
        values = headers.get(name, [])
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}")
    lines += ["", signed_headers, payload_hash]
    return "\n".join(lines)


def canonical_uri(raw_path: str) -> str:
    """The path as signed: dot segments and empty segments removed (a trailing slash
    kept), then percent-encoded once more, ``/`` and ``~`` left as they are."""
    if not raw_path:
        return "/"
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and segments:
        path += "/"
    return quote(path, safe="/~")


def canonical_query(query: str) -> str:
    """The query as signed: each ``name=value`` pair decoded then encoded (RFC 3986
    unreserved characters kept), sorted by name then value, joined by ``&``."""
    pairs = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Header values by lower-cased name, in order, repeats kept."""
    out: dict[str, list[str]] = {}
    for name, value in headers:
        out.setdefault(name.lower(), []).append(value)
    return out


def _parse_authorization(value: str) -> tuple[str, str, str] | SignatureError:
    """(Credential, SignedHeaders, Signature) of an ``Authorization`` value, or the
    IncompleteSignatureException naming what is missing or malformed."""
    algorithm, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    if algorithm == ALGORITHM:
        for part in rest.split(","):
            part = part.strip()
            if not part:
                continue
            name, equals, given = part.partition("=")
            if not equals:
                return IncompleteSignatureException(
                    f"'{part}' not a valid key=value pair (missing equal-sign) in "
                    f"Authorization header: '{value}'."
                )
            params[name.strip()] = given.strip()
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if missing:
        return IncompleteSignatureException(" ".join(missing) + f" Authorization={value}")
    return params["Credential"], params["SignedHeaders"], params["Signature"]


def _request_time(headers: dict[str, list[str]]) -> tuple[str, datetime] | None:
    """(the request time as ``20260101T000000Z``, as an aware datetime) from
    ``x-amz-date``, else ``Date``; None if neither is there or parses."""
    amz = headers.get("x-amz-date")
    if amz:
        try:
            when = datetime.strptime(amz[0].strip(), TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return None
        return amz[0].strip(), when
    date = headers.get("date")
    if date:
        try:
            when = parsedate_to_datetime(date[0])
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        when = when.astimezone(UTC)
        return when.strftime(TIME_FORMAT), when
    return None


def _payload_hash(headers: dict[str, list[str]], body: bytes) -> str | None:
    """The payload hash to sign: ``x-amz-content-sha256`` when sent (None if it is
    neither ``UNSIGNED-PAYLOAD`` nor the body's SHA-256), else the body's SHA-256."""
    actual = hashlib.sha256(body).hexdigest()
    declared = headers.get("x-amz-content-sha256")
    if not declared:
        return actual
    value = declared[0].strip()
    if value == UNSIGNED_PAYLOAD or hmac.compare_digest(value.lower(), actual):
        return value
    return None
