"""wire/sigv4.py: AWS's SigV4 test-suite vectors, requests signed by botocore itself,
and every way a request can be refused."""

from __future__ import annotations

import datetime as dt
import hashlib
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from dynoxide_streams.errors import SignatureError
from dynoxide_streams.wire import sigv4

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_TIME = dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.UTC)
KEYS = {KEY: SECRET}


def suite_request(
    method: str, target: str, signature: str, signed: str, extra: list[tuple[str, str]]
) -> sigv4.Request:
    """A request of AWS's SigV4 test suite (host example.amazonaws.com, service
    "service", 20150830T123600Z) carrying its published signature."""
    path, _, query = target.partition("?")
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={KEY}/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    headers = [
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
        *extra,
        ("Authorization", authorization),
    ]
    return sigv4.Request(method, path, query, headers, b"")


SUITE = {
    "get-vanilla": ("GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    "post-vanilla": (
        "POST",
        "/",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ),
    "get-vanilla-query-order-key-case": (
        "GET",
        "/?Param2=value2&Param1=value1",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
}


def check(
    request: sigv4.Request, service: str = "service", now: dt.datetime = SUITE_TIME
) -> SignatureError | None:
    return sigv4.verify(request, service=service, now=now, secret_for=KEYS.get)


@pytest.mark.parametrize("name", sorted(SUITE))
def test_aws_suite_vectors_verify(name: str) -> None:
    method, target, signature = SUITE[name]
    assert check(suite_request(method, target, signature, "host;x-amz-date", [])) is None


def test_aws_suite_header_value_trim_folds_whitespace() -> None:
    request = suite_request(
        "GET",
        "/",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        "host;my-header1;my-header2;x-amz-date",
        [("My-Header1", " value1"), ("My-Header2", ' "a   b   c"')],
    )
    assert check(request) is None


def test_a_suite_vector_with_one_changed_byte_fails() -> None:
    method, _, signature = SUITE["get-vanilla"]
    request = suite_request(method, "/x", signature, "host;x-amz-date", [])
    error = check(request)
    assert error is not None and error.name == "InvalidSignatureException"
    assert error.message == sigv4.BAD_SIGNATURE


# ----------------------------------------------------------- signed by botocore


def botocore_signed(
    method: str,
    url: str,
    *,
    service: str = "dynamodb",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    when: dt.datetime = SUITE_TIME,
    key: str = KEY,
    secret: str = SECRET,
) -> sigv4.Request:
    """``url`` signed by botocore's own SigV4Auth at ``when``, as the server sees it."""
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
        SigV4Auth(Credentials(key, secret), service, "eu-west-1").add_auth(request)
    parts = urlsplit(url)
    sent = [("host", parts.netloc), *request.headers.items()]
    return sigv4.Request(method, parts.path or "/", parts.query, sent, body)


DYNAMODB_BODY = b'{"TableName": "Orders", "Key": {"pk": {"S": "a b"}}}'
DYNAMODB_HEADERS = {
    "X-Amz-Target": "DynamoDB_20120810.GetItem",
    "Content-Type": "application/x-amz-json-1.0",
}


def test_botocore_signed_dynamodb_request_verifies() -> None:
    request = botocore_signed(
        "POST", "http://127.0.0.1:8000/", body=DYNAMODB_BODY, headers=DYNAMODB_HEADERS
    )
    assert check(request, "dynamodb") is None


def test_botocore_signed_lambda_list_with_a_query_verifies() -> None:
    url = (
        "http://127.0.0.1:8000/2015-03-31/event-source-mappings/"
        "?FunctionName=f%20n&MaxItems=5&EventSourceArn=arn%3Aaws%3Adynamodb%3Ax"
    )
    assert check(botocore_signed("GET", url, service="lambda"), "lambda") is None


def test_botocore_signed_path_is_encoded_once_more() -> None:
    url = "http://127.0.0.1:8000/2015-03-31/event-source-mappings/a%3Ab%20c"
    request = botocore_signed("DELETE", url, service="lambda")
    assert check(request, "lambda") is None
    assert sigv4.canonical_uri("/x/a%3Ab") == "/x/a%253Ab"


def test_unsigned_payload_and_content_sha256() -> None:
    headers = {**DYNAMODB_HEADERS, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    url = "http://127.0.0.1:8000/"
    request = botocore_signed("POST", url, body=DYNAMODB_BODY, headers=headers)
    assert check(request, "dynamodb") is None

    declared = {**DYNAMODB_HEADERS, "X-Amz-Content-SHA256": hashlib.sha256(b"{}").hexdigest()}
    request = botocore_signed("POST", url, body=b"{}", headers=declared)
    assert check(request, "dynamodb") is None
    tampered = sigv4.Request(
        request.method, request.raw_path, request.query, request.headers, b'{"x": 1}'
    )
    assert _name(check(tampered, "dynamodb")) == "InvalidSignatureException"


def test_date_header_instead_of_x_amz_date() -> None:
    request = botocore_signed("POST", "http://h/", body=b"{}", headers=DYNAMODB_HEADERS)
    headers = [(k, v) for k, v in request.headers if k.lower() != "x-amz-date"]
    headers.append(("Date", "Sun, 30 Aug 2015 12:36:00 GMT"))
    # botocore signed x-amz-date: the Date header gives the same time, but the signed
    # header list names x-amz-date, now absent, so the signature no longer matches
    changed = sigv4.Request(request.method, request.raw_path, "", headers, request.body)
    assert _name(check(changed, "dynamodb")) == "InvalidSignatureException"
    canonical = "\n".join(
        [
            "GET",
            "/",
            "",
            "date:Sun, 30 Aug 2015 12:36:00 GMT",
            "host:h",
            "",
            "date;host",
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    scope = "20150830/us-east-1/service/aws4_request"
    signature = sigv4.signature_of(SECRET, "20150830T123600Z", scope, canonical)
    by_date = sigv4.Request(
        "GET",
        "/",
        "",
        [
            ("Host", "h"),
            ("Date", "Sun, 30 Aug 2015 12:36:00 GMT"),
            (
                "Authorization",
                f"AWS4-HMAC-SHA256 Credential={KEY}/{scope}, SignedHeaders=date;host, Signature={signature}",
            ),
        ],
        b"",
    )
    assert check(by_date) is None


# --------------------------------------------------------------------- refusals


def _name(error: SignatureError | None) -> str | None:
    return None if error is None else error.name


def test_missing_authorization() -> None:
    request = sigv4.Request("POST", "/", "", [("host", "h")], b"{}")
    error = check(request, "dynamodb")
    assert error is not None
    assert (error.name, error.message) == (
        "MissingAuthenticationTokenException",
        "Request is missing Authentication Token",
    )
    assert error.status == 400 and error.namespace == "com.amazon.coral.service"


def test_unknown_key() -> None:
    request = botocore_signed("POST", "http://h/", body=b"{}", key="AKIDOTHER")
    error = check(request, "dynamodb")
    assert error is not None and error.name == "UnrecognizedClientException"
    assert error.message == "The security token included in the request is invalid"


def test_wrong_secret() -> None:
    request = botocore_signed("POST", "http://h/", body=b"{}", secret="not-the-secret")
    error = check(request, "dynamodb")
    assert error is not None and (error.name, error.message) == (
        "InvalidSignatureException",
        sigv4.BAD_SIGNATURE,
    )


def test_signed_header_changed() -> None:
    request = botocore_signed("POST", "http://h/", body=b"{}", headers=DYNAMODB_HEADERS)
    headers = [
        (k, "DynamoDB_20120810.DeleteItem" if k == "X-Amz-Target" else v)
        for k, v in request.headers
    ]
    changed = sigv4.Request("POST", "/", "", headers, b"{}")
    assert _name(check(changed, "dynamodb")) == "InvalidSignatureException"


def test_expired_and_not_yet_current_use_awss_words() -> None:
    signed_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    request = botocore_signed("POST", "http://h/", body=b"{}", when=signed_at)
    late = signed_at + dt.timedelta(minutes=15, seconds=1)
    error = check(request, "dynamodb", now=late)
    assert error is not None and (error.name, error.message) == (
        "InvalidSignatureException",
        "Signature expired: 20260101T000000Z is now earlier than 20260101T000001Z "
        "(20260101T001501Z - 15 min.)",
    )
    early = signed_at - dt.timedelta(minutes=16)
    error = check(request, "dynamodb", now=early)
    assert error is not None and error.message == (
        "Signature not yet current: 20260101T000000Z is still later than "
        "20251231T235900Z (20251231T234400Z + 15 min.)"
    )
    assert check(request, "dynamodb", now=signed_at + dt.timedelta(minutes=15)) is None


def test_wrong_service_in_scope() -> None:
    request = botocore_signed("POST", "http://h/", body=b"{}", service="lambda")
    error = check(request, "dynamodb")
    assert error is not None and (error.name, error.message) == (
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'dynamodb'. ",
    )


@pytest.mark.parametrize(
    ("authorization", "start"),
    [
        ("Bearer abc", "Authorization header requires 'Credential' parameter."),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request",
            "Authorization header requires 'Signature' parameter.",
        ),
        ("AWS4-HMAC-SHA256 Credential", "'Credential' not a valid key=value pair"),
    ],
)
def test_malformed_authorization_is_an_incomplete_signature(authorization: str, start: str) -> None:
    headers = [("host", "h"), ("x-amz-date", "20150830T123600Z"), ("authorization", authorization)]
    error = check(sigv4.Request("POST", "/", "", headers, b""), "dynamodb")
    assert error is not None and error.name == "IncompleteSignatureException"
    assert error.message.startswith(start)


def test_canonical_query_sorts_and_reencodes() -> None:
    assert sigv4.canonical_query("b=2&a=x%20y&a=1&c") == "a=1&a=x%20y&b=2&c="
    assert sigv4.canonical_query("") == ""


def test_canonical_uri_removes_dot_and_empty_segments() -> None:
    assert sigv4.canonical_uri("") == "/"
    assert sigv4.canonical_uri("/a/./b/../c//d/") == "/a/c/d/"
