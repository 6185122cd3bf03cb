"""``tradpal trade``: run a trader, on paper (the default) or live, on the exchange's
websocket (:mod:`tradpal.trading.runner`), or on paper over candles at hand (``--replay``)."""

from __future__ import annotations

import json
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
        str | None,
        typer.Option(
            "--replay",
            help="feed the trader these candles, oldest first, instead of the exchange's "
            "websocket: sample, store, a file or a source spec (paper only)",
        ),
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", help=STRATEGY_HELP)] = "ema_crossover",
    symbol: Annotated[str | None, typer.Option("--symbol", "-s")] = None,
    timeframe: TimeframeOpt = None,
    paper: Annotated[
        bool,
        typer.Option(
            "--paper/--live",
            help="paper (the default: no order reaches an exchange) or live: orders on the "
            "account, which needs live_trading = true and exchange_secret",
        ),
    ] = True,
    exchange: Annotated[str, typer.Option(help="the ccxt exchange id")] = "binance",
    trader_id: Annotated[
        str | None,
        typer.Option(
            help="the trader's id (default: the trader_id setting, else "
            "<strategy>-<symbol>-<timeframe>)"
        ),
    ] = None,
    warm_up_bars: Annotated[
        int, typer.Option(help="closed bars read before the first live one")
    ] = 500,
    shared_account: Annotated[
        bool,
        typer.Option(
            help="live: the account holds coins of this symbol besides the trader's, so its "
            "position is not checked against the balance at start"
        ),
    ] = False,
    bars: Annotated[
        int | None,
        typer.Option(
            help="stop after this many closed bars (default: run until SIGTERM or Ctrl-C)"
        ),
    ] = None,
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
    """Trade a strategy: on the exchange's websocket (paper by default, ``--live`` with
    real orders), or on paper over replayed candles (``--replay``), the live trader's code
    path with the paper exchange filling its orders and the same outputs as ``tradpal
    backtest``, whose trades it reproduces over the same candles and settings."""
    from tradpal.backtest.strategy_run import StrategyRun, config_for
    from tradpal.data.loading import SAMPLE_SYMBOL, load_ohlcv
    from tradpal.errors import ConfigError
    from tradpal.strategies import get_strategy
    from tradpal.trading.protections import Protections
    from tradpal.trading.replay import replay

    if not 0 < volume_share <= 1:
        raise ConfigError(f"--volume-share {volume_share} is not in (0, 1]", hint="e.g. 0.1")
    settings = load_settings(timeframe=timeframe)
    protections = Protections(
        stoploss_guard=_stoploss_guard(stoploss_guard),
        cooldown_bars=cooldown,
        daily_loss_limit=daily_loss_limit,
    )
    overrides = engine_overrides(
        capital=capital, fees=fees, slippage=slippage, fill=fill, size=size, sl=sl, tp=tp,
        trailing=trailing, time_stop=time_stop, leverage=leverage, no_short=no_short,
        max_drawdown=max_drawdown, year_days=year_days,
    )  # fmt: skip
    strat = get_strategy(strategy)  # a bad name fails before any data loads
    config = config_for(settings.timeframe, **overrides)
    if replay_source is None:
        _trade_live(
            settings, strat.name, symbol or settings.symbol, config, protections,
            live=not paper, exchange=exchange, trader_id=trader_id, params=parse_params(param),
            warm_up_bars=warm_up_bars, bars=bars, volume_share=volume_share, as_json=as_json,
            shared_account=shared_account,
        )  # fmt: skip
        return
    if not paper:
        raise ConfigError(
            "--live trades on the exchange, --replay on paper: give one of them",
            hint="drop --replay to trade live on the websocket",
        )
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


def _trade_live(settings, strategy: str, symbol: str, config, protections, *, live: bool,
                exchange: str, trader_id: str | None, params: dict, warm_up_bars: int,
                bars: int | None, volume_share: float, as_json: bool,
                shared_account: bool = False) -> None:  # fmt: skip
    """A trader on the exchange's websocket until SIGTERM/Ctrl-C or ``bars`` bars."""
    from tradpal.errors import ConfigError
    from tradpal.trading.runner import TraderSpec, default_trader_id, run_trader

    if live and not settings.live_trading:
        raise ConfigError(
            "live trading is off",
            hint="set live_trading = true in tradpal.toml (or TRADPAL_LIVE_TRADING=true) to "
            "let a trader place real orders, or trade on paper without --live",
        )
    spec = TraderSpec(
        trader_id=trader_id or settings.trader_id
        or default_trader_id(strategy, symbol, settings.timeframe),
        strategy=strategy, symbol=symbol, timeframe=settings.timeframe, config=config,
        exchange=exchange.strip().lower(), live=live, params=params, protections=protections,
        warm_up_bars=warm_up_bars, volume_share=volume_share, lease_s=settings.trader_lease_s,
        shared_account=shared_account,
        client_config=(settings.source_options.get(f"ccxt:{exchange}") or {}).get("config")
        or {},
    )  # fmt: skip
    outcome = run_trader(spec, secret=settings.exchange_secret, bars=bars)
    if as_json:
        typer.echo(json.dumps(outcome, default=str))
        return
    typer.echo(
        f"{spec.trader_id}: {outcome['bars']} bars, {outcome['num_trades']} trades, equity "
        f"{outcome['equity']:.2f} ({outcome['mode']}, {outcome['paused'] or 'not paused'})"
    )


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
