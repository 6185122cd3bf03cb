"""Score a batch of discovery candidates: pure, idempotent, runs anywhere (a process, a Lambda).

A *batch* is plain JSON (made by :func:`tradpal.discovery.batches`): the search's
``strategy``, ``data`` reference, backtest ``config`` overrides, ``validation``
settings, ``objectives``, ``min_trades``, ``risk`` flag and ``candidates``
(``[{"id", "params"}]``), plus ``batch_id`` and ``generation``. Each of these keys may
also sit in ``batch["request"]`` (the search request); a key at the top level wins.

The data is loaded once per batch and cut into two spans:

* the **search span**, the first ``1 - holdout`` of the bars, the only bars a score sees;
* the **holdout**, the last ``holdout`` fraction (``int(n * holdout)`` bars): traded
  with the same parameters and reported as ``"oos"`` beside ``"is"``, never ranked on.

Scores are walk-forward: the search span is cut into ``folds`` consecutive windows of
``L = n_search // (folds + 1)`` bars after a lead of ``n_search - folds * L`` bars
(:func:`tradpal.optimize.plan_windows` with ``in_sample`` = the lead, ``out_sample`` =
``step`` = ``L``). Each fold is traded from its first bar with ``capital``; the strategy
and the engine's ATR/volatility warm up on the ``warmup`` bars before it (default
``L``; ``None`` in the request: all earlier bars) and never see a bar after it, since
each fold's frame ends at the fold's last bar. An objective's score is the mean of its
fold values (:func:`tradpal.optimize.objectives.objective_values` per fold, no trade
minimum), and the ``min_trades`` rule applies to the trades of all folds together: a
candidate with fewer scores ``None`` for every objective (null: the objectives' NaN, never ranked).

Work is shared as in sweeps: one :class:`tradpal.optimize.span.SpanRunner` (one
:class:`~tradpal.optimize.cache.IndicatorCache`, lines for all candidates prefetched
with the many-periods kernels) per window (each fold, the search span, the holdout),
for all the candidates of the batch.

Per candidate the result holds ``"values"`` (one score per objective, ``None`` when
undefined or not eligible), ``"folds"`` (each fold's objective values and trades),
``"is"`` (metrics over the whole search span), ``"oos"`` (metrics on the holdout, or
``None`` without one), ``"num_trades"`` (in the folds) and ``"returns_stats"``: the
search span's bar returns (``n_obs``, ``mean``, ``std`` (ddof=1), ``sharpe`` per bar =
mean/std, ``skew``, ``kurtosis`` (Pearson: 3 for a normal law)) for the deflated Sharpe.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradpal.backtest import Metrics
from tradpal.backtest.strategy_run import config_for
from tradpal.data.contract import ensure_ohlcv
from tradpal.data.resample import frame_timeframe
from tradpal.discovery.request import EvaluateBatch, Validation
from tradpal.discovery.search_space import SearchSpace
from tradpal.errors import DiscoveryError, TradPalError
from tradpal.fields import validated
from tradpal.optimize import plan_windows
from tradpal.optimize.objectives import objective_values
from tradpal.optimize.span import SpanRunner
from tradpal.strategies import get_strategy, resolve_params

DEFAULT_HOLDOUT = 0.25
DEFAULT_FOLDS = 4


@dataclasses.dataclass(frozen=True)
class Spans:
    """Bar positions of one evaluation: search span ``[0, n_search)``, holdout
    ``[n_search, n_bars)``, folds as ``(lo, start, end)``: the fold's frame is bars
    ``[lo, end)`` and it trades ``[start, end)``."""

    n_bars: int
    n_search: int
    folds: tuple[tuple[int, int, int], ...]
    warmup: int | None

    @property
    def holdout(self) -> tuple[int, int] | None:
        if self.n_search == self.n_bars:
            return None
        lo = 0 if self.warmup is None else max(0, self.n_search - self.warmup)
        return lo, self.n_search


def plan_spans(n_bars: int, validation: Validation | Mapping[str, Any] | None = None) -> Spans:
    """The spans of an evaluation over ``n_bars`` bars (module docstring) under
    ``validation`` (:class:`~tradpal.discovery.request.Validation`, or its JSON): ``holdout``
    (fraction in [0, 1), default 0.25), ``folds`` (>= 1, default 4), ``warmup`` (bars before
    a fold or the holdout the strategy may see; unset: one fold length, null: all)."""
    if not isinstance(validation, Validation):
        validation = validated(Validation, dict(validation or {}), error=DiscoveryError)
    holdout, folds = validation.holdout, validation.folds
    n_search = n_bars - int(n_bars * holdout)
    fold_len = n_search // (folds + 1)
    if fold_len < 2:
        raise DiscoveryError(
            f"{n_bars} bars are too few for {folds} folds and a holdout of {holdout}",
            hint="load more bars or use fewer folds",
        )
    warmup = validation.warmup if "warmup" in validation.model_fields_set else fold_len
    plan = plan_windows(
        n_search, in_sample=n_search - folds * fold_len, out_sample=fold_len, step=fold_len
    )
    spans = tuple(
        (0 if warmup is None else max(0, w.oos_start - warmup), w.oos_start, w.oos_end)
        for w in plan
    )
    return Spans(n_bars, n_search, spans, warmup)


def returns_stats(equity: np.ndarray, initial_capital: float) -> dict[str, float | int]:
    """Moments of the bar returns ``E_t / E_{t-1} - 1`` (``E_0`` the capital), as
    :func:`tradpal.backtest.compute_metrics` defines them: ``n_obs``, ``mean``, ``std``
    (ddof=1), ``sharpe`` (per bar, not annualised), ``skew``, ``kurtosis`` (Pearson)."""
    e = np.asarray(equity, dtype=np.float64)
    prev = np.concatenate(([initial_capital], e[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev != 0, e / prev - 1.0, 0.0)
    n = len(r)
    mean = float(r.mean()) if n else 0.0
    std = float(r.std(ddof=1)) if n >= 2 else 0.0
    d = r - mean
    m2 = float(np.mean(d * d)) if n else 0.0
    skew, kurt = 0.0, 3.0  # a flat curve: the normal law's moments (no evidence of tails)
    if m2 > 0:
        skew = float(np.mean(d**3)) / m2**1.5
        kurt = float(np.mean(d**4)) / m2**2
    return {
        "n_obs": n,
        "mean": mean,
        "std": std,
        "sharpe": mean / std if std > 0 else 0.0,
        "skew": skew,
        "kurtosis": kurt,
    }


def _finite_or_none(values: Sequence[float]) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def load_batch_frame(data: Mapping[str, Any] | None) -> pd.DataFrame:
    """The frame a data reference names (:func:`tradpal.data.loading.load_ohlcv`).

    ``data``: ``source`` (``sample``, ``store``, a file path or a source spec),
    ``symbol``, ``timeframe``, ``start``, ``end``, optional ``seed`` and ``bars``
    (``sample``). A ``sample`` without ``end`` would depend on the clock, so it is an
    error: every batch of a search must see the same bars.
    """
    from tradpal.data.loading import load_ohlcv
    from tradpal.data.reference import DataRef

    ref = validated(DataRef, dict(data or {"source": ""}), error=DiscoveryError)
    if ref.source == "sample" and ref.end is None:
        raise DiscoveryError(
            "a sample data reference needs an end time: without one each batch would "
            "load the bars before its own clock",
            hint="pin data.end (and start) when planning the search",
        )
    extra = {k: v for k, v in (("seed", ref.seed), ("bars", ref.bars)) if v is not None}
    return load_ohlcv(
        ref.source,
        symbol=ref.symbol,
        timeframe=ref.timeframe,
        start=ref.start,
        end=ref.end,
        **extra,
    )


def evaluate(
    batch: EvaluateBatch | Mapping[str, Any], *, frame: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Score every candidate of ``batch`` (module docstring) and return plain JSON:
    ``{"batch_id", "generation", "results": [{"id", "params", "values", "folds", "is",
    "oos", "num_trades", "returns_stats"}]}`` in the batch's candidate order.

    ``frame`` replaces loading ``batch["data"]`` (a caller that already holds it).
    The same batch and data give the same result, bit for bit.
    """
    work = (
        batch
        if isinstance(batch, EvaluateBatch)
        else validated(EvaluateBatch, batch, error=DiscoveryError)
    )
    name, candidates = work.strategy, [c.model_dump() for c in work.candidates]
    objectives, min_trades = work.objectives, work.min_trades
    if frame is None:
        frame = load_batch_frame(work.data.to_json() if work.data else None)
    ensure_ohlcv(frame)
    spans = plan_spans(len(frame), work.validation)
    try:
        strategy = get_strategy(name)
        tf = frame_timeframe(frame)
        space = SearchSpace.for_strategy(name, risk=work.risk)
        base = config_for(tf.name, **work.config)
        runs = [_candidate_run(space, strategy, frame, base, c["params"]) for c in candidates]
    except DiscoveryError:
        raise
    except TradPalError as exc:
        raise DiscoveryError(exc.message, hint=exc.hint) from exc
    out = {"batch_id": work.batch_id, "generation": work.generation, "results": []}
    if not runs:
        return out
    # A window's engine inputs (ATR, volatility) come from its SpanRunner's config, so the
    # SpanRunner takes a candidate's config: all candidates share the ATR and volatility settings.
    batch_config = runs[0][1]

    def window(lo: int, start: int, end: int) -> tuple[SpanRunner, list[tuple[Any, Metrics]]]:
        b = SpanRunner(frame.iloc[lo:end], strategy, batch_config, start=start - lo, timeframe=tf)
        b.prefetch([p for p, _ in runs])
        done = []
        for params, cfg in runs:
            sim = b.run(params, cfg)
            done.append((sim, b.metrics(sim)))
        return b, done

    try:
        fold_runs = [window(*f)[1] for f in spans.folds]
        _, is_runs = window(0, 0, spans.n_search)
        hold = spans.holdout
        oos_runs = window(hold[0], hold[1], spans.n_bars)[1] if hold else None
    except TradPalError as exc:
        if isinstance(exc, DiscoveryError):
            raise
        raise DiscoveryError(exc.message, hint=exc.hint) from exc
    for k, c in enumerate(candidates):
        capital = runs[k][1].capital
        # vars(): the metrics' fields as a mapping, without asdict's deep copy
        per_fold = [
            objective_values(vars(r[k][1]), objectives, capital=capital, min_trades=0)
            for r in fold_runs
        ]
        trades = sum(r[k][1].num_trades for r in fold_runs)
        if trades < min_trades:
            values: list[float | None] = [None] * len(objectives)
        else:
            values = _finite_or_none(np.mean(np.asarray(per_fold, dtype=np.float64), axis=0))
        sim, is_metrics = is_runs[k]
        out["results"].append(
            {
                "id": c["id"],
                "params": dict(c["params"]),
                "values": values,
                "folds": [
                    {"values": _finite_or_none(v), "num_trades": r[k][1].num_trades}
                    for v, r in zip(per_fold, fold_runs, strict=True)
                ],
                "is": is_metrics.to_dict(),
                "oos": None if oos_runs is None else oos_runs[k][1].to_dict(),
                "num_trades": trades,
                "returns_stats": returns_stats(sim.equity, capital),
            }
        )
    return out


def _candidate_run(
    space: SearchSpace, strategy: Any, frame: pd.DataFrame, base: Any, candidate: Mapping
) -> tuple[dict[str, Any], Any]:
    """A candidate's complete strategy params and its BacktestConfig (risk params applied)."""
    params, overrides = space.split(candidate)
    cfg = dataclasses.replace(base, **overrides) if overrides else base
    return resolve_params(strategy, frame, params), cfg


def holdout_equity(
    request: Mapping[str, Any], params: Mapping[str, Any], *, frame: pd.DataFrame | None = None
) -> dict[str, list] | None:
    """The equity curve of ``params`` over the held-out bars, traded exactly as
    :func:`evaluate` trades them (same warm-up, config and risk split), as
    ``{"time": [ISO 8601...], "equity": [...]}``; None when there is no holdout."""
    if frame is None:
        frame = load_batch_frame(request["data"])
    spans = plan_spans(len(frame), request.get("validation"))
    if not spans.holdout:
        return None
    name = request["strategy"]
    strategy = get_strategy(name)
    tf = frame_timeframe(frame)
    space = SearchSpace.for_strategy(name, risk=bool(request.get("risk", True)))
    base = config_for(tf.name, **dict(request.get("config") or {}))
    run_params, cfg = _candidate_run(space, strategy, frame, base, params)
    lo, start = spans.holdout
    sim = SpanRunner(frame.iloc[lo:], strategy, cfg, start=start - lo, timeframe=tf).run(
        run_params, cfg
    )
    times = frame.index[start:]
    return {"time": [t.isoformat() for t in times], "equity": [float(v) for v in sim.equity]}


__all__ = [
    "DEFAULT_FOLDS",
    "DEFAULT_HOLDOUT",
    "Spans",
    "evaluate",
    "holdout_equity",
    "load_batch_frame",
    "plan_spans",
    "returns_stats",
]
