"""Walk-forward window plans: exact ranges, rolling and anchored, and clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.optimize import OptimizeError, plan_windows


def ranges(plan):
    return [(w.is_start, w.is_end, w.oos_start, w.oos_end) for w in plan]


def test_rolling_defaults_exact():
    plan = plan_windows(252 + 21 * 3 + 5)
    assert ranges(plan) == [
        (0, 252, 252, 273),
        (21, 273, 273, 294),
        (42, 294, 294, 315),
    ]
    assert plan.unused == 5
    assert [w.index for w in plan] == [0, 1, 2]
    assert (plan.in_sample, plan.out_sample, plan.step, plan.anchored) == (252, 21, 21, False)


def test_anchored_grows_in_sample_from_bar_zero():
    plan = plan_windows(100, in_sample=50, out_sample=10, step=10, anchored=True)
    assert ranges(plan) == [
        (0, 50, 50, 60),
        (0, 60, 60, 70),
        (0, 70, 70, 80),
        (0, 80, 80, 90),
        (0, 90, 90, 100),
    ]
    assert plan.unused == 0


def test_step_longer_than_out_sample_skips_bars_between_windows():
    plan = plan_windows(100, in_sample=40, out_sample=10, step=25)
    assert ranges(plan) == [(0, 40, 40, 50), (25, 65, 65, 75), (50, 90, 90, 100)]


def test_exactly_one_window():
    plan = plan_windows(30, in_sample=20, out_sample=10, step=10)
    assert ranges(plan) == [(0, 20, 20, 30)]
    assert plan.unused == 0


def test_to_dict_is_plain():
    d = plan_windows(40, in_sample=20, out_sample=10).to_dict()
    assert d["windows"][0] == {"index": 0, "is_start": 0, "is_end": 20, "oos_start": 20,
                               "oos_end": 30}  # fmt: skip
    assert d["unused"] == 10 and d["step"] == 21 and d["anchored"] is False


def test_too_short_data_says_how_many_bars_are_needed():
    with pytest.raises(OptimizeError, match=r"has 272 bars.*252 \+ 21 = 273") as err:
        plan_windows(272)
    assert err.value.hint and "longer" in err.value.hint


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_sample": 0}, "in_sample must be an integer"),
        ({"in_sample": 1}, "in_sample must be an integer number of bars >= 2"),
        ({"out_sample": 0}, "out_sample must be"),
        ({"step": -1}, "step must be"),
        ({"step": 2.5}, "step must be"),
        ({"in_sample": True}, "in_sample must be"),
        ({"step": 10, "out_sample": 21}, "overlap"),
        ({"anchored": "yes"}, "anchored must be"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(OptimizeError, match=match):
        plan_windows(1000, **kwargs)


@given(
    n=st.integers(2, 3000),
    i_s=st.integers(2, 400),
    o_s=st.integers(1, 100),
    extra=st.integers(0, 50),
    anchored=st.booleans(),
)
def test_plan_invariants(n, i_s, o_s, extra, anchored):
    step = o_s + extra
    if n < i_s + o_s:
        with pytest.raises(OptimizeError):
            plan_windows(n, in_sample=i_s, out_sample=o_s, step=step, anchored=anchored)
        return
    plan = plan_windows(n, in_sample=i_s, out_sample=o_s, step=step, anchored=anchored)
    prev_end = 0
    for k, w in enumerate(plan):
        assert w.is_end == w.oos_start  # out of sample follows in sample directly
        assert w.oos_end - w.oos_start == o_s
        assert w.is_start == (0 if anchored else k * step)
        assert w.is_end - w.is_start == (i_s + k * step if anchored else i_s)
        assert w.oos_start >= prev_end  # never overlapping
        prev_end = w.oos_end
    # no further whole window would fit
    assert 0 <= plan.unused < step
    assert plan[-1].oos_end + step > n
