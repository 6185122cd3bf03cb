"""The market store's partitioning against one Parquet file per dataset, on a local disk.

Two years of 1m bars (about 1.07 million). The store splits them into monthly
files; the reference keeps the whole dataset in one Parquet file (same codec),
as a store without partitions would. Measured side by side, best of several:

* appending one day of bars (the daily ingest): the store rewrites the newest
  month; the reference must rewrite the whole file;
* reading one day: the store opens one month file and skips row groups; the
  reference reads the file with the same pyarrow filter;
* reading everything: the store's overhead (several files, meta) over one file.

Run: .venv/bin/python benchmarks/bench_store.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from timing import best

REPEATS = 5
DAYS = 745  # ends mid-month: an append rewrites a half-full month file


def frame(start: str, n: int, seed: int = 42) -> pd.DataFrame:
    from tradpal.data.contract import MarketMeta, make_ohlcv

    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    o = np.r_[c[0], c[:-1]]
    h = np.maximum(o, c) * (1 + np.abs(rng.normal(0.0, 0.0005, n)))
    lo = np.minimum(o, c) * (1 - np.abs(rng.normal(0.0, 0.0005, n)))
    t = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    return make_ohlcv(
        t, o, h, lo, c, rng.gamma(2.0, 5.0, n), meta=MarketMeta("BTC/USDT", "1m", "bench")
    )


def main() -> dict[str, float]:
    from tradpal.data.store import MarketStore

    history = frame("2022-01-01", DAYS * 1440)
    day = frame(str(history.index[-1] + pd.Timedelta(minutes=1)), 1440, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        store = MarketStore(Path(tmp) / "market")
        store.write(history)
        single = Path(tmp) / "single.parquet"

        def single_append() -> None:
            # The unpartitioned layout's append: read all, merge by timestamp, rewrite all.
            old = store_read(single)
            merged = pd.concat([old.loc[~old.index.isin(day.index)], day])
            write_single(single, merged)

        def reset_single() -> None:
            write_single(single, history)

        reset_single()
        lo, hi = history.index[-2000], history.index[-2000] + pd.Timedelta(days=1)
        t_append = best(
            {
                "store": lambda: store.write(day),
                "single_file": single_append,
            },
            REPEATS,
        )
        reset_single()
        t_day = best(
            {
                "store": lambda: store.read("BTC/USDT", "1m", lo, hi),
                "single_file": lambda: pq.read_table(
                    single, filters=[("time", ">=", lo), ("time", "<", hi)]
                ).to_pandas(),
            },
            REPEATS,
        )
        t_all = best(
            {
                "store": lambda: store.read("BTC/USDT", "1m"),
                "single_file": lambda: store_read(single),
            },
            REPEATS,
        )
    figures = {
        "bars": float(len(history)),
        "append_day_store_s": t_append["store"],
        "append_day_single_file_s": t_append["single_file"],
        "append_speedup": t_append["single_file"] / t_append["store"],
        "read_day_store_s": t_day["store"],
        "read_day_single_file_s": t_day["single_file"],
        "read_day_ratio": t_day["store"] / t_day["single_file"],
        "read_all_store_s": t_all["store"],
        "read_all_single_file_s": t_all["single_file"],
        "read_all_ratio": t_all["store"] / t_all["single_file"],
    }
    print(f"{len(history):,} 1m bars, best of {REPEATS}")
    for what in ("append_day", "read_day", "read_all"):
        s, r = figures[f"{what}_store_s"], figures[f"{what}_single_file_s"]
        print(
            f"  {what:<11} store {s * 1e3:8.1f} ms   one file {r * 1e3:8.1f} ms"
            f"   ratio {s / r:5.2f}"
        )
    return figures


def write_single(path: Path, data: pd.DataFrame) -> None:
    """One Parquet file with the store's own encoding, replaced atomically."""
    from tradpal.data.contract import get_meta
    from tradpal.data.store.codec import encode, frame_record

    record = frame_record("all", data, get_meta(data), 100.0, {}, time.time_ns())
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(encode(data, record).to_pybytes())
    tmp.replace(path)


def store_read(path: Path) -> pd.DataFrame:
    from tradpal.data.contract import get_meta
    from tradpal.data.store.codec import record_from_metadata, table_to_frame

    table = pq.read_table(path)
    meta = record_from_metadata("all", table.schema.metadata, -1).meta
    out = table_to_frame(table, meta)
    assert get_meta(out) is not None
    return out


if __name__ == "__main__":
    main()
