"""A seeded synthetic market: regime switching, volatility clustering, consistent OHLC.

The model, per bar of length ``dt`` (in years):

* **Regimes** follow a Markov chain over ``bull``, ``bear`` and ``sideways``.
  Each regime lasts a geometric number of bars with a mean of
  :data:`REGIME_MEAN_DAYS` days (so durations mean the same time on every
  timeframe); when it ends the next regime is drawn from
  :data:`REGIME_TRANSITIONS`. Each regime has an annual drift and volatility.
* **Volatility clustering**: a unit-mean GARCH(1,1) multiplier
  ``h[t] = (1 - a - b) + a * z[t-1]**2 * h[t-1] + b * h[t-1]`` with
  ``a`` = :data:`GARCH_ALPHA`, ``b`` = :data:`GARCH_BETA`, per bar.
* **Log return** ``r = (mu - vol**2 / 2) * dt + vol * sqrt(dt * h) * z``, ``z`` standard
  normal; open is the previous close, close = open * exp(r).
* **High and low** are the maximum and minimum of a Brownian bridge from 0 to
  ``r`` with the bar's variance ``s2``: ``(r ± sqrt(r**2 - 2 * s2 * ln U)) / 2`` with
  ``U`` uniform on (0, 1]; they always enclose open and close.
* **Volume** grows with the conditional volatility and the size of the move:
  ``base * regime factor * sqrt(h) * (0.5 + |z|) * lognormal noise``.

Determinism: randomness comes from numpy ``PCG64`` generators seeded with
``SeedSequence(seed, spawn_key=(key..., chunk))`` for fixed chunks of
:data:`CHUNK_BARS` bars counted from a fixed first bar, and the state (price,
GARCH, regime) is carried from chunk to chunk. A bar's values therefore depend
only on the seed, the key and the bar's index, never on the range asked for:
overlapping fetches agree bit for bit. :class:`SyntheticSource` counts bars from
:data:`SYNTHETIC_ORIGIN` (2018-01-01, a Monday, on every timeframe's grid) and keys
the series by timeframe and symbol, so every symbol and timeframe is its own
independent market (a 4h series is not the aggregate of the 1h one). Reaching
a bar far from the origin means simulating the chunks before it (about a
second per few million bars); a source caches the state at each chunk start.

Every frame is marked ``synthetic`` with source ``"synthetic"``;
``meta.extra["regimes"]`` lists the regime runs as ``[open time ISO, name]``
pairs and :func:`regime_labels` expands them to one label per bar.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradpal.data.contract import (
    INDEX_NAME,
    OHLCV_COLUMNS,
    MarketMeta,
    get_meta,
    to_utc_timestamp,
    with_meta,
)
from tradpal.data.sources.base import ProgressCallback
from tradpal.errors import ConfigError
from tradpal.timeframes import Timeframe, parse_timeframe

REGIMES: tuple[str, ...] = ("bull", "bear", "sideways")
REGIME_DRIFT = np.array([0.80, -0.60, 0.0])
"""Annual log drift per regime."""
REGIME_VOL = np.array([0.55, 0.80, 0.35])
"""Annual volatility per regime."""
REGIME_VOLUME = np.array([1.2, 1.5, 0.8])
"""Volume factor per regime (bear markets trade more, quiet ones less)."""
REGIME_MEAN_DAYS = np.array([90.0, 60.0, 45.0])
"""Mean regime duration in days."""
REGIME_TRANSITIONS = np.array([[0.0, 0.4, 0.6], [0.4, 0.0, 0.6], [0.5, 0.5, 0.0]])
"""Row i: probabilities of the regime that follows regime i."""
GARCH_ALPHA = 0.08
GARCH_BETA = 0.90
INITIAL_PRICE = 100.0
BASE_VOLUME_PER_HOUR = 1000.0
CHUNK_BARS = 16_384
SYNTHETIC_ORIGIN = pd.Timestamp("2018-01-01", tz="UTC")
"""The first bar of every :class:`SyntheticSource` series."""
DEFAULT_START = pd.Timestamp("2020-01-06", tz="UTC")
"""Default first bar of :func:`generate_ohlcv` (a Monday: on every timeframe's grid)."""
MODEL = "markov-garch-bridge/1"

_YEAR_S = 365.25 * 86_400
UTC = "UTC"
_GARCH_BLOCK = 256  # the closed-form GARCH recursion runs in blocks this long (no overflow)
_INIT_KEY = 2**31  # spawn key of the stream that draws the initial regime


@dataclass(frozen=True)
class _State:
    """Everything carried from one bar to the next."""

    log_close: float
    h: float
    z: float
    regime: int
    remaining: int  # bars left in the current regime


class _Simulator:
    """Generates bars by index for one (seed, key, timeframe), caching chunk-start states."""

    def __init__(self, seed: int, key: tuple[int, ...], tf: Timeframe, initial_price: float):
        self.seed, self.key, self.tf = seed, key, tf
        dt = tf.seconds / _YEAR_S
        self._mu = (REGIME_DRIFT - REGIME_VOL**2 / 2) * dt
        self._sigma = REGIME_VOL * np.sqrt(dt)
        self._p_switch = np.minimum(1.0, tf.seconds / (REGIME_MEAN_DAYS * 86_400))
        self._volume = BASE_VOLUME_PER_HOUR * tf.seconds / 3600 * REGIME_VOLUME
        rng = self._rng(_INIT_KEY)
        regime = int(rng.integers(len(REGIMES)))
        self._states: dict[int, _State] = {
            0: _State(
                float(np.log(initial_price)),
                1.0,
                0.0,
                regime,
                int(rng.geometric(self._p_switch[regime])),
            )
        }

    def _rng(self, *spawn: int) -> np.random.Generator:
        seq = np.random.SeedSequence(self.seed, spawn_key=(*self.key, *spawn))
        return np.random.Generator(np.random.PCG64(seq))

    def bars(self, k0: int, k1: int, progress: ProgressCallback | None = None):
        """Arrays ``(open, high, low, close, volume, regime)`` of bars ``k0 <= k < k1``."""
        c0, c1 = k0 // CHUNK_BARS, (k1 - 1) // CHUNK_BARS
        start = max(c for c in self._states if c <= c0)
        parts = []
        for c in range(start, c1 + 1):
            out, self._states[c + 1] = self._chunk(c, self._states[c])
            if c >= c0:
                parts.append(out)
            if progress is not None:
                progress(
                    min((c + 1) * CHUNK_BARS, k1) - start * CHUNK_BARS, k1 - start * CHUNK_BARS
                )
        cols = [np.concatenate(x) for x in zip(*parts, strict=True)]
        lo = k0 - c0 * CHUNK_BARS
        return [a[lo : lo + (k1 - k0)] for a in cols]

    def _chunk(self, chunk: int, s: _State):
        n = CHUNK_BARS
        rng = self._rng(chunk)
        z = rng.standard_normal(n)
        u_high = 1.0 - rng.random(n)  # (0, 1]: log stays finite
        u_low = 1.0 - rng.random(n)
        noise = rng.standard_normal(n)
        regime, state_regime, remaining = self._regimes(chunk, s)
        h = _garch(z, s.z, s.h)
        sigma = self._sigma[regime] * np.sqrt(h)
        r = self._mu[regime] + sigma * z
        # Sequential cumsum: log_open + r reproduces log_close exactly, so high >= close.
        log_close = s.log_close + np.cumsum(r)
        log_open = np.r_[s.log_close, log_close[:-1]]
        s2 = sigma**2
        up = (r + np.sqrt(r * r - 2.0 * s2 * np.log(u_high))) / 2.0
        down = (r - np.sqrt(r * r - 2.0 * s2 * np.log(u_low))) / 2.0
        open_, close = np.exp(log_open), np.exp(log_close)
        high = np.maximum(np.exp(log_open + up), np.maximum(open_, close))
        low = np.minimum(np.exp(log_open + down), np.minimum(open_, close))
        volume = (
            self._volume[regime] * np.sqrt(h) * (0.5 + np.abs(z)) * np.exp(0.25 * noise - 0.03125)
        )
        end = _State(float(log_close[-1]), float(h[-1]), float(z[-1]), state_regime, remaining)
        return (open_, high, low, close, volume, regime.astype(np.int8)), end

    def _regimes(self, chunk: int, s: _State) -> tuple[np.ndarray, int, int]:
        rng = self._rng(chunk, 1)
        out = np.empty(CHUNK_BARS, dtype=np.int64)
        regime, remaining, pos = s.regime, s.remaining, 0
        while pos < CHUNK_BARS:
            take = min(remaining, CHUNK_BARS - pos)
            out[pos : pos + take] = regime
            pos += take
            remaining -= take
            if remaining == 0:
                regime = int(rng.choice(len(REGIMES), p=REGIME_TRANSITIONS[regime]))
                remaining = int(rng.geometric(self._p_switch[regime]))
        return out, regime, remaining


def _garch(z: np.ndarray, z_prev: float, h_prev: float) -> np.ndarray:
    """Unit-mean GARCH(1,1) multipliers ``h`` for innovations ``z``.

    ``h[t] = w + m[t] * h[t-1]`` with ``m[t] = a * z[t-1]**2 + b`` is linear in
    ``h``, so within a block ``h[t] = P[t] * (h0 + w * sum(1 / P[k], k <= t))``
    with ``P`` the running product of ``m``: vectorised, no Python loop per bar.
    """
    w = 1.0 - GARCH_ALPHA - GARCH_BETA
    m = GARCH_ALPHA * np.r_[z_prev, z[:-1]] ** 2 + GARCH_BETA
    h = np.empty_like(z)
    for b0 in range(0, len(z), _GARCH_BLOCK):
        log_p = np.cumsum(np.log(m[b0 : b0 + _GARCH_BLOCK]))
        h[b0 : b0 + _GARCH_BLOCK] = np.exp(log_p) * (h_prev + w * np.cumsum(np.exp(-log_p)))
        h_prev = float(h[b0 + len(log_p) - 1])
    return h


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise ConfigError(
            f"seed must be a non-negative integer, got {seed!r}",
            hint="pass seed=0 or any other integer >= 0",
        )
    return int(seed)


def _frame(times_ns: np.ndarray, cols, meta: MarketMeta) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(times_ns, unit="ns", utc=True)).rename(INDEX_NAME)
    frame = pd.DataFrame(
        dict(zip(OHLCV_COLUMNS, cols[:5], strict=True)), index=index, columns=list(OHLCV_COLUMNS)
    )
    regime = cols[5]
    starts = np.flatnonzero(np.r_[True, regime[1:] != regime[:-1]]) if len(regime) else []
    extra: dict[str, Any] = dict(meta.extra)
    extra["regimes"] = [[index[i].isoformat(), REGIMES[regime[i]]] for i in starts]
    return with_meta(frame, meta.evolve(extra=extra))


def regime_labels(frame: pd.DataFrame) -> pd.Series:
    """The regime name (``bull``, ``bear``, ``sideways``) of every bar of a synthetic frame."""
    meta = get_meta(frame)
    runs = (meta.extra.get("regimes") if meta else None) or []
    if not runs:
        raise ConfigError(
            "the frame carries no regime labels",
            hint="use a frame from generate_ohlcv or SyntheticSource",
        )
    starts = pd.DatetimeIndex([s for s, _ in runs]).as_unit("ns").asi8
    which = np.searchsorted(starts, frame.index.asi8, side="right") - 1
    names = np.array([name for _, name in runs], dtype=object)
    return pd.Series(names[np.maximum(which, 0)], index=frame.index, name="regime")


def generate_ohlcv(
    n_bars: int,
    timeframe: str | Timeframe = "1h",
    *,
    seed: int,
    start: str | pd.Timestamp = DEFAULT_START,
    symbol: str = "SYN/USD",
    initial_price: float = INITIAL_PRICE,
) -> pd.DataFrame:
    """``n_bars`` synthetic bars of ``timeframe`` opening at ``start`` (UTC, on the grid).

    The series depends on ``seed``, the timeframe and ``initial_price`` only
    (``symbol`` and ``start`` are labels): the same arguments give a
    bit-identical frame, and a longer request extends a shorter one.
    """
    tf = parse_timeframe(timeframe)
    seed = _check_seed(seed)
    if not isinstance(n_bars, int | np.integer) or n_bars < 0:
        raise ConfigError(f"n_bars must be a non-negative integer, got {n_bars!r}")
    t0 = to_utc_timestamp(start, "start")
    if (t0.value - tf.origin_seconds * 10**9) % tf.nanoseconds:
        raise ConfigError(
            f"start {t0} is not on the {tf.name} bar grid",
            hint=f"use a bar open time such as {pd.Timestamp(int(tf.floor_ns(t0.value)), tz=UTC)}",
        )
    meta = MarketMeta(
        symbol, tf.name, "synthetic", synthetic=True, extra={"seed": seed, "model": MODEL}
    )
    if n_bars == 0:
        return _frame(np.zeros(0, np.int64), [np.zeros(0)] * 5 + [np.zeros(0, np.int8)], meta)
    sim = _Simulator(seed, (tf.seconds,), tf, initial_price)
    cols = sim.bars(0, int(n_bars))
    times = t0.value + np.arange(int(n_bars), dtype=np.int64) * tf.nanoseconds
    return _frame(times, cols, meta)


class SyntheticSource:
    """An :class:`~tradpal.data.sources.base.OhlcvSource` of seeded synthetic markets.

    Bar ``k`` of a (symbol, timeframe) opens at ``SYNTHETIC_ORIGIN + k * timeframe``
    and is the same in every fetch (see the module docstring). Bars before the
    origin do not exist: a range starting earlier returns bars from the origin.
    """

    name = "synthetic"

    def __init__(self, seed: int = 0, *, initial_price: float = INITIAL_PRICE) -> None:
        self.seed = _check_seed(seed)
        self.initial_price = float(initial_price)
        self._sims: dict[tuple[str, int], _Simulator] = {}

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        progress: ProgressCallback | None = None,
    ) -> pd.DataFrame:
        """Bars of ``symbol`` whose open time lies in ``[start, end)``."""
        tf = parse_timeframe(timeframe)
        t_start, t_end = to_utc_timestamp(start, "start"), to_utc_timestamp(end, "end")
        step, origin = tf.nanoseconds, SYNTHETIC_ORIGIN.value
        k0 = max(0, -((origin - t_start.value) // step))  # ceil((start - origin) / step)
        k1 = max(0, -((origin - t_end.value) // step))
        meta = MarketMeta(
            symbol, tf.name, self.name, synthetic=True, extra={"seed": self.seed, "model": MODEL}
        )
        if k1 <= k0:
            return _frame(np.zeros(0, np.int64), [np.zeros(0)] * 5 + [np.zeros(0, np.int8)], meta)
        key = (symbol, tf.seconds)
        if key not in self._sims:
            symbol_key = zlib.crc32(symbol.encode("utf-8"))
            self._sims[key] = _Simulator(
                self.seed, (tf.seconds, symbol_key), tf, self.initial_price
            )
        cols = self._sims[key].bars(int(k0), int(k1), progress)
        times = origin + np.arange(k0, k1, dtype=np.int64) * step
        return _frame(times, cols, meta)
