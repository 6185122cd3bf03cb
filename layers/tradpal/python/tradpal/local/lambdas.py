"""Lambda invocations dispatched in-process to Python callables, for moto.

moto runs Lambda code only in Docker; with ``config={"lambda": {"use_docker": False}}`` it
uses ``LambdaSimpleBackend``, whose ``invoke`` echoes the payload. :meth:`LocalLambda.install`
replaces that ``invoke`` (the one seam every invocation passes through: boto3
``lambda.invoke``, ``invoke_async`` and Step Functions ``lambda:invoke`` and Lambda-ARN
tasks) by a dispatch to registered handlers, keyed by function name. Functions must still
be created in moto (``create_function``), so names, ARNs, qualifiers and "function not
found" behave as in moto.

What a handler does is what Lambda reports:

* it returns a JSON-able value: the invocation's payload (``None`` gives ``null``);
* it raises an exception: a function error (``X-Amz-Function-Error: Unhandled``) with the
  payload ``{"errorType": <exception class name>, "errorMessage": ..., "stackTrace": [...]}``
  that Step Functions turns into the error name ``<exception class name>`` for Retry/Catch;
* it raises :class:`LambdaServiceError`: the Lambda *service* fails the call (HTTP 429
  ``TooManyRequestsException`` by default), which Step Functions' ``lambda:invoke``
  integration names ``Lambda.<code>``: how to exercise a Retry on transient errors.

Every invocation is recorded in :attr:`LocalLambda.calls` (thread-safe: Map children run
in threads). Issue 6's local platform reuses this with the real handlers.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tradpal.errors import ConfigError
from tradpal.platform.aws import Arn, client

INVOKE_READ_TIMEOUT_S = 960
"""Seconds a synchronous invocation may take: Lambda's longest (900 s) and a margin."""

Handler = Callable[[Any, "LambdaContext"], Any]
"""A Lambda handler: ``handler(event, context) -> JSON-able result``."""


class LambdaServiceError(Exception):
    """Raised by a handler to make the Lambda service (not the function) fail the call.

    ``code`` is the service error code (``TooManyRequestsException``,
    ``ServiceException``, ...), ``status`` its HTTP status."""

    def __init__(
        self,
        code: str = "TooManyRequestsException",
        message: str = "Rate exceeded",
        status: int = 429,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class LambdaContext:
    """The parts of Lambda's context object handlers use (Powertools reads these)."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    timeout_s: float = 900.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout (wall clock since the start)."""
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


@dataclass(frozen=True)
class Invocation:
    """One recorded invocation: function name, the event, the outcome (``"ok"``,
    ``"function_error"`` or ``"service_error"``), the error type or code, the payload."""

    function: str
    event: Any
    outcome: str
    error: str | None
    payload: bytes


def _error_payload(exc: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[-5:],
    }


class LocalLambda:
    """In-process Lambda functions: ``{function name: handler}``.

    ``LocalLambda({"backtest-run": run}).install()`` as a context manager, inside
    ``mock_aws(config={"lambda": {"use_docker": False}})``."""

    def __init__(self, handlers: Mapping[str, Handler] | None = None) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        # One invocation at a time per function, as in one Lambda execution environment:
        # handlers keep per-invocation state in module globals (Powertools' resolver holds
        # the current event), which concurrent threads would mix up. A handler marked
        # ``serialises_itself`` (tradpal.local.workers) locks only what it runs here.
        self._running: dict[str, threading.Lock] = {}
        self.calls: list[Invocation] = []
        for name, handler in (handlers or {}).items():
            self.register(name, handler)

    def register(self, function_name: str, handler: Handler) -> None:
        """Run ``handler`` for invocations of ``function_name`` (replaces an earlier one)."""
        if not callable(handler):
            raise ConfigError(f"the handler for {function_name!r} is not callable")
        with self._lock:
            self._handlers[function_name] = handler

    def calls_to(self, function_name: str) -> list[Invocation]:
        """The recorded invocations of one function, in order."""
        with self._lock:
            return [c for c in self.calls if c.function == function_name]

    def dispatch(
        self,
        function_name: str,
        event: Any,
        *,
        function_arn: str = "",
        memory_mb: int = 128,
        timeout_s: float = 900.0,
    ) -> tuple[bytes, str | None]:
        """Run the handler of ``function_name`` on ``event``: ``(payload bytes, function
        error or None)``. A :class:`LambdaServiceError` propagates (the caller maps it)."""
        with self._lock:
            handler = self._handlers.get(function_name)
            running = self._running.setdefault(function_name, threading.Lock())
        if handler is None:
            raise ConfigError(
                f"no in-process handler for Lambda function {function_name!r}",
                hint=f"register one; known: {', '.join(sorted(self._handlers)) or 'none'}",
            )
        context = LambdaContext(
            function_name=function_name,
            invoked_function_arn=function_arn,
            aws_request_id=str(uuid.uuid4()),
            memory_limit_in_mb=memory_mb,
            timeout_s=timeout_s,
        )
        outcome, error, function_error = "ok", None, None
        try:
            if getattr(handler, "serialises_itself", False):  # runs part of its work elsewhere
                result = handler(event, context)
            else:
                with running:
                    result = handler(event, context)
            payload = json.dumps(result).encode()
        except LambdaServiceError as exc:
            self._record(Invocation(function_name, event, "service_error", exc.code, b""))
            raise
        except Exception as exc:  # any handler failure is a function error, as in Lambda
            outcome, error, function_error = "function_error", type(exc).__name__, "Unhandled"
            payload = json.dumps(_error_payload(exc)).encode()
        self._record(Invocation(function_name, event, outcome, error, payload))
        return payload, function_error

    def _record(self, call: Invocation) -> None:
        with self._lock:
            self.calls.append(call)

    def _backend_invoke(
        self,
        backend: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        from moto.awslambda.exceptions import LambdaClientError

        fn = backend.get_function(function_name, qualifier)  # moto's not-found errors
        text = body.decode() if isinstance(body, bytes) else body
        event = json.loads(text) if text else {}
        try:
            payload, function_error = self.dispatch(
                fn.function_name,
                event,
                function_arn=fn.function_arn,
                memory_mb=int(fn.memory_size or 128),
                timeout_s=float(fn.timeout or 3),
            )
        except LambdaServiceError as exc:
            error = LambdaClientError(exc.code, exc.message)
            error.code = exc.status
            raise error from None
        if function_error:
            response_headers["x-amz-function-error"] = function_error
        response_headers["Content-Length"] = str(len(payload))
        return payload

    @contextmanager
    def install(self) -> Iterator[LocalLambda]:
        """Within the block, moto's Lambda-without-Docker backend runs these handlers.

        Patches ``LambdaSimpleBackend.invoke`` (process-wide: moto in server mode must run
        in this process) and restores it on exit."""
        from moto.awslambda_simple.models import LambdaSimpleBackend

        original = LambdaSimpleBackend.invoke
        local = self

        def invoke(backend, function_name, qualifier, body, headers, response_headers):
            return local._backend_invoke(
                backend, function_name, qualifier, body, headers, response_headers
            )

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
        try:
            yield self
        finally:
            LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]


@dataclass(frozen=True)
class InvokeOutcome:
    """One synchronous Lambda invocation: the decoded payload and the function error
    (``"Unhandled"``) or service error code (``"TooManyRequestsException"``), if any."""

    payload: Any
    function_error: str | None = None
    service_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.function_error is None and self.service_error is None

    @property
    def error_text(self) -> str:
        """``"<errorType>: <errorMessage>"`` of a failed invocation, "" when it succeeded."""
        if self.service_error:
            return str(self.service_error)
        if self.function_error:
            p = self.payload if isinstance(self.payload, dict) else {}
            return f"{p.get('errorType', self.function_error)}: {p.get('errorMessage', '')}"
        return ""


def invoke(function: str, event: Any, *, region: str | None = None) -> InvokeOutcome:
    """Invoke ``function`` (name or ARN) synchronously through moto's Lambda API, where
    :class:`~tradpal.local.lambdas.LocalLambda` runs the handler in-process."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    if function.startswith("arn:"):
        region = region or Arn.parse(function).region
    try:
        response = client(
            "lambda", region, retries=False, read_timeout_s=INVOKE_READ_TIMEOUT_S
        ).invoke(FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event))
    except ClientError as exc:
        err = exc.response.get("Error", {})
        return InvokeOutcome(None, service_error=f"{err.get('Code')}: {err.get('Message')}")
    except EndpointConnectionError as exc:
        return InvokeOutcome(None, service_error=f"EndpointConnectionError: {exc}")
    raw = response["Payload"].read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode(errors="replace")
    return InvokeOutcome(payload, function_error=response.get("FunctionError"))
