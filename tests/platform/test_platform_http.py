"""The one error shape and statuses every capability answers with (tradpal.platform.http)."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, Field

from tradpal.errors import ConfigError
from tradpal.platform.http import ApiError, make_app, not_found


class Body(BaseModel):
    strategy: str
    bars: int = Field(gt=0)


router = APIGatewayHttpRouter()


@router.post("/v1/things")
def create(body: Body) -> dict:
    if body.strategy == "refused":
        raise ConfigError("strategy 'refused' is unknown", hint="use one of ema_crossover")
    if body.strategy == "crash":
        raise RuntimeError("secret internals /var/task/x.py")
    return {"strategy": body.strategy, "bars": body.bars}


@router.get("/v1/things/<id>")
def read(id: str) -> dict:
    raise not_found(f"thing {id}", hint="list them with GET /v1/things")


@router.get("/v1/conflict")
def conflict() -> dict:
    raise ApiError(409, "conflict", "busy", {"run_id": "r1"})


APP = make_app()
APP.include_router(router)


class Context:
    function_name = "things"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:things"
    aws_request_id = "req-1"


def call(method: str, path: str, body=None) -> tuple[int, dict]:
    event = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.1.1.1"},
            "requestId": "req-1",
            "routeKey": f"{method} {path}",
            "stage": "$default",
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
    answer = APP.resolve(event, Context())
    return answer["statusCode"], json.loads(answer["body"])


def _is_error_shape(body: dict) -> bool:
    return set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}


def test_a_valid_request_is_answered():
    assert call("POST", "/v1/things", {"strategy": "ema", "bars": 3}) == (
        200,
        {"strategy": "ema", "bars": 3},
    )


def test_validation_errors_are_422_and_name_every_failing_field():
    status, body = call("POST", "/v1/things", {"bars": 0})
    assert status == 422 and _is_error_shape(body)
    assert body["error"]["code"] == "validation_error"
    fields = {d["field"] for d in body["error"]["details"]}
    assert fields == {"body.strategy", "body.bars"}
    assert "body.strategy" in body["error"]["message"]


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", "null"])
def test_a_body_that_is_not_an_object_is_a_client_error(payload):
    event_body = payload
    answer = APP.resolve(
        {
            "version": "2.0",
            "routeKey": "POST /v1/things",
            "rawPath": "/v1/things",
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "http": {"method": "POST", "path": "/v1/things", "protocol": "HTTP/1.1"},
                "requestId": "r",
                "stage": "$default",
            },
            "body": event_body,
            "isBase64Encoded": False,
        },
        Context(),
    )
    assert 400 <= answer["statusCode"] < 500
    assert _is_error_shape(json.loads(answer["body"]))


def test_library_refusals_are_400_with_the_hint():
    status, body = call("POST", "/v1/things", {"strategy": "refused", "bars": 1})
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert body["error"]["details"] == {"hint": "use one of ema_crossover"}


def test_unexpected_errors_are_500_without_internals():
    status, body = call("POST", "/v1/things", {"strategy": "crash", "bars": 1})
    assert status == 500 and body["error"]["code"] == "internal_error"
    assert "/var/task" not in json.dumps(body) and "req-1" in body["error"]["message"]


def test_missing_resources_and_routes_are_404_in_the_same_shape():
    status, body = call("GET", "/v1/things/abc")
    assert status == 404 and body["error"]["code"] == "not_found"
    assert body["error"]["details"] == {"hint": "list them with GET /v1/things"}
    status, body = call("GET", "/v1/nowhere")
    assert status == 404 and _is_error_shape(body)


def test_api_errors_keep_their_status_code_and_details():
    assert call("GET", "/v1/conflict") == (
        409,
        {"error": {"code": "conflict", "message": "busy", "details": {"run_id": "r1"}}},
    )


def test_a_body_that_is_not_json_is_415():
    event_body = json.dumps({"strategy": "ema", "bars": 3})
    answer = APP.resolve(
        {
            "version": "2.0",
            "routeKey": "POST /v1/things",
            "rawPath": "/v1/things",
            "rawQueryString": "",
            "headers": {"content-type": "text/plain"},
            "requestContext": {
                "http": {"method": "POST", "path": "/v1/things", "protocol": "HTTP/1.1"},
                "requestId": "r",
                "stage": "$default",
            },
            "body": event_body,
            "isBase64Encoded": False,
        },
        Context(),
    )
    assert answer["statusCode"] == 415
    assert json.loads(answer["body"])["error"]["code"] == "unsupported_media_type"
