"""``tradpal trade``: run a trader on paper, here fed by candles at hand (``--replay``)."""

from __future__ import annotations

from pathlib import Path
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
    ParamOpt,
    SizeOpt,
    SlippageOpt,
    SlOpt,
    StartOpt,
    TimeframeOpt,
    TimeStopOpt,
    TpOpt,
    TrailingOpt,
    YearDaysOpt,
    default_out,
    engine_overrides,
    json_document,
    parse_params,
    write_report,
)
from tradpal.config import load_settings


def trade(
    replay_source: Annotated[
        str,
        typer.Option(
            "--replay",
            help="feed the trader these candles, oldest first, instead of the exchange's "
            "websocket: sample, store, a file or a source spec",
        ),
    ],
    strategy: Annotated[str, typer.Option("--strategy", help=STRATEGY_HELP)] = "ema_crossover",
    symbol: Annotated[str | None, typer.Option("--symbol", "-s")] = None,
    timeframe: TimeframeOpt = None,
    paper: Annotated[
        bool,
        typer.Option("--paper", help="trade on paper (the default; no orders reach an exchange)"),
    ] = True,
    param: ParamOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
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
    volume_share: Annotated[
        float, typer.Option(help="share of a bar's volume a paper limit order may fill (0-1]")
    ] = 1.0,
    cooldown: Annotated[int, typer.Option(help="no entry within N bars after an exit")] = 0,
    stoploss_guard: Annotated[
        str | None,
        typer.Option(
            help="COUNT/LOOKBACK/PAUSE: COUNT stops within LOOKBACK bars pause PAUSE bars"
        ),
    ] = None,
    daily_loss_limit: Annotated[
        float | None, typer.Option(help="no entries for the rest of a UTC day that lost this share")
    ] = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Trade a strategy on paper over replayed candles: the live trader's code path, with
    the paper exchange filling its orders; the same outputs as ``tradpal backtest``, whose
    trades it reproduces over the same candles and settings."""
    from tradpal.backtest.strategy_run import StrategyRun, config_for
    from tradpal.data.loading import SAMPLE_SYMBOL, load_ohlcv
    from tradpal.errors import ConfigError
    from tradpal.strategies import get_strategy
    from tradpal.trading.protections import Protections
    from tradpal.trading.replay import replay

    if not 0 < volume_share <= 1:
        raise ConfigError(f"--volume-share {volume_share} is not in (0, 1]", hint="e.g. 0.1")
    settings = load_settings(timeframe=timeframe)
    overrides = engine_overrides(
        capital=capital, fees=fees, slippage=slippage, fill=fill, size=size, sl=sl, tp=tp,
        trailing=trailing, time_stop=time_stop, leverage=leverage, no_short=no_short,
        max_drawdown=max_drawdown, year_days=year_days,
    )  # fmt: skip
    strat = get_strategy(strategy)  # a bad name fails before any data loads
    sym = symbol or (SAMPLE_SYMBOL if replay_source == "sample" else settings.symbol)
    frame = load_ohlcv(
        replay_source,
        symbol=sym,
        timeframe=settings.timeframe,
        start=start,
        end=end,
        policy=settings.quality_policy,
        seed=settings.seed,
    )
    config = config_for(settings.timeframe, **overrides)
    protections = Protections(
        stoploss_guard=_stoploss_guard(stoploss_guard),
        cooldown_bars=cooldown,
        daily_loss_limit=daily_loss_limit,
    )
    session = replay(
        frame, strat, parse_params(param), config, symbol=sym, volume_share=volume_share,
        protections=protections,
    )  # fmt: skip
    result = session.result()
    run = StrategyRun(result, None, dict(session.trader.params or {}), {})
    runs = [(strat.name, frame, run)]
    if as_json:
        from tradpal.reports import dumps

        if out is not None:
            write_report(runs, out, quiet=True)
        typer.echo(dumps(json_document(run, frame), indent=None))
        return
    folder: Path = out or default_out(settings.home, runs, kind="paper")
    write_report(runs, folder)


def _stoploss_guard(text: str | None):
    from tradpal.errors import ConfigError
    from tradpal.trading.protections import StoplossGuard

    if text is None:
        return None
    parts = text.split("/")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(
            f"--stoploss-guard {text!r} is not COUNT/LOOKBACK/PAUSE",
            hint="e.g. 3/24/12: 3 stops within 24 bars pause entries 12 bars",
        )
    return StoplossGuard(*(int(p) for p in parts))
