"""Writing, reading, merging, partitioning and the catalog, on a local directory and on S3."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.data.contract import MarketMeta, get_meta, make_ohlcv, with_meta
from tradpal.data.quality import check_quality
from tradpal.data.store import MarketStore
from tradpal.errors import DataContractError, DataQualityError, StoreError


def snapshot(store: MarketStore) -> dict[str, bytes]:
    """Every file under the store root and its bytes (relative path -> content)."""
    from pyarrow.fs import FileSelector, FileType

    fs = store.filesystem
    infos = fs.get_file_info(FileSelector(store.root, recursive=True, allow_not_found=True))
    out = {}
    for info in infos:
        if info.type == FileType.File:
            with fs.open_input_stream(info.path) as f:
                out[info.path[len(store.root) :]] = f.read()
    return out


def data_files(store: MarketStore) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(store).items() if k.endswith(".parquet")}


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT", "^GSPC", "eth/btc"])
def test_round_trip_is_bit_identical(store: MarketStore, wave, symbol: str) -> None:
    frame = wave(symbol, "1h", "2023-12-20", 600, extra={"exchange": "x", "n": [1, 2.5]})
    with_meta(frame, get_meta(frame).evolve(fallback=("ccxt:kraken: down",)))
    store.write(frame)
    back = store.read(symbol, "1h")
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    for col in frame:  # bit for bit, not just equal as floats
        assert back[col].to_numpy().tobytes() == frame[col].to_numpy().tobytes()
    assert back.index.name == "time" and str(back.index.tz) == "UTC"
    assert get_meta(back) == get_meta(frame)


def test_read_selects_a_half_open_range_and_only_the_files_it_needs(store, wave) -> None:
    frame = wave("ETH/USDT", "1m", "2024-01-31 12:00", 3 * 1440)  # Jan 31 to Feb 3
    store.write(frame)
    assert sorted(data_files(store)) == [
        "/ohlcv/symbol=ETH%2FUSDT/timeframe=1m/2024-01.parquet",
        "/ohlcv/symbol=ETH%2FUSDT/timeframe=1m/2024-02.parquet",
    ]
    lo, hi = "2024-02-01 00:00", "2024-02-01 06:30"
    part = store.read("ETH/USDT", "1m", lo, hi)
    expected = frame.loc[(frame.index >= pd.Timestamp(lo, tz="UTC")) & (frame.index < hi)]
    pd.testing.assert_frame_equal(part, expected, check_exact=True)
    assert len(part) == 390
    # Naive bounds are UTC; an empty range still carries the meta.
    empty = store.read("ETH/USDT", "1m", "2030-01-01", "2030-02-01")
    assert len(empty) == 0 and get_meta(empty) == get_meta(frame)
    # Reading February alone must not open January: remove January's file and read again.
    fs = store.filesystem
    fs.delete_file(store.root + "/ohlcv/symbol=ETH%2FUSDT/timeframe=1m/2024-01.parquet")
    pd.testing.assert_frame_equal(store.read("ETH/USDT", "1m", lo, hi), expected)


def test_merge_dedupes_by_timestamp_and_newer_rows_win(store, wave) -> None:
    first = wave("SOL/USDT", "1h", "2024-03-01", 48)
    store.write(first)
    second = wave("SOL/USDT", "1h", "2024-03-02", 48)  # overlaps the last 24 bars
    second[["open", "high", "low", "close"]] *= 1.01  # a "corrected" re-delivery
    result = store.write(second)
    assert (result.rows, result.added, result.replaced) == (48, 24, 24)
    back = store.read("SOL/USDT", "1h")
    assert back.index.is_unique and back.index.is_monotonic_increasing
    expected = pd.concat([first.iloc[:24], second])
    pd.testing.assert_frame_equal(back, with_meta(expected, get_meta(second)), check_exact=True)
    # Writing the same bars again changes nothing but the write time.
    again = store.write(second)
    assert (again.added, again.replaced) == (0, 48)
    pd.testing.assert_frame_equal(store.read("SOL/USDT", "1h"), back, check_exact=True)


def test_append_rewrites_only_the_affected_period_file(store, wave) -> None:
    frame = wave("BTC/USDT", "1h", "2022-12-31", 24 + 365 * 24 + 24)  # 2022, 2023, 2024
    store.write(frame.iloc[:-24])
    before = data_files(store)
    assert [k.rsplit("/", 1)[1] for k in sorted(before)] == ["2022.parquet", "2023.parquet"]
    with pytest.raises(StoreError, match="not after the last stored bar"):
        store.write(frame.iloc[-30:], mode="append")
    result = store.write(frame.iloc[-24:], mode="append")
    assert result.files == ("2024",)
    after = data_files(store)
    assert [k.rsplit("/", 1)[1] for k in sorted(after)] == [
        "2022.parquet",
        "2023.parquet",
        "2024.parquet",
    ]
    for key in before:  # untouched files keep their exact bytes
        assert after[key] == before[key]
    # Bars in the last hours of 2023 rewrite 2023 only.
    result = store.write(frame.iloc[-30:-24])
    assert result.files == ("2023",)
    assert data_files(store)[sorted(before)[0]] == before[sorted(before)[0]]
    pd.testing.assert_frame_equal(store.read("BTC/USDT", "1h"), frame, check_exact=True)


def test_catalog_lists_datasets_with_ranges_rows_and_scores(store, wave) -> None:
    assert store.datasets() == []
    btc = wave("BTC/USDT", "1h", "2023-12-31", 100)
    spx = wave("^GSPC", "1d", "2020-01-01", 300, source="yfinance")
    syn = wave("SYN/USD", "1d", "2020-01-01", 10, source="synthetic", synthetic=True)
    for f in (btc, spx, syn):
        store.write(f)
    store.write(btc.iloc[-10:])  # an overwrite changes neither rows nor range
    entries = {(e.symbol, e.timeframe): e for e in store.datasets()}
    assert list(entries) == [("BTC/USDT", "1h"), ("SYN/USD", "1d"), ("^GSPC", "1d")]
    e = entries["BTC/USDT", "1h"]
    assert (e.first, e.last, e.rows, e.files) == (btc.index[0], btc.index[-1], 100, 2)
    assert (e.source, e.synthetic, e.quality_score) == ("test:wave", False, 100.0)
    assert entries["SYN/USD", "1d"].synthetic and entries["^GSPC", "1d"].source == "yfinance"
    assert pd.Timestamp.now(tz="UTC") - e.updated_at < pd.Timedelta(hours=1)
    assert e.to_dict()["first"] == "2023-12-31T00:00:00+00:00"
    assert store.range("BTC/USDT", "1h") == (btc.index[0], btc.index[-1])
    assert store.range("BTC/USDT", "4h") is None


def test_catalog_score_is_the_row_weighted_file_score(store, wave) -> None:
    frame = wave("GAP/USDT", "1h", "2023-12-01", 24 * 62)
    gappy = frame.drop(frame.index[100:110])  # a gap in 2023 only
    store.write(gappy)
    parts = [gappy.loc[gappy.index.year == y] for y in (2023, 2024)]
    scores = [check_quality(p, timeframe="1h").score for p in parts]
    assert scores[0] < 100.0 == scores[1]
    expected = sum(s * len(p) for s, p in zip(scores, parts, strict=True)) / len(gappy)
    (entry,) = store.datasets()
    assert entry.quality_score == pytest.approx(round(expected, 2))


def test_bad_data_is_rejected_and_the_store_is_unchanged(store, wave) -> None:
    good = wave("BTC/USDT", "1h", "2024-01-01", 50)
    store.write(good)
    before = snapshot(store)
    bad = wave("BTC/USDT", "1h", "2024-01-03 02:00", 50)  # right after the good bars
    bad.iloc[5, bad.columns.get_loc("high")] = bad["low"].iloc[5] / 2  # high below low
    bad.iloc[7, bad.columns.get_loc("close")] = np.nan
    with pytest.raises(DataQualityError) as err:
        store.write(bad)
    assert "ohlc_inconsistent" in str(err.value) and "nan_values" in str(err.value)
    assert snapshot(store) == before
    # "repair" stores what is valid and says so in the meta; "report" refuses a broken contract.
    result = store.write(bad, policy="repair")
    assert result.rows == 48
    back = store.read("BTC/USDT", "1h")
    assert bad.index[5] not in back.index and bad.index[7] not in back.index
    assert len(back) == 50 + 48
    assert any("dropped" in r for r in get_meta(back).repairs)
    unsorted = with_meta(bad.iloc[::-1].copy(), get_meta(bad))
    with pytest.raises(DataContractError):
        store.write(unsorted, policy="report")


def test_report_policy_stores_flagged_data_with_its_low_score(store, wave) -> None:
    frame = wave("NAN/USDT", "1h", "2024-01-01", 40)
    frame.iloc[3, 0] = np.nan
    store.write(frame, policy="report")
    (entry,) = store.datasets()
    assert entry.quality_score == check_quality(frame).score < 100
    assert np.isnan(store.read("NAN/USDT", "1h")["open"].iloc[3])


def test_sources_are_never_mixed_in_one_dataset(store, wave) -> None:
    store.write(wave("BTC/USDT", "1h", "2024-01-01", 10, source="ccxt:binance"))
    before = snapshot(store)
    for other in (
        wave("BTC/USDT", "1h", "2024-01-01", 20, source="synthetic", synthetic=True),
        wave("BTC/USDT", "1h", "2024-01-01", 20, source="ccxt:kraken"),
    ):
        with pytest.raises(StoreError, match="refusing to mix") as err:
            store.write(other)
        assert "delete" in err.value.hint
    assert snapshot(store) == before


def test_delete_removes_one_dataset(store, wave) -> None:
    store.write(wave("BTC/USDT", "1h", "2024-01-01", 10))
    store.write(wave("BTC/USDT", "1d", "2024-01-01", 10))
    store.delete("BTC/USDT", "1h")
    assert [(e.symbol, e.timeframe) for e in store.datasets()] == [("BTC/USDT", "1d")]
    with pytest.raises(StoreError, match=r"no stored data for BTC/USDT 1h") as err:
        store.read("BTC/USDT", "1h")
    assert err.value.hint == "BTC/USDT is stored at 1d"
    with pytest.raises(StoreError):
        store.delete("BTC/USDT", "1h")


def test_unknown_dataset_errors_list_what_exists(store, wave) -> None:
    with pytest.raises(StoreError) as err:
        store.read("BTC/USDT", "1h")
    assert "empty" in err.value.hint
    store.write(wave("ETH/USDT", "4h", "2024-01-01", 10))
    store.write(wave("^GSPC", "1d", "2024-01-01", 10))
    with pytest.raises(StoreError) as err:
        store.read("BTC/USDT", "1h")
    assert err.value.hint == "stored: ETH/USDT 4h, ^GSPC 1d"
    with pytest.raises(StoreError, match=r"start .not a date. is not a time"):
        store.read("ETH/USDT", "4h", start="not a date")


def test_frames_without_meta_or_of_the_wrong_type_are_refused(store, wave) -> None:
    frame = wave()
    frame.attrs.clear()
    with pytest.raises(StoreError, match="no MarketMeta") as err:
        store.write(frame)
    assert "with_meta" in err.value.hint
    with pytest.raises(StoreError, match="DataFrame"):
        store.write([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="write mode"):
        store.write(wave(), mode="replace")  # type: ignore[arg-type]
    with_trades = wave()
    with_trades["trades"] = 1.0
    with pytest.raises(StoreError, match="trades besides OHLCV"):
        store.write(with_trades)
    assert store.write(with_trades, policy="repair").rows == len(with_trades)
    store.delete("BTC/USDT", "1h")
    unjsonable = wave(extra={"when": pd.Timestamp("2024-01-01")})
    with pytest.raises(StoreError, match="JSON") as err:
        store.write(unjsonable)
    assert store.datasets() == []


def test_the_tree_reads_as_a_hive_dataset(store, wave) -> None:
    """Other tools (Athena, DuckDB, pyarrow) see the store as one partitioned table."""
    store.write(wave("BTC/USDT", "1h", "2023-12-31", 48))
    store.write(wave("^GSPC", "1d", "2024-01-01", 5, source="yfinance"))
    table = pads.dataset(
        store.root + "/ohlcv", filesystem=store.filesystem, format="parquet", partitioning="hive"
    ).to_table()
    assert sorted(set(table.column("symbol").to_pylist())) == ["BTC/USDT", "^GSPC"]
    assert table.num_rows == 53


def test_store_uris(tmp_path, moto_s3, monkeypatch) -> None:
    local = MarketStore.from_uri(f"file://{tmp_path}/m")
    assert local.root == (tmp_path / "m").as_posix() and local.uri == local.root
    monkeypatch.chdir(tmp_path)
    assert MarketStore("rel").root == (tmp_path / "rel").as_posix()
    monkeypatch.setenv("TRADPAL_HOME", str(tmp_path / "home"))
    assert MarketStore().root == (tmp_path / "home" / "market").as_posix()
    s3 = MarketStore.from_uri(
        f"s3://{moto_s3.bucket}/a/b/?region=us-east-1",
        endpoint=moto_s3.endpoint,
        s3_options={"access_key": "testing", "secret_key": "testing"},
    )
    assert (s3.root, s3.uri) == (f"{moto_s3.bucket}/a/b", f"s3://{moto_s3.bucket}/a/b")
    for bad, match in [
        ("gs://bucket/x", "unsupported store URI"),
        ("s3:///prefix", "names no bucket"),
        ("s3://bucket/x?color=red", "unknown option"),
        ("", "empty store URI"),
    ]:
        with pytest.raises(StoreError, match=match) as err:
            MarketStore.from_uri(bad)
        assert err.value.hint
    with pytest.raises(StoreError, match="invalid S3 endpoint"):
        MarketStore.from_uri("s3://bucket/x", endpoint="ftp://host")


def test_a_missing_bucket_is_a_clear_error(moto_s3, wave) -> None:
    store = MarketStore.from_uri(
        "s3://no-such-bucket/x",
        endpoint=moto_s3.endpoint,
        region="us-east-1",
        s3_options={"access_key": "testing", "secret_key": "testing"},
    )
    with pytest.raises(StoreError, match="cannot write BTC/USDT 1h") as err:
        store.write(wave())
    assert "bucket" in err.value.hint


def test_meta_survives_across_writes(store, wave) -> None:
    store.write(wave("BTC/USDT", "1h", "2024-01-01", 30))
    later = wave("BTC/USDT", "1h", "2024-01-02", 30, extra={"note": "second"})
    with_meta(later, get_meta(later).evolve(repairs=("sorted rows",)))
    store.write(later)
    meta = get_meta(store.read("BTC/USDT", "1h"))
    assert meta == MarketMeta(
        "BTC/USDT", "1h", "test:wave", repairs=("sorted rows",), extra={"note": "second"}
    )


def test_a_damaged_file_is_a_clear_error(store, wave) -> None:
    store.write(wave("BTC/USDT", "1h", "2024-01-01", 10))
    path = store.root + "/ohlcv/symbol=BTC%2FUSDT/timeframe=1h/2024.parquet"
    with store.filesystem.open_output_stream(path) as f:
        f.write(b"PAR1 this is not parquet")
    for call in (
        lambda: store.read("BTC/USDT", "1h"),
        store.datasets,
        lambda: store.write(wave("BTC/USDT", "1h", "2024-01-02", 10)),
    ):
        with pytest.raises(StoreError, match="damaged") as err:
            call()
        assert "fetch it again" in err.value.hint


_windows = st.lists(
    st.tuples(st.integers(0, 90 * 24), st.integers(1, 40 * 24), st.integers(1, 9)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=15, deadline=None)
@given(writes=_windows)
def test_merges_equal_a_last_writer_wins_reference(tmp_path_factory, writes) -> None:
    """Any sequence of overlapping writes reads back as a dict where later writes win."""
    store = MarketStore(tmp_path_factory.mktemp("merge") / "market")
    t0 = pd.Timestamp("2023-11-15", tz="UTC").value
    hour = 3_600_000_000_000
    reference: dict[int, tuple[float, ...]] = {}
    for offset, length, scale in writes:
        t = t0 + (offset + np.arange(length, dtype=np.int64)) * hour
        close = 100.0 + scale + np.sin(t / hour / 10.0)
        frame = make_ohlcv(t, close, close + 1, close - 1, close, np.full(length, float(scale)),
                           meta=MarketMeta("M/USD", "1h", "test"))  # fmt: skip
        store.write(frame)
        for i, ti in enumerate(t):
            reference[int(ti)] = (close[i], close[i] + 1, close[i] - 1, close[i], float(scale))
    back = store.read("M/USD", "1h")
    keys = sorted(reference)
    assert back.index.asi8.tolist() == keys
    assert back.to_numpy().tolist() == [list(reference[k]) for k in keys]
    (entry,) = store.datasets()
    assert entry.rows == len(keys)
