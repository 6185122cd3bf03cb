"""Capability ``health`` (public): versions and resource checks, and the OpenAPI document.

``GET /v1/health`` answers 200 ``ok`` when every resource answers, else 503 ``degraded``
naming each failing one (:func:`tradpal.platform.health.health_report`). ``GET /v1/openapi``
serves the committed OpenAPI document (``openapi.json`` beside this file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from tradpal.platform.entry import lambda_handler
from tradpal.platform.health import HealthReport, health_report
from tradpal.platform.http import make_app, not_found, responses
from tradpal.platform.observability import for_capability

obs = for_capability("health")
router = APIGatewayHttpRouter()
OPENAPI_PATH = Path(__file__).with_name("openapi.json")


@router.get(
    "/v1/health",
    summary="Liveness, versions and resource checks (no auth)",
    responses=responses(HealthReport)
    | {
        503: {
            "description": "degraded: see the failed checks",
            "content": {"application/json": {"model": HealthReport}},
        }
    },
)
def get_health() -> Response[HealthReport]:
    report = health_report()
    failed = sum(not c.ok for c in report.checks)
    obs.metrics.add_metric(name="DependenciesFailing", unit="Count", value=failed)
    status = 200 if report.status == "ok" else 503
    return Response(status, content_types.APPLICATION_JSON, report)


@router.get(
    "/v1/openapi",
    summary="The OpenAPI document of this API (no auth)",
    responses=responses(None, {404: "no document in this deployment"})
    | {200: {"description": "OpenAPI 3 document", "content": {"application/json": {}}}},
)
def get_openapi() -> Response[dict[str, Any]]:
    if not OPENAPI_PATH.is_file():
        raise not_found("OpenAPI document in this deployment", "it is built into openapi.json")
    doc = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    return Response(200, content_types.APPLICATION_JSON, doc, {"Cache-Control": "max-age=300"})


app = make_app()
app.include_router(router)
handler = lambda_handler(obs, http=app)
