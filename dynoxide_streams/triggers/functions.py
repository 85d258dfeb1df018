"""Functions a mapping can invoke, and how each kind of target is called.

A :class:`FunctionRegistry` maps function names to targets:

* ``python:package.module:handler`` — imported on first use and called with
  ``(event, context)``; sync handlers run in a worker thread (a dedicated, bounded
  limiter, so hung handlers cannot starve the server's own threads), coroutine
  functions on the event loop;
* a Python callable registered from code (the embedded ``Server``);
* ``http://…`` / ``https://…`` — the event JSON is POSTed and the response body read
  (the Lambda Runtime Interface Emulator's invoke URL works);
* ``cmd:<command line>`` — run in a subprocess with the event JSON on stdin and the
  response read from stdout.

Every invocation has a timeout. :class:`InvokeResult` says whether the function
failed (an exception, a timeout, a non-2xx answer, a non-zero exit), with the error's
type and message as Lambda's ``{"errorType", "errorMessage"}`` would give them (and a
Python handler's traceback), and carries its response otherwise.

A ``python:`` target is imported with the server's ``sys.path``; :func:`add_app_dir`
puts the ``--app-dir`` (default: the working directory) first on it at start-up, as
``python -m`` and uvicorn's ``--app-dir`` do, because a console script's own
``sys.path`` does not hold the directory it was started in.
"""

from __future__ import annotations

import importlib
import inspect
import os
import shlex
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import orjson
import structlog

from dynoxide_streams.engine import messages

log = structlog.get_logger("dynoxide_streams.triggers")

DEFAULT_TIMEOUT = 3.0
"""Seconds an invocation may take (Lambda's default function timeout)."""

HANDLER_THREADS = 32

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class InvokeResult:
    """The outcome of one invocation.

    ``error`` is None on success, else Lambda's ``functionError`` kind
    (``Unhandled``); ``payload`` is the decoded response (None if empty). A failure
    says what went wrong in ``error_type`` and ``message`` (Lambda's ``errorType`` and
    ``errorMessage``: ``ValueError`` and ``boom`` for ``raise ValueError("boom")``),
    and ``traceback`` holds a Python handler's formatted traceback.
    """

    payload: Any = None
    error: str | None = None
    message: str = ""
    status_code: int = 200
    error_type: str = ""
    traceback: str | None = None


def add_app_dir(path: str | os.PathLike[str]) -> str:
    """Put ``path`` (made absolute) first on ``sys.path`` unless it is already there, so
    ``python:package.module:handler`` targets resolve relative to it; return it."""
    directory = os.path.abspath(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    return directory


class LambdaContext:
    """The ``context`` argument of a Python handler (the attributes Lambda provides)."""

    def __init__(self, function_name: str, function_arn: str, timeout: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = 128
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Target:
    """Something that can be invoked with an event."""

    description = ""

    async def invoke(self, event: dict[str, Any], context: LambdaContext) -> InvokeResult:
        raise NotImplementedError


def _decode(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")


def _failure(exc: BaseException) -> InvokeResult:
    return InvokeResult(
        error="Unhandled",
        error_type=type(exc).__name__,
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
    )


class CallableTarget(Target):
    """A Python handler (function or coroutine function)."""

    def __init__(self, handler: Handler, limiter: anyio.CapacityLimiter, description: str = ""):
        self.handler = handler
        self.limiter = limiter
        self.description = description or getattr(handler, "__qualname__", repr(handler))

    async def invoke(self, event: dict[str, Any], context: LambdaContext) -> InvokeResult:
        try:
            if inspect.iscoroutinefunction(self.handler):
                response = await self.handler(event, context)
            else:
                response = await anyio.to_thread.run_sync(
                    self.handler, event, context, limiter=self.limiter, abandon_on_cancel=True
                )
                if inspect.isawaitable(response):
                    response = await response
        except Exception as exc:
            return _failure(exc)
        try:  # what Lambda would serialise: a response that is not JSON is an error
            payload = orjson.loads(orjson.dumps(response))
        except TypeError as exc:
            return InvokeResult(
                error="Unhandled",
                error_type="Runtime.MarshalError",
                message=messages.LAMBDA_MARSHAL_ERROR.format(error=exc),
            )
        return InvokeResult(payload=payload)


class _HandlerNotFound(Exception):
    """The module of a ``python:`` target has no such attribute."""


class PythonTarget(CallableTarget):
    """``python:package.module:handler``, imported on first invocation."""

    def __init__(self, spec: str, limiter: anyio.CapacityLimiter) -> None:
        self.spec = spec
        self.module = spec.removeprefix("python:").rpartition(":")[0]
        super().__init__(self._load_and_call, limiter, spec)
        self._loaded: Handler | None = None

    def _resolve(self) -> Handler:
        if self._loaded is None:
            module_name, _, attribute = self.spec.removeprefix("python:").rpartition(":")
            if not module_name:
                module_name, _, attribute = self.spec.removeprefix("python:").rpartition(".")
            module = importlib.import_module(module_name)
            handler = getattr(module, attribute, None)
            if handler is None:
                raise _HandlerNotFound(
                    messages.LAMBDA_HANDLER_NOT_FOUND.format(handler=attribute, module=module_name)
                )
            if not callable(handler):
                raise TypeError(f"{self.spec} is not callable")
            self._loaded = handler
        return self._loaded

    def _load_and_call(self, event: dict[str, Any], context: Any) -> Any:
        return self._resolve()(event, context)

    async def invoke(self, event: dict[str, Any], context: LambdaContext) -> InvokeResult:
        try:
            handler = self._resolve()
        except _HandlerNotFound as exc:
            return InvokeResult(
                error="Unhandled", error_type="Runtime.HandlerNotFound", message=str(exc)
            )
        except Exception as exc:
            return InvokeResult(
                error="Unhandled",
                error_type="Runtime.ImportModuleError",
                message=messages.LAMBDA_IMPORT_ERROR.format(module=self.module, error=exc),
                traceback="".join(traceback.format_exception(exc)),
            )
        self.handler = handler
        return await super().invoke(event, context)


def _reported_error(payload: Any) -> tuple[str, str] | None:
    """(errorType, errorMessage) of a response shaped as a Lambda function error."""
    if isinstance(payload, dict) and "errorMessage" in payload and "errorType" in payload:
        return str(payload["errorType"]), str(payload["errorMessage"])
    return None


class HttpTarget(Target):
    """An HTTP endpoint that takes the event as the POST body (e.g. the Lambda RIE).

    A function error is a non-2xx status, an ``X-Amz-Function-Error`` header, or a
    body of the shape ``{"errorMessage": ..., "errorType": ...}`` (what the RIE
    answers when the handler raised).
    """

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.description = url

    async def invoke(self, event: dict[str, Any], context: LambdaContext) -> InvokeResult:
        # imported here: the browser bundle leaves the HTTP client out (no URL targets)
        from dynoxide_streams.http_client import http_post

        try:
            status, headers, body = await http_post(
                self.url,
                orjson.dumps(event),
                timeout=self.timeout + 1.0,
                headers=[("Lambda-Runtime-Aws-Request-Id", context.aws_request_id)],
            )
        except OSError as exc:  # TimeoutError included
            return InvokeResult(
                error="Unhandled", error_type=type(exc).__name__, message=str(exc), status_code=502
            )
        payload = _decode(body)
        reported = _reported_error(payload)
        if not 200 <= status < 300:
            error_type, message = reported or ("HTTPError", f"HTTP {status}")
            return InvokeResult(
                error="Unhandled",
                error_type=error_type,
                message=message,
                status_code=status,
                payload=payload,
            )
        if "x-amz-function-error" in headers:
            kind = headers["x-amz-function-error"] or "Unhandled"
            error_type, message = reported or (kind, "")
            return InvokeResult(
                error=kind,
                error_type=error_type,
                message=message,
                payload=payload,
                status_code=status,
            )
        if reported is not None:
            return InvokeResult(
                error="Unhandled", error_type=reported[0], message=reported[1], payload=payload
            )
        return InvokeResult(payload=payload, status_code=status)


class CommandTarget(Target):
    """``cmd:<command line>``: event JSON on stdin, response JSON on stdout."""

    def __init__(self, command: str) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("cmd: target needs a command")
        self.description = f"cmd:{command}"

    async def invoke(self, event: dict[str, Any], context: LambdaContext) -> InvokeResult:
        from dynoxide_streams.http_client import MAX_RESPONSE_BYTES  # as HttpTarget's

        env = dict(os.environ)
        env.update(
            AWS_LAMBDA_FUNCTION_NAME=context.function_name,
            AWS_REQUEST_ID=context.aws_request_id,
            AWS_LAMBDA_FUNCTION_TIMEOUT=str(context.get_remaining_time_in_millis() // 1000),
        )
        try:
            process = await anyio.open_process(self.argv, env=env, stderr=None)
        except OSError as exc:
            return _failure(exc)
        output = bytearray()
        try:
            assert process.stdin is not None and process.stdout is not None
            async with process:

                async def feed() -> None:
                    assert process.stdin is not None
                    try:
                        await process.stdin.send(orjson.dumps(event))
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
                    finally:
                        await process.stdin.aclose()

                async def read() -> None:
                    assert process.stdout is not None
                    async for chunk in process.stdout:
                        output.extend(chunk)
                        if len(output) > MAX_RESPONSE_BYTES:
                            raise OSError("response larger than 6 MB")

                async with anyio.create_task_group() as tg:
                    tg.start_soon(feed)
                    tg.start_soon(read)
                code = await process.wait()
        except BaseException:
            if process.returncode is None:
                process.kill()
                with anyio.CancelScope(shield=True):
                    await process.wait()
            raise
        if code != 0:
            payload = _decode(bytes(output))
            error_type, message = _reported_error(payload) or (
                "Runtime.ExitError",
                f"exit status {code}",
            )
            return InvokeResult(
                error="Unhandled", error_type=error_type, message=message, payload=payload
            )
        return InvokeResult(payload=_decode(bytes(output)))


@dataclass
class Function:
    """A registered function: its name, target and timeout."""

    name: str
    target: Target
    timeout: float = DEFAULT_TIMEOUT


class FunctionRegistry:
    """Function names → targets (from ``--function``, the trigger file, or code)."""

    def __init__(self, default_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.default_timeout = default_timeout
        self._functions: dict[str, Function] = {}
        self._limiter = anyio.CapacityLimiter(HANDLER_THREADS)

    def register(
        self, name: str, target: str | Handler, *, timeout: float | None = None
    ) -> Function:
        """Register (or replace) ``name``. Raises ValueError for an unusable target."""
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError(f"invalid function name {name!r}")
        seconds = self.default_timeout if timeout is None else float(timeout)
        if seconds <= 0:
            raise ValueError(f"function {name}: timeout must be positive")
        function = Function(name, self._target(target, seconds), seconds)
        self._functions[name] = function
        return function

    def _target(self, target: str | Handler, timeout: float) -> Target:
        if callable(target):
            return CallableTarget(target, self._limiter)
        if target.startswith("python:"):
            spec = target.removeprefix("python:")
            if ":" not in spec or not all(spec.split(":", 1)):
                raise ValueError(
                    f"python target must be python:package.module:handler, not {target!r}"
                )
            return PythonTarget(target, self._limiter)
        if target.startswith(("http://", "https://")):
            return HttpTarget(target, timeout)
        if target.startswith("cmd:"):
            return CommandTarget(target.removeprefix("cmd:"))
        raise ValueError(
            f"unknown target {target!r}: expected python:module:handler, http(s)://… or cmd:…"
        )

    def get(self, name: str) -> Function | None:
        return self._functions.get(name)

    def unregister(self, name: str) -> bool:
        """Forget ``name`` (an invocation then fails as for an unknown function);
        whether it was registered."""
        return self._functions.pop(name, None) is not None

    def names(self) -> list[str]:
        return sorted(self._functions)


async def invoke(function: Function, event: dict[str, Any], function_arn: str) -> InvokeResult:
    """Invoke ``function`` with ``event`` within its timeout."""
    context = LambdaContext(function.name, function_arn, function.timeout)
    with anyio.move_on_after(function.timeout):
        return await function.target.invoke(event, context)
    return InvokeResult(
        error="Unhandled",
        error_type="Sandbox.Timedout",
        message=messages.LAMBDA_TIMED_OUT.format(seconds=function.timeout),
    )


Invoker = Callable[[Function, dict[str, Any], str], Awaitable[InvokeResult]]
