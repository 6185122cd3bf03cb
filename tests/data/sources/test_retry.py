"""Retries with exponential backoff and full jitter (tradpal.data.sources.retry)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.data.sources.retry import (
    RetryPolicy,
    call_with_retries,
    make_rng,
    parse_retry_after,
)
from tradpal.errors import ConfigError, SourceError


class Flaky(Exception):
    pass


class Broken(Exception):
    pass


def failing(times: int, exc: Exception, result: str = "ok"):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= times:
            raise exc
        return result

    return call, calls


def run(call, policy=None, *, retry_after=None, rng=None):
    policy = policy or RetryPolicy()
    sleeps: list[float] = []
    out = call_with_retries(
        call,
        what="test call",
        policy=policy,
        is_transient=lambda e: isinstance(e, Flaky),
        retry_after=lambda e: retry_after,
        sleep=sleeps.append,
        rng=rng or random.Random(1),
    )
    return out, sleeps


def test_transient_errors_are_retried_until_success():
    call, calls = failing(3, Flaky("busy"))
    out, sleeps = run(call, RetryPolicy(max_retries=3, backoff_base=1.0, backoff_max=3.0))
    assert out == "ok" and len(calls) == 4
    ref = random.Random(1)
    assert sleeps == [ref.uniform(0, 1.0), ref.uniform(0, 2.0), ref.uniform(0, 3.0)]


def test_gives_up_after_max_retries_naming_the_call_and_error():
    call, calls = failing(10, Flaky("still busy"))
    with pytest.raises(SourceError, match=r"test call failed after 3 attempt\(s\): Flaky: still"):
        run(call, RetryPolicy(max_retries=2))
    assert len(calls) == 3


def test_non_transient_errors_propagate_at_once():
    call, calls = failing(1, Broken("no"))
    with pytest.raises(Broken):
        run(call)
    assert len(calls) == 1


def test_retry_after_is_a_lower_bound_and_too_long_gives_up():
    call, _ = failing(2, Flaky("429"))
    _, sleeps = run(call, RetryPolicy(backoff_base=0.1), retry_after=4.0)
    assert sleeps == [4.0, 4.0]

    call, calls = failing(2, Flaky("418"))
    with pytest.raises(SourceError, match="asks to wait 600 s"):
        run(call, RetryPolicy(max_retry_after=300), retry_after=600.0)
    assert len(calls) == 1


def test_zero_retries_tries_once():
    call, calls = failing(1, Flaky("x"))
    with pytest.raises(SourceError, match="after 1 attempt"):
        run(call, RetryPolicy(max_retries=0))
    assert len(calls) == 1


@given(
    retry=st.integers(0, 200),
    base=st.floats(0, 10, allow_nan=False),
    cap=st.floats(0, 100, allow_nan=False),
    seed=st.integers(0, 2**32),
)
def test_backoff_stays_within_the_full_jitter_bounds(retry, base, cap, seed):
    policy = RetryPolicy(backoff_base=base, backoff_max=cap)
    wait = policy.backoff(retry, random.Random(seed))
    assert 0.0 <= wait <= min(cap, base * 2.0 ** min(retry, 60))
    assert wait == policy.backoff(retry, random.Random(seed))  # reproducible


@pytest.mark.parametrize(
    "bad",
    [
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"backoff_base": -0.1},
        {"backoff_max": float("inf")},
        {"max_retry_after": float("nan")},
    ],
)
def test_bad_policies_are_config_errors(bad):
    with pytest.raises(ConfigError) as err:
        RetryPolicy(**bad)
    assert err.value.hint


def test_make_rng():
    assert make_rng(5).random() == random.Random(5).random()
    r = random.Random(3)
    assert make_rng(r) is r
    assert isinstance(make_rng(None), random.Random)
    with pytest.raises(ConfigError):
        make_rng("seed")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 120 ", 120.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),  # an HTTP date, 30 s after `now`
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
    ],
)
def test_parse_retry_after(header, seconds):
    now = 1445412480.0  # 2015-10-21 07:28:00 UTC
    assert parse_retry_after(header, now=now) == seconds
