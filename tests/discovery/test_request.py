"""Request limits and defaults of a discovery: sizes bounded before anything runs, the
elitism default fitting small populations, unknown keys refused with the field named, a grid
that does not fit n_candidates refused with a fix the user can apply."""

from __future__ import annotations

import pytest

from tradpal.discovery import plan, validate_request
from tradpal.discovery.request import MAX_EVALUATIONS, MAX_GENERATIONS, MAX_POPULATION
from tradpal.discovery.state import planned_evaluations
from tradpal.errors import DiscoveryError

BASE = {"strategy": "ema_crossover", "risk": False}


@pytest.mark.parametrize(
    ("change", "field", "said"),
    [
        ({"population": MAX_POPULATION + 1}, "population", f"equal to {MAX_POPULATION}"),
        ({"population": 100_000_000}, "population", "less than"),
        ({"generations": MAX_GENERATIONS + 1}, "generations", f"equal to {MAX_GENERATIONS}"),
        (
            {"population": MAX_POPULATION, "generations": MAX_EVALUATIONS // MAX_POPULATION + 1},
            "generations",
            f"above the limit of {MAX_EVALUATIONS}",
        ),
        ({"n_candidates": MAX_EVALUATIONS + 1}, "n_candidates", "less than"),
        ({"method": "random", "n_candidates": MAX_EVALUATIONS + 1}, "n_candidates", "less than"),
    ],
)
def test_sizes_are_bounded_before_anything_is_planned(change, field, said):
    with pytest.raises(DiscoveryError, match=said) as caught:
        validate_request({**BASE, **change})
    assert caught.value.field == field and caught.value.hint


def test_the_largest_allowed_search_is_accepted():
    n = MAX_EVALUATIONS // MAX_POPULATION
    req = validate_request({**BASE, "population": MAX_POPULATION, "generations": n})
    assert planned_evaluations(req) == MAX_EVALUATIONS
    req = validate_request({**BASE, "method": "random", "n_candidates": MAX_EVALUATIONS})
    assert planned_evaluations(req) == MAX_EVALUATIONS


def test_the_elitism_default_fits_a_population_of_two_and_an_explicit_one_is_checked():
    state = plan({**BASE, "population": 2, "generations": 2})
    assert state["request"]["elitism"] == 1 and len(state["candidates"]) == 2
    assert validate_request({**BASE, "population": 3})["elitism"] == 2
    with pytest.raises(DiscoveryError, match="elitism 2 must be below the population 2"):
        validate_request({**BASE, "population": 2, "elitism": 2})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data": {"source": "sample", "bogus": 1}}, "data.bogus"),
        ({"validation": {"holdout": 0.2, "bogus": 1}}, "validation.bogus"),
        ({"config": {"bogus": 1}}, "config.bogus"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_unknown_keys_are_refused_naming_the_field(change, field):
    with pytest.raises(DiscoveryError) as caught:
        validate_request({**BASE, **change})
    assert caught.value.field == field and caught.value.hint


def test_a_grid_larger_than_n_candidates_says_how_many_points_it_has():
    with pytest.raises(DiscoveryError) as caught:
        plan({**BASE, "method": "grid", "n_candidates": 4})
    err = caught.value
    assert err.field == "n_candidates" and "2510 points" in err.message
    assert "n_candidates to 2510" in err.hint and "random" in err.hint
    assert "sample()" not in f"{err.message} {err.hint}"
    assert len(plan({**BASE, "method": "grid", "n_candidates": 2510})["candidates"]) == 2510


def test_a_grid_beyond_every_limit_suggests_sampling_it():
    with pytest.raises(DiscoveryError) as caught:
        plan({"strategy": "ema_crossover", "method": "grid"})
    assert f"more than {MAX_EVALUATIONS} points" in caught.value.message
    assert "random" in caught.value.hint and "risk" in caught.value.hint


@pytest.mark.parametrize(
    ("request_", "refused"),
    [
        ({"method": "grid", "population": 4, "generations": 3}, "population"),
        ({"method": "random", "n_candidates": 4, "population": 8}, "population"),
        ({"method": "random", "population": 8, "elitism": 1}, "elitism"),
        ({"population": 8, "n_candidates": 4}, "n_candidates"),  # genetic by default
        ({"method": "tpe", "population": 8, "elitism": 1}, "elitism"),
    ],
)
def test_fields_the_method_does_not_use_are_refused(request_, refused):
    with pytest.raises(DiscoveryError) as caught:
        validate_request({**BASE, **request_})
    assert (caught.value.field == refused and "does not use" in caught.value.message) or (
        "ignored" in caught.value.message
    )


@pytest.mark.parametrize(
    "request_",
    [
        {"method": "grid", "n_candidates": 2510},
        {"method": "genetic", "population": 8, "generations": 3, "elitism": 1},
    ],
)
def test_fields_the_method_uses_are_accepted(request_):
    assert validate_request({**BASE, **request_})["method"] == request_["method"]


def test_a_filter_timeframe_the_data_cannot_make_is_refused_at_submit():
    # a finer filter than the data (1m on 1h bars) failed in every batch after a 202
    with pytest.raises(DiscoveryError, match="1m") as caught:
        validate_request(
            {
                **BASE,
                "strategy": "ema_crossover@1m",
                "data": {"source": "sample", "timeframe": "1h"},
            }
        )
    assert caught.value.field == "strategy" and "multiple of 1h" in caught.value.hint
    accepted = validate_request(
        {**BASE, "strategy": "ema_crossover@4h", "data": {"source": "sample", "timeframe": "1h"}}
    )
    assert accepted["strategy"] == "ema_crossover@4h"


def test_a_sample_range_before_the_samples_first_bar_is_refused_at_submit():
    # it was accepted, read no bar, and failed with "empty: repair it with policy 'repair'"
    with pytest.raises(DiscoveryError, match="the sample begins at 2018-01-01") as caught:
        validate_request({**BASE, "data": {"source": "sample", "end": "2000-03-01T02:00:00Z"}})
    assert caught.value.field == "data.end" and "after the sample's first bar" in caught.value.hint
