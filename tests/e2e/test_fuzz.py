"""Schemathesis against the served OpenAPI document: property-based requests to every
operation of the running local platform must never get a 5xx, every response must conform
to the document (status codes, content types, bodies), and every request the document
allows must be served, or refused only for a rule JSON Schema cannot state
(:func:`fuzz_checks.schema_valid_requests_are_served`): the document and the validators
agree. ``tests/e2e/fuzz_acceptance.py`` is the same judgement over a few thousand cases.

Left out: ``POST /v1/data/ingest`` downloads from live exchanges (fuzzing it would hammer
them, and this machine cannot reach them); it is covered against a fake exchange in
tests/functions/data/test_handler.py."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
import schemathesis
from e2e.fuzz_checks import SERVED, schema_valid_requests_are_served, unstatable
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
    unsupported_method,
)

from tradpal.platform.openapi import DOCUMENT_PATH

schema = schemathesis.openapi.from_path(str(DOCUMENT_PATH)).exclude(
    method="POST", path="/v1/data/ingest"
)


def document_allows(method: str, path: str, query: dict, body: Any) -> bool:
    """Whether the committed document allows this request (its query parameters and body)."""
    import jsonschema_rs

    doc = json.loads(DOCUMENT_PATH.read_text())
    operation = doc["paths"][path][method.lower()]

    def valid(schema: dict, value: Any) -> bool:
        root = {**schema, "components": doc["components"]}
        return jsonschema_rs.validator_for(root, validate_formats=True).is_valid(value)

    for param in operation.get("parameters", ()):
        named = param["in"] == "query" and param["name"] in query
        if named and not valid(param["schema"], query[param["name"]]):
            return False
    if body is not None:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        return valid(schema, body)
    return True


STORE = {"symbol": "BTC/USDT", "source": "store", "timeframe": "1h"}
ISSUE_REQUESTS = [
    # the schema-valid requests the issue's run saw refused (ST202), and its 500s
    ("GET", "/v1/backtests", {"after": "0" * 512}, None),
    ("GET", "/v1/indicators",
     {"symbol": "BTC/USDT", "start": "2000-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z"}, None),
    ("POST", "/v1/backtests", {},
     {"strategy": "ema_crossover", "data": {**STORE, "bars": 1, "seed": 0}}),
    ("POST", "/v1/discovery", {},
     {"strategy": "confluence", "objectives": [""], "data": STORE}),
    ("POST", "/v1/indicators", {}, {"candles": [], "timeframe": "1w"}),
    ("POST", "/v1/indicators", {},
     {"start": "2000-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z"}),
    ("POST", "/v1/signals", {}, {"candles": [], "timeframe": "1w"}),
    ("POST", "/v1/signals", {},
     {"start": "2000-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z"}),
    ("GET", "/v1/indicators", {"symbol": "BTC/USDT", "start": "4524-04-11T12:36:50+06:05"}, None),
    ("POST", "/v1/backtests", {},
     {"strategy": "ema_crossover", "data": STORE, "config": {"capital": 10**400}}),
    ("POST", "/v1/backtests", {},
     {"strategy": "ema_crossover", "data": STORE, "params": {"fast": 10**400}}),
    ("POST", "/v1/discovery", {},  # JSON text: 1e400 reads as an infinite float
     '{"strategy": "ema_crossover", "data": {"symbol": "BTC/USDT"}, "config": {"fees": 1e400}}'),
    ("POST", "/v1/discovery", {}, {"strategy": "ema_crossover", "data": STORE, "population": 2.0}),
    ("POST", "/v1/discovery", {}, {"strategy": "regime+atr", "data": STORE}),
    ("POST", "/v1/indicators", {}, {"indicators": [{"kind": {}}]}),
]  # fmt: skip


def post_text(client: Any, path: str, text: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        client.url + path,
        data=text.encode(),
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {client.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize(("method", "path", "query", "body"), ISSUE_REQUESTS)
def test_the_document_and_the_validators_agree_on_what_the_issue_found(
    platform, method, path, query, body
):
    """Each is now forbidden by the document and refused naming a field, or allowed by it and
    served (or refused for a rule the schema cannot state, documented: fuzz_checks)."""
    target = path + ("?" + urllib.parse.urlencode(query) if query else "")
    if isinstance(body, str):  # as written
        status, answer = post_text(platform.client, target, body)
        body = json.loads(body)
    else:
        status, answer, _ = platform.client.call(method, target, body)
    assert status < 500, answer
    if document_allows(method, path, query, body):
        assert status < 400 or status in SERVED or unstatable(status, answer), answer
    else:
        assert status == 422 and answer["error"]["details"][0]["field"], answer


def test_the_most_candles_the_document_allows_are_served_not_413(platform):
    """The candles' maxItems fits the 6 MB body limit: MAX_CANDLES in ordinary JSON pass the
    gateway (40,000, as the document allowed before, were 6.36 MB and got 413)."""
    from datetime import UTC, datetime, timedelta

    from tradpal.platform.candles import MAX_CANDLES

    doc = json.loads(DOCUMENT_PATH.read_text())
    candles_schema = doc["components"]["schemas"]["IndicatorsRequest"]["properties"]["candles"]
    assert candles_schema["anyOf"][0]["maxItems"] == MAX_CANDLES
    t0, price = datetime(2024, 1, 1, tzinfo=UTC), 43_210.123456789012
    candles = [
        {
            "time": (t0 + timedelta(minutes=i)).isoformat(),
            "open": price + i * 1e-3, "high": price + 10.987654321 + i * 1e-3,
            "low": price - 10.123456789 + i * 1e-3, "close": price + 1.23456789 + i * 1e-3,
            "volume": 123_456.789012345 + i,
        }
        for i in range(MAX_CANDLES)
    ]  # fmt: skip
    body = {"symbol": "BTC/USDT", "timeframe": "1m", "candles": candles, "indicators": ["ema:9"]}
    status, answer, _ = platform.client.call("POST", "/v1/indicators", body)
    assert status == 200, answer
    assert answer["bars"] == MAX_CANDLES


def test_the_served_document_is_the_committed_one(platform):
    with urllib.request.urlopen(platform.client.url + "/v1/openapi", timeout=30) as answer:
        assert json.loads(answer.read()) == json.loads(DOCUMENT_PATH.read_text())


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # reproducible: the same cases on every run
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_responses_conform(case, platform):
    case.call_and_validate(
        base_url=platform.client.url,
        headers={"Authorization": f"Bearer {platform.client.token}"},
        timeout=120,
        additional_checks=[schema_valid_requests_are_served],
        excluded_checks=[
            # API Gateway answers a method no route declares with 404, not 405; the local
            # gateway does what the deployed API does.
            unsupported_method,
            # Replaced by schema_valid_requests_are_served: a schema-valid request may be
            # refused only for the rules fuzz_checks lists (between fields, against the
            # deployed strategies, the data or the clock), each documented and named.
            positive_data_acceptance,
            # Unknown query parameters are ignored, as HTTP APIs conventionally do (API
            # Gateway passes them on); bodies are still validated strictly (extra="forbid").
            negative_data_rejection,
        ],
    )
