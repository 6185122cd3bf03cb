"""The health capability (public): versions and dependency checks, and the OpenAPI document.

``GET /v1/health`` checks every resource the platform configures (the buckets with
``HeadBucket``, the tables with ``DescribeTable``, the event bus, the market-data stream),
in parallel, each on a client with short timeouts and no retries, the whole bounded by
``CHECK_BUDGET_S``; it answers 200 ``ok`` when all pass and 503 ``degraded`` naming each
failing resource with its error. ``GET /v1/openapi`` serves the committed OpenAPI document
(``openapi.json`` beside this file).
"""

from __future__ import annotations

import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, Field

from tradpal.platform.http import ErrorResponse, error_body, make_app
from tradpal.platform.observability import for_capability

obs = for_capability("health")
router = APIGatewayHttpRouter()

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 2.0
CHECK_BUDGET_S = 3.0
LIBRARIES = ("numpy", "pandas", "pyarrow", "pydantic", "aws-lambda-powertools", "boto3", "ccxt")


class Check(BaseModel):
    """One dependency check."""

    name: str = Field(description="the platform's name for it: market_data_bucket, event_bus...")
    kind: Literal["s3", "dynamodb", "events", "kinesis"]
    resource: str
    ok: bool
    latency_ms: float
    error: str | None = None


class HealthResponse(BaseModel):
    """Liveness, versions and dependency checks."""

    status: Literal["ok", "degraded"]
    stage: str
    version: str = Field(description="tradpal's version")
    python: str
    libraries: dict[str, str | None]
    checks: list[Check]
    time: str


@cache
def _session() -> Any:
    import boto3

    return boto3.session.Session()


@cache
def _fast_client(service: str, endpoint: str | None, region: str | None) -> Any:
    """A client that fails fast (health must answer within its own timeout)."""
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "max_attempts": 1},
    )
    return _session().client(
        service, config=config, endpoint_url=endpoint or None, region_name=region
    )


def fast_client(service: str) -> Any:
    env = os.environ
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    return _fast_client(service, env.get("AWS_ENDPOINT_URL"), region)


def _probe(c: Any, kind: str, resource: str) -> None:
    """Raise if ``resource`` is not usable (``c``: a client of service ``kind``)."""
    if kind == "s3":
        c.head_bucket(Bucket=resource)
    elif kind == "dynamodb":
        status = c.describe_table(TableName=resource)["Table"]["TableStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise RuntimeError(f"table status {status}")
    elif kind == "events":
        c.describe_event_bus(Name=resource)
    else:
        summary = c.describe_stream_summary(StreamName=resource)["StreamDescriptionSummary"]
        if summary["StreamStatus"] not in ("ACTIVE", "UPDATING"):
            raise RuntimeError(f"stream status {summary['StreamStatus']}")


def _error_text(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', type(exc).__name__)}: {err.get('Message') or 'no message'}"
    return f"{type(exc).__name__}: {exc}"


def _timed(name: str, kind: str, resource: str) -> Check:
    began = time.perf_counter()
    try:
        c = fast_client(kind)
        began = time.perf_counter()  # the check's latency, not the client's construction
        _probe(c, kind, resource)
        error = None
    except Exception as exc:  # a failing dependency is a result, not a crash
        error = _error_text(exc)
    ms = round((time.perf_counter() - began) * 1000, 2)
    return Check(
        name=name, kind=kind, resource=resource, ok=error is None, latency_ms=ms, error=error
    )  # type: ignore[arg-type]


def dependencies() -> list[tuple[str, str, str]]:
    """``(name, kind, resource)`` of every configured resource."""
    from tradpal.platform.environment import platform_env

    env = platform_env()
    wanted = (
        ("market_data_bucket", "s3"),
        ("results_bucket", "s3"),
        ("runs_table", "dynamodb"),
        ("catalog_table", "dynamodb"),
        ("idempotency_table", "dynamodb"),
        ("event_bus", "events"),
        ("market_stream", "kinesis"),
    )
    return [(name, kind, getattr(env, name)) for name, kind in wanted if getattr(env, name)]


def run_checks(deps: list[tuple[str, str, str]], budget_s: float = CHECK_BUDGET_S) -> list[Check]:
    """Every check in parallel; one still running after ``budget_s`` counts as failed."""
    if not deps:
        return []
    # Clients first, one after another: building one loads its service model (slow, and not
    # what a check measures) and boto3 sessions are not safe to share between threads.
    for kind in sorted({kind for _, kind, _ in deps}):
        with suppress(Exception):  # the check meets the error again and reports it
            fast_client(kind)
    pool = ThreadPoolExecutor(max_workers=len(deps))
    futures = [pool.submit(_timed, *d) for d in deps]
    wait(futures, timeout=budget_s)
    pool.shutdown(wait=False, cancel_futures=True)
    out = []
    for (name, kind, resource), f in zip(deps, futures, strict=True):
        if f.done():
            out.append(f.result())
        else:
            out.append(
                Check(
                    name=name, kind=kind, resource=resource, ok=False,  # type: ignore[arg-type]
                    latency_ms=budget_s * 1000, error=f"no answer within {budget_s:g} s",
                )
            )  # fmt: skip
    return out


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def health() -> HealthResponse:
    """The health report (see the module docstring)."""
    import tradpal
    from tradpal.platform.environment import platform_env
    from tradpal.platform.runs import now_iso

    checks = run_checks(dependencies())
    failed = [c for c in checks if not c.ok]
    for c in failed:
        obs.logger.warning("dependency %s (%s) failed: %s", c.name, c.resource, c.error)
    obs.metrics.add_metric(name="DependenciesFailing", unit="Count", value=len(failed))
    return HealthResponse(
        status="degraded" if failed else "ok",
        stage=platform_env().stage,
        version=getattr(tradpal, "__version__", "unknown"),
        python=platform.python_version(),
        libraries=versions(),
        checks=checks,
        time=now_iso(),
    )


_HEALTH = {"content": {"application/json": {"model": HealthResponse}}}


@router.get(
    "/v1/health",
    summary="Liveness, versions and dependency checks (no auth)",
    responses={
        200: {"description": "every dependency answered", **_HEALTH},
        503: {"description": "degraded: the failing checks carry their errors", **_HEALTH},
    },
)
def get_health() -> Response[HealthResponse]:
    report = health()
    return Response(
        status_code=200 if report.status == "ok" else 503,
        content_type=content_types.APPLICATION_JSON,
        body=report,
    )


@router.get(
    "/v1/openapi",
    summary="The OpenAPI document of this API (no auth)",
    responses={
        200: {"description": "OpenAPI 3 document", "content": {"application/json": {}}},
        404: {
            "description": "no document in this deployment",
            "content": {"application/json": {"model": ErrorResponse}},
        },
    },
)
def get_openapi() -> Response[dict[str, Any]]:
    try:
        doc = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        doc = error_body(
            "not_found",
            "this deployment has no OpenAPI document",
            {"hint": "the document is generated into functions/health/openapi.json"},
        )
        return Response(404, content_types.APPLICATION_JSON, doc)
    return Response(200, content_types.APPLICATION_JSON, doc, {"Cache-Control": "max-age=300"})


app = make_app()
app.include_router(router)


@obs.logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@obs.metrics.log_metrics
@obs.tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (HTTP API v2 events)."""
    return app.resolve(event, context)
