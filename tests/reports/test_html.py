"""The report draws in a real browser, offline (headless Chromium; skipped without one)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tradpal.backtest import BacktestConfig, run_backtest
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.reports import write_backtest_outputs
from tradpal.strategies import get_strategy

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell")


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless Chromium installed (optional check)")


def test_report_renders_every_panel_and_marker_offline(tmp_path):
    browser = _browser()
    frame = generate_ohlcv(1500, "1h", seed=8)
    strat = get_strategy("confluence")
    params = strat.params_for(frame, None)
    result = run_backtest(frame, strat.generate(frame, params),
                          BacktestConfig(sizing="fraction:0.5"))  # fmt: skip
    assert len(result.trades) > 0
    paths = write_backtest_outputs(result, frame, tmp_path / "run",
                                   indicators=strat.indicators(frame, params))  # fmt: skip
    # --no-proxy-server and an unroutable proxy: any attempt to fetch would fail the page
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--proxy-server=127.0.0.1:9",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom",
         paths["report"].as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Uncaught" not in proc.stderr, proc.stderr[-2000:]
    assert dom.count('class="main-svg"') >= 2  # plotly drew the figure
    panels = set(re.findall(r'class="(?:xy|x\d+y\d+)"', dom))
    assert len(panels) >= 4  # price, an oscillator, equity, drawdown
    drawn_markers = len(re.findall(r'<path class="point"', dom))
    assert drawn_markers == 2 * len(result.trades)  # every entry and every exit
