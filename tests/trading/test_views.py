"""The trading API's views from store items: a summary's missing or mistyped keys read as
null, a trader whose lease is not held now is down, a control is pending until the summary
says its version was applied, orders and fills come newest first, and every view is the
shape its response model documents."""

from __future__ import annotations

import math

import pytest

from tradpal.trading.book import Fill
from tradpal.trading.orders import Order
from tradpal.trading.store import Control, Lease, TraderSummary
from tradpal.trading.views import (
    SUMMARY_FIELDS,
    FillsResponse,
    OrdersResponse,
    TradersResponse,
    TraderView,
    control_accepted,
    fills_view,
    iso,
    orders_view,
    subject_of,
    summary_fields,
    trader_view,
    traders_view,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def summary(state=None, *, lease_until: float | None = T0 + 30, control=None) -> TraderSummary:
    lease = None if lease_until is None else Lease("t", "task-1", lease_until, T0)
    return TraderSummary("t", state, 4 if state else 0, T0 if state else None, lease, control)


def control(version: int, command: str = "stop") -> Control:
    return Control("t", command, True, "why", "u1", T0 + 0.5, version)


def test_the_summary_fields_are_the_documented_ones():
    model = set(TraderView.model_fields)
    assert set(SUMMARY_FIELDS) <= model and len(SUMMARY_FIELDS) == 19
    assert set(trader_view(summary(), T0)) == model


def test_missing_or_mistyped_summary_keys_read_as_null():
    assert summary_fields(None) == dict.fromkeys(SUMMARY_FIELDS)
    assert summary_fields({"summary": "not a mapping"}) == dict.fromkeys(SUMMARY_FIELDS)
    got = summary_fields(
        {"summary": {"symbol": "BTC/USDT", "status": 3, "position": -0.5, "cash": True,
                     "equity": math.nan, "num_trades": 7.0, "last_bar_ms": 1.5,
                     "control_version": "2", "capital": 10_000}}
    )  # fmt: skip
    assert got["symbol"] == "BTC/USDT" and got["status"] is None  # text, or null
    assert got["position"] == -0.5 and got["capital"] == 10_000.0  # numbers
    assert got["cash"] is None and got["equity"] is None  # a boolean, NaN
    assert got["num_trades"] == 7 and type(got["num_trades"]) is int  # a whole float
    assert got["last_bar_ms"] is None and got["control_version"] is None
    assert got["strategy"] is None  # missing


def test_alive_while_the_lease_is_held_and_down_after():
    state = {"summary": {"status": "stopped"}}
    at_expiry = trader_view(summary(state, lease_until=T0), T0)  # the last second: held
    assert (at_expiry["alive"], at_expiry["status"]) == (True, "stopped")
    after = trader_view(summary(state, lease_until=T0), T0 + 0.001)
    assert (after["alive"], after["status"], after["reported_status"]) == (False, "down", "stopped")
    released = trader_view(summary(state, lease_until=None), T0)
    assert (released["status"], released["lease"]) == ("down", None)
    view = trader_view(summary(state), T0)
    assert view["lease"] == {"owner": "task-1", "expires_at": "2026-01-01T00:00:30.000Z"}
    assert view["updated_at"] == "2026-01-01T00:00:00.000Z" and view["state_version"] == 4


@pytest.mark.parametrize(
    ("applied", "version", "pending"),
    [(None, 1, True), (0, 1, True), (1, 1, False), (2, 3, True), (3, 3, False), (5, 3, False)],
)
def test_a_control_is_pending_until_its_version_is_applied(applied, version, pending):
    state = {"summary": {"status": "running", "control_version": applied}}
    view = trader_view(summary(state, control=control(version)), T0)
    assert (view["pending_control"] is not None) is pending
    assert view["last_control"]["version"] == version
    assert view["last_control"] == {
        "trader_id": "t", "command": "stop", "version": version, "flatten": True,
        "reason": "why", "requested_by": "u1", "requested_at": "2026-01-01T00:00:00.500Z",
    }  # fmt: skip
    assert trader_view(summary(state), T0)["pending_control"] is None  # none asked


def test_the_views_are_the_models_shapes():
    full = {"summary": {name: None for name in SUMMARY_FIELDS} | {"status": "paused"}}
    body = traders_view([summary(full, control=control(2)), summary()], T0)
    assert TradersResponse.model_validate(body).traders[0].status == "paused"
    assert body["as_of"] == "2026-01-01T00:00:00.000Z"
    accepted = control_accepted(control(2))
    assert accepted["links"] == {"trader": "/v1/trading/t"}


def order(i: int, status: str) -> Order:
    return Order(f"c{i}", "BTC/USDT", "sell", "stop_market", 1.0, "stop", i, stop_price=9.0,
                 status=status, info={"big": "x" * 1000})  # fmt: skip


def test_orders_newest_first_filtered_and_limited_without_info():
    orders = [order(i, s) for i, s in enumerate(["closed", "open", "closed", "new"])]
    body = orders_view("t", orders, limit=10)
    assert [o["client_id"] for o in body["orders"]] == ["c3", "c2", "c1", "c0"]
    assert "info" not in body["orders"][0] and body["orders"][0]["stop_price"] == 9.0
    OrdersResponse.model_validate(body)
    closed = orders_view("t", orders, limit=1, status="closed")
    assert [o["client_id"] for o in closed["orders"]] == ["c2"] and closed["truncated"]
    assert orders_view("t", orders, limit=2, status="closed")["truncated"] is False
    assert orders_view("t", [], limit=5) == {"trader_id": "t", "orders": [], "truncated": False}


def test_fills_newest_first_and_limited():
    fills = [Fill(f"x{i}", "c", "buy", 1.0, 10.0 + i, 0.01, i, "signal", 0.001) for i in range(3)]
    body = fills_view("t", fills, limit=2)
    assert [f["trade_id"] for f in body["fills"]] == ["x2", "x1"] and body["truncated"]
    assert body["fills"][0] == {
        "trade_id": "x2", "client_id": "c", "side": "buy", "amount": 1.0, "price": 12.0,
        "fee": 0.01, "base_fee": 0.001, "time_ms": 2, "reason": "signal",
    }  # fmt: skip
    FillsResponse.model_validate(body)


def test_the_caller_is_the_tokens_subject():
    def event(claims):
        return {"requestContext": {"authorizer": {"jwt": {"claims": claims, "scopes": []}}}}

    assert subject_of(event({"sub": "u1", "client_id": "app"})) == "u1"
    assert subject_of(event({"client_id": "app"})) == "app"  # a client-credentials token
    assert subject_of(event({})) is None
    assert subject_of({"requestContext": {}}) is None  # a route without an authorizer
    assert subject_of(event({"sub": "u" * 300})) == "u" * 256


def test_times_are_iso_utc_with_milliseconds():
    assert iso(T0 + 1.2345) == "2026-01-01T00:00:01.234Z"
    assert iso(None) is None and iso(math.nan) is None


def test_a_trader_alive_before_its_first_state_write_is_starting():
    assert trader_view(summary(None), T0)["status"] == "starting"  # warming up, restoring
    assert trader_view(summary(None, lease_until=T0 - 1), T0)["status"] == "down"
