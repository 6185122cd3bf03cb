"""Timeframes have exact durations; the OHLCV contract is enforced with clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradpal.data.contract import MarketMeta, ensure_ohlcv, get_meta, make_ohlcv
from tradpal.errors import DataContractError
from tradpal.timeframes import TIMEFRAMES, TimeframeError, parse_timeframe

EXPECTED_SECONDS = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "12h": 43200,
    "1d": 86400,
    "1w": 604800,
}


def test_every_timeframe_has_its_exact_duration() -> None:
    assert {name: tf.seconds for name, tf in TIMEFRAMES.items()} == EXPECTED_SECONDS
    for name, seconds in EXPECTED_SECONDS.items():
        assert pd.Timedelta(parse_timeframe(name).pandas_freq) == pd.Timedelta(seconds=seconds)


def test_aliases_and_unknown_names() -> None:
    assert parse_timeframe("30min").name == "30m"
    assert parse_timeframe("60m").name == "1h"
    with pytest.raises(TimeframeError, match="unknown timeframe '7m'") as err:
        parse_timeframe("7m")
    assert "1m, 3m" in (err.value.hint or "")


def test_weekly_bars_open_on_monday_and_others_on_the_epoch_grid() -> None:
    t = pd.Timestamp("2024-05-16 13:47:12", tz="UTC")  # a Thursday
    week = pd.Timestamp(int(parse_timeframe("1w").floor_ns(t.value)), tz="UTC")
    assert week == pd.Timestamp("2024-05-13", tz="UTC") and week.day_name() == "Monday"
    four = pd.Timestamp(int(parse_timeframe("4h").floor_ns(t.value)), tz="UTC")
    assert four == pd.Timestamp("2024-05-16 12:00", tz="UTC")


def _frame(n: int = 5) -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    x = np.arange(1.0, n + 1)
    return make_ohlcv(
        t, x, x + 1, x - 0.5, x + 0.5, x * 10, meta=MarketMeta("BTC/USDT", "60m", "test")
    )


def test_make_ohlcv_builds_the_contract() -> None:
    f = ensure_ohlcv(_frame())
    assert list(f.columns) == ["open", "high", "low", "close", "volume"]
    assert f.index.name == "time" and str(f.index.tz) == "UTC"
    assert all(f[c].dtype == np.float64 for c in f.columns)
    meta = get_meta(f)
    assert meta is not None and meta.timeframe == "1h" and meta.symbol == "BTC/USDT"


def test_naive_times_are_utc() -> None:
    f = make_ohlcv(["2024-01-01 00:00", "2024-01-01 01:00"], [1, 2], [1, 2], [1, 2], [1, 2])
    assert f.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert f["volume"].isna().all()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns="volume"), "lacks the column"),
        (lambda f: f.reset_index(drop=True), "not a DatetimeIndex"),
        (lambda f: f.tz_localize(None), "naive index"),
        (lambda f: f.astype({"close": "float32"}), "non-float64"),
        (lambda f: f.iloc[::-1], "out-of-order"),
        (lambda f: pd.concat([f, f.iloc[[-1]]]), "duplicate"),
    ],
)
def test_contract_violations_are_named(mutate, message: str) -> None:
    with pytest.raises(DataContractError, match=message):
        ensure_ohlcv(mutate(_frame()))


def test_column_length_mismatch() -> None:
    with pytest.raises(DataContractError, match="has 2 values for 3 timestamps"):
        make_ohlcv(
            pd.date_range("2024", periods=3, freq="h", tz="UTC"),
            [1, 2],
            [1, 2, 3],
            [1, 2, 3],
            [1, 2, 3],
        )


def test_an_out_of_range_datetime_is_named_in_iso_form_not_as_a_python_repr():
    from datetime import UTC, datetime

    import pytest

    from tradpal.data.contract import to_utc_timestamp
    from tradpal.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        to_utc_timestamp(datetime(1, 1, 1, tzinfo=UTC), "start")
    assert raised.value.message == "start 0001-01-01T00:00:00+00:00 is out of range"
