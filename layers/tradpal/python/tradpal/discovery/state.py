"""Stateless planning of a discovery over plain-JSON state: plan, batches, reduce.

``plan(request)`` validates the request and returns the state holding generation
0's candidates; ``batches(state, batch_size=...)`` cuts them into JSON work items
(each under 256 KB, for a Lambda payload); ``reduce(state, results)`` merges the
evaluated results, ranks, and returns the next state (the next generation's
candidates, or ``done``). Nothing is kept between calls: every function is a pure
function of its JSON inputs, so the same request and results give the same next
generation, bit for bit, wherever it runs.

State keys: ``version``, ``request`` (validated, defaults filled), ``space``
(:meth:`SearchSpace.to_dict`), ``generation`` (the generation whose candidates are
pending), ``done``, ``candidates`` (``[{"id": "g3-17", "params": {...}}]``; ids are
``g<generation>-<index>`` and stable), ``population`` (ids of the generation's
members: carried elites, then the proposed points; a point evaluated before keeps the id
of its first evaluation and is not a candidate again), ``trials`` (``[generation, id]`` of
every finished generation's members, repeats included: what optuna's samplers learn from),
``history`` (every evaluated result, one per distinct parameter set, in candidate order,
with ``generation`` and ``values``; ``values`` are null when not eligible), ``best`` (the
history entry with the best first objective; ties to the earliest) and ``summary`` (per
generation: evaluated (new evaluations), eligible, best and median of the first objective
over the members, best so far).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tradpal.discovery import methods
from tradpal.discovery.request import MAX_EVALUATIONS, DiscoveryRequest
from tradpal.discovery.search_space import SearchSpace
from tradpal.errors import DiscoveryError, TradPalError
from tradpal.fields import validated

STATE_VERSION = 2
MAX_BATCH_BYTES = 256 * 1024

DEFAULT_MAX_GRID = MAX_EVALUATIONS
"""A grid search without n_candidates may have this many points at most."""


def validate_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """``request`` checked (:class:`~tradpal.discovery.request.DiscoveryRequest`) and
    completed with its defaults, as plain JSON; a :class:`DiscoveryError` naming the first
    field at fault (its ``field`` attribute) saying what is wrong and how to fix it."""
    return validated(DiscoveryRequest, request, error=DiscoveryError).to_json()


def planned_evaluations(req: Mapping[str, Any]) -> int | None:
    """The most evaluations a validated request ``req`` plans (None for a grid: its points
    are counted when its space is known, :func:`grid_points`)."""
    method = req["method"]
    if method == "grid":
        return None
    if method == "random":
        return int(req["n_candidates"] or req["population"])
    return int(req["population"]) * int(req["generations"])


def grid_points(space: SearchSpace, n_candidates: int | None) -> list[dict[str, Any]]:
    """Every point of ``space``'s grid, when there are at most ``n_candidates`` (default
    :data:`DEFAULT_MAX_GRID`); else a :class:`DiscoveryError` saying
    how many points the grid has and what to do."""
    limit = n_candidates or DEFAULT_MAX_GRID
    try:
        return space.space.grid(max_points=limit)
    except TradPalError:
        pass
    try:  # count it, up to the most any grid search may have
        size: int | None = len(space.space.grid(max_points=MAX_EVALUATIONS))
    except TradPalError:
        size = None
    what = f"the grid of {space.strategy}" + (" with the risk params" if space.risk else "")
    if n_candidates:
        has = f"{size} points" if size is not None else f"more than {MAX_EVALUATIONS} points"
        problem = f"{what} has {has}, more than n_candidates {n_candidates}"
    else:
        problem = f"{what} has more than {limit} points, the most a grid search may have"
    fixes = ['use method "random" (n_candidates points) or "genetic" to sample it']
    if size is not None:
        fixes.insert(0, f"set n_candidates to {size} (CLI: --candidates {size})")
    if space.risk:
        fixes.append('set "risk": false (CLI: --no-risk) to leave stop, target and sizing out')
    raise DiscoveryError(
        f"{problem}: a grid search evaluates every point", hint="; or ".join(fixes)
    )


def _candidates(generation: int, points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f"g{generation}-{i}", "params": dict(p)} for i, p in enumerate(points)]


def params_key(params: Mapping[str, Any]) -> str:
    """A parameter set's identity: its canonical JSON (same params, same key)."""
    return json.dumps(params, sort_keys=True, allow_nan=False)


def _propose(
    generation: int, points: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """``(candidates, member ids)`` of a generation's proposed ``points``: a point already
    evaluated (in ``history``) or proposed earlier in the generation is not evaluated again;
    its member id is the earlier one (evaluation is a pure function of the params, so the
    score is the one re-running it would give, and the search goes on unchanged)."""
    known = {params_key(e["params"]): e["id"] for e in history}
    fresh: list[Mapping[str, Any]] = []
    ids: list[str] = []
    for point in points:
        key = params_key(point)
        if key not in known:
            known[key] = f"g{generation}-{len(fresh)}"
            fresh.append(point)
        ids.append(known[key])
    return _candidates(generation, fresh), ids


def plan(request: Mapping[str, Any]) -> dict[str, Any]:
    """The state of a new search: the validated request and generation 0's candidates."""
    req = validate_request(request)
    ss = SearchSpace.for_strategy(req["strategy"], risk=req["risk"])
    method, seed = req["method"], req["seed"]
    try:
        if method == "grid":
            points = grid_points(ss, req["n_candidates"])
        elif method == "random":
            points = methods.initial_population(
                ss.space, req["n_candidates"] or req["population"], seed
            )
        elif method == "genetic":
            points = methods.initial_population(ss.space, req["population"], seed)
        else:
            points = methods.optuna_candidates(
                method,
                ss.space,
                [],
                len(req["objectives"]),
                req["population"],
                seed=seed,
                generation=0,
                population=req["population"],
            )
    except DiscoveryError:
        raise
    except TradPalError as exc:
        raise DiscoveryError(exc.message, hint=exc.hint) from None
    cands, ids = _propose(0, points, [])
    return {
        "version": STATE_VERSION,
        "request": req,
        "space": ss.to_dict(),
        "generation": 0,
        "done": False,
        "candidates": cands,
        "population": ids,
        "trials": [],
        "history": [],
        "best": None,
        "summary": [],
    }


def _check_state(state: Mapping[str, Any]) -> None:
    need = ("version", "request", "space", "generation", "done", "candidates", "history")
    if not isinstance(state, Mapping) or any(k not in state for k in need):
        raise DiscoveryError(
            "not a discovery state", hint="pass the object plan() or reduce() returned"
        )
    if state["version"] != STATE_VERSION:
        raise DiscoveryError(
            f"state version {state['version']!r} is not {STATE_VERSION}",
            hint="an older TradPal wrote it: start the search afresh (tradpal discover --fresh)",
        )


def batches(state: Mapping[str, Any], *, batch_size: int) -> list[dict[str, Any]]:
    """The pending candidates as JSON work items ``{"batch_id", "generation",
    "request", "candidates"}`` of at most ``batch_size`` candidates, each under
    256 KB as JSON (the size is halved until they are). Empty when done."""
    _check_state(state)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DiscoveryError(f"batch_size must be an integer >= 1, not {batch_size!r}")
    if state["done"]:
        return []
    cands, g = list(state["candidates"]), int(state["generation"])
    size = batch_size
    while True:
        items = [
            {
                "batch_id": f"g{g}-b{i // size}",
                "generation": g,
                "request": state["request"],
                "candidates": cands[i : i + size],
            }
            for i in range(0, len(cands), size)
        ]
        if all(len(json.dumps(b).encode()) < MAX_BATCH_BYTES for b in items):
            return items
        if size == 1:
            raise DiscoveryError(
                "one candidate alone makes a batch of 256 KB or more",
                hint="the request or the params are far too large; shrink them",
            )
        size = max(1, size // 2)


def _value(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise DiscoveryError(f"an objective value is {v!r}, not a number or null")
    return float(v) if math.isfinite(v) else None


def _score(entry: Mapping[str, Any]) -> float | None:
    values = entry.get("values")
    return None if values is None else values[0]


def _best(history: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    best, top = None, -math.inf
    for e in history:
        s = _score(e)
        if s is not None and (best is None or s > top):
            best, top = e, s
    return None if best is None else dict(best)


def _merge(state: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> list[dict]:
    req = state["request"]
    k, min_trades = len(req["objectives"]), req["min_trades"]
    by_id: dict[str, Mapping[str, Any]] = {}
    for r in results:
        if not isinstance(r, Mapping) or not isinstance(r.get("id"), str):
            raise DiscoveryError(f"a result must be an object with an id, not {r!r}")
        if r["id"] in by_id and by_id[r["id"]] != r:
            raise DiscoveryError(f"two different results for candidate {r['id']!r}")
        by_id[r["id"]] = r
    pending = [c["id"] for c in state["candidates"]]
    missing = [i for i in pending if i not in by_id]
    extra = sorted(set(by_id) - set(pending))
    if missing or extra:
        raise DiscoveryError(
            f"results do not match generation {state['generation']}'s candidates"
            + (f"; missing: {', '.join(missing[:5])}" if missing else "")
            + (f"; unknown: {', '.join(extra[:5])}" if extra else ""),
            hint="pass every pending candidate's result once (evaluate every batch)",
        )
    out = []
    for c in state["candidates"]:
        r = by_id[c["id"]]
        values = r.get("values")
        if not isinstance(values, list) or len(values) != k:
            raise DiscoveryError(
                f"result {c['id']!r} has values {values!r}, not a list of {k} numbers"
            )
        vals: list[float | None] | None = [_value(v) for v in values]
        trades = r.get("num_trades")
        if (trades is not None and trades < min_trades) or any(v is None for v in vals):
            vals = None
        out.append(
            {
                **r,
                "id": c["id"],
                "params": dict(c["params"]),
                "generation": state["generation"],
                "values": vals,
            }
        )
    return out


def reduce(state: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The next state: ``results`` (one per pending candidate, any order) merged into
    the history, the best and the generation's summary updated, and the next
    generation's candidates planned (or ``done`` set)."""
    _check_state(state)
    if state["done"]:
        raise DiscoveryError("the search is done", hint="start another one with plan()")
    req, g = state["request"], int(state["generation"])
    entries = _merge(state, results)
    history = [*state["history"], *entries]
    by_id = {e["id"]: e for e in history}
    member_ids = list(state.get("population") or [c["id"] for c in entries])
    members = [by_id[i] for i in member_ids]
    # every generation's members, repeats included: what the samplers learn from
    trials = [*state.get("trials", []), *([g, i] for i in member_ids)]
    best = _best(history)
    scores = [s for s in (_score(e) for e in members) if s is not None]
    summary = [
        *state.get("summary", []),
        {
            "generation": g,
            "evaluated": len(entries),
            "eligible": len(scores),
            "best": max(scores) if scores else None,
            "median": float(np.median(scores)) if scores else None,
            "best_so_far": None if best is None else _score(best),
        },
    ]
    out = {
        **state,
        "history": history,
        "best": best,
        "summary": summary,
        "trials": trials,
        "generation": g + 1,
    }
    method = req["method"]
    if method in ("grid", "random") or g + 1 >= req["generations"]:
        return {**out, "done": True, "candidates": [], "population": []}
    space = SearchSpace.from_dict(state["space"]).space
    n = req["population"]
    if method == "genetic":
        member_scores = [_score(e) for e in members]
        keep = [members[i]["id"] for i in methods.elites(member_scores, req["elitism"])]
        points = methods.offspring(
            [e["params"] for e in members],
            member_scores,
            space,
            n - len(keep),
            methods.rng_for(req["seed"], g + 1),
        )
    else:
        keep = []
        points = methods.optuna_candidates(
            method,
            space,
            [{**by_id[i], "generation": t} for t, i in trials],
            len(req["objectives"]),
            n,
            seed=req["seed"],
            generation=g + 1,
            population=n,
        )
    cands, ids = _propose(g + 1, points, history)
    return {**out, "candidates": cands, "population": keep + ids}


__all__ = [
    "MAX_BATCH_BYTES",
    "STATE_VERSION",
    "batches",
    "plan",
    "reduce",
    "validate_request",
]
