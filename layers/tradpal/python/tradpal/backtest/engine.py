"""The backtest engine: one position at a time, bar by bar, in compiled C (``_engine.c``).

Rules (the C code implements exactly these; ``t`` is a bar, labelled by its open time):

Signals and fills
  The signals of bar t are decided at its close. With ``fill="close"`` they act at
  close[t]; with ``fill="next_open"`` at open[t+1] (the last bar's signals are dropped).
  Per bar and side, an entry together with the exit of the same side is ignored; a long
  and a short entry together are ignored. Flat: a long entry opens a long, a short entry
  a short (``allow_short``). Long: a long exit closes ("signal"); a short entry closes and
  reverses into a short ("reverse"; without ``allow_short`` it only closes, "signal").
  Short: mirrored. An entry in the position's own direction does nothing (no pyramiding).

Prices and costs
  Market fills move against the trader by ``slippage``: buys at price x (1 + s), sells
  at price x (1 - s). Each fill pays ``fees`` x notional (quantity x fill price). A
  position's entry price is its fill price. Buying costs q x fill x (1 + fees) in cash;
  selling (or shorting) brings q x fill x (1 - fees). Equity = cash + signed quantity x
  price, marked at each close. Sizing: :mod:`tradpal.risk.sizing` (notional capped at
  leverage x equity / (1 + fees) and at ``max_notional``).

Protective exits (stop, target, trailing stop, liquidation)
  Levels are fixed at entry: the signal bar's ``stop_price`` / ``target_price`` when
  given (absolute prices; they override the configured rule), else ``stop_loss`` /
  ``take_profit`` from the entry price (pct) or the signal bar's ATR (atr). An entry is
  skipped when a level it needs is unknown (ATR still warming up; risk sizing without a
  stop) or lies on the wrong side of the fill (already hit).
  No look-ahead: a position opened at close[t] is first checked in bar t+1; one opened
  at open[t] (next-open fills) is checked within bar t itself, against its high and low.
  Within a bar, against its open, high and low:
    1. the open beyond the adverse level (gap): exit at the open;
    2. the open beyond the target: exit at the open (a limit order fills at the better
       price; vectorbt takes the stop here when the low also touches it);
    3. the low reaches the adverse level: exit at the level (when one bar touches both
       stop and target, the stop is assumed first: conservative);
    4. the high reaches the target: exit at the target.
  Stops, trailing stops and liquidations are stop-market orders and pay slippage;
  targets are limit orders and fill at their level (or the better open) without it.
  The adverse level is whichever of stop, trailing stop and liquidation is hit first.
  Trailing stop: from the best price since entry, the entry fill price to begin with, then
  the highest high (long) / lowest low (short) of each bar *after* that bar's check (the
  bar's extreme may have come after its low). ``pct``: reference x (1 -/+ f); ``atr``:
  reference -/+ k x ATR at the signal bar (a fixed distance).
  Time stop: a position still open at the close of bar entry_bar + ``time_stop_bars`` is
  closed at that close ("time"), with slippage.
  A bar in which a protective or time exit happened does not act on its own signals (no
  re-entry in the bar that stopped out; vectorbt does the same).

Leverage and liquidation
  Margin = notional / leverage; a position may use up to ``max_leverage`` x equity of
  notional (the volatility clamp lowers it, :func:`tradpal.risk.leverage_cap`).
  Equity cannot go below zero: the liquidation level is the price at which equity
  (cash + quantity x price) reaches 0; when a bar reaches it, the position is closed there
  ("liquidation", with slippage and fees, at the open on a gap) and any loss beyond the
  account is written off (as an exchange's insurance fund does). The account then holds
  0 and opens nothing more.

Drawdown guard
  With ``max_drawdown``, :class:`tradpal.risk.DrawdownGuard` observes the equity at every
  close (before that bar's signals act, and after); once tripped, no new positions open
  (exits and stops still work). Skipped entries are counted in ``meta["skipped_entries"]``.

End
  A position still open after the last bar is marked at the last close (no exit costs),
  so the final equity is mark-to-market, and listed in the ledger with reason "end".

Ledger times are the open times (labels) of the bars in which the fills happened;
``bars_held`` = exit bar - entry bar.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from tradpal.backtest import _native as nat
from tradpal.backtest.config import BacktestConfig, BacktestError
from tradpal.backtest.metrics import Metrics, compute_metrics, drawdown_series

EXIT_REASONS = nat.REASONS


@lru_cache(maxsize=256)
def _c_config(config: BacktestConfig) -> nat.Config:
    def rule(r: Any) -> tuple[int, float]:
        return (0, 0.0) if r is None else (nat.RULE_CODES[r.kind], r.value)

    sl, tp, tr = rule(config.stop_loss), rule(config.take_profit), rule(config.trailing_stop)
    return nat.Config(
        capital=config.capital,
        fees=config.fees,
        slippage=config.slippage,
        next_open=int(config.fill == "next_open"),
        sizing_kind=nat.SIZING_CODES[config.sizing.kind],
        sizing_value=config.sizing.value,
        sl_kind=sl[0],
        sl_value=sl[1],
        tp_kind=tp[0],
        tp_value=tp[1],
        trail_kind=tr[0],
        trail_value=tr[1],
        time_stop=config.time_stop_bars or 0,
        max_leverage=config.max_leverage,
        max_notional=np.inf if config.max_notional is None else config.max_notional,
        allow_short=int(config.allow_short),
        max_drawdown=np.nan if config.max_drawdown is None else config.max_drawdown,
        target_vol=np.nan if config.target_volatility is None else config.target_volatility,
    )


@dataclass(frozen=True)
class SimOutput:
    """What :func:`simulate` returns: arrays only, no DataFrames.

    ``equity`` per bar at the close; ``ledger`` one row per trade with the columns
    :data:`tradpal.backtest._native.TRADE_COLUMNS` (bars, side +1/-1, reason code into
    :data:`EXIT_REASONS`); ``guard_bar`` the bar at whose close the drawdown guard
    tripped (-1 never); ``skipped`` entries skipped by cause.
    """

    equity: np.ndarray
    ledger: np.ndarray
    capital: float
    bars_in_market: int
    guard_bar: int
    skipped: dict[str, int]
    buy_and_hold_return: float

    def column(self, name: str) -> np.ndarray:
        """One ledger column (``entry_bar``, ``pnl``, ``return``, ...)."""
        return self.ledger[:, nat.TRADE_COLUMNS.index(name)]

    @property
    def num_trades(self) -> int:
        return len(self.ledger)

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if len(self.equity) else self.capital

    @property
    def exposure(self) -> float:
        """Share of bars with a position open at the close."""
        return self.bars_in_market / len(self.equity) if len(self.equity) else 0.0

    def metrics(self, *, bars_per_year: float, bar_seconds: float | None = None) -> Metrics:
        """:func:`~tradpal.backtest.metrics.compute_metrics` of this run."""
        return compute_metrics(
            self.equity,
            self.column("pnl"),
            self.column("return"),
            self.exposure,
            bars_per_year=bars_per_year,
            buy_and_hold_return=self.buy_and_hold_return,
            initial_capital=self.capital,
            bar_seconds=bar_seconds,
        )


def _prices(name: str, x: Any, n: int | None) -> np.ndarray:
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.ndim != 1 or (n is not None and len(a) != n):
        raise BacktestError(f"{name} has shape {a.shape}, expected ({n},)")
    if not np.isfinite(a).all():
        i = int(np.argmax(~np.isfinite(a)))
        raise BacktestError(
            f"{name} holds {a[i]} at bar {i}", hint="repair or trim the data before a backtest"
        )
    return a


def _flags(name: str, x: Any, n: int) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != np.bool_:
        a = a.astype(np.bool_)
    if a.shape != (n,):
        raise BacktestError(f"signal {name} has shape {a.shape}, expected ({n},)")
    return np.ascontiguousarray(a).view(np.uint8)


def _optional(name: str, x: Any, n: int) -> np.ndarray | None:
    if x is None:
        return None
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.shape != (n,):
        raise BacktestError(f"{name} has shape {a.shape}, expected ({n},)")
    return a


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def simulate(
    open: Any,
    high: Any,
    low: Any,
    close: Any,
    long_entry: Any,
    long_exit: Any,
    short_entry: Any,
    short_exit: Any,
    config: BacktestConfig | None = None,
    *,
    stop_price: Any = None,
    target_price: Any = None,
    atr: Any = None,
    volatility: Any = None,
    bars_per_year: float | None = None,
) -> SimOutput:
    """Run the engine on plain arrays (the lean path for sweeps; rules in the module doc).

    ``stop_price`` / ``target_price``: absolute levels per bar (NaN = use the config's
    rule). ``atr``: the ATR per bar (computed with ``config.atr_period`` when an ATR rule
    needs it and none is given). ``volatility``: annualised realised volatility per bar for
    the leverage clamp (computed from ``close`` over ``config.vol_lookback`` bars, which
    needs ``bars_per_year``, when ``config.target_volatility`` is set and none is given).
    """
    config = config or BacktestConfig()
    c = _prices("close", close, None)
    n = len(c)
    o, h, lo = _prices("open", open, n), _prices("high", high, n), _prices("low", low, n)
    le, lx = _flags("long_entry", long_entry, n), _flags("long_exit", long_exit, n)
    se, sx = _flags("short_entry", short_entry, n), _flags("short_exit", short_exit, n)
    sp, tg = _optional("stop_price", stop_price, n), _optional("target_price", target_price, n)
    a = _optional("atr", atr, n)
    if a is None and config.uses_atr:
        a = engine_atr(h, lo, c, config.atr_period)
    v = _optional("volatility", volatility, n)
    if v is None and config.target_volatility is not None:
        if bars_per_year is None:
            raise BacktestError(
                "the volatility clamp needs bars_per_year (or a volatility array)",
                hint="run_backtest derives it from the timeframe",
            )
        v = engine_volatility(c, config.vol_lookback, bars_per_year)
    capacity = int(np.count_nonzero(le))
    if config.allow_short:
        capacity += int(np.count_nonzero(se))
    capacity = max(capacity, 1)
    equity = np.empty(n, dtype=np.float64)
    ledger = np.empty((capacity, len(nat.TRADE_COLUMNS)), dtype=np.float64)
    summary = nat.Summary()
    status = nat.tp_backtest(
        o, h, lo, c, le, lx, se, sx, _ptr(sp), _ptr(tg), _ptr(a), _ptr(v), n,
        ctypes.byref(_c_config(config)), equity, ledger, capacity, ctypes.byref(summary),
    )  # fmt: skip
    if status != 0:  # pragma: no cover - every trade opens on an entry bar
        raise RuntimeError("the backtest ledger overflowed its capacity")
    return SimOutput(
        equity=equity,
        ledger=ledger[: summary.n_trades],
        capital=config.capital,
        bars_in_market=int(summary.bars_in_market),
        guard_bar=int(summary.guard_bar),
        skipped=dict(zip(nat.SKIPS, (int(k) for k in summary.skipped), strict=True)),
        buy_and_hold_return=float(c[-1] / c[0] - 1.0) if n else 0.0,
    )


def engine_atr(h: np.ndarray, lo: np.ndarray, c: np.ndarray, period: int) -> np.ndarray:
    """The ATR the engine sizes and places ATR stops with: NaN throughout when the data
    is shorter than the warm-up (instead of an error), so short windows simply skip."""
    if len(c) <= period:
        return np.full(len(c), np.nan)
    from tradpal.indicators import atr

    return atr(h, lo, c, period)


def engine_volatility(c: np.ndarray, lookback: int, bars_per_year: float) -> np.ndarray:
    """The annualised volatility of the leverage clamp, NaN when the data is too short."""
    if len(c) <= lookback:
        return np.full(len(c), np.nan)
    from tradpal.indicators import rolling_volatility

    return rolling_volatility(c, lookback, annualize=float(bars_per_year))


def require_stop_for_risk(config: BacktestConfig, signals: Any) -> None:
    """Risk sizing divides the amount at risk by the stop distance: without a stop rule
    or per-bar stop prices there is nothing to size against, which is an error."""
    if config.sizing.kind == "risk" and config.stop_loss is None and signals.stop_price is None:
        raise BacktestError(
            "risk sizing needs a stop: set stop_loss or give signals with stop_price",
            hint="e.g. stop_loss='atr:1.5', or sizing='fraction:0.5'",
        )


@dataclass
class BacktestResult:
    """One backtest: metrics, the trade ledger, equity and drawdown per bar, the config
    and where it came from (``meta``: symbol, timeframe, source, bars, skipped entries,
    guard trip time, and whatever the caller added, such as strategy and params)."""

    metrics: Metrics
    trades: pd.DataFrame
    equity: pd.Series
    drawdown: pd.Series
    config: BacktestConfig
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (:mod:`tradpal.serialize`): metrics, config, meta and the trades."""
        from tradpal.serialize import frame_records, to_jsonable

        return to_jsonable(
            {
                "metrics": self.metrics,
                "config": self.config,
                "meta": dict(self.meta),
                "trades": frame_records(self.trades),
            }
        )


TRADE_FRAME_COLUMNS = (
    "entry_time", "exit_time", "side", "quantity", "entry_price", "exit_price", "fees", "pnl",
    "return", "exit_reason", "bars_held", "stop_price", "target_price",
)  # fmt: skip


def trades_frame(out: SimOutput, index: pd.DatetimeIndex) -> pd.DataFrame:
    """The ledger of ``out`` as a DataFrame with bar times from ``index`` (one row per
    trade, columns :data:`TRADE_FRAME_COLUMNS`)."""
    entry = out.column("entry_bar").astype(np.int64)
    exit_ = out.column("exit_bar").astype(np.int64)
    reasons = np.array(EXIT_REASONS, dtype=object)
    return pd.DataFrame(
        {
            "entry_time": index[entry],
            "exit_time": index[exit_],
            "side": np.where(out.column("side") > 0, "long", "short"),
            "quantity": out.column("quantity"),
            "entry_price": out.column("entry_price"),
            "exit_price": out.column("exit_price"),
            "fees": out.column("fees"),
            "pnl": out.column("pnl"),
            "return": out.column("return"),
            "exit_reason": reasons[out.column("reason").astype(np.int64)],
            "bars_held": exit_ - entry,
            "stop_price": out.column("stop"),
            "target_price": out.column("target"),
        },
        columns=list(TRADE_FRAME_COLUMNS),
    )


def run_backtest(
    frame: pd.DataFrame,
    signals: Any,
    config: BacktestConfig | None = None,
    *,
    timeframe: str | None = None,
    meta: dict[str, Any] | None = None,
) -> BacktestResult:
    """Backtest ``signals`` (a :class:`tradpal.strategies.Signals` aligned to ``frame``)
    on an OHLCV contract frame. ``timeframe`` defaults to the frame's meta or its bar
    spacing and sets the annualisation (``config.year_days`` x bars per day). ``meta``
    entries (strategy, params, ...) are added to the result's meta."""
    from tradpal.data.contract import ensure_ohlcv, get_meta
    from tradpal.data.resample import frame_timeframe
    from tradpal.strategies.signals import Signals
    from tradpal.timeframes import parse_timeframe

    config = config or BacktestConfig()
    if not isinstance(config, BacktestConfig):
        raise BacktestError(f"config must be a BacktestConfig, not {type(config).__name__}")
    ensure_ohlcv(frame)
    if len(frame) == 0:
        raise BacktestError("the data has no bars", hint="check the symbol and date range")
    if not isinstance(signals, Signals):
        raise BacktestError(
            f"signals must be tradpal.strategies.Signals, not {type(signals).__name__}",
            hint="build them with a strategy's generate() or Signals.from_frame()",
        )
    if len(signals) != len(frame):
        raise BacktestError(
            f"signals have {len(signals)} bars, the data {len(frame)}",
            hint="generate the signals on the same frame",
        )
    require_stop_for_risk(config, signals)
    tf = parse_timeframe(timeframe) if timeframe is not None else frame_timeframe(frame)
    bars_per_year = config.year_days * 86_400 / tf.seconds
    out = simulate(
        frame["open"].to_numpy(),
        frame["high"].to_numpy(),
        frame["low"].to_numpy(),
        frame["close"].to_numpy(),
        signals.long_entry,
        signals.long_exit,
        signals.short_entry,
        signals.short_exit,
        config,
        stop_price=signals.stop_price,
        target_price=signals.target_price,
        bars_per_year=bars_per_year,
    )
    index = frame.index
    equity = pd.Series(out.equity, index=index, name="equity")
    drawdown = pd.Series(drawdown_series(out.equity, config.capital), index=index, name="drawdown")
    market = get_meta(frame)
    info: dict[str, Any] = {
        "symbol": market.symbol if market else None,
        "timeframe": tf.name,
        "source": market.source if market else None,
        "synthetic": market.synthetic if market else False,
        "bars": len(frame),
        "start": index[0].isoformat(),
        "end": index[-1].isoformat(),
        "bars_per_year": bars_per_year,
        "skipped_entries": out.skipped,
        "guard_tripped_at": index[out.guard_bar].isoformat() if out.guard_bar >= 0 else None,
    }
    info.update(meta or {})
    return BacktestResult(
        metrics=out.metrics(bars_per_year=bars_per_year, bar_seconds=tf.seconds),
        trades=trades_frame(out, index),
        equity=equity,
        drawdown=drawdown,
        config=config,
        meta=info,
    )


__all__ = [
    "EXIT_REASONS",
    "TRADE_FRAME_COLUMNS",
    "BacktestResult",
    "SimOutput",
    "run_backtest",
    "simulate",
    "trades_frame",
]
