"""How steady the out-of-sample results of a walk-forward are, window by window.

From the out-of-sample return of each window ``r_k`` (ending equity / starting
equity - 1):

* ``mean`` and ``std`` (sample standard deviation, ddof = 1) of ``r_k``;
* ``cv`` = std / |mean|, the coefficient of variation: the inverse of the
  per-window Sharpe ratio, so ``cv <= 2`` means a per-window Sharpe of at least
  0.5. It is ``inf`` when the mean is 0 and the returns vary, NaN when every
  window returned exactly 0 or there are fewer than two windows;
* ``share_positive``: the fraction of windows with ``r_k > 0``.

The rating, first rule that applies:

* ``insufficient``: fewer than :data:`MIN_WINDOWS` windows, too few to judge;
* ``robust``: mean > 0, share_positive >= 0.6 and cv <= 2.0;
* ``moderate``: mean > 0, share_positive >= 0.5 and cv <= 4.0;
* ``unstable``: anything else (including a mean out-of-sample loss).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_WINDOWS = 3
ROBUST = {"share_positive": 0.6, "cv": 2.0}
MODERATE = {"share_positive": 0.5, "cv": 4.0}


@dataclass(frozen=True)
class Stability:
    """Window-by-window steadiness of out-of-sample returns (see the module docstring)."""

    windows: int
    mean: float
    std: float
    cv: float
    share_positive: float
    rating: str

    def to_dict(self) -> dict[str, object]:
        """Plain JSON values; non-finite floats become None."""
        return {
            "windows": self.windows,
            "mean": _json_float(self.mean),
            "std": _json_float(self.std),
            "cv": _json_float(self.cv),
            "share_positive": _json_float(self.share_positive),
            "rating": self.rating,
            "thresholds": {
                "min_windows": MIN_WINDOWS,
                "robust": dict(ROBUST),
                "moderate": dict(MODERATE),
            },
        }


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def stability(window_returns: object) -> Stability:
    """Rate a sequence of per-window out-of-sample returns (fractions, e.g. 0.02 = +2%)."""
    r = np.asarray(window_returns, dtype=np.float64).ravel()
    k = r.size
    if k == 0:
        return Stability(0, math.nan, math.nan, math.nan, math.nan, "insufficient")
    mean = float(r.mean())
    std = float(r.std(ddof=1)) if k > 1 else math.nan
    if k < 2 or (std == 0.0 and mean == 0.0):
        cv = math.nan
    elif mean == 0.0:
        cv = math.inf
    else:
        cv = std / abs(mean)
    share = float(np.count_nonzero(r > 0)) / k
    if k < MIN_WINDOWS:
        rating = "insufficient"
    elif mean > 0 and share >= ROBUST["share_positive"] and cv <= ROBUST["cv"]:
        rating = "robust"
    elif mean > 0 and share >= MODERATE["share_positive"] and cv <= MODERATE["cv"]:
        rating = "moderate"
    else:
        rating = "unstable"
    return Stability(k, mean, std, cv, share, rating)


__all__ = ["MIN_WINDOWS", "MODERATE", "ROBUST", "Stability", "stability"]
