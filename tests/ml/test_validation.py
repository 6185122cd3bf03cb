"""The purged splitters: hand-checked folds, the no-leak properties over random settings
(hypothesis), CPCV's counts and paths, input checks, and scikit-learn's cross_val_score."""

from __future__ import annotations

import importlib.util
from collections import Counter
from itertools import pairwise
from math import comb

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tradpal.errors import ConfigError
from tradpal.ml.validation import CombinatorialPurgedCV, PurgedKFold, SplitError, label_spans

HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None


def _r(a: int, b: int) -> list[int]:
    """``a .. b`` inclusive."""
    return list(range(a, b + 1))


# --- hand-checked -----------------------------------------------------------------------


def test_label_spans_cut_at_the_last_bar():
    assert label_spans(6, 2).tolist() == [2, 3, 4, 5, 5, 5]
    assert label_spans(3, 0).tolist() == [0, 1, 2]
    assert label_spans(3, 10).tolist() == [2, 2, 2]


def test_purged_kfold_n20_horizon3_four_folds_embargo2():
    # t1[i] = min(i + 3, 19). Fold test spans: [0, 7], [5, 12], [10, 17], [15, 19].
    # Fold 0: purge 5, 6, 7 (start inside [0, 7]); embargo 8, 9.
    # Fold 1: purge 2, 3, 4 (t1 = 5, 6, 7 reach the fold) and 10, 11, 12; embargo 13, 14.
    # Fold 2: purge 7, 8, 9 and 15, 16, 17; embargo 18, 19.
    # Fold 3: purge 12, 13, 14; the span ends at the last bar, nothing left to embargo.
    cv = PurgedKFold(4, t1=label_spans(20, 3), embargo_bars=2)
    got = [(tr.tolist(), te.tolist()) for tr, te in cv.split(np.zeros((20, 3)))]
    assert got == [
        (_r(10, 19), _r(0, 4)),
        (_r(0, 1) + _r(15, 19), _r(5, 9)),
        (_r(0, 6), _r(10, 14)),
        (_r(0, 11), _r(15, 19)),
    ]
    assert cv.get_n_splits() == 4


def test_purged_kfold_without_horizon_or_embargo_is_plain_kfold():
    cv = PurgedKFold(3, t1=label_spans(10, 0))
    got = [(tr.tolist(), te.tolist()) for tr, te in cv.split(range(10))]
    # first n % k folds one longer, as scikit-learn's KFold
    assert got == [(_r(4, 9), _r(0, 3)), (_r(0, 3) + _r(7, 9), _r(4, 6)), (_r(0, 6), _r(7, 9))]


def test_a_long_label_that_purges_all_training_raises():
    # triple-barrier-like spans, not non-decreasing: sample 1's label runs to the last bar,
    # so fold 0's test span is [0, 9] and every other sample overlaps it
    t1 = np.array([0, 9, 2, 3, 4, 5, 6, 7, 8, 9])
    with pytest.raises(SplitError, match=r"fold 0: purging .* leave no training sample"):
        list(PurgedKFold(2, t1=t1).split(range(10)))


def test_irregular_spans_purge_only_what_overlaps():
    t1 = np.array([0, 6, 2, 3, 4, 5, 6, 7, 8, 9])
    (tr0, te0), (tr1, te1) = PurgedKFold(2, t1=t1, embargo_bars=1).split(range(10))
    assert (te0.tolist(), tr0.tolist()) == (_r(0, 4), _r(8, 9))  # span [0, 6], embargo 7
    assert (te1.tolist(), tr1.tolist()) == (_r(5, 9), [0, 2, 3, 4])  # sample 1 reaches bar 6


def test_cpcv_n6_k2_counts_and_paths():
    n = 60
    cv = CombinatorialPurgedCV(6, 2, t1=label_spans(n, 2), embargo_bars=1)
    splits = list(cv.split(np.zeros(n)))
    assert len(splits) == cv.get_n_splits() == 15
    assert cv.n_paths == 5
    paths = cv.paths()
    assert paths.shape == (5, 6)
    # split order is itertools.combinations: (0,1), (0,2), ..., (4,5)
    assert cv.test_groups()[:3] == [(0, 1), (0, 2), (0, 3)]
    assert paths[:, 0].tolist() == [0, 1, 2, 3, 4]  # group 0 is tested in splits 0..4
    assert paths[0].tolist() == [0, 0, 1, 2, 3, 4]
    # split 0 tests groups 0 and 1 (bars 0..19): span [0, 21], purge 20, 21, embargo 22
    tr, te = splits[0]
    assert te.tolist() == _r(0, 19)
    assert tr.tolist() == _r(23, 59)
    # split 1 tests groups 0 and 2: purge around each group, embargo after each span
    tr, te = splits[1]
    assert te.tolist() == _r(0, 9) + _r(20, 29)
    assert tr.tolist() == _r(13, 17) + _r(33, 59)


# --- properties over random settings ------------------------------------------------------


def _spans(draw, n: int) -> np.ndarray:
    """Fixed-horizon spans, or irregular ones (each t1[i] in i .. min(i + h, n - 1))."""
    horizon = draw(st.integers(0, 12))
    if draw(st.booleans()):
        return label_spans(n, horizon)
    extra = np.array(draw(st.lists(st.integers(0, horizon), min_size=n, max_size=n)))
    return np.minimum(np.arange(n) + extra, n - 1)


@st.composite
def kfold_case(draw):
    n = draw(st.integers(4, 200))
    return n, _spans(draw, n), draw(st.integers(2, min(12, n))), draw(st.integers(0, 10))


@st.composite
def cpcv_case(draw):
    n = draw(st.integers(6, 200))
    n_groups = draw(st.integers(2, min(8, n)))
    k = draw(st.integers(1, n_groups - 1))
    return n, _spans(draw, n), n_groups, k, draw(st.integers(0, 10))


def _splits_or_reject(cv, n: int):
    try:
        return list(cv.split(np.zeros((n, 2))))
    except SplitError as err:  # purging emptied a training set: a clear error, no split
        assert "no training sample" in str(err)
        assume(False)


def _assert_no_leak(t1: np.ndarray, train: np.ndarray, test: np.ndarray, embargo: int) -> None:
    n = t1.size
    assert train.dtype.kind == "i" and test.dtype.kind == "i"
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)  # sorted, unique
    assert np.intersect1d(train, test).size == 0
    assert train.size > 0 and train.min() >= 0 and train.max() < n
    # no training label span [j, t1[j]] overlaps any test sample's span [i, t1[i]]
    overlap = (train[:, None] <= t1[test][None, :]) & (t1[train][:, None] >= test[None, :])
    assert not overlap.any()
    # no training sample within `embargo` bars after the end of any contiguous test block,
    # nor after the last bar its labels look at
    blocks = np.split(test, np.flatnonzero(np.diff(test) > 1) + 1)
    for block in blocks:
        for end in (int(block[-1]), int(t1[block].max())):
            after = (train > end) & (train <= end + embargo)
            assert not after.any()


@settings(max_examples=200, deadline=None)
@given(kfold_case())
def test_purged_kfold_never_leaks(case):
    n, t1, n_splits, embargo = case
    cv = PurgedKFold(n_splits, t1=t1, embargo_bars=embargo)
    splits = _splits_or_reject(cv, n)
    assert len(splits) == cv.get_n_splits() == n_splits
    tested = np.concatenate([te for _, te in splits])
    assert sorted(tested.tolist()) == list(range(n))  # every sample in exactly one test fold
    starts = [int(te[0]) for _, te in splits]
    assert starts == sorted(starts)  # time order
    for train, test in splits:
        assert np.all(np.diff(test) == 1)  # contiguous
        _assert_no_leak(t1, train, test, embargo)


@settings(max_examples=200, deadline=None)
@given(kfold_case())
def test_purging_removes_only_what_it_must(case):
    """Training is exactly the complement of the test fold minus the overlapping and
    embargoed samples: a sample that neither overlaps nor is embargoed stays in."""
    n, t1, n_splits, embargo = case
    splits = _splits_or_reject(PurgedKFold(n_splits, t1=t1, embargo_bars=embargo), n)
    for train, test in splits:
        a, span_end = int(test[0]), int(t1[test].max())
        pos = np.arange(n)
        kept = ~((pos <= span_end) & (t1 >= a)) & ~((pos > span_end) & (pos <= span_end + embargo))
        assert train.tolist() == np.flatnonzero(kept).tolist()


@settings(max_examples=200, deadline=None)
@given(cpcv_case())
def test_cpcv_counts_paths_and_no_leak(case):
    n, t1, n_groups, k, embargo = case
    cv = CombinatorialPurgedCV(n_groups, k, t1=t1, embargo_bars=embargo)
    splits = _splits_or_reject(cv, n)
    assert len(splits) == cv.get_n_splits() == comb(n_groups, k)
    bounds = cv.group_bounds()
    assert bounds[0][0] == 0 and bounds[-1][1] == n - 1
    assert all(b[1] + 1 == c[0] for b, c in pairwise(bounds))
    groups_tested = Counter(g for groups in cv.test_groups() for g in groups)
    assert all(groups_tested[g] == comb(n_groups - 1, k - 1) for g in range(n_groups))
    for (train, test), groups in zip(splits, cv.test_groups(), strict=True):
        expected = [i for g in groups for i in range(bounds[g][0], bounds[g][1] + 1)]
        assert test.tolist() == expected
        _assert_no_leak(t1, train, test, embargo)
    # phi = k / N * C(N, k) paths; each covers every group once, from a split testing it,
    # and together they use every (split, test group) pair exactly once
    paths = cv.paths()
    phi = k * comb(n_groups, k) // n_groups
    assert cv.n_paths == phi == comb(n_groups - 1, k - 1)
    assert paths.shape == (phi, n_groups)
    test_groups = cv.test_groups()
    for row in paths:
        assert all(g in test_groups[s] for g, s in enumerate(row.tolist()))
    used = Counter((int(s), g) for row in paths for g, s in enumerate(row.tolist()))
    assert set(used.values()) == {1}
    assert sorted(used) == sorted((s, g) for s, groups in enumerate(test_groups) for g in groups)
    # each path's test positions are 0 .. n-1 exactly once
    for row in paths:
        covered = [i for g, s in enumerate(row.tolist()) for i in range(*_incl(bounds[g]))]
        assert covered == list(range(n))
        assert all(
            np.isin(np.arange(*_incl(bounds[g])), splits[s][1]).all()
            for g, s in enumerate(row.tolist())
        )


def _incl(bound: tuple[int, int]) -> tuple[int, int]:
    return bound[0], bound[1] + 1


# --- input checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: PurgedKFold(1, t1=label_spans(10, 1)), "n_splits must be >= 2"),
        (lambda: PurgedKFold(11, t1=label_spans(10, 1)), "more than the 10 samples"),
        (lambda: PurgedKFold(True, t1=label_spans(10, 1)), "must be an integer"),
        (lambda: PurgedKFold(2, t1=label_spans(10, 1), embargo_bars=-1), "embargo_bars"),
        (lambda: PurgedKFold(2, t1=label_spans(10, 1), embargo_bars=0.01), "must be an integer"),
        (lambda: PurgedKFold(2, t1=np.array([0, 0, 2])), r"t1\[1\] = 0 is before"),
        (lambda: PurgedKFold(2, t1=np.array([1, 3, 2])), r"t1\[1\] = 3 is past"),
        (lambda: PurgedKFold(2, t1=np.array([0.0, 1.0])), "integer bar positions"),
        (lambda: PurgedKFold(2, t1=np.zeros((2, 2), dtype=int)), "1-D"),
        (lambda: CombinatorialPurgedCV(4, 4, t1=label_spans(10, 1)), "less than n_groups"),
        (lambda: CombinatorialPurgedCV(4, 0, t1=label_spans(10, 1)), "n_test_groups"),
        (lambda: CombinatorialPurgedCV(11, 2, t1=label_spans(10, 1)), "more than the 10"),
        (lambda: label_spans(5, -1), "horizon must be >= 0"),
    ],
)
def test_bad_settings_raise_clear_errors(make, match):
    with pytest.raises(SplitError, match=match) as info:
        make()
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    assert info.value.hint


def test_t1_as_a_pandas_nullable_integer_column():
    pd = pytest.importorskip("pandas")
    t1 = pd.Series(label_spans(20, 3), dtype="Int64")
    got = [te.tolist() for _, te in PurgedKFold(4, t1=t1, embargo_bars=2).split(range(20))]
    assert got[0] == _r(0, 4)
    with pytest.raises(SplitError, match="missing values"):
        PurgedKFold(2, t1=pd.Series([1, None, 2], dtype="Int64"))


def test_split_checks_the_sample_count():
    cv = PurgedKFold(2, t1=label_spans(10, 1))
    with pytest.raises(SplitError, match="X has 9 samples but t1 has 10"):
        next(cv.split(np.zeros((9, 2))))


# --- scikit-learn -------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_SKLEARN, reason="scikit-learn is not installed in this environment")
@pytest.mark.parametrize("kind", ["kfold", "cpcv"])
def test_usable_as_a_scikit_learn_cv(kind):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, cross_val_score

    rng = np.random.default_rng(7)
    n = 300
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    t1 = label_spans(n, 5)
    if kind == "kfold":
        cv = PurgedKFold(5, t1=t1, embargo_bars=3)
    else:
        cv = CombinatorialPurgedCV(6, 2, t1=t1, embargo_bars=3)
    scores = cross_val_score(LogisticRegression(), X, y, cv=cv)
    assert scores.shape == (cv.get_n_splits(),)
    assert scores.mean() > 0.7  # the signal is real and learnable
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=cv).fit(X, y)
    assert search.n_splits_ == cv.get_n_splits()
