"""``tradpal up --trade``: a paper trader in a process of its own beside the local platform,
on the (fake) exchange's websocket, its state in the platform's trading table: the API lists
it alive and running, and its pause and kill switch reach it through the table."""

from __future__ import annotations

import json
import time

import pytest
from e2e.crashing import call, start, token
from fakes.fake_binance import generated_klines
from fakes.fake_binance_trading import FakeBinanceTrading

TRADER = "rsi-reversal-btc-usdt-1m"


def poll(url: str, tok: str, path: str, done, timeout_s: float = 60.0) -> dict:
    deadline, view = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        status, view = call(url, tok, "GET", path)
        if status == 200 and done(view):
            return view
        time.sleep(0.25)
    pytest.fail(f"GET {path} never got there: {view}")


@pytest.mark.slow
def test_tradpal_up_runs_a_paper_trader_that_the_api_lists_and_controls(tmp_path):
    now = int(time.time() * 1000) // 60_000 * 60_000
    klines = generated_klines(120, "1m", seed=5, start_ms=now - 120 * 60_000)
    with FakeBinanceTrading({("BTC/USDT", "1m"): klines}, lifetime_s=300) as fake:
        config = fake.ccxt_config(timeout=5000)
        config.pop("apiKey"), config.pop("secret")  # paper: public candles only
        env = {"TRADPAL_SOURCE_OPTIONS": json.dumps({"ccxt:binance": {"config": config}})}
        up = start(tmp_path, "--no-sample", "--trade", "rsi_reversal:BTC/USDT:1m", env=env)
        try:
            tok = token(tmp_path, ["read", "trade"])
            running = lambda v: any(t["status"] == "running" for t in v["traders"])  # noqa: E731
            listing = poll(up.url, tok, "/v1/trading", running)
            (trader,) = listing["traders"]
            assert trader["trader_id"] == TRADER and trader["status"] == "running"
            assert (trader["mode"], trader["symbol"], trader["timeframe"]) == (
                "paper",
                "BTC/USDT",
                "1m",
            )
            assert trader["equity"] == trader["capital"] and trader["position"] == 0.0
            status, accepted = call(up.url, tok, "POST", f"/v1/trading/{TRADER}/pause",
                                    {"reason": "e2e"})  # fmt: skip
            assert status == 202 and accepted["version"] == 1, accepted
            poll(up.url, tok, f"/v1/trading/{TRADER}", lambda v: v["status"] == "paused")
            status, _ = call(up.url, tok, "POST", f"/v1/trading/{TRADER}/stop", {"flatten": True})
            assert status == 202
            view = poll(up.url, tok, f"/v1/trading/{TRADER}", lambda v: v["status"] == "stopped")
            assert view["pending_control"] is None and view["control_version"] == 2
        finally:
            out = up.stop()
    assert "Traceback" not in out, out
    assert "paper trader rsi_reversal:BTC/USDT:1m started" in out
