"""Peak memory of importing ten years of 1-minute Kaggle Bitcoin candles.

Writes a deterministic Kaggle-format CSV (older variant: ``Volume_(BTC)``,
``Volume_(Currency)``, ``Weighted_Price`` and all-NaN rows for minutes without
trades) of ~5.3 million rows into a temporary directory, then imports it in a
fresh subprocess and reads that process's peak resident set size
(``VmHWM`` in ``/proc/self/status``). The budget is 2 GB. The
same import with ``resample_to="1h"`` is measured beside it, and the bare
interpreter with the library imported as the reference floor.

Run: ``.venv/bin/python benchmarks/bench_import_memory.py [rows]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = 5_256_000  # ten years of minutes (10 * 365 * 1440 = 5,256,000)
BUDGET_MB = 2048
EMPTY_EVERY = 97  # every 97th minute has no trades: an all-NaN row, as in the Kaggle file

_CHILD = """
import json, sys, time
from tradpal.data.importers import import_kaggle_btc
path, resample = sys.argv[1], sys.argv[2] or None
t0 = time.perf_counter()
rows = 0
if path != "-":
    frame, report = import_kaggle_btc(path, resample_to=resample)
    rows = len(frame)
seconds = time.perf_counter() - t0
# VmHWM of this process's own memory map (kB): ru_maxrss would carry the peak of the
# process that started it across fork and exec.
peak_kb = int(next(x for x in open("/proc/self/status") if x.startswith("VmHWM:")).split()[1])
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_kb / 1024}))
"""


def write_kaggle_csv(path: Path, rows: int = ROWS, *, seed: int = 0) -> int:
    """Write a deterministic Kaggle-format CSV of ``rows`` minutes; return its size in bytes."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from tradpal.data.sources.synthetic import SYNTHETIC_ORIGIN, SyntheticSource

    start = 1325376000  # 2012-01-01 00:00 UTC, where the Kaggle file begins
    chunk = 1_000_000
    source = SyntheticSource(seed=seed)  # one continuous series, fetched a chunk at a time
    with pacsv.CSVWriter(str(path), _schema()) as writer:
        for k0 in range(0, rows, chunk):
            n = min(chunk, rows - k0)
            t0 = SYNTHETIC_ORIGIN + pd.Timedelta(minutes=k0)
            frame = source.fetch("BTC/USD", "1m", t0, t0 + pd.Timedelta(minutes=n))
            o, h, lo, c, v = (frame[col].to_numpy() for col in frame.columns)
            empty = (np.arange(k0, k0 + n) % EMPTY_EVERY) == EMPTY_EVERY - 1
            cols = [np.where(empty, np.nan, x) for x in (o, h, lo, c, v, v * c, (h + lo) / 2)]
            ts = (start + 60 * np.arange(k0, k0 + n)).astype(np.float64)
            writer.write_table(pa.table([ts, *cols], schema=_schema()))
    return path.stat().st_size


def _schema():
    import pyarrow as pa

    names = ["Timestamp", "Open", "High", "Low", "Close", "Volume_(BTC)", "Volume_(Currency)",
             "Weighted_Price"]  # fmt: skip
    return pa.schema([(n, pa.float64()) for n in names])


def _measure(path: str, resample: str = "") -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, path, resample], check=True,
                         capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(rows: int = ROWS) -> dict:
    """Generate, import (plain and resampled to 1h) and report peak RSS in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bitstampUSD_1-min_data.csv"
        t0 = time.perf_counter()
        # In a child too: Linux carries a parent's peak RSS into children it forks, so
        # this process stays small and the measurements below are the importer's own.
        subprocess.run([sys.executable, __file__, "--write", str(path), str(rows)], check=True)
        size = path.stat().st_size
        write_s = time.perf_counter() - t0
        floor = _measure("-")
        plain = _measure(str(path))
        hourly = _measure(str(path), "1h")
    result = {
        "rows_in_file": rows,
        "file_mb": round(size / 2**20, 1),
        "write_seconds": round(write_s, 1),
        "budget_mb": BUDGET_MB,
        "interpreter_peak_mb": round(floor["peak_mb"], 1),
        "import_rows": plain["rows"],
        "import_seconds": round(plain["seconds"], 1),
        "import_peak_mb": round(plain["peak_mb"], 1),
        "resample_1h_rows": hourly["rows"],
        "resample_1h_seconds": round(hourly["seconds"], 1),
        "resample_1h_peak_mb": round(hourly["peak_mb"], 1),
    }
    result["within_budget"] = max(plain["peak_mb"], hourly["peak_mb"]) < BUDGET_MB
    result["budget_used"] = round(plain["peak_mb"] / BUDGET_MB, 3)
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_kaggle_csv(Path(sys.argv[2]), int(sys.argv[3]))
        sys.exit(0)
    res = main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
    for key, value in res.items():
        print(f"{key:>22}: {value}")
    print(f"peak {res['import_peak_mb']} MB of the {BUDGET_MB} MB budget "
          f"({'OK' if res['within_budget'] else 'OVER'})")  # fmt: skip
