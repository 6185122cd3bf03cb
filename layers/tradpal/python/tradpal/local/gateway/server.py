"""The local HTTP gateway: API Gateway's HTTP API on 127.0.0.1, in front of in-process Lambdas.

For every request, in API Gateway's order:

1. CORS preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is
   answered by the gateway itself when ``cors_origins`` are configured, without auth.
2. Bodies over 6 MB (:data:`~tradpal.platform.catalog.MAX_BODY_BYTES`, the most a Lambda
   invocation takes; API Gateway itself takes 10 MB): 413, before the body is read.
3. The route is matched from the catalog (path parameters like ``/v1/backtests/{id}``); no
   route for the method and path: 404. The gateway's own routes (``/.well-known/jwks.json``,
   ``/.well-known/openid-configuration`` and ``extra_routes``) are public and unthrottled.
4. The route's token bucket (the catalog's :class:`~tradpal.platform.catalog.Throttle`:
   ``rate`` per second, ``burst``, for all callers together, as the deployed route throttle)
   is taken: empty: 429 with ``Retry-After``.
5. Routes that are not ``public``: the bearer token is verified as the deployed JWT
   authorizer does (:mod:`tradpal.auth.jwt`): 401 for no or a bad token, 403 without one of
   the route's scopes. The handler is not invoked.
   Then the caller's own bucket on the route is taken (``caller_rate``, ``caller_burst``;
   the caller is the token's subject, :func:`caller_of`): empty: 429 with ``Retry-After``,
   and the route's token is given back, so a caller over its own limit never uses up the
   others' ceiling. This one is local only: an HTTP API has no per-client limits (no usage
   plans or API keys), so on AWS one client's burst can throttle a route for everyone. A
   429's ``details`` say whose limit it was: ``{"limit": "route" | "caller", "rate",
   "burst"}``; neither the token nor its claims are echoed.
6. The HTTP API v2 event (:func:`tradpal.local.gateway.payload.build_event`) goes to
   ``invoke(capability, event)``; its result becomes the response. An exception or a
   malformed result: 500.

Every response carries ``apigw-requestid``. Refusals by the gateway use the API's one error
shape ``{"error": {"code", "message", "details"}}`` (codes: unauthorized, forbidden,
not_found, too_many_requests, payload_too_large, internal_error; and bad_request,
uri_too_long, request_header_fields_too_large for what ``http.server`` refuses while reading
the request's head). AWS's own bodies for these are ``{"message": "Unauthorized"}`` (and
Forbidden, Not Found, Too Many Requests, Request Entity Too Large, Internal Server Error),
which HTTP APIs cannot customise; clients should rely on the status code (and for 401/403 on
the ``www-authenticate`` header, which both send).

Access log lines go to the ``tradpal.local.gateway`` logger at INFO: client, method, path
(without the query string), status, bytes, milliseconds, request id. Never headers, query
strings or bodies, so no token reaches a log.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tradpal.auth.issuer import openid_configuration
from tradpal.auth.jwt import AuthError, AuthorizerConfig, authorize, bearer_token, verify_token
from tradpal.auth.jwt import token_scopes as _token_scopes
from tradpal.local.gateway.payload import (
    HttpRequest,
    HttpResponse,
    LambdaResponseError,
    build_event,
    lambda_response,
    new_request_id,
)
from tradpal.local.gateway.routes import RouteMatch, RouteTable
from tradpal.local.gateway.throttle import MAX_CALLERS, CallerBuckets, TokenBucket, retry_after
from tradpal.platform.catalog import MAX_BODY_BYTES, Catalog
from tradpal.platform.http import error_body

Invoke = Callable[[str, dict[str, Any]], Any]
ExtraRoute = Callable[[dict[str, Any]], Any]
_log = logging.getLogger(__name__)
_JSON = ("content-type", "application/json")
# Idle keep-alive connections are closed after this many seconds.
IDLE_TIMEOUT_S = 30.0
# What http.server reads of a request's head (431 beyond): bytes of one header line, headers.
MAX_HEADER_LINE = getattr(http.client, "_MAXLINE", 65536)
MAX_HEADERS = getattr(http.client, "_MAXHEADERS", 100)
# The deployed API's limit ("Quotas for configuring and running an HTTP API").
AWS_MAX_HEAD_BYTES = 10240


class _Refusal(Exception):
    """A response the gateway makes itself (error shape), with extra headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: tuple = (), details: Any = None
    ) -> None:
        super().__init__(message)
        body = _error_json(code, message, details)
        self.response = HttpResponse(status, (_JSON, *headers), body)


def caller_of(claims: Mapping[str, Any]) -> str:
    """Who a verified token speaks for, for the per-caller throttles: its ``sub``.

    The subject, because it is the principal: every token of one user (or, in Cognito's
    client-credentials flow, of one app client, whose tokens' ``sub`` is the client id)
    shares it, so minting or fetching another token does not give a fresh bucket, as keying
    on ``jti`` (new in every token) would. Not ``client_id``: every user of one app client
    (a dashboard) has the same one. A token without a ``sub`` is counted by its
    ``client_id``, and tokens with neither share one bucket.
    """
    for claim in ("sub", "client_id"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return f"{claim}:{value}"
    return "none:"


class LocalGateway:
    """API Gateway (HTTP API, JWT authorizer, per-route throttles) on ``host:port``, with
    per-caller throttles under the route's (which AWS does not have).

    ``invoke(capability_name, event)`` runs the capability's Lambda handler and returns its
    result. ``jwks`` is the issuer's key set, or a callable returning it (read per request, so
    a rotated key is picked up). ``port=0`` picks a free port (see :attr:`url`).
    ``extra_routes``: ``{"GET /openapi.json": fn(event) -> Lambda-style result}``, public and
    unthrottled. ``clock``: the throttle's monotonic seconds (tests pass a fake one).
    ``max_callers``: the most callers whose buckets are kept per route (idle ones are dropped
    before that; see :class:`~tradpal.local.gateway.throttle.CallerBuckets`).
    """

    def __init__(
        self,
        catalog: Catalog,
        invoke: Invoke,
        *,
        authorizer: AuthorizerConfig,
        jwks: Callable[[], Mapping[str, Any]] | Mapping[str, Any],
        host: str = "127.0.0.1",
        port: int = 0,
        throttle: bool = True,
        extra_routes: Mapping[str, ExtraRoute] | None = None,
        cors_origins: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
        account_id: str = "123456789012",
        api_id: str = "local",
        max_body_bytes: int = MAX_BODY_BYTES,
        max_callers: int = MAX_CALLERS,
    ) -> None:
        self.catalog = catalog
        self.invoke = invoke
        self.authorizer = authorizer
        self._jwks = jwks if callable(jwks) else (lambda: jwks)
        self.host, self._port = host, port
        self.account_id, self.api_id = account_id, api_id
        self.cors_origins = tuple(cors_origins)
        self.max_body_bytes = max_body_bytes
        self.routes = RouteTable(catalog)
        self._buckets: dict[str, TokenBucket] = {}
        self._callers: dict[str, CallerBuckets] = {}
        if throttle:
            for key, (_cap, route) in catalog.routes().items():
                limit = route.throttle
                self._buckets[key] = TokenBucket(limit.rate, limit.burst, clock)
                if not route.public:  # a public route has no caller to tell apart
                    self._callers[key] = CallerBuckets(
                        limit.caller_rate, limit.caller_burst, clock, max_callers=max_callers
                    )
        self._own: dict[str, ExtraRoute] = {
            "GET /.well-known/jwks.json": lambda _event: dict(self._jwks()),
            "GET /.well-known/openid-configuration": lambda _event: openid_configuration(
                self.authorizer.issuer, self.url
            ),
            **dict(extra_routes or {}),
        }
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the real one once started with ``port=0``)."""
        return self._server.server_address[1] if self._server else self._port

    @property
    def url(self) -> str:
        """``http://host:port``, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalGateway:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        server = _Server((self.host, self._port), _make_handler(self))
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"tradpal-gateway-{self.port}",
            daemon=True,
        )
        self._thread.start()
        _log.info("gateway listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection (idle keep-alives included)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._port = server.server_address[1]

    def __enter__(self) -> LocalGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request -----------------------------------------------------------------------

    def handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        """The response to one request whose body has been read (steps 3-6)."""
        try:
            return self._handle(request, request_id)
        except _Refusal as refusal:
            return refusal.response

    def _handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        own = self._own.get(f"{request.method} {request.raw_path}")
        if own is not None:
            match = RouteMatch(f"{request.method} {request.raw_path}", None, None)
            return self._call(own, request, match, request_id, None)
        match = self.routes.match(request.method, request.raw_path)
        if match is None or match.route is None or match.capability is None:
            raise _Refusal(404, "not_found", f"no route for {request.method} {request.raw_path}")
        bucket = self._buckets.get(match.key)
        wait = bucket.take() if bucket is not None else 0.0
        if wait > 0:
            raise _throttled(
                f"{match.key} is throttled for all callers together",
                "route",
                bucket.rate,
                bucket.burst,
                wait,
            )
        claims = None
        if not match.route.public:
            claims = self._authorize(request, match)
            callers = self._callers.get(match.key)
            wait = callers.take(caller_of(claims)) if callers is not None else 0.0
            if wait > 0:
                if bucket is not None:
                    bucket.refund()
                raise _throttled(
                    f"{match.key} is throttled for this caller (the token's subject; other "
                    "callers are still served)",
                    "caller",
                    callers.rate,
                    callers.burst,
                    wait,
                )
        capability = match.capability
        return self._call(
            lambda event: self.invoke(capability, event), request, match, request_id, claims
        )

    def _authorize(self, request: HttpRequest, match: RouteMatch) -> dict[str, Any]:
        values = [v for k, v in request.headers if k.lower() == "authorization"]
        try:
            if len(values) > 1:
                raise AuthError("the request has more than one Authorization header")
            token = bearer_token(values[0] if values else None)
            claims = verify_token(token, self.authorizer, self._jwks())
            authorize(claims, match.route.scopes, self.authorizer)
        except AuthError as exc:
            raise _Refusal(
                exc.status, exc.code, str(exc), (("www-authenticate", exc.www_authenticate),)
            ) from None
        return claims

    def _call(
        self,
        fn: Callable[[dict[str, Any]], Any],
        request: HttpRequest,
        match: RouteMatch,
        request_id: str,
        claims: dict[str, Any] | None,
    ) -> HttpResponse:
        event = build_event(
            request,
            match,
            request_id=request_id,
            epoch=time.time(),
            claims=claims,
            scopes=_token_scopes(claims) if claims is not None else (),
            account_id=self.account_id,
            api_id=self.api_id,
            local_port=self.port,
        )
        try:
            return lambda_response(fn(event))
        except LambdaResponseError as exc:
            _log.error("%s (request %s): malformed Lambda response: %s", match.key, request_id, exc)
        except Exception:
            _log.exception("%s (request %s): the function failed", match.key, request_id)
        raise _Refusal(500, "internal_error", "Internal Server Error")

    def cors_headers(self, origin: str | None) -> tuple[tuple[str, str], ...]:
        """``access-control-allow-origin`` (and ``vary``) for an allowed ``origin``."""
        if origin and (origin in self.cors_origins or "*" in self.cors_origins):
            return (("access-control-allow-origin", origin), ("vary", "origin"))
        return ()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128


def _make_handler(gateway: LocalGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.gateway = gateway
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "tradpal-local-gateway"
    timeout = IDLE_TIMEOUT_S
    gateway: LocalGateway

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self.gateway._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.gateway._track(self.connection, False)

    def _serve(self) -> None:
        started = time.perf_counter()
        request_id = new_request_id()
        split = urlsplit(self.path)
        raw_path, raw_query = split.path or "/", split.query
        try:
            response = self._respond(raw_path, raw_query, request_id)
        except _Refusal as refusal:
            response = refusal.response
        headers = (*response.headers, *self.gateway.cors_headers(self.headers.get("origin")))
        # Logged before the write, so a client that has its response also has its log line.
        _log.info(
            '%s "%s %s" %d %d %.1fms %s',
            self.client_address[0],
            self.command,
            raw_path,
            response.status,
            len(response.body),
            (time.perf_counter() - started) * 1000,
            request_id,
        )
        self._write(response.status, headers, response.body, request_id)

    def _respond(self, raw_path: str, raw_query: str, request_id: str) -> HttpResponse:
        gw = self.gateway
        if (
            self.command == "OPTIONS"
            and gw.cors_origins
            and self.headers.get("origin")
            and self.headers.get("access-control-request-method")
        ):
            self._read_body(0)
            return _preflight(bool(gw.cors_headers(self.headers.get("origin"))))
        body = self._read_body(gw.max_body_bytes)
        request = HttpRequest(
            method=self.command,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=tuple(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        return gw.handle(request, request_id)

    def _read_body(self, limit: int) -> bytes:
        too_large = _Refusal(
            413, "payload_too_large", f"the request body is over {limit} bytes (the API's limit)"
        )
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked(limit, too_large)
        length_text = self.headers.get("content-length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError(length_text)
        except ValueError:
            self.close_connection = True
            raise _Refusal(400, "bad_request", "Content-Length is not a number") from None
        if length > limit:
            self.close_connection = True  # the unread body would be taken as the next request
            raise too_large
        return self.rfile.read(length)

    def _read_chunked(self, limit: int, too_large: _Refusal) -> bytes:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                self.close_connection = True
                raise _Refusal(400, "bad_request", "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > limit:
                self.close_connection = True
                raise too_large
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _write(self, status: int, headers, body: bytes, request_id: str) -> None:
        self.send_response(status)
        for name, value in headers:
            # The gateway frames the message itself.
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("apigw-requestid", request_id)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """Errors http.server raises itself (bad request line, unknown method): same shape."""
        if code == 501 and getattr(self, "command", None):
            # A method no route uses (TRACE...): API Gateway matches no route, so 404.
            self._serve()
            return
        self.close_connection = True
        text = message or self.responses.get(code, ("error",))[0]
        if code == 431:
            text = _head_too_large(message)
        codes = {
            400: "bad_request",
            414: "uri_too_long",
            431: "request_header_fields_too_large",
            501: "not_implemented",
        }
        body = _error_json(codes.get(code, "bad_request"), text)
        with contextlib.suppress(OSError):  # the client went away
            self._write(code, (_JSON,), body, new_request_id())

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("gateway: " + format, *args)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


def _preflight(allowed: bool) -> HttpResponse:
    # API Gateway answers preflights itself (cdk/api.py: any method, these headers, 1 hour);
    # the allowed origin is added like on every response.
    headers = (
        ("access-control-allow-methods", "GET,POST,PUT,PATCH,DELETE,OPTIONS"),
        ("access-control-allow-headers", "authorization,content-type,idempotency-key"),
        ("access-control-max-age", "3600"),
    )
    return HttpResponse(204, headers if allowed else (), b"")


def _throttled(what: str, limit: str, rate: float, burst: int, wait_s: float) -> _Refusal:
    return _Refusal(
        429,
        "too_many_requests",
        f"{what}: {rate:g} requests/s, burst {burst}; retry after the Retry-After seconds",
        (("retry-after", retry_after(wait_s)),),
        {"limit": limit, "rate": rate, "burst": burst},
    )


def _head_too_large(message: str | None) -> str:
    """http.server's 431 ("Line too long", "Too many headers") as what to do about it."""
    aws = (
        f"the deployed API takes at most {AWS_MAX_HEAD_BYTES} bytes of request line and "
        "headers together"
    )
    if message == "Too many headers":
        return (
            f"the request has more than {MAX_HEADERS} headers, the local gateway's limit "
            f"({aws}): send fewer headers"
        )
    return (
        f"a request header line is over {MAX_HEADER_LINE} bytes, the local gateway's limit "
        f"({aws}): send a shorter token (Authorization) or shorter headers"
    )


def _error_json(code: str, message: str, details: Any = None) -> bytes:
    return json.dumps(error_body(code, message, details)).encode()
