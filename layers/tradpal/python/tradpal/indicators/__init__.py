"""Technical indicators with TA-Lib's conventions, computed in C.

Every function takes numpy arrays or pandas Series (read with ``np.asarray``;
pandas is never imported here, so ``import tradpal.indicators`` stays cheap)
and returns float64 numpy arrays of the input length, NaN during the warm-up;
several outputs come as a NamedTuple.

Conventions (TA-Lib's, checked against the ``talib`` module in the tests):
EMA seeded with the SMA of the first ``period`` values, k = 2/(period+1);
Wilder smoothing (k = 1/period) for RSI, ATR and ADX; population standard
deviation for Bollinger Bands; TA-Lib's warm-up lengths (SMA/EMA/WMA/BBANDS/
WILLR/CMF: period-1; RSI/ATR/+DI/-DI: period; ADX: 2*period-1; MACD:
slow+signal-2 for all three outputs, with the fast EMA seeded at index slow-1
from the SMA of the last ``fast`` values; STOCH: k-1 + smooth_k-1 + d-1 for %K
and %D; OBV starts at volume[0]). Sums and seeds follow TA-Lib's order; the
smoothing recursions keep one multiply-add on their loop-carried chain (TA-Lib's
own build reorders them too), so results agree with TA-Lib to about 1e-15
relative and are reproducible bit for bit (no -ffast-math, a fixed order).

Deliberate differences from TA-Lib (each is tested):

* Undefined oscillators read neutral: RSI of a window without any price change
  is 50 (TA-Lib: 0); Stochastic fast %K and Williams %R of a window with
  highest == lowest are 50 and -50 (TA-Lib: 0); Bollinger %B is 0.5 when the
  bands coincide.
* Zero tests are exact. TA-Lib up to 0.4 compared denominators with an
  absolute 1e-8 (TA_IS_ZERO: RSI's gain + loss, the smoothed true range and DI
  sum of ADX/DI, Bollinger's variance), which silently zeroes the indicators of
  tiny-priced assets (a token at 1e-6 USD); the TA-Lib 0.6 library used by the
  tests compares exactly, and so does TradPal: results do not depend on the
  price unit (``rsi(x) == rsi(x * 2**20)`` bit for bit).
* A Bollinger window of equal values has std exactly 0 (TA-Lib's running sums
  can leave rounding noise there).

Input rules: inputs are 1-D and numeric (else :class:`IndicatorInputError`, a
``TradPalError`` and ``ValueError``); several inputs must have one length;
leading NaN is allowed (so indicators chain: ``ema(rsi(close), 9)``) and the
computation starts at the first bar where every input is finite, as TA-Lib's
Python wrapper does; a NaN or infinity after that is an error naming its index;
periods are integers from 1 to the input length (a warm-up longer than the
valid data gives all NaN).

Submodules: :mod:`~tradpal.indicators.many` (many periods in one call),
:mod:`~tradpal.indicators.fibonacci`, :mod:`~tradpal.indicators.spec` (named
sets such as ``TRADPAL_SET``), :mod:`~tradpal.indicators.frame`
(``add_indicators``, imports pandas) and :mod:`~tradpal.indicators.mtf`
(multi-timeframe, imports pandas); the last two load on first use.
"""

from __future__ import annotations

from typing import Any

from tradpal.indicators._validate import IndicatorInputError
from tradpal.indicators.core import (
    ADX,
    MACD,
    Bollinger,
    Stochastic,
    adx,
    atr,
    bars_per_year,
    bollinger,
    cmf,
    ema,
    macd,
    obv,
    rolling_volatility,
    rsi,
    sma,
    stochastic,
    true_range,
    vwap,
    williams_r,
    wma,
)
from tradpal.indicators.fibonacci import Fibonacci, Swings, fibonacci, swings
from tradpal.indicators.many import atr_many, bollinger_many, ema_many, rsi_many, sma_many
from tradpal.indicators.spec import TRADPAL_SET, IndicatorSpec, compute, parse_spec

__all__ = [
    "ADX",
    "MACD",
    "TRADPAL_SET",
    "Bollinger",
    "Fibonacci",
    "IndicatorInputError",
    "IndicatorSpec",
    "Stochastic",
    "Swings",
    "add_indicators",
    "adx",
    "atr",
    "atr_many",
    "bars_per_year",
    "bollinger",
    "bollinger_many",
    "cmf",
    "compute",
    "ema",
    "ema_many",
    "fibonacci",
    "macd",
    "obv",
    "parse_spec",
    "rolling_volatility",
    "rsi",
    "rsi_many",
    "sma",
    "sma_many",
    "stochastic",
    "swings",
    "true_range",
    "vwap",
    "williams_r",
    "wma",
]


def __getattr__(name: str) -> Any:
    # pandas-based helpers load on first use, keeping the package import light
    if name == "add_indicators":
        from tradpal.indicators.frame import add_indicators

        return add_indicators
    if name in ("mtf", "frame"):
        import importlib

        return importlib.import_module(f"tradpal.indicators.{name}")
    raise AttributeError(f"module 'tradpal.indicators' has no attribute {name!r}")
