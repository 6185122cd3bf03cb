"""``tradpal``: the command line.

Commands parse their options, call the library and print tables; they hold no
logic of their own. Every error a user can cause (a :class:`TradPalError`)
prints as a message with a hint and exits with status 2; ``--debug`` shows the
traceback of unexpected errors for bug reports.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from tradpal import __version__
from tradpal.cli.console import console, err_console
from tradpal.errors import TradPalError

app = typer.Typer(
    name="tradpal",
    help="TradPal: market data, indicators, signals and backtests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        console.print(f"tradpal {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _register() -> None:
    # Imported here so that `tradpal --help` stays quick and the modules stay small.
    from tradpal.cli import (
        backtest_cmd,
        check_cmd,
        data_cmd,
        demo_cmd,
        discover_cmd,
        indicators_cmd,
        settings_cmd,
        strategy_cmd,
        token_cmd,
        trade_cmd,
        up_cmd,
        walkforward_cmd,
    )

    app.add_typer(data_cmd.app, name="data")
    app.command("backtest")(backtest_cmd.backtest)
    app.command("trade")(trade_cmd.trade)
    app.command("walkforward")(walkforward_cmd.walkforward)
    app.command("discover")(discover_cmd.discover)
    app.add_typer(check_cmd.app, name="check")
    app.add_typer(strategy_cmd.app, name="strategy")
    app.command("demo")(demo_cmd.demo)
    app.command("indicators")(indicators_cmd.indicators)
    app.command("config")(settings_cmd.show_config)
    app.command("token")(token_cmd.token)
    app.command("up")(up_cmd.up)


_register()


def run(argv: list[str] | None = None) -> int:
    """The console entry point: runs ``app`` and turns errors into messages and exit codes."""
    try:
        # Without standalone mode click returns the exit code of typer.Exit.
        code = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except TradPalError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[bold]hint:[/] {exc.hint}", highlight=False)
        return 2
    except Exception as exc:  # a usage error (typer's click exceptions) or a bug
        if isinstance(exc, typer.TyperException) and hasattr(exc, "show"):
            exc.show(file=sys.stderr)
            return getattr(exc, "exit_code", 2)
        if _state["debug"]:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc}\n"
            "This is a bug in TradPal. Run the command again with --debug for the "
            "traceback, and include it in a bug report.",
            highlight=False,
        )
        return 1
    return code if isinstance(code, int) else 0


def main() -> None:
    sys.exit(run())
