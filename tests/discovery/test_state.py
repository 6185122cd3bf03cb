"""Stateless plan / batches / reduce: validation, JSON state, reproducibility, convergence.

Results are computed by simple functions of the params (no backtests), so these
tests check the search itself."""

from __future__ import annotations

import json
import random

import pytest

from tradpal.discovery import MAX_BATCH_BYTES, batches, plan, reduce
from tradpal.discovery.request import METHOD_FIELDS
from tradpal.errors import DiscoveryError


def peak(p):
    """A smooth objective of ema_crossover's params with its maximum 0 at (20, 100)."""
    return -((p["fast"] - 20) ** 2) - (p["slow"] - 100) ** 2 / 10


def evaluate(state, fn=peak, *, trades=20):
    return [
        {"id": c["id"], "params": c["params"], "values": [fn(c["params"])], "num_trades": trades}
        for c in state["candidates"]
    ]


def run(request, fn=peak, *, shuffle_seed=None):
    state = plan(request)
    states = [state]
    while not state["done"]:
        results = evaluate(state, fn)
        if shuffle_seed is not None:
            random.Random(shuffle_seed + state["generation"]).shuffle(results)
        # every step goes through strict JSON, as it would between Lambda invocations
        text = json.dumps(reduce(state, results), allow_nan=False)
        state = json.loads(text)
        states.append(state)
    return states


def request(method, **kw):
    """A request of ``method`` with the sizes it uses (the others are refused)."""
    sizes = {"population": 12, "generations": 4, "seed": 5, "n_candidates": 3000}
    used = METHOD_FIELDS[method]
    if method == "random":  # n_candidates points, else population
        used = ("n_candidates", "seed") if "n_candidates" in kw else ("population", "seed")
    base = {"strategy": "ema_crossover", "method": method, "risk": False, "min_trades": 10}
    return {**base, **{k: v for k, v in sizes.items() if k in used}, **kw}


@pytest.mark.parametrize("method", ["grid", "random", "genetic", "tpe", "nsga2"])
def test_same_request_and_results_give_the_same_generations(method):
    a = run(request(method))
    b = run(request(method), shuffle_seed=1)  # result order must not matter
    assert [json.dumps(s, sort_keys=True) for s in a] == [json.dumps(s, sort_keys=True) for s in b]
    if method != "grid":  # a grid has no seed
        other = run(request(method, seed=6))
        assert other[0]["candidates"] != a[0]["candidates"]


@pytest.mark.parametrize("method", ["genetic", "tpe", "nsga2"])
def test_state_round_trips_through_json_and_ids_are_stable(method):
    states = run(request(method))
    for g, s in enumerate(states[:-1]):
        assert json.loads(json.dumps(s, allow_nan=False)) == s
        assert [c["id"] for c in s["candidates"]][:3] == [f"g{g}-0", f"g{g}-1", f"g{g}-2"]
        assert s["generation"] == g
    final = states[-1]
    assert final["done"] and final["candidates"] == []
    assert len(final["summary"]) == 4
    ids = [e["id"] for e in final["history"]]
    assert len(ids) == len(set(ids))


def test_genetic_search_converges_on_a_known_optimum():
    states = run(request("genetic", population=30, generations=15, seed=0))
    final = states[-1]
    best = final["best"]
    assert best["values"][0] >= -5.0, best  # the optimum is 0 at fast=20, slow=100
    assert abs(best["params"]["fast"] - 20) <= 2 and abs(best["params"]["slow"] - 100) <= 5
    bests = [s["best"] for s in final["summary"]]
    medians = [s["median"] for s in final["summary"]]
    assert bests == sorted(bests)  # elitism: a generation's best is never lost
    assert medians[-1] > medians[0] + 100  # the whole population moved towards the peak
    # a random search of the same budget does worse on average than the converged GA
    rnd = run(request("random", n_candidates=30 * 15 - 2 * 14, seed=0))[-1]
    assert final["best"]["values"][0] >= rnd["best"]["values"][0]


def test_elites_carry_over_unevaluated():
    s0 = plan(request("genetic", elitism=3))
    s1 = reduce(s0, evaluate(s0))
    scores = {e["id"]: e["values"][0] for e in s1["history"]}
    top3 = sorted(scores, key=lambda i: (-scores[i], int(i.split("-")[1])))[:3]
    assert s1["population"][:3] == top3
    assert len(s1["candidates"]) <= 12 - 3 and len(s1["population"]) == 12
    assert set(s1["population"][3:]) >= {c["id"] for c in s1["candidates"]}
    s2 = reduce(s1, evaluate(s1))
    # the elites (and children equal to an earlier point) were not evaluated again
    assert len(s2["history"]) == 12 + len(s1["candidates"])


def test_a_point_proposed_again_is_not_evaluated_again_and_keeps_its_score():
    # a tiny population converges: children repeat their parents and each other
    states = run(request("genetic", population=6, generations=8, elitism=1, seed=3))
    final = states[-1]
    history = final["history"]
    keys = [json.dumps(e["params"], sort_keys=True) for e in history]
    assert len(set(keys)) == len(keys)  # one evaluation per distinct parameter set
    assert sum(len(s["candidates"]) for s in states) == len(history) < 6 * 8
    by_id = {e["id"]: e for e in history}
    for _g, i in final["trials"]:  # every member of every generation has its one score
        assert by_id[i]["values"] == [peak(by_id[i]["params"])]
    assert len(final["trials"]) == 6 * 8
    assert [s["evaluated"] for s in final["summary"]] == [len(s["candidates"]) for s in states[:-1]]


@pytest.mark.parametrize("method", ["tpe", "nsga2"])
def test_optuna_methods_improve_on_the_first_generation(method):
    final = run(request(method, population=16, generations=6, seed=2))[-1]
    first = final["summary"][0]["best"]
    assert final["best"]["values"][0] > first
    assert all(e["params"]["fast"] < e["params"]["slow"] for e in final["history"])


def test_multi_objective_nsga2_keeps_two_values():
    def two(p):
        return [float(p["fast"]), -float(p["slow"])]

    state = plan(request("nsga2", objectives=["sharpe", "total_return"]))
    while not state["done"]:
        res = [
            {"id": c["id"], "values": two(c["params"]), "num_trades": 12}
            for c in state["candidates"]
        ]
        state = reduce(state, res)
    assert all(len(e["values"]) == 2 for e in state["history"])


def test_min_trades_and_undefined_values_make_a_candidate_ineligible():
    s0 = plan(request("random", n_candidates=4))
    res = evaluate(s0)
    res[0]["num_trades"] = 3
    res[1]["values"] = [None]
    res[2]["values"] = [-1e9]
    s1 = reduce(s0, res)
    vals = [e["values"] for e in s1["history"]]
    assert vals[0] is None and vals[1] is None and vals[2] == [-1e9]
    assert s1["best"]["id"] == "g0-3"
    assert s1["summary"][0]["eligible"] == 2


def test_batches_are_small_stable_and_cover_every_candidate():
    state = plan({"strategy": "confluence", "method": "random", "n_candidates": 5000, "seed": 1})
    items = batches(state, batch_size=5000)  # one batch would be far over 256 KB
    sizes = [len(json.dumps(b).encode()) for b in items]
    assert len(items) > 1 and max(sizes) < MAX_BATCH_BYTES
    assert [c for b in items for c in b["candidates"]] == state["candidates"]
    assert [b["batch_id"] for b in items] == [f"g0-b{i}" for i in range(len(items))]
    assert items == batches(json.loads(json.dumps(state)), batch_size=5000)
    small = batches(state, batch_size=64)
    assert len(small) == -(-5000 // 64) and all(len(b["candidates"]) <= 64 for b in small)
    assert all(b["request"] == state["request"] for b in small)
    assert batches({**state, "done": True}, batch_size=64) == []


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"strategy": None}, "strategy: Input should be a valid string"),
        ({"strategy": "nope"}, "unknown strategy"),
        ({"method": "anneal"}, "method: Input should be 'grid'"),
        ({"objectives": ["sharpe", "sharpe"]}, "twice"),
        ({"objectives": []}, "objectives: List should have at least 1 item"),
        ({"objectives": ["cagr"]}, "objectives.0: Input should be 'sharpe'"),
        ({"population": 1}, "population"),
        ({"generations": 0}, "generations"),
        ({"elitism": 12}, "below the population"),
        ({"min_trades": -1}, "min_trades"),
        ({"seed": 1.5}, "seed"),
        ({"risk": "yes"}, "risk"),
        ({"data": {"source": ""}}, "source"),
        ({"config": {"fees": 2}}, "config.fees: Input should be less than 1"),
        ({"config": {"leverage": 2}}, "config.leverage: unknown field"),
        ({"validation": {"holdout": 1.0}}, "holdout"),
        ({"validation": {"folds": 0}}, "folds"),
        ({"colour": "red"}, "colour: unknown field"),
    ],
)
def test_bad_requests_say_what_is_wrong(change, match):
    req = {**request("genetic"), **change}
    with pytest.raises(DiscoveryError, match=match):
        plan(req)


def test_a_grid_larger_than_n_candidates_is_refused_before_planning():
    with pytest.raises(DiscoveryError, match="2510 points, more than n_candidates 10"):
        plan(request("grid", n_candidates=10))


def test_reduce_rejects_results_that_do_not_match():
    s0 = plan(request("genetic"))
    res = evaluate(s0)
    with pytest.raises(DiscoveryError, match="missing: g0-0"):
        reduce(s0, res[1:])
    with pytest.raises(DiscoveryError, match="unknown: g9-0"):
        reduce(s0, [*res, {"id": "g9-0", "values": [1.0]}])
    with pytest.raises(DiscoveryError, match="two different results"):
        reduce(s0, [*res, {**res[0], "values": [123.0]}])
    with pytest.raises(DiscoveryError, match="not a list of 1"):
        reduce(s0, [{**r, "values": [1.0, 2.0]} for r in res])
    with pytest.raises(DiscoveryError, match="not a discovery state"):
        reduce({"generation": 0}, res)
    assert reduce(s0, [*res, res[0]])["generation"] == 1  # a retried batch is harmless
    done = run(request("random"))[-1]
    with pytest.raises(DiscoveryError, match="done"):
        reduce(done, [])
