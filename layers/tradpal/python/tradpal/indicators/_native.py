"""ctypes bindings to the compiled kernels in ``_kernels.c``.

The shared object is built by setup.py as ``tradpal.indicators._kernels``; it
has no Python API, so it is located with importlib and opened with ctypes.
Loading it costs well under a millisecond: no JIT runs in a fresh process.
"""

from __future__ import annotations

import ctypes
import importlib.util

import numpy as np

_spec = importlib.util.find_spec("tradpal.indicators._kernels")
if _spec is None or _spec.origin is None:  # pragma: no cover - broken install
    raise ImportError(
        "tradpal's compiled indicator kernels are missing; reinstall the package "
        "(pip install -e .) so that setup.py builds them"
    )
lib = ctypes.CDLL(_spec.origin)

F64 = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
I64 = ctypes.c_int64
DBL = ctypes.c_double


def _declare(name: str, *argtypes: object) -> ctypes._CFuncPtr:
    fn = getattr(lib, name)
    fn.argtypes = list(argtypes)
    fn.restype = None
    return fn


tp_sma = _declare("tp_sma", F64, I64, I64, F64)
tp_ema = _declare("tp_ema", F64, I64, I64, DBL, F64)
