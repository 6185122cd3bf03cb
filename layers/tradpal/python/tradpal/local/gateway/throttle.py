"""API Gateway's per-route throttle: a token bucket, and the Retry-After it answers with."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """API Gateway's throttle for one route: ``burst`` tokens, refilled at ``rate`` per second.

    ``clock`` returns seconds (monotonic); tests pass a fake one. Thread-safe.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self._clock = float(rate), int(burst), clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token: 0.0 when granted, else the seconds until one will be there."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._last)
            self._last = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


def retry_after(wait_s: float) -> str:
    """The ``Retry-After`` header for a wait of ``wait_s`` seconds (whole seconds, >= 1)."""
    return str(max(1, math.ceil(wait_s)))
