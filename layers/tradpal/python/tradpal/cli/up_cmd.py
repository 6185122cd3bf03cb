"""``tradpal up``: start the local platform (the whole serverless topology, in this process).

Prints the API's URL, a development token and the first commands to try, then serves until
Ctrl-C. State (runs, results, market data, the issuer's key) is kept under TRADPAL_HOME, so
stopping and starting again loses nothing but runs that were still in progress.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from tradpal.cli.console import console

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def trader_args(text: str) -> list[str]:
    """``tradpal trade`` options of ``--trade STRATEGY:SYMBOL:TIMEFRAME[:EXCHANGE]`` (paper:
    a live trader is started on its own, where its keys and setting are)."""
    from tradpal.errors import ConfigError

    parts = text.split(":")
    if len(parts) not in (3, 4) or not all(p.strip() for p in parts):
        raise ConfigError(
            f"--trade {text!r} is not STRATEGY:SYMBOL:TIMEFRAME[:EXCHANGE]",
            hint="e.g. --trade ema_crossover:BTC/USDT:1h",
        )
    strategy, symbol, timeframe = (p.strip() for p in parts[:3])
    exchange = parts[3].strip() if len(parts) == 4 else "binance"
    return ["--strategy", strategy, "--symbol", symbol, "--timeframe", timeframe,
            "--exchange", exchange, "--paper"]  # fmt: skip


def up(
    port: Annotated[int, typer.Option("--port", help="the API's port on 127.0.0.1")] = 8787,
    sample: Annotated[
        bool, typer.Option("--sample/--no-sample", help="store the offline sample on first start")
    ] = True,
    schedules: Annotated[
        bool,
        typer.Option(
            "--schedules/--no-schedules",
            help="fire scheduled rules (the hourly ingest) on their schedule",
        ),
    ] = True,
    webhook: Annotated[
        list[str] | None,
        typer.Option("--webhook", help="send notifications to this URL (repeatable)"),
    ] = None,
    ttl: Annotated[int, typer.Option("--ttl", help="lifetime of the printed token, s")] = 86_400,
    trade: Annotated[
        list[str] | None,
        typer.Option(
            "--trade",
            help="STRATEGY:SYMBOL:TIMEFRAME[:EXCHANGE]: run a paper trader on the exchange's "
            "websocket beside the platform, listed by GET /v1/trading (repeatable)",
        ),
    ] = None,
) -> None:
    """Start TradPal locally: API on 127.0.0.1, AWS services in-process, no account needed."""
    from tradpal.local.platform import LocalPlatform

    webhooks = [{"url": url} for url in webhook] if webhook else None
    traders = [(text, trader_args(text)) for text in trade or ()]  # checked before starting
    with console.status("starting the local platform..."):
        platform = LocalPlatform(
            port=port, sample=sample, run_schedules=schedules, webhooks=webhooks
        ).start()
    # Ctrl-C and SIGTERM set an event rather than raise KeyboardInterrupt: an interrupt
    # raised inside Event.wait can leave its lock released twice ("release unlocked lock").
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        token = platform.token(("read", "trade", "admin"), ttl_s=ttl)
        url = platform.url
        console.print(f"[bold green]TradPal is running[/] at [bold]{url}[/]  (Ctrl-C stops it)")
        console.print(f"state: {platform.state_dir}")
        # the in-process AWS services, for `aws --endpoint-url` (moto checks no credentials)
        console.print(f"AWS services (moto): {platform.moto.url}", highlight=False)
        if webhooks:
            console.print(
                f"webhooks: {', '.join(webhook or ())}; signed (X-TradPal-Signature) with the "
                f"key in {platform.signing_key_path}",
                highlight=False,
            )
        if platform.aborted:
            console.print(
                f"[yellow]{len(platform.aborted)} run(s) in progress at the last stop were "
                "marked ABORTED[/]"
            )
        console.print("\ntoken (read, trade, admin; also: tradpal token --scope read):")
        typer.echo(token)
        console.print(
            "\ntry:\n"
            f'  export TRADPAL_URL={url} TRADPAL_TOKEN="<the token above>"\n'
            '  curl -s -H "Authorization: Bearer $TRADPAL_TOKEN" $TRADPAL_URL/v1/data\n'
            '  curl -s -X POST -H "Authorization: Bearer $TRADPAL_TOKEN" '
            "-H 'content-type: application/json' \\\n"
            '       -d \'{"strategy": "ema_crossover", "data": {"symbol": "SYN/USD", '
            '"timeframe": "1h"}}\' $TRADPAL_URL/v1/backtests\n'
            f"  the API document: {url}/v1/openapi  (README: the walk-through)",
            highlight=False,
        )
        for text, args in traders:
            proc = platform.start_trader(args)
            console.print(f"paper trader {text} started (pid {proc.pid})", highlight=False)
        while not stop.wait(0.5):
            pass
    finally:
        # While stopping, a repeated signal (a wrapper or the process group often delivers
        # one twice) only warns; the one after it quits without saving.
        repeats: list[int] = []

        def on_repeat(sig: int, frame: object) -> None:
            repeats.append(sig)
            if len(repeats) > 1:
                for s, handler in previous.items():
                    signal.signal(s, handler)
                raise KeyboardInterrupt
            console.print("still stopping (finishing work in flight, saving state); "
                          "interrupt again to quit without saving")  # fmt: skip

        for sig in _STOP_SIGNALS:
            signal.signal(sig, on_repeat)
        try:
            with console.status("stopping (saving state)..."):
                platform.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        console.print("stopped; state saved under " + str(platform.state_dir))
