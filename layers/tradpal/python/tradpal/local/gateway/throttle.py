"""Throttles: API Gateway's per-route token bucket, the local gateway's per-caller buckets
under it, and the Retry-After a refusal answers with."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# At most this many callers' buckets are kept per route (see CallerBuckets).
MAX_CALLERS = 10_000


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

    def refund(self) -> None:
        """Give back a token :meth:`take` granted, for a request refused after all (never
        more than ``burst``)."""
        with self._lock:
            self._tokens = min(float(self.burst), self._tokens + 1.0)

    def is_full(self, now: float) -> bool:
        """True when the bucket has refilled to ``burst`` at ``now``: it is then the same as
        a new bucket, and can be dropped and made again without changing any answer."""
        with self._lock:
            return self._tokens + max(0.0, now - self._last) * self.rate >= self.burst


class CallerBuckets:
    """One :class:`TokenBucket` per caller on one route (like an API key's usage plan on a
    REST API; an HTTP API has none, so this exists only locally).

    Memory is bounded. Buckets are kept least recently used first; on every :meth:`take` the
    buckets that have refilled are dropped from that end (a full bucket is the same as a new
    one, so this changes no answer): a bucket idle for ``burst / rate`` seconds is gone by
    the next request on the route. Beyond ``max_callers`` callers active at once, the least
    recently used bucket is dropped even if it is not full (that caller starts afresh).
    Callers are kept by a digest of their id, so a long id costs no more than a short one.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_callers: int = MAX_CALLERS,
    ) -> None:
        if max_callers < 1:
            raise ValueError(f"max_callers must be >= 1, not {max_callers}")
        self.rate, self.burst, self.max_callers = float(rate), int(burst), max_callers
        self._clock = clock
        self._buckets: OrderedDict[bytes, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    def take(self, caller: str) -> float:
        """Take one of ``caller``'s tokens: 0.0 when granted, else the seconds to wait."""
        # A lone surrogate (a JSON escape in the token) still has bytes.
        key = hashlib.blake2b(caller.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._lock:
            now = self._clock()
            while self._buckets:
                oldest_key, oldest = next(iter(self._buckets.items()))
                if not oldest.is_full(now):
                    break
                del self._buckets[oldest_key]
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self._clock)
                while len(self._buckets) > self.max_callers:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            return bucket.take()


def retry_after(wait_s: float) -> str:
    """The ``Retry-After`` header for a wait of ``wait_s`` seconds (whole seconds, >= 1)."""
    return str(max(1, math.ceil(wait_s)))
