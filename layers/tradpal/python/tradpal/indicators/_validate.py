"""Input checks shared by every indicator: one clear error per kind of bad input.

Rules (documented in the package docstring): inputs are one-dimensional and
numeric; several inputs have one length; leading NaN is allowed (so indicators
chain) and the computation starts at the first bar where every input is
finite; any NaN or infinity after that is an error naming its index; a period
is an integer from 1 to the input length.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from tradpal.errors import IndicatorInputError
from tradpal.indicators import _native as nat


def as_array(values: object, name: str) -> np.ndarray:
    """``values`` as a C-contiguous 1-D float64 array (numpy arrays, Series, sequences)."""
    try:
        raw = np.asarray(values)
    except Exception as exc:  # ragged lists and the like
        raise IndicatorInputError(
            f"{name} cannot be read as an array: {exc}",
            hint="pass a 1-D numpy array, a pandas Series or a list of numbers",
        ) from None
    if raw.dtype.kind not in "iufO":
        raise IndicatorInputError(
            f"{name} has non-numeric dtype {raw.dtype}",
            hint="pass prices and volumes as numbers (float64), e.g. frame['close']",
        )
    try:
        arr = np.ascontiguousarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise IndicatorInputError(
            f"{name} holds values that are not numbers",
            hint="convert the column with pandas.to_numeric before computing indicators",
        ) from None
    if arr.ndim != 1:
        raise IndicatorInputError(
            f"{name} has shape {arr.shape}, not one value per bar",
            hint="pass one column (1-D) per input",
        )
    return arr


def check_period(value: object, name: str, n: int) -> int:
    """An integer period in [1, n]."""
    if isinstance(value, bool | float):
        raise IndicatorInputError(
            f"{name} must be an integer number of bars, not {value!r}",
            hint=f"use e.g. {name}=14",
        )
    try:
        p = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise IndicatorInputError(
            f"{name} must be an integer number of bars, not {value!r}",
            hint=f"use e.g. {name}=14",
        ) from None
    if p < 1 or p > n:
        raise IndicatorInputError(
            f"{name}={p} is outside 1..{n} (the input has {n} bars)",
            hint="use a period of at least 1 and at most the number of bars",
        )
    return p


def check_periods(values: object, name: str, n: int) -> np.ndarray:
    """A non-empty 1-D int64 array of periods, each in [1, n]."""
    if isinstance(values, int | np.integer):
        values = [values]
    seq = list(values) if not isinstance(values, np.ndarray) else values.tolist()
    if not seq:
        raise IndicatorInputError(f"{name} is empty", hint="give at least one period")
    return np.array([check_period(v, f"{name}[{i}]", n) for i, v in enumerate(seq)], np.int64)


# ids of arrays already checked (finite after their own leading NaN) by the caller:
# computing a set checks each column once instead of once per indicator
_CHECKED: ContextVar[frozenset[int]] = ContextVar("tradpal_checked", default=frozenset())


def check_finite_tail(arr: np.ndarray, name: str, start: int) -> None:
    """Raise if ``arr`` holds NaN or an infinity at or after ``start``."""
    bad = int(nat.tp_first_bad(arr, len(arr), start))
    if bad >= 0:
        what = "NaN" if np.isnan(arr[bad]) else str(arr[bad])
        raise IndicatorInputError(
            f"{name} has {what} at index {bad}, after its first valid value at {start}",
            hint="only leading NaN (a warm-up) is allowed; fill or drop gaps first, "
            "e.g. with the quality checks' 'repair' policy",
        )


@contextmanager
def checked(arrays: dict[str, np.ndarray]) -> Iterator[None]:
    """Check each array once; inside the block :func:`prepare` skips re-checking them."""
    for name, arr in arrays.items():
        check_finite_tail(arr, name, int(nat.tp_lead_nan(arr, len(arr))))
    token = _CHECKED.set(_CHECKED.get() | {id(a) for a in arrays.values()})
    try:
        yield
    finally:
        _CHECKED.reset(token)


def prepare(inputs: dict[str, object]) -> tuple[list[np.ndarray], int, int]:
    """Validate ``inputs`` (name -> values); return (arrays, n, start).

    ``start`` is the first bar at which every input is finite (``n`` when some
    input is all NaN); values after it must all be finite.
    """
    arrays = [as_array(v, k) for k, v in inputs.items()]
    names = list(inputs)
    n = len(arrays[0])
    for name, arr in zip(names[1:], arrays[1:], strict=True):
        if len(arr) != n:
            raise IndicatorInputError(
                f"{name} has {len(arr)} values but {names[0]} has {n}",
                hint="pass columns of the same frame (one value per bar each)",
            )
    start = max(int(nat.tp_lead_nan(a, n)) for a in arrays) if n else 0
    trusted = _CHECKED.get()
    for name, arr in zip(names, arrays, strict=True):
        # an array clean after its own first value is clean after the joint start
        if id(arr) not in trusted:
            check_finite_tail(arr, name, start)
    return arrays, n, start


def nan_rows(rows: int, n: int) -> np.ndarray:
    """A (rows, n) float64 block of NaN."""
    return np.full((rows, n), np.nan)


def out_rows(rows: int, n: int, start: int) -> np.ndarray:
    """A (rows, n) float64 block for kernels, NaN before ``start`` (the leading NaN of
    the inputs); the kernels write every element from ``start`` on, warm-up included."""
    out = np.empty((rows, n))
    out[:, :start] = np.nan
    return out
