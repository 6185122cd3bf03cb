"""The labels of tradpal.ml.labels: hand-built frames whose every label is known, an
independent brute-force reference (a plain loop, TA-Lib's ATR) on the real BTC 1h candles
in ../shared/data, and hypothesis properties (spans, signs, no look-ahead past t1)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.data.contract import make_ohlcv
from tradpal.data.importers import import_binance_klines
from tradpal.errors import ConfigError, DataContractError
from tradpal.indicators import atr
from tradpal.ml.labels import forward_return_sign, sample_spans, triple_barrier

FLAT = (100.0, 101.0, 99.0, 100.0)  # open high low close: true range 2, so ATR 2


def frame(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    o, h, lo, c = np.array(rows, dtype=np.float64).reshape(len(rows), 4).T
    time = pd.date_range("2024-01-01", periods=len(rows), freq="1h", tz="UTC")
    return make_ohlcv(time, o, h, lo, c, np.ones(len(rows)))


def barrier_at(rows, i: int = 2, **kw) -> pd.Series:
    """Bar ``i``'s triple-barrier row: ATR(2) = 2 at bar 2 after two flat bars, so with
    take_profit_atr=2 and stop_atr=1 the barriers of bar 2 are 104 and 98."""
    args = {"horizon": 3, "take_profit_atr": 2.0, "stop_atr": 1.0, "atr_period": 2} | kw
    return triple_barrier(frame(rows), **args).iloc[i]


def tail(*bars):
    """Three flat bars, then ``bars``, padded with flat bars to a full horizon of 3."""
    return [FLAT] * 3 + list(bars) + [FLAT] * (3 - len(bars))


# --- hand-built frames -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bars", "label", "t1", "ret", "barrier"),
    [
        # rising: the high reaches 104 in the first bar after the entry
        ([(100, 105, 99.5, 104.5)], 1, 3, 0.04, "take_profit"),
        # rising slowly: the second bar reaches it
        ([(100, 102, 99.5, 101.5), (101.5, 104, 101, 103)], 1, 4, 0.04, "take_profit"),
        # falling: the low reaches 98
        ([(100, 100.5, 97, 97.5)], -1, 3, -0.02, "stop"),
        # one bar touches both: the stop is taken first (the engine's convention)
        ([(100, 105, 97, 104)], -1, 3, -0.02, "stop"),
        # a gap down through the stop: out at the open, worse than the stop
        ([(96, 97, 95, 96)], -1, 3, -0.04, "stop"),
        # a gap up through the target: out at the open even when the low touches the stop
        ([(106, 107, 97, 100)], 1, 3, 0.06, "take_profit"),
        # flat: the time barrier, return exactly 0, label 0
        ([], 0, 5, 0.0, "time"),
        # drifting up without touching: the time barrier, the sign of the return
        ([FLAT, FLAT, (100, 101, 99, 101)], 1, 5, 0.01, "time"),
        ([FLAT, FLAT, (100, 101, 99, 99.5)], -1, 5, -0.005, "time"),
    ],
)
def test_known_labels(bars, label, t1, ret, barrier) -> None:
    row = barrier_at(tail(*bars))
    assert (row["label"], row["t1"], row["barrier"]) == (label, t1, barrier)
    assert row["ret"] == pytest.approx(ret, abs=1e-15)


def test_warm_up_and_last_horizon_have_no_label() -> None:
    out = triple_barrier(frame([FLAT] * 10), horizon=3, take_profit_atr=1, stop_atr=1, atr_period=2)
    assert out["label"].isna().tolist() == [True] * 2 + [False] * 5 + [True] * 3
    assert out["t1"].isna().tolist() == out["label"].isna().tolist()
    assert out["ret"].isna().tolist() == out["label"].isna().tolist()
    assert out["barrier"].isna().tolist() == out["label"].isna().tolist()
    assert out.dtypes.astype(str).tolist() == ["Int8", "Int64", "float64", "category"]
    assert out.index.equals(frame([FLAT] * 10).index)


def test_zero_atr_gives_no_label() -> None:
    """A market that did not move has no barriers apart from the entry: no label."""
    out = triple_barrier(frame([(100.0,) * 4] * 8), horizon=2, take_profit_atr=1, stop_atr=1)
    assert out["label"].isna().all()


def test_short_frames() -> None:
    for n in range(4):
        out = triple_barrier(frame([FLAT] * n), horizon=2, take_profit_atr=1, stop_atr=1)
        assert len(out) == n and out["label"].isna().all()
        assert forward_return_sign(frame([FLAT] * n), 3)["label"].isna().all()


def test_forward_return_sign_by_hand() -> None:
    closes = [1.0, 2.0, 2.0, 1.0, 1.5]
    f = frame([(c, c, c, c) for c in closes])
    out = forward_return_sign(f, 1)
    assert out["label"].tolist() == [1, 0, -1, 1, pd.NA]
    assert out["t1"].tolist() == [1, 2, 3, 4, pd.NA]
    np.testing.assert_allclose(out["ret"].to_numpy()[:4], [1.0, 0.0, -0.5, 0.5])
    two = forward_return_sign(f, 2)
    assert two["label"].tolist() == [1, -1, -1, pd.NA, pd.NA]
    assert str(out["label"].dtype) == "Int8" and str(out["t1"].dtype) == "Int64"


def test_sample_spans_rebase_onto_labelled_rows() -> None:
    out = triple_barrier(frame([FLAT] * 10), horizon=3, take_profit_atr=1, stop_atr=1, atr_period=2)
    rows, t1 = sample_spans(out)
    assert rows.tolist() == [2, 3, 4, 5, 6]
    # bar 2's span ends at bar 5 (row 3); the last rows' spans end past the last sample
    assert t1.tolist() == [3, 4, 4, 4, 4]


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("horizon", [0, -1, True, 1.5, "3"])
def test_bad_horizon(horizon) -> None:
    with pytest.raises(ConfigError, match="horizon") as e:
        triple_barrier(frame([FLAT] * 5), horizon=horizon, take_profit_atr=1, stop_atr=1)
    assert e.value.hint
    with pytest.raises(ConfigError, match="horizon"):
        forward_return_sign(frame([FLAT] * 5), horizon)


@pytest.mark.parametrize("k", [0, -1.0, math.nan, math.inf, True, "2"])
def test_bad_multipliers(k) -> None:
    for name in ("take_profit_atr", "stop_atr"):
        args = {"horizon": 2, "take_profit_atr": 1.0, "stop_atr": 1.0} | {name: k}
        with pytest.raises(ConfigError, match=name) as e:
            triple_barrier(frame([FLAT] * 5), **args)
        assert e.value.hint


def test_bad_atr_period() -> None:
    with pytest.raises(ConfigError, match="atr_period"):
        triple_barrier(frame([FLAT] * 5), horizon=2, take_profit_atr=1, stop_atr=1, atr_period=0)


def test_missing_columns() -> None:
    f = frame([FLAT] * 5).drop(columns=["high", "low"])
    with pytest.raises(DataContractError, match="high, low") as e:
        triple_barrier(f, horizon=2, take_profit_atr=1, stop_atr=1)
    assert e.value.hint
    with pytest.raises(DataContractError, match="close"):
        forward_return_sign(f.drop(columns=["close"]), 2)
    with pytest.raises(DataContractError, match="DataFrame"):
        forward_return_sign([1.0, 2.0], 1)


# --- an independent reference on real candles -------------------------------------------


def brute_force(o, h, lo, c, a, horizon, tp, sl):
    """One bar at a time, one later bar at a time: the engine's order within a bar."""
    o, h, lo, c, a = (np.asarray(x, dtype=np.float64).tolist() for x in (o, h, lo, c, a))
    n = len(c)
    out = []
    for i in range(n):
        up, down = c[i] + tp * a[i], c[i] - sl * a[i]
        # no full horizon, no ATR yet, or barriers that round onto the entry: no label
        if i + horizon >= n or not (down < c[i] < up):
            out.append((None, None, math.nan, None))
            continue
        res = None
        for j in range(i + 1, i + horizon + 1):
            if o[j] <= down:
                res = (-1, j, o[j], "stop")
            elif o[j] >= up:
                res = (1, j, o[j], "take_profit")
            elif lo[j] <= down:
                res = (-1, j, down, "stop")
            elif h[j] >= up:
                res = (1, j, up, "take_profit")
            if res:
                break
        if res is None:
            r = c[i + horizon] / c[i] - 1
            res = ((r > 0) - (r < 0), i + horizon, c[i + horizon], "time")
        out.append((res[0], res[1], res[2] / c[i] - 1, res[3]))
    return out


def compare(got: pd.DataFrame, ref: list) -> None:
    labels = [None if pd.isna(x) else int(x) for x in got["label"]]
    t1 = [None if pd.isna(x) else int(x) for x in got["t1"]]
    barrier = [None if pd.isna(x) else x for x in got["barrier"]]
    assert labels == [r[0] for r in ref]
    assert t1 == [r[1] for r in ref]
    assert barrier == [r[3] for r in ref]
    np.testing.assert_allclose(got["ret"], [r[2] for r in ref], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("horizon", "tp", "sl"), [(24, 2.0, 1.0), (6, 1.0, 1.5), (48, 3.0, 3.0)])
def test_real_btc_equals_brute_force(shared_data, horizon, tp, sl) -> None:
    btc, _ = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    btc = btc.iloc[:3000]
    o, h, lo, c = (btc[k].to_numpy() for k in ("open", "high", "low", "close"))
    ref = brute_force(o, h, lo, c, talib.ATR(h, lo, c, 14), horizon, tp, sl)
    got = triple_barrier(btc, horizon=horizon, take_profit_atr=tp, stop_atr=sl)
    compare(got, ref)
    kinds = {r[3] for r in ref}
    assert kinds == {"take_profit", "stop", "time", None}  # every path is exercised
    fwd = forward_return_sign(btc, horizon)
    r = c[horizon:] / c[:-horizon] - 1
    assert fwd["label"].iloc[:-horizon].tolist() == np.sign(r).astype(int).tolist()
    assert fwd["t1"].iloc[:-horizon].tolist() == list(range(horizon, len(c)))


# --- properties -------------------------------------------------------------------------


@st.composite
def ohlc(draw, min_size: int = 2, max_size: int = 60) -> pd.DataFrame:
    n = draw(st.integers(min_size, max_size))
    moves = st.floats(-0.05, 0.05, allow_nan=False)
    wicks = st.floats(0.0, 0.04, allow_nan=False)
    c = 100 * np.exp(np.cumsum(draw(st.lists(moves, min_size=n, max_size=n))))
    o = np.r_[100.0, c[:-1]] * (1 + np.array(draw(st.lists(moves, min_size=n, max_size=n))) / 4)
    up = np.array(draw(st.lists(wicks, min_size=n, max_size=n)))
    down = np.array(draw(st.lists(wicks, min_size=n, max_size=n)))
    h = np.maximum(o, c) * (1 + up)
    lo = np.minimum(o, c) * (1 - down)
    return frame(list(zip(o, h, lo, c, strict=True)))


params = st.fixed_dictionaries(
    {
        "horizon": st.integers(1, 8),
        "take_profit_atr": st.floats(0.1, 4.0),
        "stop_atr": st.floats(0.1, 4.0),
        "atr_period": st.integers(1, 6),
    }
)


@settings(max_examples=200, deadline=None)
@given(f=ohlc(), p=params)
def test_properties(f: pd.DataFrame, p: dict) -> None:
    out = triple_barrier(f, **p)
    has = out["label"].notna().to_numpy()
    i = np.flatnonzero(has)
    t1 = out["t1"].to_numpy(dtype=np.float64, na_value=np.nan)[has].astype(int)
    assert (t1 > i).all() and (t1 <= i + p["horizon"]).all()
    assert (out["label"][has].to_numpy(int) == np.sign(out["ret"][has].to_numpy())).all()
    time = (out["barrier"] == "time").to_numpy()
    assert (t1[time[has]] == i[time[has]] + p["horizon"]).all()
    # the same as the plain loop on the library's ATR
    o, h, lo, c = (f[k].to_numpy() for k in ("open", "high", "low", "close"))
    a = atr(h, lo, c, p["atr_period"]) if len(c) > p["atr_period"] else np.full(len(c), np.nan)
    ref = brute_force(o, h, lo, c, a, p["horizon"], p["take_profit_atr"], p["stop_atr"])
    compare(out, ref)


@settings(max_examples=200, deadline=None)
@given(f=ohlc(min_size=4), other=ohlc(min_size=60), p=params, data=st.data())
def test_no_look_ahead_past_t1(f, other, p, data) -> None:
    """Replacing every bar after a cut k (by another market's bars) leaves every label
    whose span ends before k as it was, for both labelings."""
    k = data.draw(st.integers(1, len(f) - 1))
    altered = f.copy()
    altered.iloc[k:] = other.iloc[: len(f) - k].to_numpy() * data.draw(st.floats(0.5, 2.0))
    for fn in (lambda x: triple_barrier(x, **p), lambda x: forward_return_sign(x, p["horizon"])):
        before, after = fn(f), fn(altered)
        keep = (before["t1"] < k).fillna(False).to_numpy()
        pd.testing.assert_frame_equal(before[keep], after[keep])


@settings(max_examples=100, deadline=None)
@given(f=ohlc(min_size=4), p=params, data=st.data())
def test_past_changes_act_only_through_atr(f, p, data) -> None:
    """Altering bars before t changes triple-barrier label t only through ATR[t]: with
    the earlier bars replaced, the label equals the reference fed the new ATR and the
    unchanged bars t..t1; the forward-return label does not change at all."""
    k = data.draw(st.integers(1, len(f) - 1))
    altered = f.copy()
    altered.iloc[:k] = altered.iloc[:k].to_numpy() * data.draw(st.floats(0.5, 2.0))
    fwd_before, fwd_after = (
        forward_return_sign(f, p["horizon"]),
        forward_return_sign(altered, p["horizon"]),
    )
    pd.testing.assert_frame_equal(fwd_before.iloc[k:], fwd_after.iloc[k:])
    out = triple_barrier(altered, **p)
    o, h, lo, c = (f[key].to_numpy() for key in ("open", "high", "low", "close"))
    ah, alo, ac = (altered[key].to_numpy() for key in ("high", "low", "close"))
    n, period = len(c), p["atr_period"]
    a = atr(ah, alo, ac, period) if n > period else np.full(n, np.nan)
    ref = brute_force(o, h, lo, c, a, p["horizon"], p["take_profit_atr"], p["stop_atr"])
    compare(out.iloc[k:], ref[k:])
