"""``tradpal data``: download, import, list, validate and sample market data."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tradpal.cli.console import console, err_console, fmt, progress_bar, table
from tradpal.config import load_settings
from tradpal.data.quality import Policy, QualityReport

app = typer.Typer(
    help="Market data: download, import, list, validate, sample.", no_args_is_help=True
)

SymbolOpt = Annotated[str | None, typer.Option("--symbol", "-s", help="e.g. BTC/USDT or AAPL")]
TimeframeOpt = Annotated[
    str | None, typer.Option("--timeframe", "-t", help="1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w")
]


class Market(StrEnum):
    """``--market``: the values of :data:`tradpal.data.importers.MARKETS`."""

    SPOT = "spot"
    FUTURES = "futures"


PolicyOpt = Annotated[
    Policy | None, typer.Option("--policy", help="quality policy: reject, repair or report")
]


def _store():
    from tradpal.data.store import MarketStore

    return MarketStore.from_settings(load_settings())


@app.command()
def download(
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    start: Annotated[str, typer.Option(help="first bar's open time (UTC), e.g. 2024-01-01")] = ...,
    end: Annotated[str | None, typer.Option(help="end (exclusive, UTC); default: now")] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source", help="source spec, repeat for a fallback chain; default: settings"
        ),
    ] = None,
    policy: PolicyOpt = None,
) -> None:
    """Download candles into the store, fetching only what it does not hold yet."""
    from tradpal.data.sources.fallback import FallbackSource
    from tradpal.data.sources.registry import make_source

    settings = load_settings(symbol=symbol, timeframe=timeframe, quality_policy=policy)
    specs = source or settings.sources
    chain = FallbackSource([make_source(spec) for spec in specs])
    store = _store()
    with progress_bar(f"{settings.symbol} {settings.timeframe}") as update:
        result = store.update(
            chain, settings.symbol, settings.timeframe, start, end,
            progress=update, policy=settings.quality_policy,
        )  # fmt: skip
    console.print(
        f"stored {result.bars_written} new bar(s) of {result.symbol} {result.timeframe} "
        f"in {store.uri}"
    )
    if result.range:
        console.print(f"the store now holds {result.range[0]} .. {result.range[1]}")
    _print_datasets([e for e in store.datasets() if e.symbol == result.symbol])


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="CSV, Parquet or Feather file")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="auto, kaggle, binance or file")
    ] = "auto",
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    mapping: Annotated[
        str | None,
        typer.Option("--map", help="column mapping, e.g. time=Date,open=Open,close=Close"),
    ] = None,
    resample: Annotated[str | None, typer.Option(help="aggregate to this timeframe")] = None,
    policy: PolicyOpt = None,
    market: Annotated[
        Market | None,
        typer.Option(
            "--market",
            help="spot or futures (BASE/QUOTE:SETTLE); default: the file name's "
            "(freqtrade's <BASE>_<QUOTE>_<SETTLE>-<tf>-futures files are futures)",
        ),
    ] = None,
    store: Annotated[bool, typer.Option("--store/--no-store", help="write into the store")] = True,
) -> None:
    """Import a file (Kaggle Bitcoin history, Binance klines, any table) into the store."""
    from tradpal.data.contract import get_meta, with_meta
    from tradpal.data.importers import detect_format, import_ohlcv, market_of, market_symbol
    from tradpal.data.resample import resample_ohlcv

    settings = load_settings(quality_policy=policy)
    columns = _parse_mapping(mapping)
    fmt = detect_format(path) if format == "auto" else format
    options: dict = {"symbol": symbol, "policy": settings.quality_policy}
    if fmt == "file":
        options |= {"timeframe": timeframe, "mapping": columns}
    elif mapping:
        raise typer.BadParameter("--map applies to generic files (--format file) only")
    if fmt == "binance":
        options["timeframe"] = timeframe
    streaming = fmt in ("kaggle", "binance")
    if streaming:
        options["resample_to"] = resample
    options = {k: v for k, v in options.items() if v is not None}  # importers' own defaults
    if streaming and path.is_file():
        with progress_bar(f"importing {path.name} (bytes)", total=path.stat().st_size) as update:
            frame, report = import_ohlcv(path, format=fmt, progress=update, **options)
    else:
        frame, report = import_ohlcv(path, format=fmt, **options)
    if resample and not streaming:
        frame = resample_ohlcv(frame, resample)
    meta = get_meta(frame)
    if meta is not None and market is not None:  # spot and futures are stored apart
        meta = meta.evolve(symbol=market_symbol(meta.symbol, market.value))
        with_meta(frame, meta)
    _print_report(report, f"quality of {path.name}")
    console.print(f"imported {len(frame)} bar(s) of {meta.label if meta else path.name}")
    if meta is not None and market is None and symbol is None:
        other = "futures" if market_of(meta.symbol) == "spot" else "spot"
        console.print(
            f"market: {market_of(meta.symbol)}, from the file name (--market {other} "
            "or --symbol to store it otherwise)"
        )
    if store and len(frame):
        result = _store().write(frame, policy=settings.quality_policy)
        console.print(
            f"stored {result.rows} bar(s): {result.added} new, {result.replaced} replaced"
        )


@app.command("list")
def list_datasets() -> None:
    """List the stored datasets: ranges, rows, source and quality score."""
    store = _store()
    entries = store.datasets()
    if not entries:
        console.print(f"the store at {store.uri} is empty; try `tradpal data sample`")
        return
    _print_datasets(entries, title=f"datasets in {store.uri}")


@app.command()
def validate(
    path: Annotated[Path | None, typer.Argument(help="a file to check")] = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    policy: Annotated[
        Policy,
        typer.Option(
            "--policy",
            help="reject: exit 1 when an error rule fails; report: exit 0 whatever it finds; "
            "repair: also show what a repair would change",
        ),
    ] = Policy.REJECT,
) -> None:
    """Check a file or a stored dataset against every quality rule; nothing is written.

    Prints the report of the data as it is, then by --policy: reject (the default, not
    the quality_policy setting: validating is checking) exits with status 1 when an
    error rule fails (warnings alone exit 0); report exits 0 whatever it finds; repair
    lists what a repair would change and the report after it, and exits 0 when the
    repaired data passes, 1 when it cannot be repaired. Bad input exits 2.
    """
    from tradpal.data.quality import check_quality, enforce_quality
    from tradpal.errors import DataQualityError

    if path is not None:
        from tradpal.data.importers import detect_format, import_ohlcv

        fmt = detect_format(path)
        options = {"symbol": symbol, "timeframe": timeframe if fmt != "kaggle" else None}
        options = {k: v for k, v in options.items() if v is not None}  # importers' defaults
        frame, report = import_ohlcv(path, format=fmt, policy="report", **options)
        title = f"quality of {path}"
    else:
        settings = load_settings(symbol=symbol, timeframe=timeframe)
        frame = _store().read(settings.symbol, settings.timeframe)
        report = check_quality(frame, timeframe=settings.timeframe)
        title = f"quality of stored {settings.symbol} {settings.timeframe}"
    _print_report(report, title)
    if policy is Policy.REPORT:
        return
    if policy is Policy.REJECT:
        if not report.ok:
            raise typer.Exit(1)
        return
    try:
        _, repaired = enforce_quality(frame, Policy.REPAIR, timeframe=report.timeframe)
    except DataQualityError as exc:
        err_console.print(f"[bold red]{exc.message}[/]", highlight=False)
        if exc.hint:
            err_console.print(f"[bold]hint:[/] {exc.hint}", highlight=False)
        raise typer.Exit(1) from None
    if not repaired.repairs:
        console.print("a repair would change nothing")
        return
    for text in repaired.repairs:
        console.print(f"a repair would: {text}")
    # The lines above already say what changed; the table is the verdict after it.
    _print_report(replace(repaired, repairs=()), f"{title} after a repair (nothing written)")


@app.command()
def sample(
    symbol: Annotated[str, typer.Option("--symbol", "-s")] = "SYN/USD",
    timeframe: TimeframeOpt = None,
    bars: Annotated[int, typer.Option(min=1, help="number of bars")] = 5000,
    seed: Annotated[int | None, typer.Option(help="seed (default: settings)")] = None,
) -> None:
    """Store the offline sample: a seeded synthetic market, labelled SYNTHETIC."""
    from tradpal.data.loading import sample_range
    from tradpal.data.sources.synthetic import SyntheticSource

    settings = load_settings(timeframe=timeframe, seed=seed)
    start, end = sample_range(settings.timeframe, bars)
    store = _store()
    with progress_bar(f"sample {symbol} {settings.timeframe}") as update:
        result = store.update(
            SyntheticSource(seed=settings.seed), symbol, settings.timeframe, start, end,
            progress=update,
        )  # fmt: skip
    console.print(
        f"stored {result.bars_written} new SYNTHETIC bar(s) of {symbol} {settings.timeframe} "
        f"(seed {settings.seed}) in {store.uri}"
    )


def _parse_mapping(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    mapping = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise typer.BadParameter(
                f"{part!r} is not NAME=COLUMN; e.g. --map time=Date,open=Open", param_hint="--map"
            )
        mapping[key.strip()] = value.strip()
    return mapping


def _print_datasets(entries, title: str | None = None) -> None:
    rows = [
        (
            e.symbol + (" [SYNTHETIC]" if e.synthetic else ""),
            e.timeframe,
            e.source,
            e.first,
            e.last,
            e.rows,
            f"{e.quality_score:.1f}",  # as the reports print it ("score 95.0/100"), every row
        )
        for e in entries
    ]
    listing = table(
        title,
        ["symbol", "timeframe", "source", "first (UTC)", "last (UTC)", "rows", "quality"],
        rows,
        numeric=("rows", "quality"),
    )
    # A narrow terminal cuts cells short with an ellipsis; a symbol folds onto the next
    # line instead, as XRP/USDT and XRP/USDT:USDT (spot and futures) would read the same.
    listing.columns[0].overflow = "fold"
    console.print(listing)


def _print_report(report: QualityReport, title: str) -> None:
    rows = [
        (r.name, r.severity, r.count, ", ".join(fmt(v) for v in r.first_rows[:3]) or "-")
        for r in report.rules
        if r.count
    ]
    verdict = "ok" if report.ok else "FAILED"
    # The summary is one line however long the path: a wrapped verdict is hard to grep.
    console.print(
        f"{title}: {report.rows} rows, score {report.score:.1f}/100, {verdict}",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        table(
            None,
            ["rule", "severity", "count", "first rows"],
            rows or [("all rules passed", "", 0, "")],
            numeric=("count",),
        )
    )
    for text in report.repairs:
        console.print(f"repaired: {text}")
