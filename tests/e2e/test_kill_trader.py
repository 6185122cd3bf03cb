"""kill -9 of a live trader's process at random moments, on the fake Binance exchange, its
state in a DynamoDB table (moto, outside the killed process): each restart waits for the dead
process's lease, restores and reconciles, and in the end no client order id was placed
twice, every fill the exchange made is stored once, and the exchange holds no order the
trader does not know.

The candles are pushed in the past (an hour ago, one a moment; the warm-up reaches back
past the history's end), so each closes as soon as the next one opens, while the trader's
clock is the real one; the test waits for the trader's
stored last bar before it pushes the next, and kills it at a seeded random moment after."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from fakes.fake_binance import generated_klines
from fakes.fake_binance_trading import FakeBinanceTrading

SYMBOL = "BTC/USDT"
MINUTE = 60_000
TRADER = "kill-test"
SECRET = "tradpal/test/traders/kill-test/exchange"
HISTORY, PUSHED, KILLS = 50, 45, 5
STREAM = "btcusdt@kline_1m"


def start_trader(env: dict[str, str], log) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "tradpal", "trade", "--live", "--trader-id", TRADER,
        "--strategy", "rsi_reversal", "--symbol", SYMBOL, "--timeframe", "1m",
        "--param", "rsi_period=4", "--param", "rsi_oversold=40", "--param", "rsi_overbought=60",
        "--warm-up-bars", "100", "--size", "risk:0.002", "--sl", "0.004", "--tp", "0.008",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_a_live_trader_killed_at_random_moments_sends_nothing_twice_and_loses_no_fill(tmp_path):
    import boto3

    from tradpal.local.moto_server import MotoServer, patched_environ
    from tradpal.local.resources import provision
    from tradpal.platform.aws import reset_clients
    from tradpal.platform.environment import PlatformEnv
    from tradpal.trading.store import TradingStore

    rng = random.Random(20261204)
    now = int(time.time() * 1000) // MINUTE * MINUTE
    klines = generated_klines(HISTORY + PUSHED, "1m", seed=11, start_ms=now - 120 * MINUTE)
    moto = MotoServer().start()
    environ = patched_environ(moto.environ())  # this process's clients reach moto too
    environ.__enter__()
    reset_clients()
    log = open(tmp_path / "trader.log", "w")  # noqa: SIM115 (the processes write to it)
    proc = None
    try:
        provision(PlatformEnv(resources={"trading_table": "kill-trading"}))
        with FakeBinanceTrading({(SYMBOL, "1m"): klines[:HISTORY]}, balances={"USDT": "10000"},
                                lifetime_s=600) as fake:  # fmt: skip
            config = fake.ccxt_config(timeout=3000)
            keys = {"apiKey": config.pop("apiKey"), "secret": config.pop("secret")}
            boto3.client("secretsmanager").create_secret(Name=SECRET, SecretString=json.dumps(keys))
            env = {
                **os.environ, **moto.environ(), "TRADPAL_HOME": str(tmp_path),
                "TRADPAL_TRADING_TABLE": "kill-trading", "TRADPAL_LIVE_TRADING": "true",
                "TRADPAL_EXCHANGE_SECRET": SECRET, "TRADPAL_TRADER_LEASE_S": "3",
                "TRADPAL_SOURCE_OPTIONS": json.dumps({"ccxt:binance": {"config": config}}),
            }  # fmt: skip
            store = TradingStore(TRADER, table="kill-trading")
            kill_at = sorted(rng.sample(range(5, PUSHED - 2), KILLS))
            proc, kills = start_trader(env, log), 0

            def last_bar() -> int | None:
                state = store.load_state()
                return state[0].get("last_bar_ms") if state else None

            def wait_for(predicate, what: str, timeout_s: float = 60.0, alive=True) -> None:
                deadline = time.monotonic() + timeout_s
                while not predicate():
                    if alive and proc.poll() is not None:
                        log.flush()
                        pytest.fail(f"the trader exited: {(tmp_path / 'trader.log').read_text()}")
                    assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s} s"
                    time.sleep(0.05)

            wait_for(lambda: store.load_state() is not None and STREAM in fake.ws.streams(),
                     "the first start")  # fmt: skip
            for n, k in enumerate(klines[HISTORY:]):
                opened = int(k[0])
                # this bar's first trade closes the last one: the trader decides on it now
                fake.market.push_candle(SYMBOL, "1m", [*k[:2], k[1], k[1], k[1], "0", *k[6:]],
                                        closed=False)  # fmt: skip
                if kills < KILLS and n == kill_at[kills]:
                    time.sleep(rng.uniform(0.0, 0.25))  # in the middle of that decision
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(30)
                    kills += 1
                    wait_for(lambda: STREAM not in fake.ws.streams(), "the dead socket's close",
                             alive=False)  # fmt: skip
                    proc = start_trader(env, log)
                    # it waits for the dead process's lease (3 s), restores, then listens; the
                    # next bar's first trade makes it catch up on the bars it missed
                    wait_for(lambda p=proc.pid: f"-{p}-" in getattr(store.lease(), "owner", "")
                             and STREAM in fake.ws.streams(), "the restart",
                             timeout_s=90)  # fmt: skip
                else:
                    wait_for(lambda t=opened: (last_bar() or 0) >= t - MINUTE, f"bar {n}")
                fake.market.push_candle(SYMBOL, "1m", k, closed=True)
            wait_for(lambda: (last_bar() or 0) >= int(klines[-2][0]), "the last bar")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
            requests, orders, trades = (
                list(fake.requests),
                fake.market.orders(SYMBOL),
                (fake.market.trades(SYMBOL)),
            )
            store_orders, stored_fills = store.orders(), store.fills()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        log.close()
        environ.__exit__(None, None, None)
        reset_clients()
        moto.stop()
    placed: dict[str, int] = {}
    for r in requests:
        if r.method == "POST" and r.path == "/api/v3/order" and r.status == 200:
            placed[r.params["newClientOrderId"]] = placed.get(r.params["newClientOrderId"], 0) + 1
    assert kills == KILLS and len(placed) > 4
    assert max(placed.values()) == 1, "a client order id placed twice"
    stored_orders = {o.client_id: o for o in store_orders}
    assert {o.client_order_id for o in orders} <= set(stored_orders), "an order it forgot"
    assert sorted(f.trade_id for f in stored_fills) == sorted(str(t.id) for t in trades)
    assert not [o for o in stored_orders.values() if o.status == "unknown"]
