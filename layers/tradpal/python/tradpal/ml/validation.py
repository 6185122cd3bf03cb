"""Cross-validation splitters that cannot leak labels into training (pure numpy).

Purged k-fold with an embargo and combinatorial purged cross-validation (CPCV), after
Lopez de Prado, *Advances in Financial Machine Learning*, chapters 7 and 12.

Conventions
-----------
- **Indices are bar positions** ``0 .. n-1`` of the samples (rows of ``X``) in time order;
  nothing is ever shuffled.
- **Label spans** are given as ``t1``: an int array of length ``n`` where ``t1[i]`` is the
  position of the *last* bar that sample ``i``'s label looks at. Sample ``i``'s label uses
  bars ``i .. t1[i]``, **both ends inclusive**, so ``i <= t1[i] <= n - 1``. ``t1`` need not
  be non-decreasing (triple-barrier labels end when a barrier is hit). For a fixed horizon
  of ``h`` bars use :func:`label_spans`. A numpy int array, a list or a pandas integer
  column (nullable ``Int64`` without missing values) is accepted.
- ``t1`` is passed to the **constructor**, as Lopez de Prado's ``PurgedKFold`` does: the
  splitter then fits scikit-learn's protocol unchanged (``split(X, y=None, groups=None)``
  and ``get_n_splits()``, so it can be given as ``cv=`` to ``cross_val_score``,
  ``GridSearchCV`` and the like), and ``groups`` keeps its scikit-learn meaning and is
  ignored. ``split`` checks that ``len(X) == len(t1)``.
- **Test span** of a contiguous test block ``a .. b``: ``[a, T]`` with ``T = max(t1[a..b])``,
  the union of its samples' label spans.
- **Purging**: a training sample ``j`` is removed when its span ``[j, t1[j]]`` overlaps a
  test span ``[a, T]``, that is when ``j <= T and t1[j] >= a``. This removes the samples
  before the block whose labels reach into it and every sample after it up to ``T``.
- **Embargo**: ``embargo_bars`` (an int number of bars, not a fraction) more samples after
  each test span, positions ``T + 1 .. T + embargo_bars``, are removed from training too.
  The embargo starts after ``T``, the last bar a test label looks at (as in the book's
  code, without its off-by-one at ``T``); since ``T >= b`` no training sample lies within
  ``embargo_bars`` bars after the test block's last sample either.

A split whose training set is emptied by purging and embargo raises :class:`SplitError`
rather than yielding nothing to train on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations
from math import comb
from typing import Any

import numpy as np
import numpy.typing as npt

from tradpal.errors import ConfigError

__all__ = [
    "CombinatorialPurgedCV",
    "PurgedKFold",
    "SplitError",
    "label_spans",
]

IntArray = npt.NDArray[np.int64]


class SplitError(ConfigError, ValueError):
    """A splitter's settings or label spans are invalid for the data (also a ValueError,
    as scikit-learn's own splitters raise)."""


def _positive_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise SplitError(
            f"{name} must be an integer, got {value!r}", hint=f"pass an int >= {minimum}"
        )
    if value < minimum:
        raise SplitError(f"{name} must be >= {minimum}, got {value}", hint=f"use {minimum} or more")
    return int(value)


def label_spans(n: int, horizon: int) -> IntArray:
    """``t1`` for fixed-horizon labels: ``t1[i] = min(i + horizon, n - 1)``.

    A label over the next ``horizon`` bars (e.g. the sign of the return from the close of
    ``i`` to the close of ``i + horizon``) looks at bars ``i .. i + horizon``; near the end
    the span is cut at the last bar. ``horizon = 0`` means each label uses its own bar only.
    """
    n = _positive_int("n", n, 1)
    horizon = _positive_int("horizon", horizon, 0)
    return np.minimum(np.arange(n, dtype=np.int64) + horizon, n - 1)


def _check_t1(t1: Any) -> IntArray:
    if hasattr(t1, "isna") and getattr(getattr(t1, "dtype", None), "kind", "") in ("i", "u"):
        # a pandas integer column, nullable ``Int64`` included (tradpal.ml.labels' t1)
        if bool(t1.isna().any()):
            raise SplitError(
                "t1 has missing values: a sample without a label span cannot be purged",
                hint="drop the rows without a label first (tradpal.ml.labels.sample_spans)",
            )
        t1 = t1.to_numpy(dtype=np.int64)
    arr = np.asarray(t1)
    if arr.ndim != 1 or arr.size == 0:
        raise SplitError(
            f"t1 must be a non-empty 1-D array of bar positions, got shape {arr.shape}",
            hint="t1[i] is the position of the last bar sample i's label uses (label_spans)",
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise SplitError(
            f"t1 must hold integer bar positions, got dtype {arr.dtype}",
            hint="convert label end times to positions, e.g. with index.searchsorted",
        )
    arr = arr.astype(np.int64)
    n = arr.size
    before = np.flatnonzero(arr < np.arange(n))
    if before.size:
        i = int(before[0])
        raise SplitError(
            f"t1[{i}] = {int(arr[i])} is before its own sample {i}: a label cannot end "
            "before it starts",
            hint="t1[i] must be >= i (sample i's label uses bars i..t1[i])",
        )
    beyond = np.flatnonzero(arr >= n)
    if beyond.size:
        i = int(beyond[0])
        raise SplitError(
            f"t1[{i}] = {int(arr[i])} is past the last sample ({n - 1})",
            hint="t1 must be < n; cut spans at the last bar (label_spans does)",
        )
    return arr


def _n_samples(X: Any) -> int:
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None else len(X)


def _blocks(n: int, n_blocks: int) -> list[tuple[int, int]]:
    """Contiguous blocks ``(start, end)`` (inclusive) of ``0..n-1``; the first ``n % n_blocks``
    are one longer, as in scikit-learn's KFold and ``np.array_split``."""
    sizes = np.full(n_blocks, n // n_blocks, dtype=np.int64)
    sizes[: n % n_blocks] += 1
    ends = np.cumsum(sizes)
    return [(int(e - s), int(e - 1)) for s, e in zip(sizes, ends, strict=True)]


def _train_mask(t1: IntArray, test: Sequence[tuple[int, int]], embargo_bars: int) -> np.ndarray:
    """True where a sample may train: not in a test block, not purged, not embargoed."""
    n = t1.size
    pos = np.arange(n)
    keep = np.ones(n, dtype=bool)
    for a, b in test:
        span_end = int(t1[a : b + 1].max())
        keep[a : b + 1] = False
        keep &= ~((pos <= span_end) & (t1 >= a))  # purge: [j, t1[j]] overlaps [a, T]
        keep[span_end + 1 : span_end + 1 + embargo_bars] = False  # embargo after T
    return keep


class _Purged:
    """Shared input checks of the two splitters."""

    _t1: IntArray
    embargo_bars: int

    def _checked(self, X: Any, n_blocks: int, what: str) -> IntArray:
        n = _n_samples(X)
        if n != self._t1.size:
            raise SplitError(
                f"X has {n} samples but t1 has {self._t1.size}",
                hint="build the splitter with the t1 of exactly the rows passed to split",
            )
        if n_blocks > n:
            raise SplitError(
                f"{what} = {n_blocks} is more than the {n} samples",
                hint=f"use at most {n} {what}",
            )
        return self._t1

    def _split_of(self, test: list[tuple[int, int]], label: str) -> tuple[IntArray, IntArray]:
        keep = _train_mask(self._t1, test, self.embargo_bars)
        train = np.flatnonzero(keep).astype(np.int64)
        if train.size == 0:
            raise SplitError(
                f"{label}: purging and an embargo of {self.embargo_bars} bars leave no "
                "training sample",
                hint="use fewer folds/groups, a shorter label horizon or a smaller embargo",
            )
        test_idx = np.concatenate([np.arange(a, b + 1, dtype=np.int64) for a, b in test])
        return train, test_idx

    @property
    def t1(self) -> IntArray:
        """The label spans: ``t1[i]`` is the last bar sample ``i``'s label uses (a copy)."""
        return self._t1.copy()


class PurgedKFold(_Purged):
    """K-fold over contiguous, time-ordered test folds, purged and embargoed.

    Fold ``f`` tests the ``f``-th contiguous block of samples (sizes as scikit-learn's
    ``KFold``: the first ``n % n_splits`` folds one longer). Its training set is every other
    sample except those whose label span overlaps the fold's test span (purging) and the
    ``embargo_bars`` samples after that span (embargo); see the module's conventions.
    Every sample is tested in exactly one fold.

    >>> cv = PurgedKFold(4, t1=label_spans(20, 3), embargo_bars=2)
    >>> [(tr.tolist(), te.tolist()) for tr, te in cv.split(range(20))][1]
    ([0, 1, 15, 16, 17, 18, 19], [5, 6, 7, 8, 9])
    """

    def __init__(self, n_splits: int = 5, *, t1: Any, embargo_bars: int = 0) -> None:
        self.n_splits = _positive_int("n_splits", n_splits, 2)
        self.embargo_bars = _positive_int("embargo_bars", embargo_bars, 0)
        self._t1 = _check_t1(t1)
        self._checked(self._t1, self.n_splits, "n_splits")

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """The number of folds (scikit-learn's signature; the arguments are ignored)."""
        return self.n_splits

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[IntArray, IntArray]]:
        """Yield ``(train_idx, test_idx)`` per fold, in time order, as sorted int64 arrays.

        ``X`` only gives the sample count (it must equal ``len(t1)``); ``y`` and ``groups``
        are ignored (scikit-learn's signature).
        """
        self._checked(X, self.n_splits, "n_splits")
        for f, block in enumerate(_blocks(self._t1.size, self.n_splits)):
            yield self._split_of([block], f"fold {f}")

    def __repr__(self) -> str:
        return (
            f"PurgedKFold(n_splits={self.n_splits}, n={self._t1.size}, "
            f"embargo_bars={self.embargo_bars})"
        )


class CombinatorialPurgedCV(_Purged):
    """Combinatorial purged cross-validation (CPCV, Lopez de Prado ch. 12).

    The samples are cut into ``N = n_groups`` contiguous groups (sizes as in
    :class:`PurgedKFold`). Every combination of ``k = n_test_groups`` groups is one split's
    test set, in ``itertools.combinations`` order, so there are ``C(N, k)`` splits; training
    is every other sample, purged and embargoed around *each* test group as in
    :class:`PurgedKFold`.

    Each group is a test group in ``C(N-1, k-1)`` splits, and the test predictions combine
    into ``phi = k / N * C(N, k) = C(N-1, k-1)`` backtest paths, each covering every group
    exactly once: :meth:`paths` says which split's predictions each path uses for each group.
    For example ``N = 6, k = 2``: 15 splits, each group tested 5 times, 5 paths;
    ``N = 10, k = 2``: 45 splits, 9 paths.
    """

    def __init__(
        self, n_groups: int = 6, n_test_groups: int = 2, *, t1: Any, embargo_bars: int = 0
    ) -> None:
        self.n_groups = _positive_int("n_groups", n_groups, 2)
        self.n_test_groups = _positive_int("n_test_groups", n_test_groups, 1)
        if self.n_test_groups >= self.n_groups:
            raise SplitError(
                f"n_test_groups = {self.n_test_groups} must be less than n_groups = "
                f"{self.n_groups}",
                hint="leave at least one group to train on",
            )
        self.embargo_bars = _positive_int("embargo_bars", embargo_bars, 0)
        self._t1 = _check_t1(t1)
        self._checked(self._t1, self.n_groups, "n_groups")

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """``C(n_groups, n_test_groups)`` (scikit-learn's signature; arguments ignored)."""
        return comb(self.n_groups, self.n_test_groups)

    @property
    def n_paths(self) -> int:
        """``phi = k / N * C(N, k) = C(N-1, k-1)``: the number of backtest paths."""
        return comb(self.n_groups - 1, self.n_test_groups - 1)

    def test_groups(self) -> list[tuple[int, ...]]:
        """The test groups of each split, in split order (``itertools.combinations``)."""
        return list(combinations(range(self.n_groups), self.n_test_groups))

    def group_bounds(self) -> list[tuple[int, int]]:
        """``(first, last)`` bar position (inclusive) of each group."""
        return _blocks(self._t1.size, self.n_groups)

    def paths(self) -> IntArray:
        """Which split feeds each backtest path, shape ``(n_paths, n_groups)``.

        ``paths()[p, g]`` is the index of the split (in :meth:`split` order) whose test
        predictions for group ``g`` make up that part of path ``p``. Group ``g``'s splits
        are taken in split order: path ``p`` uses the ``p``-th split in which ``g`` is a test
        group. Each row thus covers every group exactly once, and every (split, test group)
        pair appears in exactly one path. To build path ``p``'s out-of-sample predictions,
        concatenate, for ``g = 0 .. N-1``, split ``paths()[p, g]``'s predictions on the
        positions of group ``g`` (:meth:`group_bounds`).
        """
        out = np.empty((self.n_paths, self.n_groups), dtype=np.int64)
        seen = np.zeros(self.n_groups, dtype=np.int64)
        for s, groups in enumerate(self.test_groups()):
            for g in groups:
                out[seen[g], g] = s
                seen[g] += 1
        return out

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[IntArray, IntArray]]:
        """Yield ``(train_idx, test_idx)`` per combination of test groups, as sorted int64
        arrays; ``X`` gives the sample count (must equal ``len(t1)``), ``y`` and ``groups``
        are ignored."""
        self._checked(X, self.n_groups, "n_groups")
        bounds = self.group_bounds()
        for s, test in enumerate(self.test_groups()):
            yield self._split_of([bounds[g] for g in test], f"split {s} (test groups {test})")

    def __repr__(self) -> str:
        return (
            f"CombinatorialPurgedCV(n_groups={self.n_groups}, "
            f"n_test_groups={self.n_test_groups}, n={self._t1.size}, "
            f"embargo_bars={self.embargo_bars})"
        )
