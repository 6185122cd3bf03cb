"""Events -> messages: the content a person reads, the stable dedupe id, number formats."""

from __future__ import annotations

import json
import math

import pytest

from tradpal.events import EventSchemaError
from tradpal.notify import NOTIFIABLE_TYPES, format_message
from tradpal.notify.format import (
    format_percent,
    format_price,
    format_quantity,
    format_time,
)


def test_trading_signal(signal_detail):
    m = format_message("trading_signal", signal_detail)
    assert m.type == "trading_signal"
    assert m.title == "BTC/USDT 1h: LONG"
    assert m.text == (
        "sma_cross wants to go long BTC/USDT at 64,250.50 after the 2024-05-01 13:00 UTC bar."
    )
    assert m.severity == "info"
    assert m.fields == {
        "Symbol": "BTC/USDT",
        "Timeframe": "1h",
        "Strategy": "sma_cross",
        "Side": "long",
        "Previous": "flat",
        "Price": "64,250.50",
        "Bar": "2024-05-01 13:00 UTC",
        "Params": "fast=10, slow=30",
    }
    assert m.event == signal_detail  # the validated detail travels with the message


def test_signal_exit_and_reversal(signal_detail):
    exit_ = format_message("trading_signal", {**signal_detail, "side": "flat", "previous": "long"})
    assert exit_.title == "BTC/USDT 1h: exit LONG"
    assert "close the long BTC/USDT position" in exit_.text
    flip = format_message("trading_signal", {**signal_detail, "side": "short", "previous": "long"})
    assert flip.title == "BTC/USDT 1h: SHORT"
    assert "go short BTC/USDT (from long)" in flip.text


def test_risk_alert(risk_detail):
    m = format_message("risk_alert", risk_detail)
    assert m.title == "Risk critical: kill switch on ETH/USDT"
    assert m.text == risk_detail["message"]
    assert m.severity == "critical"
    assert m.fields["Time"] == "2024-05-01 13:05 UTC"
    warning = format_message("risk_alert", {**risk_detail, "level": "warning", "symbol": None})
    assert warning.severity == "warning"
    assert warning.title == "Risk warning: kill switch"
    assert "Symbol" not in warning.fields


def test_order_executed(order_detail):
    m = format_message("order_executed", order_detail)
    assert m.title == "Bought 0.5 BTC/USDT @ 64,250.50 (paper)"
    assert m.fields["Notional"] == "32,125.25"
    assert m.fields["Fee"] == "32.13"
    assert m.fields["Quantity"] == "0.5"
    sold = format_message("order_executed", {**order_detail, "side": "sell", "mode": "live"})
    assert sold.title.startswith("Sold 0.5 BTC/USDT") and sold.title.endswith("(live)")


def test_backtest_succeeded_shows_key_metrics(backtest_ok_detail):
    m = format_message("backtest_complete", backtest_ok_detail)
    assert m.title == "Backtest bt-20240501-abc succeeded"
    assert m.severity == "success"
    assert m.fields == {
        "Run": "bt-20240501-abc",
        "Kind": "backtest",
        "Status": "SUCCEEDED",
        "Total return": "+12.34%",
        "CAGR": "-5.00%",
        "Sharpe": "1.46",
        "Max drawdown": "20.00%",
        "Win rate": "55.00%",
        "Profit factor": "n/a",  # infinite profit factor is stored as null
        "Trades": "1,234",
        "Final equity": "11,234.50",
    }
    assert m.text == (
        "Backtest bt-20240501-abc finished: Total return +12.34%, CAGR -5.00%, Sharpe 1.46, "
        "Max drawdown 20.00%."
    )


def test_discovery_succeeded_prefers_out_of_sample():
    m = format_message(
        "backtest_complete",
        {
            "kind": "discovery",
            "run_id": "disc-1",
            "status": "SUCCEEDED",
            "state_key": "runs/disc-1/state.json",
            "best": {
                "id": "c17",
                "params": {"fast": 8, "slow": 21},
                "is": {"total_return": 0.9, "sharpe": 3.0},
                "oos": {"total_return": 0.1, "sharpe": 0.8},
                "deflated_sharpe": 0.91,
            },
        },
    )
    assert m.title == "Discovery disc-1 succeeded"
    assert m.fields["Best"] == "c17"
    assert m.fields["Params"] == "fast=8, slow=21"
    assert m.fields["Total return"] == "+10.00%"
    assert m.fields["Sharpe"] == "0.80"


def test_failed_run_shows_the_error_not_the_stack():
    cause = json.dumps(
        {
            "errorMessage": "no stored data for BTC/USDT 1h in [2024-01-01, 2024-02-01)",
            "errorType": "StoreError",
            "stackTrace": ['  File "/var/task/handler.py", line 10, in handler\n'],
        }
    )
    m = format_message(
        "backtest_complete",
        {
            "kind": "backtest",
            "run_id": "bt-9",
            "status": "FAILED",
            "error": {"Error": "StoreError", "Cause": cause},
        },
    )
    assert m.title == "Backtest bt-9 failed"
    assert m.severity == "warning"
    assert m.text == "StoreError: no stored data for BTC/USDT 1h in [2024-01-01, 2024-02-01)"
    assert m.fields["Error"] == m.text
    assert "stackTrace" not in m.text and "/var/task" not in m.text


def test_long_plain_cause_is_cut_to_its_first_line():
    cause = "x" * 1000 + "\nsecond line with details"
    m = format_message(
        "backtest_complete",
        {
            "kind": "discovery",
            "run_id": "d-2",
            "status": "FAILED",
            "error": {"Error": "States.Timeout", "Cause": cause},
        },
    )
    assert len(m.text) <= 300 and m.text.endswith("…")
    assert "second line" not in m.text


def test_dedupe_id_is_stable_and_tracks_the_natural_key(signal_detail, backtest_ok_detail):
    a = format_message("trading_signal", signal_detail)
    b = format_message("trading_signal", dict(reversed(list(signal_detail.items()))))
    assert a.id == b.id and len(a.id) == 32
    int(a.id, 16)
    other = format_message("trading_signal", {**signal_detail, "signal_id": "other"})
    assert other.id != a.id
    ok = format_message("backtest_complete", backtest_ok_detail)
    failed = format_message(
        "backtest_complete",
        {
            "kind": "backtest",
            "run_id": backtest_ok_detail["run_id"],
            "status": "FAILED",
            "error": {"Error": "X"},
        },
    )
    assert ok.id != failed.id  # success and failure of one run are two facts


def test_payload_is_json_with_the_agreed_keys(signal_detail):
    m = format_message("trading_signal", signal_detail)
    body = json.loads(json.dumps(m.payload("2024-05-01T13:00:05Z"), allow_nan=False))
    assert set(body) == {"id", "type", "title", "text", "fields", "severity", "event", "sent_at"}
    assert body["event"]["price"] == 64250.5


def test_invalid_detail_names_the_field(signal_detail):
    with pytest.raises(EventSchemaError, match="price"):
        format_message("trading_signal", {**signal_detail, "price": "cheap"})
    with pytest.raises(EventSchemaError, match="unknown event type"):
        format_message("tradingsignal", signal_detail)


def test_non_notification_types_are_refused():
    detail = {
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "source": "binance",
        "first": "2024-01-01T00:00:00Z",
        "last": "2024-01-01T01:00:00Z",
        "bars": 2,
    }
    assert "market_data_update" not in NOTIFIABLE_TYPES
    with pytest.raises(EventSchemaError, match="not notifications"):
        format_message("market_data_update", detail)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (64250.5, "64,250.50"),
        (1000, "1,000.00"),
        (1.23456, "1.2346"),
        (12.3, "12.30"),
        (0.5, "0.50"),
        (0.000123456, "0.00012346"),
        (1e-9, "0.000000001"),
        (-0.0123, "-0.0123"),
        (0, "0.00"),
        (math.nan, "n/a"),
        (math.inf, "n/a"),
        (None, "n/a"),
    ],
)
def test_format_price(value, text):
    assert format_price(value) == text


def test_other_formats():
    assert format_quantity(0.123456789) == "0.12345679"
    assert format_quantity(1200) == "1,200"
    assert format_percent(0.1234) == "12.34%"
    assert format_percent(0.1234, signed=True) == "+12.34%"
    assert format_percent(True) == "n/a"
    assert format_time("2024-05-01T15:00:00+02:00") == "2024-05-01 13:00 UTC"
    assert format_time("yesterday") == "yesterday"
