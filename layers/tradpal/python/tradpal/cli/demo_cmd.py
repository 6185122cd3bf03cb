"""``tradpal demo``: the main job until the platform exists.

Stores the offline sample (or downloads real candles with ``--source``), checks
its quality, computes the profile's indicators (and, in the heavy profile, a
higher-timeframe trend without look-ahead), backtests a strategy on it and
writes the report, then prints a summary and where the report is.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import typer

from tradpal.cli.console import console, fmt, progress_bar, table
from tradpal.config import load_settings

# The higher timeframe shown next to each base timeframe in the heavy profile.
_HIGHER = {"1m": "15m", "3m": "15m", "5m": "1h", "15m": "1h", "30m": "4h", "1h": "4h",
           "2h": "1d", "4h": "1d", "6h": "1d", "12h": "1w", "1d": "1w"}  # fmt: skip


def demo(
    data: Annotated[
        str,
        typer.Option(
            "--source", help="sample (offline, synthetic) or a source spec such as ccxt:binance"
        ),
    ] = "sample",
    symbol: Annotated[str | None, typer.Option("--symbol", "-s")] = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", "-t")] = None,
    bars: Annotated[int, typer.Option(min=50, help="bars of history")] = 5000,
    strategy: Annotated[str, typer.Option(help="strategy to backtest")] = "ema_crossover",
) -> None:
    """Get data, check its quality, compute indicators, backtest and print a summary."""
    from tradpal.data.contract import get_meta
    from tradpal.data.loading import SAMPLE_SYMBOL, sample_range
    from tradpal.data.quality import check_quality
    from tradpal.data.sources.registry import make_source
    from tradpal.data.sources.synthetic import SyntheticSource
    from tradpal.data.store import MarketStore
    from tradpal.indicators import add_indicators

    settings = load_settings(timeframe=timeframe)
    sample = data == "sample"
    sym = symbol or (SAMPLE_SYMBOL if sample else settings.symbol)
    tf = settings.timeframe
    console.rule(f"TradPal demo: profile {settings.profile}, {sym} {tf}")

    # 1. Data: stored incrementally, so a second run fetches only new bars.
    source = SyntheticSource(seed=settings.seed) if sample else make_source(data)
    store = MarketStore.from_settings(settings)
    start, end = sample_range(tf, bars)
    with progress_bar(f"1/4 data from {source.name}") as update:
        store.update(source, sym, tf, start, end, progress=update, policy=settings.quality_policy)
    frame = store.read(sym, tf, start, end)
    meta = get_meta(frame)
    label = meta.label if meta else sym

    # 2. Quality.
    report = check_quality(frame, timeframe=tf)
    problems = [(r.name, r.severity, r.count) for r in (*report.failed, *report.warnings)]
    console.print(
        table(
            f"2/4 quality: score {report.score:.1f}/100, {'ok' if report.ok else 'FAILED'}",
            ["rule", "severity", "count"],
            problems or [(f"all {len(report.rules)} rules passed", "", 0)],
            numeric=("count",),
        )
    )

    # 3. Indicators.
    result = add_indicators(frame, settings.indicator_set)
    higher = _HIGHER.get(tf) if settings.multi_timeframe_enabled else None
    if higher:
        from tradpal.indicators.mtf import add_mtf_indicators

        result = add_mtf_indicators(result, higher, [{"kind": "ema", "period": 21}])
    last = result.iloc[-1]
    added = [c for c in result.columns if c not in frame.columns]
    console.print(
        table(
            f"3/4 indicators at {fmt(result.index[-1])} UTC "
            f"({len(added)} columns, {len(result)} bars)",
            ["indicator", "value"],
            [(c, float(last[c])) for c in added],
            numeric=("value",),
        )
    )

    # 4. A backtest of the strategy with the timeframe's defaults, and its report.
    from tradpal.backtest.strategy_run import backtest_strategy
    from tradpal.reports import write_backtest_outputs
    from tradpal.reports.html import format_metric

    run = backtest_strategy(frame, strategy)
    folder = settings.home / "backtests" / f"demo-{strategy}-{sym.replace('/', '_')}-{tf}"
    paths = write_backtest_outputs(run.result, frame, folder, indicators=run.indicators)
    m = run.result.metrics
    params = ", ".join(f"{k}={v}" for k, v in run.params.items())
    rows = [
        *_summary(result, tf, higher),
        (f"backtest {strategy}", params),
        ("  return / buy and hold", f"{format_metric('total_return', m.total_return)} / "
         f"{format_metric('buy_and_hold_return', m.buy_and_hold_return)}"),
        ("  Sharpe / max drawdown", f"{format_metric('sharpe', m.sharpe)} / "
         f"{format_metric('max_drawdown', m.max_drawdown)}"),
        ("  trades / win rate", f"{m.num_trades} / {format_metric('win_rate', m.win_rate)}"),
    ]  # fmt: skip
    console.print(table(f"4/4 summary: {label}", ["", ""], rows, header=False))
    console.print(f"\nreport: {paths['report']}", highlight=False)
    console.print(
        f"data stored in {store.uri}. Next: `tradpal backtest --strategy regime`, "
        f"`tradpal walkforward --strategy ema_crossover`, `tradpal data list`, "
        "`tradpal data download --symbol BTC/USDT --start 2024-01-01` (needs the internet).",
        highlight=False,
    )


def _summary(result, tf: str, higher: str | None) -> list[tuple[str, str]]:
    close = result["close"].to_numpy()
    first, last = result.index[0], result.index[-1]
    rets = np.diff(np.log(close))
    from tradpal.timeframes import parse_timeframe

    per_year = 365 * parse_timeframe(tf).bars_per_day
    rows = [
        ("range (UTC)", f"{fmt(first)} .. {fmt(last)} ({len(result)} bars)"),
        ("last close", f"{close[-1]:,.2f} ({(close[-1] / close[0] - 1):+.1%} over the range)"),
        ("realised volatility", f"{rets.std(ddof=1) * np.sqrt(per_year):.1%} a year"),
    ]
    row = result.iloc[-1]
    if {"ema_9", "ema_21"} <= set(result.columns):
        up = row["ema_9"] > row["ema_21"]
        rows.append(("trend (EMA 9 vs 21)", "up" if up else "down"))
    if "rsi_14" in result.columns:
        rsi = row["rsi_14"]
        zone = "overbought" if rsi > 70 else "oversold" if rsi < 30 else "neutral"
        rows.append(("momentum (RSI 14)", f"{rsi:.1f}, {zone}"))
    if "bb_percent_b_20_2" in result.columns:
        rows.append(("Bollinger %B (20, 2)", f"{row['bb_percent_b_20_2']:.2f}"))
    if "atr_14" in result.columns:
        rows.append(("ATR 14", f"{row['atr_14'] / row['close']:.2%} of price"))
    if higher and f"ema_21_{higher}" in result.columns:
        above = row["close"] > row[f"ema_21_{higher}"]
        rows.append((f"{higher} trend (close vs EMA 21, closed bars)", "up" if above else "down"))
    return rows
