"""The trader: a strategy's decisions at each closed candle, carried out with orders.

One :class:`Trader` runs one strategy on one symbol through an exchange with ccxt's
interface (a live ccxt client, or :class:`~tradpal.trading.paper.PaperExchange`). It
follows the backtest engine's rules (:mod:`tradpal.backtest.engine`), so a paper session
over the same candles gives the backtest's trades:

* the signals of a bar are decided at its close, from the strategy run on the candles up
  to and including it; with ``fill="close"`` they act at once (a market order at the
  close), with ``fill="next_open"`` when the next bar opens (:meth:`Trader.on_bar_open`);
* an entry is sized from the cash (it is flat) at the price it expects to fill at (the
  current price moved by the slippage), with :func:`tradpal.risk.position_size`; the
  drawdown guard, the ATR warm-up and levels on the wrong side skip it, as in the engine;
* once it has filled, the protective orders go out: a reduce-only stop-market order at the
  adverse level (the stop, the trailing stop or the liquidation price, whichever is hit
  first) and a reduce-only limit order at the target; a trailing stop that moves replaces
  the stop order; a time stop closes at the close;
* a bar in which a protective or time exit happened does not act on its own signals;
* every order is recorded before it is sent, under a deterministic client order id
  (:func:`tradpal.trading.orders.client_order_id`), and every fill is booked once
  (:class:`tradpal.trading.book.Book`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from tradpal.backtest.config import BacktestConfig
from tradpal.errors import TradPalError
from tradpal.risk import DrawdownGuard, kelly_from_trades, leverage_cap, position_size
from tradpal.trading.book import Book, Fill
from tradpal.trading.orders import PROTECTIVE, Intent, Order, client_order_id, intent_of
from tradpal.trading.paper import is_paper
from tradpal.trading.protections import Protections

log = logging.getLogger(__name__)

QUIETING_EXITS = frozenset({"stop", "target", "trailing", "liquidation", "time"})
"""Exits after which their bar's signals do not act (protective orders and time stops)."""

LIVE_TRADES_LIMIT = 1000
"""Trades read per sync from a live exchange (Binance's most): a trader syncs at every bar
and order, so its new fills are always among the latest."""

SKIPS = ("guard", "no_level", "bad_level", "no_size", "paused", "protection")
"""Why an entry was skipped (the engine's ``skipped_entries`` keys)."""


def _iso(time_ms: int) -> str:
    """``time_ms`` (ms since the epoch) as ISO 8601 UTC, the events' ``time``."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(time_ms / 1000, UTC).isoformat().replace("+00:00", "Z")


class TradingError(TradPalError):
    """The trader cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Candle:
    """One closed bar: open time ``time_ms`` (ms since the epoch), prices in quote
    currency, volume in base units."""

    time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class TraderStore(Protocol):
    """What a trader keeps across restarts (:mod:`tradpal.trading.store`: DynamoDB, or in
    memory): orders written before they are sent, fills once by trade id, a versioned
    state document."""

    def put(self, order: Order) -> None: ...

    def get(self, client_id: str) -> Order | None: ...

    def orders(self) -> list[Order]: ...

    def put_fill(self, fill: Fill) -> bool: ...

    def fills(self) -> list[Fill]: ...

    def save_state(self, state: dict[str, Any], *, expected_version: int | None) -> int: ...

    def load_state(self) -> tuple[dict[str, Any], int] | None: ...


def memory_store(trader_id: str) -> TraderStore:
    """A :class:`~tradpal.trading.store.MemoryTradingStore` of its own, its lease taken for
    good: nothing else can see it, so no other trader can contend for it (replays, a paper
    session that keeps nothing)."""
    from tradpal.trading.store import MemoryTradingStore

    store = MemoryTradingStore(trader_id)
    store.acquire_lease(f"{trader_id}-memory", ttl_s=float(2**31), now_s=time.time())
    return store


@dataclass
class _Holding:
    """What the trader keeps about the open position (the engine's per-position state)."""

    side: int
    entry_bar: int
    entry_ms: int
    stop: float
    target: float
    trail_dist: float
    trail_ref: float
    stop_order: str | None = None
    stop_level: float = math.nan
    target_order: str | None = None
    revision: int = 0


@dataclass
class _History:
    """The candles seen so far, as growing arrays."""

    time_ms: list[int] = field(default_factory=list)
    open: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)
    volume: list[float] = field(default_factory=list)

    def append(self, c: Candle) -> None:
        if self.time_ms and c.time_ms <= self.time_ms[-1]:
            raise TradingError(
                f"candle at {c.time_ms} ms is not after the last one ({self.time_ms[-1]} ms)",
                hint="feed closed candles once each, oldest first",
            )
        self.time_ms.append(int(c.time_ms))
        self.open.append(float(c.open))
        self.high.append(float(c.high))
        self.low.append(float(c.low))
        self.close.append(float(c.close))
        self.volume.append(float(c.volume))

    def __len__(self) -> int:
        return len(self.time_ms)


class Trader:
    """One strategy on one symbol (see the module docstring).

    ``strategy`` a :class:`~tradpal.strategies.Strategy` (or a name), ``params`` its
    parameters (over the timeframe's defaults), ``config`` the risk and cost settings the
    backtest uses; ``exchange`` anything with ccxt's order interface; ``trader_id`` names
    this trader in its client order ids. ``window``: the strategy runs on the last that many
    candles (None: all seen, as a backtest over the same candles; a live trader bounds it so
    that each bar costs the same, e.g. 1000). ``store`` keeps its orders, fills and state
    (:class:`TraderStore`; default: :func:`memory_store`); ``on_event(type, detail)``
    receives its ``order_executed``, ``portfolio_update`` and ``risk_alert`` events (the
    bus's schemas); ``mode`` paper or live (default: paper on a
    :class:`~tradpal.trading.paper.PaperExchange`); ``watch_target``: the stop alone rests
    on the exchange and the trader closes at the market at the close of a bar that reached
    the target (a spot account, which holds the coins for one order only).
    """

    def __init__(
        self,
        *,
        strategy: Any,
        symbol: str,
        timeframe: str,
        exchange: Any,
        config: BacktestConfig | None = None,
        params: Mapping[str, Any] | None = None,
        trader_id: str = "trader",
        store: TraderStore | None = None,
        capital: float | None = None,
        retries: int = 3,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        window: int | None = None,
        protections: Protections | None = None,
        open_positions: Callable[[], int] | None = None,
        owns_account: bool = False,
        mode: str | None = None,
        watch_target: bool = False,
    ) -> None:
        from tradpal.strategies import get_strategy
        from tradpal.timeframes import parse_timeframe

        self.strategy = get_strategy(strategy) if isinstance(strategy, str) else strategy
        self.symbol = symbol
        self.timeframe = parse_timeframe(timeframe)
        self.exchange = exchange
        self.config = config or BacktestConfig()
        self.given_params = dict(params or {})
        self.params: dict[str, Any] | None = None
        self.trader_id = trader_id
        self.store = store if store is not None else memory_store(trader_id)
        self.book = Book(self.config.capital if capital is None else capital)
        self.guard = DrawdownGuard.start(self.config.max_drawdown, self.book.capital)
        self.history = _History()
        self.holding: _Holding | None = None
        # a decision not yet carried out: (action, reason, the signal bar's open time in ms,
        # the side of the position it was taken with)
        self.pending: tuple[str, str, int, int] | None = None
        self._done_ms: int | None = None  # the last bar taken to its end
        self.skipped = dict.fromkeys(SKIPS, 0)
        self.equity: list[float] = []
        self.bars_in_market = 0
        self.bar = -1
        self._fills_since = 0
        self._our_orders: dict[str, Order] = {}
        self._bars_per_year = self.config.year_days * 86_400 / self.timeframe.seconds
        self._signals: Any = None
        if window is not None and window < 2:
            raise TradingError(
                f"window {window} is too short", hint="give at least the warm-up bars, e.g. 1000"
            )
        self.window = window
        self.protections = protections or Protections()
        self.open_positions = open_positions
        self.owns_account = owns_account
        self._state_version: int | None = None
        self.blocked: str | None = None  # why a protection last blocked an entry
        self._day = -1
        self._day_equity = self.book.capital
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.on_event = on_event
        self.alerts: list[dict[str, Any]] = []
        self.paused: str | None = None  # why no new entries are opened, None: trading
        self.stopped = False  # the kill switch: open orders cancelled, none sent
        self.reconciled: list[str] = []  # what the last reconcile found
        self.watch_target = watch_target
        self._mark: float | None = None  # the price of the bar event being handled
        self._quieted = False  # a protective exit was booked since the last bar closed
        self.control_version = 0  # the last control command applied (tradpal.trading.store)
        self.mode = mode or ("paper" if is_paper(exchange) else "live")
        self._atr: np.ndarray | None = None
        self._vol: np.ndarray | None = None

    # ---- events ----

    def on_bar_open(self, time_ms: int, price: float) -> None:
        """The next bar has opened at ``price``: a decision of the last close acts now
        (``fill="next_open"``)."""
        if self.pending is None or self.stopped:
            return
        action, reason, _signal_ms, had = self.pending
        self._mark = float(price)
        if self._signals is None and not self._compute_or_pause():
            return  # restarted between the decision and its bar's open: the signals again
        self._act(action, reason, int(time_ms), had)
        self.pending = None
        self._persist()  # the position it opened, before the bar goes on

    def on_bar_close(self, candle: Candle) -> None:
        """``candle`` has closed: book its fills, move or fire the stops, and decide."""
        day = candle.time_ms // 86_400_000
        if day != self._day:  # the equity a UTC day starts with (the daily loss limit)
            last = self.history.close[-1] if len(self.history) else candle.open
            self._day, self._day_equity = day, self.book.equity(last)
        self.history.append(candle)
        self._mark = float(candle.close)
        self.bar += 1
        t = self.bar
        self._sync_fills()
        protective = self._protective_exit_in(candle) or self._quieted or self.stopped
        h = self.holding
        if h is not None and not protective and self._target_reached(h, candle):
            self._exit("target", candle.time_ms)
            protective = True
            h = self.holding
        if h is not None and not protective:
            self._trail(h, candle)
        h = self.holding
        if (
            h is not None
            and not self.stopped
            and self.config.time_stop_bars
            and t - h.entry_bar >= self.config.time_stop_bars
        ):
            self._exit("time", candle.time_ms)
            protective = True
        self.guard = self.guard.update(self.book.equity(candle.close))
        if not protective and self._compute_or_pause():
            if self.pending is not None and self.pending[2] == candle.time_ms:
                action, reason, _, had = self.pending  # decided before a restart
            else:
                action, reason = self._resolve(t)
                had = (self.book.position > 0) - (self.book.position < 0)
            self.pending = (action, reason, candle.time_ms, had) if action != "none" else None
            if self.pending is not None and self.config.fill == "close":
                # written before it acts: a restart in the middle carries out this decision,
                # not one taken again from the position it had half changed
                self._persist()
                self._act(action, reason, candle.time_ms, had)
                self.pending = None
        equity = self.book.equity(candle.close)
        self.equity.append(equity)
        self.bars_in_market += self.book.position != 0.0
        self.guard = self.guard.update(equity)
        self._done_ms = candle.time_ms
        self._quieted = False
        self._persist()
        self._emit("portfolio_update", self._portfolio())

    # ---- decisions ----

    def _protective_exit_in(self, candle: Candle) -> bool:
        """Whether a protective order or a time stop closed the position during ``candle``
        (read from the book, so a restart that re-takes the bar sees it too)."""
        end = candle.time_ms + int(self.timeframe.seconds * 1000)
        for trade in reversed(self.book.trades):
            if not trade.closed:
                continue
            if trade.exit_ms < candle.time_ms:
                break
            if trade.exit_ms < end and trade.exit_reason in QUIETING_EXITS:
                return True
        return False

    # ---- state across restarts ----

    def snapshot(self) -> dict[str, Any]:
        """What a restarted trader needs besides its orders and fills (which its store keeps
        item by item): the position's levels and orders, the guard, a pending decision,
        the counters. Plain JSON."""
        from dataclasses import asdict

        return {
            "last_bar_ms": self._done_ms,
            "bar": self.bar,
            "holding": asdict(self.holding) if self.holding is not None else None,
            "guard": self.guard.to_dict(),
            "pending": list(self.pending) if self.pending is not None else None,
            "skipped": dict(self.skipped),
            "paused": self.paused,
            "blocked": self.blocked,
            "day": self._day,
            "day_equity": self._day_equity,
            "fills_since": self._fills_since,
            "params": self.params,
            "stopped": self.stopped,
            "control_version": self.control_version,
            "summary": self.summary(),
        }

    def sync(self) -> int:
        """Book the exchange's new fills of this trader's orders now (an order update came
        between bars); returns how many."""
        before = len(self.book.seen)
        self._sync_fills()
        booked = len(self.book.seen) - before
        if booked:
            self._persist()
        return booked

    def save(self) -> None:
        """Write the state (:meth:`snapshot`) now; the trader also does at each event."""
        self._persist()

    def _persist(self) -> None:
        self._state_version = self.store.save_state(
            self.snapshot(), expected_version=self._state_version
        )

    def restore(self) -> dict[str, Any] | None:
        """Take up where the last run of this trader stopped: its fills rebuild the book,
        its orders are known again, its snapshot gives the position's levels, the guard and
        a pending decision; then :meth:`reconcile` checks all of it against the exchange.
        Returns the snapshot (None: a first start)."""
        loaded = self.store.load_state()
        for fill in self.store.fills():
            self.book.apply(fill)
            self._fills_since = max(self._fills_since, fill.time_ms)
        for order in self.store.orders():
            self._our_orders[order.client_id] = order
        if loaded is None:
            self.reconcile()
            return None
        state, self._state_version = loaded
        if state.get("holding") and self.book.position != 0.0:
            self.holding = _Holding(**state["holding"])
        self.guard = DrawdownGuard.from_dict(state["guard"])
        self.pending = tuple(state["pending"]) if state.get("pending") else None  # type: ignore[assignment]
        self.skipped.update(state.get("skipped") or {})
        self.paused, self.blocked = state.get("paused"), state.get("blocked")
        self.stopped = bool(state.get("stopped"))
        self.control_version = int(state.get("control_version") or 0)
        self._day, self._day_equity = (
            state.get("day", -1),
            state.get("day_equity", self.book.capital),
        )
        self._fills_since = max(self._fills_since, state.get("fills_since") or 0)
        self._done_ms = state.get("last_bar_ms")
        self.bar = state.get("bar", self.bar)  # the bar count time stops measure from
        self.params = state.get("params")
        self.reconcile()
        return state

    def restore_and_report(self) -> list[str]:
        """:meth:`restore`, returning what its reconcile found (one line each)."""
        self.restore()
        return list(self.reconciled)

    def reconcile(self) -> list[str]:
        """Check the trader's orders, fills and position against the exchange, and repair
        what can be repaired: an order written but never answered is looked up by its
        client id (adopted, or marked as never placed); fills the trader missed are
        booked; open orders of this trader it did not know are adopted, others reported;
        a position that does not equal the exchange's pauses new entries with a
        risk_alert saying both. Returns what it found, one line each."""
        found: list[str] = []
        for order in list(self._our_orders.values()):
            if order.status not in ("new", "open", "unknown"):
                continue
            answer = self._lookup(order)
            if answer is None:
                if order.status == "new":
                    self._record(order.with_(status="canceled", info={"error": "never sent"}))
                    found.append(f"order {order.client_id} was recorded but never sent")
                elif order.status == "open":
                    self._record(order.with_(status="unknown"))
                    self.alert(
                        f"open order {order.client_id} is not on the exchange",
                        level="critical",
                        kind="reconcile",
                    )
                    found.append(f"order {order.client_id} is gone from the exchange")
                continue
            status = answer.get("status") or "open"
            if status != order.status or order.exchange_id is None:
                self._record(order.with_(status=status, exchange_id=str(answer["id"])))
                found.append(f"order {order.client_id} is {status} on the exchange")
        before = len(self.book.seen)
        self._sync_fills()
        if len(self.book.seen) > before:
            found.append(
                f"{len(self.book.seen) - before} fill(s) booked that the trader had missed"
            )
        known = {o.exchange_id for o in self._our_orders.values()}
        for open_order in self.exchange.fetch_open_orders(self.symbol):
            if str(open_order["id"]) in known:
                continue
            client = str(open_order.get("clientOrderId") or "")
            intent = intent_of(client)
            if intent is None:
                self.alert(
                    f"an open order {open_order['id']} ({client or 'no client id'}) on "
                    f"{self.symbol} is not this trader's; it is left as it is"
                )
                continue
            self._adopt(open_order, intent)
            found.append(f"open order {client} ({intent}) adopted")
        self._check_position(found)
        if self.holding is not None and self.book.position == 0.0:
            self.holding = None
        self.reconciled = found
        return found

    def _adopt(self, answer: Mapping[str, Any], intent: Intent) -> None:
        """Record an open order of this trader that its store lacks (a crash between the
        send and the store's write of the answer)."""
        stop = answer.get("stopPrice") or answer.get("triggerPrice")
        kind = "limit" if answer.get("type") == "limit" else ("stop_market" if stop else "market")
        order = Order(
            client_id=str(answer["clientOrderId"]),
            symbol=self.symbol,
            side=answer["side"],
            type=kind,  # type: ignore[arg-type]
            amount=float(answer["amount"]),
            intent=intent,
            bar_ms=int(answer.get("timestamp") or 0),
            price=float(answer["price"]) if kind == "limit" and answer.get("price") else None,
            stop_price=float(stop) if stop else None,
            reduce_only=bool(answer.get("reduceOnly")),
            status="open",
            exchange_id=str(answer["id"]),
            filled=float(answer.get("filled") or 0.0),
            reason={"stop": "stop", "target": "target"}.get(intent, "signal"),
        )
        self._record(order)
        h = self.holding
        if h is not None and intent == "stop" and h.stop_order is None:
            h.stop_order = order.client_id
        if h is not None and intent == "target" and h.target_order is None:
            h.target_order = order.client_id

    def _check_position(self, found: list[str]) -> None:
        exchange_position = self._exchange_position()
        if exchange_position is None:
            return
        # the coins its fills left, dust included (less than the exchange trades)
        held = self.book.position + self.book.dust_left
        if abs(exchange_position - held) > 1e-9 * max(1.0, abs(held)):
            why = (
                f"the position does not reconcile: the trader's fills add up to {held}, "
                f"the exchange holds {exchange_position} of {self.symbol}"
            )
            found.append(why)
            self.pause(why)

    def _exchange_position(self) -> float | None:
        """The exchange's position in the symbol: the paper account's, or (an account the
        trader owns alone, ``owns_account``) the base asset's balance; None: not knowable."""
        if is_paper(self.exchange):  # (a ccxt client has a `positions` of its own: a cache)
            return float(self.exchange.positions.get(self.symbol, 0.0))
        if not self.owns_account:
            return None
        base = self.symbol.split("/", 1)[0]
        total = self.exchange.fetch_balance().get(base, {}).get("total")
        return float(total or 0.0)

    def warm_up(self, candles: list[Candle]) -> None:
        """Take ``candles`` (closed, oldest first) as history without trading on them: the
        indicators' warm-up before the first live bar."""
        for candle in candles:
            self.history.append(candle)
            self.bar += 1
            self._done_ms = candle.time_ms

    def alert(self, message: str, *, level: str = "warning", kind: str = "trading") -> None:
        """Raise a ``risk_alert`` (:class:`~tradpal.events.schemas.RiskAlert`'s fields):
        kept in :attr:`alerts`, logged, and handed to ``on_event``. ``level`` info, warning
        or critical; ``kind`` what it is about (order, reconcile, paused, fee, control...).
        Its id is derived from the trader, the bar and the message: the same alert raised
        again after a restart has the same id (consumers drop the repeat)."""
        import hashlib

        bar = self.history.time_ms[-1] if len(self.history) else None
        key = f"{self.trader_id}|{bar}|{kind}|{message}".encode()
        event = {
            "alert_id": hashlib.sha256(key).hexdigest()[:32],
            "level": level,
            "kind": kind,
            "message": message,
            "symbol": self.symbol,
            "time": _iso(bar if bar is not None else int(time.time() * 1000)),
            "trader_id": self.trader_id,
        }
        self.alerts.append(event)
        log.warning("risk_alert %s %s: %s", self.trader_id, self.symbol, message)
        self._emit("risk_alert", event)

    def _emit(self, detail_type: str, detail: dict[str, Any]) -> None:
        """Hand an event to ``on_event``; its failure is logged, never the trader's."""
        if self.on_event is None:
            return
        try:
            self.on_event(detail_type, detail)
        except Exception:
            log.exception(
                "the %s event of trader %s was not delivered", detail_type, self.trader_id
            )

    def _executed(self, fill: Fill) -> dict[str, Any]:
        """The ``order_executed`` event of a booked fill."""
        return {
            "order_id": fill.client_id,
            "trade_id": fill.trade_id,
            "trader_id": self.trader_id,
            "symbol": self.symbol,
            "side": fill.side,
            "quantity": fill.amount,
            "price": fill.price,
            "fee": fill.fee,
            "mode": self.mode,
            "reason": fill.reason,
            "time": _iso(fill.time_ms),
        }

    def summary(self) -> dict[str, Any]:
        """Where the trader stands, as its state document's ``summary`` (what
        ``GET /v1/trading`` shows): prices in the quote currency, position in base units
        (signed: negative is short), times in ms since the epoch."""
        book = self.book
        price = float(self.history.close[-1]) if len(self.history) else None
        trade = book.open_trade
        equity = book.equity(price) if price is not None else book.cash
        realized = sum(t.pnl for t in book.closed_trades)
        return {
            "strategy": getattr(self.strategy, "name", str(self.strategy)),
            "symbol": self.symbol,
            "timeframe": self.timeframe.name,
            "exchange": str(getattr(self.exchange, "id", "")),
            "mode": self.mode,
            "status": self.status,
            "position": book.position,
            "avg_entry_price": trade.entry_price if trade is not None else None,
            "cash": book.cash,
            "equity": equity,
            "capital": book.capital,
            "realized_pnl": realized,
            "unrealized_pnl": equity - book.capital - realized,
            "last_price": price,
            "last_bar_ms": self.last_bar_ms,
            "num_trades": len(book.closed_trades),
            "paused_reason": self.paused,
            "control_version": self.control_version,
            "updated_ms": int(time.time() * 1000),
        }

    @property
    def last_bar_ms(self) -> int | None:
        """The open time (ms since the epoch) of the last bar taken to its end."""
        return self._done_ms

    @property
    def status(self) -> str:
        """running, paused (no new entries) or stopped (the kill switch: no orders)."""
        return "stopped" if self.stopped else ("paused" if self.paused is not None else "running")

    def _portfolio(self) -> dict[str, Any]:
        """The ``portfolio_update`` event at a bar's close."""
        s = self.summary()
        position = {
            "symbol": self.symbol,
            "quantity": s["position"],
            "avg_entry_price": s["avg_entry_price"],
            "last_price": s["last_price"],
        }
        return {
            "trader_id": self.trader_id,
            "equity": s["equity"],
            "cash": s["cash"],
            "positions": [position] if s["position"] else [],
            "time": _iso(self._done_ms or int(time.time() * 1000)),
        }

    def apply_control(self, control: Any) -> bool:
        """Carry out a control command (:class:`tradpal.trading.store.Control`: ``command``
        start, pause or stop, ``flatten``, ``version``, ``reason``, ``requested_by``) once:
        a version at or below the last applied is ignored. ``stop`` is the kill switch:
        every open order of this trader is cancelled and, with ``flatten``, the position is
        closed at the market; no order goes out until ``start``. ``pause`` stops new
        entries (the position keeps its stop and target). ``start`` lifts both, and puts a
        position that a stop left unprotected under its stop and target again. Returns
        whether it applied the command."""
        version = int(control.version)
        if version <= self.control_version:
            return False
        who = f" by {control.requested_by}" if getattr(control, "requested_by", None) else ""
        why = f": {control.reason}" if getattr(control, "reason", None) else ""
        bar_ms = self._done_ms or int(time.time() * 1000)
        if control.command == "stop":
            self.stopped = True
            self.pending = None
            for order in list(self._our_orders.values()):
                if order.status in ("open", "new") and order.exchange_id is not None:
                    self._cancel(order.client_id)
            if self.holding is not None:
                self.holding.stop_order = self.holding.target_order = None
            if control.flatten and self.book.position != 0.0:
                side = "sell" if self.book.position > 0 else "buy"
                self._send("exit", bar_ms, side, abs(self.book.position), reason="kill_switch",
                           reduce_only=True, revision=version)  # fmt: skip
                if self.book.position == 0.0:
                    self.holding = None
            flat = "flattened" if control.flatten else "position kept, unprotected"
            self.alert(f"stopped{who}{why} ({flat})", level="critical", kind="kill_switch")
        elif control.command == "pause":
            self.paused = f"paused{who}{why}"
            self.alert(self.paused, level="warning", kind="control")
        elif control.command == "start":
            was_stopped, self.stopped, self.paused = self.stopped, False, None
            h = self.holding
            if was_stopped and h is not None and self.book.position != 0.0:
                h.revision += 1
                self._protect(h, h.entry_ms)
            self.alert(f"started{who}{why}", level="info", kind="control")
        else:
            raise TradingError(
                f"unknown control command {control.command!r}", hint="use start, pause or stop"
            )
        self.control_version = version
        self._persist()
        return True

    def pause(self, why: str) -> None:
        """No new entries until :meth:`resume` (exits and protective orders go on)."""
        if self.paused is None:
            self.paused = why
            self.alert(f"paused: {why}", level="critical", kind="paused")

    def resume(self) -> None:
        self.paused = None

    def _compute_or_pause(self) -> bool:
        """Compute the signals; a strategy that fails pauses the trader (with the error in
        its alert) instead of stopping it: the position keeps its protective orders."""
        from tradpal.errors import BacktestError

        try:
            self._compute()
        except BacktestError:
            raise  # a setting the backtest refuses too: the trader cannot start
        except Exception as exc:
            self.pause(f"the strategy failed on the bar at {self.history.time_ms[-1]} ms: {exc!r}")
            return False
        return True

    def _compute(self) -> None:
        """The strategy's signals (and the ATR and volatility the rules need) on the
        candles so far."""
        from tradpal.backtest.engine import engine_atr, engine_volatility, require_stop_for_risk
        from tradpal.data.contract import MarketMeta, make_ohlcv
        from tradpal.strategies import resolve_params

        hist = self.history
        w = -self.window if self.window is not None else 0  # the last `window` candles
        frame = make_ohlcv(
            np.asarray(hist.time_ms[w:], dtype="datetime64[ms]"),
            hist.open[w:],
            hist.high[w:],
            hist.low[w:],
            hist.close[w:],
            hist.volume[w:],
            meta=MarketMeta(symbol=self.symbol, timeframe=self.timeframe.name, source="trader"),
        )
        if self.params is None:
            self.params = resolve_params(self.strategy, frame, self.given_params)
        self._signals = self.strategy.generate(frame, self.params)
        require_stop_for_risk(self.config, self._signals)  # as a backtest refuses it
        h, lo, c = (np.asarray(x[w:], dtype=np.float64) for x in (hist.high, hist.low, hist.close))
        cfg = self.config
        self._atr = engine_atr(h, lo, c, cfg.atr_period) if cfg.uses_atr else None
        self._vol = (
            engine_volatility(c, cfg.vol_lookback, self._bars_per_year)
            if cfg.target_volatility is not None
            else None
        )

    def _resolve(self, t: int) -> tuple[str, str]:
        """The engine's ``resolve``: what the signals of bar ``t`` ask for, given the
        position -> (none | close | long | short, the closing reason)."""
        s = self._signals
        le, lx = bool(s.long_entry[-1]), bool(s.long_exit[-1])
        se, sx = bool(s.short_entry[-1]), bool(s.short_exit[-1])
        if le and lx:
            le = lx = False
        if se and sx:
            se = sx = False
        if le and se:
            le = se = False
        short_ok = self.config.allow_short
        pos = self.book.position
        if pos > 0:
            if se:
                return ("short", "reverse") if short_ok else ("close", "signal")
            return ("close", "signal") if lx else ("none", "signal")
        if pos < 0:
            if le:
                return "long", "reverse"
            return ("close", "signal") if sx else ("none", "signal")
        if le:
            return "long", "signal"
        if se and short_ok:
            return "short", "signal"
        return "none", "signal"

    def _act(self, action: str, reason: str, bar_ms: int, had: int) -> None:
        """Carry out a decision at ``bar_ms`` (the bar it acts in) taken with a position of
        side ``had`` (0: flat): each order is keyed by that bar, so carrying it out again
        after a restart sends only what was not sent."""
        if action == "none":
            return
        if had != 0:
            self._exit(reason, bar_ms)
        if action == "close":
            return
        self._enter(1 if action == "long" else -1, bar_ms)

    def _levels(self, side: int, fill: float, sig: int) -> tuple[float, float, float, bool]:
        """(stop, target, trailing distance, whether an ATR level is needed) of an entry
        of ``side`` filled at ``fill`` from signal bar ``sig``: the engine's rules."""
        cfg, s = self.config, self._signals
        a = float(self._atr[sig]) if self._atr is not None else math.nan
        stop = target = trail = math.nan
        need = False
        stop_px = float(s.stop_price[sig]) if s.stop_price is not None else math.nan
        target_px = float(s.target_price[sig]) if s.target_price is not None else math.nan
        if not math.isnan(stop_px):
            stop = stop_px
        elif cfg.stop_loss is not None and cfg.stop_loss.kind == "pct":
            stop = fill * (1.0 - side * cfg.stop_loss.value)
        elif cfg.stop_loss is not None:
            stop, need = fill - side * (cfg.stop_loss.value * a), True
        if not math.isnan(target_px):
            target = target_px
        elif cfg.take_profit is not None and cfg.take_profit.kind == "pct":
            target = fill * (1.0 + side * cfg.take_profit.value)
        elif cfg.take_profit is not None:
            target, need = fill + side * (cfg.take_profit.value * a), True
        if cfg.trailing_stop is not None and cfg.trailing_stop.kind == "pct":
            trail = cfg.trailing_stop.value
        elif cfg.trailing_stop is not None:
            trail, need = cfg.trailing_stop.value * a, True
        return stop, target, trail, need and math.isnan(a)

    def _enter(self, side: int, bar_ms: int) -> None:
        cfg = self.config
        # the signals were generated on the candles up to the signal bar, the last one seen
        # (a next-open entry acts before the new bar closes)
        sig_index = -1
        if not self.guard.allows_entry:
            self.skipped["guard"] += 1
            return
        if self.paused is not None or self.stopped:
            self.skipped["paused"] += 1
            return
        if self.protections.any:
            others = self.open_positions() if self.open_positions is not None else 0
            why = self.protections.blocks(
                self.book.trades,
                now_ms=bar_ms,
                bar_ms=int(self.timeframe.seconds * 1000),
                day_start_equity=self._day_equity,
                open_positions=others,
            )
            if why is not None:
                self.blocked = why
                self.skipped["protection"] += 1
                return
        price = self._price()
        fill = price * (1.0 + cfg.slippage) if side > 0 else price * (1.0 - cfg.slippage)
        stop, target, trail, missing = self._levels(side, fill, sig_index)
        if missing or (cfg.sizing.kind == "risk" and math.isnan(stop)):
            self.skipped["no_level"] += 1
            return
        if (not math.isnan(stop) and side * (fill - stop) <= 0.0) or (
            not math.isnan(target) and side * (target - fill) <= 0.0
        ):
            self.skipped["bad_level"] += 1
            return
        equity = self.book.cash  # flat here: equity is cash
        vol = float(self._vol[sig_index]) if self._vol is not None else math.nan
        lev = leverage_cap(cfg.max_leverage, cfg.target_volatility, vol)
        kelly = None
        if cfg.sizing.kind == "kelly":
            kelly = kelly_from_trades([t.ret for t in self.book.closed_trades], cfg.sizing.value)
        qty = position_size(
            cfg.sizing,
            equity=equity,
            price=fill,
            stop=stop,
            fees=cfg.fees,
            leverage=lev,
            max_notional=cfg.max_notional,
            kelly=kelly,
        )
        if not (qty > 0.0) or equity <= 0.0:
            self.skipped["no_size"] += 1
            return
        order = self._send("entry", bar_ms, "buy" if side > 0 else "sell", qty, reason="entry")
        if order is None or self.book.position == 0.0:
            return
        trade = self.book.open_trade
        actual = trade.entry_price
        if actual != fill:  # a live fill: the levels follow the price actually paid
            stop, target, trail, _ = self._levels(side, actual, sig_index)
        trade.stop_price, trade.target_price = stop, target
        self.holding = _Holding(
            side=side,
            entry_bar=self.bar if self.config.fill == "close" else self.bar + 1,
            entry_ms=bar_ms,
            stop=stop,
            target=target,
            trail_dist=trail,
            trail_ref=actual,
        )
        self._protect(self.holding, bar_ms)

    def _adverse(self, h: _Holding) -> tuple[float, str]:
        """The engine's ``adverse_level``: the protective level hit first on the adverse
        side, and its reason."""
        level, reason = h.stop, "stop"
        kind = self.config.trailing_stop.kind if self.config.trailing_stop is not None else None
        if kind is not None:
            t = (
                h.trail_ref * (1.0 - h.side * h.trail_dist)
                if kind == "pct"
                else h.trail_ref - h.side * h.trail_dist
            )
            if math.isnan(level) or h.side * (t - level) > 0.0:
                level, reason = t, "trailing"
        if getattr(self.exchange, "margin", False) is True:  # only a margin account liquidates
            liq = -self.book.cash / self.book.position
            if liq > 0.0 and (math.isnan(level) or h.side * (liq - level) > 0.0):
                level, reason = liq, "liquidation"
        return level, reason

    def _target_reached(self, h: _Holding, candle: Candle) -> bool:
        """Whether ``candle`` reached the target that the trader watches itself
        (``watch_target``: only the stop rests on the exchange)."""
        if not self.watch_target or h.target_order is not None or math.isnan(h.target):
            return False
        return candle.high >= h.target if h.side > 0 else candle.low <= h.target

    def _protect(self, h: _Holding, bar_ms: int) -> None:
        """Send the stop-market order at the adverse level and the target's limit order."""
        exit_side = "sell" if h.side > 0 else "buy"
        amount = abs(self.book.position)
        level, reason = self._adverse(h)
        if not math.isnan(level):
            order = self._send(
                "stop",
                bar_ms,
                exit_side,
                amount,
                stop_price=level,
                reason=reason,
                reduce_only=True,
                revision=h.revision,
            )
            h.stop_order, h.stop_level = (order.client_id if order else None), level
        # a spot account holds the coins for one order only: the stop rests, the target is
        # watched (_target_reached)
        watched = self.watch_target and not math.isnan(level)
        if not math.isnan(h.target) and self.book.position != 0.0 and not watched:
            order = self._send(
                "target",
                bar_ms,
                exit_side,
                amount,
                price=h.target,
                reason="target",
                reduce_only=True,
                revision=h.revision,
            )
            h.target_order = order.client_id if order else None

    def _trail(self, h: _Holding, candle: Candle) -> None:
        """After the bar's check: the trailing reference takes the bar's extreme, and the
        stop order follows when the adverse level moved."""
        if h.side > 0 and candle.high > h.trail_ref:
            h.trail_ref = candle.high
        if h.side < 0 and candle.low < h.trail_ref:
            h.trail_ref = candle.low
        if self.config.trailing_stop is None:
            return
        level, reason = self._adverse(h)
        if level == h.stop_level or math.isnan(level):
            return
        if h.stop_order is not None:
            self._cancel(h.stop_order)
        h.revision += 1
        order = self._send(
            "stop",
            h.entry_ms,
            "sell" if h.side > 0 else "buy",
            abs(self.book.position),
            stop_price=level,
            reason=reason,
            reduce_only=True,
            revision=h.revision,
        )
        h.stop_order, h.stop_level = (order.client_id if order else None), level

    def _exit(self, reason: str, bar_ms: int) -> None:
        """Close the whole position at the market (protective orders cancelled first)."""
        h = self.holding
        if h is not None:
            for client_id in (h.stop_order, h.target_order):
                if client_id is not None:
                    self._cancel(client_id)
            self._sync_fills()  # a protective order may have filled since the last sync
        if self.book.position != 0.0:  # 0: closed already (an exit carried out again)
            side = "sell" if self.book.position > 0 else "buy"
            amount = abs(self.book.position)
            self._send("exit", bar_ms, side, amount, reason=reason, reduce_only=True)
        if self.book.position == 0.0:
            self.holding = None

    # ---- orders and fills ----

    def _price(self) -> float:
        """The price a decision is sized at: the bar's open or close it acts at (what the
        engine fills at, and what a paper exchange's ticker says), else the ticker's."""
        if self._mark is not None:
            return self._mark
        ticker = self.exchange.fetch_ticker(self.symbol)
        price = ticker.get("last")
        if price is None or not price > 0:
            raise TradingError(f"no price for {self.symbol} from {self.exchange.id}")
        return float(price)

    def _send(
        self,
        intent: Intent,
        bar_ms: int,
        side: str,
        amount: float,
        *,
        price: float | None = None,
        stop_price: float | None = None,
        reason: str,
        reduce_only: bool = False,
        revision: int = 0,
    ) -> Order | None:
        """Record the order, then send it; book what filled at once."""
        client_id = client_order_id(self.trader_id, self.symbol, bar_ms, intent, revision)
        order = Order(
            client_id=client_id,
            symbol=self.symbol,
            side=side,  # type: ignore[arg-type]
            type="limit"
            if price is not None
            else ("stop_market" if stop_price is not None else "market"),
            amount=amount,
            intent=intent,
            bar_ms=bar_ms,
            price=price,
            stop_price=stop_price,
            reduce_only=reduce_only,
            reason=reason,
        )
        known = self.store.get(client_id)
        if known is not None:
            # decided before a restart: sent already (adopt what the exchange has), or
            # written and never sent (the exchange has no such order: send it now)
            self._our_orders[client_id] = known
            never_sent = known.status == "canceled" and known.info.get("error") == "never sent"
            if known.status != "new" and not never_sent:
                return known
            answer = None if never_sent else self._lookup(known)
            if answer is not None:
                adopted = known.with_(
                    status=answer.get("status") or "open", exchange_id=str(answer["id"])
                )
                self._record(adopted)
                self._sync_fills()
                return adopted
        self.store.put(order)  # written before it is sent
        self._our_orders[client_id] = order
        answer = self._create(order)
        if answer is None:
            return None
        order = order.with_(status=answer.get("status") or "open", exchange_id=str(answer["id"]))
        self._record(order)
        self._sync_fills()
        return order

    def _record(self, order: Order) -> None:
        self.store.put(order)
        self._our_orders[order.client_id] = order

    def _create(self, order: Order) -> dict[str, Any] | None:
        """Send ``order`` once. A rate limit is waited out and the request repeated (the
        exchange refused it unread); a timeout or lost connection is resolved by looking
        the client order id up, never by sending again; a refusal (funds, minimum size,
        a bad symbol) is recorded on the order and raised as an alert. None: not placed."""
        from ccxt.base.errors import (
            DDoSProtection,
            ExchangeError,
            NetworkError,
            RateLimitExceeded,
        )

        for attempt in range(self.retries + 1):
            try:
                return self.exchange.create_order(
                    self.symbol,
                    "limit" if order.type == "limit" else "market",
                    order.side,
                    order.amount,
                    order.price,
                    order.ccxt_params(),
                )
            except (RateLimitExceeded, DDoSProtection) as exc:
                if attempt == self.retries:
                    self._refused(order, f"rate limited {self.retries + 1} times: {exc}")
                    return None
                self.sleep(self.backoff_s * 2**attempt)
            except NetworkError as exc:  # a timeout too: the order may exist
                found = self._lookup(order)
                if found is not None:
                    return found
                self._record(order.with_(status="unknown", info={"error": str(exc)}))
                self.alert(
                    f"order {order.client_id} ({order.intent}) timed out and the exchange "
                    f"does not show it; not sent again",
                    level="critical",
                    kind="order",
                )
                return None
            except ExchangeError as exc:
                self._refused(order, str(exc))
                return None
        return None

    def _lookup(self, order: Order) -> dict[str, Any] | None:
        """The exchange's order with ``order``'s client id, None when it has none; network
        errors are retried with backoff (and raised when they persist)."""
        from ccxt.base.errors import NetworkError, OrderNotFound

        for attempt in range(self.retries + 1):
            try:
                return self.exchange.fetch_order(
                    None, self.symbol, {"clientOrderId": order.client_id}
                )
            except OrderNotFound:
                return None
            except NetworkError:
                if attempt == self.retries:
                    raise
                self.sleep(self.backoff_s * 2**attempt)
        return None

    def _refused(self, order: Order, why: str) -> None:
        self._record(order.with_(status="rejected", info={"error": why}))
        self.alert(f"order {order.client_id} ({order.intent}) refused: {why}", kind="order")

    def _cancel(self, client_id: str) -> None:
        order = self._our_orders.get(client_id)
        if order is None or order.exchange_id is None:
            return
        from ccxt.base.errors import InvalidOrder, OrderNotFound

        current = self.exchange.fetch_order(order.exchange_id, self.symbol)
        if current.get("status") == "open":
            try:
                current = self.exchange.cancel_order(order.exchange_id, self.symbol)
            except (OrderNotFound, InvalidOrder):  # it filled or went meanwhile: as it is now
                current = self.exchange.fetch_order(order.exchange_id, self.symbol)
        self._our_orders[client_id] = order.with_(status=current.get("status") or "canceled")
        self.store.put(self._our_orders[client_id])

    def _sync_fills(self) -> None:
        """Book the exchange's fills of our orders not booked yet."""
        by_exchange_id = {o.exchange_id: o for o in self._our_orders.values() if o.exchange_id}
        if is_paper(self.exchange):
            trades = self.exchange.fetch_my_trades(self.symbol, since=self._fills_since)
        else:
            # the latest trades, no `since`: Binance reads one as a 24-hour window from it,
            # which misses newer fills; the book takes each trade id once
            trades = self.exchange.fetch_my_trades(self.symbol, limit=LIVE_TRADES_LIMIT)
        for trade in trades:
            order = self._our_orders.get(str(trade.get("clientOrderId"))) or by_exchange_id.get(
                str(trade.get("order"))
            )
            if order is None or str(trade["id"]) in self.book.seen:
                continue  # not ours, or booked (and stored) before
            fill = self._fill_of(trade, order)
            self.store.put_fill(fill)  # recorded before it changes the book
            if self.book.apply(fill):
                self._emit("order_executed", self._executed(fill))
                self._fills_since = max(self._fills_since, fill.time_ms)
                if order.intent in PROTECTIVE and self.book.position == 0.0:
                    self.holding = None
                    # found by a sync, whose fill times need not fall in the bar's window
                    # (latency, clocks): the bar that ends next is quiet
                    self._quieted = self._quieted or self.book.trades[-1].exit_reason in (
                        QUIETING_EXITS
                    )

    def _fill_of(self, trade: Mapping[str, Any], order: Order) -> Fill:
        """A ccxt trade of ``order`` as a :class:`Fill`: a fee in the quote currency costs
        cash, one in the base asset shrinks the position; one in a third asset (BNB) is
        left out of the book and said in an alert."""
        base, quote = self.symbol.split("/", 1)
        fee = trade.get("fee") or {}
        cost, currency = float(fee.get("cost") or 0.0), fee.get("currency")
        quote_fee = base_fee = 0.0
        if currency in (None, quote):
            quote_fee = cost
        elif currency == base:
            base_fee = cost
        elif cost:
            self.alert(
                f"a fee of {cost} {currency} on trade {trade['id']} is not in the book",
                kind="fee",
            )
        return Fill(
            trade_id=str(trade["id"]),
            client_id=order.client_id,
            side=trade["side"],
            amount=float(trade["amount"]),
            price=float(trade["price"]),
            fee=quote_fee,
            time_ms=int(trade["timestamp"]),
            reason=order.reason,
            base_fee=base_fee,
        )
