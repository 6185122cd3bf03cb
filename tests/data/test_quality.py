"""Quality rules, score and policies on hand-made defects, odd input and real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.data.contract import MarketMeta, ensure_ohlcv, get_meta, make_ohlcv
from tradpal.data.quality import (
    RULES,
    SPIKE_Z,
    STALE_MIN_RUN,
    ZERO_VOLUME_MIN_RUN,
    Policy,
    check_quality,
    enforce_quality,
)
from tradpal.errors import DataContractError, DataQualityError

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def clean(n: int = 50, tf: str = "1h") -> pd.DataFrame:
    """A valid random-walk frame of ``n`` bars (prices wiggle, volume varies)."""
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    step = pd.Timedelta(tf)
    times = pd.date_range(T0, periods=n, freq=step)
    meta = MarketMeta("TEST/USD", tf, "test")
    return make_ohlcv(times, open_, high, low, close, rng.uniform(1, 10, n), meta=meta)


def test_clean_frame_scores_100_and_passes_every_rule():
    report = check_quality(clean())
    assert report.ok and report.score == 100.0
    assert [r.name for r in report.rules] == list(RULES)
    assert all(r.count == 0 for r in report.rules)


@pytest.mark.parametrize(
    ("rule", "edit", "rows"),
    [
        ("nan_values", ([3, 9], 3, np.nan), [3, 9]),
        ("non_positive_prices", ([4], [0, 1, 2, 3], 0.0), [4]),
        ("negative_volume", ([5], 4, -1.0), [5]),
        ("ohlc_inconsistent", ([6], 1, 1.0), [6]),
    ],
)
def test_value_rules_count_and_name_first_rows(rule, edit, rows):
    f = clean()
    at, col, value = edit
    f.iloc[at, col] = value
    report = check_quality(f)
    assert report.rule(rule).count == len(rows)
    assert report.rule(rule).first_rows == [f.index[i] for i in rows]
    assert [r.name for r in report.failed] == [rule]
    assert report.score < 100


def test_low_above_close_is_inconsistent():
    f = clean()
    f.iloc[7, 2] = f.iloc[7, 3] * 1.01  # low above close
    assert check_quality(f).rule("ohlc_inconsistent").first_rows == [f.index[7]]


def test_duplicate_and_unsorted_timestamps():
    f = clean(10)
    idx = f.index.to_list()
    idx[4] = idx[3]  # duplicate
    idx[7], idx[8] = idx[8], idx[7]  # swap: row 8 is earlier than row 7
    f.index = pd.DatetimeIndex(idx, name="time")
    report = check_quality(f)
    assert report.rule("duplicate_timestamps").count == 1
    assert report.rule("unsorted_timestamps").count == 1
    assert report.rule("unsorted_timestamps").first_rows == [idx[8]]


def test_gaps_count_missing_bars_and_are_warnings():
    f = clean(30).drop(index=clean(30).index[[5, 6, 7, 20]])
    report = check_quality(f)
    assert report.rule("gaps").count == 4
    assert report.rule("gaps").severity == "warning"
    assert report.ok and report.score < 100
    assert report.rule("gaps").first_rows[0] == T0 + pd.Timedelta(hours=8)


def test_price_spike_is_flagged_but_real_sized_moves_are_not():
    f = clean(200)
    f.iloc[100, [0, 1, 2, 3]] = f.iloc[100, [0, 1, 2, 3]] * 3  # a bad tick, 3x
    f.iloc[100, 0] = f.iloc[99, 3]  # keep open continuous so only the jump is odd
    f.iloc[100, 2] = min(f.iloc[100, 0], f.iloc[100, 3]) * 0.99
    report = check_quality(f)
    assert report.rule("price_spikes").count >= 1
    assert f.index[100] in report.rule("price_spikes").first_rows
    assert SPIKE_Z == 30.0


def test_stale_and_zero_volume_runs():
    f = clean(40)
    f.iloc[10 : 10 + STALE_MIN_RUN] = f.iloc[10].to_numpy()  # identical candles
    f.iloc[25 : 25 + ZERO_VOLUME_MIN_RUN, 4] = 0.0
    f.iloc[35, 4] = 0.0  # a single zero is no run
    report = check_quality(f)
    assert report.rule("stale_runs").count == STALE_MIN_RUN
    assert report.rule("stale_runs").first_rows == [f.index[10]]
    assert report.rule("zero_volume_runs").count == ZERO_VOLUME_MIN_RUN
    assert report.ok  # warnings only


def test_missing_columns_are_named_in_the_message_and_first_rows():
    report = check_quality(clean(20).drop(columns=["high", "volume"]))
    rule = report.rule("missing_columns")
    assert (rule.count, rule.first_rows) == (2, ["high", "volume"])
    assert rule.message == "missing column(s) high, volume"
    assert report.to_dict()["rules"][1]["first_rows"] == ["high", "volume"]
    assert "error missing_columns: missing column(s) high, volume" in report.summary()
    present = check_quality(clean(20)).rule("missing_columns")
    assert (present.count, present.first_rows, present.message) == (0, [], "all columns present")


def test_missing_volume_reject_names_it_and_repair_sets_zero():
    f = clean(20).drop(columns="volume")
    with pytest.raises(DataQualityError, match="missing_columns") as err:
        enforce_quality(f)
    assert "missing_columns (missing column(s) volume)" in str(err.value) and err.value.hint
    out, report = enforce_quality(f, "repair")
    assert (out["volume"] == 0.0).all()
    assert any("volume" in r for r in report.repairs)
    assert get_meta(out).repairs == report.repairs


def test_repair_sorts_dedupes_keeping_last_and_drops_invalid_rows():
    f = clean(20)
    dup = f.iloc[[5]].copy()
    dup.iloc[0, 4] = 999.0  # the later copy of bar 5
    bad = f.copy()
    bad.iloc[2, 3] = np.nan
    bad.iloc[3, 1] = -5.0
    messy = pd.concat([bad.iloc[::-1], dup])
    messy.attrs = f.attrs
    with pytest.raises(DataQualityError) as err:
        enforce_quality(messy, Policy.REJECT)
    msg = str(err.value)
    for rule in (
        "nan_values",
        "non_positive_prices",
        "duplicate_timestamps",
        "unsorted_timestamps",
    ):
        assert rule in msg
    out, report = enforce_quality(messy, "repair")
    ensure_ohlcv(out)
    assert report.ok
    assert len(out) == 18
    assert out.loc[f.index[5], "volume"] == 999.0  # last occurrence kept
    assert f.index[2] not in out.index and f.index[3] not in out.index
    text = " | ".join(report.repairs)
    assert "sorted" in text and "duplicate" in text and "NaN" in text and "non-positive" in text
    assert "gap" in text  # the dropped rows leave gaps, recorded, not filled
    meta = get_meta(out)
    assert meta.extra["gap_count"] == 1 and meta.extra["gaps"][0][2] == 2  # bars 2 and 3


def test_report_policy_returns_the_same_frame():
    f = clean(10)
    f.iloc[1, 3] = np.nan
    out, report = enforce_quality(f, "report")
    assert out is f and not report.ok


def test_strings_object_columns_and_naive_index_are_reported_not_crashed():
    f = clean(10)
    obj = f.astype(object)
    obj.iloc[3, 0] = "12,5"
    obj.index = obj.index.tz_localize(None)
    report = check_quality(obj)
    assert report.rule("non_numeric").count == 1
    assert report.rule("invalid_index").count == 10
    out, rep = enforce_quality(obj, "repair")
    ensure_ohlcv(out)
    assert len(out) == 9 and rep.ok


@pytest.mark.parametrize(
    "bad",
    [
        pd.DataFrame(),
        pd.DataFrame({"open": [1.0]}, index=[0]),
        pd.DataFrame({c: ["x", "y"] for c in ("open", "high", "low", "close", "volume")}),
    ],
)
def test_bad_frames_get_a_clear_error(bad):
    report = check_quality(bad)
    assert not report.ok
    with pytest.raises(DataQualityError) as err:
        enforce_quality(bad, "repair")
    assert err.value.hint


def test_non_frames_and_unknown_policy_are_refused_clearly():
    with pytest.raises(DataContractError, match="DataFrame"):
        check_quality([1, 2, 3])
    with pytest.raises(DataContractError, match="policy"):
        enforce_quality(clean(), "fix-it")


def test_report_to_dict_is_json_ready():
    import json

    f = clean()
    f.iloc[1, 3] = np.nan
    d = check_quality(f).to_dict()
    json.dumps(d)
    assert d["ok"] is False and d["rules"][4]["first_rows"] == [f.index[1].isoformat()]


def test_real_binance_data_is_clean(shared_data):
    raw = pd.read_csv(shared_data / "BTCUSDT-1h.csv")
    f = make_ohlcv(
        pd.to_datetime(raw["open_time"], unit="ms", utc=True),
        raw["open"], raw["high"], raw["low"], raw["close"], raw["volume"],
    )  # fmt: skip
    report = check_quality(f)
    assert report.ok and report.score == 100.0  # no spike flagged through the 2022 crash


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=60),
    st.lists(st.one_of(st.floats(-5, 200), st.just(float("nan"))), min_size=1, max_size=60),
)
def test_repair_always_yields_a_contract_frame_or_a_clear_error(offsets, prices):
    n = min(len(offsets), len(prices))
    times = T0 + pd.to_timedelta(np.array(offsets[:n]) * 3600, unit="s")
    p = np.array(prices[:n])
    f = pd.DataFrame({"open": p, "high": p * 1.01, "low": p * 0.99, "close": p, "volume": p},
                     index=pd.DatetimeIndex(times, name="time"))  # fmt: skip
    try:
        out, report = enforce_quality(f, "repair", timeframe="1h")
    except DataQualityError as exc:
        assert exc.hint and not exc.report.ok
        return
    ensure_ohlcv(out)
    assert report.ok and len(out) <= n
    assert check_quality(out, timeframe="1h").ok
