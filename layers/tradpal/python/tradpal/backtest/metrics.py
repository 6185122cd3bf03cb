"""Performance metrics of a backtest, with their exact definitions.

Inputs: the equity E_1..E_n marked at each bar's close, the starting capital E_0, the
trades' PnL (currency, fees included) and returns (PnL / entry notional), the exposure,
and P = bars per year (``year_days`` x 86,400 / bar seconds: 8,760 for 1h crypto bars with
a 365-day year, 252 for daily stock bars with ``year_days=252``).

Series (from equity):

* bar returns r_t = E_t / E_{t-1} - 1 for t = 1..n (the first against the capital);
* drawdown D_t = E_t / max(E_0, ..., E_t) - 1 (<= 0), the drawdown series.

Metrics:

* ``final_equity`` E_n; ``total_return`` E_n / E_0 - 1;
* ``cagr`` (E_n / E_0) ^ (P / n) - 1 (-1 when E_n <= 0), a year being P bars;
* ``annual_volatility`` std(r, ddof=1) x sqrt(P);
* ``sharpe`` mean(r) / std(r, ddof=1) x sqrt(P), risk-free rate 0;
* ``sortino`` mean(r) / sqrt(mean(min(r, 0)^2)) x sqrt(P) (downside deviation against 0,
  over all bars);
* ``max_drawdown`` -min(D) as a positive fraction (0.25 = a 25 % fall from a peak);
* ``max_drawdown_duration`` the longest run of consecutive bars with D_t < 0 (bars under
  water, a run still open at the end included); ``max_drawdown_duration_days`` the same in
  days (bars x bar seconds / 86,400);
* ``calmar`` cagr / max_drawdown;
* trades (an open position at the end is marked at the last close and counts as a trade):
  ``num_trades``; a win has PnL > 0, a loss PnL < 0; ``win_rate`` wins / num_trades;
  ``profit_factor`` sum of winning PnL / |sum of losing PnL| (inf with wins and no losses);
  ``expectancy`` mean trade return; ``avg_win`` mean return of wins; ``avg_loss`` mean
  return of losses (<= 0); ``best_trade`` / ``worst_trade`` max / min trade return;
  ``sqn`` sqrt(N) x mean(return) / std(return, ddof=1) (N >= 2); ``kelly`` W - (1 - W) / R
  with W the win rate and R = avg_win / |avg_loss| (W when there are no losses, -1 when
  there are no wins: the formula's limit is minus infinity, bet nothing);
* ``exposure`` share of bars with a position open at the close;
* ``buy_and_hold_return`` close_n / close_1 - 1 of the traded series.

Where a ratio's denominator is 0 (flat equity, no losing bar, no drawdown, fewer than two
returns) the ratio is 0; an empty trade list gives 0 for every trade metric. Nothing
raises on empty or flat inputs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Metrics:
    """A backtest's metrics (definitions in the module docstring; fractions, not percent)."""

    total_return: float
    cagr: float
    annual_volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration: int
    max_drawdown_duration_days: float
    win_rate: float
    profit_factor: float
    expectancy: float
    avg_win: float
    avg_loss: float
    best_trade: float
    worst_trade: float
    exposure: float
    num_trades: int
    sqn: float
    kelly: float
    buy_and_hold_return: float
    final_equity: float

    def to_dict(self) -> dict[str, Any]:
        """Plain ints and floats; a non-finite value (an infinite profit factor) is None."""
        out: dict[str, Any] = {}
        for k, v in asdict(self).items():
            if isinstance(v, float) and not math.isfinite(v):
                out[k] = None
            else:
                out[k] = v
        return out


def drawdown_series(equity: np.ndarray, initial_capital: float | None = None) -> np.ndarray:
    """D_t = E_t / max(E_0, ..., E_t) - 1 (<= 0); E_0 the capital (default E_1)."""
    e = np.asarray(equity, dtype=np.float64)
    if len(e) == 0:
        return e.copy()
    peak = np.maximum.accumulate(e)
    if initial_capital is not None:
        peak = np.maximum(peak, initial_capital)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, e / peak - 1.0, 0.0)
    return dd


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    m = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    return int((edges[1::2] - edges[::2]).max())


def compute_metrics(
    equity: np.ndarray,
    trade_pnl: np.ndarray,
    trade_returns: np.ndarray,
    exposure: float,
    *,
    bars_per_year: float,
    buy_and_hold_return: float,
    initial_capital: float | None = None,
    bar_seconds: float | None = None,
) -> Metrics:
    """The :class:`Metrics` of one run (see the module docstring).

    ``equity`` per bar at the close; ``initial_capital`` E_0 (default: the first equity);
    ``bar_seconds`` for the drawdown duration in days (default: a 365-day year of
    ``bars_per_year`` bars).
    """
    e = np.asarray(equity, dtype=np.float64)
    n = len(e)
    e0 = float(initial_capital) if initial_capital is not None else (float(e[0]) if n else 0.0)
    final = float(e[-1]) if n else e0
    total = final / e0 - 1.0 if e0 > 0 else 0.0
    sq = math.sqrt(bars_per_year)
    cagr = vol = sharpe = sortino = 0.0
    if n and e0 > 0:
        cagr = (final / e0) ** (bars_per_year / n) - 1.0 if final > 0 else -1.0
        prev = np.concatenate(([e0], e[:-1]))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(prev != 0, e / prev - 1.0, 0.0)
        mean = float(r.mean())
        if n >= 2:
            std = float(r.std(ddof=1))
            if std > 0:
                vol = std * sq
                sharpe = mean / std * sq
        down = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
        if down > 0:
            sortino = mean / down * sq
    dd = drawdown_series(e, e0)
    max_dd = float(-dd.min()) if n else 0.0
    max_dd = max(max_dd, 0.0)
    duration = _longest_run(dd < 0)
    seconds = bar_seconds if bar_seconds is not None else 365 * 86_400 / bars_per_year
    calmar = cagr / max_dd if max_dd > 0 else 0.0

    pnl = np.asarray(trade_pnl, dtype=np.float64)
    ret = np.asarray(trade_returns, dtype=np.float64)
    nt = len(pnl)
    win_rate = profit_factor = expectancy = avg_win = avg_loss = 0.0
    best = worst = sqn = kelly = 0.0
    if nt:
        wins, losses = pnl > 0, pnl < 0
        n_win, n_loss = int(wins.sum()), int(losses.sum())
        win_rate = n_win / nt
        gross_win, gross_loss = float(pnl[wins].sum()), float(-pnl[losses].sum())
        if gross_loss > 0:
            profit_factor = gross_win / gross_loss
        elif gross_win > 0:
            profit_factor = math.inf
        expectancy = float(ret.mean())
        avg_win = float(ret[wins].mean()) if n_win else 0.0
        avg_loss = float(ret[losses].mean()) if n_loss else 0.0
        best, worst = float(ret.max()), float(ret.min())
        if nt >= 2:
            s = float(ret.std(ddof=1))
            sqn = math.sqrt(nt) * expectancy / s if s > 0 else 0.0
        if n_win == 0:
            kelly = -1.0 if n_loss else 0.0
        elif n_loss == 0 or avg_loss == 0:
            kelly = win_rate
        else:
            kelly = win_rate - (1.0 - win_rate) / (avg_win / -avg_loss)
    return Metrics(
        total_return=total,
        cagr=cagr,
        annual_volatility=vol,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown=max_dd,
        max_drawdown_duration=duration,
        max_drawdown_duration_days=duration * seconds / 86_400,
        win_rate=win_rate,
        profit_factor=profit_factor,
        expectancy=expectancy,
        avg_win=avg_win,
        avg_loss=avg_loss,
        best_trade=best,
        worst_trade=worst,
        exposure=float(exposure),
        num_trades=nt,
        sqn=sqn,
        kelly=kelly,
        buy_and_hold_return=float(buy_and_hold_return),
        final_equity=final,
    )


__all__ = ["Metrics", "compute_metrics", "drawdown_series"]
