"""The trading function through HTTP API v2 events against moto, its traders written by real
TradingStores as a trader writes them: the list and one trader (a stopped trader whose lease
expired is down), orders and fills newest first with limit and status, stop/pause/start
recorded with versions 1, 2, 3 and the caller's subject, 404 for an unknown trader, 422
naming the field for a bad limit, status or body; behind the local gateway a read-only token
cannot stop a trader."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from fakes.lambda_events import LambdaContext, http_event, json_body, load_handler

from tradpal.trading.book import Fill
from tradpal.trading.orders import Order, client_order_id
from tradpal.trading.store import TradingStore
from tradpal.trading.views import (
    ControlAccepted,
    FillsResponse,
    OrdersResponse,
    TradersResponse,
    TraderView,
)

module = load_handler("trading")
BAR = 1_767_225_600_000
SUMMARY = {
    "strategy": "ema_crossover", "symbol": "BTC/USDT", "timeframe": "1h", "exchange": "binance",
    "mode": "paper", "status": "running", "position": 0.25, "avg_entry_price": 42_000.0,
    "cash": 9_000.0, "equity": 10_500.5, "capital": 10_000.0, "realized_pnl": 12.5,
    "unrealized_pnl": 488.0, "last_price": 43_952.0, "last_bar_ms": BAR, "num_trades": 3,
    "paused_reason": None, "control_version": 0, "updated_ms": BAR + 5,
}  # fmt: skip


def call(method: str, path: str, *, subject: str | None = "u-alice", **kw) -> tuple:
    event = http_event(method, path, **kw)
    if subject is not None:  # as the JWT authorizer passes the verified claims
        claims = {"sub": subject, "scope": "trade"}
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": ["trade"]}}
    out = module.handler(event, LambdaContext())
    return out["statusCode"], json_body(out), out.get("headers") or {}


def order(i: int, **changes: Any) -> Order:
    bar = BAR + i * 3_600_000
    base = Order(
        client_order_id("ema-btc", "BTC/USDT", bar, "entry"), "BTC/USDT", "buy", "market",
        0.25, "entry", bar, reason="signal", info={"raw": "left out"},
    )  # fmt: skip
    return base.with_(**changes)


@pytest.fixture
def traders(aws) -> dict[str, TradingStore]:
    """``ema-btc`` running (3 orders, 2 fills), ``rsi-eth`` stopped and its lease long
    expired, ``bare`` leased without a state yet, ``old-doc`` with a state but no summary."""
    now = time.time()
    ema = TradingStore("ema-btc")
    ema.acquire_lease("task-1", 300.0, now)
    ema.save_state({"summary": SUMMARY, "guard": {"peak": 1.0}}, expected_version=None)
    for i, status in enumerate(("closed", "canceled", "open")):
        ema.put(order(i))
        ema.put(order(i, status=status, exchange_id=f"e{i}"))
    for i in range(2):
        ema.put_fill(Fill(f"t{i}", order(i).client_id, "buy", 0.25, 42_000.0 + i, 0.1, BAR + i))
    then = now - 3600
    eth = TradingStore("rsi-eth", clock=lambda: then)
    eth.acquire_lease("task-2", 30.0, then)
    stopped = {**SUMMARY, "symbol": "ETH/USDT", "status": "stopped", "position": 0.0}
    eth.save_state({"summary": stopped}, expected_version=None)
    TradingStore("bare").acquire_lease("task-3", 300.0, now)
    old = TradingStore("old-doc")
    old.acquire_lease("task-4", 300.0, now)
    old.save_state({"n": 1}, expected_version=None)
    return {"ema-btc": ema, "rsi-eth": eth}


def test_the_list_shows_every_trader_and_a_stopped_one_with_an_expired_lease_is_down(traders):
    status, body, _ = call("GET", "/v1/trading")
    assert status == 200, body
    TradersResponse.model_validate(body)
    by_id = {t["trader_id"]: t for t in body["traders"]}
    assert list(by_id) == ["bare", "ema-btc", "old-doc", "rsi-eth"]
    ema = by_id["ema-btc"]
    assert {k: ema[k] for k in SUMMARY} == SUMMARY
    assert (ema["status"], ema["alive"], ema["lease"]["owner"]) == ("running", True, "task-1")
    assert ema["pending_control"] is None and ema["state_version"] == 1
    assert ema["updated_at"].endswith("Z") and ema["lease"]["expires_at"].endswith("Z")
    assert ema["links"]["orders"] == "/v1/trading/ema-btc/orders"
    eth = by_id["rsi-eth"]
    assert (eth["status"], eth["reported_status"], eth["alive"]) == ("down", "stopped", False)
    assert eth["lease"]["owner"] == "task-2"
    for partial in ("bare", "old-doc"):  # no summary (yet): its fields are null, it starts
        assert by_id[partial]["alive"] is True and by_id[partial]["symbol"] is None
        assert by_id[partial]["status"] == "starting" and by_id[partial]["position"] is None
    assert by_id["bare"]["state_version"] == 0 and by_id["bare"]["updated_at"] is None


def test_one_trader_and_a_404_for_an_unknown_one(traders):
    status, one, _ = call("GET", "/v1/trading/rsi-eth")
    assert status == 200 and TraderView.model_validate(one).status == "down"
    listed = {t["trader_id"]: t for t in call("GET", "/v1/trading")[1]["traders"]}
    assert one == listed["rsi-eth"]
    for path in ("/v1/trading/nobody", "/v1/trading/nobody/orders", "/v1/trading/nobody/fills"):
        status, body, _ = call("GET", path)
        assert status == 404 and body["error"]["code"] == "not_found", path
        assert body["error"]["message"] == "no trader nobody"
        assert "GET /v1/trading" in body["error"]["details"]["hint"]


def test_orders_are_listed_newest_first_with_limit_and_status(traders):
    status, body, _ = call("GET", "/v1/trading/ema-btc/orders")
    assert status == 200, body
    OrdersResponse.model_validate(body)
    assert [o["status"] for o in body["orders"]] == ["open", "canceled", "closed"]
    assert body["orders"][0] == {
        "client_id": order(2).client_id, "exchange_id": "e2", "symbol": "BTC/USDT",
        "side": "buy", "type": "market", "intent": "entry", "status": "open", "amount": 0.25,
        "filled": 0.0, "price": None, "stop_price": None, "reduce_only": False,
        "reason": "signal", "bar_ms": BAR + 2 * 3_600_000,
    }  # fmt: skip
    assert body["truncated"] is False
    _, two, _ = call("GET", "/v1/trading/ema-btc/orders", query={"limit": "2"})
    assert [o["exchange_id"] for o in two["orders"]] == ["e2", "e1"] and two["truncated"]
    _, closed, _ = call("GET", "/v1/trading/ema-btc/orders", query={"status": "closed"})
    assert [o["exchange_id"] for o in closed["orders"]] == ["e0"]
    _, none, _ = call("GET", "/v1/trading/rsi-eth/orders", query={"status": "new"})
    assert none == {"trader_id": "rsi-eth", "orders": [], "truncated": False}


def test_fills_are_listed_newest_first_with_limit(traders):
    status, body, _ = call("GET", "/v1/trading/ema-btc/fills", query={"limit": "1"})
    assert status == 200, body
    FillsResponse.model_validate(body)
    assert [f["trade_id"] for f in body["fills"]] == ["t1"] and body["truncated"] is True
    assert body["fills"][0]["price"] == 42_001.0 and body["fills"][0]["time_ms"] == BAR + 1
    _, both, _ = call("GET", "/v1/trading/ema-btc/fills", query={"limit": "500"})
    assert [f["trade_id"] for f in both["fills"]] == ["t1", "t0"]


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("orders", {"limit": "0"}, "query.limit"),
        ("orders", {"limit": "501"}, "query.limit"),
        ("fills", {"limit": "many"}, "query.limit"),
        ("orders", {"status": "filled"}, "query.status"),
    ],
)
def test_a_bad_query_names_the_field(traders, path, query, field):
    status, body, _ = call("GET", f"/v1/trading/ema-btc/{path}", query=query)
    assert status == 422 and body["error"]["code"] == "validation_error", body
    assert [d["field"] for d in body["error"]["details"]] == [field]


def test_stop_pause_and_start_are_recorded_with_versions_and_the_caller(traders):
    status, stop, headers = call(
        "POST", "/v1/trading/ema-btc/stop", body={"flatten": True, "reason": "kill switch"}
    )
    assert status == 202, stop
    ControlAccepted.model_validate(stop)
    assert {k: stop[k] for k in ("trader_id", "command", "version", "flatten", "reason")} == {
        "trader_id": "ema-btc", "command": "stop", "version": 1, "flatten": True,
        "reason": "kill switch",
    }  # fmt: skip
    assert stop["requested_by"] == "u-alice" and stop["requested_at"].endswith("Z")
    assert headers["Location"] == "/v1/trading/ema-btc"
    status, pause, _ = call("POST", "/v1/trading/ema-btc/pause", subject="u-bob")  # no body
    assert (status, pause["version"], pause["flatten"]) == (202, 2, False)
    assert pause["requested_by"] == "u-bob" and pause["reason"] is None
    status, start, _ = call("POST", "/v1/trading/ema-btc/start", body={})
    assert (status, start["command"], start["version"]) == (202, "start", 3)
    # what the trader polls, and what the API shows until the trader has applied it
    control = TradingStore("ema-btc").control()
    assert (control.command, control.version, control.requested_by) == ("start", 3, "u-alice")
    _, one, _ = call("GET", "/v1/trading/ema-btc")
    assert one["pending_control"] == {k: v for k, v in start.items() if k != "links"}
    assert one["last_control"] == one["pending_control"]
    ema = traders["ema-btc"]  # the trader applies version 3
    ema.save_state({"summary": {**SUMMARY, "control_version": 3}}, expected_version=1)
    _, one, _ = call("GET", "/v1/trading/ema-btc")
    assert one["pending_control"] is None and one["last_control"]["version"] == 3
    # a down trader still takes a stop: it applies it when it comes back
    status, down, _ = call("POST", "/v1/trading/rsi-eth/stop")
    assert (status, down["version"]) == (202, 1)


@pytest.mark.parametrize(
    ("command", "body", "field"),
    [
        ("stop", {"flatten": "yes"}, "body.flatten"),
        ("stop", {"reason": "x" * 201}, "body.reason"),
        ("stop", {"flaten": True}, "body.flaten"),
        ("pause", {"flatten": True}, "body.flatten"),  # only a stop closes positions
        ("start", {"reason": 5}, "body.reason"),
    ],
)
def test_a_bad_control_body_names_the_field_and_records_nothing(traders, command, body, field):
    status, answer, _ = call("POST", f"/v1/trading/ema-btc/{command}", body=body)
    assert status == 422 and answer["error"]["code"] == "validation_error", answer
    assert [d["field"] for d in answer["error"]["details"]] == [field]
    assert TradingStore("ema-btc").control() is None


def test_control_of_an_unknown_trader_is_a_404_and_a_bad_id_a_422(traders):
    status, body, _ = call("POST", "/v1/trading/nobody/stop", body={"flatten": True})
    assert status == 404 and body["error"]["message"] == "no trader nobody"
    assert TradingStore("nobody").control() is None
    status, body, _ = call("GET", "/v1/trading/-dash")
    assert status == 422 and body["error"]["details"][0]["field"] == "path.id"


def test_behind_the_gateway_a_read_token_cannot_stop_a_trader(traders, tmp_path):
    from fakes.api_client import Client

    from tradpal.auth.issuer import LocalIssuer
    from tradpal.local.gateway import LocalGateway
    from tradpal.platform.catalog import CATALOG

    issuer = LocalIssuer.load_or_create(tmp_path / "issuer")
    calls = []

    def invoke(capability: str, event: dict) -> dict:
        calls.append(capability)
        return module.handler(copy.deepcopy(event), LambdaContext())

    config = issuer.authorizer_config()
    with LocalGateway(CATALOG, invoke, authorizer=config, jwks=issuer.jwks()) as gateway:
        reader = Client(gateway.url, issuer.mint(["read"], subject="viewer"))
        status, body, _ = reader.call("POST", "/v1/trading/ema-btc/stop", {"flatten": True})
        assert status == 403 and body["error"]["code"] == "forbidden" and calls == []
        assert TradingStore("ema-btc").control() is None
        status, body, _ = reader.call("GET", "/v1/trading/ema-btc")
        assert status == 200 and body["status"] == "running" and calls == ["trading"]
        trader = Client(gateway.url, issuer.mint(["trade"], subject="operator"))
        status, body, _ = trader.call("POST", "/v1/trading/ema-btc/stop", {"flatten": True})
        assert status == 202 and body["requested_by"] == "operator" and body["version"] == 1
