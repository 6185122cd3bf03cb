"""Backtest engine: speed against vectorbt's from_signals, cold start, peak memory.

1. One backtest of 1,000,000 bars with risk sizing (1 % per trade), fees, slippage, ATR
   stops and targets. Ours: ``simulate`` (ATR included) and the full ``run_backtest``
   (ledger DataFrame, equity and drawdown series, metrics). vectorbt: ``from_signals`` on
   the same signals with the same costs, the ATR stop and target as per-bar fractions and
   the risk size as a per-bar quantity; warmed up first so numba's compile is excluded.
   Best of several runs each; target: ours at most half of vectorbt's time.
2. Cold start: a fresh process imports the library and runs one 10,000-bar backtest with
   stops and metrics (target 1.0 s); vectorbt doing the same is timed for reference.
3. Peak memory (max RSS) of a process running one 1,000,000-bar ``run_backtest``
   (target below 1 GB).

Run: .venv/bin/python benchmarks/bench_backtest.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import numpy as np
from timing import best

N_BIG = 1_000_000
REPEAT = 7
COLD_RUNS = 5
VBT_COLD_RUNS = 2
SPEED_TARGET = 0.5
COLD_BUDGET_S = 1.0
MEMORY_BUDGET = 1 << 30

_MARKET = """
import numpy as np
def market(n, seed=42):
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.005, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, 0.002, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, 0.002, n)))
    fast = rng.random(n)
    return open_, high, low, close, fast < 0.01, fast > 0.99, (fast > 0.5) & (fast < 0.51)
"""
exec(_MARKET)  # defines market() here exactly as in the subprocesses

_FRAME = """
import pandas as pd
from tradpal.data.contract import MarketMeta, make_ohlcv, with_meta
from tradpal.strategies import Signals
o, h, l, c, le, lx, se = market(N)
z = np.zeros(N, dtype=bool)
time = pd.date_range("2020-01-01", periods=N, freq="1h", tz="UTC")
frame = with_meta(make_ohlcv(time, o, h, l, c, np.ones(N)), MarketMeta("SYN/USD", "1h", "bench"))
signals = Signals(le, lx, se, z)
"""

COLD_TRADPAL = (
    "from tradpal.backtest import BacktestConfig, run_backtest\n"
    + _MARKET
    + "N = 10_000\n"
    + _FRAME
    + "res = run_backtest(frame, signals, BacktestConfig(fees=0.001, slippage=0.0005))\n"
    + "assert res.metrics.num_trades > 10\n"
)
COLD_VECTORBT = (
    "import vectorbt as vbt\n"
    + _MARKET
    + "o, h, l, c, le, lx, se = market(10_000)\n"
    + "pf = vbt.Portfolio.from_signals(c, le, lx, open=o, high=h, low=l, fees=0.001,\n"
    + "    slippage=0.0005, sl_stop=0.01, tp_stop=0.02, init_cash=10_000.0)\n"
    + "pf.stats()\n"
)
MEMORY = (
    "from tradpal.backtest import BacktestConfig, run_backtest\n"
    + _MARKET
    + f"N = {N_BIG}\n"
    + _FRAME
    + "res = run_backtest(frame, signals, BacktestConfig(fees=0.001, slippage=0.0005))\n"
    # VmHWM, not ru_maxrss: the latter carries the parent's peak across fork and exec.
    + "print(int(next(x for x in open('/proc/self/status') if x.startswith('VmHWM:'))"
    + ".split()[1]) * 1024)\n"
)


def wall(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t0


def speed() -> dict[str, float]:
    import pandas as pd
    import vectorbt as vbt

    from tradpal.backtest import BacktestConfig, run_backtest, simulate
    from tradpal.data.contract import MarketMeta, make_ohlcv, with_meta
    from tradpal.indicators import atr
    from tradpal.strategies import Signals

    o, h, lo, c, le, lx, se = market(N_BIG)  # noqa: F821 - defined by exec above
    z = np.zeros(N_BIG, dtype=bool)
    config = BacktestConfig(fees=0.001, slippage=0.0005)  # risk 1 %, 1.5/3 ATR
    time_ = pd.date_range("2020-01-01", periods=N_BIG, freq="1h", tz="UTC")
    frame = with_meta(make_ohlcv(time_, o, h, lo, c, np.ones(N_BIG)), MarketMeta("S/U", "1h", "b"))
    signals = Signals(le, lx, se, z)

    def ours_sim():
        return simulate(o, h, lo, c, le, lx, se, z, config)

    def ours_full():
        return run_backtest(frame, signals, config)

    a = atr(h, lo, c, 14)
    sl = np.nan_to_num(1.5 * a / c, nan=np.inf)  # no entry stop before the ATR exists
    tp = np.nan_to_num(3.0 * a / c, nan=np.inf)
    size = np.nan_to_num(0.01 * config.capital / (1.5 * a), nan=0.0)
    close_s = pd.Series(c)

    def theirs():
        return vbt.Portfolio.from_signals(
            close_s,
            le,
            lx,
            short_entries=se,
            short_exits=z,
            open=o,
            high=h,
            low=lo,
            size=size,
            fees=0.001,
            slippage=0.0005,
            sl_stop=sl,
            tp_stop=tp,
            init_cash=config.capital,
            stop_entry_price="fillprice",
            stop_exit_price="stopmarket",
        )

    theirs()  # numba compile
    ours_full()
    trades = ours_sim().num_trades
    timed = best({"sim": ours_sim, "full": ours_full, "vbt": theirs}, REPEAT)
    t_sim, t_full, t_vbt = timed["sim"], timed["full"], timed["vbt"]
    print(f"1,000,000-bar backtest, best of {REPEAT} ({trades} trades)")
    print(f"  {'tradpal simulate':<32}{t_sim * 1e3:>9.1f} ms  ratio {t_sim / t_vbt:.2f}")
    label = "tradpal run_backtest (+metrics)"
    print(f"  {label:<32}{t_full * 1e3:>9.1f} ms  ratio {t_full / t_vbt:.2f}")
    print(f"  {'vectorbt from_signals':<32}{t_vbt * 1e3:>9.1f} ms")
    print(
        f"  within target (<= {SPEED_TARGET:.1f} x vectorbt): "
        f"{'yes' if t_full <= SPEED_TARGET * t_vbt else 'NO'}"
    )
    return {
        "bt_1m_simulate_s": t_sim,
        "bt_1m_run_backtest_s": t_full,
        "bt_1m_vectorbt_s": t_vbt,
        "bt_1m_ratio_simulate": t_sim / t_vbt,
        "bt_1m_ratio_run_backtest": t_full / t_vbt,
        "bt_1m_trades": trades,
    }


def cold() -> dict[str, float]:
    wall("pass")
    wall(COLD_TRADPAL)  # warm the OS file cache
    py = statistics.median(wall("pass") for _ in range(COLD_RUNS))
    ours = statistics.median(wall(COLD_TRADPAL) for _ in range(COLD_RUNS))
    theirs = statistics.median(wall(COLD_VECTORBT) for _ in range(VBT_COLD_RUNS))
    print("Cold start: import + 10,000-bar backtest with stops and metrics (median)")
    print(f"  {'python -c pass':<32}{py * 1e3:>9.0f} ms")
    print(
        f"  {'tradpal':<32}{ours * 1e3:>9.0f} ms  (budget {COLD_BUDGET_S:.1f} s: "
        f"{'yes' if ours <= COLD_BUDGET_S else 'NO'})"
    )
    print(f"  {'vectorbt (+stats)':<32}{theirs * 1e3:>9.0f} ms")
    return {"bt_cold_python_s": py, "bt_cold_tradpal_s": ours, "bt_cold_vectorbt_s": theirs}


def memory() -> dict[str, float]:
    run = subprocess.run([sys.executable, "-c", MEMORY], check=True, capture_output=True, text=True)
    peak = int(run.stdout.strip().splitlines()[-1])
    print(
        f"Peak memory of a 1,000,000-bar run_backtest process: {peak / 2**20:.0f} MiB "
        f"(budget {MEMORY_BUDGET / 2**20:.0f} MiB: {'yes' if peak < MEMORY_BUDGET else 'NO'})"
    )
    return {"bt_1m_peak_rss_bytes": peak}


def main() -> dict[str, float]:
    figures = {}
    figures.update(speed())
    figures.update(cold())
    figures.update(memory())
    return figures


if __name__ == "__main__":
    main()
