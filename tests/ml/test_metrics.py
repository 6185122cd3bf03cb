"""tradpal.ml.metrics: accuracy and log loss equal scikit-learn's (hypothesis), precision and
recall of the trade side by hand, the Sharpe / deflated Sharpe equal the project's own
functions, and cv_report over PurgedKFold on real BTC 1h labels measures no skill for a
majority model and perfect skill for a planted leak."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import accuracy_score, log_loss

from tradpal.backtest.metrics import compute_metrics
from tradpal.data.importers import import_binance_klines
from tradpal.discovery.evaluate import returns_stats
from tradpal.indicators.core import bars_per_year
from tradpal.ml.labels import sample_spans, triple_barrier
from tradpal.ml.metrics import (
    FoldMetrics,
    MetricsError,
    cv_report,
    fold_metrics,
    oos_sharpe,
    strategy_returns,
)
from tradpal.ml.validation import CombinatorialPurgedCV, PurgedKFold
from tradpal.optimize.objectives import deflated_sharpe

CLASSES = (-1, 0, 1)


# --- accuracy and log loss against scikit-learn ------------------------------------------


@st.composite
def labelled_proba(draw):
    n = draw(st.integers(1, 40))
    k = draw(st.sampled_from([2, 3]))
    classes = CLASSES if k == 3 else (-1, 1)
    y = np.array(draw(st.lists(st.sampled_from(classes), min_size=n, max_size=n)))
    w = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(0.0, 1.0)))
    w[w.sum(axis=1) == 0, 0] = 1.0  # a row of zeros is no distribution
    # some rows one-hot, so the clipping at eps and 1 - eps is exercised
    if draw(st.booleans()):
        w[0] = 0.0
        w[0, draw(st.integers(0, k - 1))] = 1.0
    return y, w / w.sum(axis=1, keepdims=True), classes


@settings(max_examples=200, deadline=None)
@given(labelled_proba(), st.floats(0.0, 0.99))
def test_accuracy_and_log_loss_equal_scikit_learn(case, threshold) -> None:
    y, p, classes = case
    m = fold_metrics(y, p, classes=classes, threshold=threshold)
    pred = np.asarray(classes)[p.argmax(axis=1)]
    assert m.accuracy == accuracy_score(y, pred)
    assert m.log_loss == pytest.approx(log_loss(y, p, labels=list(classes)), rel=1e-12, abs=1e-15)
    assert m.n_test == len(y)
    assert 0 <= m.n_trades <= len(y)


# --- precision and recall by hand ---------------------------------------------------------


def test_precision_recall_by_hand() -> None:
    y = np.array([1, 1, -1, 0, -1, 1, 0])
    p = np.array(
        [
            [0.1, 0.1, 0.8],  # +1 at 0.8: a trade, right
            [0.7, 0.1, 0.2],  # -1 at 0.7: a trade, wrong (label +1)
            [0.9, 0.05, 0.05],  # -1 at 0.9: a trade, right
            [0.1, 0.2, 0.7],  # +1 at 0.7: a trade on a 0 label, wrong
            [0.55, 0.0, 0.45],  # -1 at 0.55: not above 0.6, no trade (a miss for recall)
            [0.2, 0.7, 0.1],  # predicts 0: no trade (a miss)
            [0.3, 0.4, 0.3],  # predicts 0: no trade, label 0: nothing
        ]
    )
    m = fold_metrics(y, p, classes=CLASSES, threshold=0.6)
    assert m.n_trades == 4
    assert m.precision == 2 / 4  # rows 0 and 2 of the 4 trades
    assert m.recall == 2 / 5  # of the five ±1 labels (rows 0, 1, 2, 4, 5)
    assert m.accuracy == 4 / 7  # rows 0, 2, 4, 6
    # at threshold 0 row 4 becomes a right trade
    m0 = fold_metrics(y, p, classes=CLASSES, threshold=0.0)
    assert (m0.n_trades, m0.precision, m0.recall) == (5, 3 / 5, 3 / 5)


def test_no_trades_and_no_side_labels_are_nan() -> None:
    y = np.array([1, -1, 0])
    p = np.array([[0.2, 0.6, 0.2], [0.45, 0.1, 0.45], [0.1, 0.8, 0.1]])  # argmax ties: -1
    m = fold_metrics(y, p, classes=CLASSES, threshold=0.5)  # the -1 at 0.45 is no trade
    assert m.n_trades == 0
    assert math.isnan(m.precision)
    assert m.recall == 0.0  # two ±1 labels, none caught
    d = m.to_dict()
    assert d["precision"] is None and d["recall"] == 0.0
    json.dumps(d, allow_nan=False)  # strict JSON
    only_zero = fold_metrics([0, 0], [[0.1, 0.1, 0.8]] * 2, classes=CLASSES, threshold=0.5)
    assert (only_zero.n_trades, only_zero.precision) == (2, 0.0)
    assert math.isnan(only_zero.recall)


@pytest.mark.parametrize(
    ("y", "p", "kw"),
    [
        ([1, 2], [[0.5, 0.5, 0.0]] * 2, {}),  # 2 not a class
        ([1], [[0.5, 0.5]], {}),  # two columns for three classes
        ([1], [[0.2, 0.3, 0.5]], {"threshold": 1.0}),
        ([1], [[np.nan, 0.5, 0.5]], {}),
        ([], np.empty((0, 3)), {}),
    ],
)
def test_bad_inputs_raise(y, p, kw) -> None:
    with pytest.raises(MetricsError):
        fold_metrics(y, p, classes=CLASSES, **kw)


# --- strategy returns, Sharpe and deflated Sharpe -------------------------------------


def test_strategy_returns_by_hand() -> None:
    pred = [1, 1, -1, 0, 0, 1]
    fwd = [0.01, -0.02, 0.03, 0.5, -0.5, 0.04]
    r = strategy_returns(pred, fwd, fees=0.001)
    # open long (1 fill), hold, reverse (2 fills), close (1), flat, open long (1, no exit)
    expected = [0.01 - 0.001, -0.02, -0.03 - 0.002, -0.001, 0.0, 0.04 - 0.001]
    np.testing.assert_allclose(r, expected, rtol=0, atol=1e-15)
    with pytest.raises(MetricsError):
        strategy_returns([2], [0.0], fees=0.0)
    with pytest.raises(MetricsError):
        strategy_returns([1], [np.nan], fees=0.0)


def test_sharpe_and_deflated_sharpe_are_the_projects() -> None:
    rng = np.random.default_rng(7)
    pred = rng.choice([-1, 0, 1], size=2000)
    fwd = rng.standard_t(4, size=2000) * 0.01
    r = strategy_returns(pred, fwd, fees=0.0005)
    p = bars_per_year("1h")
    assert p == 8760
    got = oos_sharpe(r, bars_per_year=p, n_trials=50, sharpe_std=0.02)
    equity = np.cumprod(1 + r)
    ref = compute_metrics(
        equity, np.empty(0), np.empty(0), 0.0, bars_per_year=p, buy_and_hold_return=0.0,
        initial_capital=1.0,
    )  # fmt: skip
    stats = returns_stats(equity, 1.0)
    assert got["sharpe"] == ref.sharpe
    # and the definition itself: mean / std(ddof=1) x sqrt(P) of the returns
    assert got["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(p), rel=1e-9)
    assert got["deflated_sharpe"] == deflated_sharpe(
        stats["sharpe"], n_trials=50, n_obs=2000, skew=stats["skew"],
        kurtosis=stats["kurtosis"], sharpe_std=0.02,
    )  # fmt: skip
    assert 0.0 <= got["deflated_sharpe"] <= 1.0
    # more configurations tried: a lower deflated Sharpe for the same returns
    more = oos_sharpe(r, bars_per_year=p, n_trials=5000, sharpe_std=0.02)
    assert more["deflated_sharpe"] <= got["deflated_sharpe"]


# --- cv_report on real BTC 1h labels ---------------------------------------------------


@pytest.fixture(scope="module")
def btc_labels(shared_data):
    btc, _ = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    btc = btc.iloc[:6000]
    lab = triple_barrier(btc, horizon=24, take_profit_atr=2.0, stop_atr=2.0)
    rows, t1 = sample_spans(lab)
    y = lab["label"].to_numpy(dtype=np.float64, na_value=np.nan)[rows].astype(np.int64)
    return y, t1


def majority(X_train, y_train, X_test):
    """No skill: the training fold's most frequent label, with certainty."""
    values, counts = np.unique(y_train, return_counts=True)
    proba = np.zeros((len(X_test), len(CLASSES)))
    proba[:, CLASSES.index(int(values[counts.argmax()]))] = 1.0
    return proba


def oracle(X_train, y_train, X_test):
    """The planted leak: the feature is the label."""
    x = np.asarray(X_test)[:, 0].astype(np.int64)
    return (x[:, None] == np.array(CLASSES)[None, :]).astype(float)


def test_cv_report_majority_has_no_skill_and_a_leak_is_perfect(btc_labels) -> None:
    y, t1 = btc_labels
    n = len(y)
    assert n > 5000 and set(np.unique(y)) <= set(CLASSES)
    cv = PurgedKFold(5, t1=t1, embargo_bars=24)
    noise = np.random.default_rng(0).normal(size=(n, 1))  # features unrelated to the label

    rep = cv_report(cv, noise, y, majority, classes=CLASSES, threshold=0.5)
    assert [f.fold for f in rep.folds] == list(range(5))
    assert (rep.n_tested == 1).all()  # PurgedKFold: each sample predicted exactly once
    assert sum(f.n_test for f in rep.folds) == n
    assert all(0 < f.n_train < n - f.n_test for f in rep.folds)  # purged and embargoed
    pooled = fold_metrics(y, rep.oos_proba, classes=CLASSES, threshold=0.5)
    base = np.unique(y, return_counts=True)[1].max() / n  # the majority class's share
    # no skill: at most the base rate (a fold's majority may differ from the whole's)
    assert pooled.accuracy <= base + 1e-12
    assert pooled.accuracy > base - 0.1
    for f in rep.folds:
        assert f.log_loss > 1.0  # certain and often wrong

    leak = cv_report(cv, y[:, None].astype(float), y, oracle, classes=CLASSES, threshold=0.5)
    assert all(f.accuracy == 1.0 for f in leak.folds)
    assert all(f.precision == 1.0 and f.recall == 1.0 for f in leak.folds)
    assert all(f.log_loss < 1e-12 for f in leak.folds)
    assert (leak.oos_pred == y).all()
    assert all(isinstance(f, FoldMetrics) for f in leak.folds)
    json.dumps([f.to_dict() for f in rep.folds + leak.folds], allow_nan=False)


def test_cv_report_pools_cpcv_over_its_tests(btc_labels) -> None:
    y, t1 = btc_labels
    cv = CombinatorialPurgedCV(6, 2, t1=t1, embargo_bars=24)
    rep = cv_report(cv, y[:, None].astype(float), y, oracle, classes=CLASSES)
    assert len(rep.folds) == cv.get_n_splits()
    assert (rep.n_tested == cv.n_paths).all()  # each sample tested by C(5, 1) = 5 splits
    assert (rep.oos_pred == y).all()
