"""Labels for supervised models: what happened *after* each bar.

Two labelings of an OHLCV frame (:mod:`tradpal.data.contract`), each a
:class:`pandas.DataFrame` on the frame's index with one row per bar:

``label``
    ``+1`` / ``-1`` / ``0`` as a nullable ``Int8``; ``<NA>`` where the bar gets no
    label (never a made-up one).
``t1``
    the label's span as a nullable ``Int64`` *position* in the frame: the label of
    bar ``i`` uses bars ``i..t1[i]`` inclusive (bar ``i``'s close is the entry), and
    ``i < t1[i] <= i + horizon``. This is the ``t1`` that purged cross-validation
    (:mod:`tradpal.ml.validation`) purges and embargoes with. Those splitters take
    positions among the *samples*: :func:`sample_spans` drops the rows without a label
    and re-bases ``t1`` onto the rows kept (exactly: a kept span overlaps another in
    the frame if and only if it does among the samples).
``ret``
    the return realised from ``close[i]`` to the exit (float64, NaN without a label);
    ``sign(ret) == label`` on every labelled row.

:func:`forward_return_sign` is the sign of the return over a fixed ``horizon``;
:func:`triple_barrier` is Lopez de Prado's triple-barrier method (*Advances in
Financial Machine Learning*, ch. 3) with ATR barriers, long side, and an extra
``barrier`` column. Both read only bars ``i+1..t1[i]`` (and ``close[i]``, plus for the
triple barrier ``ATR[i]``, which uses data up to bar ``i``): altering any bar after
``t1[i]`` never changes the label of bar ``i``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tradpal.errors import ConfigError, DataContractError
from tradpal.indicators import atr

BARRIERS: tuple[str, ...] = ("take_profit", "stop", "time")
"""The values of ``triple_barrier(...)["barrier"]`` (a categorical)."""

__all__ = ["BARRIERS", "forward_return_sign", "sample_spans", "triple_barrier"]


def forward_return_sign(frame: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The sign of ``close[i + horizon] / close[i] - 1`` for each bar ``i``.

    Returns columns ``label`` (``Int8``: +1, -1, or 0 when the return is exactly 0),
    ``t1`` (``Int64``: ``i + horizon``) and ``ret`` (the return). The last ``horizon``
    bars, and bars whose close or future close is not a positive finite price, have no
    label: ``<NA>`` in ``label`` and ``t1``, NaN in ``ret``.
    """
    h = _horizon(horizon)
    (c,) = _columns(frame, ("close",))
    n = len(c)
    ret = np.full(n, np.nan)
    if n > h:
        entry, future = c[: n - h], c[h:]
        ok = _price_ok(entry) & np.isfinite(future)
        with np.errstate(invalid="ignore", divide="ignore"):
            ret[: n - h] = np.where(ok, (future - entry) / entry, np.nan)
    has = ~np.isnan(ret)
    t1 = np.where(has, np.arange(n) + h, -1)
    return _result(frame.index, np.sign(np.nan_to_num(ret)), t1, ret, has)


def triple_barrier(
    frame: pd.DataFrame,
    *,
    horizon: int,
    take_profit_atr: float,
    stop_atr: float,
    atr_period: int = 14,
) -> pd.DataFrame:
    """Triple-barrier labels of a long entry at each bar's close.

    For bar ``i``: entry at ``close[i]``; upper barrier ``close[i] + take_profit_atr *
    ATR[i]``, lower ``close[i] - stop_atr * ATR[i]`` (ATR from
    :func:`tradpal.indicators.atr`, Wilder's, equal to TA-Lib's; ``ATR[i]`` uses bars up
    to ``i``); vertical barrier at bar ``i + horizon``. Bars ``i+1..i+horizon`` are
    checked in order, each against its open, low and high in the backtest engine's
    order (:mod:`tradpal.backtest.engine`):

    1. open at or below the lower barrier (a gap): stop, exit at the open;
    2. open at or above the upper barrier: take profit, exit at the open;
    3. low touches the lower barrier: stop, exit at the barrier -- when the same bar's
       high also touches the upper one, the stop is assumed first (the engine's
       conservative convention: the order within a bar is unknown);
    4. high touches the upper barrier: take profit, exit at the barrier.

    No barrier touched by bar ``i + horizon``: the time barrier, exit at its close, and
    the label is the *sign* of that return (0 only when it is exactly 0).

    Returns columns ``label`` (``Int8``: +1 take profit, -1 stop, the return's sign at
    the time barrier), ``t1`` (``Int64``: position of the bar that decided it), ``ret``
    (exit price / ``close[i]`` - 1) and ``barrier`` (categorical, one of
    :data:`BARRIERS`). No label (``<NA>``/NaN) for bars without an ATR yet (the first
    ``atr_period``), without a full ``horizon`` of bars after them (the last
    ``horizon``, even when a barrier is touched earlier: labelling only those that hit
    would bias the tail), whose close is not a positive finite price, whose barriers
    do not differ from the entry price (an ATR of 0: a market that did not move), or
    with a missing price among the bars checked before a decision.
    """
    h = _horizon(horizon)
    tp = _multiplier(take_profit_atr, "take_profit_atr")
    sl = _multiplier(stop_atr, "stop_atr")
    period = _period(atr_period)
    o, hi, lo, c = _columns(frame, ("open", "high", "low", "close"))
    n = len(c)
    a = atr(hi, lo, c, period) if n > period else np.full(n, np.nan)

    label = np.zeros(n)
    t1 = np.full(n, -1, dtype=np.int64)
    ret = np.full(n, np.nan)
    code = np.full(n, -1, dtype=np.int8)  # index into BARRIERS
    m = max(n - h, 0)  # bars 0..m-1 have a full horizon after them
    if m:
        entry, dist = c[:m], a[:m]
        with np.errstate(invalid="ignore"):
            upper, lower = entry + tp * dist, entry - sl * dist
            live = _price_ok(entry) & (upper > entry) & (lower < entry)  # NaN ATR: False
        exit_px = np.full(m, np.nan)
        for j in range(1, h + 1):
            oj, hj, lj, cj = o[j : j + m], hi[j : j + m], lo[j : j + m], c[j : j + m]
            missing = live & ~(np.isfinite(oj) & np.isfinite(hj) & np.isfinite(lj))
            if j == h:
                missing |= live & ~np.isfinite(cj)
            live &= ~missing
            gap_stop = live & (oj <= lower)
            gap_tp = live & ~gap_stop & (oj >= upper)
            rest = live & ~gap_stop & ~gap_tp
            hit_stop = rest & (lj <= lower)
            hit_tp = rest & ~hit_stop & (hj >= upper)
            for mask, px, kind in (
                (gap_stop, oj, 1),
                (gap_tp, oj, 0),
                (hit_stop, lower, 1),
                (hit_tp, upper, 0),
            ):
                exit_px[mask] = px[mask]
                code[:m][mask] = kind
                t1[:m][mask] = np.flatnonzero(mask) + j
            live &= ~(gap_stop | gap_tp | hit_stop | hit_tp)
        # still open at the vertical barrier: exit at its close
        exit_px[live] = c[h : h + m][live]
        code[:m][live] = 2
        t1[:m][live] = np.flatnonzero(live) + h
        decided = code[:m] >= 0
        ret[:m][decided] = (exit_px[decided] - entry[decided]) / entry[decided]
        label[:m] = np.sign(np.nan_to_num(ret[:m]))
    has = code >= 0
    out = _result(frame.index, label, t1, ret, has)
    out["barrier"] = pd.Categorical.from_codes(code, categories=list(BARRIERS))
    return out


def sample_spans(labels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, t1)`` for cross-validation: ``rows``, the frame positions of the bars
    that have a label (select ``X`` and ``y`` with them); ``t1``, each one's span as a
    position among those rows (the last labelled row at or before the span's last bar),
    as :class:`tradpal.ml.validation.PurgedKFold` takes it."""
    has = labels["label"].notna().to_numpy()
    rows = np.flatnonzero(has)
    spans = labels["t1"].to_numpy(dtype=np.float64, na_value=np.nan)[has].astype(np.int64)
    return rows, np.searchsorted(rows, spans, side="right").astype(np.int64) - 1


def _result(
    index: pd.Index, label: np.ndarray, t1: np.ndarray, ret: np.ndarray, has: np.ndarray
) -> pd.DataFrame:
    labels = pd.array(np.where(has, label, 0).astype(np.int8), dtype="Int8")
    spans = pd.array(np.where(has, t1, 0), dtype="Int64")
    labels[~has] = pd.NA
    spans[~has] = pd.NA
    return pd.DataFrame(
        {"label": labels, "t1": spans, "ret": np.where(has, ret, np.nan)}, index=index
    )


def _price_ok(entry: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(entry) & (entry > 0)


def _columns(frame: object, names: Sequence[str]) -> list[np.ndarray]:
    if not isinstance(frame, pd.DataFrame):
        raise DataContractError(
            f"labels need an OHLCV DataFrame, not a {type(frame).__name__}",
            hint="pass a frame as the data layer gives it (tradpal.data.contract)",
        )
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"the frame lacks the column(s) {', '.join(missing)} the labels need",
            hint=f"give a frame with {', '.join(names)} (an OHLCV frame has them all)",
        )
    try:
        return [frame[c].to_numpy(dtype=np.float64) for c in names]
    except (TypeError, ValueError):
        raise DataContractError(
            f"the column(s) {', '.join(names)} are not all numeric",
            hint="cast with frame.astype('float64')",
        ) from None


def _integer(value: object, name: str, example: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(
            f"{name} must be an integer number of bars, not {value!r}",
            hint=f"use e.g. {name}={example}",
        )
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(
            f"{name} must be an integer number of bars, not {value!r}",
            hint=f"use e.g. {name}={example}",
        ) from None


def _horizon(value: object) -> int:
    h = _integer(value, "horizon", "24")
    if h < 1:
        raise ConfigError(
            f"horizon={h} must be at least 1 bar",
            hint="a label looks at least one bar ahead: use e.g. horizon=24",
        )
    return h


def _period(value: object) -> int:
    p = _integer(value, "atr_period", "14")
    if p < 1:
        raise ConfigError(f"atr_period={p} must be at least 1", hint="use e.g. atr_period=14")
    return p


def _multiplier(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(
            f"{name} must be a number of ATRs, not {value!r}", hint=f"use e.g. {name}=2.0"
        )
    k = float(value)
    if not math.isfinite(k) or k <= 0:
        raise ConfigError(
            f"{name}={k} must be a positive finite number of ATRs",
            hint=f"a barrier at 0 ATR is the entry itself: use e.g. {name}=2.0",
        )
    return k
