"""The fake Binance spot exchange trades like Binance, driven by the real ccxt clients.

Every test talks to 127.0.0.1 only: the sync ``ccxt.binance`` and the async
``ccxt.pro.binance`` clients are configured from ``FakeBinanceTrading.ccxt_config()``, so their
production code paths (signing, parsing, error mapping, websocket subscriptions) run
unchanged. A few tests speak the wire protocol by hand to pin what ccxt does not show.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlencode

import ccxt
import ccxt.pro
import pytest
from fakes.fake_binance import dropped_answer, generated_klines, late_answer, no_answer
from fakes.fake_binance_market import (
    BinanceError,
    err_duplicate_order,
    err_filter,
    err_insufficient_balance,
    err_invalid_symbol,
    err_no_such_order,
    err_stop_would_trigger,
    err_unknown_order,
)
from fakes.fake_binance_trading import DEFAULT_API_KEY, DEFAULT_SECRET, FakeBinanceTrading
from fakes.fake_binance_ws import drop_on, duplicate, swallow
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

T = TypeVar("T")
SYMBOL = "BTC/USDT"
MINUTE = 60_000
T0 = 1_700_000_000_000


@pytest.fixture
def fake():
    with FakeBinanceTrading(balances={"USDT": "100000", "BTC": "1"}) as server:
        server.market.set_price(SYMBOL, "40000")
        yield server


def rest(fake: FakeBinanceTrading, **overrides: Any) -> ccxt.binance:
    return ccxt.binance(fake.ccxt_config(**{"timeout": 3000, "rateLimit": 1, **overrides}))


def run_pro(
    fake: FakeBinanceTrading,
    main: Callable[[ccxt.pro.binance], Awaitable[T]],
    limit_s: float = 15,
    **overrides: Any,
) -> T:
    """Run ``main`` with a ccxt.pro client on the fake (``overrides`` go to its config),
    within ``limit_s`` seconds, closing the client whatever happens."""

    async def wrapper() -> T:
        settings = {"timeout": 3000, "rateLimit": 1, **overrides}
        client = ccxt.pro.binance(fake.ccxt_config(**settings))
        try:
            return await asyncio.wait_for(main(client), limit_s)
        finally:
            await client.close()

    return asyncio.run(wrapper())


async def until(predicate: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.01)


async def user_stream(fake: FakeBinanceTrading, count: int = 1) -> None:
    """Wait until ``count`` user data subscriptions were granted; a short pause more lets
    the client take the answer in before the events that follow it."""
    await until(lambda: fake.ws.user_subscriptions >= count)
    await asyncio.sleep(0.05)


def kline(i: int, *, o: str, h: str, lo: str, c: str, v: str = "10", n: int = 5) -> list[Any]:
    t = T0 + i * MINUTE
    return [t, o, h, lo, c, v, t + MINUTE - 1, "0", n, "0", "0", "0"]


# ----------------------------------------------------------------- orders over REST
def test_limit_order_lifecycle_by_id_and_client_id(fake):
    client = rest(fake)
    order = client.create_order(SYMBOL, "limit", "buy", 0.01, 39000, {"clientOrderId": "lim-1"})
    assert (order["clientOrderId"], order["status"], order["price"]) == ("lim-1", "open", 39000)
    assert fake.requests[-1].params["newClientOrderId"] == "lim-1"  # ccxt's mapping
    by_id = client.fetch_order(order["id"], SYMBOL)
    by_client = client.fetch_order(None, SYMBOL, {"origClientOrderId": "lim-1"})
    assert by_id["id"] == by_client["id"] == order["id"] and by_client["status"] == "open"
    assert [o["id"] for o in client.fetch_open_orders(SYMBOL)] == [order["id"]]
    usdt = client.fetch_balance()["USDT"]
    assert (usdt["free"], usdt["used"]) == (100000 - 390, 390)  # 0.01 x 39000 held

    cancelled = client.cancel_order(order["id"], SYMBOL)
    assert cancelled["status"] == "canceled"
    assert cancelled["info"]["origClientOrderId"] == "lim-1"
    assert client.fetch_open_orders(SYMBOL) == []
    assert client.fetch_balance()["USDT"]["free"] == 100000
    statuses = [o["status"] for o in client.fetch_orders(SYMBOL)]
    assert statuses == ["canceled"]


def test_market_buy_by_cost_charges_commission_in_base(fake):
    client = rest(fake)
    order = client.create_market_buy_order_with_cost(SYMBOL, 100)
    assert fake.requests[-1].params["quoteOrderQty"] == "100"
    assert order["status"] == "closed" and order["cost"] <= 100
    assert order["filled"] == pytest.approx(0.0025)  # 100 / 40000, on the 0.00001 step
    (fill,) = order["info"]["fills"]
    assert (fill["price"], fill["commission"], fill["commissionAsset"]) == (
        "40000.00000000",
        "0.00000250",
        "BTC",
    )
    (trade,) = client.fetch_my_trades(SYMBOL)
    assert trade["order"] == order["id"] and trade["takerOrMaker"] == "taker"
    assert trade["fee"] == {"currency": "BTC", "cost": pytest.approx(0.0000025)}
    balance = client.fetch_balance()
    assert balance["BTC"]["free"] == pytest.approx(1 + 0.0025 - 0.0000025)
    assert balance["USDT"]["free"] == pytest.approx(100000 - 100)
    assert fake.market.balance("BTC") == (Decimal("1.00249750"), Decimal(0))


def test_market_sell_pays_commission_in_quote(fake):
    order = rest(fake).create_order(SYMBOL, "market", "sell", 0.5)
    assert order["status"] == "closed" and order["cost"] == 20000
    assert fake.market.balance("USDT")[0] == Decimal(100000 + 20000 - 20)
    assert fake.market.balance("BTC") == (Decimal("0.5"), Decimal(0))


def test_limit_order_fills_when_pushed_prices_cross_it(fake):
    client = rest(fake)
    order = client.create_order(SYMBOL, "limit", "buy", 0.01, 39000)
    fake.market.set_price(SYMBOL, "39500")
    assert client.fetch_order(order["id"], SYMBOL)["status"] == "open"
    fake.market.push_candle(SYMBOL, "1m", kline(0, o="39500", h="39600", lo="38800", c="39200"))
    filled = client.fetch_order(order["id"], SYMBOL)
    assert (filled["status"], filled["filled"], filled["average"]) == ("closed", 0.01, 39000)
    (trade,) = client.fetch_my_trades(SYMBOL)
    assert (trade["price"], trade["takerOrMaker"]) == (39000, "maker")  # its own price
    assert fake.market.price(SYMBOL) == Decimal("39200")  # the candle's close
    # the pushed candle is served by REST too
    assert client.fetch_ohlcv(SYMBOL, "1m")[-1] == [T0, 39500, 39600, 38800, 39200, 10]


def test_marketable_limit_takes_at_the_market_price_and_returns_the_rest(fake):
    client = rest(fake)
    order = client.create_order(SYMBOL, "limit", "buy", 0.01, 41000)
    assert (order["status"], order["average"]) == ("closed", 40000)
    assert fake.market.balance("USDT") == (Decimal(100000 - 400), Decimal(0))


def test_partial_fills(fake):
    client = rest(fake)
    fake.market.partial_fills("0.5")
    market = client.create_order(SYMBOL, "market", "buy", 0.002)
    assert (market["status"], market["filled"]) == ("expired", 0.001)  # the rest expires

    fake.market.partial_fills("0.3")
    limit = client.create_order(SYMBOL, "limit", "buy", 0.01, 39000)
    fake.market.set_price(SYMBOL, "38900")
    part = client.fetch_order(limit["id"], SYMBOL)
    assert (part["status"], part["filled"], part["info"]["status"]) == (
        "open",
        0.003,
        "PARTIALLY_FILLED",
    )
    fake.market.set_price(SYMBOL, "38950")  # the next move fills the rest
    assert client.fetch_order(limit["id"], SYMBOL)["filled"] == 0.01
    assert len(client.fetch_my_trades(SYMBOL, params={"orderId": limit["id"]})) == 2


def test_limit_fills_capped_by_candle_volume(fake):
    client = rest(fake)
    order = client.create_order(SYMBOL, "limit", "buy", 0.5, 39000)
    fake.market.limit_fills_to_volume("0.1")
    fake.market.push_candle(
        SYMBOL, "1m", kline(0, o="39500", h="39500", lo="38900", c="39100", v="2"), closed=False
    )
    assert client.fetch_order(order["id"], SYMBOL)["filled"] == pytest.approx(0.2)
    fake.market.push_candle(
        SYMBOL, "1m", kline(0, o="39500", h="39500", lo="38900", c="39100", v="3")
    )
    assert client.fetch_order(order["id"], SYMBOL)["filled"] == pytest.approx(0.3)  # +0.1
    fake.market.push_candle(
        SYMBOL, "1m", kline(1, o="39100", h="39100", lo="38950", c="39000", v="9")
    )
    assert client.fetch_order(order["id"], SYMBOL)["status"] == "closed"


def test_stops_trigger_at_the_stop_price(fake):
    client = rest(fake)
    stop = client.create_order(SYMBOL, "market", "sell", 0.01, None, {"stopLossPrice": 39000})
    assert stop["info"]["type"] == "STOP_LOSS" and stop["status"] == "open"
    take = client.create_order(SYMBOL, "limit", "sell", 0.01, 41000, {"takeProfitPrice": 41000})
    assert fake.requests[-1].params["type"] == "TAKE_PROFIT_LIMIT"
    fake.market.push_candle(SYMBOL, "1m", kline(0, o="40000", h="41200", lo="39900", c="41100"))
    assert client.fetch_order(take["id"], SYMBOL)["status"] == "closed"
    assert client.fetch_order(stop["id"], SYMBOL)["status"] == "open"
    fake.market.set_price(SYMBOL, "38500")  # a gap through the stop fills at the new price
    filled = client.fetch_order(stop["id"], SYMBOL)
    assert (filled["status"], filled["average"]) == ("closed", 38500)
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="Stop price would trigger"):
        client.create_order(SYMBOL, "market", "sell", 0.01, None, {"stopLossPrice": 39000})


def test_my_trades_and_orders_follow_binance_query_rules(fake):
    client = rest(fake)
    ids = [client.create_order(SYMBOL, "market", "buy", 0.001)["id"] for _ in range(4)]
    trades = client.fetch_my_trades(SYMBOL)
    assert [t["order"] for t in trades] == ids
    first = int(trades[0]["id"])
    assert [
        t["order"] for t in client.fetch_my_trades(SYMBOL, params={"fromId": first + 2})
    ] == ids[2:]
    assert [t["order"] for t in client.fetch_my_trades(SYMBOL, limit=2)] == ids[2:]  # newest
    since = client.fetch_my_trades(SYMBOL, since=trades[0]["timestamp"], limit=1)
    assert [t["order"] for t in since] == ids[:1]  # from startTime: the oldest
    with pytest.raises(ccxt.BadRequest, match="Combination of optional parameters"):
        client.fetch_my_trades(SYMBOL, since=trades[0]["timestamp"], params={"fromId": first})
    assert [o["id"] for o in client.fetch_orders(SYMBOL, params={"orderId": ids[1]})] == ids[1:]


# ------------------------------------------------------------------------- errors
def test_refused_orders_raise_what_ccxt_maps_binance_errors_to(fake):
    client = rest(fake)
    client.create_order(SYMBOL, "limit", "buy", 0.01, 39000, {"clientOrderId": "dup"})
    # ccxt 4.5 maps -2010 "Duplicate order sent." to InvalidOrder, not DuplicateOrderId
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order(SYMBOL, "limit", "buy", 0.01, 39000, {"clientOrderId": "dup"})
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):
        client.create_order(SYMBOL, "limit", "buy", 3, 39000)
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        client.create_order(SYMBOL, "limit", "buy", 0.0001, 39000)  # 3.90 < 5
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: LOT_SIZE"):
        client.create_order(SYMBOL, "market", "sell", 10000)  # above maxQty 9000
    with pytest.raises(ccxt.BadSymbol, match="Invalid symbol"):
        # a symbol ccxt does not know is refused before sending: use the raw endpoint
        client.private_post_order({"symbol": "DOGEUSDT", "side": "BUY", "type": "MARKET"})
    with pytest.raises(ccxt.OrderNotFound, match="Order does not exist"):
        client.fetch_order("424242", SYMBOL)
    filled = client.create_order(SYMBOL, "market", "buy", 0.001)
    with pytest.raises(ccxt.OrderNotFound, match="Unknown order sent"):
        client.cancel_order(filled["id"], SYMBOL)
    assert [r.status for r in fake.requests if r.path == "/api/v3/order"][1:] == [400] * 6 + [
        200,
        400,
    ]


def test_bad_credentials_are_refused(fake):
    with pytest.raises(ccxt.AuthenticationError, match="Signature for this request"):
        rest(fake, secret="not-the-secret").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="Invalid API-key"):
        rest(fake, apiKey="not-the-key").fetch_balance()
    old = rest(fake)
    old.nonce = lambda: int(time.time() * 1000) - 60_000  # a clock a minute behind
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        old.fetch_balance()


@pytest.mark.parametrize(
    "error",
    [
        err_duplicate_order(),
        err_insufficient_balance(),
        err_filter("NOTIONAL"),
        err_filter("LOT_SIZE"),
        err_invalid_symbol(),
        err_no_such_order(),
        err_unknown_order(),
        err_stop_would_trigger(),
        BinanceError(-1022, "Signature for this request is not valid."),
        BinanceError(-1021, "Timestamp for this request is outside of the recvWindow."),
    ],
    ids=lambda e: str(e.code) + " " + e.msg,
)
def test_ccxt_maps_each_fake_error_as_it_maps_binance_own(fake, error):
    """ccxt picks part of its error table by the URL's host, which the fake cannot have: the
    class it raises for the fake's answer must be the one it raises for Binance's."""
    client = rest(fake)
    body = json.dumps(error.body())

    def raised(url: str) -> type[Exception]:
        with pytest.raises(ccxt.BaseError) as info:
            client.handle_errors(error.status, "", url, "POST", {}, body, error.body(), {}, "")
        return type(info.value)

    binance_url = ccxt.binance().urls["api"]["private"] + "/order"
    assert raised(fake.url + "/api/v3/order") is raised(binance_url)


def test_signature_over_query_then_body_as_binance_documents(fake):
    """Binance signs the query string followed by the body, no separator between them."""
    query = urlencode({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"})
    body = urlencode({"quantity": "0.01", "price": "39000", "timestamp": int(time.time() * 1000)})

    def post(signature: str, key: str = DEFAULT_API_KEY) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{fake.url}/api/v3/order?{query}",
            data=f"{body}&signature={signature}".encode(),
            headers={"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    good = hmac.new(DEFAULT_SECRET.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
    with_amp = hmac.new(DEFAULT_SECRET.encode(), f"{query}&{body}".encode(), hashlib.sha256)
    assert post(with_amp.hexdigest()) == (
        400,
        {"code": -1022, "msg": "Signature for this request is not valid."},
    )
    assert post(good, key="")[0:2] == (401, {"code": -2014, "msg": "API-key format invalid."})
    status, order = post(good)
    assert status == 200 and order["status"] == "NEW" and order["fills"] == []


# ------------------------------------------------------------------- websockets
def test_watch_ohlcv_receives_pushed_candles(fake):
    async def main(client: ccxt.pro.binance) -> list[list[Any]]:
        watch = asyncio.create_task(client.watch_ohlcv(SYMBOL, "1m"))
        await until(lambda: "btcusdt@kline_1m" in fake.ws.streams())
        fake.market.push_candle(
            SYMBOL, "1m", kline(0, o="40000", h="40100", lo="39900", c="40050"), closed=False
        )
        first = [list(c) for c in await watch]  # ccxt updates its cache in place
        fake.market.push_candle(SYMBOL, "1m", kline(0, o="40000", h="40200", lo="39900", c="40150"))
        fake.market.push_candle(SYMBOL, "1m", kline(1, o="40150", h="40150", lo="40100", c="40120"))
        # ccxt keeps one row per open time, updated by the forming candle's events
        cache = client.ohlcvs[SYMBOL]["1m"]
        await until(lambda: len(cache) == 2 and cache[-1][4] == 40120)
        return [*first, *cache]

    candles = run_pro(fake, main)
    assert candles[0] == [T0, 40000, 40100, 39900, 40050, 10]
    assert candles[1:] == [  # the closed bar as it closed, then the next one
        [T0, 40000, 40200, 39900, 40150, 10],
        [T0 + MINUTE, 40150, 40150, 40100, 40120, 10],
    ]
    flags = [e.payload["k"]["x"] for e in fake.ws.sent_events("kline")]
    assert flags == [False, True, True]
    k = fake.ws.sent_events("kline")[1].payload["k"]
    assert (k["s"], k["i"], k["t"], k["T"], k["c"], k["f"], k["L"]) == (
        "BTCUSDT",
        "1m",
        T0,
        T0 + MINUTE - 1,
        "40150",
        1,
        5,
    )


def test_watch_orders_my_trades_and_balance_receive_updates(fake):
    async def main(client: ccxt.pro.binance) -> tuple[Any, ...]:
        orders = asyncio.create_task(client.watch_orders(SYMBOL))
        await user_stream(fake)
        placed = await client.create_order(
            SYMBOL, "limit", "buy", 0.01, 39000, {"clientOrderId": "w-1"}
        )
        new = [dict(o) for o in await orders]  # a copy: ccxt's cache is live
        # the funds the order holds come in their own update: take it in before watching
        held = lambda: client.balance.get("spot", {}).get("USDT", {}).get("used")  # noqa: E731
        await until(lambda: held() == 390)
        trades = asyncio.create_task(client.watch_my_trades(SYMBOL))
        balance = asyncio.create_task(client.watch_balance())
        await asyncio.sleep(0.05)
        fake.market.set_price(SYMBOL, "38900")
        my_trades, bal = await trades, await balance
        await until(lambda: client.orders.hashmap[SYMBOL][placed["id"]]["status"] == "closed")
        return placed, new, my_trades, bal, client.orders.hashmap[SYMBOL][placed["id"]]

    placed, new, trades, balance, final = run_pro(fake, main)
    assert [(o["id"], o["clientOrderId"], o["status"]) for o in new] == [
        (placed["id"], "w-1", "open")
    ]
    (trade,) = trades
    assert (trade["order"], trade["price"], trade["amount"]) == (placed["id"], 39000, 0.01)
    assert trade["fee"] == {"currency": "BTC", "cost": pytest.approx(0.00001)}
    assert balance["BTC"]["free"] == pytest.approx(1.00999)
    assert (final["status"], final["filled"]) == ("closed", 0.01)
    reports = [e.payload for e in fake.ws.sent_events("executionReport")]
    assert [(r["x"], r["X"]) for r in reports] == [("NEW", "NEW"), ("TRADE", "FILLED")]


def test_user_data_stream_on_the_wire():
    """The WebSocket API messages as Binance sends them, seen without ccxt."""
    with FakeBinanceTrading(balances={"USDT": "1000"}) as fake:
        fake.market.set_price(SYMBOL, "40000")
        params = {"apiKey": DEFAULT_API_KEY, "timestamp": int(time.time() * 1000)}
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        signature = hmac.new(DEFAULT_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
        with connect(fake.ws_url + "/ws-api/v3", open_timeout=5) as ws:
            bad = {"id": "a", "method": "userDataStream.subscribe.signature"}
            ws.send(json.dumps({**bad, "params": {**params, "signature": "0" * 64}}))
            assert json.loads(ws.recv(5)) == {
                "id": "a",
                "status": 400,
                "error": {"code": -1022, "msg": "Signature for this request is not valid."},
            }
            ws.send(json.dumps({**bad, "id": "b", "params": {**params, "signature": signature}}))
            assert json.loads(ws.recv(5)) == {
                "id": "b",
                "status": 200,
                "result": {"subscriptionId": 0},
            }
            fake.script_ws(duplicate("executionReport"))
            fake.market.place_order(
                "BTCUSDT",
                "BUY",
                "LIMIT",
                quantity="0.01",
                price="39000",
                time_in_force="GTC",
                client_order_id="x1",
            )
            messages = [ws.recv(5) for _ in range(3)]
        assert messages[0] == messages[1]  # the duplicated NEW report, byte for byte
        report = json.loads(messages[0])
        assert report["subscriptionId"] == 0
        event = report["event"]
        assert (event["e"], event["x"], event["X"], event["c"], event["q"], event["p"]) == (
            "executionReport",
            "NEW",
            "NEW",
            "x1",
            "0.01000000",
            "39000.00000000",
        )
        position = json.loads(messages[2])["event"]
        assert position["e"] == "outboundAccountPosition"
        assert position["B"] == [{"a": "USDT", "f": "610.00000000", "l": "390.00000000"}]


def test_market_streams_on_the_wire(fake):
    with (
        connect(fake.ws_url + "/ws", open_timeout=5) as raw,
        connect(fake.ws_url + "/stream?streams=btcusdt@kline_1m", open_timeout=5) as combined,
    ):
        raw.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 7}))
        assert json.loads(raw.recv(5)) == {"result": None, "id": 7}
        raw.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
        assert json.loads(raw.recv(5)) == {"result": ["btcusdt@kline_1m"], "id": 8}
        raw.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 9}))
        assert json.loads(raw.recv(5))["error"]["code"] == 2  # not published: said so
        fake.market.push_candle(SYMBOL, "1m", kline(0, o="1", h="2", lo="1", c="2"), closed=False)
        bare, wrapped = json.loads(raw.recv(5)), json.loads(combined.recv(5))
    assert bare["e"] == "kline" and bare["k"]["x"] is False
    assert wrapped == {"stream": "btcusdt@kline_1m", "data": bare}
    with pytest.raises(InvalidStatus):  # a websocket the fake does not serve
        connect(fake.ws_url + "/fstream/ws", open_timeout=5)


# ------------------------------------------------------------------------- faults
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (no_answer(), ccxt.RequestTimeout),
        (late_answer(1.5), ccxt.RequestTimeout),
        (dropped_answer(), ccxt.NetworkError),
    ],
    ids=["never", "late", "dropped"],
)
def test_order_accepted_but_unanswered_is_found_by_client_id(fake, fault, error):
    client = rest(fake, timeout=500)
    fake.script(fault)
    with pytest.raises(error):
        client.create_order(SYMBOL, "limit", "buy", 0.01, 39000, {"clientOrderId": "lost-1"})
    found = client.fetch_order(None, SYMBOL, {"origClientOrderId": "lost-1"})
    assert (found["clientOrderId"], found["status"]) == ("lost-1", "open")
    post = [r for r in fake.requests if r.method == "POST"]
    assert [(r.status, r.answered) for r in post] == [(200, False)]


def test_async_client_times_out_while_the_order_exists(fake):
    fake.script(no_answer())

    async def main(client: ccxt.pro.binance) -> dict[str, Any]:
        with pytest.raises(ccxt.RequestTimeout):
            await client.create_order(
                SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "a-1"}
            )
        return await client.fetch_order(None, SYMBOL, {"origClientOrderId": "a-1"})

    assert run_pro(fake, main, timeout=500)["status"] == "closed"


def test_dropped_websockets_and_ccxt_reconnecting(fake):
    async def main(client: ccxt.pro.binance) -> None:
        orders = asyncio.create_task(client.watch_orders(SYMBOL))
        candles = asyncio.create_task(client.watch_ohlcv(SYMBOL, "1m"))
        await user_stream(fake)
        await until(lambda: "btcusdt@kline_1m" in fake.ws.streams())
        assert fake.drop_ws() == 2  # a partition: no close frame
        for task in (orders, candles):
            with pytest.raises(ccxt.NetworkError):
                await task
        # a new watch connects and subscribes again
        orders = asyncio.create_task(client.watch_orders(SYMBOL))
        candles = asyncio.create_task(client.watch_ohlcv(SYMBOL, "1m"))
        await user_stream(fake, 2)
        await until(lambda: "btcusdt@kline_1m" in fake.ws.streams())
        placed = await client.create_order(SYMBOL, "market", "buy", 0.001)
        fake.market.push_candle(SYMBOL, "1m", kline(0, o="1", h="2", lo="1", c="2"))
        assert (await candles)[-1][0] == T0
        assert [o["id"] for o in await orders] == [placed["id"]]

    run_pro(fake, main)


def test_duplicated_updates_are_merged_by_ccxt(fake):
    async def main(client: ccxt.pro.binance) -> tuple[Any, Any]:
        placed = await client.create_order(SYMBOL, "limit", "buy", 0.01, 39000)
        trades = asyncio.create_task(client.watch_my_trades(SYMBOL))
        await user_stream(fake)
        fake.script_ws(duplicate("executionReport"))
        fake.market.set_price(SYMBOL, "38000")
        await trades
        await until(lambda: fake.ws.pending_faults() == 0)
        await asyncio.sleep(0.1)  # the second copy arrives too
        return placed, list(client.myTrades)

    placed, trades = run_pro(fake, main)
    (report,) = fake.ws.sent_events("executionReport")
    assert (report.payload["x"], report.copies) == ("TRADE", 2)
    assert [t["order"] for t in trades] == [placed["id"]]  # one trade, by its id


def test_missing_update_is_recovered_over_rest(fake):
    async def main(client: ccxt.pro.binance) -> dict[str, Any]:
        placed = await client.create_order(SYMBOL, "limit", "buy", 0.01, 39000)
        orders = asyncio.create_task(client.watch_orders(SYMBOL))
        await user_stream(fake)
        fake.script_ws(swallow("executionReport"))
        fake.market.set_price(SYMBOL, "38000")
        with pytest.raises(TimeoutError):  # the fill report never comes
            await asyncio.wait_for(orders, 0.5)
        return await client.fetch_order(placed["id"], SYMBOL)

    assert run_pro(fake, main)["status"] == "closed"
    assert [e.copies for e in fake.ws.sent_events("executionReport")] == [0]


def test_connection_dropped_instead_of_an_update(fake):
    async def main(client: ccxt.pro.binance) -> None:
        orders = asyncio.create_task(client.watch_orders(SYMBOL))
        await user_stream(fake)
        fake.script_ws(drop_on("executionReport"))
        await client.create_order(SYMBOL, "market", "buy", 0.001)
        with pytest.raises(ccxt.NetworkError):
            await orders

    run_pro(fake, main)
    assert fake.ws.sent_events("executionReport")[0].copies == 0


def test_restart_keeps_account_open_orders_and_trades(fake):
    client = rest(fake)
    client.create_order(SYMBOL, "market", "buy", 0.001)
    resting = client.create_order(SYMBOL, "limit", "buy", 0.01, 39000, {"clientOrderId": "keep"})
    before = (client.fetch_balance()["total"], client.fetch_my_trades(SYMBOL))
    url, ws_url = fake.url, fake.ws_url
    fake.restart()
    assert (fake.url, fake.ws_url) == (url, ws_url)  # the same ports
    client = rest(fake)
    (open_order,) = client.fetch_open_orders(SYMBOL)
    assert (open_order["id"], open_order["clientOrderId"]) == (resting["id"], "keep")
    assert (client.fetch_balance()["total"], client.fetch_my_trades(SYMBOL)) == before
    later = client.create_order(SYMBOL, "market", "buy", 0.001)
    assert int(later["id"]) == int(resting["id"]) + 1


def test_partition_refuses_then_recovers_with_what_happened_meanwhile(fake):
    client = rest(fake)
    order = client.create_order(SYMBOL, "limit", "buy", 0.01, 39000)

    async def watched(client: ccxt.pro.binance) -> list[dict[str, Any]]:
        orders = asyncio.create_task(client.watch_orders(SYMBOL))
        await user_stream(fake)
        fake.pause()
        with pytest.raises(ccxt.NetworkError):
            await orders
        with pytest.raises(ccxt.NetworkError):
            await client.fetch_order(order["id"], SYMBOL)
        fake.market.set_price(SYMBOL, "38500")  # the exchange went on meanwhile
        fake.resume()
        return await client.fetch_open_orders(SYMBOL)

    assert run_pro(fake, watched) == []
    assert client.fetch_order(order["id"], SYMBOL)["status"] == "closed"


def test_generated_klines_drive_the_market(fake):
    """A seeded candle series pushed bar by bar fills what it crosses (no candle skipped)."""
    client = rest(fake)
    bars = generated_klines(30, "1m", seed=5, start_ms=T0, price=40000.0)
    low = min(float(b[3]) for b in bars)
    order = client.create_order(SYMBOL, "limit", "buy", 0.01, round(low + 1, 2))
    for bar in bars:
        fake.market.push_candle(SYMBOL, "1m", bar)
    assert client.fetch_order(order["id"], SYMBOL)["status"] == "closed"
    assert len(client.fetch_ohlcv(SYMBOL, "1m", since=T0)) == 30
