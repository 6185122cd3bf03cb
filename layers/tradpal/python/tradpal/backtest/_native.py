"""ctypes binding to the compiled engine in ``_engine.c`` (built by setup.py as
``tradpal.backtest._engine``; no Python API, so it is opened with ctypes like the
indicator kernels: no JIT, nothing to compile in a fresh process)."""

from __future__ import annotations

import ctypes

import numpy as np

from tradpal.native import load_library

lib = load_library("tradpal.backtest._engine", "backtest engine")

I64 = ctypes.c_int64
DBL = ctypes.c_double

# Trade ledger columns, in the order of the C enum.
TRADE_COLUMNS = (
    "entry_bar", "exit_bar", "side", "quantity", "entry_price", "exit_price", "fees", "pnl",
    "return", "reason", "stop", "target",
)  # fmt: skip
REASONS = ("signal", "stop", "target", "trailing", "time", "reverse", "end", "liquidation")
SKIPS = ("guard", "no_level", "bad_level", "no_size")
SIZING_CODES = {"all": 0, "fraction": 1, "qty": 2, "risk": 3, "kelly": 4}
RULE_CODES = {None: 0, "pct": 1, "atr": 2}


class Config(ctypes.Structure):
    _fields_ = [
        ("capital", DBL),
        ("fees", DBL),
        ("slippage", DBL),
        ("next_open", I64),
        ("sizing_kind", I64),
        ("sizing_value", DBL),
        ("sl_kind", I64),
        ("sl_value", DBL),
        ("tp_kind", I64),
        ("tp_value", DBL),
        ("trail_kind", I64),
        ("trail_value", DBL),
        ("time_stop", I64),
        ("max_leverage", DBL),
        ("max_notional", DBL),
        ("allow_short", I64),
        ("max_drawdown", DBL),
        ("target_vol", DBL),
    ]


class Summary(ctypes.Structure):
    _fields_ = [
        ("n_trades", I64),
        ("bars_in_market", I64),
        ("guard_bar", I64),
        ("skipped", I64 * 4),
        ("final_cash", DBL),
        ("final_position", DBL),
    ]


F64 = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
U8 = np.ctypeslib.ndpointer(dtype=np.uint8, flags="C_CONTIGUOUS")
DPTR = ctypes.c_void_p  # optional float64 arrays: NULL or the data pointer

tp_backtest = lib.tp_backtest
tp_backtest.argtypes = [
    F64, F64, F64, F64, U8, U8, U8, U8, DPTR, DPTR, DPTR, DPTR, I64,
    ctypes.POINTER(Config), F64, F64, I64, ctypes.POINTER(Summary),
]  # fmt: skip
tp_backtest.restype = ctypes.c_int
