"""Loading TradPal's compiled kernels (plain C, no Python API) with ctypes.

setup.py builds each C file as an extension module name (so that pip and
editable installs place it like any other); the file holds no Python API, so it
is located with importlib and opened with ctypes. Loading costs well under a
millisecond: no JIT runs in a fresh process.
"""

from __future__ import annotations

import ctypes
import importlib.util


def load_library(module: str, what: str) -> ctypes.CDLL:
    """The shared object built for ``module`` (``"tradpal.indicators._kernels"``).

    Raises ImportError naming ``what`` and how to rebuild it when it is missing.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:  # pragma: no cover - broken install
        raise ImportError(
            f"tradpal's compiled {what} is missing; reinstall the package "
            "(pip install -e .) so that setup.py builds it"
        )
    return ctypes.CDLL(spec.origin)
