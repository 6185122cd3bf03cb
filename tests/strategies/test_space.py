"""ParamSpace: validation with clear errors, grids, seeded samples, plain JSON."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.strategies import STRATEGIES, Constraint, Param, ParamSpace, StrategyError

SPACE = ParamSpace(
    (
        Param("fast", "int", 2, 5, default=2),
        Param("slow", "int", 3, 6, default=4),
        Param("k", "float", 0.5, 1.5, 0.25, default=1.0),
        Param("mode", "categorical", choices=("a", "b")),
    ),
    ("fast < slow",),
)


def test_grid_size_order_and_constraints():
    grid = SPACE.grid()
    # fast in 2..5, slow in 3..6 with fast < slow: 4+3+2+1 = 10 pairs; 5 k values; 2 modes
    assert len(grid) == 10 * 5 * 2 == SPACE.grid_size()
    assert grid[0] == {"fast": 2, "slow": 3, "k": 0.5, "mode": "a"}
    assert grid[1] == {"fast": 2, "slow": 3, "k": 0.5, "mode": "b"}  # last param fastest
    assert grid[-1] == {"fast": 5, "slow": 6, "k": 1.5, "mode": "b"}
    assert all(p["fast"] < p["slow"] for p in grid)
    assert sorted({p["k"] for p in grid}) == [0.5, 0.75, 1.0, 1.25, 1.5]
    assert len({tuple(p.values()) for p in grid}) == len(grid)


def test_grid_steps_and_numeric_constraint():
    space = ParamSpace(
        (Param("a", "int", 1, 10, 3, default=4), Param("x", "float", 0.1, 0.5, 0.1)),
        ("a >= 4",),
    )
    assert [p["a"] for p in space.grid()][::5] == [4, 7, 10]  # 1,4,7,10 minus 1
    assert [p["x"] for p in space.grid()[:5]] == [0.1, 0.2, 0.3, 0.4, 0.5]  # rounded, exact ends


def test_grid_max_points_raises_instead_of_cutting():
    assert len(SPACE.grid(max_points=100)) == 100
    with pytest.raises(StrategyError, match="more than 99 points") as err:
        SPACE.grid(max_points=99)
    assert "sample()" in err.value.hint


def test_float_without_step_has_no_grid_but_samples():
    space = ParamSpace((Param("x", "float", 1.0, 2.0), Param("y", "float", 0.01, 10, log=True)))
    with pytest.raises(StrategyError, match="'x' has no step"):
        space.grid()
    pts = space.sample(200, seed=3)
    xs, ys = np.array([p["x"] for p in pts]), np.array([p["y"] for p in pts])
    assert ((xs >= 1) & (xs <= 2)).all() and ((ys >= 0.01) & (ys <= 10)).all()
    assert (ys < 0.1).mean() > 0.2  # log-uniform: a third of draws below 0.1, not 1 %


def test_sample_is_seeded_valid_unique_and_on_the_grid():
    a, b = SPACE.sample(40, seed=11), SPACE.sample(40, seed=11)
    assert a == b and SPACE.sample(40, seed=12) != a
    assert len({tuple(p.values()) for p in a}) == 40
    grid = {tuple(p.values()) for p in SPACE.grid()}
    assert all(tuple(p.values()) in grid for p in a)
    assert all(SPACE.validate(p) == p for p in a)


def test_sample_more_than_the_space_holds_is_an_error():
    assert len(SPACE.sample(100, seed=0)) == 100  # all of it
    with pytest.raises(StrategyError, match="found only 100 distinct points"):
        SPACE.sample(101, seed=0)
    assert len(SPACE.sample(150, seed=0, unique=False)) == 150
    with pytest.raises(StrategyError, match="non-negative integer"):
        SPACE.sample(-1, seed=0)


def test_validate_fills_defaults_and_casts_text():
    assert SPACE.validate({}) == {"fast": 2, "slow": 4, "k": 1.0, "mode": "a"}
    got = SPACE.validate({"fast": "3", "k": "1.25", "mode": "B", "slow": np.int64(5)})
    assert got == {"fast": 3, "slow": 5, "k": 1.25, "mode": "b"}
    assert type(got["fast"]) is int and type(got["slow"]) is int and type(got["k"]) is float
    assert SPACE.validate({"fast": 3.0})["fast"] == 3  # whole floats are ints
    assert SPACE.validate({"k": 0.6})["k"] == 0.6  # off the step grid is allowed


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"fsat": 3}, "unknown param(s) 'fsat'"),
        ({"fast": 9}, "param 'fast' is 9, outside its range 2 to 5"),
        ({"fast": 2.5}, "param 'fast' is 2.5, not a whole number"),
        # values as the request wrote them, in JSON: not Python's True or 'three'
        ({"fast": "three"}, "param 'fast' is \"three\", not a number"),
        ({"fast": True}, "param 'fast' is true, not a number"),
        ({"fast": {"x": 1}}, "param 'fast' is {\"x\": 1}, not a finite number"),
        ({"k": float("nan")}, "param 'k' is nan, not a finite number"),
        ({"mode": "c"}, "param 'mode' is \"c\", not one of a, b"),
        ({"fast": 5, "slow": 4}, "params break the constraint 'fast < slow' (fast=5, slow=4)"),
    ],
)
def test_validate_errors_name_the_param_and_the_range(params, message):
    with pytest.raises(StrategyError) as err:
        SPACE.validate(params)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError) and err.value.hint


def test_unknown_param_hint_lists_the_known_ones():
    with pytest.raises(StrategyError) as err:
        SPACE.validate({"fsat": 3})
    assert err.value.hint == "this strategy takes: fast, slow, k, mode"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Param("x", "int", 5, 1), "low 5 is above high 1"),
        (lambda: Param("x", "int", 1, 5, default=9), "outside its range"),
        (lambda: Param("x", "int", 1.5, 5), "low 1.5 is not a whole number"),
        (lambda: Param("x", "float", 0, 5, log=True), "log scale needs low > 0"),
        (lambda: Param("x", "float", 0, 5, step=0), "step 0.0 must be positive"),
        (lambda: Param("x", "categorical"), "needs choices"),
        (lambda: Param("x", "categorical", choices=("a",), default="b"), "not one of"),
        (lambda: Param("x y", "int", 1, 2), "not an identifier"),
        (lambda: Param("x", "text", 1, 2), "kind 'text'"),
        (lambda: ParamSpace((Param("a", "int", 1, 2),) * 2), "declared twice"),
        (lambda: ParamSpace((Param("a", "int", 1, 2),), ("a < b",)), "names 'b'"),
        (lambda: ParamSpace((Param("a", "int", 1, 9, default=5),), ("a < 3",)), "defaults break"),
        (lambda: Constraint.parse("a<b"), "spaces around"),
        (lambda: Constraint("a", "==", "b"), "operator '=='"),
    ],
)
def test_bad_declarations_are_clear_errors(build, message):
    with pytest.raises(StrategyError, match=None) as err:
        build()
    assert message in str(err.value)


def test_constraint_text_and_holds():
    c = Constraint.parse("k >= 1.5")
    assert c == Constraint("k", ">=", 1.5) and str(c) == "k >= 1.5"
    assert c.holds({"k": 1.5}) and not c.holds({"k": 1.25})
    assert str(Constraint.parse("fast < slow")) == "fast < slow"


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_builtin_spaces_travel_as_plain_json(name):
    space = STRATEGIES[name].space
    text = json.dumps(space.to_dict())
    again = ParamSpace.from_dict(json.loads(text))
    assert again == space
    assert again.sample(5, seed=1) == space.sample(5, seed=1)
    assert space.validate(space.defaults()) == space.defaults()


def test_from_dict_accepts_constraint_objects_and_refuses_junk():
    d = SPACE.to_dict()
    d["constraints"] = [{"left": "fast", "op": "<", "right": "slow"}]
    assert ParamSpace.from_dict(d) == SPACE
    with pytest.raises(StrategyError, match="'params' list"):
        ParamSpace.from_dict({"params": "fast"})
    with pytest.raises(StrategyError, match="unknown field"):
        ParamSpace.from_dict(
            {"params": [{"name": "a", "kind": "int", "low": 1, "high": 2, "typo": 1}]}
        )
    with pytest.raises(StrategyError, match="name and a kind"):
        ParamSpace.from_dict({"params": [{"low": 1}]})


def test_with_defaults_and_merge():
    moved = SPACE.with_defaults({"fast": 3, "slow": 6})
    assert moved.defaults()["fast"] == 3 and moved.grid_size() == SPACE.grid_size()
    with pytest.raises(StrategyError, match="fast < slow"):
        SPACE.with_defaults({"fast": 5, "slow": 3})
    merged = SPACE.merge(ParamSpace((Param("z", "int", 0, 1),)))
    assert merged.names == ("fast", "slow", "k", "mode", "z")
    assert merged.grid_size() == SPACE.grid_size() * 2


@st.composite
def spaces(draw):
    n = draw(st.integers(1, 3))
    params = []
    for i in range(n):
        lo = draw(st.integers(-5, 5))
        hi = lo + draw(st.integers(0, 6))
        step = draw(st.integers(1, 3))
        params.append(Param(f"p{i}", "int", lo, hi, step, default=lo))
    cons = ()
    if n >= 2 and draw(st.booleans()):
        cons = (Constraint("p0", "<=", "p1"),)
        if params[0].low > params[1].low:  # keep the defaults valid
            return ParamSpace(tuple(params))
    return ParamSpace(tuple(params), cons)


@settings(max_examples=60, deadline=None)
@given(spaces(), st.integers(0, 2**32 - 1))
def test_grid_is_the_filtered_product_and_samples_lie_on_it(space, seed):
    product = list(itertools.product(*(p.values() for p in space.params)))
    expected = [c for c in product if space.satisfies(dict(zip(space.names, c, strict=True)))]
    assert [tuple(p.values()) for p in space.grid()] == expected
    k = min(len(expected), 5)
    pts = space.sample(k, seed=seed)
    assert len(pts) == k and all(tuple(p.values()) in set(expected) for p in pts)
    assert pts == space.sample(k, seed=seed)
