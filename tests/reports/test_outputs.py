"""The files of one backtest: result.json, trades.csv, equity.csv and report.html."""

from __future__ import annotations

import base64
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradpal.backtest import BacktestConfig, BacktestResult, run_backtest
from tradpal.data.contract import get_meta
from tradpal.data.importers import import_binance_klines
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.reports import (
    RESULT_SCHEMA,
    ReportError,
    backtest_report_html,
    to_jsonable,
    write_backtest_outputs,
)
from tradpal.reports.charts import MAX_DISPLAY_BARS
from tradpal.reports.html import SYNTHETIC_LABEL, format_metric, plotly_js
from tradpal.strategies import get_strategy


def _run(frame: pd.DataFrame, strategy: str = "ema_crossover", **config) -> tuple:
    strat = get_strategy(strategy)
    params = strat.params_for(frame, None)
    signals = strat.generate(frame, params)
    result = run_backtest(frame, signals, BacktestConfig(**config),
                          meta={"strategy": strat.name, "params": params})  # fmt: skip
    return result, strat.indicators(frame, params)


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    frame, _ = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    return frame


@pytest.fixture(scope="module")
def btc_run(btc: pd.DataFrame) -> tuple[BacktestResult, dict]:
    return _run(btc)


@pytest.fixture(scope="module")
def written(btc, btc_run, tmp_path_factory) -> dict[str, Path]:
    result, indicators = btc_run
    return write_backtest_outputs(result, btc, tmp_path_factory.mktemp("out") / "run",
                                  indicators=indicators)  # fmt: skip


def _strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"non-JSON constant {name} in the file")

    return json.loads(text, parse_constant=refuse)


# --- result.json ------------------------------------------------------------------------------


def test_files_are_written_where_asked(written):
    assert sorted(written) == ["equity", "report", "result", "trades"]
    assert [p.name for p in written.values()] == [
        "result.json", "trades.csv", "equity.csv", "report.html",
    ]  # fmt: skip
    assert all(p.is_file() and p.stat().st_size > 0 for p in written.values())
    assert not [p for p in written["result"].parent.iterdir() if p.name.startswith(".")]


def test_result_json_holds_what_the_result_holds(written, btc, btc_run):
    result, _ = btc_run
    doc = _strict_json(written["result"].read_text(encoding="utf-8"))
    assert doc["schema"] == RESULT_SCHEMA
    # metrics: every field, finite values exactly, non-finite ones as null
    assert set(doc["metrics"]) == set(result.metrics.to_dict())
    for name, value in doc["metrics"].items():
        original = getattr(result.metrics, name)
        if isinstance(original, float) and not math.isfinite(original):
            assert value is None
        else:
            assert value == original and type(value) is type(original), name
    # config round-trips into an equal BacktestConfig
    assert BacktestConfig.from_dict(doc["config"]) == result.config
    assert doc["meta"]["strategy"] == "ema_crossover"
    assert doc["meta"]["params"] == result.meta["params"]
    assert doc["meta"]["symbol"] == "BTC/USDT"
    assert doc["data"] == get_meta(btc).to_dict()
    assert doc["period"] == {
        "start": "2021-10-01T00:00:00+00:00", "end": "2022-10-31T23:00:00+00:00", "bars": 9504,
    }  # fmt: skip
    # trades: one object per ledger row, same values
    trades = result.trades
    assert len(doc["trades"]) == len(trades) == result.metrics.num_trades > 0
    back = pd.DataFrame(doc["trades"], columns=list(trades.columns))
    for col in ("entry_time", "exit_time"):
        back[col] = pd.to_datetime(back[col], utc=True).dt.as_unit("ns")
    pd.testing.assert_frame_equal(back, trades, check_dtype=False)


def test_result_json_equals_the_engines_own_dict(written, btc_run):
    # (trades are compared with the ledger above: they keep the column name "return")
    result, _ = btc_run
    doc = _strict_json(written["result"].read_text(encoding="utf-8"))
    engine = to_jsonable(result.to_dict())
    assert {k: doc[k] for k in ("metrics", "config", "meta")} == {
        k: engine[k] for k in ("metrics", "config", "meta")
    }


def test_undefined_metrics_are_null_not_nan():
    # Strictly rising prices and one long trade held to the end: no losing trade, so the
    # profit factor is infinite; the file says null and stays valid JSON.
    n = 300
    close = 100.0 * 1.001 ** np.arange(n)
    frame = generate_ohlcv(n, "1h", seed=0)
    frame[["open", "high", "low", "close"]] = np.column_stack([close, close, close, close])
    from tradpal.strategies import Signals

    entry = np.zeros(n, dtype=bool)
    entry[5] = True
    off = np.zeros(n, dtype=bool)
    signals = Signals(entry, off, off, off)
    result = run_backtest(frame, signals, BacktestConfig(sizing="all", stop_loss=None,
                                                         take_profit=None))  # fmt: skip
    assert math.isinf(result.metrics.profit_factor)
    from tradpal.reports import result_document

    text = json.dumps(result_document(result, frame), allow_nan=False)
    assert _strict_json(text)["metrics"]["profit_factor"] is None


# --- CSV files --------------------------------------------------------------------------------


def test_trades_csv_reads_back_equal(written, btc_run):
    result, _ = btc_run
    back = pd.read_csv(written["trades"], parse_dates=["entry_time", "exit_time"])
    for col in ("entry_time", "exit_time"):
        back[col] = back[col].dt.as_unit("ns")
    assert list(back.columns) == list(result.trades.columns)
    pd.testing.assert_frame_equal(back, result.trades, check_dtype=False, check_exact=True)


def test_equity_csv_reads_back_equal_bit_for_bit(written, btc, btc_run):
    result, _ = btc_run
    back = pd.read_csv(written["equity"], index_col="time", parse_dates=["time"])
    assert list(back.columns) == ["equity", "drawdown", "buy_and_hold"]
    assert back.index.equals(btc.index)
    assert np.array_equal(back["equity"].to_numpy(), result.equity.to_numpy())
    assert np.array_equal(back["drawdown"].to_numpy(), result.drawdown.to_numpy())
    close = btc["close"].to_numpy()
    assert np.array_equal(back["buy_and_hold"].to_numpy(), 10_000.0 * close / close[0])
    # the benchmark line ends where the metrics' buy-and-hold return says
    assert back["buy_and_hold"].iloc[-1] / 10_000.0 - 1.0 == pytest.approx(
        result.metrics.buy_and_hold_return, rel=1e-12
    )


def test_a_frame_other_than_the_backtests_is_refused(tmp_path, btc, btc_run):
    result, _ = btc_run
    with pytest.raises(ReportError, match="9504 equity values for 9503 bars") as info:
        write_backtest_outputs(result, btc.iloc[1:], tmp_path / "x")
    assert "same frame" in info.value.hint
    assert not (tmp_path / "x").exists()


# --- report.html ------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects what a browser would fetch, the scripts and the tables of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fetches: list[str] = []
        self.scripts: list[tuple[dict, str]] = []
        self.metric_rows: dict[str, list[str]] = {}
        self.title = ""
        self._stack: list[str] = []
        self._script: dict | None = None
        self._text: list[str] = []
        self._metric: str | None = None
        self._cells: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._stack.append(tag)
        for key in ("src", "href", "data", "poster", "srcset", "action"):
            if a.get(key):
                self.fetches.append(f"<{tag} {key}={a[key]}>")
        if tag == "script":
            self._script, self._text = a, []
        if tag == "tr" and "data-metric" in a:
            self._metric, self._cells = a["data-metric"], []
        if tag == "td" and self._metric is not None:
            self._cells.append("")

    def handle_endtag(self, tag):
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None
        if tag == "tr" and self._metric is not None:
            self.metric_rows[self._metric] = self._cells
            self._metric = None

    def handle_data(self, data):
        if self._script is not None:
            self._text.append(data)
        elif self._stack and self._stack[-1] == "title":
            self.title += data
        elif self._metric is not None and self._cells:
            self._cells[-1] += data


def _parse(html_text: str) -> _Page:
    page = _Page()
    page.feed(html_text)
    page.close()
    return page


def _figure(page: _Page) -> dict:
    specs = [text for attrs, text in page.scripts if attrs.get("type") == "application/json"]
    assert len(specs) == 1
    return json.loads(specs[0])


def _array(value) -> np.ndarray:
    if isinstance(value, dict):  # plotly's typed-array form
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value, dtype=np.float64)


def _ms(times: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8 / 1e6


@pytest.fixture(scope="module")
def report(written) -> str:
    return written["report"].read_text(encoding="utf-8")


def test_report_fetches_nothing_and_carries_plotly(report):
    page = _parse(report)
    assert page.fetches == []  # no src/href at all: nothing to load from anywhere
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=", report, re.I)
    assert plotly_js() in report and report.count(plotly_js()[:200]) == 1
    assert report.startswith("<!DOCTYPE html>") and report.rstrip().endswith("</html>")


def test_report_has_every_trade_marker_with_its_numbers(report, btc_run):
    result, _ = btc_run
    fig = _figure(_parse(report))
    traces = {t.get("name"): t for t in fig["data"]}
    trades = result.trades
    for side in ("long", "short"):
        part = trades[trades["side"] == side]
        assert len(part) > 0
        entry, exit_ = traces[f"{side.capitalize()} entry"], traces[f"{side.capitalize()} exit"]
        assert np.array_equal(_array(entry["x"]), _ms(part["entry_time"]))
        assert np.array_equal(_array(entry["y"]), part["entry_price"].to_numpy())
        assert np.array_equal(_array(exit_["y"]), part["exit_price"].to_numpy())
        for text, (_, row) in zip(exit_["hovertext"], part.iterrows(), strict=True):
            assert f"{side} exit ({row['exit_reason']})" in text
            assert f"PnL {row['pnl']:,.2f}" in text and f"qty {row['quantity']:,.6g}" in text
        assert entry["marker"]["symbol"] == ("triangle-up" if side == "long" else "triangle-down")


def test_report_draws_price_indicators_equity_benchmark_and_drawdown(report, btc, btc_run):
    result, indicators = btc_run
    fig = _figure(_parse(report))
    traces = {t.get("name"): t for t in fig["data"]}
    assert set(indicators) == {"ema_20", "ema_50"} <= set(traces)
    assert traces["ema_20"]["yaxis"] == "y" == traces["Long entry"]["yaxis"]  # price panel
    candles = traces["Price"]
    assert candles["type"] == "candlestick"
    k = math.ceil(len(btc) / MAX_DISPLAY_BARS)
    assert len(_array(candles["open"])) == math.ceil(len(btc) / k)
    assert _array(candles["high"]).max() == btc["high"].max()
    equity = _array(traces["Strategy equity"]["y"])
    assert equity[-1] == result.metrics.final_equity
    drawdown = _array(traces["Drawdown"]["y"])
    assert -drawdown.min() == result.metrics.max_drawdown  # decimation keeps the trough
    bench = _array(traces["Buy and hold"]["y"])
    assert bench[-1] / 10_000.0 - 1 == pytest.approx(result.metrics.buy_and_hold_return)
    assert all(fig["layout"][f"xaxis{i or ''}"]["type"] == "date" for i in range(4) if i != 1)


def test_report_metrics_table_lists_every_metric(report, btc_run):
    result, _ = btc_run
    rows = _parse(report).metric_rows
    assert list(rows) == list(result.metrics.to_dict())
    for name, (label, value) in rows.items():
        assert value == format_metric(name, getattr(result.metrics, name)), name
        assert label
    assert rows["total_return"][1] == f"{result.metrics.total_return:+.2%}"
    assert rows["num_trades"][1] == f"{result.metrics.num_trades:,}"


def test_real_data_is_not_labelled_synthetic(report):
    page = _parse(report)
    assert page.title == "BTC/USDT 1h · ema_crossover — backtest"
    assert SYNTHETIC_LABEL not in report.replace(plotly_js(), "")


def test_synthetic_data_is_labelled_in_title_chart_and_banner():
    frame = generate_ohlcv(800, "1h", seed=11)
    result, indicators = _run(frame, "rsi_reversal")
    text = backtest_report_html(result, frame, indicators)
    page = _parse(text)
    assert page.title.endswith(SYNTHETIC_LABEL)
    assert "id='synthetic-banner'" in text
    assert _figure(page)["layout"]["title"]["text"].endswith(SYNTHETIC_LABEL)
    traces = {t["name"]: t for t in _figure(page)["data"]}
    rsi_name = next(n for n in indicators if n.startswith("rsi"))
    assert traces[rsi_name]["yaxis"] == "y2"  # the oscillator's own panel


def test_long_series_stay_small_and_keep_every_trade(tmp_path):
    n = 150_000
    frame = generate_ohlcv(n, "5m", seed=4)
    result, indicators = _run(frame)
    paths = write_backtest_outputs(result, frame, tmp_path, indicators=indicators)
    size = paths["report"].stat().st_size
    fig = _figure(_parse(paths["report"].read_text(encoding="utf-8")))
    traces = {t["name"]: t for t in fig["data"]}
    assert len(_array(traces["Price"]["open"])) <= MAX_DISPLAY_BARS
    for name in ("Strategy equity", "Drawdown", *indicators):
        assert len(_array(traces[name]["y"])) <= 2 * MAX_DISPLAY_BARS + 2
    markers = sum(len(_array(traces[f"{s} entry"]["y"])) for s in ("Long", "Short"))
    assert markers == len(result.trades) > 500
    data_bytes = size - len(plotly_js().encode())
    assert data_bytes < 3_000_000, f"{data_bytes:,} bytes of data for {n:,} bars"
