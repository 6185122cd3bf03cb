"""The walk-forward page, on windows backtested for real (plan, runs and stability)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from tradpal.backtest import BacktestConfig, run_backtest
from tradpal.data.importers import import_binance_klines
from tradpal.optimize import plan_windows, stability
from tradpal.reports import BELIEVE_OOS, ReportError, walkforward_report_html
from tradpal.reports.html import plotly_js
from tradpal.strategies import get_strategy


@pytest.fixture(scope="module")
def walk(shared_data: Path):
    """A rolling walk-forward of ema_crossover on real BTC 1h: each window's params are the
    best of a small grid in sample (by Sharpe), then traded out of sample and stitched."""
    frame, _ = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    frame = frame.iloc[:3000]
    strat = get_strategy("ema_crossover")
    config = BacktestConfig(sizing="fraction:0.5")
    grid = [{"fast": f, "slow": s} for f in (9, 20) for s in (50, 100)]
    windows, pieces, oos_returns, capital = [], [], [], config.capital
    for w in plan_windows(len(frame), in_sample=1000, out_sample=500, step=500):
        is_frame = frame.iloc[w.is_start : w.is_end]
        runs = [(p, run_backtest(is_frame, strat.generate(is_frame, p), config)) for p in grid]
        best, is_run = max(runs, key=lambda pr: pr[1].metrics.sharpe)
        oos_frame = frame.iloc[w.oos_start : w.oos_end]
        oos_run = run_backtest(oos_frame, strat.generate(oos_frame, best), config)
        pieces.append(oos_run.equity / config.capital * capital)
        capital = float(pieces[-1].iloc[-1])
        oos_returns.append(oos_run.metrics.total_return)
        windows.append({**w.to_dict(), "params": best, "is_metrics": is_run.metrics,
                        "oos_metrics": oos_run.metrics})  # fmt: skip
    result = SimpleNamespace(
        windows=windows,
        oos_equity=pd.concat(pieces),
        oos_metrics=oos_run.metrics,
        stability=stability(oos_returns),
        config=config,
        meta={"symbol": "BTC/USDT", "timeframe": "1h", "strategy": "ema_crossover"},
    )
    return result, frame


def test_walkforward_page_says_what_to_believe_and_shows_every_window(walk):
    result, frame = walk
    text = walkforward_report_html(result, frame)
    assert "<title>BTC/USDT 1h · ema_crossover — walk-forward</title>" in text
    assert BELIEVE_OOS.replace("'", "&#x27;") in text
    rating = result.stability.rating
    assert f"<strong id='stability-rating'>{rating}</strong>" in text
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=", text, re.I)
    assert plotly_js() in text
    table = text[text.index("<table class='windows'>") :]
    table = table[: table.index("</table>")]
    header = re.findall(r"<th>(.*?)</th>", table)
    assert header[:5] == ["index", "is_start", "is_end", "oos_start", "oos_end"]
    assert header[6:8] == ["IS total_return", "OOS total_return"]
    assert table.count("<tr>") == len(result.windows) + 1 == 5
    first_oos = result.windows[0]["oos_metrics"].total_return
    assert f"<td>{first_oos:+.2%}</td>" in table
    spec = re.search(r"data-figure='walkforward-chart'>(.*?)</script>", text, re.S).group(1)
    names = [t["name"] for t in json.loads(spec)["data"]]
    assert names == ["Out-of-sample equity (stitched)", "Buy and hold (same bars)", "Drawdown"]


def test_walkforward_report_refuses_other_objects(walk):
    _, frame = walk
    with pytest.raises(ReportError, match="no stitched out-of-sample equity"):
        walkforward_report_html(object(), frame)
