"""Each built-in strategy's rule on small hand-made series with known signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal import indicators as ind
from tradpal.data.contract import MarketMeta, make_ohlcv
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.errors import TradPalError
from tradpal.strategies import (
    STRATEGIES,
    DeclaredStrategy,
    ParamSpace,
    Signals,
    crossover_signals,
    htf_trend,
    mtf_filter,
    with_atr_stops,
)
from tradpal.strategies.regime import confirm_regime, raw_regime
from tradpal.strategies.signals import BOOL_FIELDS


def frame_of(close, high=None, low=None, timeframe="1h", start="2024-01-01"):
    close = np.asarray(close, dtype=float)
    tf = pd.Timedelta(timeframe)
    t = pd.date_range(start, periods=len(close), freq=tf, tz="UTC")
    high = close if high is None else np.asarray(high, float)
    low = close if low is None else np.asarray(low, float)
    meta = MarketMeta("TEST/USD", timeframe, "test")
    return make_ohlcv(t, close, high, low, close, np.ones(len(close)), meta=meta)


def bars(sig: Signals) -> dict[str, list[int]]:
    return {name: np.flatnonzero(getattr(sig, name)).tolist() for name in BOOL_FIELDS}


def test_crossover_signals_on_hand_lines():
    fast = np.array([np.nan, 1, 2, 3, 2, 1, 2, 2])
    slow = np.array([2.0, 2, 2, 2, 2, 2, 2, 2])
    # cross up at 3 (2 <= 2, then 3 > 2); down at 5 (2 >= 2, then 1 < 2); touching is no cross
    assert bars(crossover_signals(fast, slow)) == {
        "long_entry": [3],
        "long_exit": [5],
        "short_entry": [5],
        "short_exit": [3],
    }


def test_ema_crossover_on_a_step_series():
    # flat at 10: both EMAs 10 (no cross); the jump at bar 6 lifts EMA2 above EMA5,
    # the fall to 0 at bar 10 drops it below
    close = [10] * 6 + [20] * 4 + [0] * 3
    sig = STRATEGIES["ema_crossover"].generate(frame_of(close), {"fast": 2, "slow": 5})
    assert bars(sig) == {
        "long_entry": [6],
        "long_exit": [10],
        "short_entry": [10],
        "short_exit": [6],
    }


def test_rsi_reversal_on_hand_computed_rsi():
    # RSI(2), Wilder: 0 at bars 2-5 (only losses), then 50, 75, 87.5, 93.75, 46.9, 23.4, 11.7
    close = [10, 9, 8, 7, 6, 5, 6, 7, 8, 9, 8, 7, 6]
    params = {"rsi_period": 2, "rsi_oversold": 30, "rsi_overbought": 70}
    sig = STRATEGIES["rsi_reversal"].generate(frame_of(close), params)
    assert bars(sig) == {
        "long_entry": [6],  # 0 -> 50 crosses up through 30
        "long_exit": [7, 8, 9],  # RSI >= 70
        "short_entry": [10],  # 93.75 -> 46.9 crosses down through 70
        "short_exit": [2, 3, 4, 5, 11, 12],  # RSI <= 30
    }


def test_confluence_buys_the_dip_only_in_an_uptrend():
    strat = STRATEGIES["confluence"]
    rise = [100.0 + t for t in range(60)]
    sig = strat.generate(frame_of([*rise, 80, 80, 80]), {})  # 1h defaults: 20/50, RSI 40/60
    # bar 60: EMA20 > EMA50, close 80 far under the lower band, RSI(14) ~38 <= 40
    assert bars(sig)["long_entry"] == [60] and bars(sig)["short_entry"] == []
    # the rise itself sits on the upper band with RSI 100: every bar is a long exit
    assert bars(sig)["long_exit"] == list(range(14, 60))
    fall = [200.0 - t for t in range(60)]
    down_dip = strat.generate(frame_of([*fall, 120, 120, 120]), {})
    assert bars(down_dip)["long_entry"] == []  # same dip, but the trend is down
    spike = strat.generate(frame_of([*fall, 220, 220, 220]), {})
    assert bars(spike)["short_entry"] == [60] and bars(spike)["long_entry"] == []


def test_bb_reversal_reentry_and_exits():
    # BB(5, k=1): bar 5 closes at 90 under the lower band (94); bar 6 at 97 is back above
    # the lower band (93.5) and below the middle (97.4): long entry. Bar 7 (99) reaches the
    # middle (97.2); bar 9 (103) the upper band (102.47); bar 10 (95) is under the middle
    # (99) and the lower band (96.17). Bar 4 has a flat window: all bands at the close.
    close = [100] * 5 + [90, 97, 99, 101, 103, 95]
    strat = STRATEGIES["bb_reversal"]
    mid = strat.generate(frame_of(close), {"bb_period": 5, "bb_k": 1.0, "exit": "middle"})
    assert bars(mid) == {
        "long_entry": [6],
        "long_exit": [4, 7, 8, 9],
        "short_entry": [],
        "short_exit": [4, 5, 6, 10],
    }
    opp = strat.generate(frame_of(close), {"bb_period": 5, "bb_k": 1.0, "exit": "opposite"})
    assert bars(opp)["long_entry"] == [6] and bars(opp)["long_exit"] == [4, 9]
    assert bars(opp)["short_exit"] == [4, 5, 10]
    # back inside and past the middle in one bar (99 >= 97.8): an exit, not an entry
    fast = strat.generate(frame_of([100] * 5 + [90, 99]), {"bb_period": 5, "bb_k": 1.0})
    assert bars(fast)["long_entry"] == []


def test_raw_and_confirmed_regime_by_hand():
    close = np.array([5.0, 5, 5, 5, 5])
    fast = np.array([np.nan, 4, 6, 4, 4])
    slow = np.array([np.nan, 3, 5, 5, 4])
    np.testing.assert_array_equal(raw_regime(close, fast, slow), [np.nan, 1, 0, 0, 0])
    raw = np.array([np.nan, np.nan, 1, 1, 1, 0, 1, 1, 1, -1, -1, -1, -1])
    want3 = [np.nan] * 4 + [1] * 7 + [-1] * 2
    np.testing.assert_array_equal(confirm_regime(raw, 3), want3)
    np.testing.assert_array_equal(confirm_regime(raw, 1), raw)


def confirm_reference(raw: np.ndarray, confirm: int) -> np.ndarray:
    """The hysteresis rule, bar by bar."""
    out, state, run, last = np.full(len(raw), np.nan), np.nan, 0, None
    for t, r in enumerate(raw):
        key = "nan" if np.isnan(r) else r
        run = run + 1 if key == last else 1
        last = key
        if not np.isnan(r) and run >= confirm:
            state = r
        out[t] = np.nan if np.isnan(r) else state
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from([np.nan, -1.0, 0.0, 1.0]), max_size=60),
    st.integers(1, 6),
)
def test_confirm_regime_matches_a_bar_by_bar_reference(values, confirm):
    raw = np.array(values, dtype=float)
    np.testing.assert_array_equal(confirm_regime(raw, confirm), confirm_reference(raw, confirm))


def regime_reference(close, fast, slow, mid, lower, upper, confirm):
    """The regime strategy's documented rule, bar by bar."""
    regime = confirm_reference(raw_regime(close, fast, slow), confirm)
    n = len(close)
    out = {k: np.zeros(n, bool) for k in BOOL_FIELDS}
    for t in range(n):
        r, rp = regime[t], regime[t - 1] if t else np.nan
        bull, bear, side = r == 1, r == -1, r == 0
        up = t > 0 and close[t - 1] < lower[t - 1] and close[t] >= lower[t]
        down = t > 0 and close[t - 1] > upper[t - 1] and close[t] <= upper[t]
        lx = (rp == 1 and not bull) or (side and close[t] >= mid[t]) or (bear and rp != -1)
        sx = (rp == -1 and not bear) or (side and close[t] <= mid[t]) or (bull and rp != 1)
        out["long_exit"][t], out["short_exit"][t] = lx, sx
        out["long_entry"][t] = ((bull and rp != 1) or (side and up)) and not lx
        out["short_entry"][t] = ((bear and rp != -1) or (side and down)) and not sx
    return out


@pytest.mark.parametrize(("seed", "confirm"), [(1, 1), (2, 3), (3, 6)])
def test_regime_matches_a_bar_by_bar_reference(seed, confirm):
    frame = generate_ohlcv(1500, "1h", seed=seed)
    params = {"sma_fast": 20, "sma_slow": 50, "confirm": confirm, "bb_period": 20, "bb_k": 2.0}
    sig = STRATEGIES["regime"].generate(frame, params)
    c = frame["close"].to_numpy()
    bb = ind.bollinger(c, 20, 2.0)
    want = regime_reference(
        c, ind.sma(c, 20), ind.sma(c, 50), bb.middle, bb.lower, bb.upper, confirm
    )
    for name in BOOL_FIELDS:
        np.testing.assert_array_equal(getattr(sig, name), want[name], err_msg=name)
    assert sig.long_entry.sum() > 10 and sig.short_entry.sum() > 10


def test_regime_follows_a_steady_trend_after_confirmation():
    strat = STRATEGIES["regime"]
    p = {"sma_fast": 5, "sma_slow": 10, "confirm": 3}
    up = strat.generate(frame_of(np.arange(1.0, 81)), p)
    # SMA10 exists from bar 9: raw bull from 9, confirmed after 3 bars at 11
    assert bars(up) == {"long_entry": [11], "long_exit": [], "short_entry": [], "short_exit": [11]}
    down = strat.generate(frame_of(np.arange(80.0, 0, -1)), p)
    assert bars(down)["short_entry"] == [11] and bars(down)["long_entry"] == []


def always(n_name="always") -> DeclaredStrategy:
    def rule(px, p):
        n = len(px.close)
        return Signals(np.ones(n), np.zeros(n), np.ones(n), np.zeros(n)), {}

    return DeclaredStrategy(n_name, "enters every bar", ParamSpace(), rule)


def test_htf_trend_uses_closed_higher_bars_only():
    rng = np.random.default_rng(5)
    close = 100 + np.cumsum(rng.normal(0, 1, 48))
    frame = frame_of(close)  # 1h bars from midnight: 4h bars close after bars 3, 7, ...
    trend = htf_trend(frame, "4h", 2)
    htf_close = close.reshape(-1, 4)[:, -1]
    htf_sign = np.sign(htf_close - ind.ema(htf_close, 2))
    want = np.full(48, np.nan)
    for t in range(3, 48):
        want[t] = htf_sign[(t - 3) // 4]  # the 4h bar that closed at or before t's close
    np.testing.assert_array_equal(trend, want)
    for cut in (5, 10, 21, 30):  # ends inside a 4h bar: the partial bar is never used
        np.testing.assert_array_equal(htf_trend(frame.iloc[:cut], "4h", 2), want[:cut])


@pytest.mark.parametrize("timeframe", ["4h", "1d", "1w"])
def test_htf_trend_equals_the_resampled_rule_bit_for_bit(timeframe):
    from tradpal.data.sources.synthetic import generate_ohlcv
    from tradpal.indicators.mtf import htf_apply
    from tradpal.strategies import lines

    def rule(htf):
        close = np.asarray(htf["close"], np.float64)
        return np.sign(close - lines.ema(close, 20))  # all NaN when too short

    frame = generate_ohlcv(3000, "1h", seed=11)
    gappy = frame.drop(frame.index[500:530])  # empty and partial bins
    for f in (frame, gappy, frame.iloc[:777], frame.iloc[:3]):
        np.testing.assert_array_equal(htf_trend(f, timeframe, 20), htf_apply(f, timeframe, rule))


def test_mtf_filter_keeps_entries_with_the_trend_and_exits_when_it_turns():
    rng = np.random.default_rng(9)
    frame = frame_of(100 + np.cumsum(rng.normal(0, 1, 200)))
    wrapped = mtf_filter(always(), "4h", ema_period=3)
    assert wrapped.name == "always@4h" and wrapped.space == ParamSpace()
    sig = wrapped.generate(frame, {})
    trend = htf_trend(frame, "4h", 3)
    up, down = trend > 0, trend < 0
    np.testing.assert_array_equal(sig.long_entry, up)
    np.testing.assert_array_equal(sig.short_entry, down)
    turned_from_up = np.r_[False, up[:-1] & ~up[1:]]
    np.testing.assert_array_equal(sig.long_exit, turned_from_up)
    np.testing.assert_array_equal(sig.short_exit, np.r_[False, down[:-1] & ~down[1:]])
    assert up.sum() > 20 and down.sum() > 20 and turned_from_up.sum() > 2


def test_mtf_filter_needs_a_finer_base_timeframe():
    frame = frame_of(np.arange(1.0, 50), timeframe="1D")
    with pytest.raises(TradPalError, match="finer timeframe 4h"):
        mtf_filter(STRATEGIES["ema_crossover"], "4h").generate(frame, {})
    with pytest.raises(TradPalError, match="ema_period"):
        mtf_filter(STRATEGIES["ema_crossover"], "4h", ema_period=0)
    with pytest.raises(TradPalError, match="unknown timeframe"):
        mtf_filter(STRATEGIES["ema_crossover"], "5 hours")


def test_atr_stops_on_entry_bars_only():
    rng = np.random.default_rng(3)
    close = 100 + np.cumsum(rng.normal(0, 1, 300))
    high, low = close + rng.random(300), close - rng.random(300)
    frame = frame_of(close, high, low)
    strat = with_atr_stops(STRATEGIES["ema_crossover"])
    assert strat.name == "ema_crossover+atr"
    assert strat.space.names == ("fast", "slow", "sl_atr", "tp_atr", "atr_period")
    p = {"fast": 4, "slow": 10, "sl_atr": 2.0, "tp_atr": 3.5, "atr_period": 7}
    sig = strat.generate(frame, p)
    base = STRATEGIES["ema_crossover"].generate(frame, {"fast": 4, "slow": 10})
    assert all(np.array_equal(getattr(sig, k), getattr(base, k)) for k in BOOL_FIELDS)
    a = ind.atr(high, low, close, 7)
    longs, shorts = np.flatnonzero(sig.long_entry), np.flatnonzero(sig.short_entry)
    assert len(longs) > 3 and len(shorts) > 3
    np.testing.assert_array_equal(sig.stop_price[longs], close[longs] - 2.0 * a[longs])
    np.testing.assert_array_equal(sig.target_price[longs], close[longs] + 3.5 * a[longs])
    np.testing.assert_array_equal(sig.stop_price[shorts], close[shorts] + 2.0 * a[shorts])
    np.testing.assert_array_equal(sig.target_price[shorts], close[shorts] - 3.5 * a[shorts])
    others = ~(sig.long_entry | sig.short_entry)
    assert np.isnan(sig.stop_price[others]).all() and np.isnan(sig.target_price[others]).all()


def test_data_shorter_than_the_warm_up_gives_no_signal():
    frame = frame_of([1.0, 2.0, 3.0])
    for name, strat in STRATEGIES.items():
        sig = strat.generate(frame, {})
        assert len(sig) == 3 and not any(a.any() for _, a in sig.arrays()), name


def test_strategies_report_their_indicator_lines():
    frame = generate_ohlcv(300, "1h", seed=4)
    drawn = STRATEGIES["confluence"].indicators(frame, {"ema_fast": 10, "ema_slow": 30})
    assert set(drawn) == {"ema_10", "ema_30", "bb_upper", "bb_middle", "bb_lower", "rsi_14"}
    np.testing.assert_array_equal(drawn["ema_10"], ind.ema(frame["close"].to_numpy(), 10))
    assert "regime" in STRATEGIES["regime"].indicators(frame, {})
    mtf = mtf_filter(STRATEGIES["ema_crossover"], "4h").indicators(frame, {})
    assert set(mtf) == {"ema_20", "ema_50", "ema_50_4h"} and all(
        len(v) == 300 for v in mtf.values()
    )


def test_missing_price_columns_are_a_clear_error():
    with pytest.raises(TradPalError, match="lacks the column"):
        STRATEGIES["ema_crossover"].generate(pd.DataFrame({"close": [1.0, 2.0]}), {})
