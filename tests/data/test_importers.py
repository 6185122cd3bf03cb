"""Importers: Kaggle (both variants, streamed), Binance exports, any table file, real files."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from tradpal.data.contract import ensure_ohlcv, get_meta
from tradpal.data.importers import (
    BINANCE_COLUMNS,
    decode_times,
    detect_format,
    epoch_to_ns,
    guess_symbol,
    import_binance_klines,
    import_file,
    import_kaggle_btc,
    import_ohlcv,
    market_of,
    market_symbol,
)
from tradpal.data.resample import resample_ohlcv
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.errors import ConfigError, DataContractError, DataQualityError, SourceError
from tradpal.timeframes import TimeframeError

START_S = 1325412060  # 2012-01-01 10:01 UTC, as in the Kaggle file


def _bars(n: int = 3000, tf: str = "1m") -> pd.DataFrame:
    return generate_ohlcv(n, tf, seed=4, start="2012-01-01 10:01" if tf == "1m" else "2020-01-06")


def _write_kaggle(path, frame, *, old: bool, empty_every: int = 0, float_ts: bool = True):
    ts = START_S + 60 * np.arange(len(frame))
    out = pd.DataFrame({"Timestamp": ts.astype(float) if float_ts else ts})
    for c in ("open", "high", "low", "close"):
        out[c.capitalize()] = frame[c].to_numpy()
    if old:
        out["Volume_(BTC)"] = frame["volume"].to_numpy()
        out["Volume_(Currency)"] = out["Volume_(BTC)"] * out["Close"]
        out["Weighted_Price"] = out["Close"]
    else:
        out["Volume"] = frame["volume"].to_numpy()
    if empty_every:
        out.loc[out.index % empty_every == 1, out.columns[1:]] = np.nan
    out.to_csv(path, index=False)
    return out


@pytest.mark.parametrize("old", [False, True])
def test_kaggle_both_variants_stream_to_the_same_bars(tmp_path, old):
    bars = _bars()
    path = tmp_path / "btc.csv"
    _write_kaggle(path, bars, old=old, float_ts=old)
    seen = []
    frame, report = import_kaggle_btc(path, block_bytes=16 << 10,
                                      progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    ensure_ohlcv(frame)
    assert report.ok and len(frame) == len(bars)
    assert frame.index[0] == pd.Timestamp(START_S, unit="s", tz="UTC")
    cols = ["open", "close", "volume"]
    np.testing.assert_allclose(frame[cols].to_numpy(), bars[cols].to_numpy(), rtol=1e-12)
    meta = get_meta(frame)
    assert meta.source == "kaggle:btc.csv" and meta.timeframe == "1m" and meta.symbol == "BTC/USD"
    assert len(seen) > 5  # streamed in many blocks
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)


def test_kaggle_empty_minutes_become_counted_gaps(tmp_path):
    path = tmp_path / "old.csv"
    _write_kaggle(path, _bars(600), old=True, empty_every=50)
    frame, report = import_kaggle_btc(path)
    assert len(frame) == 600 - 12
    assert get_meta(frame).extra["empty_rows_dropped"] == 12
    assert report.ok and report.rule("gaps").count == 12


def test_kaggle_streaming_resample_equals_resampling_afterwards(tmp_path):
    path = tmp_path / "k.csv"
    _write_kaggle(path, _bars(5000), old=False, empty_every=37)
    whole, _ = import_kaggle_btc(path)
    streamed, report = import_kaggle_btc(path, resample_to="1h", block_bytes=8 << 10)
    after = resample_ohlcv(whole, "1h")
    pd.testing.assert_index_equal(streamed.index, after.index)
    np.testing.assert_array_equal(streamed[["open", "high", "low", "close"]].to_numpy(),
                                  after[["open", "high", "low", "close"]].to_numpy())  # fmt: skip
    np.testing.assert_allclose(streamed["volume"], after["volume"], rtol=1e-12)
    assert (
        get_meta(streamed).timeframe == "1h" and get_meta(streamed).extra["resampled_from"] == "1m"
    )
    assert report.ok
    with pytest.raises(ConfigError, match="report"):
        import_kaggle_btc(path, resample_to="1h", policy="report")


def test_kaggle_bad_rows_are_rejected_with_rows_or_repaired(tmp_path):
    path = tmp_path / "k.csv"
    raw = _write_kaggle(path, _bars(500), old=False)
    raw.loc[100, "High"] = raw.loc[100, "Low"] / 2  # high below low
    raw.to_csv(path, index=False)
    with pytest.raises(DataQualityError, match="ohlc_inconsistent") as err:
        import_kaggle_btc(path)
    assert "2012-01-01T11:41:00" in str(err.value)
    _frame, report = import_kaggle_btc(path, policy="repair", resample_to="15m")
    assert report.ok and any("inconsistent" in r for r in report.repairs)


def test_kaggle_wrong_layout_and_text_in_numbers(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataContractError, match="Kaggle") as err:
        import_kaggle_btc(path)
    assert "--format file" in err.value.hint and "columns in the file: a, b" in err.value.hint
    path.write_text("Timestamp,Open,High,Low,Close,Volume\n1325412060,1,1,1,oops,1\n")
    with pytest.raises(DataContractError) as err:
        import_kaggle_btc(path)
    assert err.value.hint


def test_streaming_importers_refuse_other_file_kinds_naming_the_generic_import(shared_data):
    for importer, what in ((import_binance_klines, "Binance kline export"),
                           (import_kaggle_btc, "Kaggle Bitcoin history file")):  # fmt: skip
        with pytest.raises(DataContractError) as err:
            importer(shared_data / "ETH_BTC-5m.feather")
        expected = f"ETH_BTC-5m.feather is a Feather file, not a {what} (a CSV file)"
        assert err.value.message == expected
        assert err.value.hint.startswith("import it as a generic table: --format file")


def test_binance_shared_export(shared_data):
    frame, report = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    ensure_ohlcv(frame)
    assert len(frame) == 9504 and report.ok and report.score == 100.0
    meta = get_meta(frame)
    assert (meta.symbol, meta.timeframe, meta.source) == (
        "BTC/USDT", "1h", "binance-export:BTCUSDT-1h.csv")  # fmt: skip
    assert frame.index[0] == pd.Timestamp("2021-10-01", tz="UTC")
    assert frame["open"].iloc[0] == 43820.01
    assert detect_format(shared_data / "BTCUSDT-1h.csv") == "binance"
    with pytest.raises(DataContractError, match="not 4h"):
        import_binance_klines(shared_data / "BTCUSDT-1h.csv", timeframe="4h")
    with pytest.raises(TimeframeError, match="finer"):
        import_binance_klines(shared_data / "BTCUSDT-1h.csv", resample_to="15m")


@pytest.mark.parametrize("scale", [1_000, 1_000_000])  # milliseconds, newer microsecond dumps
def test_binance_headerless_official_export(tmp_path, scale):
    bars = _bars(300, "5m")
    t = bars.index.asi8 // (10**9 // scale)
    step = 300 * scale
    table = pd.DataFrame({"open_time": t, **{c: bars[c].to_numpy() for c in bars.columns}})
    table["close_time"] = t + step - 1
    for name, value in zip(BINANCE_COLUMNS[7:], (1.0, 7, 0.5, 0.5, 0), strict=True):
        table[name] = value
    assert list(table.columns) == list(BINANCE_COLUMNS)
    path = tmp_path / "ETHBTC-5m-2020-01.csv"
    table.to_csv(path, index=False, header=False)
    assert detect_format(path) == "binance"
    frame, _report = import_ohlcv(path)
    pd.testing.assert_index_equal(frame.index, bars.index)
    assert get_meta(frame).symbol == "ETH/BTC" and get_meta(frame).timeframe == "5m"


def test_messy_30min_file_reject_repair_report(shared_data):
    path = shared_data / "BTCUSDT-30min.csv"
    with pytest.raises(DataQualityError) as err:
        import_file(path)
    msg = str(err.value)
    assert "missing_columns" in msg and "volume" in msg and "unsorted_timestamps" in msg
    assert "repair" in err.value.hint
    frame, report = import_file(path, policy="repair")
    ensure_ohlcv(frame)
    assert frame.index.is_monotonic_increasing and len(frame) == 500
    assert frame.index[0] == pd.Timestamp("2022-12-17 08:30", tz="UTC")
    assert (frame["volume"] == 0).all()
    assert report.ok and any("sorted" in r for r in report.repairs)
    assert get_meta(frame).repairs == report.repairs
    assert get_meta(frame).timeframe == "30m" and get_meta(frame).source.startswith("csv:")
    raw, rep = import_file(path, policy="report")
    assert not rep.ok and raw.index[0] == pd.Timestamp("2022-12-27 18:00", tz="UTC")
    assert "volume" not in raw.columns


@pytest.mark.parametrize("name", ["ETH_BTC-5m.feather", "XRP_USDT_USDT-5m-futures.feather"])
def test_shared_feather_files(shared_data, name):
    frame, report = import_file(shared_data / name)
    ensure_ohlcv(frame)
    assert report.ok and get_meta(frame).timeframe == "5m"
    assert get_meta(frame).source == f"feather:{name}"
    # freqtrade's futures file keeps its market: ccxt's symbol of the USDT-margined perpetual
    expected = "XRP/USDT:USDT" if "futures" in name else "ETH/BTC"
    assert get_meta(frame).symbol == expected


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("XRP_USDT_USDT-5m-futures.feather", "XRP/USDT:USDT"),
        ("BTC_USDT_USD-1h-futures.feather", "BTC/USDT:USD"),
        ("XRP_USDT-5m-futures.feather", "XRP/USDT:USDT"),  # no settlement: the quote
        ("BTCUSDT-1h-futures.csv", "BTC/USDT:USDT"),
        ("ETH_BTC-5m.feather", "ETH/BTC"),
        ("BTCUSDT-1h.csv", "BTC/USDT"),
        ("my_data_file-1h.csv", "MY/DATA"),  # three parts without -futures: not a market
    ],
)
def test_file_names_tell_spot_from_futures(name, symbol):
    assert guess_symbol(name) == symbol
    assert market_of(symbol) == ("futures" if ":" in symbol else "spot")


def test_market_symbol_converts_between_spot_and_futures():
    assert market_symbol("XRP/USDT:USDT", "spot") == "XRP/USDT"
    assert market_symbol("XRP/USDT", "futures") == "XRP/USDT:USDT"
    assert market_symbol("BTC/USD:BTC", "futures") == "BTC/USD:BTC"  # inverse: kept
    assert market_symbol("XRP/USDT", None) == "XRP/USDT"
    with pytest.raises(ConfigError, match="settlement currency of futures symbol 'XRPUSDT'"):
        market_symbol("XRPUSDT", "futures")
    with pytest.raises(ConfigError, match="unknown market 'perp'"):
        market_symbol("XRP/USDT", "perp")


def test_generic_csv_with_mapping_iso_and_parquet(tmp_path):
    bars = _bars(200, "1h")
    table = pd.DataFrame({"When": bars.index.tz_convert("Europe/Berlin").astype(str)})
    for new, old in zip("OHLCV", bars.columns, strict=True):
        table[new] = bars[old].to_numpy()
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataContractError, match="time column"):
        import_file(path)
    mapping = {"time": "When", "open": "O", "high": "H", "low": "L", "close": "C", "volume": "V"}
    frame, _report = import_file(path, mapping=mapping, symbol="ABC/USD")
    pd.testing.assert_index_equal(frame.index, bars.index)
    np.testing.assert_allclose(frame.to_numpy(), bars.to_numpy(), rtol=1e-12)
    pq = tmp_path / "bars.parquet"
    bars.reset_index().rename(columns={"time": "Date", "close": "Close"}).to_parquet(pq)
    frame2, _ = import_file(pq)
    pd.testing.assert_frame_equal(frame2, bars, check_exact=True, check_flags=False)
    assert get_meta(frame2).source == "parquet:bars.parquet"


def test_strings_in_numbers_are_reported(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("date,open,high,low,close,volume\n"
                    "2024-01-01 00:00,1,2,0.5,1.5,10\n2024-01-01 01:00,1,abc,0.5,1.5,10\n"
                    "2024-01-01 02:00,1,2,0.5,1.5,10\n")  # fmt: skip
    with pytest.raises(DataQualityError, match="non_numeric"):
        import_file(path)
    frame, report = import_file(path, policy="repair")
    assert len(frame) == 2 and report.ok


def test_epoch_units_are_told_apart_per_value():
    t = pd.Timestamp("2024-05-01 12:00", tz="UTC").value
    values = np.array([t // 10**9, t // 10**6, t // 10**3, t, np.nan], dtype=object)
    ns = epoch_to_ns(np.array(values[:3], dtype=float))
    assert (ns == t).all()
    assert decode_times(pd.Series([t], dtype="int64"))[0] == t
    assert decode_times(pd.Series([1325412060.5]))[0] == 1325412060_500_000_000
    assert epoch_to_ns(np.array([1.0]), "ms")[0] == 10**6
    assert decode_times(pd.Series(["2024-05-01 12:00"]))[0] == t  # naive = UTC
    assert decode_times(pd.Series(["2024-05-01T14:00+02:00"]))[0] == t


def test_helpers_and_errors(tmp_path):
    assert guess_symbol("BTCUSDT-1h.csv") == "BTC/USDT"
    assert guess_symbol("ETH_BTC-5m.feather") == "ETH/BTC"
    with pytest.raises(SourceError, match="no such file"):
        import_file(tmp_path / "nope.csv")
    one = tmp_path / "one.csv"
    one.write_text("date,open,high,low,close\n2024-01-01,1,1,1,1\n")
    with pytest.raises(DataContractError, match="timeframe"):
        import_file(one)
    frame, _report = import_file(one, timeframe="1d", policy="repair")
    assert len(frame) == 1
    with pytest.raises(ConfigError):
        import_ohlcv(one, format="xlsx")
