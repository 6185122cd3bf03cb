"""``tradpal indicators``: compute an indicator set on candles and show the latest bars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradpal.cli.console import console, fmt, table
from tradpal.config import load_settings


def indicators(
    symbol: Annotated[str | None, typer.Option("--symbol", "-s")] = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", "-t")] = None,
    data: Annotated[
        str,
        typer.Option("--source", help="store, sample, a file, or a source spec (ccxt:binance)"),
    ] = "store",
    start: Annotated[str | None, typer.Option(help="first bar (UTC)")] = None,
    end: Annotated[str | None, typer.Option(help="end, exclusive (UTC)")] = None,
    indicator_set: Annotated[
        str | None,
        typer.Option("--set", help="entries like ema:9,rsi:14,bollinger:20:2 (default: profile)"),
    ] = None,
    tail: Annotated[int, typer.Option(min=1, help="bars to show")] = 5,
    out: Annotated[
        Path | None, typer.Option(help="write all rows to a .csv or .parquet file")
    ] = None,
) -> None:
    """Compute indicators on candles and print the latest bars."""
    from tradpal.data.contract import get_meta
    from tradpal.data.loading import SAMPLE_SYMBOL, load_ohlcv
    from tradpal.indicators import add_indicators

    entries = None if indicator_set is None else [e for e in indicator_set.split(",") if e]
    settings = load_settings(symbol=symbol, timeframe=timeframe, indicators=entries)
    sym = SAMPLE_SYMBOL if data == "sample" and symbol is None else settings.symbol
    frame = load_ohlcv(
        data, symbol=sym, timeframe=settings.timeframe, start=start, end=end,
        policy=settings.quality_policy, seed=settings.seed,
    )  # fmt: skip
    result = add_indicators(frame, settings.indicator_set)
    meta = get_meta(frame)
    columns = [c for c in result.columns if c not in ("open", "high", "low", "volume")]
    shown = result[columns].tail(tail)
    times = [fmt(t) for t in shown.index]
    # One row per indicator, one column per bar: reads well however many indicators.
    console.print(
        table(
            f"{meta.label if meta else sym}: last {len(shown)} of {len(result)} bars (UTC)",
            ["", *times],
            [(c, *shown[c].to_numpy()) for c in columns],
            numeric=times,
        )
    )
    if out is not None:
        _write(result, out)
        console.print(f"wrote {len(result)} rows to {out}")


def _write(frame, path: Path) -> None:
    from tradpal.errors import ConfigError

    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path)
    elif suffix in (".parquet", ".pq"):
        frame.to_parquet(path)
    else:
        raise ConfigError(f"cannot write {path}: unknown file type", hint="use .csv or .parquet")
