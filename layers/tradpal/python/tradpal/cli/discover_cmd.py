"""``tradpal discover``: parameter search, scored out of sample, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradpal.cli.backtest_cmd import STRATEGY_HELP, EndOpt, SourceOpt, StartOpt, TimeframeOpt
from tradpal.cli.console import console, progress_bar, table
from tradpal.config import load_settings


def discover(
    strategy: Annotated[
        str, typer.Option("--strategy", help=f"strategy: {STRATEGY_HELP}")
    ] = "confluence",
    method: Annotated[str, typer.Option(help="grid, random, genetic, tpe or nsga2")] = "genetic",
    population: Annotated[int, typer.Option(min=2, help="candidates per generation")] = 50,
    generations: Annotated[int, typer.Option(min=1, help="generations (genetic, tpe, nsga2)")] = 20,
    candidates: Annotated[
        int | None, typer.Option(help="candidates for grid/random (default: population)")
    ] = None,
    objective: Annotated[
        list[str] | None,
        typer.Option(
            "--objective",
            help="sharpe, sortino, calmar, total_return, profit_factor or fitness; "
            "repeat for a Pareto front",
        ),
    ] = None,
    walk_forward: Annotated[
        bool, typer.Option("--walk-forward/--no-walk-forward", help="score across folds")
    ] = True,
    folds: Annotated[int, typer.Option(min=1, help="walk-forward folds of the search span")] = 4,
    holdout: Annotated[
        float, typer.Option(help="fraction of the bars kept out of the search (the OOS)")
    ] = 0.25,
    risk: Annotated[
        bool, typer.Option("--risk/--no-risk", help="search stop/target/risk too")
    ] = True,
    min_trades: Annotated[int, typer.Option(min=0, help="trades a candidate needs")] = 10,
    symbol: Annotated[str | None, typer.Option("--symbol", "-s")] = None,
    timeframe: TimeframeOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    source: SourceOpt = "sample",
    seed: Annotated[int | None, typer.Option(help="seed of the search")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="processes (default: all cores)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output folder")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="ignore a checkpoint and start again")
    ] = False,
) -> None:
    """Search a strategy's parameters; writes discovery.json, pareto.csv and report.html.

    The run checkpoints after every generation in the output folder; running the
    same command again resumes from the last finished generation.
    """
    from tradpal.data.loading import SAMPLE_SYMBOL
    from tradpal.discovery.report import write_discovery_outputs
    from tradpal.discovery.request import METHOD_FIELDS
    from tradpal.discovery.runner import run_discovery
    from tradpal.strategies import get_strategy, reference_of

    settings = load_settings(timeframe=timeframe)
    strat = get_strategy(strategy)
    # The workers rebuild the strategy from this text: a file of your own travels as its
    # absolute path, so a worker started elsewhere (or a resumed run) finds the same file.
    reference = reference_of(strat)
    sym = symbol or (SAMPLE_SYMBOL if source == "sample" else settings.symbol)
    objectives = objective or ["sharpe"]
    if end is None or (source == "sample" and start is None):
        # Pin the range once: every batch (and a resumed run) must load the same bars.
        from tradpal.data.loading import sample_range

        lo, hi = sample_range(settings.timeframe, end=end)
        end = end or hi.isoformat()
        start = start or (lo.isoformat() if source == "sample" else None)
    sizes = {
        "population": population,
        "generations": generations,
        "n_candidates": candidates or population,
        "seed": settings.seed if seed is None else seed,
    }
    used = METHOD_FIELDS.get(method, ())
    if method == "random" and candidates is None:  # random draws population points
        used = tuple(k for k in used if k != "n_candidates")
    data = {
        "source": source,
        "symbol": sym,
        "timeframe": settings.timeframe,
        "start": start,
        "end": end,
        "seed": settings.seed if source == "sample" else None,
    }
    request = {
        "strategy": reference,
        "method": method,
        "objectives": objectives,
        **{k: v for k, v in sizes.items() if k in used},
        "min_trades": min_trades,
        "risk": risk,
        "data": {k: v for k, v in data.items() if v is not None},
        "validation": {"holdout": holdout, "folds": folds if walk_forward else 1},
    }
    name = f"{strat.name}-{method}-{sym.replace('/', '_')}-{settings.timeframe}"
    folder = out or settings.home / "discovery" / name
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / "checkpoint.json"
    if fresh:
        checkpoint.unlink(missing_ok=True)
    with progress_bar(f"discover {strat.name} ({method}), generations") as update:

        def progress(done: int, total: int, state: dict) -> None:
            update(done, total)

        state = run_discovery(request, workers=workers, checkpoint=checkpoint, progress=progress)
    paths = write_discovery_outputs(state, folder)
    _print_summary(state, objectives)
    for kind, path in paths.items():
        console.print(f"{kind}: {path}", highlight=False)


def _print_summary(state: dict, objectives: list[str]) -> None:
    from tradpal.reports.html import format_metric

    ranked = state.get("ranked") or []
    rows = []
    for entry in ranked[:5]:
        params = ", ".join(f"{k}={v}" for k, v in entry["params"].items())
        is_m, oos_m = entry.get("is") or {}, entry.get("oos") or {}
        values = entry.get("values") or []
        rows.append((
            *(format_metric(o, v) for o, v in zip(objectives, values, strict=False)),
            format_metric("sharpe", is_m.get("sharpe")),
            format_metric("sharpe", oos_m.get("sharpe")),
            format_metric("total_return", oos_m.get("total_return")),
            params,
        ))  # fmt: skip
    console.print(
        table(
            f"best of {state.get('evaluated', len(state.get('history', [])))} candidates "
            "(scores across walk-forward folds; OOS = the held-out bars)",
            [
                *(f"score {o}" for o in objectives),
                "IS sharpe",
                "OOS sharpe",
                "OOS return",
                "params",
            ],
            rows,
            numeric=(
                *(f"score {o}" for o in objectives),
                "IS sharpe",
                "OOS sharpe",
                "OOS return",
            ),
        )
    )
    dsr = (state.get("best") or {}).get("deflated_sharpe")
    if dsr is not None:
        console.print(
            f"deflated Sharpe ratio of the winner: {dsr:.3f} (the probability that its Sharpe "
            "ratio is real after this many trials)",
            highlight=False,
        )
