"""``tradpal backtest``: a strategy (or signals from a file) through the engine, with outputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from tradpal.cli.console import console, progress_bar, table
from tradpal.config import load_settings
from tradpal.errors import ConfigError

# The metrics shown in the terminal, in order; result.json holds all of them.
SHOWN_METRICS = (
    "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "annual_volatility",
    "win_rate", "profit_factor", "expectancy", "num_trades", "exposure", "sqn",
    "buy_and_hold_return", "final_equity",
)  # fmt: skip

Symbols = Annotated[
    list[str] | None, typer.Option("--symbol", "-s", help="symbol; repeat for several")
]
# The help every command that takes a strategy shows.
STRATEGY_HELP = (
    "a built-in (ema_crossover, confluence, rsi_reversal, bb_reversal, regime), a name "
    "from strategy_dirs, or PATH.py:NAME; @4h adds a trend filter, +atr ATR stops"
)
Strategies = Annotated[
    list[str] | None,
    typer.Option("--strategy", help=f"strategy: {STRATEGY_HELP}; repeat to compare"),
]


# Options shared by every command that runs the engine (backtest, walkforward).
TimeframeOpt = Annotated[str | None, typer.Option("--timeframe", "-t")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE; repeat")]
StartOpt = Annotated[str | None, typer.Option(help="first bar (UTC), e.g. 2022-01-01")]
EndOpt = Annotated[str | None, typer.Option(help="end, exclusive (UTC)")]
SourceOpt = Annotated[str, typer.Option("--source", help="sample, store, a file, or a source spec")]
CapitalOpt = Annotated[float | None, typer.Option(help="starting cash")]
FeesOpt = Annotated[float | None, typer.Option(help="fraction of notional per side")]
SlippageOpt = Annotated[float | None, typer.Option(help="adverse fraction of price")]
FillOpt = Annotated[str | None, typer.Option(help="close or next_open")]
SizeOpt = Annotated[
    str | None, typer.Option("--size", help="all | fraction:F | qty:Q | risk:F | kelly:F")
]
SlOpt = Annotated[
    str | None, typer.Option(help="stop loss: 0.02 (fraction of entry), atr:1.5 or none")
]
TpOpt = Annotated[str | None, typer.Option(help="take profit: 0.04, atr:3 or none")]
TrailingOpt = Annotated[str | None, typer.Option(help="trailing stop: 0.03 or atr:2")]
TimeStopOpt = Annotated[int | None, typer.Option(help="close after N bars")]
LeverageOpt = Annotated[float | None, typer.Option(help="maximum leverage")]
NoShortOpt = Annotated[bool, typer.Option("--no-short", help="ignore short entries")]
MaxDrawdownOpt = Annotated[
    float | None, typer.Option(help="no new entries past this drawdown, e.g. 0.25")
]
YearDaysOpt = Annotated[int | None, typer.Option(help="365 for crypto, 252 for stocks")]
OutOpt = Annotated[Path | None, typer.Option(help="output folder")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


def engine_overrides(
    *, capital, fees, slippage, fill, size, sl, tp, trailing, time_stop, leverage, no_short,
    max_drawdown, year_days,
) -> dict[str, Any]:  # fmt: skip
    """BacktestConfig fields from the shared options (None: not given)."""
    return {
        "capital": capital, "fees": fees, "slippage": slippage, "fill": fill, "sizing": size,
        "stop_loss": sl, "take_profit": tp, "trailing_stop": trailing,
        "time_stop_bars": time_stop, "max_leverage": leverage,
        "allow_short": False if no_short else None, "max_drawdown": max_drawdown,
        "year_days": year_days,
    }  # fmt: skip


def backtest(
    symbol: Symbols = None,
    timeframe: TimeframeOpt = None,
    strategy: Strategies = None,
    param: ParamOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    capital: CapitalOpt = None,
    source: SourceOpt = "sample",
    data: Annotated[
        Path | None, typer.Option("--data", help="OHLCV file for --signals runs")
    ] = None,
    signals_file: Annotated[
        Path | None,
        typer.Option(
            "--signals", help="CSV/Parquet: time, long_entry, long_exit, short_entry, short_exit"
        ),
    ] = None,
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
    """Backtest a strategy (or --signals from a file) and write result.json, trades.csv,
    equity.csv and report.html."""
    settings = load_settings(timeframe=timeframe)
    overrides = engine_overrides(
        capital=capital, fees=fees, slippage=slippage, fill=fill, size=size, sl=sl, tp=tp,
        trailing=trailing, time_stop=time_stop, leverage=leverage, no_short=no_short,
        max_drawdown=max_drawdown, year_days=year_days,
    )  # fmt: skip
    if signals_file is not None or data is not None:
        runs = [_signals_run(data, signals_file, symbol, settings, overrides)]
    else:
        runs = _strategy_runs(
            symbol, strategy, param, start, end, source, settings, overrides, quiet=as_json
        )
    if as_json:
        from tradpal.reports import dumps

        if out is not None:  # the same files as without --json; stdout stays the JSON alone
            write_report(runs, out, quiet=True)
        documents = {label: json_document(run, frame) for label, frame, run in runs}
        payload = next(iter(documents.values())) if len(runs) == 1 else {"runs": documents}
        typer.echo(dumps(payload, indent=None))
        return
    folder = out or default_out(settings.home, runs)
    write_report(runs, folder)


def _strategy_runs(symbols, strategies, param, start, end, source, settings, overrides, *, quiet):
    from tradpal.backtest.strategy_run import backtest_strategy, config_for
    from tradpal.data.loading import SAMPLE_SYMBOL, load_ohlcv
    from tradpal.strategies import get_strategy

    names = strategies or ["ema_crossover"]
    # resolved once, before any data loads: a bad name or strategy file fails at once
    resolved = [get_strategy(name) for name in names]
    # labelled by name (a file's strategy by its name, not its path), unless two share one
    short = [s.name for s in resolved]
    unique = len(set(short)) == len(short)
    chosen = [(s.name if unique else name, s) for name, s in zip(names, resolved, strict=True)]
    symbols = symbols or [SAMPLE_SYMBOL if source == "sample" else settings.symbol]
    params = parse_params(param)
    runs = []
    steps = len(symbols) * (1 + len(names))
    bar = progress_bar("backtest", total=steps) if not quiet else _no_progress()
    with bar as update:
        done = 0
        for sym in symbols:
            frame = load_ohlcv(
                source,
                symbol=sym,
                timeframe=settings.timeframe,
                start=start,
                end=end,
                policy=settings.quality_policy,
                seed=settings.seed,
            )
            done += 1
            update(done, steps)
            config = config_for(settings.timeframe, **overrides)
            for name, strat in chosen:
                run = backtest_strategy(frame, strat, params, config)
                run.result.meta.setdefault("symbol", sym)
                label = name if len(symbols) == 1 else sym if len(names) == 1 else f"{sym} {name}"
                runs.append((label, frame, run))
                done += 1
                update(done, steps)
    return runs


def _signals_run(data, signals_file, symbols, settings, overrides):
    from tradpal.backtest import run_backtest
    from tradpal.backtest.strategy_run import StrategyRun, config_for
    from tradpal.data.importers import import_ohlcv
    from tradpal.strategies import Signals

    if data is None or signals_file is None:
        raise ConfigError(
            "--data and --signals go together", hint="pass both files, or use --strategy"
        )
    frame, _ = import_ohlcv(data, symbol=(symbols or [None])[0], policy=settings.quality_policy)
    # Signals from elsewhere carry no stop unless one is asked for.
    defaults = {"stop_loss": "none", "take_profit": "none", "sizing": "all"}
    config = config_for(None, **(defaults | {k: v for k, v in overrides.items() if v is not None}))
    signals = Signals.from_frame(_read_table(signals_file), frame.index)
    result = run_backtest(frame, signals, config, meta={"signals": str(signals_file)})
    return (signals_file.stem, frame, StrategyRun(result, signals, {}, {}))


def _portfolio(runs):
    """The equal-weight portfolio of a one-strategy run over several symbols, else None."""
    from tradpal.reports import aggregate

    strategies = {run.result.meta.get("strategy") for _l, _f, run in runs}
    symbols = {run.result.meta.get("symbol") for _l, _f, run in runs}
    if len(runs) < 2 or len(strategies) != 1 or len(symbols) != len(runs):
        return None
    results = {label: run.result for label, _f, run in runs}
    return aggregate(results, runs[0][2].result.config, strategy_name=strategies.pop())


def write_report(runs, folder: Path, *, quiet: bool = False) -> None:
    """Write each run's outputs (and the comparison of several) under ``folder``; print the
    tables unless ``quiet`` (--json: stdout holds only the JSON)."""
    from tradpal.reports import comparison_table, dumps, write_backtest_outputs
    from tradpal.reports.html import METRIC_LABELS, format_metric

    say = (lambda *_a, **_k: None) if quiet else console.print

    for label, frame, run in runs:
        target = folder if len(runs) == 1 else folder / _safe(label)
        paths = write_backtest_outputs(run.result, frame, target, indicators=run.indicators)
        metrics = run.result.metrics.to_dict()
        meta = run.result.meta
        title = f"{label}: {meta.get('symbol', '')} {meta.get('timeframe', '')} " + ", ".join(
            f"{k}={v}" for k, v in run.params.items()
        )
        say(
            table(
                title,
                ["metric", "value"],
                [
                    (METRIC_LABELS.get(k, k), format_metric(k, metrics.get(k)))
                    for k in SHOWN_METRICS
                ],
                numeric=("value",),
            )
        )
        say(f"report: {paths['report']}")
    if len(runs) > 1:
        compared: dict[str, Any] = {label: run.result for label, _f, run in runs}
        portfolio = _portfolio(runs)
        if portfolio is not None:
            compared["portfolio"] = portfolio
            (folder / "portfolio.json").write_text(dumps(portfolio.to_dict()))
            say(f"equal-weight portfolio of {len(runs)} symbols: {folder / 'portfolio.json'}")
        compare = comparison_table(compared)
        compare.to_csv(folder / "comparison.csv")
        runs_shown = [str(i) for i in compare.index]
        # One row per metric, one column per run: reads well however many metrics.
        say(
            table(
                "comparison",
                ["metric", *runs_shown],
                [
                    (METRIC_LABELS.get(c, c), *(format_metric(c, v) for v in compare[c]))
                    for c in compare.columns
                ],
                numeric=runs_shown,
            )
        )
        say(f"comparison: {folder / 'comparison.csv'}")


def parse_params(items: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE, e.g. --param fast=9",
                                     param_hint="--param")  # fmt: skip
        params[name.strip()] = value.strip()  # the strategy's space casts and validates
    return params


def _read_table(path: Path):
    import pandas as pd

    if not path.is_file():
        raise ConfigError(f"no such file: {path}", hint="check the path of --signals")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def default_out(home: Path, runs, kind: str = "backtests") -> Path:
    """Where a run's outputs go without --out: ``<home>/<kind>/<label>-<symbol>-<tf>``."""
    label = runs[0][0] if len(runs) == 1 else "compare"
    meta = runs[0][2].result.meta
    name = f"{label}-{meta.get('symbol', 'data')}-{meta.get('timeframe', '')}"
    return home / kind / _safe(name)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", str(text)).strip("_") or "run"


def json_document(run, frame) -> dict[str, Any]:
    """result.json's content with the metrics also at the top level, for scripts."""
    from tradpal.reports import result_document

    document = result_document(run.result, frame)
    return {**document["metrics"], **document}


class _no_progress:
    def __enter__(self):
        return lambda done, total=None: None

    def __exit__(self, *exc: object) -> None:
        return None
