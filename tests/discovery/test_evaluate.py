"""discovery.evaluate on real BTC 1h candles: every figure against an independent
recomputation with run_backtest, idempotence, a holdout that never moves a score, folds
warmed up without look-ahead, and clear errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.backtest import run_backtest
from tradpal.backtest.strategy_run import config_for
from tradpal.discovery.evaluate import evaluate, plan_spans, returns_stats
from tradpal.errors import DiscoveryError
from tradpal.optimize.objectives import objective_values
from tradpal.strategies import STRATEGIES

N_BARS = 3000
OBJECTIVES = ["sharpe", "total_return"]
# No ATR rule: a fold's engine inputs do not depend on the bars before it, so
# run_backtest on the fold alone (with the signals of the warmed-up frame) is exact.
PCT = {"sizing": "all", "stop_loss": "pct:0.03", "take_profit": "pct:0.06", "slippage": 0.0005}
PARAMS = [{"fast": 8, "slow": 30}, {"fast": 20, "slow": 100}, {"fast": 4, "slow": 15}]


@pytest.fixture(scope="module")
def btc(shared_data):
    from tradpal.data.importers import import_binance_klines

    frame, _ = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    return frame.iloc[:N_BARS]


def make_batch(params, *, risk=False, config=PCT, validation=None, min_trades=0):
    return {
        "batch_id": "g0-b0",
        "generation": 0,
        "strategy": "ema_crossover",
        "data": {"source": "unused: a frame is given", "timeframe": "1h"},
        "config": config,
        "validation": validation or {"holdout": 0.25, "folds": 4},
        "objectives": OBJECTIVES,
        "min_trades": min_trades,
        "risk": risk,
        "candidates": [{"id": f"g0-{i}", "params": p} for i, p in enumerate(params)],
    }


@pytest.fixture(scope="module")
def result(btc):
    return evaluate(make_batch(PARAMS), frame=btc)


def test_spans_of_the_default_validation():
    s = plan_spans(3000, {"holdout": 0.25, "folds": 4})
    assert s.n_search == 2250 and s.holdout == (2250 - 450, 2250)
    # lead of 450 bars, then 4 folds of 450 bars, each warmed up on the 450 bars before it
    assert s.folds == ((0, 450, 900), (450, 900, 1350), (900, 1350, 1800), (1350, 1800, 2250))


@given(
    n=st.integers(50, 20_000),
    holdout=st.floats(0, 0.9),
    folds=st.integers(1, 8),
    warmup=st.one_of(st.none(), st.integers(0, 5000)),
)
def test_spans_cover_the_search_span_and_never_reach_the_holdout(n, holdout, folds, warmup):
    try:
        s = plan_spans(n, {"holdout": holdout, "folds": folds, "warmup": warmup})
    except DiscoveryError:
        assert (n - int(n * holdout)) // (folds + 1) < 2
        return
    assert s.n_search == n - int(n * holdout) and len(s.folds) == folds
    lengths = {end - start for _, start, end in s.folds}
    assert len(lengths) == 1 and lengths.pop() >= 2
    assert s.folds[-1][2] == s.n_search  # the folds end where the holdout begins
    for (lo, start, end), nxt in zip(s.folds, [*s.folds[1:], None], strict=True):
        assert 0 <= lo <= start < end <= s.n_search
        assert start - lo == (start if warmup is None else min(warmup, start))
        if nxt is not None:
            assert nxt[1] == end  # consecutive, no gap, no overlap


def test_in_sample_metrics_equal_run_backtest_on_the_search_span(btc, result):
    strategy = STRATEGIES["ema_crossover"]
    search = btc.iloc[:2250]
    cfg = config_for("1h", **PCT)
    for params, r in zip(PARAMS, result["results"], strict=True):
        run = run_backtest(search, strategy.generate(search, params), cfg)
        assert r["is"] == run.metrics.to_dict()
        assert r["params"] == params


def test_folds_and_holdout_equal_an_independent_recomputation(btc, result):
    strategy = STRATEGIES["ema_crossover"]
    cfg = config_for("1h", **PCT)
    spans = plan_spans(N_BARS, {"holdout": 0.25, "folds": 4})
    for params, r in zip(PARAMS, result["results"], strict=True):
        per_fold, trades = [], 0
        for (lo, a, b), fold in zip(spans.folds, r["folds"], strict=True):
            # the strategy sees the warm-up bars and the fold, nothing after it
            sig = strategy.generate(btc.iloc[lo:b], params).slice(a - lo, b - lo)
            m = run_backtest(btc.iloc[a:b], sig, cfg).metrics
            values = objective_values(m, OBJECTIVES, capital=cfg.capital, min_trades=0)
            assert fold == {"values": values, "num_trades": m.num_trades}
            per_fold.append(values)
            trades += m.num_trades
        assert r["num_trades"] == trades > 0
        assert r["values"] == list(np.mean(np.array(per_fold), axis=0))
        lo, a = spans.holdout
        sig = strategy.generate(btc.iloc[lo:], params).slice(a - lo, N_BARS - lo)
        assert r["oos"] == run_backtest(btc.iloc[a:], sig, cfg).metrics.to_dict()


def test_risk_params_set_the_stop_target_and_sizing_bit_for_bit(btc):
    params = {"fast": 8, "slow": 30, "sl_atr": 1.5, "tp_atr": 4.0, "risk_per_trade": 0.01}
    r = evaluate(make_batch([params], risk=True, config={}), frame=btc)["results"][0]
    search = btc.iloc[:2250]
    cfg = config_for("1h", stop_loss="atr:1.5", take_profit="atr:4.0", sizing="risk:0.01")
    sig = STRATEGIES["ema_crossover"].generate(search, {"fast": 8, "slow": 30})
    assert r["is"] == run_backtest(search, sig, cfg).metrics.to_dict()
    assert r["is"]["num_trades"] > 0


def test_returns_stats_describe_the_search_span_returns(btc, result):
    for r in result["results"]:
        s = r["returns_stats"]
        assert s["n_obs"] == 2250
        # the per-bar Sharpe annualised is the in-sample Sharpe
        assert s["sharpe"] * math.sqrt(365 * 24) == pytest.approx(r["is"]["sharpe"], rel=1e-12)
        assert s["kurtosis"] > 3  # crypto hourly returns have fat tails
    e = np.array([100.0, 110.0, 99.0, 99.0, 120.0])
    r = np.array([0.0, 0.1, -0.1, 0.0, 120.0 / 99.0 - 1.0])
    d = r - r.mean()
    s = returns_stats(e, 100.0)
    assert s["n_obs"] == 5 and s["std"] == pytest.approx(r.std(ddof=1), rel=1e-14)
    assert s["skew"] == pytest.approx(np.mean(d**3) / np.mean(d**2) ** 1.5, rel=1e-12)
    assert s["kurtosis"] == pytest.approx(np.mean(d**4) / np.mean(d**2) ** 2, rel=1e-12)
    flat = returns_stats(np.full(4, 100.0), 100.0)
    assert (flat["sharpe"], flat["skew"], flat["kurtosis"]) == (0.0, 0.0, 3.0)


def test_same_batch_twice_gives_identical_json(btc, result, shared_data):
    again = evaluate(make_batch(PARAMS), frame=btc.copy())
    assert json.dumps(again, allow_nan=False) == json.dumps(result, allow_nan=False)
    # loaded from the data reference instead of given: the same figures
    batch = make_batch(PARAMS)
    batch["data"] = {"source": str(shared_data / "BTCUSDT-1h.csv"), "timeframe": "1h",
                     "end": str(btc.index[-1] + (btc.index[1] - btc.index[0]))}  # fmt: skip
    loaded = evaluate(batch)
    assert json.dumps(loaded) == json.dumps(result)
    assert json.dumps(evaluate(batch)) == json.dumps(loaded)


def test_the_holdout_never_influences_scores(btc, result):
    changed = btc.copy()
    cut = plan_spans(N_BARS, {"holdout": 0.25, "folds": 4}).n_search
    changed.iloc[cut:] = changed.iloc[cut:].to_numpy()[::-1].copy()  # same prices, reversed
    other = evaluate(make_batch(PARAMS), frame=changed)
    for r0, r1 in zip(result["results"], other["results"], strict=True):
        for key in ("values", "folds", "is", "num_trades", "returns_stats"):
            assert r0[key] == r1[key], key
    assert [r["oos"] for r in result["results"]] != [r["oos"] for r in other["results"]]


def test_folds_see_no_bar_after_them(btc, result):
    spans = plan_spans(N_BARS, {"holdout": 0.25, "folds": 4})
    cut = spans.folds[1][2]  # scramble everything after fold 1
    changed = btc.copy()
    changed.iloc[cut:] = changed.iloc[cut:].to_numpy()[::-1].copy()
    other = evaluate(make_batch(PARAMS), frame=changed)
    for r0, r1 in zip(result["results"], other["results"], strict=True):
        assert r0["folds"][:2] == r1["folds"][:2]
        assert r0["folds"][2:] != r1["folds"][2:]


def test_folds_warm_up_on_the_bars_before_them(btc):
    # With the warm-up the slow EMA is ready at a fold's first bar; without it the fold
    # trades later and differently, so the warm-up bars are really used.
    params = [{"fast": 10, "slow": 200}]
    warm = evaluate(make_batch(params), frame=btc)["results"][0]["folds"]
    cold = evaluate(make_batch(params, validation={"holdout": 0.25, "folds": 4, "warmup": 0}),
                    frame=btc)["results"][0]["folds"]  # fmt: skip
    assert warm != cold


def test_min_trades_applies_to_all_folds_together(btc, result):
    total = result["results"][0]["num_trades"]
    ok = evaluate(make_batch(PARAMS[:1], min_trades=total), frame=btc)["results"][0]
    assert ok["values"] == result["results"][0]["values"]
    short = evaluate(make_batch(PARAMS[:1], min_trades=total + 1), frame=btc)["results"][0]
    assert short["values"] == [None, None] and short["folds"] == ok["folds"]


def test_results_are_strict_json_and_small(btc, result):
    text = json.dumps(result, allow_nan=False)
    assert json.loads(text) == result
    assert result["batch_id"] == "g0-b0" and result["generation"] == 0
    assert [r["id"] for r in result["results"]] == ["g0-0", "g0-1", "g0-2"]
    assert len(text) / 3 < 2500  # about 100 candidates fit a 256 KB Distributed Map item


def test_an_empty_batch_has_no_results(btc):
    assert evaluate(make_batch([]), frame=btc)["results"] == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"validation": {"holdout": 1.0}}, "holdout"),
        ({"validation": {"folds": 0}}, "folds"),
        ({"validation": {"folds": 2, "warmup": -3}}, "warmup"),
        ({"validation": {"fold": 2}}, "validation.fold: unknown field"),
        ({"validation": {"folds": 100, "holdout": 0.99}}, "too few"),
        ({"strategy": None}, "strategy"),
        ({"strategy": "no_such_strategy"}, "no_such_strategy"),
        ({"candidates": [{"params": {}}]}, "candidates"),
        ({"candidates": [{"id": "x", "params": {"fast": 50, "slow": 20}}]}, "fast"),
        ({"config": {"fees": 2.0}}, "fees"),
    ],
)
def test_bad_batches_get_clear_errors(btc, change, needle):
    with pytest.raises(DiscoveryError, match=needle) as info:
        evaluate({**make_batch(PARAMS[:1]), **change}, frame=btc)
    assert info.value.message


def test_a_sample_without_an_end_is_refused():
    batch = make_batch(PARAMS[:1])
    batch["data"] = {"source": "sample", "timeframe": "1h"}
    with pytest.raises(DiscoveryError, match="end") as info:
        evaluate(batch)
    assert "pin" in info.value.hint


def test_settings_may_come_from_the_request(btc, result):
    batch = make_batch(PARAMS)
    request = {k: batch.pop(k) for k in ("strategy", "config", "validation", "objectives")}
    assert evaluate({**batch, "request": request}, frame=btc) == result
