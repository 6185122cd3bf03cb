"""A paper session fed from candles at hand (the store, the sample, a file) instead of the
exchange's websocket: the trader, the paper exchange and the same code path as live.

Each candle goes through the paper exchange in the order a market would produce it: the
bar opens (:meth:`~tradpal.trading.trader.Trader.on_bar_open` acts on a next-open
decision), its range fills the resting orders it touches, it closes
(:meth:`~tradpal.trading.trader.Trader.on_bar_close` decides). The result has the shape of
a backtest's (:class:`tradpal.backtest.engine.BacktestResult`), so ``tradpal trade --json``
and ``tradpal backtest --json`` print the same document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradpal.backtest.config import BacktestConfig
from tradpal.trading.paper import PaperExchange
from tradpal.trading.session import Session
from tradpal.trading.trader import Candle, Trader


@dataclass
class PaperSession:
    """A finished replay: the trader (its book, orders, skips) and the paper exchange."""

    trader: Trader
    exchange: PaperExchange
    frame: pd.DataFrame

    def result(self) -> Any:
        """The session as a :class:`~tradpal.backtest.engine.BacktestResult`: metrics, the
        trades (a position still open is marked at the last close, reason ``end``, as the
        engine lists it), equity and drawdown per bar."""
        from tradpal.backtest.engine import TRADE_FRAME_COLUMNS, BacktestResult
        from tradpal.backtest.metrics import compute_metrics, drawdown_series

        trader, frame = self.trader, self.frame
        index = frame.index
        ms = (index.as_unit("ms").asi8).tolist()
        bar_of = {t: i for i, t in enumerate(ms)}
        rows = []
        last_close = float(frame["close"].iloc[-1]) if len(frame) else np.nan
        for trade in trader.book.trades:
            entry_bar = bar_of.get(trade.entry_ms, 0)
            if trade.closed:
                exit_bar, exit_price = bar_of.get(trade.exit_ms, len(ms) - 1), trade.exit_price
                pnl, reason, fees = trade.pnl, trade.exit_reason, trade.fees
            else:
                exit_bar, exit_price, reason, fees = len(ms) - 1, last_close, "end", trade.entry_fee
                value = trade.quantity * last_close
                gain = value - trade.entry_value if trade.side > 0 else trade.entry_value - value
                pnl = gain - trade.entry_fee
            rows.append(
                {
                    "entry_time": index[entry_bar],
                    "exit_time": index[exit_bar],
                    "side": "long" if trade.side > 0 else "short",
                    "quantity": trade.quantity,
                    "entry_price": trade.entry_price,
                    "exit_price": exit_price,
                    "fees": fees,
                    "pnl": pnl,
                    "return": pnl / trade.entry_value,
                    "exit_reason": reason,
                    "bars_held": exit_bar - entry_bar,
                    "stop_price": trade.stop_price,
                    "target_price": trade.target_price,
                }
            )
        trades = pd.DataFrame(rows, columns=list(TRADE_FRAME_COLUMNS))
        equity = np.asarray(trader.equity, dtype=np.float64)
        config = trader.config
        bars_per_year = config.year_days * 86_400 / trader.timeframe.seconds
        exposure = trader.bars_in_market / len(equity) if len(equity) else 0.0
        closes = frame["close"].to_numpy()
        metrics = compute_metrics(
            equity,
            trades["pnl"].to_numpy(dtype=np.float64),
            trades["return"].to_numpy(dtype=np.float64),
            exposure,
            bars_per_year=bars_per_year,
            buy_and_hold_return=float(closes[-1] / closes[0] - 1.0) if len(closes) else 0.0,
            initial_capital=config.capital,
            bar_seconds=trader.timeframe.seconds,
        )
        guard = trader.guard
        meta = {
            "symbol": trader.symbol,
            "timeframe": trader.timeframe.name,
            "mode": "paper",
            "strategy": trader.strategy.name,
            "params": trader.params,
            "bars": len(frame),
            "start": index[0].isoformat() if len(index) else None,
            "end": index[-1].isoformat() if len(index) else None,
            "bars_per_year": bars_per_year,
            "skipped_entries": dict(trader.skipped),
            "guard_tripped": guard.tripped,
            "orders": len(trader._our_orders),
        }
        return BacktestResult(
            metrics=metrics,
            trades=trades,
            equity=pd.Series(equity, index=index, name="equity"),
            drawdown=pd.Series(
                drawdown_series(equity, config.capital), index=index, name="drawdown"
            ),
            config=config,
            meta=meta,
        )


def replay(
    frame: pd.DataFrame,
    strategy: Any,
    params: Mapping[str, Any] | None = None,
    config: BacktestConfig | None = None,
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    volume_share: float = 1.0,
    trader_id: str = "replay",
    protections: Any = None,
) -> PaperSession:
    """Trade ``strategy`` on paper over the candles of ``frame`` (an OHLCV contract frame),
    oldest first. ``config`` defaults to :func:`tradpal.backtest.strategy_run.config_for`
    the frame's timeframe, as a backtest's does; ``protections``
    (:class:`~tradpal.trading.protections.Protections`) are off by default."""
    from tradpal.backtest.strategy_run import resolve_run
    from tradpal.data.contract import ensure_ohlcv, get_meta
    from tradpal.data.resample import frame_timeframe

    ensure_ohlcv(frame)
    strat, config = resolve_run(frame, strategy, config)
    meta = get_meta(frame)
    symbol = symbol or (meta.symbol if meta and meta.symbol else "BTC/USDT")
    timeframe = timeframe or frame_timeframe(frame).name
    paper = PaperExchange(
        config.capital,
        fees=config.fees,
        slippage=config.slippage,
        volume_share=volume_share,
        symbols=(symbol,),
    )
    trader = Trader(
        strategy=strat,
        symbol=symbol,
        timeframe=timeframe,
        exchange=paper,
        config=config,
        params=params,
        trader_id=trader_id,
        protections=protections,
    )
    session = Session(trader, paper)
    times = frame.index.as_unit("ms").asi8
    cols = [frame[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")]
    for t, o, h, lo, c, v in zip(times.tolist(), *(col.tolist() for col in cols), strict=True):
        session.bar_opened(t, o, v)
        session.bar_closed(Candle(t, o, h, lo, c, v))
    return PaperSession(trader, paper, frame)
