"""API Gateway's HTTP API payload format 2.0, both ways: the Lambda event built from an HTTP
request, and the Lambda result turned back into an HTTP response.

Payload format 2.0 as API Gateway builds it ("Working with AWS Lambda proxy integrations for
HTTP APIs" in the developer guide): header names lower case, duplicate headers and duplicate
query parameters joined with commas, the ``Cookie`` header moved to ``cookies``, no
``queryStringParameters``/``pathParameters``/``body`` keys when there are none, binary bodies
base64-encoded, JWT claims as strings in ``requestContext.authorizer.jwt.claims``. A result
with a ``statusCode`` is a response; any other JSON value is a 200 ``application/json`` body.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from tradpal.local.gateway.routes import RouteMatch

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|xml|javascript|x-www-form-urlencoded|x-ndjson|yaml|"
    r"graphql|[a-z0-9.+-]*\+(json|xml)))$"
)


def is_text(content_type: str | None) -> bool:
    """Whether API Gateway passes a body of this type as text (else base64)."""
    if not content_type:
        return True
    return bool(_TEXT_TYPES.match(content_type.split(";", 1)[0].strip().lower()))


def _claim_text(value: Any) -> str:
    # API Gateway hands claims to the integration as strings; arrays as "[a b]".
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(v) for v in value) + "]"
    return json.dumps(value, separators=(",", ":"))


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """JWT claims as API Gateway passes them in ``requestContext.authorizer.jwt.claims``."""
    return {k: _claim_text(v) for k, v in claims.items()}


def new_request_id() -> str:
    """A request id shaped like API Gateway's (``apigw-requestid``): 16 base64 characters."""
    return base64.b64encode(os.urandom(10)).decode("ascii").replace("/", "_").replace("+", "-")


def _trace_id(epoch: float) -> str:
    return f"Root=1-{int(epoch):08x}-{os.urandom(12).hex()}"


def request_time(epoch: float) -> str:
    """``12/Mar/2020:19:03:58 +0000``: the ``requestContext.time`` format (UTC, English)."""
    t = time.gmtime(epoch)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def _join(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as received: ``headers`` in arrival order with names as sent."""

    method: str
    raw_path: str
    raw_query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


def build_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    request_id: str,
    epoch: float,
    claims: Mapping[str, Any] | None = None,
    scopes: Iterable[str] = (),
    account_id: str = "123456789012",
    api_id: str = "local",
    local_port: int | None = None,
) -> dict[str, Any]:
    """The HTTP API payload format 2.0 event API Gateway sends the route's Lambda.

    ``claims`` (verified JWT claims) and ``scopes`` go to ``requestContext.authorizer.jwt``;
    routes without an authorizer have no ``authorizer`` key. ``epoch``: request time in
    seconds since the epoch.
    """
    lowered = [(k.lower(), v) for k, v in request.headers]
    cookies = [c.strip() for k, v in lowered if k == "cookie" for c in v.split(";") if c.strip()]
    headers = _join((k, v) for k, v in lowered if k != "cookie")
    headers["x-forwarded-for"] = (
        f"{headers['x-forwarded-for']}, {request.source_ip}"
        if "x-forwarded-for" in headers
        else request.source_ip
    )
    headers["x-forwarded-proto"] = "http"
    if local_port is not None:
        headers["x-forwarded-port"] = str(local_port)
    headers.setdefault("x-amzn-trace-id", _trace_id(epoch))
    domain = headers.get("host", "localhost")
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": match.key,
        "stage": "$default",
        "time": request_time(epoch),
        "timeEpoch": int(epoch * 1000),
    }
    if claims is not None:
        context["authorizer"] = {
            "jwt": {"claims": flatten_claims(claims), "scopes": sorted(scopes)}
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.raw_query:
        event["queryStringParameters"] = _join(parse_qsl(request.raw_query, keep_blank_values=True))
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    event["requestContext"] = context
    encoded = False
    if request.body:
        if is_text(headers.get("content-type")):
            try:
                event["body"] = request.body.decode("utf-8")
            except UnicodeDecodeError:
                encoded = True
        else:
            encoded = True
        if encoded:
            event["body"] = base64.b64encode(request.body).decode("ascii")
    event["isBase64Encoded"] = encoded
    return event


class LambdaResponseError(ValueError):
    """The function's result is not a valid HTTP API response (API Gateway answers 500)."""


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP response: ``headers`` as (name, value) pairs, ``Set-Cookie`` repeated."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _header_text(name: Any, value: Any) -> str:
    if not isinstance(name, str) or not name or any(c in name for c in ":\r\n \t"):
        raise LambdaResponseError(f"response header name {name!r} is invalid")
    if isinstance(value, bool):
        value = "true" if value else "false"
    if not isinstance(value, str | int | float):
        raise LambdaResponseError(f"response header {name} has a {type(value).__name__} value")
    text = str(value)
    if "\r" in text or "\n" in text:
        raise LambdaResponseError(f"response header {name} contains a line break")
    return text


def lambda_response(result: Any) -> HttpResponse:
    """The HTTP response API Gateway makes of a Lambda result (payload format 2.0).

    A dict with ``statusCode`` is taken as ``{statusCode, headers, body, isBase64Encoded,
    cookies}``; any other JSON value becomes a 200 ``application/json`` response whose body is
    that value (a string as it is, anything else as JSON). Raises
    :class:`LambdaResponseError` when the result is malformed.
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        try:
            body = result if isinstance(result, str) else json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise LambdaResponseError(f"the result is not JSON: {exc}") from exc
        return HttpResponse(200, (("content-type", "application/json"),), body.encode("utf-8"))
    status = result["statusCode"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise LambdaResponseError(f"statusCode {status!r} is not an HTTP status")
    headers = result.get("headers") or {}
    cookies = result.get("cookies") or []
    if not isinstance(headers, dict):
        raise LambdaResponseError("headers is not an object")
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise LambdaResponseError("cookies is not a list of strings")
    pairs = [(k, _header_text(k, v)) for k, v in headers.items()]
    pairs += [("set-cookie", _header_text("set-cookie", c)) for c in cookies]
    body = result.get("body")
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        raise LambdaResponseError(f"body is a {type(body).__name__}, not a string")
    elif result.get("isBase64Encoded") is True:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise LambdaResponseError("body is not valid base64") from exc
    else:
        raw = body.encode("utf-8")
    return HttpResponse(status, tuple(pairs), raw)
