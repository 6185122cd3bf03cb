"""Cold start: a fresh process imports tradpal.indicators and computes the set on 10,000 bars.

Wall time of the whole subprocess (interpreter start included), median of several
runs, against the 0.5 s budget; `python -c pass` and TA-Lib doing the same work
are measured in the same run for reference.
Run: .venv/bin/python benchmarks/bench_cold_start.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 7
BUDGET_S = 0.5

_DATA = """
import numpy as np
rng = np.random.default_rng(42)
c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 10_000)))
h = c * 1.004; lo = c * 0.996; v = rng.gamma(2.0, 500.0, 10_000)
"""

SCRIPTS = {
    "python -c pass": "pass",
    "tradpal.indicators + set": "import tradpal.indicators as ti\n"
    + _DATA
    + "ti.compute(ti.TRADPAL_SET, high=h, low=lo, close=c, volume=v)\n"
    + "import sys; assert 'pandas' not in sys.modules\n",
    "talib + set": "import talib\n"
    + _DATA
    + "talib.EMA(c, 9); talib.EMA(c, 21); talib.RSI(c, 14); talib.BBANDS(c, 20, 2, 2, 0)\n"
    + "talib.ATR(h, lo, c, 14); talib.MACD(c, 12, 26, 9); talib.ADX(h, lo, c, 14)\n"
    + "talib.PLUS_DI(h, lo, c, 14); talib.MINUS_DI(h, lo, c, 14)\n"
    + "talib.STOCH(h, lo, c, 14, 3, 0, 3, 0); talib.OBV(c, v)\n",
}


def wall(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def main() -> dict[str, float]:
    for code in SCRIPTS.values():  # warm the OS file cache once
        wall(code)
    medians = {}
    samples: dict[str, list[float]] = {k: [] for k in SCRIPTS}
    for _ in range(RUNS):  # interleaved, so drifts hit every variant alike
        for name, code in SCRIPTS.items():
            samples[name].append(wall(code))
    print(f"Cold start, fresh subprocess, median of {RUNS} (budget {BUDGET_S:.1f} s)")
    for name, ts in samples.items():
        medians[name] = statistics.median(ts)
        print(f"  {name:<28}{medians[name] * 1e3:>8.0f} ms")
    ours = medians["tradpal.indicators + set"]
    print(f"  tradpal within budget: {'yes' if ours <= BUDGET_S else 'NO'}")
    return {
        "cold_python_pass_s": medians["python -c pass"],
        "cold_tradpal_s": ours,
        "cold_talib_s": medians["talib + set"],
        "cold_budget_s": BUDGET_S,
        "cold_tradpal_minus_python_s": ours - medians["python -c pass"],
    }


if __name__ == "__main__":
    main()
