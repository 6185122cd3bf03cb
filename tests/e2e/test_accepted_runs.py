"""A run the API accepts (202) either succeeds or fails with a cause the user can act on: a
TradPal error naming what to change, never a fault of ours (a ``TaskError``, "this is a bug
in TradPal", or a Step Functions runtime error). Requests come from the committed OpenAPI
document (schemathesis's schema-valid cases), with their sizes clamped so that each run is
small; the issue found ``{"source": "sample", "bars": 10**12}`` accepted and then FAILED with
a TaskError, and ``ema_crossover@1m`` on 1h data accepted by discovery and failing in every
batch."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tradpal.errors
from tradpal.platform.api_fields import BUILTIN_STRATEGIES
from tradpal.platform.openapi import DOCUMENT_PATH

schema = schemathesis.openapi.from_path(str(DOCUMENT_PATH))

# the most of each size a generated request keeps (the schema allows runs of minutes)
SMALL = {"bars": 2_000, "population": 4, "generations": 2, "n_candidates": 6, "folds": 2}


def _at_most(value: Any, most: int) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return min(value, most)
    return value


def _small(path: str, body: Any) -> Any:
    """``body`` with its sizes at most :data:`SMALL`: smaller values stay schema-valid, and a
    discovery sets every size its method uses (their defaults are runs of minutes)."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    if isinstance(out.get("data"), dict) and "bars" in out["data"]:
        out["data"] = {**out["data"], "bars": _at_most(out["data"]["bars"], SMALL["bars"])}
    if path == "/v1/discovery":
        from tradpal.discovery.request import METHOD_FIELDS

        method = out.get("method", "genetic")
        for key in METHOD_FIELDS.get(method, ()):
            if key in SMALL and not (method == "random" and key == "population"):
                out[key] = _at_most(out.get(key, SMALL[key]), SMALL[key])
        if isinstance(out.get("validation"), dict) and "folds" in out["validation"]:
            folds = _at_most(out["validation"]["folds"], SMALL["folds"])
            out["validation"] = {**out["validation"], "folds": folds}
    return out


def _user_errors() -> set[str]:
    """The names of every TradPal error a user can act on (``TaskError`` excepted)."""
    seen, todo = set(), [tradpal.errors.TradPalError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            seen.add(sub.__name__)
    return seen - {"TaskError"}


def _check_accepted(platform: Any, path: str, body: Any) -> str | None:
    api = platform.client
    status, accepted, _ = api.call("POST", path, body)
    assert status < 500, (status, accepted)
    if status != 202:
        return None
    done = api.wait(f"{path}/{accepted['run_id']}", timeout_s=600)  # a loaded CI machine
    assert done["status"] in ("SUCCEEDED", "FAILED"), done
    if done["status"] == "FAILED":
        error = done["error"]
        assert error["error"] in _user_errors(), (body, error)
        assert error["cause"] and "bug in TradPal" not in error["cause"], (body, error)
    return done["status"]


OUTCOMES: dict[str, list[str]] = {"/v1/backtests": [], "/v1/discovery": []}


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/v1/backtests", "/v1/discovery"])
def test_every_accepted_run_succeeds_or_fails_with_a_cause_the_user_can_act_on(platform, path):
    operation = schema[path]["POST"]

    @given(
        case=operation.as_strategy(),
        builtin=st.none() | st.sampled_from(BUILTIN_STRATEGIES),
        store=st.booleans(),
    )
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any, builtin: str | None, store: bool) -> None:
        body = _small(path, case.body)
        if not isinstance(body, dict):
            return
        if builtin:  # most generated names are no strategy: a built-in, with its own params
            body = {**body, "strategy": builtin}
            body.pop("params", None)
        if store:  # the stored sample: a symbol and range that exist
            body["data"] = {"source": "store", "symbol": "SYN/USD", "timeframe": "1h"}
        outcome = _check_accepted(platform, path, body)
        if outcome:
            OUTCOMES[path].append(outcome)

    check()
    assert OUTCOMES[path], f"no generated request to {path} was accepted: the test tests nothing"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/backtests", {"strategy": "ema_crossover", "data": {"source": "sample", "bars": 2}}),
        ("/v1/backtests", {"strategy": "ema_crossover", "data": {"symbol": "NO/SUCH"}}),
        (
            "/v1/discovery",
            {"strategy": "ema_crossover", "population": 2, "generations": 1,
             "data": {"source": "sample", "bars": 30}},
        ),
    ],
)  # fmt: skip
def test_runs_the_data_cannot_serve_fail_with_a_data_error_not_a_bug(platform, path, body):
    """Too few bars, or a symbol the store does not hold: accepted or refused, never a bug."""
    _check_accepted(platform, path, body)


def test_a_sample_before_its_first_bar_is_refused_when_submitted_not_failed_later(platform):
    body = {"strategy": "confluence", "data": {"source": "sample", "end": "2000-03-01T02:00:02Z"}}
    status, answer, _ = platform.client.call("POST", "/v1/backtests", body)
    assert status == 422, answer
    detail = answer["error"]["details"][0]
    assert detail["field"] == "body.data.end" and "the sample begins at" in detail["message"]
