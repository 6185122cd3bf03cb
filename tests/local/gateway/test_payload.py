"""API Gateway semantics without a socket: route matching, Lambda results to HTTP responses,
token buckets, body text/base64 rules, claims as strings."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.local.gateway.payload import (
    HttpRequest,
    LambdaResponseError,
    build_event,
    flatten_claims,
    is_text,
    lambda_response,
    request_time,
)
from tradpal.local.gateway.routes import RouteMatch, RouteTable
from tradpal.local.gateway.throttle import TokenBucket, retry_after
from tradpal.platform.catalog import CATALOG


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return RouteTable(CATALOG)


def test_every_catalog_route_matches_itself(table):
    for key, (cap, route) in CATALOG.routes().items():
        path = route.path.replace("{id}", "run-1")
        match = table.match(route.method, path)
        assert match is not None and match.key == key and match.capability == cap.name
        assert match.path_parameters == ({"id": "run-1"} if "{id}" in route.path else {})


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/backtests/"), ("GET", "/v1/backtests/a/b"), ("PATCH", "/v1/backtests"),
     ("get", "/v1/health"), ("GET", "v1/health"), ("GET", "/V1/health"), ("GET", "")],
)  # fmt: skip
def test_non_matches(table, method, path):
    assert table.match(method, path) is None


def test_path_parameters_are_decoded_per_segment(table):
    match = table.match("GET", "/v1/backtests/a%2Fb%3F")
    assert match.path_parameters == {"id": "a/b?"}


def test_result_without_status_code_is_a_200_json_body():
    for value, body in [({"a": 1}, b'{"a": 1}'), ([1], b"[1]"), (None, b"null"), (3, b"3"),
                        ("text", b"text"), ({"body": "x"}, b'{"body": "x"}')]:  # fmt: skip
        r = lambda_response(value)
        assert (r.status, r.headers, r.body) == (200, (("content-type", "application/json"),), body)


def test_full_response():
    r = lambda_response(
        {"statusCode": 204, "headers": {"X-A": "1", "x-b": True, "x-c": 2.5}, "cookies": ["k=v"]}
    )
    assert r.status == 204 and r.body == b""
    assert r.headers == (("X-A", "1"), ("x-b", "true"), ("x-c", "2.5"), ("set-cookie", "k=v"))
    raw = lambda_response({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True})
    assert raw.body == b"hi"
    assert (
        lambda_response({"statusCode": 200, "body": "aGk=", "isBase64Encoded": False}).body
        == b"aGk="
    )


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "200"},
        {"statusCode": True},
        {"statusCode": 99},
        {"statusCode": 600},
        {"statusCode": 200, "body": b"bytes"},
        {"statusCode": 200, "body": "!!", "isBase64Encoded": True},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "headers": {"x": None}},
        {"statusCode": 200, "headers": {"x": "a\r\nSet-Cookie: evil"}},
        {"statusCode": 200, "headers": {"bad name": "1"}},
        {"statusCode": 200, "cookies": "a=1"},
        {"value": float("nan")},
        {"value": object()},
    ],
)
def test_malformed_results(result):
    with pytest.raises(LambdaResponseError):
        lambda_response(result)


def test_token_bucket_refills_at_rate_up_to_burst():
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 0.25
    assert bucket.take() == pytest.approx(0.25)
    now[0] = 0.5
    assert bucket.take() == 0.0 and bucket.take() > 0
    now[0] = 100.0
    assert [bucket.take() == 0.0 for _ in range(4)] == [True, True, True, False]
    now[0] = 99.0  # a clock that steps back never adds tokens
    assert bucket.take() > 0
    assert (retry_after(0.01), retry_after(1.0), retry_after(1.2)) == ("1", "1", "2")


@given(st.lists(st.floats(min_value=0, max_value=5), max_size=60))
def test_token_bucket_never_grants_more_than_burst_plus_refill(steps):
    now = [0.0]
    bucket = TokenBucket(rate=3.0, burst=4, clock=lambda: now[0])
    granted = 0
    for step in steps:
        now[0] += step
        granted += bucket.take() == 0.0
    assert granted <= 4 + 3.0 * now[0] + 1e-9


@pytest.mark.parametrize(
    ("content_type", "text"),
    [(None, True), ("application/json", True), ("application/json; charset=utf-8", True),
     ("text/csv", True), ("application/problem+json", True), ("application/xml", True),
     ("application/x-www-form-urlencoded", True), ("application/octet-stream", False),
     ("image/png", False), ("application/vnd.apache.parquet", False),
     ("multipart/form-data", False)],
)  # fmt: skip
def test_text_or_binary(content_type, text):
    assert is_text(content_type) is text


def test_claims_are_strings_as_api_gateway_passes_them():
    claims = {"exp": 1700000000, "admin": True, "groups": ["a", "b"], "s": "x", "f": 1.5,
              "obj": {"k": 1}}  # fmt: skip
    assert flatten_claims(claims) == {"exp": "1700000000", "admin": "true", "groups": "[a b]",
                                      "s": "x", "f": "1.5", "obj": '{"k":1}'}  # fmt: skip


def test_request_time_format():
    assert request_time(1583348638.39) == "04/Mar/2020:19:03:58 +0000"


def test_event_without_query_path_params_or_body():
    req = HttpRequest("GET", "/v1/health", "", (("Host", "h.example.com"),), b"", "10.0.0.1")
    event = build_event(req, RouteMatch("GET /v1/health", "health", None), request_id="r", epoch=0)
    assert "queryStringParameters" not in event and "pathParameters" not in event
    assert "cookies" not in event and "body" not in event and event["isBase64Encoded"] is False
    assert event["requestContext"]["domainPrefix"] == "h"
    assert "authorizer" not in event["requestContext"]
    assert event["requestContext"]["http"]["userAgent"] == ""
    forwarded = HttpRequest("POST", "/p", "", (("X-Forwarded-For", "1.2.3.4"),), b"\xff", "5.6.7.8")
    ev = build_event(forwarded, RouteMatch("POST /p", "c", None), request_id="r", epoch=0)
    assert ev["headers"]["x-forwarded-for"] == "1.2.3.4, 5.6.7.8"
    assert ev["isBase64Encoded"] is True and base64.b64decode(ev["body"]) == b"\xff"
    assert json.loads(json.dumps(ev)) == ev
