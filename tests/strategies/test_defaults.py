"""Per-timeframe defaults, the registry and the Strategy protocol."""

from __future__ import annotations

import numpy as np
import pytest

from tradpal.data.contract import make_ohlcv
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.strategies import (
    STRATEGIES,
    TIMEFRAME_DEFAULTS,
    Strategy,
    StrategyError,
    get_strategy,
    mtf_filter,
    resolve_params,
    timeframe_defaults,
    with_atr_stops,
)


def test_the_table_is_tradpals():
    rows = {tf: tuple(d.to_dict().values()) for tf, d in TIMEFRAME_DEFAULTS.items()}
    assert rows == {
        "1m": (9, 21, 30.0, 70.0, 1.0, 2.0, 10.0),
        "5m": (12, 26, 35.0, 65.0, 1.2, 2.5, 8.0),
        "15m": (15, 30, 35.0, 65.0, 1.5, 3.0, 6.0),
        "1h": (20, 50, 40.0, 60.0, 1.5, 3.0, 5.0),
        "1d": (50, 200, 40.0, 60.0, 2.0, 4.0, 3.0),
    }
    assert list(TIMEFRAME_DEFAULTS["1h"].to_dict()) == [
        "ema_fast",
        "ema_slow",
        "rsi_oversold",
        "rsi_overbought",
        "sl_atr",
        "tp_atr",
        "max_leverage",
    ]


@pytest.mark.parametrize(
    ("tf", "row"),
    [
        ("1m", "1m"),
        ("3m", "1m"),
        ("5m", "5m"),
        ("15m", "15m"),
        ("30min", "15m"),
        ("1h", "1h"),
        ("2h", "1h"),
        ("4h", "1h"),
        ("6h", "1h"),
        ("12h", "1h"),
        ("1d", "1d"),
        ("1w", "1d"),
    ],
)
def test_unlisted_timeframes_take_the_nearest_row_at_or_below(tf, row):
    assert timeframe_defaults(tf) == TIMEFRAME_DEFAULTS[row]


def test_unknown_timeframe_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown timeframe"):
        timeframe_defaults("7 minutes")


def test_defaults_for_overlays_the_table_on_each_space():
    assert STRATEGIES["ema_crossover"].defaults_for("1d") == {"fast": 50, "slow": 200}
    assert STRATEGIES["ema_crossover"].defaults_for("1m") == {"fast": 9, "slow": 21}
    conf = STRATEGIES["confluence"].defaults_for("5m")
    assert (conf["ema_fast"], conf["ema_slow"], conf["rsi_oversold"], conf["rsi_overbought"]) == (
        12,
        26,
        35.0,
        65.0,
    )
    assert conf["bb_period"] == 20 and conf["rsi_period"] == 14
    assert STRATEGIES["rsi_reversal"].defaults_for("1m") == {
        "rsi_period": 14,
        "rsi_oversold": 30.0,
        "rsi_overbought": 70.0,
    }
    for name in ("bb_reversal", "regime"):  # no table column applies
        assert STRATEGIES[name].defaults_for("1d") == STRATEGIES[name].space.defaults()
    atr = with_atr_stops(STRATEGIES["ema_crossover"]).defaults_for("1d")
    assert atr == {"fast": 50, "slow": 200, "sl_atr": 2.0, "tp_atr": 4.0, "atr_period": 14}
    assert mtf_filter(STRATEGIES["confluence"], "1d").defaults_for("1h") == (
        STRATEGIES["confluence"].defaults_for("1h")
    )


def test_runs_use_the_frames_timeframe_defaults_unless_given():
    strat = STRATEGIES["ema_crossover"]
    daily = generate_ohlcv(800, "1d", seed=1)
    assert strat.generate(daily, {}).equals(strat.generate(daily, {"fast": 50, "slow": 200}))
    assert not strat.generate(daily, {}).equals(strat.generate(daily, {"fast": 9, "slow": 21}))
    hourly = generate_ohlcv(800, "1h", seed=1)
    assert resolve_params(strat, hourly, {"fast": 10}) == {"fast": 10, "slow": 50}
    assert resolve_params(strat, hourly, {"fast": 9, "slow": 21}) == {"fast": 9, "slow": 21}
    # without meta the timeframe comes from the bar spacing
    bare = make_ohlcv(daily.index, *(daily[c] for c in ("open", "high", "low", "close", "volume")))
    assert resolve_params(strat, bare, {}) == {"fast": 50, "slow": 200}
    # irregular bars without meta: the space's own defaults
    odd = bare.iloc[[0, 1, 3, 7, 15, 31]]
    assert resolve_params(strat, odd, {}) == {"fast": 9, "slow": 21}


def test_a_default_that_breaks_a_given_param_says_where_it_came_from():
    hourly = generate_ohlcv(100, "1h", seed=2)
    with pytest.raises(StrategyError) as err:
        STRATEGIES["ema_crossover"].generate(hourly, {"slow": 10})
    assert "fast < slow" in str(err.value) and "from the 1h defaults (fast=20)" in str(err.value)


def test_registry_names_protocol_and_wrappers():
    assert list(STRATEGIES) == [
        "ema_crossover",
        "confluence",
        "rsi_reversal",
        "bb_reversal",
        "regime",
    ]
    for name, strat in STRATEGIES.items():
        assert isinstance(strat, Strategy) and strat.name == name and strat.description
        assert get_strategy(name) is strat
    wrapped = get_strategy(" regime@4h ")
    assert isinstance(wrapped, Strategy) and wrapped.name == "regime@4h"
    both = get_strategy("ema_crossover@1d+atr")
    assert both.name == "ema_crossover@1d+atr" and "sl_atr" in both.space
    with pytest.raises(StrategyError) as err:
        get_strategy("macd_cross")
    assert "unknown strategy 'macd_cross'" in str(err.value)
    assert "ema_crossover, confluence, rsi_reversal, bb_reversal, regime" in err.value.hint
    with pytest.raises(StrategyError, match="unknown strategy 'nope'"):
        get_strategy("nope@4h")
    with pytest.raises(ValueError, match="unknown timeframe"):
        get_strategy("regime@soon")


def test_generate_is_pure_and_reproducible():
    frame = generate_ohlcv(2000, "1h", seed=3)
    before = frame.copy()
    for strat in STRATEGIES.values():
        a, b = strat.generate(frame, {}), strat.generate(frame.copy(), {})
        assert a.equals(b)
    assert frame.equals(before) and np.array_equal(frame.index, before.index)
