"""The search space and the genetic operators on small spaces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tradpal.backtest import BacktestConfig
from tradpal.discovery import methods
from tradpal.discovery.search_space import RISK_NAMES, SearchSpace
from tradpal.errors import DiscoveryError
from tradpal.strategies import Param, ParamSpace

ABC = ParamSpace(
    (
        Param("a", "int", 0, 9),
        Param("b", "int", 10, 19),
        Param("c", "int", 20, 29),
        Param("d", "float", 0.0, 1.0, 0.1),
    )
)
ORDERED = ParamSpace(
    (Param("lo", "int", 1, 20, default=1), Param("hi", "int", 1, 20, default=2)), ("lo < hi",)
)


def test_space_adds_risk_params_and_splits_them_into_config_overrides():
    ss = SearchSpace.for_strategy("confluence")
    assert set(RISK_NAMES) <= set(ss.names)
    assert "tp_atr > sl_atr" in [str(c) for c in ss.space.constraints]
    cand = {**ss.space.defaults(), "sl_atr": 2.25, "tp_atr": 6.5, "risk_per_trade": 0.0075}
    params, overrides = ss.split(cand)
    assert not set(params) & set(RISK_NAMES) and "ema_fast" in params
    assert overrides == {"stop_loss": "atr:2.25", "take_profit": "atr:6.5", "sizing": "risk:0.0075"}
    cfg = BacktestConfig(**overrides)  # the overrides are valid backtest settings
    assert (cfg.stop_loss.value, cfg.take_profit.value, cfg.sizing.value) == (2.25, 6.5, 0.0075)
    with pytest.raises(DiscoveryError, match="tp_atr > sl_atr"):
        ss.split({**cand, "tp_atr": 2.0})
    plain = SearchSpace.for_strategy("ema_crossover", risk=False)
    assert plain.split({"fast": 4, "slow": 10}) == ({"fast": 4, "slow": 10}, {})


def test_space_round_trips_through_json_and_rejects_bad_names():
    for ss in (
        SearchSpace.for_strategy("confluence"),
        SearchSpace.for_strategy("ema_crossover@4h", risk=False),
    ):
        again = SearchSpace.from_dict(json.loads(json.dumps(ss.to_dict())))
        assert again == ss
    with pytest.raises(DiscoveryError, match="unknown strategy"):
        SearchSpace.for_strategy("nope")
    with pytest.raises(DiscoveryError, match="risk=false"):
        SearchSpace.for_strategy("ema_crossover+atr")


def test_tournament_returns_the_best_of_its_three_draws():
    scores = [0.5, None, 3.0, -1.0, 2.0, float("nan"), 1.0]
    for seed in range(50):
        drawn = np.random.default_rng(seed).integers(len(scores), size=3)
        keyed = [
            (-np.inf if scores[i] is None or np.isnan(scores[i]) else scores[i]) for i in drawn
        ]
        expected = int(drawn[int(np.argmax(keyed))])
        assert methods.tournament(scores, np.random.default_rng(seed)) == expected


def test_tournament_favours_better_members():
    rng = np.random.default_rng(0)
    scores = list(range(10))
    picks = np.bincount([methods.tournament(scores, rng) for _ in range(5000)], minlength=10)
    # P(best of 3 draws is the top member) = 1 - 0.9^3 = 0.271; the worst needs three hits
    assert picks[9] / 5000 == pytest.approx(0.271, abs=0.03)
    assert picks[0] / 5000 < 0.01
    assert (np.diff(picks) > 0).all()


def test_two_point_crossover_keeps_genes_from_both_parents():
    a = {"a": 0, "b": 10, "c": 20, "d": 0.0}
    b = {"a": 9, "b": 19, "c": 29, "d": 1.0}
    rng = np.random.default_rng(3)
    for _ in range(200):
        c1, c2 = methods.crossover(a, b, rng)
        for n in a:  # each position comes from a parent, and the children are complements
            assert {c1[n], c2[n]} == {a[n], b[n]}
        assert c1["a"] == a["a"] and c2["a"] == b["a"]  # the first gene never moves
        assert any(c1[n] == b[n] for n in a)  # ... and at least one gene crosses
        # the swapped genes are one contiguous run (two cut points)
        swapped = [int(c1[n] != a[n]) for n in a]
        assert "".join(map(str, swapped)).strip("0").count("0") == 0


def test_offspring_respect_constraints():
    rng = np.random.default_rng(0)
    parents = [{"lo": 19, "hi": 20}, {"lo": 1, "hi": 2}, {"lo": 5, "hi": 6}]
    kids = methods.offspring(parents, [1.0, 2.0, 3.0], ORDERED, 300, rng)
    assert len(kids) == 300 and all(k["lo"] < k["hi"] for k in kids)
    broken = {"lo": 15, "hi": 3}
    fixed = methods.repair(broken, ORDERED, np.random.default_rng(1))
    assert ORDERED.satisfies(fixed)


def test_mutation_rate_is_per_gene():
    rng = np.random.default_rng(7)
    base = {"a": 0, "b": 10, "c": 20, "d": 0.0}
    changed = 0
    n = 4000
    for _ in range(n):
        m = methods.mutate(base, ABC, rng)
        changed += sum(m[k] != base[k] for k in base)
    # a re-draw keeps the old value with probability 1/10 (a and b and c) or 1/11 (d)
    expected = n * 0.2 * (3 * 0.9 + 10 / 11)
    assert changed == pytest.approx(expected, rel=0.05)
    for m in (methods.mutate(base, ABC, rng, p=1.0) for _ in range(50)):
        assert ABC.validate(m) == m  # draws stay within range and on the step grid


def test_elites_are_the_best_in_order():
    assert methods.elites([1.0, None, 5.0, 5.0, float("nan"), 3.0], 3) == [2, 3, 5]
