"""The seeded synthetic market: determinism, contract, stylised facts, overlapping fetches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradpal.data.contract import ensure_ohlcv, get_meta
from tradpal.data.quality import check_quality
from tradpal.data.sources.base import OhlcvSource
from tradpal.data.sources.synthetic import (
    CHUNK_BARS,
    REGIMES,
    SYNTHETIC_ORIGIN,
    SyntheticSource,
    generate_ohlcv,
    regime_labels,
)
from tradpal.errors import ConfigError
from tradpal.timeframes import parse_timeframe


@pytest.fixture(scope="module")
def long_frame() -> pd.DataFrame:
    return generate_ohlcv(40_000, "1h", seed=5)


def test_same_seed_is_bit_identical_and_other_seeds_differ():
    a = generate_ohlcv(5000, "15m", seed=42)
    b = generate_ohlcv(5000, "15m", seed=42)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.attrs == b.attrs
    assert not np.array_equal(a["close"], generate_ohlcv(5000, "15m", seed=43)["close"])


def test_longer_request_extends_a_shorter_one():
    short = generate_ohlcv(100, "1h", seed=3)
    long = generate_ohlcv(CHUNK_BARS + 500, "1h", seed=3)
    pd.testing.assert_frame_equal(long.iloc[:100], short, check_exact=True)


def test_contract_meta_and_clean_quality(long_frame):
    ensure_ohlcv(long_frame)
    meta = get_meta(long_frame)
    assert meta.synthetic and meta.source == "synthetic" and meta.symbol == "SYN/USD"
    assert meta.extra["seed"] == 5
    report = check_quality(long_frame)
    assert report.ok and report.score == 100.0 and not report.warnings
    f = long_frame
    assert (f["high"] >= f[["open", "close"]].max(axis=1)).all()
    assert (f["low"] <= f[["open", "close"]].min(axis=1)).all()
    assert (f["open"].to_numpy()[1:] == f["close"].to_numpy()[:-1]).all()


def test_volatility_clusters_and_volume_follows_volatility(long_frame):
    r = np.diff(np.log(long_frame["close"].to_numpy()))
    sq = r**2 - np.mean(r**2)
    acf_sq = np.corrcoef(sq[1:], sq[:-1])[0, 1]
    acf_r = np.corrcoef(r[1:], r[:-1])[0, 1]
    assert acf_sq > 0.1  # clustering: big moves follow big moves
    assert abs(acf_r) < 0.05  # but returns themselves are not predictable
    kurtosis = np.mean((r - r.mean()) ** 4) / np.var(r) ** 2
    assert kurtosis > 3.5  # fat tails
    assert np.corrcoef(long_frame["volume"].to_numpy()[1:], np.abs(r))[0, 1] > 0.2


def test_regimes_present_and_behave(long_frame):
    labels = regime_labels(long_frame)
    assert set(labels) == set(REGIMES)
    r = pd.Series(np.log(long_frame["close"]).diff().to_numpy(), index=long_frame.index)
    by = r.groupby(labels.to_numpy())
    assert by.mean()["bull"] > by.mean()["bear"]
    assert by.std()["bear"] > by.std()["sideways"]
    runs = get_meta(long_frame).extra["regimes"]
    assert 10 < len(runs) < 200  # months-long regimes over 4.5 years of hours


def test_source_fetches_agree_on_overlaps_and_follow_the_protocol():
    src = SyntheticSource(seed=9)
    assert isinstance(src, OhlcvSource)
    tf = parse_timeframe("5m")
    a = src.fetch("BTC/USD", tf, pd.Timestamp("2019-03-01", tz="UTC"),
                  pd.Timestamp("2019-03-03", tz="UTC"))  # fmt: skip
    b = SyntheticSource(seed=9).fetch("BTC/USD", tf, pd.Timestamp("2019-03-02 12:00", tz="UTC"),
                                      pd.Timestamp("2019-03-05", tz="UTC"))  # fmt: skip
    both = a.index.intersection(b.index)
    assert len(both) == 144
    pd.testing.assert_frame_equal(a.loc[both], b.loc[both], check_exact=True)
    assert a.index[0] == pd.Timestamp("2019-03-01", tz="UTC")
    assert a.index[-1] == pd.Timestamp("2019-03-02 23:55", tz="UTC")  # end is exclusive
    other = src.fetch("ETH/USD", tf, a.index[0], a.index[-1])
    assert not np.array_equal(other["close"], a["close"].iloc[:-1])
    assert get_meta(a).symbol == "BTC/USD" and get_meta(a).synthetic


def test_source_edges_and_progress():
    src = SyntheticSource(seed=1)
    calls = []
    f = src.fetch("X/Y", "1d", pd.Timestamp("2017-06-01"), pd.Timestamp("2018-01-05"),
                  progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    assert f.index[0] == SYNTHETIC_ORIGIN and len(f) == 4
    assert calls and calls[-1][0] == calls[-1][1]
    empty = src.fetch("X/Y", "1d", pd.Timestamp("2019-01-02"), pd.Timestamp("2019-01-02"))
    assert empty.empty and get_meta(empty).synthetic
    ensure_ohlcv(empty)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seed": -1},
        {"seed": 1.5},
        {"seed": 1, "start": "2020-01-06 00:30"},
        {"seed": 1, "start": "x"},
    ],
)
def test_bad_arguments_are_config_errors(kwargs):
    with pytest.raises(ConfigError) as err:
        generate_ohlcv(10, "1h", **kwargs)
    assert err.value.hint
