"""Per-fold metrics of a classifier of the labels in :mod:`tradpal.ml.labels` (pure numpy).

Conventions (``y_true`` in ``classes``, typically ``(-1, 0, 1)`` or ``(-1, 1)``;
``proba[i, j]`` the probability that sample ``i`` has label ``classes[j]``, the column
order of a scikit-learn ``predict_proba`` with ``model.classes_``):

* the *prediction* is the class of highest probability (the first in ``classes`` order on a
  tie), and ``accuracy`` the share of predictions equal to the label;
* ``log_loss`` is ``-mean_i ln(clip(proba[i, y_i], eps, 1 - eps))`` with ``eps`` float64's
  machine epsilon, the natural logarithm and no renormalisation: exactly scikit-learn's
  ``log_loss(y_true, proba, labels=classes)``;
* a *trade* is a prediction of ``+1`` or ``-1`` whose probability is strictly above
  ``threshold``; a prediction of 0, or one not above the threshold, is no trade;
* ``precision`` = trades whose label equals the predicted side / trades. A trade on a bar
  labelled 0 is a wrong trade (it counts in the denominator only). No trades: NaN;
* ``recall`` = the same correct trades / bars labelled ``+1`` or ``-1``. Bars labelled 0
  are not in the denominator (there was no trade to catch). No ``±1`` label: NaN.

NaN means "undefined", never 0; :meth:`FoldMetrics.to_dict` writes it as ``None`` so the
dict is strict JSON.

:func:`strategy_returns` trades the predicted side bar by bar in return space with the
backtest engine's fee convention; :func:`oos_sharpe` annualises its Sharpe ratio with
:func:`tradpal.backtest.compute_metrics` and deflates it with
:func:`tradpal.optimize.objectives.deflated_sharpe`, the functions the backtests and
discovery use. :func:`cv_report` runs a fit/predict callable over the splitters of
:mod:`tradpal.ml.validation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tradpal.backtest.metrics import compute_metrics
from tradpal.discovery.evaluate import returns_stats
from tradpal.errors import ConfigError
from tradpal.optimize.objectives import deflated_sharpe

__all__ = [
    "CVReport",
    "FoldMetrics",
    "cv_report",
    "fold_metrics",
    "oos_sharpe",
    "strategy_returns",
]

_EPS = float(np.finfo(np.float64).eps)


class MetricsError(ConfigError, ValueError):
    """Inputs the metrics cannot be computed from (shapes, classes, thresholds)."""


@dataclass(frozen=True)
class FoldMetrics:
    """One fold's out-of-sample metrics (definitions in the module docstring)."""

    n_test: int
    accuracy: float
    log_loss: float
    precision: float
    recall: float
    n_trades: int
    n_train: int = 0
    fold: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The fields as a strict-JSON dict (NaN -> None)."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def _classes(classes: Sequence[Any]) -> np.ndarray:
    c = np.asarray(classes)
    if c.ndim != 1 or len(c) < 2 or len(np.unique(c)) != len(c):
        raise MetricsError(
            f"classes must be at least two distinct labels, not {classes!r}",
            hint="pass model.classes_, e.g. classes=(-1, 0, 1)",
        )
    return c


def fold_metrics(
    y_true: Any, proba: Any, *, classes: Sequence[Any], threshold: float = 0.0
) -> FoldMetrics:
    """Accuracy, log loss and the trade side's precision/recall of one fold.

    ``proba`` has shape ``(n, len(classes))``; ``threshold`` in ``[0, 1)``. See the module
    docstring for the exact definitions (NaN precision without trades, NaN recall without
    ``±1`` labels).
    """
    c = _classes(classes)
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 2 or p.shape != (len(y), len(c)) or len(y) == 0:
        raise MetricsError(
            f"y_true has shape {y.shape} and proba {p.shape}; "
            f"expected (n,) and (n, {len(c)}) with n >= 1",
            hint="pass predict_proba's output with one column per class",
        )
    if not np.isfinite(p).all():
        raise MetricsError("proba has non-finite values", hint="check the model's output")
    if isinstance(threshold, bool) or not 0.0 <= float(threshold) < 1.0:
        raise MetricsError(f"threshold must be in [0, 1), not {threshold!r}")
    order = np.argsort(c)
    col = order[np.clip(np.searchsorted(c, y, sorter=order), 0, len(c) - 1)]
    if not (c[col] == y).all():
        raise MetricsError(
            f"y_true has labels outside classes {c.tolist()}",
            hint="pass every label the fold can have in classes",
        )
    n = len(y)
    best = p.argmax(axis=1)
    pred = c[best]
    accuracy = float(np.mean(pred == y))
    log_loss = float(-np.mean(np.log(np.clip(p[np.arange(n), col], _EPS, 1 - _EPS))))
    side = np.isin(pred, (1, -1))
    trade = side & (p[np.arange(n), best] > float(threshold))
    correct = int(np.count_nonzero(trade & (pred == y)))
    n_trades = int(np.count_nonzero(trade))
    n_true = int(np.count_nonzero(np.isin(y, (1, -1))))
    return FoldMetrics(
        n_test=n,
        accuracy=accuracy,
        log_loss=log_loss,
        precision=correct / n_trades if n_trades else math.nan,
        recall=correct / n_true if n_true else math.nan,
        n_trades=n_trades,
    )


def strategy_returns(predictions: Any, forward_returns: Any, *, fees: float) -> np.ndarray:
    """Per-bar returns of holding the predicted side: ``pos[t] * fwd[t] - fees *
    |pos[t] - pos[t-1]|`` with ``pos[-1] = 0``.

    ``predictions`` in {-1, 0, +1}: the position taken at bar ``t``'s close (the engine's
    ``fill="close"``) and held for the next bar; ``forward_returns[t]`` = ``close[t+1] /
    close[t] - 1`` (one bar, not the label's horizon). ``fees`` is the engine's
    :class:`~tradpal.backtest.BacktestConfig` fee: a fraction of notional per fill, so
    opening or closing costs ``fees``, a reversal (two fills) ``2 * fees``. In return space,
    all-in at leverage 1, without slippage or stops; a position still open after the last
    bar pays no exit fee (the engine marks it at the last close). The backtest engine
    (:func:`tradpal.backtest.simulate`) needs prices and bar-by-bar state; this is its
    first-order equivalent for predictions that exist only on sample rows.
    """
    pos = np.asarray(predictions, dtype=np.float64)
    fwd = np.asarray(forward_returns, dtype=np.float64)
    if pos.ndim != 1 or pos.shape != fwd.shape:
        raise MetricsError(
            f"predictions {pos.shape} and forward_returns {fwd.shape} must be 1-d, equal length"
        )
    if not np.isin(pos, (-1.0, 0.0, 1.0)).all():
        raise MetricsError("predictions must be -1, 0 or +1", hint="pass the predicted side")
    if not np.isfinite(fwd).all():
        raise MetricsError(
            "forward_returns has NaN or infinite values",
            hint="drop the last bar (it has no next close) and bars without prices",
        )
    f = float(fees)
    if not 0.0 <= f < 1.0:
        raise MetricsError(f"fees must be in [0, 1), not {fees!r}", hint="0.001 = 0.1 %")
    turnover = np.abs(np.diff(pos, prepend=0.0))
    return pos * fwd - f * turnover


def oos_sharpe(
    returns: Any, *, bars_per_year: float, n_trials: int = 1, sharpe_std: float = 0.0
) -> dict[str, float | int]:
    """The out-of-sample Sharpe ratio of per-bar ``returns`` and its deflated Sharpe.

    ``sharpe``: :func:`tradpal.backtest.compute_metrics`'s, ``mean / std(ddof=1) *
    sqrt(bars_per_year)`` of the equity ``cumprod(1 + r)`` (``bars_per_year`` as
    :func:`tradpal.indicators.bars_per_year` gives it: 8,760 for 1h crypto).
    ``deflated_sharpe``: :func:`tradpal.optimize.objectives.deflated_sharpe` of the
    per-bar Sharpe with the moments of :func:`tradpal.discovery.evaluate.returns_stats`,
    over ``n_trials`` configurations tried whose per-bar Sharpe ratios have standard
    deviation ``sharpe_std`` (as discovery computes it). Needs at least two returns.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or len(r) < 2 or not np.isfinite(r).all():
        raise MetricsError("returns must be at least two finite per-bar returns")
    equity = np.cumprod(1.0 + r)
    m = compute_metrics(
        equity,
        np.empty(0),
        np.empty(0),
        0.0,
        bars_per_year=bars_per_year,
        buy_and_hold_return=0.0,
        initial_capital=1.0,
    )
    stats = returns_stats(equity, 1.0)
    dsr = deflated_sharpe(
        stats["sharpe"],
        n_trials=n_trials,
        n_obs=int(stats["n_obs"]),
        skew=stats["skew"],
        kurtosis=stats["kurtosis"],
        sharpe_std=sharpe_std,
    )
    return {
        "sharpe": m.sharpe,
        "sharpe_per_bar": float(stats["sharpe"]),
        "deflated_sharpe": float(dsr),
        "n_obs": int(stats["n_obs"]),
        "n_trials": int(n_trials),
    }


@dataclass(frozen=True)
class CVReport:
    """What :func:`cv_report` returns: the folds' metrics and the pooled out-of-sample
    probabilities (the mean over the splits that tested each sample, NaN for a sample no
    split tested) with ``n_tested`` per sample (1 everywhere for PurgedKFold)."""

    folds: list[FoldMetrics]
    oos_proba: np.ndarray
    n_tested: np.ndarray
    classes: np.ndarray

    @property
    def oos_pred(self) -> np.ndarray:
        """The pooled prediction per sample (argmax of ``oos_proba``; tested rows only
        are meaningful)."""
        return self.classes[np.nan_to_num(self.oos_proba, nan=-1.0).argmax(axis=1)]


def _rows(a: Any, idx: np.ndarray) -> Any:
    return a.iloc[idx] if hasattr(a, "iloc") else np.asarray(a)[idx]


def cv_report(
    splitter: Any,
    X: Any,
    y: Any,
    fit_predict: Callable[[Any, np.ndarray, Any], Any],
    *,
    classes: Sequence[Any],
    threshold: float = 0.0,
) -> CVReport:
    """Run ``fit_predict(X_train, y_train, X_test) -> proba`` over ``splitter.split(X)``.

    ``splitter``: any object with ``split(X)`` yielding ``(train, test)`` positions (the
    splitters of :mod:`tradpal.ml.validation`); ``X`` an array or DataFrame (rows taken by
    position), ``y`` the labels; ``proba`` columns in ``classes`` order. Each fold's
    :class:`FoldMetrics` carries its index and training size.
    """
    c = _classes(classes)
    yv = np.asarray(y)
    n = len(yv)
    total = np.zeros((n, len(c)))
    count = np.zeros(n, dtype=np.int64)
    folds: list[FoldMetrics] = []
    splits: Iterable[tuple[np.ndarray, np.ndarray]] = splitter.split(X)
    for k, (train, test) in enumerate(splits):
        proba = np.asarray(fit_predict(_rows(X, train), yv[train], _rows(X, test)), dtype=float)
        m = fold_metrics(yv[test], proba, classes=c, threshold=threshold)
        folds.append(FoldMetrics(**{**asdict(m), "n_train": len(train), "fold": k}))
        total[test] += proba
        count[test] += 1
    with np.errstate(invalid="ignore"):
        pooled = np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], np.nan)
    return CVReport(folds=folds, oos_proba=pooled, n_tested=count, classes=c)
