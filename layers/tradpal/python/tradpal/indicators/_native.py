"""ctypes bindings to the compiled kernels in ``_kernels.c``.

The shared object is built by setup.py as ``tradpal.indicators._kernels``; it
has no Python API, so it is located with importlib and opened with ctypes.
Loading it costs well under a millisecond: no JIT runs in a fresh process.
"""

from __future__ import annotations

import ctypes

import numpy as np

from tradpal.native import load_library

lib = load_library("tradpal.indicators._kernels", "indicator kernels")

F64 = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
I64P = np.ctypeslib.ndpointer(dtype=np.int64, flags="C_CONTIGUOUS")
I64 = ctypes.c_int64
DBL = ctypes.c_double
INT = ctypes.c_int


def _declare(name: str, *argtypes: object, restype: object = None) -> ctypes._CFuncPtr:
    fn = getattr(lib, name)
    fn.argtypes = list(argtypes)
    fn.restype = restype
    return fn


def check(status: int) -> None:
    """Kernels that allocate scratch memory return -1 when malloc fails."""
    if status != 0:  # pragma: no cover - needs an exhausted heap
        raise MemoryError("an indicator kernel could not allocate its scratch memory")


tp_lead_nan = _declare("tp_lead_nan", F64, I64, restype=I64)
tp_first_bad = _declare("tp_first_bad", F64, I64, I64, restype=I64)
tp_sma = _declare("tp_sma", F64, I64, I64, F64)
tp_ema = _declare("tp_ema", F64, I64, I64, DBL, F64)
tp_wma = _declare("tp_wma", F64, I64, I64, F64)
tp_rsi = _declare("tp_rsi", F64, I64, I64, F64)
tp_macd = _declare("tp_macd", F64, I64, I64, I64, I64, F64, F64, F64)
tp_willr = _declare("tp_willr", F64, F64, F64, I64, I64, F64, restype=INT)
tp_stoch = _declare("tp_stoch", F64, F64, F64, I64, I64, I64, I64, F64, F64, restype=INT)
tp_trange = _declare("tp_trange", F64, F64, F64, I64, F64)
tp_atr = _declare("tp_atr", F64, F64, F64, I64, I64, F64)
tp_bbands = _declare("tp_bbands", F64, I64, I64, DBL, F64, F64, F64, F64, F64)
tp_rolling_std = _declare("tp_rolling_std", F64, I64, I64, I64, F64)
tp_log_returns = _declare("tp_log_returns", F64, I64, F64)
tp_adx = _declare("tp_adx", F64, F64, F64, I64, I64, F64, F64, F64)
tp_obv = _declare("tp_obv", F64, F64, I64, F64)
tp_cmf = _declare("tp_cmf", F64, F64, F64, F64, I64, I64, F64)
tp_vwap_rolling = _declare("tp_vwap_rolling", F64, F64, F64, F64, I64, I64, F64)
tp_vwap_session = _declare("tp_vwap_session", F64, F64, F64, F64, I64P, I64, F64)
tp_swings = _declare("tp_swings", F64, F64, I64, I64, F64, I64P, F64, I64P)
tp_sma_many = _declare("tp_sma_many", F64, I64, I64P, I64, F64, restype=INT)
tp_ema_many = _declare("tp_ema_many", F64, I64, I64P, I64, F64, restype=INT)
tp_rsi_many = _declare("tp_rsi_many", F64, I64, I64P, I64, F64, restype=INT)
tp_atr_many = _declare("tp_atr_many", F64, F64, F64, I64, I64P, I64, F64, restype=INT)
tp_bbands_many = _declare(
    "tp_bbands_many", F64, I64, I64P, I64, DBL, F64, F64, F64, F64, F64, restype=INT
)
