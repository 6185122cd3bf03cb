"""Shared terminal output: one console, progress bars and tables that read well."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Any]:
    """A progress bar yielding ``update(done, total)``, the shape of ProgressCallback."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, total: int | None = None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Sequence[str] = (),
    header: bool = True,
) -> Table:
    """A rich table; columns named in ``numeric`` are right-aligned."""
    t = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        show_header=header,
        min_width=len(title) if title else None,  # keep the title on one line where it fits
    )
    for name in columns:
        t.add_column(name, justify="right" if name in numeric else "left")
    for row in rows:
        t.add_row(*(fmt(v) for v in row))
    return t


def fmt(value: Any) -> str:
    """Numbers with sensible precision, NaN as a dash, everything else as text."""
    if value is None:
        return "-"
    if isinstance(value, datetime):  # bar times are UTC: show them compactly
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        magnitude = abs(value)
        if magnitude >= 1e6:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:,.2f}"
        if magnitude >= 1:
            return f"{value:.4f}"
        return f"{value:.6g}"
    return str(value)
