"""A fast/slow EMA crossover grid swept by TradPal and by vectorbt, side by side.

Grid: every (fast, slow) with fast in 2..98, slow in 5..99 and fast < slow: 4,750
combinations of 98 EMA periods (``ema_crossover``'s space starts its slow EMA at 5),
over 10,000 seeded synthetic 1h bars, indicators included on both sides. Both sides
trade the same way: long only (a cross above enters, a cross below exits), fills at
the signal bar's close, all of equity per trade, fees 0.1 % of notional per side, no
slippage, no stops, 10,000 capital.

* TradPal: :func:`tradpal.optimize.sweep` with ``ema_crossover`` (EMAs with the
  many-periods kernel once per batch, the engine's lean path, every metric per
  candidate).
* vectorbt: ``vbt.MA.run`` (EMA, ``ewm=True``) once for the 98 periods, the fast and
  slow columns of each combination taken from it, crossed signals (``vbt.crossed_above``
  / ``crossed_below``), one ``Portfolio.from_signals`` on all 4,750 columns at once,
  then total return, Sharpe, max drawdown and trade count per column. numba is warmed up on a
  small series first, so compilation is not counted.

EMA seeding differs (TradPal seeds with the SMA of the first ``period`` values, as
TA-Lib; vectorbt starts from the first price), so the two sides' signals differ a
little in the warm-up; the work per backtest is the same. Backtests per second =
combinations / wall time; best of ``REPEATS`` for each side.
Run: .venv/bin/python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import itertools
import time

import numpy as np

N_BARS = 10_000
FAST = range(2, 99)
SLOW = range(5, 100)
REPEATS = 2
FEES = 0.001


def grid() -> list[dict[str, int]]:
    return [{"fast": f, "slow": s} for f, s in itertools.product(FAST, SLOW) if f < s]


def tradpal_side(frame):
    from tradpal.backtest import BacktestConfig
    from tradpal.optimize import sweep
    from tradpal.risk import Sizing
    from tradpal.strategies import get_strategy

    config = BacktestConfig(
        fees=FEES, slippage=0.0, sizing=Sizing("all"), stop_loss=None, take_profit=None,
        allow_short=False,
    )  # fmt: skip
    strategy = get_strategy("ema_crossover")
    candidates = grid()

    def run():
        return sweep(frame, strategy, candidates, config)

    return run


def vectorbt_side(close):
    import pandas as pd
    import vectorbt as vbt

    def run(c=close, pairs=None):
        pairs = pairs or [(g["fast"], g["slow"]) for g in grid()]
        periods = sorted({p for pair in pairs for p in pair})
        ma = vbt.MA.run(c, window=periods, ewm=True).ma.to_numpy()
        col = {p: i for i, p in enumerate(periods)}
        names = pd.MultiIndex.from_tuples(pairs, names=["fast", "slow"])
        fast = pd.DataFrame(ma[:, [col[f] for f, _ in pairs]], index=c.index, columns=names)
        slow = pd.DataFrame(ma[:, [col[s] for _, s in pairs]], index=c.index, columns=names)
        entries = fast.vbt.crossed_above(slow)
        exits = fast.vbt.crossed_below(slow)
        pf = vbt.Portfolio.from_signals(
            c, entries, exits, size=np.inf, fees=FEES, slippage=0.0, init_cash=10_000.0,
            freq="1h",
        )  # fmt: skip
        return (pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown(), pf.trades.count())

    run(close.iloc[:300], [(2, 5), (3, 6)])  # compile numba outside the timing
    return run


def best_time(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> dict[str, float]:
    from tradpal.data.sources.synthetic import generate_ohlcv

    frame = generate_ohlcv(N_BARS, "1h", seed=42)
    n = len(grid())
    ours = tradpal_side(frame)
    ref = vectorbt_side(frame["close"])
    t_ours = best_time(ours)
    t_ref = best_time(ref)
    rate_ours, rate_ref = n / t_ours, n / t_ref
    print(f"EMA crossover grid: {n} combinations (fast 2..98, slow 5..99, fast < slow) "
          f"over {N_BARS} bars")  # fmt: skip
    print(f"{'side':<10}{'seconds':>10}{'backtests/s':>14}")
    print(f"{'TradPal':<10}{t_ours:>10.2f}{rate_ours:>14.0f}")
    print(f"{'vectorbt':<10}{t_ref:>10.2f}{rate_ref:>14.0f}")
    print(f"TradPal / vectorbt rate: {rate_ours / rate_ref:.2f}x (target >= 2)")
    return {
        "combinations": n,
        "bars": N_BARS,
        "tradpal_s": t_ours,
        "vectorbt_s": t_ref,
        "tradpal_per_s": rate_ours,
        "vectorbt_per_s": rate_ref,
        "ratio": rate_ours / rate_ref,
    }


if __name__ == "__main__":
    main()
