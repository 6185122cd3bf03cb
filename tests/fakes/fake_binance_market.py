"""The matching engine and account behind the fake Binance spot exchange: pure state, no I/O.

:class:`SpotMarket` holds one account (balances per asset, free and locked), its orders and
its trades, and matches orders against a market price the test drives: :meth:`SpotMarket.set_price`
moves the last price, :meth:`SpotMarket.push_candle` moves it through a candle's range. The wire
layers (``fake_binance_signed`` for REST, ``fake_binance_ws`` for websockets) only translate.

Conventions, as Binance's:

* symbols are Binance ids (``"BTCUSDT"``); the test-control methods also take unified ones
  (``"BTC/USDT"``);
* prices and quantities are :class:`~decimal.Decimal`; the exchange operations also take the
  decimal strings of the wire (``"0.00100000"``) and reject others with -1100 as Binance does;
* times are ms since the epoch, from the ``clock`` the market is made with;
* orderId and trade id are increasing integers (one sequence for all symbols);
* the commission is charged in the asset the side receives (base for a buyer, quote for a
  seller) at ``commission_rate`` (0.001 by default), rounded half up to 8 decimals.

Matching model: liquidity is unlimited at the market price unless a partial fill is scripted
(:meth:`SpotMarket.partial_fills`) or limit fills are capped by candle volume
(:meth:`SpotMarket.limit_fills_to_volume`). A MARKET order fills at the current price as taker
(EXPIRED without a fill when no price is known yet: an empty book). A LIMIT order that crosses
the price on arrival fills as taker at the market price; otherwise it rests and fills as maker
at its own price when the market reaches it. Stops trigger at ``stopPrice`` as Binance
documents: STOP_LOSS(_LIMIT) sells when the price falls to it and buys when it rises to it,
TAKE_PROFIT(_LIMIT) the other way round; one that would trigger on arrival is rejected (-2010
"Stop price would trigger immediately."). Each market move is one matching pass, so the rest of
a partly filled GTC order fills at a later move.

Every state change is told to the listeners (:meth:`SpotMarket.subscribe`) as an
:class:`OrderUpdate`, :class:`BalanceUpdate` or :class:`CandleUpdate`, in order, while the
market's lock is held: a listener must only queue the event (the websocket server hands it to
its own loop), never call back into the market.
"""

from __future__ import annotations

import random
import re
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

ZERO = Decimal(0)
EIGHT = Decimal("0.00000001")  # Binance's asset precision: 8 decimals on the wire
DAY_MS = 86_400_000

SIDES = ("BUY", "SELL")
ORDER_TYPES = (
    "LIMIT",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
    "LIMIT_MAKER",
)
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
_STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
_LIMIT_PRICED = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")

_DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_ID_ALPHABET = string.ascii_letters + string.digits


class BinanceError(Exception):
    """A request Binance refuses: its ``code`` and ``msg`` exactly, and the HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict[str, Any]:
        """The JSON body Binance answers with: ``{"code": -2010, "msg": "..."}``."""
        return {"code": self.code, "msg": self.msg}


def err_duplicate_order() -> BinanceError:
    return BinanceError(-2010, "Duplicate order sent.")


def err_insufficient_balance() -> BinanceError:
    return BinanceError(-2010, "Account has insufficient balance for requested action.")


def err_filter(name: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {name}")


def err_invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def err_no_such_order() -> BinanceError:
    return BinanceError(-2013, "Order does not exist.")


def err_unknown_order() -> BinanceError:
    return BinanceError(-2011, "Unknown order sent.")


def err_stop_would_trigger() -> BinanceError:
    return BinanceError(-2010, "Stop price would trigger immediately.")


def err_would_take() -> BinanceError:
    return BinanceError(-2010, "Order would immediately match and take.")


def err_mandatory(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def err_not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def err_illegal(name: str, legal: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def err_bad_limit() -> BinanceError:
    return BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")


def err_combination() -> BinanceError:
    return BinanceError(-1128, "Combination of optional parameters invalid.")


def err_window() -> BinanceError:
    return BinanceError(-1127, "More than 24 hours between startTime and endTime.")


def q8(value: Decimal) -> Decimal:
    """``value`` at Binance's 8 decimals (half up: how the fake rounds commissions)."""
    return value.quantize(EIGHT, rounding=ROUND_HALF_UP)


def parse_decimal(value: Decimal | str | int | float | None, name: str) -> Decimal | None:
    """A wire decimal (``"0.001"``) as Decimal; -1100 for what Binance would not parse."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    text = str(value)
    if not _DECIMAL_RE.match(text):
        raise err_illegal(name, r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise err_illegal(name, r"^([0-9]{1,20})(\.[0-9]{1,20})?$") from None


@dataclass(frozen=True)
class SymbolRules:
    """One symbol's assets and filters, read from its exchangeInfo entry.

    PRICE_FILTER: ``min_price`` <= price <= ``max_price`` and a multiple of ``tick_size`` above
    ``min_price``; LOT_SIZE: the same for quantities with ``step_size``; NOTIONAL: price x
    quantity within [``min_notional``, ``max_notional``] (for MARKET orders at the current
    price, and only where ``apply_min_to_market`` / ``apply_max_to_market``).
    """

    symbol: str
    base: str
    quote: str
    order_types: tuple[str, ...]
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    apply_min_to_market: bool
    apply_max_to_market: bool

    @classmethod
    def from_exchange_info(cls, info: Mapping[str, Any]) -> SymbolRules:
        filters = {f["filterType"]: f for f in info.get("filters", [])}
        price = filters.get("PRICE_FILTER", {})
        lot = filters.get("LOT_SIZE", {})
        notional = filters.get("NOTIONAL", {})
        return cls(
            symbol=info["symbol"],
            base=info["baseAsset"],
            quote=info["quoteAsset"],
            order_types=tuple(info.get("orderTypes", ORDER_TYPES)),
            tick_size=Decimal(price.get("tickSize", "0")),
            min_price=Decimal(price.get("minPrice", "0")),
            max_price=Decimal(price.get("maxPrice", "0")),
            step_size=Decimal(lot.get("stepSize", "0")),
            min_qty=Decimal(lot.get("minQty", "0")),
            max_qty=Decimal(lot.get("maxQty", "0")),
            min_notional=Decimal(notional.get("minNotional", "0")),
            max_notional=Decimal(notional.get("maxNotional", "0")),
            apply_min_to_market=bool(notional.get("applyMinToMarket", True)),
            apply_max_to_market=bool(notional.get("applyMaxToMarket", False)),
        )

    def check_price(self, price: Decimal) -> None:
        # a zero bound or step means the filter leaves that part out, as Binance documents
        if (self.min_price and price < self.min_price) or (
            self.max_price and price > self.max_price
        ):
            raise err_filter("PRICE_FILTER")
        if self.tick_size and (price - self.min_price) % self.tick_size:
            raise err_filter("PRICE_FILTER")

    def check_quantity(self, qty: Decimal) -> None:
        if qty <= 0 or qty < self.min_qty or (self.max_qty and qty > self.max_qty):
            raise err_filter("LOT_SIZE")
        if self.step_size and (qty - self.min_qty) % self.step_size:
            raise err_filter("LOT_SIZE")

    def check_notional(self, notional: Decimal, *, market: bool) -> None:
        check_min = self.apply_min_to_market or not market
        check_max = (self.apply_max_to_market or not market) and self.max_notional
        if (check_min and notional < self.min_notional) or (
            check_max and notional > self.max_notional
        ):
            raise err_filter("NOTIONAL")

    def floor_quantity(self, qty: Decimal) -> Decimal:
        """``qty`` rounded down to the step size (how much a quote amount or a share buys)."""
        if not self.step_size:
            return qty
        return (qty / self.step_size).to_integral_value(rounding=ROUND_DOWN) * self.step_size


@dataclass
class Order:
    """One order as Binance keeps it (a copy: the market hands out snapshots).

    ``quantity`` is origQty, ``executed_qty`` executedQty, ``cumulative_quote_qty``
    cummulativeQuoteQty (Binance's spelling on the wire), ``quote_order_qty``
    origQuoteOrderQty (0 unless the order was sent by quote amount). ``price`` and
    ``stop_price`` are 0 where the type has none. ``working`` is false while a stop waits for
    its trigger (isWorking); ``working_time`` is when it started to work (-1 until then).
    """

    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    stop_price: Decimal
    quote_order_qty: Decimal
    status: str
    time: int
    update_time: int
    working: bool
    working_time: int
    executed_qty: Decimal = ZERO
    cumulative_quote_qty: Decimal = ZERO
    trade_ids: tuple[int, ...] = ()
    # funds held for the order: quote for a buy, base for a sell (not on the wire)
    reserved: Decimal = ZERO
    reserve_price: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed_qty


@dataclass(frozen=True)
class Trade:
    """One fill of one order (myTrades): ``quote_qty`` = price x qty; ``commission`` in
    ``commission_asset``; ``is_maker`` when the order rested on the book."""

    id: int
    symbol: str
    order_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


@dataclass(frozen=True)
class OrderUpdate:
    """An order changed (one executionReport): ``execution_type`` NEW, TRADE, CANCELED,
    EXPIRED or REJECTED; ``trade`` is the fill of a TRADE; ``cancel_client_order_id`` is the
    cancel request's own client id (Binance reports it as ``c`` and the order's as ``C``)."""

    order: Order
    execution_type: str
    time: int
    trade: Trade | None = None
    cancel_client_order_id: str | None = None


@dataclass(frozen=True)
class BalanceUpdate:
    """Balances changed (one outboundAccountPosition): ``balances`` holds
    ``(asset, free, locked)`` for each asset the change touched."""

    time: int
    balances: tuple[tuple[str, Decimal, Decimal], ...]


@dataclass(frozen=True)
class CandleUpdate:
    """A candle was pushed (one kline event): ``kline`` in Binance's REST row layout,
    ``closed`` its ``x`` flag, ``first_trade_id``/``last_trade_id`` its ``f``/``L``."""

    symbol: str
    interval: str
    kline: tuple[Any, ...]
    closed: bool
    time: int
    first_trade_id: int
    last_trade_id: int


Event = OrderUpdate | BalanceUpdate | CandleUpdate
Listener = Callable[[Event], None]


@dataclass
class _Book:
    """Per-symbol market state: the last price and the candles seen (for volume caps)."""

    price: Decimal | None = None
    # (interval, open ms) -> [volume, first trade id, n trades]
    candles: dict[tuple[str, int], list[Any]] = field(default_factory=dict)
    next_market_trade_id: int = 1


@dataclass
class _Tick:
    """One market move: the range it swept and where it ended."""

    open: Decimal
    low: Decimal
    high: Decimal
    close: Decimal
    candle: tuple[str, int] | None = None  # (interval, open ms) when the move is a candle
    volume: Decimal | None = None


class SpotMarket:
    """A Binance spot account and the matching engine for its orders (thread-safe).

    ``symbols`` are exchangeInfo entries (as ``FakeBinance`` lists them); ``balances`` maps an
    asset to its starting free amount; ``clock`` gives the time in ms (wall clock by default).
    """

    def __init__(
        self,
        symbols: Iterable[Mapping[str, Any]],
        *,
        balances: Mapping[str, Decimal | str | int] | None = None,
        commission_rate: Decimal | str = "0.001",
        clock: Callable[[], int] | None = None,
        seed: int = 0,
    ) -> None:
        self._rules = {info["symbol"]: SymbolRules.from_exchange_info(info) for info in symbols}
        self._lock = threading.RLock()
        self._clock = clock or (lambda: int(time.time() * 1000))
        self.commission_rate = Decimal(str(commission_rate))
        self._free: dict[str, Decimal] = {}
        self._locked: dict[str, Decimal] = {}
        self._orders: dict[int, Order] = {}
        self._trades: list[Trade] = []
        self._books = {sym: _Book() for sym in self._rules}
        self._next_order_id = 1
        self._next_trade_id = 1
        self._partial: list[Decimal] = []  # fractions for the next fills, in order
        self._volume_share: Decimal | None = None
        # what each order filled from each candle: (orderId, (interval, open ms)) -> qty
        self._candle_fills: dict[tuple[int, tuple[str, int]], Decimal] = {}
        self._listeners: list[Listener] = []
        self._rng = random.Random(seed)  # client ids Binance makes up, reproducibly
        self.update_time = self._clock()
        for asset, amount in (balances or {}).items():
            self._free[asset] = Decimal(str(amount))

    # ------------------------------------------------------------------ test controls
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event from now on; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def now(self) -> int:
        """The exchange's time in ms."""
        return self._clock()

    def deposit(self, asset: str, amount: Decimal | str | int) -> None:
        """Add ``amount`` to the free balance of ``asset`` (a deposit)."""
        with self._lock:
            self._free[asset] = self._free.get(asset, ZERO) + Decimal(str(amount))
            self._balances_changed({asset})

    def set_price(self, symbol: str, price: Decimal | str | int) -> None:
        """Move the market to ``price`` at once: stops trigger and limits fill on the way."""
        px = Decimal(str(price))
        with self._lock:
            sym = self._symbol(symbol)
            self._tick(sym, _Tick(open=px, low=px, high=px, close=px))

    def push_candle(
        self, symbol: str, interval: str, kline: Sequence[Any], closed: bool = True
    ) -> None:
        """A candle (Binance's kline row: [open ms, "o", "h", "l", "c", "v", close ms, ...])
        for ``symbol``: the market sweeps its range and ends at its close; the websocket
        server sends it as a kline event with ``x`` = ``closed``. Pushing the same open time
        again updates that candle (as Binance sends a forming candle)."""
        row = tuple(kline)
        with self._lock:
            sym = self._symbol(symbol)
            book = self._books[sym]
            key = (interval, int(row[0]))
            trades = int(row[8]) if len(row) > 8 else 0
            seen = book.candles.get(key)
            if seen is None:
                seen = book.candles[key] = [Decimal(str(row[5])), book.next_market_trade_id, 0]
            seen[0] = Decimal(str(row[5]))
            seen[2] = trades
            book.next_market_trade_id = max(book.next_market_trade_id, seen[1] + trades)
            o, h, lo, c = (Decimal(str(v)) for v in row[1:5])
            self._tick(sym, _Tick(open=o, low=lo, high=h, close=c, candle=key, volume=seen[0]))
            first = seen[1] if trades else -1
            last = seen[1] + trades - 1 if trades else -1
            self._emit(CandleUpdate(sym, interval, row, closed, self._clock(), first, last))

    def partial_fills(self, *fractions: Decimal | str | float, times: int = 1) -> None:
        """The next fills take only these fractions of their order's remaining quantity
        (each used once, in order; ``times`` repeats the list). Rounded down to the step
        size, at least one step. A MARKET or IOC order's unfilled rest then EXPIRES; a GTC
        order rests PARTIALLY_FILLED and fills on at later market moves."""
        with self._lock:
            self._partial.extend([Decimal(str(f)) for f in fractions] * times)

    def limit_fills_to_volume(self, share: Decimal | str | float | None) -> None:
        """Cap what a resting order fills from one candle at ``share`` x that candle's
        volume (base units; a candle pushed again with more volume frees more); ``None``
        lifts the cap. Moves by :meth:`set_price` have no volume and are not capped."""
        with self._lock:
            self._volume_share = None if share is None else Decimal(str(share))

    def price(self, symbol: str) -> Decimal | None:
        with self._lock:
            return self._books[self._symbol(symbol)].price

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """``(free, locked)`` of ``asset``."""
        with self._lock:
            return self._free.get(asset, ZERO), self._locked.get(asset, ZERO)

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """``{asset: (free, locked)}`` for every asset the account ever held."""
        with self._lock:
            assets = sorted(set(self._free) | set(self._locked))
            return {a: (self._free.get(a, ZERO), self._locked.get(a, ZERO)) for a in assets}

    def orders(self, symbol: str | None = None) -> list[Order]:
        """Copies of every order (of ``symbol``), oldest first."""
        with self._lock:
            sym = None if symbol is None else self._symbol(symbol)
            return [replace(o) for o in self._orders.values() if sym in (None, o.symbol)]

    def trades(self, symbol: str | None = None) -> list[Trade]:
        with self._lock:
            sym = None if symbol is None else self._symbol(symbol)
            return [t for t in self._trades if sym in (None, t.symbol)]

    def rules(self, symbol: str) -> SymbolRules:
        return self._rules[self._symbol(symbol)]

    @property
    def symbols(self) -> list[str]:
        return list(self._rules)

    # ------------------------------------------------------------ exchange operations
    def place_order(
        self,
        symbol: str,
        side: str | None,
        type: str | None,
        *,
        quantity: Decimal | str | None = None,
        quote_order_qty: Decimal | str | None = None,
        price: Decimal | str | None = None,
        stop_price: Decimal | str | None = None,
        time_in_force: str | None = None,
        client_order_id: str | None = None,
    ) -> tuple[Order, list[Trade]]:
        """POST /api/v3/order: validates as Binance does (in its order: symbol, parameters,
        duplicate client id, filters, trigger, balance), then matches at once.

        Returns the order after matching and the fills it made now. Raises
        :class:`BinanceError` with Binance's code and message for a refused order.
        """
        with self._lock:
            sym = self._wire_symbol(symbol)
            rules = self._rules[sym]
            side, otype, tif, qty, qqty, px, stop = self._validate_params(
                rules, side, type, quantity, quote_order_qty, price, stop_price, time_in_force
            )
            if client_order_id is None or client_order_id == "":
                client_order_id = "".join(self._rng.choice(_ID_ALPHABET) for _ in range(22))
            elif not _CLIENT_ID_RE.match(client_order_id):
                raise err_illegal("newClientOrderId", r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
            if any(
                o.is_open and o.symbol == sym and o.client_order_id == client_order_id
                for o in self._orders.values()
            ):
                raise err_duplicate_order()
            market_px = self._books[sym].price
            if otype == "MARKET" and qqty is not None and market_px is not None:
                qty = rules.floor_quantity(qqty / market_px)
            self._check_filters(rules, otype, qty, qqty, px, stop, market_px)
            # a stop that would trigger, or a maker order that would take, is refused
            if market_px is not None and otype in _STOP_TYPES:
                assert stop is not None
                if self._triggered(side, otype, stop, market_px, market_px):
                    raise err_stop_would_trigger()
            if market_px is not None and otype == "LIMIT_MAKER":
                assert px is not None
                if self._crosses(side, px, market_px, market_px):
                    raise err_would_take()
            reserve_asset, reserve, reserve_px = self._reservation(
                rules, side, otype, qty, qqty, px, stop, market_px
            )
            if self._free.get(reserve_asset, ZERO) < reserve:
                raise err_insufficient_balance()
            now = self._clock()
            order = Order(
                symbol=sym,
                order_id=self._next_order_id,
                client_order_id=client_order_id,
                side=side,
                type=otype,
                time_in_force=tif,
                quantity=qty if qty is not None else ZERO,
                price=px if px is not None else ZERO,
                stop_price=stop if stop is not None else ZERO,
                quote_order_qty=qqty if qqty is not None else ZERO,
                status="NEW",
                time=now,
                update_time=now,
                working=otype not in _STOP_TYPES,
                working_time=now if otype not in _STOP_TYPES else -1,
            )
            self._next_order_id += 1
            self._orders[order.order_id] = order
            # MARKET orders only spend free funds as they fill; the others hold them
            if otype != "MARKET":
                order.reserved, order.reserve_price = reserve, reserve_px
                self._move(reserve_asset, reserve, to_locked=True)
            self._emit(OrderUpdate(replace(order), "NEW", now))
            if otype != "MARKET":
                self._balances_changed({reserve_asset})
            fills = self._match_arrival(order, market_px)
            return replace(order), fills

    def get_order(
        self,
        symbol: str,
        order_id: int | str | None = None,
        orig_client_order_id: str | None = None,
    ) -> Order:
        """GET /api/v3/order by orderId or by origClientOrderId (the newest with that id)."""
        with self._lock:
            return replace(self._find(symbol, order_id, orig_client_order_id, err_no_such_order))

    def cancel_order(
        self,
        symbol: str,
        order_id: int | str | None = None,
        orig_client_order_id: str | None = None,
        new_client_order_id: str | None = None,
    ) -> tuple[Order, str]:
        """DELETE /api/v3/order: cancels an open order, frees what it held. Returns the
        order and the cancel's client id (``new_client_order_id`` or one made up). A closed or
        unknown order is -2011 "Unknown order sent."."""
        with self._lock:
            order = self._find(symbol, order_id, orig_client_order_id, err_unknown_order)
            if not order.is_open:
                raise err_unknown_order()
            cancel_id = new_client_order_id or "".join(
                self._rng.choice(_ID_ALPHABET) for _ in range(22)
            )
            self._close(order, "CANCELED", cancel_client_order_id=cancel_id)
            return replace(order), cancel_id

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """GET /api/v3/openOrders: the open orders (of ``symbol``), oldest first."""
        with self._lock:
            sym = None if symbol is None else self._wire_symbol(symbol)
            return [
                replace(o) for o in self._orders.values() if o.is_open and sym in (None, o.symbol)
            ]

    def all_orders(
        self,
        symbol: str,
        *,
        order_id: int | str | None = None,
        start_time: int | str | None = None,
        end_time: int | str | None = None,
        limit: int | str | None = None,
    ) -> list[Order]:
        """GET /api/v3/allOrders: orders with orderId >= ``order_id`` and time in
        [``start_time``, ``end_time``] (ms, inclusive; at most 24 h apart), the oldest
        ``limit`` (default 500, 1..1000) from a given orderId or startTime, else the newest."""
        with self._lock:
            sym = self._wire_symbol(symbol)
            n = _limit(limit)
            oid, start, end = (
                _int_or_none(order_id),
                _int_or_none(start_time),
                _int_or_none(end_time),
            )
            if start is not None and end is not None and end - start > DAY_MS:
                raise err_window()
            rows = [
                o
                for o in self._orders.values()
                if o.symbol == sym
                and (oid is None or o.order_id >= oid)
                and (start is None or o.time >= start)
                and (end is None or o.time <= end)
            ]
            picked = rows[:n] if oid is not None or start is not None else rows[-n:]
            return [replace(o) for o in picked]

    def my_trades(
        self,
        symbol: str,
        *,
        order_id: int | str | None = None,
        from_id: int | str | None = None,
        start_time: int | str | None = None,
        end_time: int | str | None = None,
        limit: int | str | None = None,
    ) -> list[Trade]:
        """GET /api/v3/myTrades with Binance's rules: ``from_id`` gives trades with id >= it
        (oldest first), ``start_time``/``end_time`` a window of at most 24 h (one alone: the
        24 h after or before it), ``order_id`` the trades of that order; fromId cannot go
        with a time (-1128); without any, the newest ``limit`` (default 500, 1..1000)."""
        with self._lock:
            sym = self._wire_symbol(symbol)
            n = _limit(limit)
            oid, fid = _int_or_none(order_id), _int_or_none(from_id)
            start, end = _int_or_none(start_time), _int_or_none(end_time)
            if fid is not None and (start is not None or end is not None):
                raise err_combination()
            if oid is not None and (start is not None or end is not None):
                raise err_combination()
            if start is not None and end is None:
                end = start + DAY_MS
            elif end is not None and start is None:
                start = end - DAY_MS
            if start is not None and end is not None and end - start > DAY_MS:
                raise err_window()
            rows = [
                t
                for t in self._trades
                if t.symbol == sym
                and (oid is None or t.order_id == oid)
                and (fid is None or t.id >= fid)
                and (start is None or t.time >= start)
                and (end is None or t.time <= end)
            ]
            return rows[:n] if fid is not None or start is not None else rows[-n:]

    # ---------------------------------------------------------------------- internals
    def _symbol(self, symbol: str) -> str:
        sym = symbol.replace("/", "")
        if sym not in self._rules:
            raise KeyError(f"the fake market does not list {symbol!r}")
        return sym

    def _wire_symbol(self, symbol: str | None) -> str:
        if not symbol:
            raise err_mandatory("symbol")
        if symbol not in self._rules:
            raise err_invalid_symbol()
        return symbol

    def _find(
        self,
        symbol: str,
        order_id: int | str | None,
        client_id: str | None,
        missing: Callable[[], BinanceError],
    ) -> Order:
        sym = self._wire_symbol(symbol)
        if order_id in (None, "") and not client_id:
            raise BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order_id not in (None, ""):
            try:
                order = self._orders.get(int(order_id))
            except ValueError:
                raise err_illegal("orderId", "^[0-9]{1,20}$") from None
            # with both, Binance takes orderId and checks that the client id agrees
            if (
                order is None
                or order.symbol != sym
                or client_id not in (None, "", order.client_order_id)
            ):
                raise missing()
            return order
        for order in reversed(self._orders.values()):
            if order.symbol == sym and order.client_order_id == client_id:
                return order
        raise missing()

    def _validate_params(
        self,
        rules: SymbolRules,
        side: str | None,
        otype: str | None,
        quantity: Decimal | str | None,
        quote_order_qty: Decimal | str | None,
        price: Decimal | str | None,
        stop_price: Decimal | str | None,
        tif: str | None,
    ) -> tuple[str, str, str, Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
        if not side:
            raise err_mandatory("side")
        if side not in SIDES:
            raise BinanceError(-1117, "Invalid side.")
        if not otype:
            raise err_mandatory("type")
        if otype not in ORDER_TYPES:
            raise BinanceError(-1116, "Invalid orderType.")
        if otype not in rules.order_types:
            raise BinanceError(-1013, "Unsupported order combination")
        qty = parse_decimal(quantity, "quantity")
        qqty = parse_decimal(quote_order_qty, "quoteOrderQty")
        px = parse_decimal(price, "price")
        stop = parse_decimal(stop_price, "stopPrice")
        if tif not in (None, "") and tif not in TIME_IN_FORCE:
            raise BinanceError(-1115, "Invalid timeInForce.")
        needs_price = otype in _LIMIT_PRICED
        needs_tif = otype in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
        if otype == "MARKET":
            if qty is None and qqty is None:
                raise BinanceError(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
            if qty is not None and qqty is not None:
                raise err_not_required("quoteOrderQty")
        else:
            if qqty is not None:
                raise err_not_required("quoteOrderQty")
            if qty is None:
                raise err_mandatory("quantity")
        if needs_tif and not tif:
            raise err_mandatory("timeInForce")
        if not needs_tif and tif:
            raise err_not_required("timeInForce")
        if needs_price and px is None:
            raise err_mandatory("price")
        if not needs_price and px is not None:
            raise err_not_required("price")
        if otype in _STOP_TYPES and stop is None:
            raise err_mandatory("stopPrice")
        if otype not in _STOP_TYPES and stop is not None:
            raise err_not_required("stopPrice")
        return side, otype, tif or "GTC", qty, qqty, px, stop

    @staticmethod
    def _check_filters(
        rules: SymbolRules,
        otype: str,
        qty: Decimal | None,
        qqty: Decimal | None,
        px: Decimal | None,
        stop: Decimal | None,
        market_px: Decimal | None,
    ) -> None:
        for p in (px, stop):
            if p is not None:
                rules.check_price(p)
        if qty is not None:
            rules.check_quantity(qty)
        if otype == "MARKET" or (otype in ("STOP_LOSS", "TAKE_PROFIT")):
            ref = market_px if otype == "MARKET" else stop
            if qqty is not None:
                rules.check_notional(qqty, market=True)
            elif ref is not None and qty is not None:
                rules.check_notional(qty * ref, market=True)
        elif qty is not None and px is not None:
            rules.check_notional(qty * px, market=False)

    @staticmethod
    def _reservation(
        rules: SymbolRules,
        side: str,
        otype: str,
        qty: Decimal | None,
        qqty: Decimal | None,
        px: Decimal | None,
        stop: Decimal | None,
        market_px: Decimal | None,
    ) -> tuple[str, Decimal, Decimal]:
        """The asset an order needs, how much (checked against the free balance) and the
        price per unit it is held at (a buy's funds are released at that price per fill)."""
        if side == "SELL":
            return rules.base, qty or ZERO, ZERO
        if otype == "MARKET":
            if qqty is not None:
                return rules.quote, qqty, ZERO
            return rules.quote, (qty or ZERO) * (market_px or ZERO), ZERO
        unit = px if px is not None else stop
        assert unit is not None and qty is not None
        return rules.quote, qty * unit, unit

    @staticmethod
    def _triggered(side: str, otype: str, stop: Decimal, low: Decimal, high: Decimal) -> bool:
        """Whether a stop triggers on a move that swept [low, high]."""
        rising = (otype.startswith("STOP_LOSS") and side == "BUY") or (
            otype.startswith("TAKE_PROFIT") and side == "SELL"
        )
        return high >= stop if rising else low <= stop

    @staticmethod
    def _crosses(side: str, limit: Decimal, low: Decimal, high: Decimal) -> bool:
        """Whether a limit order at ``limit`` can trade on a move that swept [low, high]."""
        return low <= limit if side == "BUY" else high >= limit

    def _match_arrival(self, order: Order, market_px: Decimal | None) -> list[Trade]:
        """Fill a new order against the current price (the taker side)."""
        fills: list[Trade] = []
        if order.type == "MARKET":
            if market_px is not None:
                fills += self._fill(order, market_px, order.remaining, is_maker=False)
            if order.is_open:  # a market order never rests: the rest expires
                self._close(order, "EXPIRED")
            return fills
        if not order.working or market_px is None:
            return fills
        if self._crosses(order.side, order.price, market_px, market_px):
            qty = order.remaining
            if order.time_in_force == "FOK" and self._peek_fraction() < 1:
                self._partial.pop(0)
                self._close(order, "EXPIRED")
                return fills
            fills += self._fill(order, market_px, qty, is_maker=False)
        if order.is_open and order.time_in_force in ("IOC", "FOK"):
            self._close(order, "EXPIRED")
        return fills

    def _tick(self, sym: str, tick: _Tick) -> None:
        """One market move: triggers, then resting fills, then the new last price."""
        book = self._books[sym]
        for order in list(self._orders.values()):
            if order.symbol != sym or not order.is_open:
                continue
            if not order.working and self._triggered(
                order.side, order.type, order.stop_price, tick.low, tick.high
            ):
                self._trigger(order, tick)
            elif order.working and self._crosses(order.side, order.price, tick.low, tick.high):
                self._fill_resting(order, tick)
        book.price = tick.close

    def _trigger(self, order: Order, tick: _Tick) -> None:
        now = self._clock()
        order.working, order.working_time, order.update_time = True, now, now
        # a move that opens past the stop (a gap) trades at its open, otherwise at the stop
        gapped = self._triggered(order.side, order.type, order.stop_price, tick.open, tick.open)
        at = tick.open if gapped else order.stop_price
        if order.type in ("STOP_LOSS", "TAKE_PROFIT"):
            self._fill(order, at, order.remaining, is_maker=False)
            if order.is_open:
                self._close(order, "EXPIRED")
            return
        # the limit variants go on the book as a LIMIT would (executionReport NEW, working)
        self._emit(OrderUpdate(replace(order), "NEW", now))
        if self._crosses(order.side, order.price, at, at):
            self._fill(order, at, order.remaining, is_maker=False)
        elif self._crosses(order.side, order.price, tick.low, tick.high):
            self._fill_resting(order, tick)
        if order.is_open and order.time_in_force in ("IOC", "FOK"):
            self._close(order, "EXPIRED")

    def _capped(self, order: Order, tick: _Tick) -> Decimal:
        """How much a resting order may fill on this move (the volume share of a candle)."""
        if self._volume_share is None or tick.candle is None or tick.volume is None:
            return order.remaining
        allowed = self._rules[order.symbol].floor_quantity(tick.volume * self._volume_share)
        used = self._candle_fills.get((order.order_id, tick.candle), ZERO)
        return max(ZERO, min(order.remaining, allowed - used))

    def _fill_resting(self, order: Order, tick: _Tick) -> None:
        """A resting order trades at its own price (the maker side) on a move that reaches it."""
        for trade in self._fill(order, order.price, self._capped(order, tick), is_maker=True):
            if tick.candle is not None:
                key = (order.order_id, tick.candle)
                self._candle_fills[key] = self._candle_fills.get(key, ZERO) + trade.qty

    def _peek_fraction(self) -> Decimal:
        return self._partial[0] if self._partial else Decimal(1)

    def _fill(self, order: Order, px: Decimal, qty: Decimal, *, is_maker: bool) -> list[Trade]:
        """One trade of ``order`` for up to ``qty`` at ``px`` (less when a partial fill is
        scripted or a buyer cannot pay), settling the balances and telling the listeners."""
        if qty <= 0 or not order.is_open:
            return []
        rules = self._rules[order.symbol]
        if self._partial:
            fraction = self._partial.pop(0)
            part = rules.floor_quantity(order.remaining * fraction)
            qty = min(qty, max(part, rules.step_size or order.remaining))
        if order.side == "BUY":
            # what the held funds plus the free quote can pay for at this price
            affordable = rules.floor_quantity(
                (self._free.get(rules.quote, ZERO) + order.reserved) / px
            )
            qty = min(qty, affordable)
            if qty <= 0:
                return []
        quote_qty = q8(qty * px)
        now = self._clock()
        if order.side == "BUY":
            held = min(order.reserved, qty * order.reserve_price)
            order.reserved -= held
            self._locked[rules.quote] = self._locked.get(rules.quote, ZERO) - held
            self._free[rules.quote] = self._free.get(rules.quote, ZERO) + held - quote_qty
            commission, asset = q8(qty * self.commission_rate), rules.base
            self._free[rules.base] = self._free.get(rules.base, ZERO) + qty - commission
        else:
            held = min(order.reserved, qty)
            order.reserved -= held
            self._locked[rules.base] = self._locked.get(rules.base, ZERO) - held
            self._free[rules.base] = self._free.get(rules.base, ZERO) - (qty - held)
            commission, asset = q8(quote_qty * self.commission_rate), rules.quote
            self._free[rules.quote] = self._free.get(rules.quote, ZERO) + quote_qty - commission
        trade = Trade(
            id=self._next_trade_id,
            symbol=order.symbol,
            order_id=order.order_id,
            price=px,
            qty=qty,
            quote_qty=quote_qty,
            commission=commission,
            commission_asset=asset,
            time=now,
            is_buyer=order.side == "BUY",
            is_maker=is_maker,
        )
        self._next_trade_id += 1
        self._trades.append(trade)
        order.executed_qty += qty
        order.cumulative_quote_qty += quote_qty
        order.trade_ids += (trade.id,)
        order.update_time = now
        order.status = "FILLED" if order.executed_qty >= order.quantity else "PARTIALLY_FILLED"
        if order.status == "FILLED" and order.reserved:
            # a buy filled below its limit: the rest of what it held goes back
            self._move(rules.quote if order.side == "BUY" else rules.base, order.reserved, False)
            order.reserved = ZERO
        self._emit(OrderUpdate(replace(order), "TRADE", now, trade=trade))
        self._balances_changed({rules.base, rules.quote})
        return [trade]

    def _close(
        self, order: Order, status: str, *, cancel_client_order_id: str | None = None
    ) -> None:
        rules = self._rules[order.symbol]
        now = self._clock()
        order.status, order.update_time = status, now
        released = order.reserved
        if released:
            asset = rules.quote if order.side == "BUY" else rules.base
            self._move(asset, released, to_locked=False)
            order.reserved = ZERO
        self._emit(
            OrderUpdate(replace(order), status, now, cancel_client_order_id=cancel_client_order_id)
        )
        if released:
            self._balances_changed({rules.quote if order.side == "BUY" else rules.base})

    def _move(self, asset: str, amount: Decimal, to_locked: bool) -> None:
        sign = 1 if to_locked else -1
        self._free[asset] = self._free.get(asset, ZERO) - sign * amount
        self._locked[asset] = self._locked.get(asset, ZERO) + sign * amount

    def _balances_changed(self, assets: set[str]) -> None:
        self.update_time = self._clock()
        rows = tuple(
            (a, self._free.get(a, ZERO), self._locked.get(a, ZERO)) for a in sorted(assets)
        )
        self._emit(BalanceUpdate(self.update_time, rows))

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)


def _int_or_none(value: int | str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise err_illegal("orderId", "^[0-9]{1,20}$") from None


def _limit(value: int | str | None) -> int:
    if value is None or value == "":
        return 500
    try:
        n = int(value)
    except ValueError:
        raise err_bad_limit() from None
    if not 1 <= n <= 1000:
        raise err_bad_limit()
    return n


__all__ = [
    "BalanceUpdate",
    "BinanceError",
    "CandleUpdate",
    "Event",
    "Order",
    "OrderUpdate",
    "SpotMarket",
    "SymbolRules",
    "Trade",
    "parse_decimal",
    "q8",
]
