"""``tradpal check``: checks a user runs before trusting a strategy."""

from __future__ import annotations

from typing import Annotated

import typer

from tradpal.cli.backtest_cmd import parse_params
from tradpal.cli.console import console
from tradpal.config import load_settings

app = typer.Typer(help="Checks: look-ahead bias in strategies.", no_args_is_help=True)


@app.command()
def lookahead(
    strategy: Annotated[str, typer.Argument(help="strategy name, e.g. ema_crossover or regime@4h")],
    symbol: Annotated[str | None, typer.Option("--symbol", "-s")] = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", "-t")] = None,
    source: Annotated[
        str, typer.Option("--source", help="sample, store, a file, or a source spec")
    ] = "sample",
    start: Annotated[str | None, typer.Option(help="first bar (UTC)")] = None,
    end: Annotated[str | None, typer.Option(help="end, exclusive (UTC)")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE")] = None,
    checkpoints: Annotated[int, typer.Option(min=2, help="truncation points")] = 20,
) -> None:
    """Run STRATEGY on truncated copies of the data and report every bar whose signal
    changed when later data was added. Exits with status 1 when any did."""
    from tradpal.data.loading import SAMPLE_SYMBOL, load_ohlcv
    from tradpal.strategies import check_lookahead, get_strategy

    settings = load_settings(symbol=symbol, timeframe=timeframe)
    strat = get_strategy(strategy)
    sym = symbol or (SAMPLE_SYMBOL if source == "sample" else settings.symbol)
    frame = load_ohlcv(
        source, symbol=sym, timeframe=settings.timeframe, start=start, end=end,
        policy=settings.quality_policy, seed=settings.seed,
    )  # fmt: skip
    with console.status(f"checking {strat.name} on {len(frame)} bars"):
        report = check_lookahead(strat, frame, parse_params(param), checkpoints=checkpoints)
    console.print(report.summary(), highlight=False)
    if not report.ok:
        raise typer.Exit(1)
