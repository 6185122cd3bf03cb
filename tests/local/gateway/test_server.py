"""The local gateway over real HTTP on 127.0.0.1: routes, the JWT authorizer's refusals (the
handler never runs), HTTP API v2 events field by field, responses, throttling, limits."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import socket
import time

import pytest
from fakes.jwt_tokens import refused_tokens

from tradpal.auth.issuer import LocalIssuer
from tradpal.auth.jwt import AuthorizerConfig
from tradpal.local.gateway import LocalGateway
from tradpal.platform.catalog import CATALOG, Capability, Catalog, Route, Throttle

ECHO = Capability(
    name="echo",
    description="test capability",
    routes=(
        Route("GET", "/v1/echo", ("read",)),
        Route("POST", "/v1/echo", ("trade",)),
        Route("GET", "/v1/echo/{id}/items/{item}", ("admin", "read")),
        Route("GET", "/v1/echo/fixed/items/{item}", ("read",)),
    ),
)
LIMITED = Capability(
    name="limited",
    description="tight throttle",
    routes=(
        Route("GET", "/v1/limited", ("read",), Throttle(rate=1.0, burst=2)),
        Route("GET", "/v1/limited/open", (), Throttle(rate=1.0, burst=1), public=True),
        # 4 at once and one every 2 s for all callers; 2 at once and one every 4 s for each
        Route(
            "GET",
            "/v1/limited/shared",
            ("read",),
            Throttle(rate=0.5, burst=4, caller_rate=0.25, caller_burst=2),
        ),
    ),
)
TEST_CATALOG = Catalog((*CATALOG.capabilities, ECHO, LIMITED))


class Echo:
    """The Lambda stand-in: records each event and answers as ``?mode=`` asks."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, name: str, event: dict):
        self.calls.append((name, event))
        mode = (event.get("queryStringParameters") or {}).get("mode", "echo")
        if mode == "plain":
            return {"capability": name, "n": [1, 2]}
        if mode == "string":
            return "just text"
        if mode == "binary":
            return {
                "statusCode": 201,
                "headers": {"content-type": "application/octet-stream", "x-count": 3},
                "body": base64.b64encode(b"\x00\xffbin").decode(),
                "isBase64Encoded": True,
                "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            }
        if mode == "raise":
            raise RuntimeError("handler exploded with a secret in the message")
        if mode == "bad_status":
            return {"statusCode": "200", "body": "x"}
        if mode == "bad_body":
            return {"statusCode": 200, "body": {"not": "a string"}}
        if mode == "not_json":
            return {"value": object()}
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"capability": name, "event": event}),
        }


@pytest.fixture(scope="module")
def issuer(tmp_path_factory) -> LocalIssuer:
    return LocalIssuer.load_or_create(tmp_path_factory.mktemp("issuer"))


@pytest.fixture(scope="module")
def other(tmp_path_factory) -> LocalIssuer:
    return LocalIssuer.load_or_create(tmp_path_factory.mktemp("other"))


@pytest.fixture(scope="module")
def _gateway(issuer):
    echo = Echo()
    gw = LocalGateway(
        TEST_CATALOG,
        echo,
        authorizer=issuer.authorizer_config(),
        jwks=issuer.jwks,
        throttle=False,
        cors_origins=("http://localhost:8000",),
        extra_routes={"GET /openapi.json": lambda event: {"openapi": "3.1.0"}},
    )
    with gw:
        yield gw, echo


@pytest.fixture
def gw(_gateway):
    gateway, echo = _gateway
    echo.calls.clear()
    return gateway


@pytest.fixture
def echo(_gateway) -> Echo:
    return _gateway[1]


def call(gw, method, path, headers=(), body=None, conn=None):
    """One request; returns (status, headers lower-cased with repeats as lists, body)."""
    c = conn or http.client.HTTPConnection(gw.host, gw.port, timeout=10)
    c.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers:
        c.putheader(name, value)
    if body is not None:
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    data = r.read()
    got: dict = {}
    for name, value in r.getheaders():
        key = name.lower()
        got[key] = [*got.get(key, []), value] if key == "set-cookie" else value
    if conn is None:
        c.close()
    return r.status, got, data


def bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


def error_of(body: bytes) -> dict:
    doc = json.loads(body)
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message", "details"}
    return doc["error"]


def test_valid_token_reaches_the_handler_as_a_v2_event(gw, echo, issuer):
    token = issuer.mint(["read"], subject="alice")
    t0 = time.time()
    status, headers, body = call(
        gw,
        "GET",
        "/v1/echo/a%2Fb%20c/items/x1?q=1&q=2&empty=&flag&enc=%C3%A9",
        [
            bearer(token),
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("Cookie", "a=1; b=2"),
            ("Cookie", "c=3"),
            ("User-Agent", "pytest-agent/1"),
        ],
    )
    t1 = time.time()
    assert status == 200
    ((name, event),) = echo.calls
    assert name == "echo" and json.loads(body)["event"] == event
    assert list(event) == [
        "version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers",
        "queryStringParameters", "pathParameters", "requestContext", "isBase64Encoded",
    ]  # fmt: skip
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/echo/{id}/items/{item}"
    assert event["rawPath"] == "/v1/echo/a%2Fb%20c/items/x1"
    assert event["rawQueryString"] == "q=1&q=2&empty=&flag&enc=%C3%A9"
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    h = event["headers"]
    assert h["x-multi"] == "one,two" and "cookie" not in h
    assert h["authorization"] == f"Bearer {token}"  # API Gateway passes it on
    assert h["host"] == f"127.0.0.1:{gw.port}" and h["user-agent"] == "pytest-agent/1"
    assert h["x-forwarded-for"] == "127.0.0.1" and h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-port"] == str(gw.port)
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", h["x-amzn-trace-id"])
    assert all(k == k.lower() for k in h)
    assert event["queryStringParameters"] == {"q": "1,2", "empty": "", "flag": "", "enc": "é"}
    assert event["pathParameters"] == {"id": "a/b c", "item": "x1"}
    assert event["isBase64Encoded"] is False and "body" not in event
    ctx = event["requestContext"]
    assert ctx["accountId"] == "123456789012" and ctx["apiId"] == "local"
    assert ctx["domainName"] == f"127.0.0.1:{gw.port}" and ctx["domainPrefix"] == "127"
    assert ctx["http"] == {
        "method": "GET",
        "path": "/v1/echo/a%2Fb%20c/items/x1",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "pytest-agent/1",
    }
    assert ctx["requestId"] == headers["apigw-requestid"] and len(ctx["requestId"]) == 16
    assert ctx["routeKey"] == event["routeKey"] and ctx["stage"] == "$default"
    assert int(t0 * 1000) <= ctx["timeEpoch"] <= int(t1 * 1000) + 1
    assert ctx["time"] == time.strftime(
        "%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ctx["timeEpoch"] / 1000)
    )
    claims = ctx["authorizer"]["jwt"]["claims"]
    assert ctx["authorizer"]["jwt"]["scopes"] == ["read"]
    assert claims["sub"] == "alice" and claims["scope"] == "read"
    assert claims["iss"] == issuer.issuer and claims["aud"] == issuer.audience
    assert all(isinstance(v, str) for v in claims.values())  # API Gateway passes strings
    assert int(claims["exp"]) - int(claims["iat"]) == 3600


def test_literal_segments_win_over_parameters(gw, echo, issuer):
    assert call(gw, "GET", "/v1/echo/fixed/items/7", [bearer(issuer.mint(["read"]))])[0] == 200
    assert echo.calls[-1][1]["routeKey"] == "GET /v1/echo/fixed/items/{item}"


def test_bodies_text_and_binary(gw, echo, issuer):
    auth = bearer(issuer.mint(["trade"]))
    doc = json.dumps({"x": "é"}).encode()
    call(gw, "POST", "/v1/echo", [auth, ("Content-Type", "application/json")], doc)
    event = echo.calls[-1][1]
    assert event["body"] == doc.decode() and event["isBase64Encoded"] is False
    raw = bytes(range(256))
    call(gw, "POST", "/v1/echo", [auth, ("Content-Type", "application/octet-stream")], raw)
    event = echo.calls[-1][1]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw
    call(gw, "POST", "/v1/echo", [auth, ("Content-Type", "text/plain")], b"\xff\xfe")
    assert base64.b64decode(echo.calls[-1][1]["body"]) == b"\xff\xfe"


def test_responses_are_converted_like_api_gateway(gw, issuer):
    auth = [bearer(issuer.mint(["read"]))]
    status, headers, body = call(gw, "GET", "/v1/echo?mode=plain", auth)
    assert (status, headers["content-type"]) == (200, "application/json")
    assert json.loads(body) == {"capability": "echo", "n": [1, 2]}
    status, headers, body = call(gw, "GET", "/v1/echo?mode=string", auth)
    assert (status, body) == (200, b"just text")
    status, headers, body = call(gw, "GET", "/v1/echo?mode=binary", auth)
    assert (status, body) == (201, b"\x00\xffbin")
    assert headers["content-type"] == "application/octet-stream" and headers["x-count"] == "3"
    assert headers["set-cookie"] == ["a=1; Path=/", "b=2; HttpOnly"]


@pytest.mark.parametrize("mode", ["raise", "bad_status", "bad_body", "not_json"])
def test_handler_failures_are_500_without_details(gw, issuer, mode, caplog):
    with caplog.at_level(logging.ERROR, logger="tradpal.local.gateway"):
        status, headers, body = call(
            gw, "GET", f"/v1/echo?mode={mode}", [bearer(issuer.mint(["read"]))]
        )
    assert status == 500
    err = error_of(body)
    assert err["code"] == "internal_error" and err["message"] == "Internal Server Error"
    assert b"secret" not in body and "apigw-requestid" in headers
    assert headers["apigw-requestid"] in caplog.text


def test_every_bad_token_is_401_and_never_invoked(gw, echo, issuer, other):
    for name, token in refused_tokens(issuer, other).items():
        status, headers, body = call(gw, "GET", "/v1/echo", [bearer(token)])
        assert status == 401, name
        assert error_of(body)["code"] == "unauthorized", name
        assert headers["www-authenticate"].startswith('Bearer scope="" error="invalid_token"')
    assert echo.calls == []


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Authorization", "")],
        [("Authorization", "Basic dXNlcjpwYXNz")],
        [("Authorization", "Bearer")],
        [("Authorization", "Bearer ")],
        [("Authorization", "Token abc.def.ghi")],
        [("Authorization", "garbage")],
        [("Authorization", "Bearer a.b.c")],
        [("Authorization", "Bearer !!!.@@@.###")],
    ],
    ids=["missing", "empty", "basic", "bearer_only", "bearer_space", "token_scheme", "garbage",
         "three_parts", "not_base64"],
)  # fmt: skip
def test_malformed_authorization_headers_are_401(gw, echo, headers):
    status, _headers, body = call(gw, "GET", "/v1/echo", headers)
    assert status == 401 and error_of(body)["code"] == "unauthorized"
    assert echo.calls == []


def test_two_authorization_headers_are_refused(gw, echo, issuer):
    token = issuer.mint(["read"])
    status, _h, _b = call(gw, "GET", "/v1/echo", [bearer(token), bearer(token)])
    assert status == 401 and echo.calls == []


def test_bare_token_is_accepted_as_api_gateway_does(gw, echo, issuer):
    status, _h, _b = call(gw, "GET", "/v1/echo", [("Authorization", issuer.mint(["read"]))])
    assert status == 200 and len(echo.calls) == 1


def test_missing_scope_is_403(gw, echo, issuer):
    read_only = bearer(issuer.mint(["read"]))
    status, headers, body = call(gw, "POST", "/v1/echo", [read_only], b"{}")
    assert status == 403
    err = error_of(body)
    assert err["code"] == "forbidden" and "trade" in err["message"]
    assert 'error="insufficient_scope"' in headers["www-authenticate"]
    # The real catalog: starting a backtest needs trade, ingest needs admin.
    assert call(gw, "POST", "/v1/backtests", [read_only], b"{}")[0] == 403
    assert call(gw, "POST", "/v1/data/ingest", [bearer(issuer.mint(["trade"]))], b"{}")[0] == 403
    assert echo.calls == []
    # Any one of the route's scopes is enough.
    assert call(gw, "GET", "/v1/echo/1/items/2", [bearer(issuer.mint(["admin"]))])[0] == 200
    assert (
        call(gw, "POST", "/v1/backtests", [bearer(issuer.mint(["read", "trade"]))], b"{}")[0] == 200
    )
    assert [c[0] for c in echo.calls] == ["echo", "backtests"]


def test_cognito_style_prefixed_scopes(issuer, tmp_path):
    """The deployed default: Cognito access tokens with client_id and tradpal/<scope>."""
    cognito = AuthorizerConfig(issuer.issuer, ("client-abc",), scope_prefix="tradpal/")
    echo = Echo()
    with LocalGateway(CATALOG, echo, authorizer=cognito, jwks=issuer.jwks(), throttle=False) as gw:
        now = int(time.time())
        base = {"iss": issuer.issuer, "client_id": "client-abc", "token_use": "access",
                "iat": now, "exp": now + 300, "sub": "u"}  # fmt: skip
        good = issuer.sign({**base, "scope": "openid tradpal/trade"})
        plain = issuer.sign({**base, "scope": "trade"})
        assert call(gw, "POST", "/v1/backtests", [bearer(good)], b"{}")[0] == 200
        assert call(gw, "POST", "/v1/backtests", [bearer(plain)], b"{}")[0] == 403
        assert call(gw, "GET", "/v1/backtests", [bearer(good)])[0] == 403
        event = echo.calls[0][1]
        assert event["requestContext"]["authorizer"]["jwt"]["scopes"] == ["openid", "tradpal/trade"]
        assert len(echo.calls) == 1


def test_unknown_routes_are_404(gw, echo, issuer):
    auth = [bearer(issuer.mint(["read", "trade", "admin"]))]
    unknown = [("GET", "/v1/nothing"), ("DELETE", "/v1/echo"), ("GET", "/v1/echo/"),
               ("GET", "/v1/echo/1/items/"), ("GET", "/"), ("PUT", "/v1/health")]  # fmt: skip
    for method, path in unknown:
        status, _h, body = call(gw, method, path, auth)
        assert status == 404, (method, path)
        assert error_of(body)["code"] == "not_found"
    # Unknown routes are 404 with or without a token: no route, no authorizer.
    assert call(gw, "GET", "/v1/nothing")[0] == 404
    assert echo.calls == []


def test_public_route_needs_no_token(gw, echo):
    status, _h, _b = call(gw, "GET", "/v1/health", [("Authorization", "Bearer junk")])
    assert status == 200
    ((name, event),) = echo.calls
    assert name == "health" and event["routeKey"] == "GET /v1/health"
    assert "authorizer" not in event["requestContext"]


def test_well_known_documents_and_extra_routes(gw, issuer):
    status, _h, body = call(gw, "GET", "/.well-known/jwks.json")
    assert status == 200 and json.loads(body) == issuer.jwks()
    doc = json.loads(call(gw, "GET", "/.well-known/openid-configuration")[2])
    assert doc["issuer"] == issuer.issuer and doc["jwks_uri"] == f"{gw.url}/.well-known/jwks.json"
    assert json.loads(call(gw, "GET", "/openapi.json")[2]) == {"openapi": "3.1.0"}


def test_body_over_the_limit_is_413_unread(issuer):
    echo = Echo()
    gw = LocalGateway(
        CATALOG, echo, authorizer=issuer.authorizer_config(), jwks=issuer.jwks(), max_body_bytes=64
    )
    with gw:
        auth = [bearer(issuer.mint(["trade"]))]
        status, headers, body = call(gw, "POST", "/v1/backtests", auth, b"x" * 65)
        assert status == 413 and error_of(body)["code"] == "payload_too_large"
        assert headers["connection"] == "close"
        assert call(gw, "POST", "/v1/backtests", auth, b"x" * 64)[0] == 200
        # Chunked bodies are counted too.
        c = http.client.HTTPConnection(gw.host, gw.port, timeout=10)
        c.request("POST", "/v1/backtests", body=iter([b"a" * 40, b"b" * 40]), headers=dict(auth),
                  encode_chunked=True)  # fmt: skip
        assert c.getresponse().status == 413
        c.close()
        c = http.client.HTTPConnection(gw.host, gw.port, timeout=10)
        c.request("POST", "/v1/backtests", body=iter([b"a" * 10, b"b" * 5]), headers=dict(auth),
                  encode_chunked=True)  # fmt: skip
        assert c.getresponse().read() and echo.calls[-1][1]["body"] == "a" * 10 + "b" * 5
        c.close()
    assert len(echo.calls) == 2


def test_throttle_429_then_refill(issuer):
    clock = [100.0]
    echo = Echo()
    gw = LocalGateway(
        TEST_CATALOG, echo, authorizer=issuer.authorizer_config(), jwks=issuer.jwks(),
        clock=lambda: clock[0],
    )  # fmt: skip
    with gw:
        auth = [bearer(issuer.mint(["read"]))]
        assert [call(gw, "GET", "/v1/limited", auth)[0] for _ in range(2)] == [200, 200]
        status, headers, body = call(gw, "GET", "/v1/limited", auth)
        assert status == 429 and headers["retry-after"] == "1"
        err = error_of(body)
        assert err["code"] == "too_many_requests" and "1 requests/s, burst 2" in err["message"]
        # Throttles are per route: another route still answers.
        assert call(gw, "GET", "/v1/echo", auth)[0] == 200
        clock[0] += 0.5
        assert call(gw, "GET", "/v1/limited", auth)[0] == 429
        clock[0] += 0.5  # one token refilled
        assert [call(gw, "GET", "/v1/limited", auth)[0] for _ in range(2)] == [200, 429]
        clock[0] += 60.0  # refills up to the burst, no more
        assert [call(gw, "GET", "/v1/limited", auth)[0] for _ in range(3)] == [200, 200, 429]
        # Public routes are throttled too, before anything else.
        assert [call(gw, "GET", "/v1/limited/open")[0] for _ in range(2)] == [200, 429]
    assert len(echo.calls) == 7


def test_each_caller_has_its_own_limit_under_the_routes(issuer):
    clock = [100.0]
    echo = Echo()
    gw = LocalGateway(
        TEST_CATALOG, echo, authorizer=issuer.authorizer_config(), jwks=issuer.jwks(),
        clock=lambda: clock[0],
    )  # fmt: skip
    path = "/v1/limited/shared"
    alice = [bearer(issuer.mint(["read"], subject="alice"))]
    alice_again = [bearer(issuer.mint(["read"], subject="alice"))]  # another jti, same sub
    with gw:
        assert [call(gw, "GET", path, alice)[0] for _ in range(2)] == [200, 200]
        # alice's burst is used up: her third request is refused by her own limit
        status, headers, body = call(gw, "GET", path, alice)
        assert status == 429 and headers["retry-after"] == "4"  # one of her tokens in 4 s
        err = error_of(body)
        assert err["code"] == "too_many_requests" and "for this caller" in err["message"]
        assert "0.25 requests/s, burst 2" in err["message"]
        assert err["details"] == {"limit": "caller", "rate": 0.25, "burst": 2}
        for secret in (alice[0][1].split()[1], "alice"):  # neither the token nor its subject
            assert secret not in body.decode()
        # a new token for the same subject is the same caller
        assert call(gw, "GET", path, alice_again)[0] == 429
        for _ in range(5):  # refused by her own limit, these do not use the route's tokens
            assert call(gw, "GET", path, alice)[0] == 429
        # bob, on the same route at the same moment, is still served
        bob = [bearer(issuer.mint(["read"], subject="bob"))]
        assert call(gw, "GET", path, bob)[0] == 200
        # ...and so is carol; with bob's they are the route's 4
        carol = [bearer(issuer.mint(["read"], subject="carol"))]
        assert call(gw, "GET", path, carol)[0] == 200
        # the route's ceiling holds across callers: dave has his own tokens, the route none
        dave = [bearer(issuer.mint(["read"], subject="dave"))]
        status, headers, body = call(gw, "GET", path, dave)
        assert status == 429 and headers["retry-after"] == "2"  # the route's next token in 2 s
        err = error_of(body)
        assert "for all callers together" in err["message"]
        assert err["details"] == {"limit": "route", "rate": 0.5, "burst": 4}
        clock[0] += 2.0  # one route token; dave's own bucket is full
        assert call(gw, "GET", path, dave)[0] == 200
        assert call(gw, "GET", path, alice)[0] == 429  # 2 s of her 4
        clock[0] += 2.0  # alice waited her Retry-After: one of her tokens, one of the route's
        assert call(gw, "GET", path, alice)[0] == 200
        # other routes keep their own buckets
        assert call(gw, "GET", "/v1/echo", alice)[0] == 200
    assert [c[0] for c in echo.calls].count("limited") == 6


def test_the_caller_is_the_tokens_subject():
    from tradpal.local.gateway.server import caller_of

    # sub, not jti (new in every token) nor client_id (one app's users share it)
    assert caller_of({"sub": "alice", "jti": "1", "client_id": "app"}) == "sub:alice"
    assert caller_of({"sub": "alice", "jti": "2"}) == caller_of({"sub": "alice", "jti": "3"})
    assert caller_of({"client_id": "app"}) == "client_id:app" != caller_of({"sub": "app"})
    assert caller_of({"sub": ""}) == caller_of({"sub": 7}) == caller_of({}) == "none:"


def test_idle_callers_buckets_expire(issuer):
    clock = [100.0]
    gw = LocalGateway(
        TEST_CATALOG, Echo(), authorizer=issuer.authorizer_config(), jwks=issuer.jwks(),
        clock=lambda: clock[0], max_callers=3,
    )  # fmt: skip
    path, key = "/v1/limited/shared", "GET /v1/limited/shared"
    with gw:
        for name in ("a", "b", "c", "d"):
            assert call(gw, "GET", path, [bearer(issuer.mint(["read"], subject=name))])[0] == 200
            clock[0] += 1.0  # the route refills as they come
        assert len(gw._callers[key]) == 3  # the bound: a's bucket went first
        clock[0] += 8.0  # a caller's bucket refills in 8 s at most (2 tokens at 0.25/s)
        assert call(gw, "GET", path, [bearer(issuer.mint(["read"], subject="e"))])[0] == 200
        assert len(gw._callers[key]) == 1  # only e's is kept


def test_keep_alive_and_stop_closes_idle_connections(issuer):
    echo = Echo()
    gw = LocalGateway(CATALOG, echo, authorizer=issuer.authorizer_config(), jwks=issuer.jwks())
    gw.start()
    conn = http.client.HTTPConnection(gw.host, gw.port, timeout=10)
    first = call(gw, "GET", "/v1/health", conn=conn)
    sock = conn.sock
    second = call(gw, "GET", "/v1/health", conn=conn)
    assert first[0] == second[0] == 200 and conn.sock is sock  # one connection, two requests
    assert first[1]["apigw-requestid"] != second[1]["apigw-requestid"]
    port = gw.port
    gw.stop()
    assert sock.recv(1) == b""  # the idle keep-alive was closed by stop()
    conn.close()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/v1/health")


def test_cors_preflight_and_origin(gw, echo, issuer):
    status, headers, _b = call(
        gw, "OPTIONS", "/v1/backtests",
        [("Origin", "http://localhost:8000"), ("Access-Control-Request-Method", "POST")],
    )  # fmt: skip
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://localhost:8000"
    assert "authorization" in headers["access-control-allow-headers"]
    status, headers, _b = call(
        gw, "OPTIONS", "/v1/backtests",
        [("Origin", "http://evil.example"), ("Access-Control-Request-Method", "POST")],
    )  # fmt: skip
    assert status == 204 and "access-control-allow-origin" not in headers
    status, headers, _b = call(gw, "GET", "/v1/health", [("Origin", "http://localhost:8000")])
    assert headers["access-control-allow-origin"] == "http://localhost:8000"
    assert [c[0] for c in echo.calls] == ["health"]


def test_access_log_has_no_tokens_or_queries(gw, issuer, caplog):
    token = issuer.mint(["read"])
    with caplog.at_level(logging.INFO, logger="tradpal.local.gateway"):
        _s, headers, _b = call(gw, "GET", "/v1/echo?secret=s3cr3t", [bearer(token)])
        call(gw, "GET", "/v1/echo", [bearer("garbage.token.here")])
    assert headers["apigw-requestid"] in caplog.text
    assert '"GET /v1/echo" 200' in caplog.text and '"GET /v1/echo" 401' in caplog.text
    for secret in (token, token.split(".")[2], "garbage.token.here", "s3cr3t"):
        assert secret not in caplog.text


def test_bad_request_line_gets_the_error_shape(gw):
    with socket.create_connection((gw.host, gw.port), timeout=10) as s:
        s.sendall(b"GET /a b HTTP/1.1\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):  # the server closes the connection after an error
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"apigw-requestid" in head
    assert error_of(body)["code"] == "bad_request"


def test_a_too_long_header_is_431_saying_the_limit(gw, echo, issuer):
    token = "a" * 100_000  # a header line over http.server's 64 KiB
    status, headers, body = call(gw, "GET", "/v1/echo", [bearer(token)])
    assert status == 431 and headers["connection"] == "close" and "apigw-requestid" in headers
    err = error_of(body)
    assert err["code"] == "request_header_fields_too_large"
    assert "over 65536 bytes" in err["message"] and "shorter token" in err["message"]
    assert "10240 bytes" in err["message"]  # what the deployed API takes
    assert token[:100] not in body.decode()
    status, _h, body = call(gw, "GET", "/v1/echo", [(f"X-H{i}", "v") for i in range(101)])
    assert status == 431 and error_of(body)["code"] == "request_header_fields_too_large"
    assert "more than 100 headers" in error_of(body)["message"]
    assert echo.calls == []
    assert call(gw, "GET", "/v1/echo", [bearer(issuer.mint(["read"]))])[0] == 200
