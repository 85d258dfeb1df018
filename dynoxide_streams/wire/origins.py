"""Who may call: the Host allowlist, Origin checks, bearer tokens and the CORS headers to send.

Every "is this caller allowed" decision of the server is an :class:`AccessPolicy`
method, a pure function of request header values; routes ask it and act on the answer.

**Host (DNS rebinding).** A page on ``evil.example`` can make the browser resolve that
name to 127.0.0.1 and call this server as a same-origin request. Such a request carries
``Host: evil.example``. Requests are therefore served only when the Host is an IP
literal, ``localhost`` (or ``*.localhost``), a name under ``amazonaws.com`` or
``amazonaws.com.cn`` (SDKs pointed here by a hosts-file entry or a proxy send
``dynamodb.<region>.amazonaws.com``; no rebinding attacker controls those zones), or a
name given with ``--allowed-host`` (``*`` turns the check off). A request without a
Host header (HTTP/1.0 tools) is served. Verdicts are remembered per distinct Host value
(at most :data:`HOST_VERDICTS` of them), so the check costs one dict lookup per request.

**Origin.** A browser request is allowed when its Origin is one given with
``--allowed-origin``, a loopback origin, or the same origin as the Host header. A
request without an Origin header is not from a browser page and is allowed.

**Bearer token.** With ``--token``, the admin API needs ``Authorization: Bearer
<token>``, and the push websocket takes that header or ``?token=<token>`` (browsers
cannot set headers on websockets). Without a token the admin API is served only when
the server listens on a loopback address, and the websocket is open.

**Signatures.** With ``--credentials``, DynamoDB, Streams and Lambda requests must
carry an AWS Signature Version 4 by a known key (:meth:`AccessPolicy.signature_refusal`,
checked by ``wire/sigv4.py`` against the real clock); without it any ``Authorization``
is accepted, as DynamoDB Local does.

**Cross-site writes (CSRF).** A page the developer visits can send "simple" requests
(``Content-Type: text/plain``, no custom header, so no CORS preflight) to a loopback
server; the browser sends them, only the answer stays hidden. So a state-changing
request (any method but GET, HEAD and OPTIONS) on the admin, Lambda and MCP routes is
refused (403 AccessDeniedException) when its Origin is not allowed (the rule above) or,
lacking an Origin, its ``Sec-Fetch-Site`` is ``cross-site``; and one with a body must
say ``Content-Type: application/json`` (or AWS's ``application/x-amz-json-1.0``/``1.1``),
which a browser only sends cross-site after a preflight this server never answers (415
UnsupportedMediaTypeException otherwise). Bodiless requests (DeleteEventSourceMapping,
a ``curl -X POST`` without ``-d``) need no Content-Type.

**CORS.** Only an allowed Origin (the rule above) gets CORS headers; any other gets
none, so the browser hides the response and fails the preflight. DynamoDB answers every
Origin (``Access-Control-Allow-Origin: *``); this server names the allowed Origin
instead (with ``Vary: Origin``), because a loopback server must not be readable by any
site. Otherwise it sends what DynamoDB sends: a preflight (``OPTIONS`` with
``Access-Control-Request-Method``) gets the requested method and headers echoed as
``Access-Control-Allow-Methods``/``-Headers`` plus ``Access-Control-Max-Age``
(:meth:`AccessPolicy.preflight_headers`); a DynamoDB or Streams response gets
``Access-Control-Expose-Headers`` (:meth:`AccessPolicy.api_cors_headers`), AWS's list
plus ``x-amz-crc32`` (DynamoDB does not expose it; this server's CRC is of the exact
bytes sent, so a browser SDK may check it); a static file gets only the Origin
(:meth:`AccessPolicy.cors_headers`). Admin, Lambda and MCP routes answer no preflight,
so the cross-site refusal above still holds for them.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from dynoxide_streams.errors import (
    AccessDeniedException,
    DynamoDBError,
    SignatureError,
    UnsupportedMediaTypeException,
)
from dynoxide_streams.wire import sigv4
from dynoxide_streams.wire.asgi import Headers

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: never refused as cross-site writes."""
JSON_MEDIA_TYPES = frozenset(
    {"application/json", "application/x-amz-json-1.0", "application/x-amz-json-1.1"}
)
"""The Content-Types a state-changing request with a body must have (none of them can
be sent cross-site without a CORS preflight)."""
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")
"""Host names under these suffixes are served by default (AWS's own endpoint names)."""
HOST_VERDICTS = 1024
"""Distinct Host values whose verdict is remembered; later ones are checked each time."""
EXPOSE_HEADERS = b"x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date,x-amz-crc32"
"""``Access-Control-Expose-Headers`` of DynamoDB and Streams responses: AWS's list
(x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, Date) plus x-amz-crc32."""
PREFLIGHT_MAX_AGE = b"172800"
"""``Access-Control-Max-Age`` of a preflight answer (two days; browsers cap it lower)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP literal, IPv6 with or without brackets) is
    ``localhost`` or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostname(value: str) -> str | None:
    """The host part of a Host header, lower-cased; None if malformed."""
    value = value.strip().lower()
    if not value:
        return None
    if value.startswith("["):  # [v6]:port
        end = value.find("]")
        return value[1:end] if end > 0 else None
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if port and not port.isdigit():
        return None
    return host.rstrip(".") or None


class AccessPolicy:
    """The server's answers to "may this caller be served?".

    ``bind_host`` is the address the server listens on, ``token`` the ``--token``
    (None: none), ``allowed_hosts`` the ``--allowed-host`` names and
    ``allowed_origins`` the ``--allowed-origin`` origins, ``credentials`` the
    ``--credentials`` keys (access key id -> secret; None: signatures not checked).
    """

    def __init__(
        self,
        *,
        bind_host: str = "127.0.0.1",
        token: str | None = None,
        allowed_hosts: tuple[str, ...] = (),
        allowed_origins: tuple[str, ...] = (),
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self._credentials = None if credentials is None else dict(credentials)
        self._any_host = "*" in allowed_hosts
        self._host_verdicts: dict[bytes, bool] = {}
        self._host_names = frozenset(name.strip().lower().rstrip(".") for name in allowed_hosts)
        self._origins = frozenset(origin.rstrip("/") for origin in allowed_origins)
        if token is not None and not token.strip():
            raise ValueError("an empty or blank token would protect nothing")
        self._token = None if token is None else token.encode()
        self._bearer = None if token is None else f"Bearer {token}".encode()
        self._loopback_bind = is_loopback(bind_host)

    @property
    def checks_signatures(self) -> bool:
        """Whether requests must be signed (``--credentials`` given): without it,
        ``signature_refusal`` is always None and callers may skip building a request."""
        return self._credentials is not None

    def host_allowed(self, host: bytes | None) -> bool:
        """Whether a request with this ``Host`` header value (None: absent) is served."""
        if self._any_host or host is None:
            return True
        verdict = self._host_verdicts.get(host)
        if verdict is None:
            verdict = self._host_name_allowed(host)
            if len(self._host_verdicts) < HOST_VERDICTS:
                self._host_verdicts[host] = verdict
        return verdict

    def _host_name_allowed(self, host: bytes) -> bool:
        name = _hostname(host.decode("latin-1"))
        if name is None:
            return False
        if (
            name == "localhost"
            or name.endswith(".localhost")
            or name.endswith(AWS_HOST_SUFFIXES)
            or name in self._host_names
        ):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def origin_allowed(self, origin: bytes | None, host: bytes | None) -> bool:
        """Whether a request with these ``Origin`` and ``Host`` header values (None:
        absent) comes from a page allowed to call; a malformed Origin is refused."""
        if origin is None:
            return True
        text = origin.decode("latin-1").rstrip("/")
        if text in self._origins:
            return True
        try:
            parts = urlsplit(text)
        except ValueError:
            return False
        if parts.hostname is not None and is_loopback(parts.hostname):
            return True
        host_text = "" if host is None else host.decode("latin-1")
        return bool(host_text) and parts.netloc == host_text

    def cors_headers(self, origin: bytes | None, host: bytes | None) -> Headers:
        """The CORS headers of a response to a request with these ``Origin`` and
        ``Host`` values: ``Access-Control-Allow-Origin`` naming an allowed Origin, with
        ``Vary: Origin``; none when there is no Origin or it is not allowed."""
        if origin is None or not self.origin_allowed(origin, host):
            return []
        return [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]

    def api_cors_headers(self, origin: bytes | None, host: bytes | None) -> Headers:
        """The CORS headers of a DynamoDB or Streams response: :meth:`cors_headers`
        plus ``Access-Control-Expose-Headers`` (:data:`EXPOSE_HEADERS`); none when
        there is no Origin or it is not allowed."""
        headers = self.cors_headers(origin, host)
        if headers:
            headers.append((b"access-control-expose-headers", EXPOSE_HEADERS))
        return headers

    def preflight_headers(
        self,
        origin: bytes | None,
        host: bytes | None,
        method: bytes | None,
        request_headers: bytes | None,
    ) -> Headers:
        """The CORS headers of the answer to an ``OPTIONS`` request on the DynamoDB
        route with these ``Origin``, ``Host``, ``Access-Control-Request-Method`` and
        ``Access-Control-Request-Headers`` values (None: absent). An allowed Origin
        gets :meth:`api_cors_headers`, the requested method and headers echoed as
        allowed (as DynamoDB does) and ``Access-Control-Max-Age``; any other Origin,
        or an ``OPTIONS`` that is not a preflight (no request method), gets none."""
        if method is None:
            return []
        headers = self.api_cors_headers(origin, host)
        if headers:
            headers.append((b"access-control-allow-methods", method))
            if request_headers is not None:
                headers.append((b"access-control-allow-headers", request_headers))
            headers.append((b"access-control-max-age", PREFLIGHT_MAX_AGE))
        return headers

    def cross_site_refusal(
        self, method: str, headers: Mapping[bytes, bytes], *, has_body: bool
    ) -> DynamoDBError | None:
        """Why a request to a state-changing route (admin, Lambda, MCP) must be refused
        as a possible cross-site forgery, or None to serve it (see the module
        docstring). ``headers`` maps lower-case names to values; ``has_body`` says
        whether the request carries a non-empty body."""
        if method in SAFE_METHODS:
            return None
        origin = headers.get(b"origin")
        if origin is not None:
            if not self.origin_allowed(origin, headers.get(b"host")):
                shown = origin.decode("latin-1")
                return AccessDeniedException(
                    f"Cross-site request refused: Origin {shown!r} is not allowed "
                    "(start the server with --allowed-origin URL to allow a page's origin)"
                )
        elif headers.get(b"sec-fetch-site", b"").strip().lower() == b"cross-site":
            return AccessDeniedException(
                "Cross-site request refused: Sec-Fetch-Site is cross-site and there is no Origin"
            )
        if has_body:
            given = headers.get(b"content-type")
            media = None if given is None else given.decode("latin-1").split(";")[0]
            if media is None or media.strip().lower() not in JSON_MEDIA_TYPES:
                shown = "none" if given is None else repr(given.decode("latin-1"))
                return UnsupportedMediaTypeException(
                    f"Content-Type must be application/json (got {shown})"
                )
        return None

    def admin_allowed(self, authorization: bytes | None) -> bool:
        """Whether an admin request with this ``Authorization`` value may be served."""
        if self._bearer is None:
            return self._loopback_bind
        return _bearer_matches(authorization, self._bearer)

    def push_allowed(self, query_string: bytes, authorization: bytes | None) -> bool:
        """Whether a push websocket handshake with this query string and
        ``Authorization`` value may be accepted (its Origin is checked apart)."""
        if self._token is None or self._bearer is None:
            return True
        query = parse_qs(query_string.decode("latin-1"))
        given = query.get("token", [""])[0].encode()
        return hmac.compare_digest(given, self._token) or _bearer_matches(
            authorization, self._bearer
        )

    def signature_refusal(
        self, request: sigv4.Request, *, service: str, unknown_key_message: str = sigv4.UNKNOWN_KEY
    ) -> SignatureError | None:
        """None if ``request`` may be served as a ``service`` (``dynamodb`` or
        ``lambda``) request: no ``--credentials``, or a valid signature by one of them
        within 15 minutes of the real clock (never the virtual one); else the error."""
        if self._credentials is None:
            return None
        return sigv4.verify(
            request,
            service=service,
            now=datetime.now(UTC),
            secret_for=self._credentials.get,
            unknown_key_message=unknown_key_message,
        )


def _bearer_matches(authorization: bytes | None, expected: bytes) -> bool:
    """Constant-time comparison of an ``Authorization`` value with ``Bearer <token>``."""
    return hmac.compare_digest(b"" if authorization is None else authorization, expected)
