"""The health function: 200 ok with versions and a check per resource; 503 degraded naming a
missing bucket; the OpenAPI document served or 404 in the error shape."""

from __future__ import annotations

import json
import platform
from importlib.metadata import version

import pytest
from fakes.lambda_events import LambdaContext, http_event, json_body, load_handler

from tradpal.platform import health

module = load_handler("health")
handler = module.handler


def get(path: str) -> tuple[int, dict]:
    out = handler(http_event("GET", path), LambdaContext())
    return out["statusCode"], json_body(out)


def test_health_ok_then_degraded_when_a_bucket_is_gone(aws):
    status, body = get("/v1/health")
    assert status == 200, body
    assert body["status"] == "ok" and body["stage"] == "local"
    assert body["python"] == platform.python_version()
    assert body["version"] == version("tradpal")
    assert body["libraries"]["pandas"] == version("pandas")
    names = {c["name"]: c for c in body["checks"]}
    assert set(names) == {
        "market_data_bucket",
        "results_bucket",
        "runs_table",
        "datasets_table",
        "idempotency_table",
        "trading_table",
        "event_bus",
        "market_data_stream",
        "notifier_secret",
    }  # every resource the local platform provisions (the state machines are not here)
    assert all(c["ok"] and c["error"] is None and c["latency_ms"] >= 0 for c in names.values())

    aws.client("s3").delete_bucket(Bucket=aws.env.results_bucket)
    aws.client("kinesis").delete_stream(StreamName=aws.env.market_data_stream)
    status, body = get("/v1/health")
    assert status == 503 and body["status"] == "degraded"
    bad = {c["name"]: c for c in body["checks"] if not c["ok"]}
    assert set(bad) == {"results_bucket", "market_data_stream"}
    assert bad["results_bucket"]["resource"] == aws.env.results_bucket
    assert "404" in bad["results_bucket"]["error"] or "Not" in bad["results_bucket"]["error"]
    assert "ResourceNotFound" in bad["market_data_stream"]["error"]


def test_a_check_without_an_answer_counts_as_failed(monkeypatch):
    def hang(c, kind, resource):
        import time

        time.sleep(1.0)

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(health, "probe", hang)
    [check] = health.run_checks([("event_bus", "bus", "bus")], budget_s=0.05)
    assert not check.ok and "no answer within 0.05 s" in check.error


def test_openapi_document_is_served_or_404_in_the_error_shape(monkeypatch, tmp_path):
    doc = {"openapi": "3.1.0", "info": {"title": "TradPal", "version": "1"}, "paths": {}}
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setattr(module, "OPENAPI_PATH", path)
    status, body = get("/v1/openapi")
    assert status == 200 and body == doc
    monkeypatch.setattr(module, "OPENAPI_PATH", tmp_path / "missing.json")
    status, body = get("/v1/openapi")
    assert status == 404 and body["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/v1/healthz", "/v1/health/x"])
def test_unknown_paths_are_404(path):
    status, body = get(path)
    assert status == 404 and body["error"]["code"] == "not_found"
