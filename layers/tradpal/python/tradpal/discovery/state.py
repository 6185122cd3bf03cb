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
members: carried elites, then the candidates), ``history`` (every evaluated result,
in candidate order, with ``generation`` and ``values``; ``values`` are null when not
eligible), ``best`` (the history entry with the best first objective; ties to the
earliest) and ``summary`` (per generation: evaluated, eligible, best and median of
the first objective, best so far).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tradpal.backtest import BacktestConfig
from tradpal.discovery import methods
from tradpal.discovery.objectives import check_objectives
from tradpal.discovery.space import SearchSpace
from tradpal.errors import DiscoveryError, TradPalError

STATE_VERSION = 1
MAX_BATCH_BYTES = 256 * 1024
DEFAULT_MAX_GRID = 100_000

DEFAULTS: Mapping[str, Any] = {
    "method": "genetic",
    "objectives": ["sharpe"],
    "population": 50,
    "generations": 20,
    "seed": 0,
    "min_trades": 10,
    "elitism": 2,
    "n_candidates": None,
    "data": {"source": "sample"},
    "config": {},
    "validation": {"holdout": 0.25, "folds": 4},
    "risk": True,
}
_KEYS = {"strategy", *DEFAULTS}


def _int(req: Mapping[str, Any], key: str, low: int, hint: str) -> int:
    v = req[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise DiscoveryError(f"{key} must be an integer >= {low}, not {v!r}", hint=hint)
    return int(v)


def validate_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """``request`` checked and completed with defaults (plain JSON), else a
    :class:`DiscoveryError` saying what is wrong and how to fix it."""
    if not isinstance(request, Mapping):
        raise DiscoveryError(f"a discovery request is a JSON object, not {type(request).__name__}")
    unknown = sorted(set(request) - _KEYS)
    if unknown:
        raise DiscoveryError(
            f"unknown request key(s): {', '.join(unknown)}",
            hint=f"known keys: {', '.join(sorted(_KEYS))}",
        )
    if not isinstance(request.get("strategy"), str):
        raise DiscoveryError(
            "the request names no strategy", hint='add e.g. "strategy": "confluence"'
        )
    req = json.loads(json.dumps({**DEFAULTS, **request}))  # a plain-JSON deep copy
    if req["method"] not in methods.METHODS:
        raise DiscoveryError(
            f"unknown method {req['method']!r}", hint=f"use one of: {', '.join(methods.METHODS)}"
        )
    req["objectives"] = check_objectives(req["objectives"])
    _int(req, "population", 2, "e.g. 50 candidates per generation")
    _int(req, "generations", 1, "e.g. 20")
    _int(req, "seed", 0, "any integer >= 0")
    _int(req, "min_trades", 0, "e.g. 10 ignores candidates with fewer than 10 trades")
    _int(req, "elitism", 0, "e.g. 2 best carried to the next generation")
    if req["elitism"] >= req["population"]:
        raise DiscoveryError(
            f"elitism {req['elitism']} must be below the population {req['population']}",
            hint="elites take places in the population; leave room for children",
        )
    if req["n_candidates"] is not None:
        _int(req, "n_candidates", 1, "the number of candidates of a grid or random search")
    if not isinstance(req["risk"], bool):
        raise DiscoveryError(f"risk must be true or false, not {req['risk']!r}")
    data = req["data"]
    if not isinstance(data, Mapping) or not isinstance(data.get("source"), str):
        raise DiscoveryError(
            f"data must be an object with a source, not {data!r}",
            hint='e.g. {"source": "sample", "symbol": "BTC/USDT", "timeframe": "1h", ...}',
        )
    if not isinstance(req["config"], Mapping):
        raise DiscoveryError(
            f"config must be an object of backtest settings, not {req['config']!r}"
        )
    try:
        BacktestConfig.from_dict(dict(req["config"]))
    except TradPalError as exc:
        raise DiscoveryError(f"config: {exc.message}", hint=exc.hint) from None
    val = req["validation"]
    if not isinstance(val, Mapping) or set(val) - {"holdout", "folds"}:
        raise DiscoveryError(
            f"validation must be an object with holdout and folds, not {val!r}",
            hint='e.g. {"holdout": 0.25, "folds": 4}',
        )
    val = {**DEFAULTS["validation"], **val}
    h = val["holdout"]
    if isinstance(h, bool) or not isinstance(h, int | float) or not 0 <= h < 1:
        raise DiscoveryError(
            f"validation.holdout must be a fraction in [0, 1), not {h!r}",
            hint="0.25 keeps the last quarter of the bars out of the search",
        )
    f = val["folds"]
    if isinstance(f, bool) or not isinstance(f, int) or f < 1:
        raise DiscoveryError(f"validation.folds must be an integer >= 1, not {f!r}")
    req["validation"] = val
    return req


def _candidates(generation: int, points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f"g{generation}-{i}", "params": dict(p)} for i, p in enumerate(points)]


def plan(request: Mapping[str, Any]) -> dict[str, Any]:
    """The state of a new search: the validated request and generation 0's candidates."""
    req = validate_request(request)
    ss = SearchSpace.for_strategy(req["strategy"], risk=req["risk"])
    method, seed = req["method"], req["seed"]
    try:
        if method == "grid":
            points = ss.space.grid(max_points=req["n_candidates"] or DEFAULT_MAX_GRID)
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
    cands = _candidates(0, points)
    return {
        "version": STATE_VERSION,
        "request": req,
        "space": ss.to_dict(),
        "generation": 0,
        "done": False,
        "candidates": cands,
        "population": [c["id"] for c in cands],
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
        raise DiscoveryError(f"state version {state['version']!r} is not {STATE_VERSION}")


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
    members = [by_id[i] for i in state.get("population") or [c["id"] for c in entries]]
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
            history,
            len(req["objectives"]),
            n,
            seed=req["seed"],
            generation=g + 1,
            population=n,
        )
    cands = _candidates(g + 1, points)
    return {**out, "candidates": cands, "population": keep + [c["id"] for c in cands]}


__all__ = [
    "DEFAULTS",
    "MAX_BATCH_BYTES",
    "STATE_VERSION",
    "batches",
    "plan",
    "reduce",
    "validate_request",
]
