"""The one error shape and statuses every capability answers with (tradpal.platform.http)."""

from __future__ import annotations

import base64
import json

import pytest
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from fakes.lambda_events import http_event
from pydantic import BaseModel, Field

from tradpal.errors import ConfigError
from tradpal.platform.http import ApiError, make_app, model_response, not_found


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


class Shown(BaseModel):
    name: str
    values: list[float | None]
    note: str | None = None


@router.get("/v1/shown")
def shown() -> Shown:
    return Shown(name="é\u2028", values=[0.1, None, 1e300, -0.0])


@router.get("/v1/shown-once")
def shown_once():
    return model_response(
        Shown(name="é\u2028", values=[]), encoded={"values": "[0.1,null,1e+300,-0.0]"}
    )


@router.get("/v1/idempotent/<how>")
def idempotent(how: str) -> dict:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    raise (IdempotencyValidationError if how == "other" else IdempotencyAlreadyInProgressError)()


APP = make_app()
APP.include_router(router)


class Context:
    function_name = "things"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:things"
    aws_request_id = "req-1"


def call(method: str, path: str, body=None) -> tuple[int, dict]:
    answer = APP.resolve(http_event(method, path, body=body), Context())
    return answer["statusCode"], json.loads(answer["body"])


def raw_call(body: str, content_type: str) -> dict:
    """POST /v1/things with ``body`` sent as it is (not JSON-encoded)."""
    event = http_event("POST", "/v1/things", headers={"content-type": content_type})
    return APP.resolve({**event, "body": body}, Context())


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
    answer = raw_call(payload, "application/json")
    assert 400 <= answer["statusCode"] < 500
    assert _is_error_shape(json.loads(answer["body"]))


def test_library_refusals_are_400_with_the_hint():
    status, body = call("POST", "/v1/things", {"strategy": "refused", "bars": 1})
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert body["error"]["details"] == {"hint": "use one of ema_crossover"}


def test_unexpected_errors_are_500_without_internals():
    event = http_event("POST", "/v1/things", body={"strategy": "crash", "bars": 1})
    answer = APP.resolve(event, Context())
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 500 and body["error"]["code"] == "internal_error"
    assert "/var/task" not in json.dumps(body)
    assert event["requestContext"]["requestId"] in body["error"]["message"]


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
    answer = raw_call(json.dumps({"strategy": "ema", "bars": 3}), "text/plain")
    assert answer["statusCode"] == 415
    assert json.loads(answer["body"])["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "content_type",
    ["APPLICATION/JSON", "Application/Json; charset=UTF-8", "application/vnd.api+json"],
)
def test_every_json_media_type_is_read_as_json(content_type):
    answer = raw_call(json.dumps({"strategy": "ema", "bars": 3}), content_type)
    assert answer["statusCode"] == 200, answer["body"]
    assert json.loads(answer["body"]) == {"strategy": "ema", "bars": 3}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"strategy": "ema", "bars": NaN}', "holds NaN, which is not JSON"),
        ('{"strategy": "ema", "bars": -Infinity}', "holds -Infinity, which is not JSON"),
        ('{"strategy": "ema",\n "bars": }', "at line 2, column 10"),
        ("[" * 100_000 + "]" * 100_000, "nests arrays or objects too deeply"),
        ('{"bars": ' + "9" * 5_000 + "}", "a number with too many digits"),
        ('\ufeff{"strategy": "ema", "bars": 3}', "byte order mark"),
    ],
    ids=["nan", "infinity", "syntax", "deep", "digits", "bom"],
)
def test_a_body_that_is_not_strict_json_is_400_saying_where_or_what(body, says):
    answer = raw_call(body, "application/json")
    error = json.loads(answer["body"])["error"]
    assert answer["statusCode"] == 400 and error["code"] == "invalid_json"
    assert says in error["message"]
    assert "Error" not in error["message"]  # no Python exception class names


def test_a_base64_body_that_is_not_utf8_is_400():
    event = http_event("POST", "/v1/things", headers={"content-type": "application/json"})
    answer = APP.resolve({**event, "body": "/w==", "isBase64Encoded": True}, Context())
    error = json.loads(answer["body"])["error"]
    assert answer["statusCode"] == 400 and "not UTF-8" in error["message"]


def test_a_body_is_parsed_once_and_validation_gets_that_value(monkeypatch):
    """The strict check's parse is the value the route is validated from: one json.loads
    per request (Powertools parsed the body again for its validation)."""
    parsed = []
    loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text, **kw: parsed.append(text) or loads(text, **kw))
    for encoded in (False, True):
        text = json.dumps({"strategy": "ema", "bars": 3})
        event = http_event("POST", "/v1/things")
        body = base64.b64encode(text.encode()).decode() if encoded else text
        answer = APP.resolve({**event, "body": body, "isBase64Encoded": encoded}, Context())
        assert answer["statusCode"] == 200 and loads(answer["body"])["bars"] == 3
        assert parsed == [text]
        parsed.clear()


def test_a_model_response_is_the_text_powertools_gives_for_the_model():
    want = APP.resolve(http_event("GET", "/v1/shown"), Context())
    got = APP.resolve(http_event("GET", "/v1/shown-once"), Context())
    assert got["statusCode"] == want["statusCode"] == 200
    assert got["body"] == want["body"]  # byte for byte
    assert got["headers"]["Content-Type"] == want["headers"]["Content-Type"]


def test_idempotency_errors_are_409_in_the_error_shape():
    status, body = call("GET", "/v1/idempotent/other")
    assert status == 409 and body["error"]["code"] == "idempotency_conflict"
    status, body = call("GET", "/v1/idempotent/busy")
    assert status == 409 and body["error"]["code"] == "idempotency_in_progress"
    assert "retry after a moment" in body["error"]["details"]["hint"]
