"""Capability ``discovery``: start a strategy discovery, read its progress and result; and
the discovery state machine's tasks (:data:`tradpal.runs.discovery.TASKS`).

* ``POST /v1/discovery`` (:class:`~tradpal.runs.requests.DiscoveryRunRequest`, what
  :func:`tradpal.discovery.plan` accepts): 202 with the run id;
* ``GET /v1/discovery/{id}``: status, generation progress and the best so far, and when
  SUCCEEDED the final result with links.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from tradpal.platform.api_fields import IdempotencyKey, RunId
from tradpal.platform.entry import lambda_handler
from tradpal.platform.http import json_response, make_app, responses
from tradpal.platform.market_data import require_stored_data
from tradpal.platform.observability import for_capability
from tradpal.runs import discovery
from tradpal.runs.api import (
    NO_DATA_TEXT,
    RunAccepted,
    cancel_response,
    get_run,
    run_view,
    start_response,
)
from tradpal.runs.requests import DiscoveryRunRequest

PATH = "/v1/discovery"
obs = for_capability("discovery")
router = APIGatewayHttpRouter()


@router.post(
    PATH,
    summary="Start a discovery",
    responses=responses(RunAccepted, (400, 404, 409, 422), texts={404: NO_DATA_TEXT}, status=202),
)
def start_discovery(body: DiscoveryRunRequest, idempotency_key: IdempotencyKey = None):
    # idempotency_key is checked and documented here; start_response reads it from the headers
    request = body.model_copy(update={"data": body.data.pinned()})
    require_stored_data(request.data.to_json())  # refused now, not in the state machine
    obs.metrics.add_metric(name="DiscoveriesStarted", unit="Count", value=1)
    posted = body.model_dump(mode="json", exclude_unset=True)
    return start_response(
        "discovery", PATH, router.current_event.headers, posted, request.to_json(),
        app.lambda_context,
    )  # fmt: skip


@router.get(
    f"{PATH}/<id>",
    summary="A discovery run's progress and result",
    responses=responses(discovery.DiscoveryView, (404,)),
)
def get_discovery(id: RunId):
    record = get_run("discovery", id, "use the run_id that POST /v1/discovery answered")
    view = run_view(record, PATH)
    return json_response(200, view | discovery.progress_view(record, view["links"]))


@router.delete(
    f"{PATH}/<id>",
    summary="Cancel a running discovery",
    responses=responses(discovery.DiscoveryView, (404, 409), texts={409: "the run is not running"}),
)
def cancel_discovery(id: RunId):
    return cancel_response("discovery", id, PATH, "use the run_id that POST /v1/discovery answered")


app = make_app()
app.include_router(router)  # after the routes: include_router copies them
handler = lambda_handler(obs, http=app, tasks=discovery.TASKS)
