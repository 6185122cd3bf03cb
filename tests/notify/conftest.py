"""Fixtures for the notification tests: sample event details and a local webhook receiver."""

from __future__ import annotations

import pytest

from tradpal.notify.receiver import WebhookReceiver


@pytest.fixture
def signal_detail() -> dict:
    return {
        "version": 1,
        "signal_id": "sig-btc-1h-sma-20240501T1300",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "strategy": "sma_cross",
        "params": {"slow": 30, "fast": 10},
        "time": "2024-05-01T13:00:00Z",
        "side": "long",
        "previous": "flat",
        "price": 64250.5,
    }


@pytest.fixture
def risk_detail() -> dict:
    return {
        "alert_id": "risk-42",
        "level": "critical",
        "kind": "kill_switch",
        "message": "Drawdown reached 25.3% (limit 25%): trading halted",
        "symbol": "ETH/USDT",
        "time": "2024-05-01T13:05:00+00:00",
    }


@pytest.fixture
def order_detail() -> dict:
    return {
        "order_id": "ord-7",
        "symbol": "BTC/USDT",
        "side": "buy",
        "quantity": 0.5,
        "price": 64250.5,
        "fee": 32.13,
        "mode": "paper",
        "time": "2024-05-01T14:00:00Z",
    }


@pytest.fixture
def backtest_ok_detail() -> dict:
    return {
        "kind": "backtest",
        "run_id": "bt-20240501-abc",
        "status": "SUCCEEDED",
        "result": {
            "bucket": "results",
            "key": "runs/bt-20240501-abc/result.json",
            "metrics": {
                "total_return": 0.1234,
                "cagr": -0.05,
                "sharpe": 1.4567,
                "max_drawdown": 0.2,
                "win_rate": 0.55,
                "profit_factor": None,
                "num_trades": 1234,
                "final_equity": 11234.5,
                "sortino": 2.0,
            },
        },
    }


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 (stopped after the test)."""
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def sleeps() -> list[float]:
    """Injected ``sleep``: records the requested delays instead of waiting."""
    return []
