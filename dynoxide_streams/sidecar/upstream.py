"""Calls to the upstream engine's DynamoDB and DynamoDB Streams JSON APIs.

Requests are signed with SigV4 (botocore's signer and its usual credential chain:
environment, profile, instance role); an upstream that ignores signatures (DynamoDB
Local, Alternator, another dynoxide-streams) works with any credentials, so when the
chain finds none the sidecar signs with placeholder ones. Every call is signed, never
sent bare: an engine that checks the signature's form (Dynoxide answers
MissingAuthenticationTokenException or IncompleteSignatureException without a complete
SigV4 ``Authorization`` header and ``X-Amz-Date``) accepts any credentials signed so. Answers are decoded but
records keep their wire form (base64 binary, epoch-number timestamps), so they reach
readers exactly as a local server would have written them.

Calls reuse keep-alive connections (at most ``max_idle`` idle ones) and go through
the environment's proxy (``HTTPS_PROXY``) when one is set. Throttling, 5xx
answers and connection failures are retried with exponential back-off and jitter;
:class:`UpstreamError` carries what the upstream said otherwise.

Whether the upstream can be reached is an operator event (``logs.oplog``), logged on
each change: ``upstream reachable`` (INFO) at the first answer and at the first after
a failure, ``upstream unreachable`` (WARNING) at the first call that could not reach
it (connection refused, reset, timeout). Any answer, an error status included, means
reachable.
"""

from __future__ import annotations

import random
import time
from typing import Any

import anyio
import orjson
import structlog

from dynoxide_streams.http_client import HttpClient
from dynoxide_streams.logs import oplog

log = structlog.get_logger("dynoxide_streams.sidecar")

DYNAMODB = "DynamoDB_20120810"
STREAMS = "DynamoDBStreams_20120810"
RETRY_SECONDS = 30.0  # how long a call retries unless told otherwise
RETRYABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "LimitExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


class UpstreamError(Exception):
    """The upstream answered with an error (``code`` is its AWS error name)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or kept failing within the call's timeout."""


class Upstream:
    """A signing JSON client for one upstream endpoint."""

    def __init__(
        self,
        url: str,
        region: str,
        *,
        timeout: float = 10.0,
        credentials: tuple[str, str, str | None] | None = None,
        max_idle: int = 16,
    ) -> None:
        self.url = url.rstrip("/")
        self.region = region
        self.timeout = timeout
        self._credentials = credentials
        self._signer: Any = None
        self.pool = HttpClient(max_idle=max_idle)
        self.reachable: bool | None = None  # None until the first call ends

    def _reached(self, reachable: bool, problem: str = "") -> None:
        """Log a change of reachability (see the module docstring)."""
        if self.reachable is reachable:
            return
        self.reachable = reachable
        if reachable:
            oplog.info("upstream reachable", upstream=self.url)
        else:
            oplog.warning("upstream unreachable", upstream=self.url, error=problem)

    async def aclose(self) -> None:
        """Close the idle keep-alive connections."""
        await self.pool.aclose()

    def _sign(self, target: str, body: bytes) -> list[tuple[str, str]]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        if self._signer is None:
            if self._credentials is not None:
                creds = Credentials(*self._credentials)
            else:
                import botocore.session

                found = botocore.session.Session().get_credentials()
                if found is None:
                    log.warning("no AWS credentials found; signing with placeholders")
                    creds = Credentials("dynoxide", "dynoxide")
                else:
                    creds = found
            self._signer = SigV4Auth(creds, "dynamodb", self.region)
        request = AWSRequest(
            method="POST",
            url=self.url + "/",
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": target,
            },
        )
        self._signer.add_auth(request)
        return [
            (k, v)
            for k, v in request.headers.items()
            if k.lower() not in ("content-type", "content-length", "host")
        ]

    async def call(
        self,
        prefix: str,
        operation: str,
        params: dict[str, Any],
        *,
        timeout: float = RETRY_SECONDS,
    ) -> dict[str, Any]:
        """One API call: a first try, then back-off retries of throttling and
        unavailability for as long as they start within ``timeout`` seconds from now.

        Raises UpstreamError for an error answer, UpstreamUnavailable when the
        upstream stays unreachable or busy past the timeout.
        """
        target = f"{prefix}.{operation}"
        body = orjson.dumps(params)
        stop = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            unreachable = False
            try:
                headers = self._sign(target, body)
                status, _, raw = await self.pool.post(
                    self.url + "/",
                    body,
                    timeout=self.timeout,
                    headers=headers,
                    content_type="application/x-amz-json-1.0",
                )
                self._reached(True)
                data = orjson.loads(raw) if raw.strip() else {}
                if status == 200:
                    result: dict[str, Any] = data
                    return result
                code = str(data.get("__type", str(status))).rsplit("#", 1)[-1]
                message = str(data.get("message", data.get("Message", "")))
                if code not in RETRYABLE and status < 500:
                    raise UpstreamError(code, message, status)
                problem = f"{code}: {message}"
            except orjson.JSONDecodeError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except (OSError, TimeoutError, anyio.BrokenResourceError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                self._reached(False, problem)
                unreachable = True
            delay = min(5.0, 0.05 * 2 ** min(attempt, 10)) * (0.5 + random.random() / 2)
            if time.monotonic() + delay > stop:
                raise UpstreamUnavailable(f"{self.url} {operation}: {problem}")
            if attempt in (1, 3) or attempt % 10 == 0:
                # an unreachable upstream is one WARNING (``upstream unreachable``) until
                # it answers again; an answer that asks for a retry is one each time
                (log.debug if unreachable else log.warning)(
                    "upstream call failed; retrying",
                    upstream=self.url,
                    operation=operation,
                    attempt=attempt,
                    problem=problem,
                )
            await anyio.sleep(delay)
