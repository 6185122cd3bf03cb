"""Retries of calls to remote services: exponential backoff with full jitter.

The wait before retry ``k`` (0-based) is drawn uniformly from
``[0, min(backoff_max, backoff_base * 2**k)]`` seconds ("full jitter"), which
spreads the retries of many clients apart instead of letting them hit a
recovering service in lock step. When the service said how long to wait (a
``Retry-After`` header), the wait is at least that long; a demand longer than
``max_retry_after`` gives up at once rather than blocking for hours (Binance
answers an IP ban with a Retry-After of minutes to days).

The random draws come from an injected :class:`random.Random`, so a seeded
generator gives the same waits on every run, and the sleep function is
injected, so tests run without waiting.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tradpal.errors import ConfigError, SourceError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry transient failures (times in seconds).

    ``max_retries`` is the number of retries after the first attempt, so a call
    is tried at most ``max_retries + 1`` times.
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(
                f"max_retries must be a whole number >= 0, got {self.max_retries!r}",
                hint="use 0 to fail on the first error, 5 for a patient download",
            )
        for name in ("backoff_base", "backoff_max", "max_retry_after"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(
                    f"{name} must be a finite number of seconds >= 0, got {value!r}",
                    hint="backoff_base=0.5, backoff_max=30 and max_retry_after=300 suit "
                    "most exchanges",
                )

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0-based), full jitter."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(retry, 60))
        return rng.uniform(0.0, ceiling)


def make_rng(rng: random.Random | int | None) -> random.Random:
    """A :class:`random.Random`: the one given, one seeded with an int, or a fresh one."""
    if isinstance(rng, random.Random):
        return rng
    if rng is None or isinstance(rng, int):
        return random.Random(rng)
    raise ConfigError(
        f"rng must be a random.Random, an int seed or None, got {type(rng).__name__}",
        hint="pass random.Random(42) or 42 for reproducible backoff",
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    ``now`` is the current Unix time in seconds (for the date form). Returns
    ``None`` for a missing or unreadable header, never a negative number.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None],
    sleep: Callable[[float], None],
    rng: random.Random,
    hint: str | None = None,
) -> T:
    """Run ``call``, retrying transient errors with backoff; return its result.

    ``what`` names the call in error messages (``"binance fetch_ohlcv BTC/USDT
    1h since 2022-01-01T00:00Z"``). Errors for which ``is_transient`` is false
    propagate unchanged at once. After ``policy.max_retries`` retries, or when
    the service asks for a wait longer than ``policy.max_retry_after``, raises
    :class:`~tradpal.errors.SourceError` naming the call, the attempts and the
    last error (chained as its cause).
    """
    retry = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            asked = retry_after(exc)
            if asked is not None and asked > policy.max_retry_after:
                raise SourceError(
                    f"{what} failed: the service asks to wait {asked:.0f} s before retrying, "
                    f"longer than max_retry_after={policy.max_retry_after:g} s "
                    f"({type(exc).__name__}: {_short(exc)})",
                    hint=hint or "try again later, or raise max_retry_after",
                ) from exc
            if retry >= policy.max_retries:
                raise SourceError(
                    f"{what} failed after {retry + 1} attempt(s): "
                    f"{type(exc).__name__}: {_short(exc)}",
                    hint=hint
                    or "the service is unavailable or limiting requests; "
                    "try again later or raise max_retries",
                ) from exc
            wait = policy.backoff(retry, rng)
            if asked is not None:
                wait = max(wait, asked)
            sleep(wait)
            retry += 1


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
