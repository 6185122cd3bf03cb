"""The timing rule every benchmark here uses: best wall time of interleaved rounds."""

from __future__ import annotations

import time
from collections.abc import Callable


def best(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time (s) of each function over ``repeats`` rounds.

    The functions are interleaved within each round, so a slow moment of the
    machine hits every side alike and the ratios stay fair.
    """
    times = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k] = min(times[k], time.perf_counter() - t0)
    return times
