"""TradPal's indicator set against TA-Lib on 1,000,000 bars, and the many-periods speedup.

Both sides compute the same set (EMA 9 and 21, RSI 14, Bollinger 20/2, ATR 14,
MACD 12/26/9, ADX 14 with +DI and -DI, Stochastic 14/3/3, OBV; Bollinger with
bandwidth and %B, which the TA-Lib side derives with numpy) on the same
seeded random walk, interleaved in one run; the best of several repeats counts.
The sliding-window kernels (SMA, WMA, Bollinger, rolling std of log returns) are
also timed one by one beside TA-Lib's SMA, WMA, BBANDS and STDDEV: they carry
a rounding bound and recompute windows from scratch when it says so, and these
ratios show what that costs.
Run: .venv/bin/python benchmarks/bench_indicators.py
"""

from __future__ import annotations

import numpy as np
from timing import best

N_SET = 1_000_000
N_MANY = 10_000
REPEATS = 7
MANY_PERIODS = list(range(2, 102))  # 100 periods, as a parameter grid would


def ohlcv(n: int, seed: int = 42) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    h = c * (1 + np.abs(rng.normal(0.0, 0.004, n)))
    lo = c * (1 - np.abs(rng.normal(0.0, 0.004, n)))
    v = rng.gamma(2.0, 500.0, n)
    return h, lo, c, v


def main() -> dict[str, float]:
    import talib

    import tradpal.indicators as ti

    h, lo, c, v = ohlcv(N_SET)

    def tradpal_set() -> object:
        return ti.compute(ti.TRADPAL_SET, high=h, low=lo, close=c, volume=v)

    def talib_set() -> object:
        upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        return (
            talib.EMA(c, 9),
            talib.EMA(c, 21),
            talib.RSI(c, 14),
            # TradPal's Bollinger also gives bandwidth and %B: TA-Lib users compute them
            (upper - lower) / middle,
            (c - lower) / (upper - lower),
            talib.ATR(h, lo, c, 14),
            talib.MACD(c, 12, 26, 9),
            talib.ADX(h, lo, c, 14),
            talib.PLUS_DI(h, lo, c, 14),
            talib.MINUS_DI(h, lo, c, 14),
            talib.STOCH(h, lo, c, 14, 3, 0, 3, 0),
            talib.OBV(c, v),
        )

    def talib_bands_only() -> object:
        return talib.BBANDS(c, 20, 2.0, 2.0, 0)

    def talib_derived() -> object:
        upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        return (upper - lower) / middle, (c - lower) / (upper - lower)

    t = best({"tradpal": tradpal_set, "talib": talib_set}, REPEATS)
    # the share of the TA-Lib side spent deriving bandwidth and %B with numpy
    d = best({"bands": talib_bands_only, "derived": talib_derived}, repeats=3)
    t_core = t["talib"] - (d["derived"] - d["bands"])
    figures = {
        "set_bars": float(N_SET),
        "set_tradpal_ms": t["tradpal"] * 1e3,
        "set_talib_ms": t["talib"] * 1e3,
        "set_ratio": t["tradpal"] / t["talib"],
        "set_talib_without_bandwidth_ms": t_core * 1e3,
        "set_ratio_without_bandwidth": t["tradpal"] / t_core,
    }
    print(f"Indicator set on {N_SET:,} bars (best of {REPEATS})")
    print(f"  {'tradpal':<10}{figures['set_tradpal_ms']:>10.1f} ms")
    print(f"  {'talib':<10}{figures['set_talib_ms']:>10.1f} ms")
    print(f"  ratio tradpal/talib: {figures['set_ratio']:.2f} (target <= 1.0)")
    print(
        f"  (TA-Lib without deriving bandwidth and %B: {t_core * 1e3:.1f} ms, "
        f"ratio {figures['set_ratio_without_bandwidth']:.2f})"
    )

    # one kernel at a time; TradPal's Bollinger also writes bandwidth and %B
    windowed = {
        "sma20": (lambda: ti.sma(c, 20), lambda: talib.SMA(c, 20)),
        "wma20": (lambda: ti.wma(c, 20), lambda: talib.WMA(c, 20)),
        "bbands20": (lambda: ti.bollinger(c, 20, 2.0), lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0)),
        "bbands2": (lambda: ti.bollinger(c, 2, 2.0), lambda: talib.BBANDS(c, 2, 2.0, 2.0, 0)),
        "volatility20": (
            lambda: ti.rolling_volatility(c, 20, ddof=0),
            lambda: talib.STDDEV(np.log(c[1:] / c[:-1]), 20, 1.0),
        ),
    }
    print(f"\nSliding-window kernels on {N_SET:,} bars (best of {REPEATS})")
    print(f"  {'kernel':<14}{'tradpal':>10}{'talib':>10}{'ratio':>8}")
    for name, (ours, theirs) in windowed.items():
        tw = best({"tradpal": ours, "talib": theirs}, REPEATS)
        figures[f"{name}_tradpal_ms"] = tw["tradpal"] * 1e3
        figures[f"{name}_talib_ms"] = tw["talib"] * 1e3
        figures[f"{name}_ratio"] = tw["tradpal"] / tw["talib"]
        print(
            f"  {name:<14}{tw['tradpal'] * 1e3:>10.2f}{tw['talib'] * 1e3:>10.2f}"
            f"{tw['tradpal'] / tw['talib']:>8.2f}"
        )

    h, lo, c, v = ohlcv(N_MANY, seed=7)
    ps = MANY_PERIODS
    cases = {
        "sma": (lambda: ti.sma_many(c, ps), lambda: [ti.sma(c, p) for p in ps]),
        "ema": (lambda: ti.ema_many(c, ps), lambda: [ti.ema(c, p) for p in ps]),
        "rsi": (lambda: ti.rsi_many(c, ps), lambda: [ti.rsi(c, p) for p in ps]),
        "atr": (lambda: ti.atr_many(h, lo, c, ps), lambda: [ti.atr(h, lo, c, p) for p in ps]),
        "bollinger": (
            lambda: ti.bollinger_many(c, ps, 2.0),
            lambda: [ti.bollinger(c, p, 2.0) for p in ps],
        ),
    }
    print(f"\nMany periods ({len(ps)} periods, {N_MANY:,} bars, best of {REPEATS})")
    print(f"  {'indicator':<10}{'many (ms)':>11}{'loop (ms)':>11}{'speedup':>9}")
    for name, (many, loop) in cases.items():
        tm = best({"many": many, "loop": loop}, REPEATS)
        figures[f"many_{name}_ms"] = tm["many"] * 1e3
        figures[f"loop_{name}_ms"] = tm["loop"] * 1e3
        figures[f"many_{name}_speedup"] = tm["loop"] / tm["many"]
        print(
            f"  {name:<10}{tm['many'] * 1e3:>11.2f}{tm['loop'] * 1e3:>11.2f}"
            f"{tm['loop'] / tm['many']:>8.1f}x"
        )
    return figures


if __name__ == "__main__":
    main()
