"""Walk-forward window plans: which bars each in-sample and out-of-sample window covers.

Pure arithmetic on bar positions (no data): a plan is a tuple of :class:`Window`,
each holding half-open ranges ``[start, end)`` of bar positions.

Rolling windows (``anchored=False``): window ``k`` has its in-sample range
``[k*step, k*step + in_sample)`` and its out-of-sample range
``[k*step + in_sample, k*step + in_sample + out_sample)``.
Anchored windows (``anchored=True``) keep the in-sample start at bar 0, so the
in-sample range grows: ``[0, in_sample + k*step)``; the out-of-sample ranges are
the same as for rolling windows.

Only whole out-of-sample windows are planned; the bars after the last one (fewer
than ``out_sample``) are not traded and are counted in :attr:`WindowPlan.unused`.
``step`` must be at least ``out_sample`` so the out-of-sample windows never
overlap and can be stitched into one equity curve (with ``step > out_sample`` the
bars between them are skipped).
"""

from __future__ import annotations

from dataclasses import dataclass

from tradpal.errors import OptimizeError

DEFAULT_IN_SAMPLE = 252
DEFAULT_OUT_SAMPLE = 21
DEFAULT_STEP = 21


@dataclass(frozen=True)
class Window:
    """One walk-forward window: bar positions, half-open ``[start, end)``."""

    index: int
    is_start: int
    is_end: int
    oos_start: int
    oos_end: int

    @property
    def in_sample(self) -> range:
        return range(self.is_start, self.is_end)

    @property
    def out_sample(self) -> range:
        return range(self.oos_start, self.oos_end)

    def to_dict(self) -> dict[str, int]:
        return {
            "index": self.index,
            "is_start": self.is_start,
            "is_end": self.is_end,
            "oos_start": self.oos_start,
            "oos_end": self.oos_end,
        }


@dataclass(frozen=True)
class WindowPlan:
    """The windows over ``n_bars`` bars and the settings that made them."""

    windows: tuple[Window, ...]
    n_bars: int
    in_sample: int
    out_sample: int
    step: int
    anchored: bool

    @property
    def unused(self) -> int:
        """Bars after the last out-of-sample window (not traded)."""
        return self.n_bars - self.windows[-1].oos_end

    def __len__(self) -> int:
        return len(self.windows)

    def __iter__(self):
        return iter(self.windows)

    def __getitem__(self, i: int) -> Window:
        return self.windows[i]

    def to_dict(self) -> dict[str, object]:
        return {
            "n_bars": self.n_bars,
            "in_sample": self.in_sample,
            "out_sample": self.out_sample,
            "step": self.step,
            "anchored": self.anchored,
            "unused": self.unused,
            "windows": [w.to_dict() for w in self.windows],
        }


def _positive_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OptimizeError(
            f"{name} must be an integer number of bars >= {minimum}, not {value!r}",
            hint=f"give {name} as a whole number of bars, e.g. {name}={max(minimum, 21)}",
        )
    return value


def plan_windows(
    n_bars: int,
    *,
    in_sample: int = DEFAULT_IN_SAMPLE,
    out_sample: int = DEFAULT_OUT_SAMPLE,
    step: int = DEFAULT_STEP,
    anchored: bool = False,
) -> WindowPlan:
    """Plan walk-forward windows over ``n_bars`` bars (see the module docstring).

    Raises :class:`OptimizeError` when a size is not a positive integer, when
    ``step < out_sample`` (overlapping out-of-sample windows cannot be stitched)
    or when the data is shorter than one in-sample plus one out-of-sample window.
    """
    n = _positive_int(n_bars, "n_bars", 0)
    i_s = _positive_int(in_sample, "in_sample", 2)
    o_s = _positive_int(out_sample, "out_sample")
    st = _positive_int(step, "step")
    if not isinstance(anchored, bool):
        raise OptimizeError(f"anchored must be True or False, not {anchored!r}")
    if st < o_s:
        raise OptimizeError(
            f"step={st} is shorter than out_sample={o_s}: the out-of-sample windows would "
            "overlap and could not be stitched into one equity curve",
            hint=f"use step >= out_sample, e.g. step={o_s}",
        )
    if n < i_s + o_s:
        raise OptimizeError(
            f"the data has {n} bars; one walk-forward window needs in_sample + out_sample "
            f"= {i_s} + {o_s} = {i_s + o_s} bars",
            hint="load a longer date range or use smaller in_sample/out_sample windows",
        )
    count = (n - i_s - o_s) // st + 1
    windows = tuple(
        Window(
            index=k,
            is_start=0 if anchored else k * st,
            is_end=k * st + i_s,
            oos_start=k * st + i_s,
            oos_end=k * st + i_s + o_s,
        )
        for k in range(count)
    )
    return WindowPlan(windows, n, i_s, o_s, st, anchored)


__all__ = [
    "DEFAULT_IN_SAMPLE",
    "DEFAULT_OUT_SAMPLE",
    "DEFAULT_STEP",
    "Window",
    "WindowPlan",
    "plan_windows",
]
