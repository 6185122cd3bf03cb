"""A discovery run on the platform: the state machine's tasks over state kept in S3.

The discovery state (:mod:`tradpal.discovery.state`: request, space, history, candidates)
grows with every generation, so it lives in the results bucket at
``discovery/<run_id>/state.json`` and the execution carries a *pointer*::

    {"run_id", "bucket", "state_key", "generation", "done", "request", "batch_size",
     "items_key", "results_prefix"}

* ``plan`` (``{"request", "batch_size"}``, the size from the definition):
  :func:`tradpal.discovery.plan` -> the state and generation 0's candidates as batches
  ``[{"candidates"}]`` of at most ``batch_size`` (``items_key``, which the
  Distributed Map's ItemReader reads: one child per batch);
* ``evaluate`` (the Map worker, capability ``discovery_evaluate``):
  :func:`tradpal.discovery.evaluate` on one batch -> its results at
  ``<results_prefix><batch_id>.json``, returns ``{"batch_id", "key"}``;
* ``reduce``: every batch result of the generation merged by :func:`tradpal.discovery.reduce`
  -> the next generation's items, or ``done``;
* ``validate_best``: :func:`tradpal.discovery.runner.finalize` (out-of-sample check, deflated
  Sharpe, ranking) -> ``discovery/<run_id>/final.json``; the run is marked SUCCEEDED.

The same request gives what :func:`tradpal.discovery.run_discovery` gives, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from tradpal.errors import DiscoveryError, TradPalError
from tradpal.platform.results import ResultStore
from tradpal.runs.api import RunView
from tradpal.runs.store import RunRecord, RunStore

PREFIX = "discovery"
BEST_FIELDS = ("id", "params", "values", "deflated_sharpe")
"""What ``backtest_complete`` and the pointer carry of the winner (the rest is in S3)."""


def state_key(run_id: str) -> str:
    return f"{PREFIX}/{run_id}/state.json"


def final_key(run_id: str) -> str:
    return f"{PREFIX}/{run_id}/final.json"


def data_frame(data: Mapping[str, Any]) -> Any:
    """The frame of a discovery's data reference: ``store`` from the platform's market
    store; other sources as the library loads a batch's data (a sample must pin its end)."""
    from tradpal.discovery.evaluate import load_batch_frame
    from tradpal.platform.market_data import load_data

    return load_data(data) if data.get("source") == "store" else load_batch_frame(data)


def pointer(run_id: str, state: Mapping[str, Any], batch_size: int) -> dict[str, Any]:
    """Store ``state`` (and its pending candidates, in batches of at most ``batch_size``,
    :func:`tradpal.discovery.state.batches`) and return the pointer to it."""
    from tradpal.discovery.state import batches

    results = ResultStore()
    g = int(state["generation"])
    base = f"{PREFIX}/{run_id}"
    results.put_json(state_key(run_id), state)
    out = {
        "run_id": run_id,
        "bucket": results.bucket,
        "state_key": state_key(run_id),
        "generation": g,
        "done": bool(state["done"]),
        "request": state["request"],
        "batch_size": batch_size,
        "items_key": f"{base}/g{g}/items.json",
        "results_prefix": f"{base}/g{g}/results/",
    }
    if not state["done"]:
        # the worker names its batch by its first candidate (evaluate): ids stay stable
        items = [{"candidates": b["candidates"]} for b in batches(state, batch_size=batch_size)]
        results.put_json(out["items_key"], items)
    return out


def plan(run_id: str, start: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``plan``: ``{"request", "batch_size"}`` -> the validated request's first
    generation, once its data loads with enough bars for the folds and holdout: a data
    problem fails here with its own error, not in every batch of the Distributed Map."""
    from tradpal.discovery import plan as plan_search
    from tradpal.discovery.evaluate import plan_spans

    state = plan_search(start["request"])
    req = state["request"]
    plan_spans(len(data_frame(req["data"])), req["validation"])
    return pointer(run_id, state, start["batch_size"])


def evaluate(run_id: str | None, event: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``evaluate``: one Map batch ``{"Items": [candidates], "BatchInput": {...}}``
    scored and stored; returns ``{"batch_id", "key"}``. A batch the library refuses (a
    :class:`~tradpal.errors.TradPalError`: its data, a candidate) is stored as ``{"batch_id",
    "results": [], "error": {"type", "message", "hint"}}`` so that ``reduce`` fails the run
    with that cause (a failed Map child would only say that the Map failed)."""
    from tradpal.discovery import evaluate as evaluate_batch

    items, ctx = list(event["Items"]), event["BatchInput"]
    batch_id = f"{items[0]['id']}+{len(items)}"
    request = ctx["request"]
    batch = {
        "batch_id": batch_id,
        "generation": ctx["generation"],
        "request": request,
        "candidates": items,
    }
    key = f"{ctx['results_prefix']}{batch_id}.json"
    try:
        result = evaluate_batch(batch, frame=data_frame(request["data"]))
    except TradPalError as exc:
        error = {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        result = {"batch_id": batch_id, "generation": ctx["generation"], "results": []}
        result["error"] = error
    ResultStore().put_json(key, result)
    return {"batch_id": batch_id, "key": key}


def reduce(run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``reduce``: the generation's batch results merged; the next pointer. A batch
    that recorded an error fails the run with that error's message and hint; candidates
    without a result (a batch that crashed) fail it saying so."""
    from tradpal.discovery import reduce as reduce_search

    results = ResultStore()
    stored = results.get_json(state["state_key"])
    batches = [results.get_json(key) for key in results.list_keys(state["results_prefix"])]
    failed = sorted((b for b in batches if b.get("error")), key=lambda b: str(b.get("batch_id")))
    if failed:
        first = failed[0]["error"]
        raise DiscoveryError(
            f"evaluating generation {stored['generation']} failed in {len(failed)} of "
            f"{len(batches)} batches; the first ({failed[0].get('batch_id')}): "
            f"{first.get('type')}: {first.get('message')}",
            hint=first.get("hint") or "fix the request and start the discovery again",
        )
    evaluated = [r for b in batches for r in b["results"]]
    done = {r.get("id") for r in evaluated}
    missing = [c["id"] for c in stored["candidates"] if c["id"] not in done]
    if missing:
        raise DiscoveryError(
            f"{len(missing)} of generation {stored['generation']}'s candidates have no "
            f"result ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): "
            "their evaluate batches failed without recording why",
            hint="the discovery_evaluate function's logs for this run say why; "
            "start the discovery again once that is fixed",
        )
    return pointer(run_id, reduce_search(stored, evaluated), state["batch_size"])


def validate_best(run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``validate_best``: the finished search finalized into ``final.json``; the run
    is SUCCEEDED with that key; the pointer gets ``best`` (:data:`BEST_FIELDS`)."""
    from tradpal.discovery.runner import finalize

    results = ResultStore()
    stored = results.get_json(state["state_key"])
    frame = data_frame(stored["request"]["data"])
    final = finalize(stored, frame=frame)
    key = final_key(run_id)
    results.put_json(key, final)
    best = final.get("best")
    summary = None if best is None else {k: best.get(k) for k in BEST_FIELDS}
    RunStore().succeed(run_id, "discovery", key)  # a run cancelled meanwhile stays CANCELLED
    return {**state, "state_key": key, "best": summary}


class DiscoveryView(RunView):
    """A discovery run: status, progress, the best so far, the final result when done."""

    progress: dict[str, Any] | None = Field(None, description="generation, generations, done")
    best: dict[str, Any] | None = Field(None, description="the best candidate so far")
    result: dict[str, Any] | None = Field(None, description="evaluated, pareto, the top ranked")


TOP_RANKED = 10
"""How many ranked candidates a finished run's view shows (all are in final.json)."""


def _view_of_best(best: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # oos_equity is a curve of every held-out bar: in final.json, not in the view
    return None if best is None else {k: v for k, v in best.items() if k != "oos_equity"}


def progress_view(record: RunRecord, links: dict[str, str]) -> dict[str, Any]:
    """``progress`` and ``best`` of a run from its state in S3 and, once it SUCCEEDED
    (final.json), ``result`` (evaluated, pareto, the top ranked) and ``links`` with a
    pre-signed URL of final.json."""
    results = ResultStore()
    done = record.status == "SUCCEEDED" and bool(record.result_key)
    key = record.result_key if done else state_key(record.run_id)
    if not results.exists(key):
        return {"progress": None, "best": None, "result": None}
    state = results.get_json(key)
    progress = {
        "generation": state["generation"],
        "generations": state["request"]["generations"],
        "done": state["done"],
        "summary": state.get("summary") or [],
    }
    out = {"progress": progress, "best": _view_of_best(state.get("best")), "result": None}
    if done:
        out["result"] = {
            "evaluated": state.get("evaluated"),
            "pareto": state.get("pareto"),
            "top": [_view_of_best(e) for e in (state.get("ranked") or [])[:TOP_RANKED]],
        }
        out["links"] = {**links, "final": results.presign(key)}
    return out


TASKS = {"plan": plan, "reduce": reduce, "validate_best": validate_best}
"""The discovery function's tasks by name (``evaluate`` is the Map worker's)."""
