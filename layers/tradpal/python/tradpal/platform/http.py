"""The HTTP side of every capability: one resolver factory and one error shape.

Every capability's handler builds its app with :func:`make_app` and adds its routes from a
Powertools ``Router``; the OpenAPI document is built from the same routers
(:mod:`tradpal.platform.openapi`). Every error leaves as

``{"error": {"code": "<snake_case>", "message": "<what is wrong>", "details": <list|dict|null>}}``

with the status that says who must act: 400 a request the library refuses (a
:class:`~tradpal.errors.TradPalError`, with its hint), 404 no such route or resource, 409 an
idempotency key reused with a different request (or while the first is still running), 422 a
body or query that fails validation (``details`` names each failing field), 500 our fault
(logged with the request id; never a traceback in the body).
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from tradpal.errors import FieldError, TradPalError
from tradpal.fields import hint_of, message_of
from tradpal.serialize import dumps

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The error object: a stable ``code``, a human ``message`` and optional ``details``."""

    code: str = Field(description="machine-readable, snake_case (validation_error, not_found...)")
    message: str = Field(description="what is wrong and, where possible, how to fix it")
    details: list[dict[str, Any]] | dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    """Every non-2xx response of the API."""

    error: ErrorBody


class ApiError(Exception):
    """Raise from a route to answer ``status`` with the error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_body(
    code: str, message: str, details: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON error shape as a dict."""
    if details is not None and not isinstance(details, Mapping):
        details = [dict(d) for d in details]
    elif details is not None:
        details = dict(details)
    return {"error": {"code": code, "message": message, "details": details}}


def error_result(status: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    """An error in the one shape as a Lambda proxy result (for answers made outside a
    resolver: a body refused before routing, the local platform's own routes)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": dumps(error_body(code, message, details), indent=None),
        "isBase64Encoded": False,
    }


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response; ``body`` goes through :func:`tradpal.serialize.dumps` (strict JSON:
    NaN and infinities become null, timestamps ISO 8601)."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=dumps(body, indent=None),
        headers=dict(headers or {}),
    )


def model_response(
    model: BaseModel, status: int = 200, *, encoded: Mapping[str, str] | None = None
) -> Response:
    """``model`` as the JSON response Powertools gives for a route that returns it (fields in
    order, compact), built in one pass: ``encoded`` maps field names to JSON text the route
    has encoded already (rows it measured or hashed), written in as it is instead of the
    field's value."""
    members = []
    for name, value in model.model_dump(mode="json", by_alias=True).items():
        text = encoded.get(name) if encoded else None
        if text is None:
            text = json.dumps(value, separators=(",", ":"))
        members.append(f"{json.dumps(name)}:{text}")
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body="{" + ",".join(members) + "}",
    )


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    """An error in the one shape."""
    return json_response(status, error_body(code, message, details))


def validation_details(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic/Powertools validation errors as ``[{"field": "body.strategy", "message",
    "type"}]``, with the ``hint`` of a field the library refused
    (:func:`tradpal.fields.refusal`) or a hint for pydantic's usual errors."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        message = message_of(err)
        detail = {
            "field": ".".join(loc) or "body",
            "message": message,
            "type": str(err.get("type", "value_error")),
        }
        hint = hint_of(err)
        if hint:
            detail["hint"] = hint
        out.append(detail)
    return out


JSON_TYPES = ("application/json",)


def _is_json_type(ctype: str) -> bool:
    """Whether a media type (lowercased, no parameters) is JSON: application/json or a
    structured ``+json`` type (RFC 6839). Media types are case-insensitive (RFC 9110)."""
    return ctype in JSON_TYPES or ctype.endswith("+json")


class _NotJson(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them; JSON has no such values."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(name)


def _strict_json(raw: Any, base64_encoded: bool) -> tuple[str | None, str, Any]:
    """``(problem, text, value)`` of an HTTP API event's body: why it is not strict JSON
    (RFC 8259), or None with its text and parsed value."""
    try:
        data = base64.b64decode(raw, validate=True) if base64_encoded else raw
        text = data.decode("utf-8") if isinstance(data, bytes) else str(data)
    except (ValueError, UnicodeDecodeError):
        return "the request body is not UTF-8 text", "", None
    if text.startswith("\ufeff"):
        return "the request body starts with a byte order mark; send UTF-8 without one", "", None
    try:
        return None, text, json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        problem = f"the request body is not valid JSON: {exc.msg} at {where}"
    except RecursionError:
        problem = "the request body nests arrays or objects too deeply"
    except _NotJson as exc:
        problem = (
            f"the request body holds {exc}, which is not JSON; send a number or null, "
            "or leave the field out"
        )
    except ValueError:  # an integer with more digits than Python converts
        problem = "the request body holds a number with too many digits"
    return problem, "", None


def _checked_body(
    event: Mapping[str, Any],
) -> tuple[dict[str, Any] | None, Mapping[str, Any], tuple[str, Any] | None]:
    """(refusal, event, parsed): 415 for a body that is not JSON by its Content-Type, 400 for
    one that is not strict JSON (unparsable, NaN or Infinity, too deep, not UTF-8), else None,
    the event, its Content-Type normalized to application/json so that validation parses
    every JSON type alike, and the body's ``(text, value)`` (None without a body). No
    Content-Type is taken as JSON, as most HTTP clients send it."""
    raw = event.get("body")
    if not raw:
        return None, event, None
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    ctype = str(headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype and not _is_json_type(ctype):
        return (
            error_result(
                415,
                "unsupported_media_type",
                f"the request body must be JSON, not {ctype}",
                {"hint": "send Content-Type: application/json"},
            ),
            event,
            None,
        )
    problem, text, value = _strict_json(raw, bool(event.get("isBase64Encoded")))
    if problem is not None:
        return (
            error_result(400, "invalid_json", problem, {"hint": "send a JSON object as the body"}),
            event,
            None,
        )
    if ctype and not str(headers["content-type"]).strip().startswith(JSON_TYPES[0]):
        event = {**event, "headers": {**headers, "content-type": JSON_TYPES[0]}}
    return None, event, (text, value)


class _Resolver(APIGatewayHttpResolver):
    """Powertools' resolver, refusing bodies that are not strict JSON before its validation
    reads them, and parsing a body once: validation gets the value the strict check parsed
    (Powertools' ``json_body`` asks the deserializer with the same text)."""

    def __init__(self, **kwargs: Any) -> None:
        self._body = threading.local()
        super().__init__(json_body_deserializer=self._body_value, **kwargs)

    def _body_value(self, text: str) -> Any:
        parsed = getattr(self._body, "parsed", None)
        if parsed is not None and parsed[0] == text:
            return parsed[1]
        return json.loads(text)

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        parsed = None
        if isinstance(event, Mapping):
            refused, event, parsed = _checked_body(event)
            if refused is not None:
                return refused
        self._body.parsed = parsed
        try:
            return super().resolve(event, context)
        finally:
            self._body.parsed = None


def make_app(*, cors_origins: Sequence[str] = ()) -> APIGatewayHttpResolver:
    """A Powertools HTTP API resolver with validation and the error shape installed."""
    from aws_lambda_powertools.event_handler import CORSConfig

    cors = (
        CORSConfig(allow_origin=cors_origins[0], extra_origins=list(cors_origins[1:]))
        if (cors_origins)
        else None
    )
    app = _Resolver(enable_validation=True, cors=cors)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        details = validation_details(exc.errors())
        fields = ", ".join(d["field"] for d in details)
        return error_response(422, "validation_error", f"invalid request: {fields}", details)

    @app.exception_handler(ApiError)
    def _api(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(TradPalError)
    def _refused(exc: TradPalError) -> Response:
        if isinstance(exc, FieldError):
            return error_response(400, "bad_request", exc.message, exc.details())
        details = {"hint": exc.hint} if getattr(exc, "hint", None) else None
        return error_response(400, "bad_request", exc.message, details)

    @app.not_found
    def _not_found(exc: NotFoundError) -> Response:
        return error_response(
            404,
            "not_found",
            f"no route {app.current_event.request_context.http.method} "
            f"{app.current_event.raw_path}",
            None,
        )

    @app.exception_handler(Exception)
    def _internal(exc: Exception) -> Response:
        conflict = _idempotency_refusal(exc)
        if conflict is not None:
            return conflict
        request_id = app.current_event.request_context.request_id
        log.exception("unhandled error in request %s", request_id)
        return error_response(
            500,
            "internal_error",
            f"the server failed on this request (request id {request_id})",
            {"request_id": request_id},
        )

    return app


_IDEMPOTENCY_ERRORS = "aws_lambda_powertools.utilities.idempotency.exceptions"


def _idempotency_refusal(exc: Exception) -> Response | None:
    """409 for an Idempotency-Key reused with another request, or for one still in progress;
    None for any other error. Powertools' idempotency errors are looked up, not imported:
    their package loads boto3 (a tenth of a second of every cold start), and only a function
    that uses idempotency, which has loaded them, can raise them."""
    errors = sys.modules.get(_IDEMPOTENCY_ERRORS)
    if errors is None:
        return None
    if isinstance(exc, errors.IdempotencyValidationError):
        return error_response(
            409,
            "idempotency_conflict",
            "this Idempotency-Key was used with a different request",
            {"hint": "use a new key for a new request, or repeat the first request exactly"},
        )
    if isinstance(exc, errors.IdempotencyAlreadyInProgressError):
        return error_response(
            409,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still being processed",
            {"hint": "retry after a moment to get its result"},
        )
    return None


def not_found(what: str, hint: str | None = None) -> ApiError:
    """An :class:`ApiError` for a missing resource (``raise not_found("backtest run x")``)."""
    return ApiError(
        int(HTTPStatus.NOT_FOUND), "not_found", f"no {what}", {"hint": hint} if hint else None
    )


ERROR_TEXTS: Mapping[int, str] = {
    400: "refused by the library (message and hint say why; details name the field)",
    404: "no such resource",
    409: "Idempotency-Key reused with another request",
    422: "invalid request (details name the fields)",
}
"""What each error status of a route means, unless the route says more."""


def responses(
    model: type[BaseModel] | None,
    errors: Mapping[int, str] | Sequence[int] = (),
    *,
    texts: Mapping[int, str] | None = None,
    status: int = 200,
    description: str | None = None,
) -> dict[int, dict[str, Any]]:
    """A route's OpenAPI ``responses=``: ``model`` at ``status`` (described by
    ``description``, else the model's docstring) and the error shape at each status of
    ``errors`` (a mapping to its text, or statuses described by ``texts``, else by
    :data:`ERROR_TEXTS`). Powertools documents only the responses a route declares once it
    declares any."""

    def content(m: type[BaseModel]) -> dict[str, Any]:
        return {"content": {"application/json": {"model": m}}}

    if description is None:
        description = (model.__doc__ or "").strip().split("\n")[0] if model else ""
    out: dict[int, dict[str, Any]] = {
        status: {"description": description, **(content(model) if model else {})}
    }
    said_by = {**ERROR_TEXTS, **(texts or {})}
    described = errors if isinstance(errors, Mapping) else {c: said_by[c] for c in errors}
    for code, said in described.items():
        out[int(code)] = {"description": said, **content(ErrorResponse)}
    return out
