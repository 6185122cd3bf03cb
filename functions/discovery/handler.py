"""Capability ``discovery``: start a strategy discovery, read its progress and result; and
the discovery state machine's tasks (plan, reduce, validate_best).

Routes:

* ``POST /v1/discovery`` (:class:`DiscoveryRequest`, what :func:`tradpal.discovery.plan`
  accepts) -> 202 :class:`RunAccepted` with a ``Location`` header; ``Idempotency-Key``
  makes a repeat return the same run;
* ``GET /v1/discovery/{id}`` -> :class:`DiscoveryView`: status, generation progress and the
  best so far (from the state in S3) and, when SUCCEEDED, the final result with links.

The logic is the library's (:mod:`tradpal.platform.discovery_runs`); this module translates.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from tradpal.discovery.state import MAX_EVALUATIONS, MAX_GENERATIONS, MAX_POPULATION
from tradpal.platform import discovery_runs
from tradpal.platform.http import json_response, make_app
from tradpal.platform.market_data import require_stored_data
from tradpal.platform.observability import for_capability
from tradpal.platform.run_api import (
    NO_DATA_TEXT,
    DataRef,
    RunAccepted,
    RunError,
    checked,
    get_run,
    handle,
    idempotency_key,
    responses,
    run_fields,
    start,
)

PATH = "/v1/discovery"

router = APIGatewayHttpRouter()
obs = for_capability("discovery")


class DiscoveryValidation(BaseModel):
    """How the winner is checked: the held-out tail and the walk-forward folds."""

    model_config = ConfigDict(extra="forbid")
    holdout: float | None = Field(None, description="fraction of the bars kept out, in [0, 1)")
    folds: int | None = Field(None, description="walk-forward folds of the search span, >= 1")


class DiscoveryRequest(BaseModel):
    """A discovery: search a strategy's params (and risk settings) for the best by the
    objectives, then check the winner out of sample. Unset fields take the library's
    defaults (tradpal.discovery.state.DEFAULTS). Sizes are bounded (the fields' maximum,
    and the evaluations of one discovery: see generations). Size and seed fields the
    method does not use are refused: grid uses n_candidates; random n_candidates (else
    population) and seed; genetic population, generations, elitism and seed; tpe and nsga2
    population, generations and seed."""

    model_config = ConfigDict(extra="forbid")
    strategy: str = Field(min_length=1, description='e.g. "ema_crossover", "confluence"')
    method: Literal["grid", "random", "genetic", "tpe", "nsga2"] | None = None
    objectives: list[str] | None = Field(None, description='e.g. ["sharpe", "max_drawdown"]')
    population: int | None = Field(
        None, ge=2, le=MAX_POPULATION, description="candidates per generation"
    )
    generations: int | None = Field(
        None,
        ge=1,
        le=MAX_GENERATIONS,
        description=f"population x generations: at most {MAX_EVALUATIONS} evaluations",
    )
    seed: int | None = Field(None, ge=0)
    min_trades: int | None = Field(None, ge=0)
    elitism: int | None = Field(
        None, ge=0, le=MAX_POPULATION - 1, description="genetic: below the population"
    )
    n_candidates: int | None = Field(
        None, ge=1, le=MAX_EVALUATIONS, description="grid (its most points) or random: how many"
    )
    risk: bool | None = Field(None, description="also search stop, target and sizing")
    data: DataRef | None = None
    config: dict[str, Any] | None = Field(None, description="BacktestConfig overrides")
    validation: DiscoveryValidation | None = Field(
        None, description='{"holdout": 0.25, "folds": 4}'
    )


class DiscoveryView(BaseModel):
    """A discovery run: status, progress, the best so far, the final result when done."""

    run_id: str
    kind: Literal["discovery"]
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "ABORTED"]
    created_at: str | None
    updated_at: str | None
    request: dict[str, Any]
    error: RunError | None = None
    progress: dict[str, Any] | None = Field(
        None, description="generation (pending), generations, done, per-generation summary"
    )
    best: dict[str, Any] | None = Field(None, description="the best candidate so far")
    result: dict[str, Any] | None = Field(
        None, description="when SUCCEEDED: evaluated, pareto, the top ranked candidates"
    )
    links: dict[str, str] = Field(description="self; when SUCCEEDED a pre-signed final.json")


@router.post(
    PATH,
    summary="Start a discovery",
    responses=responses(RunAccepted, 202, (400, 404, 409, 422), {404: NO_DATA_TEXT}),
)
def start_discovery(body: DiscoveryRequest):
    posted = body.model_dump(mode="json", exclude_none=True)
    request = checked(discovery_runs.check_request, posted)
    # refused now, not failed later in the state machine
    require_stored_data(request["data"])
    key = idempotency_key(router.current_event.headers)
    response = start("discovery", "discovery", PATH, key, posted, request, app.lambda_context)
    obs.metrics.add_metric(name="DiscoveriesStarted", unit=MetricUnit.Count, value=1)
    return response


@router.get(
    f"{PATH}/<id>",
    summary="A discovery run's progress and result",
    responses=responses(DiscoveryView, 200, (404,)),
)
def get_discovery(id: str):
    record = get_run("discovery", id)
    view = run_fields(record, PATH)
    view |= discovery_runs.progress_view(record.run_id, record.result_key or None)
    if record.status == "SUCCEEDED" and record.result_key:
        view["links"] |= discovery_runs.result_links(record.result_key)
    return json_response(200, view)


app = make_app()
app.include_router(router)  # after the routes: include_router copies them


@obs.logger.inject_lambda_context
@obs.metrics.log_metrics
@obs.tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    """API requests (HTTP API v2) and the discovery state machine's tasks."""
    return handle(event, context, app=app, tasks=discovery_runs.TASKS, logger=obs.logger)
