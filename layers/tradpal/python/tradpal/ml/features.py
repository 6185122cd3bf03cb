"""Declarative features for supervised models: a JSON-able :class:`FeatureSet` and the
feature matrix it describes.

A feature set names feature *kinds* with their periods, and the higher timeframes on
which every kind is computed again::

    FeatureSet({"ret": [1, 3, 12], "rsi": [7, 14], "atr": [14]}, higher_timeframes=["4h"])

It comes from a dict (``{"rsi": [7, 14], "higher_timeframes": ["4h"]}``) or a compact
text (``"ret:1,3,12 rsi:7,14 atr:14 @4h"``) through :func:`parse_feature_set`, and goes
back with :meth:`FeatureSet.to_dict` / :meth:`FeatureSet.to_text`. The kinds
(:data:`KINDS`), each column named ``<kind>_<period>``:

``ret``       log return over N bars, ``ln(close[t] / close[t-N])``;
``vol``       :func:`tradpal.indicators.rolling_volatility`: the sample std of the last
              N one-bar log returns;
``volume_z``  the volume's z-score against the last N bars (itself included, population
              std; NaN where the window's volumes are all equal);
``rvol``      relative volume, ``volume / SMA(volume, N)`` (NaN where the SMA is 0);
``rsi``       :func:`tradpal.indicators.rsi`;
``atr``       :func:`tradpal.indicators.atr` divided by the close;
``ema_dist``  the close's distance from its EMA, ``close / EMA(N) - 1``;
``bb_pctb``   Bollinger %b of :func:`tradpal.indicators.bollinger` (N bars, 2 std).

The indicators are the library's own (equal to TA-Lib, see :mod:`tradpal.indicators`).

:func:`build_features` returns one float64 column per feature on the frame's index. A
higher-timeframe column is named with the timeframe after ``@`` (``rsi_14@4h``) and is
computed by :func:`tradpal.indicators.mtf.htf_apply`, the code the multi-timeframe
strategies use: the kind on the frame resampled to that timeframe, each value given to
the base bars whose close is at or after the higher-timeframe bar's close, so bar t sees
the last higher-timeframe bar *closed* at t's close and never the one still forming.
Warm-up rows (and rows where a feature is undefined) are NaN, never filled.

Every feature at bar t uses data up to the close of t only. :func:`lookahead_violations`
proves it on data: the feature matrix of truncated copies of the frame must equal the
full one on every row they hold, bit for bit.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from tradpal.data.contract import ensure_ohlcv
from tradpal.errors import ConfigError, TimeframeError
from tradpal.indicators import atr, bollinger, ema, rolling_volatility, rsi, sma
from tradpal.timeframes import parse_timeframe

Columns = Mapping[str, np.ndarray]
"""A frame's ``open high low close volume`` as float64 arrays."""


@dataclass(frozen=True)
class FeatureKind:
    """One kind of feature: ``fn(columns, period)`` gives one float64 value per bar (NaN
    in the warm-up), reading at bar t nothing after bar t. ``fn`` is called with
    ``period <= len(bars)`` only; a shorter input gives an all-NaN column."""

    name: str
    fn: Callable[[Columns, int], np.ndarray]
    description: str = ""


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _ret(c: Columns, p: int) -> np.ndarray:
    close = c["close"]
    out = _nan(len(close))
    with np.errstate(invalid="ignore", divide="ignore"):
        out[p:] = np.log(close[p:] / close[:-p])
    return out


def _volume_z(c: Columns, p: int) -> np.ndarray:
    v = c["volume"]
    out = _nan(len(v))
    windows = np.lib.stride_tricks.sliding_window_view(v, p)
    mean, std = windows.mean(axis=1), windows.std(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[p - 1 :] = np.where(std > 0, (v[p - 1 :] - mean) / std, np.nan)
    return out


def _rvol(c: Columns, p: int) -> np.ndarray:
    v = c["volume"]
    mean = sma(v, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, v / mean, np.nan)


KINDS: Mapping[str, FeatureKind] = MappingProxyType(
    {
        k.name: k
        for k in (
            FeatureKind("ret", _ret, "log return over N bars"),
            FeatureKind(
                "vol",
                lambda c, p: rolling_volatility(c["close"], p),
                "std of the last N one-bar log returns",
            ),
            FeatureKind("volume_z", _volume_z, "volume z-score over N bars"),
            FeatureKind("rvol", _rvol, "volume / SMA(volume, N)"),
            FeatureKind("rsi", lambda c, p: rsi(c["close"], p), "RSI(N)"),
            FeatureKind(
                "atr",
                lambda c, p: atr(c["high"], c["low"], c["close"], p) / c["close"],
                "ATR(N) / close",
            ),
            FeatureKind(
                "ema_dist", lambda c, p: c["close"] / ema(c["close"], p) - 1.0, "close/EMA(N)-1"
            ),
            FeatureKind(
                "bb_pctb",
                lambda c, p: bollinger(c["close"], p, 2.0).percent_b,
                "Bollinger %b (N, 2 std)",
            ),
        )
    }
)
"""The built-in feature kinds by name (see the module docstring)."""

_HTF_KEYS = ("higher_timeframes", "htf")


@dataclass(frozen=True)
class FeatureSet:
    """Feature kinds with their periods, and the higher timeframes each is also computed
    on. ``features`` is a mapping or pairs ``kind -> periods`` (a period or a list of
    them); it is kept as a tuple of ``(kind, (period, ...))`` in the order given.
    Unknown kinds are reported by :func:`parse_feature_set` and :func:`build_features`
    (which check them against the kinds in use); the rest is checked here."""

    features: tuple[tuple[str, tuple[int, ...]], ...]
    higher_timeframes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        raw = self.features
        pairs = raw.items() if isinstance(raw, Mapping) else raw
        if isinstance(pairs, str | bytes) or not isinstance(pairs, Iterable):
            raise ConfigError(
                f"features must map kinds to periods, not {raw!r}",
                hint='e.g. {"rsi": [7, 14], "ret": [1, 3]}',
            )
        features: list[tuple[str, tuple[int, ...]]] = []
        seen: set[str] = set()
        for pair in pairs:
            if not (isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2):
                raise ConfigError(
                    f"a feature must be a (kind, periods) pair, not {pair!r}",
                    hint='e.g. ("rsi", [7, 14])',
                )
            kind, periods = pair
            if not isinstance(kind, str) or not kind:
                raise ConfigError(f"a feature kind must be a name, not {kind!r}")
            if kind in seen:
                raise ConfigError(
                    f"feature kind {kind!r} is given twice",
                    hint="list all its periods once",
                )
            seen.add(kind)
            features.append((kind, _periods(kind, periods)))
        if not features:
            raise ConfigError("a feature set needs at least one feature", hint="e.g. rsi:14")
        htfs = self.higher_timeframes
        if isinstance(htfs, str):
            htfs = (htfs,)
        names: list[str] = []
        for tf in htfs:
            try:
                name = parse_timeframe(tf).name
            except (TimeframeError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"higher timeframe {tf!r}: {getattr(exc, 'message', exc)}",
                    hint=getattr(exc, "hint", None) or "e.g. 4h or 1d",
                ) from None
            if name in names:
                raise ConfigError(f"higher timeframe {name} is given twice")
            names.append(name)
        object.__setattr__(self, "features", tuple(features))
        object.__setattr__(self, "higher_timeframes", tuple(names))

    def columns(self) -> list[str]:
        """The column names of :func:`build_features`, in order: the base features,
        then the same for each higher timeframe with ``@<timeframe>`` appended."""
        base = [f"{kind}_{p}" for kind, periods in self.features for p in periods]
        return base + [f"{c}@{tf}" for tf in self.higher_timeframes for c in base]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``{"rsi": [7, 14], ..., "higher_timeframes": ["4h"]}``."""
        out: dict[str, Any] = {kind: list(periods) for kind, periods in self.features}
        if self.higher_timeframes:
            out["higher_timeframes"] = list(self.higher_timeframes)
        return out

    def to_text(self) -> str:
        """The compact text form: ``"rsi:7,14 ret:1,3 @4h"``."""
        parts = [f"{kind}:{','.join(map(str, periods))}" for kind, periods in self.features]
        if self.higher_timeframes:
            parts.append("@" + ",".join(self.higher_timeframes))
        return " ".join(parts)


def _periods(kind: str, periods: Any) -> tuple[int, ...]:
    values = (
        [periods]
        if isinstance(periods, int | np.integer | str)
        else periods
        if isinstance(periods, Sequence)
        else None
    )
    if not values:
        raise ConfigError(
            f"{kind}: periods must be a whole number or a non-empty list of them, not {periods!r}",
            hint=f"e.g. {kind}:14 or {kind}:7,14",
        )
    out: list[int] = []
    for v in values:
        try:
            if isinstance(v, bool | float):
                raise TypeError
            p = int(v) if isinstance(v, str) else operator.index(v)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{kind}: period {v!r} is not a whole number of bars",
                hint=f"e.g. {kind}:14",
            ) from None
        if p < 1:
            raise ConfigError(f"{kind}: period {p} must be at least 1 bar")
        if p in out:
            raise ConfigError(f"{kind}: period {p} is given twice")
        out.append(p)
    return tuple(out)


DEFAULT_FEATURE_SET = FeatureSet(
    {
        "ret": [1, 3, 12],
        "vol": [24],
        "volume_z": [24],
        "rvol": [24],
        "rsi": [7, 14],
        "atr": [14],
        "ema_dist": [9, 21],
        "bb_pctb": [20],
    },
    higher_timeframes=["4h"],
)  # type: ignore[arg-type]
"""The built-in feature set: every kind, on the frame's bars and on closed 4h bars."""


def parse_feature_set(
    spec: str | Mapping[str, Any] | FeatureSet, *, kinds: Mapping[str, FeatureKind] = KINDS
) -> FeatureSet:
    """A :class:`FeatureSet` from its text (``"rsi:7,14 ret:1,3 @4h"``, entries split by
    spaces or ``;``, higher timeframes after ``@`` split by ``,``) or dict form
    (``{"rsi": [7, 14], "higher_timeframes": ["4h"]}``). Raises
    :class:`~tradpal.errors.ConfigError` naming what is wrong, for an unknown kind with
    the known ones."""
    if isinstance(spec, FeatureSet):
        fs = spec
    elif isinstance(spec, str):
        fs = _from_text(spec)
    elif isinstance(spec, Mapping):
        items = dict(spec)
        htfs: Any = ()
        for key in _HTF_KEYS:
            if key in items:
                htfs = items.pop(key)
        fs = FeatureSet(tuple(items.items()), higher_timeframes=htfs)  # type: ignore[arg-type]
    else:
        raise ConfigError(
            f"a feature set is a text or a mapping, not {type(spec).__name__}",
            hint='e.g. "rsi:7,14 ret:1,3 @4h"',
        )
    _check_kinds(fs, kinds)
    return fs


def _from_text(text: str) -> FeatureSet:
    features: list[tuple[str, Any]] = []
    htfs: list[str] = []
    for token in re.split(r"[\s;]+", text.strip()):
        if not token:
            continue
        if token.startswith("@"):
            htfs.extend(t for t in token[1:].split(",") if t)
            continue
        kind, sep, periods = token.partition(":")
        if not sep or not periods:
            raise ConfigError(
                f"feature {token!r} has no periods",
                hint=f"write kind:periods, e.g. {kind or 'rsi'}:14 or {kind or 'rsi'}:7,14",
            )
        features.append((kind, periods.split(",")))
    return FeatureSet(tuple(features), higher_timeframes=tuple(htfs))  # type: ignore[arg-type]


def _check_kinds(fs: FeatureSet, kinds: Mapping[str, FeatureKind]) -> None:
    unknown = [kind for kind, _ in fs.features if kind not in kinds]
    if unknown:
        raise ConfigError(
            f"unknown feature kind(s): {', '.join(unknown)}",
            hint=f"the known kinds are {', '.join(kinds)}",
        )


def build_features(
    frame: pd.DataFrame,
    feature_set: FeatureSet | str | Mapping[str, Any] = DEFAULT_FEATURE_SET,
    *,
    kinds: Mapping[str, FeatureKind] = KINDS,
) -> pd.DataFrame:
    """The feature matrix of an OHLCV ``frame``: one float64 column per feature, named as
    :meth:`FeatureSet.columns`, on the frame's index; NaN in the warm-up. ``kinds`` is
    the registry the kinds are read from (the built-ins by default)."""
    fs = parse_feature_set(feature_set, kinds=kinds)
    ensure_ohlcv(frame)
    cols = _compute(fs, kinds, frame)
    if fs.higher_timeframes:
        from tradpal.indicators.mtf import htf_apply

        for tf in fs.higher_timeframes:
            high = htf_apply(frame, tf, lambda f: _compute(fs, kinds, f))
            cols.update({f"{name}@{tf}": v for name, v in high.items()})
    return pd.DataFrame(cols, index=frame.index, columns=fs.columns(), dtype=np.float64)


def _compute(fs: FeatureSet, kinds: Mapping[str, FeatureKind], frame: pd.DataFrame) -> dict:
    columns = {
        c: frame[c].to_numpy(dtype=np.float64, copy=False)
        for c in ("open", "high", "low", "close", "volume")
    }
    n = len(frame)
    out: dict[str, np.ndarray] = {}
    for kind, periods in fs.features:
        fn = kinds[kind].fn
        for p in periods:
            # the library's indicators take periods up to the input length; a shorter
            # input (a truncated copy, few higher-timeframe bars) is all warm-up
            values = fn(columns, p) if p <= n else _nan(n)
            out[f"{kind}_{p}"] = np.asarray(values, dtype=np.float64)
    return out


def lookahead_violations(
    frame: pd.DataFrame,
    feature_set: FeatureSet | str | Mapping[str, Any] = DEFAULT_FEATURE_SET,
    *,
    checkpoints: int = 20,
    min_bars: int | None = None,
    ends: Sequence[int] | None = None,
    kinds: Mapping[str, FeatureKind] = KINDS,
) -> list[str]:
    """The look-ahead check on the feature matrix: an empty list when no feature uses
    data after its bar.

    The features are built on the whole ``frame`` and on copies holding its first ``e``
    bars, for ``checkpoints`` lengths spread from ``min_bars`` (default a tenth of the
    frame) to ``len(frame) - 1`` (as :func:`tradpal.strategies.lookahead.truncation_ends`
    spreads the strategy check's copies), or the lengths ``ends``. Every row of a copy,
    its last bar (the cut) included, must equal that row of the full matrix bit for bit
    (NaN equal to NaN). Each column that differs anywhere gives one line, starting with
    its name: the first bar where it differs and where the data was cut.
    """
    from tradpal.strategies.lookahead import truncation_ends

    fs = parse_feature_set(feature_set, kinds=kinds)
    n = len(frame)
    if n < 2:
        raise ConfigError(
            f"the look-ahead check needs at least 2 bars, the data has {n}",
            hint="load a longer range",
        )
    if ends is None:
        if isinstance(checkpoints, bool) or not isinstance(checkpoints, int) or checkpoints < 1:
            raise ConfigError(f"checkpoints {checkpoints!r} is not an integer >= 1")
        ends = truncation_ends(n, checkpoints, n // 10 if min_bars is None else min_bars)
    ends = sorted({int(e) for e in ends})
    if not ends or ends[0] < 1 or ends[-1] >= n:
        raise ConfigError(
            f"truncation lengths must lie in 1..{n - 1}, got {ends}",
            hint="each copy keeps the first e bars; e = len(frame) is the full frame",
        )
    full = build_features(frame, fs, kinds=kinds).to_numpy()
    first: dict[str, tuple[int, int]] = {}  # column -> (first bar, copy length)
    names = fs.columns()
    for e in ends:
        part = build_features(frame.iloc[:e], fs, kinds=kinds).to_numpy()
        a = full[:e]
        same = (a == part) | (np.isnan(a) & np.isnan(part))
        for j in np.flatnonzero(~same.all(axis=0)):
            bar = int(np.flatnonzero(~same[:, j])[0])
            if names[j] not in first or bar < first[names[j]][0]:
                first[names[j]] = (bar, e)
    index = frame.index
    return [
        f"{name}: bar {bar} ({index[bar]}) differs when the data ends at bar {e - 1} "
        f"({index[e - 1]})"
        for name in names
        if name in first
        for bar, e in [first[name]]
    ]


__all__ = [
    "DEFAULT_FEATURE_SET",
    "KINDS",
    "FeatureKind",
    "FeatureSet",
    "build_features",
    "lookahead_violations",
    "parse_feature_set",
]
