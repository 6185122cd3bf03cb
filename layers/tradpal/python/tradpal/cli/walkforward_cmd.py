"""``tradpal walkforward``: optimise in sample, trade out of sample, stitch, rate."""

from __future__ import annotations

from typing import Annotated

import typer

from tradpal.cli.backtest_cmd import (
    STRATEGY_HELP,
    CapitalOpt,
    EndOpt,
    FeesOpt,
    FillOpt,
    JsonOpt,
    LeverageOpt,
    MaxDrawdownOpt,
    NoShortOpt,
    OutOpt,
    SizeOpt,
    SlippageOpt,
    SlOpt,
    SourceOpt,
    StartOpt,
    TimeframeOpt,
    TimeStopOpt,
    TpOpt,
    TrailingOpt,
    YearDaysOpt,
    engine_overrides,
)
from tradpal.cli.console import console, table
from tradpal.config import load_settings


def walkforward(
    strategy: Annotated[
        str, typer.Option("--strategy", help=f"strategy: {STRATEGY_HELP}")
    ] = "ema_crossover",
    symbol: Annotated[str | None, typer.Option("--symbol", "-s")] = None,
    timeframe: TimeframeOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    source: SourceOpt = "sample",
    in_sample: Annotated[int, typer.Option(min=2, help="bars per in-sample window")] = 252,
    out_sample: Annotated[int, typer.Option(min=1, help="bars per out-of-sample window")] = 21,
    step: Annotated[
        int | None, typer.Option(help="bars between windows (default: out-sample)")
    ] = None,
    anchored: Annotated[
        bool, typer.Option(help="in-sample windows all start at the first bar")
    ] = False,
    method: Annotated[str, typer.Option(help="random (seeded) or grid")] = "random",
    candidates: Annotated[int, typer.Option(min=1, help="parameter sets per window")] = 50,
    objective: Annotated[
        str, typer.Option(help="sharpe, sortino, calmar, total_return or profit_factor")
    ] = "sharpe",
    min_trades: Annotated[int, typer.Option(min=0, help="in-sample trades a winner needs")] = 1,
    seed: Annotated[int | None, typer.Option(help="seed of the random search")] = None,
    capital: CapitalOpt = None,
    fees: FeesOpt = None,
    slippage: SlippageOpt = None,
    fill: FillOpt = None,
    size: SizeOpt = None,
    sl: SlOpt = None,
    tp: TpOpt = None,
    trailing: TrailingOpt = None,
    time_stop: TimeStopOpt = None,
    leverage: LeverageOpt = None,
    no_short: NoShortOpt = False,
    max_drawdown: MaxDrawdownOpt = None,
    year_days: YearDaysOpt = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Walk-forward analysis: the stitched out-of-sample result is the one to believe."""
    from tradpal.backtest.strategy_run import config_for
    from tradpal.data.loading import SAMPLE_SYMBOL, load_ohlcv
    from tradpal.optimize import walk_forward
    from tradpal.reports import dumps, walkforward_report_html
    from tradpal.reports.html import METRIC_LABELS, format_metric
    from tradpal.strategies import get_strategy

    settings = load_settings(timeframe=timeframe)  # its seed makes the sample; --seed the search
    strat = get_strategy(strategy)  # before loading data: a bad name fails at once
    sym = symbol or (SAMPLE_SYMBOL if source == "sample" else settings.symbol)
    frame = load_ohlcv(
        source, symbol=sym, timeframe=settings.timeframe, start=start, end=end,
        policy=settings.quality_policy, seed=settings.seed,
    )  # fmt: skip
    overrides = engine_overrides(
        capital=capital, fees=fees, slippage=slippage, fill=fill, size=size, sl=sl, tp=tp,
        trailing=trailing, time_stop=time_stop, leverage=leverage, no_short=no_short,
        max_drawdown=max_drawdown, year_days=year_days,
    )  # fmt: skip
    config = config_for(settings.timeframe, **overrides)
    with console.status(f"walk-forward {strat.name} on {len(frame)} bars", spinner="line"):
        result = walk_forward(
            frame, strat, config, in_sample=in_sample, out_sample=out_sample,
            step=step or out_sample, anchored=anchored, method=method,
            n_candidates=candidates, objective=objective,
            seed=settings.seed if seed is None else seed,
            min_trades=min_trades,
        )  # fmt: skip
    document = result.to_dict()
    if as_json:
        typer.echo(dumps(document, indent=None))
        return
    name = f"{strat.name}-{sym.replace('/', '_')}-{settings.timeframe}"
    folder = out or settings.home / "walkforward" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "walkforward.json").write_text(dumps(document))
    result.oos_equity.rename("equity").to_csv(folder / "oos_equity.csv")
    (folder / "report.html").write_text(walkforward_report_html(result, frame))

    metrics = result.oos_metrics.to_dict()
    shown = ("total_return", "cagr", "sharpe", "max_drawdown", "win_rate", "num_trades",
             "buy_and_hold_return", "final_equity")  # fmt: skip
    stab = result.stability
    console.print(
        table(
            f"{strat.name} walk-forward: {len(result.windows)} windows of {in_sample} in / "
            f"{out_sample} out",
            ["stitched out-of-sample", "value"],
            [(METRIC_LABELS.get(k, k), format_metric(k, metrics.get(k))) for k in shown]
            + [
                (
                    "stability",
                    f"{stab.rating} ({format_metric('win_rate', stab.share_positive)} "
                    f"of windows positive, CV {format_metric('sqn', stab.cv)})",
                )
            ],
            numeric=("value",),
        )
    )
    console.print(document.get("note", ""), highlight=False)
    console.print(f"report: {folder / 'report.html'}", highlight=False)
