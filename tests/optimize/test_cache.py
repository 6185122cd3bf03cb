"""The indicator cache: values equal to the plain indicators bit for bit, shared across
candidates, one many-periods call per kind, and strategies unchanged by it."""

from __future__ import annotations

import numpy as np
import pytest

import tradpal.indicators as ti
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.optimize import OptimizeError
from tradpal.optimize.cache import IndicatorCache, IndicatorRequest, plan_prefetch
from tradpal.strategies import STRATEGIES, lines


@pytest.fixture(scope="module")
def frame():
    return generate_ohlcv(600, "1h", seed=7)


def same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def test_values_equal_the_single_period_functions(frame):
    cache = IndicatorCache(frame)
    c, h, lo = (np.asarray(frame[x]) for x in ("close", "high", "low"))
    cache.prefetch(
        [IndicatorRequest("ema", p) for p in (3, 9, 50)]
        + [IndicatorRequest("sma", p, "high") for p in (5, 20)]
        + [IndicatorRequest("rsi", p) for p in (2, 14)]
        + [IndicatorRequest("atr", p) for p in (7, 14)]
        + [IndicatorRequest("bollinger", p, k=1.5) for p in (10, 20)]
    )
    assert cache.computed == 5  # one kernel call per kind (and source, and k)
    for p in (3, 9, 50):
        assert same(cache.get(IndicatorRequest("ema", p)), ti.ema(c, p))
    for p in (5, 20):
        assert same(cache.get(IndicatorRequest("sma", p, "high")), ti.sma(h, p))
    for p in (2, 14):
        assert same(cache.get(IndicatorRequest("rsi", p)), ti.rsi(c, p))
    for p in (7, 14):
        assert same(cache.get(IndicatorRequest("atr", p)), ti.atr(h, lo, c, p))
    for p in (10, 20):
        got, ref = cache.get(IndicatorRequest("bollinger", p, k=1.5)), ti.bollinger(c, p, 1.5)
        assert all(same(g, r) for g, r in zip(got, ref, strict=True))
    assert cache.computed == 5 and cache.hits == 11


def test_cached_lines_are_read_only(frame):
    line = IndicatorCache(frame).get(IndicatorRequest("ema", 5))
    with pytest.raises(ValueError, match="read-only"):
        line[0] = 1.0


def test_lookup_answers_only_for_its_own_columns_and_valid_periods(frame):
    cache = IndicatorCache(frame)
    close = np.asarray(frame["close"], dtype=np.float64)
    assert same(cache.lookup("ema", (close,), 9), ti.ema(close, 9))
    assert cache.lookup("ema", (close.copy(),), 9) is None  # another array, equal values
    assert cache.lookup("ema", (close[1:],), 9) is None  # a view at another offset
    assert cache.lookup("ema", (close,), len(close) + 1) is None  # lines give NaN there
    assert cache.lookup("ema", (close,), 0) is None  # lines raise their own error
    assert cache.lookup("wma", (close,), 9) is None
    h, lo = np.asarray(frame["high"]), np.asarray(frame["low"])
    assert cache.lookup("atr", (lo, h, close), 14) is None  # wrong order is not ATR


def test_bad_requests_are_refused():
    with pytest.raises(OptimizeError, match="no many-periods kernel"):
        IndicatorRequest("macd", 12)
    with pytest.raises(OptimizeError, match="not an integer"):
        IndicatorRequest("ema", 2.5)
    with pytest.raises(OptimizeError, match="not a price column"):
        IndicatorRequest("ema", 5, "vwap")


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_strategies_give_the_same_signals_with_a_cache(frame, name):
    strategy = STRATEGIES[name]
    candidates = [strategy.space.defaults(), *strategy.space.sample(4, seed=3)]
    cache = IndicatorCache(frame)
    for params in candidates:
        plain = strategy.generate(frame, params)
        with lines.using(cache):
            cached = strategy.generate(frame, params)
        assert cached.equals(plain), (name, params)
    assert cache.hits + cache.computed > 0  # the strategy's lines went through the cache


def test_ema_grid_shares_lines_and_plan_prefetch_infers_periods(frame):
    strategy = STRATEGIES["ema_crossover"]
    grid = [{"fast": f, "slow": s} for f in (4, 8, 12) for s in (20, 30) if f < s]
    cache = IndicatorCache(frame)
    cache.record = True
    with lines.using(cache):
        strategy.generate(frame, grid[0])
    assert [r.period for r in cache.seen] == [4, 20]
    planned = plan_prefetch(cache.seen, grid[0], grid)
    assert sorted(r.period for r in planned) == [4, 8, 12, 20, 30]
    cache.prefetch(planned)
    computed = cache.computed
    with lines.using(cache):
        for params in grid:
            strategy.generate(frame, params)
    assert cache.computed == computed  # every line came from memory


def test_plan_prefetch_leaves_ambiguous_requests_alone():
    seen = [IndicatorRequest("ema", 10), IndicatorRequest("sma", 7)]
    first = {"a": 10, "b": 10, "c": 3}  # 10 matches two params, 7 none
    planned = plan_prefetch(seen, first, [first, {"a": 20, "b": 30, "c": 4}])
    assert planned == seen


def test_prices_come_from_the_cache_only_for_its_own_frame(frame):
    from tradpal.strategies.base import Prices

    cache = IndicatorCache(frame)
    with lines.using(cache):
        assert Prices(frame).close is cache.column("close")
        other = frame.copy()
        assert Prices(other).close is not cache.column("close")
        assert same(Prices(other).close, cache.column("close"))
