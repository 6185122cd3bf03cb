"""``tradpal strategy``: write a strategy of your own from a template, list the strategies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tradpal.cli.console import console
from tradpal.config import load_settings

app = typer.Typer(
    help="Strategies of your own: a template to start from, and the list of strategies.",
    no_args_is_help=True,
)


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="the strategy's name, e.g. breakout")],
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="folder to write NAME.py to (default: the first strategy_dirs folder, "
            "else the current directory)",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
) -> None:
    """Write NAME.py: a commented Donchian breakout strategy that backtests as it is,
    to edit into your own."""
    from tradpal.strategies.template import write_template

    dirs = load_settings().strategy_dirs
    target = folder if folder is not None else (dirs[0] if dirs else Path("."))
    path = write_template(name, target, force=force)
    in_dirs = path.parent.resolve() in {Path(d).resolve() for d in dirs}
    ref = name if in_dirs else f"{_shown(path)}:{name}"
    console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    console.print(f"try it:  tradpal backtest --strategy {ref}", highlight=False, soft_wrap=True)
    console.print(f"         tradpal check lookahead {ref}", highlight=False, soft_wrap=True)
    if not in_dirs:
        console.print(
            f"or add {path.parent.resolve()} to strategy_dirs (TRADPAL_STRATEGY_DIRS) to "
            f"use it as {name}",
            highlight=False,
            soft_wrap=True,
        )


@app.command("list")
def list_(
    folder: Annotated[
        list[Path] | None,
        typer.Option("--dir", help="also list the strategies of this folder; repeat"),
    ] = None,
) -> None:
    """The built-in strategies and yours (strategy_dirs and --dir), with their params.

    Every strategy file is loaded, so this is also the check that they all load (exit
    status 2 naming the file otherwise)."""
    from tradpal.strategies import STRATEGIES, list_strategies
    from tradpal.strategies.base import source_file_of

    dirs = [*load_settings().strategy_dirs, *(folder or [])]
    for name, strat in list_strategies(dirs).items():
        origin = "built-in" if name in STRATEGIES else str(source_file_of(strat))
        console.print(f"[bold]{name}[/]  ({origin})", highlight=False, soft_wrap=True)
        console.print(f"    {_first_sentence(strat.description)}", highlight=False, soft_wrap=True)
        console.print(f"    params: {_params(strat)}", highlight=False, soft_wrap=True)
    console.print(
        "Use any as NAME, NAME@4h (a 4h trend filter) or NAME+atr (ATR stops); a file "
        "outside strategy_dirs as PATH.py:NAME.",
        highlight=False,
        soft_wrap=True,
    )


def _params(strat: Any) -> str:
    parts = []
    for p in strat.space.params:
        if p.kind == "categorical":
            parts.append(f"{p.name}={p.default} ({'|'.join(map(str, p.choices or ()))})")
        else:
            parts.append(f"{p.name}={p.default} ({p.low:g}-{p.high:g})")
    return ", ".join(parts) or "-"


def _first_sentence(text: str) -> str:
    first = text.split(". ")[0].strip().rstrip(".")
    return first + "."


def _shown(path: Path) -> str:
    text = path.as_posix()
    return text if path.is_absolute() or text.startswith(("./", "../")) else f"./{text}"
