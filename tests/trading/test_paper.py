"""The paper exchange (tradpal.trading.paper): ccxt's interface and exceptions, and the
backtest engine's fill rules driven by candles."""

from __future__ import annotations

import pytest
from ccxt.base.errors import BadSymbol, DuplicateOrderId, InvalidOrder, OrderNotFound

from tradpal.trading.paper import PaperExchange

S = "BTC/USDT"


def paper(**kw) -> PaperExchange:
    ex = PaperExchange(10_000.0, symbols=(S,), **kw)
    ex.open_bar(S, 0, 100.0, volume=50.0)
    return ex


def test_a_market_order_fills_at_once_at_the_price_moved_by_slippage_and_pays_fees():
    ex = paper(fees=0.001, slippage=0.01)
    order = ex.create_order(S, "market", "buy", 2.0, None, {"clientOrderId": "a1"})
    assert order["status"] == "closed" and order["filled"] == 2.0 and order["average"] == 101.0
    (trade,) = ex.fetch_my_trades(S)
    assert trade["price"] == 101.0 and trade["fee"]["cost"] == 2.0 * 101.0 * 0.001
    assert ex.fetch_balance()["USDT"]["total"] == 10_000.0 - (202.0 + 0.202)
    assert ex.fetch_balance()["BTC"]["total"] == 2.0
    assert ex.fetch_order(None, S, {"clientOrderId": "a1"})["id"] == order["id"]


def test_a_client_order_id_is_taken_once():
    ex = paper()
    ex.create_order(S, "limit", "buy", 1.0, 90.0, {"clientOrderId": "same"})
    with pytest.raises(DuplicateOrderId):
        ex.create_order(S, "limit", "buy", 1.0, 90.0, {"clientOrderId": "same"})
    assert len(ex.fetch_open_orders(S)) == 1


def test_bad_orders_get_ccxts_exceptions():
    ex = paper()
    with pytest.raises(BadSymbol):
        ex.create_order("ETH/USDT", "market", "buy", 1.0)
    with pytest.raises(InvalidOrder, match="positive"):
        ex.create_order(S, "market", "buy", 0.0)
    with pytest.raises(InvalidOrder, match="reduce-only"):
        ex.create_order(S, "market", "sell", 1.0, None, {"reduceOnly": True})
    with pytest.raises(OrderNotFound):
        ex.fetch_order("404", S)


def test_a_bar_touching_stop_and_target_takes_the_stop_and_the_target_expires():
    ex = paper(slippage=0.001)
    ex.create_order(S, "market", "buy", 1.0)
    ex.close_bar(S, 100.0)
    ex.create_order(
        S,
        "market",
        "sell",
        1.0,
        None,
        {"stopPrice": 95.0, "reduceOnly": True, "clientOrderId": "s"},
    )
    ex.create_order(S, "limit", "sell", 1.0, 105.0, {"reduceOnly": True, "clientOrderId": "t"})
    ex.open_bar(S, 60_000, 100.0)
    ex.range_bar(S, 106.0, 94.0)
    stop = ex.fetch_order(None, S, {"clientOrderId": "s"})
    assert stop["status"] == "closed" and stop["average"] == 95.0 * (1 - 0.001)
    assert ex.fetch_order(None, S, {"clientOrderId": "t"})["status"] == "expired"
    assert ex.positions[S] == 0.0


def test_an_open_through_a_level_fills_there_at_the_open():
    ex = paper(slippage=0.001)
    ex.create_order(S, "market", "sell", 1.0)  # short 1
    ex.create_order(S, "limit", "buy", 1.0, 90.0, {"reduceOnly": True, "clientOrderId": "t"})
    ex.open_bar(S, 60_000, 85.0)
    ex.range_bar(S, 88.0, 84.0)
    target = ex.fetch_order(None, S, {"clientOrderId": "t"})
    assert target["average"] == 85.0  # the better open, a limit order: no slippage


def test_limit_fills_take_at_most_their_share_of_the_bars_volume():
    ex = paper(volume_share=0.1)
    ex.create_order(S, "limit", "buy", 8.0, 95.0, {"clientOrderId": "l"})
    ex.open_bar(S, 60_000, 100.0, volume=50.0)
    ex.range_bar(S, 101.0, 94.0)
    order = ex.fetch_order(None, S, {"clientOrderId": "l"})
    assert order["status"] == "open" and order["filled"] == 5.0 and order["remaining"] == 3.0
    ex.open_bar(S, 120_000, 96.0, volume=50.0)
    ex.range_bar(S, 97.0, 94.5)
    order = ex.fetch_order(None, S, {"clientOrderId": "l"})
    assert order["status"] == "closed" and order["filled"] == 8.0
    assert [t["amount"] for t in ex.fetch_my_trades(S)] == [5.0, 3.0]


def test_a_cancelled_order_no_longer_fills():
    ex = paper()
    order = ex.create_order(S, "limit", "buy", 1.0, 95.0)
    assert ex.cancel_order(order["id"], S)["status"] == "canceled"
    ex.open_bar(S, 60_000, 90.0)
    ex.range_bar(S, 91.0, 89.0)
    assert ex.fetch_my_trades(S) == [] and ex.fetch_open_orders(S) == []
    with pytest.raises(OrderNotFound):
        ex.cancel_order(order["id"], S)
