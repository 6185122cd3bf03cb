"""The command line end to end: real commands, real store under a temporary TRADPAL_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradpal.cli.console import fmt
from tradpal.cli.main import run
from tradpal.data.contract import get_meta, with_meta
from tradpal.data.sources.synthetic import SyntheticSource
from tradpal.data.store import MarketStore
from tradpal.indicators import add_indicators


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_stores_the_sample_and_summarises(capsys, _isolated_home: Path) -> None:
    code, out, _ = _run(capsys, "demo", "--bars", "600")
    assert code == 0
    assert "SYNTHETIC" in out and "quality: score 100.0/100" in out
    assert "rsi_14" in out and "trend (EMA 9 vs 21)" in out
    entries = MarketStore(_isolated_home / "market").datasets()
    assert [(e.symbol, e.timeframe, e.rows, e.synthetic) for e in entries] == [
        ("SYN/USD", "1h", 600, True)
    ]


def test_heavy_profile_demo_shows_the_higher_timeframe(capsys, monkeypatch) -> None:
    monkeypatch.setenv("TRADPAL_PROFILE", "heavy")
    code, out, _ = _run(capsys, "demo", "--bars", "600")
    assert code == 0
    assert "ema_21_4h" in out and "adx" in out and "macd_hist" in out


def test_sample_then_list_then_indicators_match_the_library(capsys, _isolated_home) -> None:
    assert _run(capsys, "data", "sample", "--bars", "300", "--timeframe", "4h")[0] == 0
    code, out, _ = _run(capsys, "data", "list")
    assert code == 0 and "SYN/USD" in out and "300" in out
    code, out, _ = _run(
        capsys, "indicators", "-s", "SYN/USD", "-t", "4h", "--set", "rsi:7,ema:5", "--tail", "1"
    )
    assert code == 0
    frame = MarketStore(_isolated_home / "market").read("SYN/USD", "4h")
    assert len(frame) == 300 and frame.equals(
        SyntheticSource(seed=42).fetch(
            "SYN/USD", "4h", frame.index[0], frame.index[-1] + pd.Timedelta("4h")
        )
    )
    expected = add_indicators(frame, [{"kind": "rsi", "period": 7}, {"kind": "ema", "period": 5}])
    assert fmt(float(expected["rsi_7"].iloc[-1])) in out
    assert fmt(float(expected["ema_5"].iloc[-1])) in out


def test_list_prints_every_quality_score_with_one_decimal(capsys, _isolated_home) -> None:
    assert _run(capsys, "data", "sample", "--bars", "300")[0] == 0
    store = MarketStore(_isolated_home / "market")
    sample = store.read("SYN/USD", "1h")
    gappy = sample.drop(sample.index[100:110])  # ten missing bars: a gaps warning
    store.write(with_meta(gappy, get_meta(sample).evolve(symbol="GAP/USD")), policy="report")
    scores = {e.symbol: e.quality_score for e in store.datasets()}
    assert scores["SYN/USD"] == 100.0 and 90 < scores["GAP/USD"] < 100
    code, out, _ = _run(capsys, "data", "list")
    assert code == 0
    shown = [row.split("│")[-2].strip() for row in out.splitlines() if "/USD" in row]
    assert shown == [f"{scores['GAP/USD']:.1f}", "100.0"]  # was 9x.xxxx beside 100.00


def test_indicators_can_write_every_row(capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "ind.csv"
    code, _, _ = _run(capsys, "indicators", "--source", "sample", "--out", str(out_file))
    assert code == 0
    written = pd.read_csv(out_file, index_col=0)
    assert len(written) == 5000 and {"ema_9", "atr_14"} <= set(written.columns)


def test_import_real_binance_export_then_validate_stored(capsys, shared_data: Path) -> None:
    code, out, _ = _run(
        capsys, "data", "import", str(shared_data / "BTCUSDT-1h.csv"), "--symbol", "BTC/USDT"
    )
    assert code == 0 and "stored 9504 bar(s): 9504 new" in out
    code, out, _ = _run(capsys, "data", "validate", "--symbol", "BTC/USDT", "--timeframe", "1h")
    assert code == 0 and "score 100.0/100, ok" in out


def test_messy_file_is_rejected_then_repaired(capsys, shared_data: Path, _isolated_home) -> None:
    messy = str(shared_data / "BTCUSDT-30min.csv")
    code, out, err = _run(capsys, "data", "validate", messy)
    assert code == 1 and "unsorted_timestamps" in out and "missing_columns" in out
    code, _, err = _run(capsys, "data", "import", messy, "--symbol", "BTC/USD")
    assert code == 2 and "unsorted_timestamps" in err and "hint:" in err
    assert "Traceback" not in err
    assert MarketStore(_isolated_home / "market").datasets() == []  # nothing stored
    code, out, _ = _run(
        capsys, "data", "import", messy, "--symbol", "BTC/USD", "--policy", "repair"
    )
    assert code == 0 and "repaired:" in out
    stored = MarketStore(_isolated_home / "market").read("BTC/USD", "30m")
    assert len(stored) == 499 or len(stored) == 500
    assert stored.index.is_monotonic_increasing


def _report_row(out: str, rule: str) -> str:
    """The table row of ``rule`` in a printed quality report."""
    return next(line for line in out.splitlines() if f" {rule} " in line)


def test_validate_names_the_missing_columns_and_obeys_the_policy(capsys, shared_data) -> None:
    messy = str(shared_data / "BTCUSDT-30min.csv")  # no volume column, rows in reverse
    code, out, _ = _run(capsys, "data", "validate", messy)  # reject, the default
    assert code == 1 and "FAILED" in out
    cells = [c.strip() for c in _report_row(out, "missing_columns").split("│")]
    assert cells[1:5] == ["missing_columns", "error", "1", "volume"]
    code, out, _ = _run(capsys, "data", "validate", messy, "--policy", "reject")
    assert code == 1
    code, report_out, _ = _run(capsys, "data", "validate", messy, "--policy", "report")
    assert code == 0 and report_out == out  # the same report, but status 0
    code, out, _ = _run(capsys, "data", "validate", messy, "--policy", "repair")
    assert code == 0
    assert "a repair would: volume column was missing: set to 0.0 (volume unknown)" in out
    assert "a repair would: sorted rows into ascending time order (499 row(s) out of order)" in out
    assert "after a repair (nothing written)" in out and "score 95.0/100, ok" in out
    code, out, err = _run(capsys, "data", "validate", messy, "--policy", "mend")
    assert code == 2 and "'mend' is not one of 'reject', 'repair', 'report'" in out + err


def test_validate_repair_of_hopeless_data_exits_1_and_kaggle_files_validate(
    capsys, tmp_path: Path, _isolated_home
) -> None:
    hopeless = tmp_path / "negative.csv"
    hopeless.write_text(
        "date,open,high,low,close,volume\n2024-01-01,-1,-1,-1,-1,1\n2024-01-02,-1,-1,-1,-1,1\n"
    )
    code, out, err = _run(capsys, "data", "validate", str(hopeless), "--policy", "repair")
    assert code == 1 and "non_positive_prices" in out
    assert "cannot repair: no valid rows are left" in err and "Traceback" not in err
    kaggle = tmp_path / "k.csv"  # validate passed timeframe= to the Kaggle importer: a crash
    kaggle.write_text(
        "Timestamp,Open,High,Low,Close,Volume\n"
        + "".join(f"{1325376000 + 60 * i},1,2,0.5,1.5,3\n" for i in range(3))
    )
    code, out, err = _run(capsys, "data", "validate", str(kaggle), "--policy", "repair")
    assert code == 0 and "score 100.0/100, ok" in out and "a repair would change nothing" in out
    assert MarketStore(_isolated_home / "market").datasets() == []  # validate writes nothing


def _listed_symbols(out: str) -> list[str]:
    """The symbol column of `data list`, a symbol folded over several lines joined again."""
    symbols: list[str] = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) < 3:
            continue
        if cells[2]:  # the timeframe cell starts a dataset's row
            symbols.append(cells[1])
        elif symbols:
            symbols[-1] += cells[1]
    return symbols


def test_futures_file_keeps_its_market_apart_from_spot(
    capsys, shared_data: Path, _isolated_home
) -> None:
    futures = str(shared_data / "XRP_USDT_USDT-5m-futures.feather")
    code, out, err = _run(capsys, "data", "import", futures)
    assert code == 0, err
    assert "imported 1999 bar(s) of XRP/USDT:USDT 5m" in out
    assert "market: futures, from the file name (--market spot" in " ".join(out.split())
    code, out, err = _run(capsys, "data", "import", futures, "--market", "spot")
    assert code == 0 and "imported 1999 bar(s) of XRP/USDT 5m" in out, err
    code, out, err = _run(
        capsys, "data", "import", futures, "--symbol", "XRP/USDC", "--market", "futures"
    )
    assert code == 0 and "of XRP/USDC:USDC 5m" in out, err
    store = MarketStore(_isolated_home / "market")
    assert sorted((e.symbol, e.rows) for e in store.datasets()) == [
        ("XRP/USDC:USDC", 1999), ("XRP/USDT", 1999), ("XRP/USDT:USDT", 1999)
    ]  # fmt: skip
    assert sorted(p.name for p in (_isolated_home / "market" / "ohlcv").iterdir()) == [
        "symbol=XRP%2FUSDC%3AUSDC", "symbol=XRP%2FUSDT", "symbol=XRP%2FUSDT%3AUSDT"
    ]  # fmt: skip
    assert store.read("XRP/USDT:USDT", "5m").equals(store.read("XRP/USDT", "5m"))
    code, out, _ = _run(capsys, "data", "list")
    assert code == 0
    assert sorted(_listed_symbols(out)) == ["XRP/USDC:USDC", "XRP/USDT", "XRP/USDT:USDT"]
    code, out, _ = _run(capsys, "data", "validate", "-s", "XRP/USDT:USDT", "-t", "5m")
    assert code == 0 and "quality of stored XRP/USDT:USDT 5m: 1999 rows" in out
    code, out, err = _run(capsys, "data", "import", futures, "--market", "perpetual")
    assert code == 2 and "'perpetual' is not one of 'spot', 'futures'" in out + err


def test_wrong_format_hints_at_the_commands_generic_import(
    capsys, shared_data: Path, tmp_path: Path
) -> None:
    feather = str(shared_data / "ETH_BTC-5m.feather")
    code, _, err = _run(capsys, "data", "import", feather, "--format", "binance")
    text = " ".join(err.split())  # rich wraps long lines
    assert code == 2 and "Traceback" not in err
    assert "ETH_BTC-5m.feather is a Feather file, not a Binance kline export (a CSV file)" in text
    assert "hint: import it as a generic table: --format file, or auto (the default)" in text
    messy = str(shared_data / "BTCUSDT-30min.csv")
    code, _, err = _run(capsys, "data", "import", messy, "--format", "binance")
    text = " ".join(err.split())
    assert code == 2 and "no column for time, volume" in text
    assert (
        "hint: Binance exports have open_time, open, high, low, close and volume; import it as "
        "a generic table: --format file (columns found by name), with --map time=<column>"
    ) in text
    assert "columns in the file: datetime, open, high, low, close" in text
    # ... and what the hint says works
    args = ("data", "import", messy, "--format", "file", "--symbol", "BTC/USD")
    code, out, err = _run(capsys, *args, "--policy", "repair", "--no-store")
    assert code == 0 and "imported 500 bar(s) of BTC/USD 30m" in out, err
    no_time = tmp_path / "no_time.csv"
    no_time.write_text("when,open,high,low,close\n2024-01-01,1,1,1,1\n2024-01-02,1,1,1,1\n")
    code, _, err = _run(capsys, "data", "import", str(no_time))
    text = " ".join(err.split())
    assert code == 2 and "hint: map it: --map time=<column> on the command line" in text
    assert "columns in the file: when, open, high, low, close" in text


def test_kaggle_import_with_resampling(capsys, tmp_path: Path, _isolated_home) -> None:
    minutes = 3 * 60
    t0 = 1_325_376_000  # 2012-01-01 00:00 UTC
    price = 100 + np.cumsum(np.sin(np.arange(minutes)))
    kaggle = pd.DataFrame(
        {
            "Timestamp": (t0 + 60 * np.arange(minutes)).astype(float),
            "Open": price,
            "High": price + 1,
            "Low": price - 1,
            "Close": price + 0.5,
            "Volume": np.full(minutes, 2.0),
        }
    )
    path = tmp_path / "btcusd_1-min_data.csv"
    kaggle.to_csv(path, index=False)
    code, _out, _ = _run(
        capsys, "data", "import", str(path), "--format", "kaggle", "--resample", "1h"
    )
    assert code == 0
    stored = MarketStore(_isolated_home / "market").read("BTC/USD", "1h")
    assert len(stored) == 3
    assert stored["volume"].tolist() == [120.0, 120.0, 120.0]
    assert stored["open"].iloc[1] == price[60] and stored["close"].iloc[1] == price[119] + 0.5


def test_backtest_json_with_out_writes_the_files_and_prints_only_json(
    capsys, tmp_path: Path
) -> None:
    out = tmp_path / "bt"
    args = ("backtest", "--strategy", "ema_crossover", "--source", "sample", "--json")
    code, text, err = _run(capsys, *args, "--out", str(out))
    assert code == 0, err
    printed = json.loads(text)  # stdout is the JSON alone: no tables beside it
    assert sorted(p.name for p in out.iterdir()) == [
        "equity.csv", "report.html", "result.json", "trades.csv"
    ]  # fmt: skip
    written = json.loads((out / "result.json").read_text())
    assert written["metrics"] == printed["metrics"] and written["trades"] == printed["trades"]
    assert len(pd.read_csv(out / "trades.csv")) == printed["num_trades"] > 0
    code, text, err = _run(
        capsys, *args, "--strategy", "rsi_reversal", "--out", str(tmp_path / "two")
    )
    assert code == 0, err
    assert sorted(json.loads(text)["runs"]) == ["ema_crossover", "rsi_reversal"]
    compare = pd.read_csv(tmp_path / "two" / "comparison.csv", index_col=0)
    assert list(compare.index) == ["ema_crossover", "rsi_reversal"]
    assert (tmp_path / "two" / "rsi_reversal" / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("data", "download", "--symbol", "BTC/USDT", "--start", "2024-01-01", "--source", "nope"),
         "bad data source 'nope'"),
        (("indicators", "--source", "sample", "--set", "ema"), "ema needs the parameter"),
        (("indicators", "--source", "sample", "-t", "7m"), "TRADPAL_TIMEFRAME"),
        (("data", "import", "missing.csv"), "no such file"),
        (("data", "import", "x.csv", "--map", "time"), "NAME=COLUMN"),  # before the file
        (("data", "import", "--bogus"), "No such option"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_message_not_a_traceback(capsys, args, message: str) -> None:
    code, out, err = _run(capsys, *args)
    assert code == 2
    assert message in out + err
    assert "Traceback" not in out + err


def test_bad_environment_stops_every_command(capsys, monkeypatch) -> None:
    monkeypatch.setenv("TRADPAL_PROFILE", "medium")
    code, _, err = _run(capsys, "data", "list")
    assert code == 2 and "TRADPAL_PROFILE" in err and "'light' or 'heavy'" in err


def test_config_shows_where_each_setting_came_from(capsys, monkeypatch) -> None:
    monkeypatch.setenv("TRADPAL_TIMEFRAME", "4h")
    code, out, _ = _run(capsys, "config")
    assert code == 0
    line = next(row for row in out.splitlines() if "timeframe" in row)
    assert "4h" in line and "environment" in line


def test_console_script_runs_in_a_fresh_process(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("tradpal")
    env = {**os.environ, "TRADPAL_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(exe), "demo", "--bars", "200"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "summary" in done.stdout
    bad = subprocess.run(
        [str(exe), "data", "validate", str(tmp_path / "none.csv")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "error:" in bad.stderr


def test_download_fetches_only_what_is_missing(capsys, _isolated_home: Path) -> None:
    args = ("data", "download", "-s", "SYN/USD", "-t", "1h", "--source", "synthetic:seed=3")
    code, out, _ = _run(capsys, *args, "--start", "2024-01-01", "--end", "2024-01-03")
    assert code == 0 and "stored 48 new bar(s)" in out
    code, out, _ = _run(capsys, *args, "--start", "2024-01-01", "--end", "2024-01-04")
    assert code == 0 and "stored 24 new bar(s)" in out  # only the missing day
    stored = MarketStore(_isolated_home / "market").read("SYN/USD", "1h")
    expected = SyntheticSource(seed=3).fetch(
        "SYN/USD", "1h", pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-04", tz="UTC")
    )
    assert stored.index.equals(expected.index)
    assert np.array_equal(stored.to_numpy(), expected.to_numpy())
