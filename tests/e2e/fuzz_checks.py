"""The schemathesis check that the OpenAPI document states the rules: a request the document
allows is served, or refused only for a rule JSON Schema cannot state.

:func:`schema_valid_requests_are_served` replaces schemathesis's ``positive_data_acceptance``
(ST202) for this API. Like it, it takes every schema-valid (positive) request answered 2xx,
3xx, 401, 403, 404 (a resource or range that does not exist), 409 or 429; a 5xx is
``not_a_server_error``'s. Unlike it, a 400 or 422 passes when every field it names is refused
for one of :data:`SCHEMA_CANNOT_STATE`: rules between fields (``end`` after ``start``, elitism
below the population), against the deployment's strategies or the stored data, the clock, or
the state of the API (a cursor it never issued). Each of those is said in the field's
description in the document and answered with a message naming the field. Anything else (a
value the schema allows and the validator refuses: a bound, a pattern, an enum, a format) is
a failure: the schema or the validator is wrong.

Used by tests/e2e/test_fuzz.py, and as schemathesis hooks by tests/e2e/fuzz_acceptance.py
(``SCHEMATHESIS_HOOKS=fuzz_checks``), so that CI and a long run judge alike.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import schemathesis
from schemathesis.specs.openapi.checks import RejectedPositiveData

SERVED = frozenset((401, 403, 404, 409, 429))
"""Statuses that say nothing against the request's form (as ST202 has them)."""


class Unstatable(NamedTuple):
    """A refusal the schema cannot state: its status and error code, the field (a regex over
    the detail's ``field``, or None for a library refusal without one) and the message (a
    regex)."""

    status: int
    code: str
    field: str | None
    message: str
    why: str


_422, _400 = (422, "validation_error"), (400, "bad_request")


SCHEMA_CANNOT_STATE: tuple[Unstatable, ...] = (
    # between fields
    Unstatable(*_400, r"(query|body)\.end", r"is not after start", "end after start"),
    Unstatable(*_400, r"body\.data\.end", r"is not after start", "end after start"),
    Unstatable(*_422, r"body\.data\.end", r"is not after start", "end after start"),
    Unstatable(*_422, r"body\.strategy", r"filters on \w+ bars, which \w+ data cannot make",
               "a filter @TF coarser than the data's timeframe"),
    Unstatable(*_422, r"body\.params", r"^(unknown param\(s\) |param '\w+' is |params break "
               r"the constraint )", "params of the strategy named in the same request"),
    Unstatable(*_422, r"body\.generations", r"evaluations, above the limit",
               "population x generations at most 20,000"),
    Unstatable(*_422, r"body\.elitism", r"must be below the population", "elitism < population"),
    Unstatable(*_422, r"body\.(n_candidates|population|generations|elitism|seed)",
               r"^method \w+ (does not use|draws n_candidates)",
               "a size or seed the method does not use (unless left at its default)"),
    Unstatable(*_422, r"body\.n_candidates", r"grid", "the grid's points of the strategy's space"),
    # the deployment's strategies: built-ins and its strategy_dirs
    Unstatable(*_422, r"body\.strategy", r"^unknown strategy ", "the deployed strategies"),
    # the sample's first bar (2018-01-01), for a source the field does not name
    Unstatable(*_422, r"body\.data\.end", r"^the sample begins at ", "the sample's first bar"),
    # the clock
    Unstatable(*_422, r"body\.data\.start", r"is in the future", "an open end reads up to now"),
    # the data: rows posted together, their number
    Unstatable(422, "data_quality_error", r"body\.candles(\.\d+)?", r"", "the quality rules"),
    Unstatable(*_400, None, r"^cannot repair: no valid rows", "repair left no row"),
    Unstatable(*_400, None, r"is outside 1\.\.\d+ \(the input has \d+ bars\)",
               "an indicator period at most the bars"),
    Unstatable(*_400, None, r"produces the column '[^']+' twice", "two entries, one column"),
    # the API's state: a cursor is only one it issued
    Unstatable(*_400, r"query\.after", r"^not a cursor this API returned", "an opaque cursor"),
)  # fmt: skip


def unstatable(status: int, body: Any) -> list[str]:
    """Why each failing field of an error ``body`` is one of :data:`SCHEMA_CANNOT_STATE`;
    an empty list when any is not (or the body is not the error shape)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return []
    code, details = error.get("code"), error.get("details")
    if isinstance(details, list) and details and all(isinstance(d, dict) for d in details):
        items = [(d.get("field"), str(d.get("message", ""))) for d in details]
    else:  # a library refusal without fields: the message says it
        items = [(None, str(error.get("message", "")))]
    whys = []
    for field, message in items:
        for rule in SCHEMA_CANNOT_STATE:
            if (rule.status, rule.code) != (status, code):
                continue
            if rule.field is None and field is not None:
                continue
            if rule.field is not None and not re.fullmatch(rule.field, str(field)):
                continue
            if re.search(rule.message, message):
                whys.append(rule.why)
                break
        else:
            return []
    return whys


@schemathesis.check
def schema_valid_requests_are_served(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request is served, or refused for a rule the schema cannot state."""
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status >= 500 or status in SERVED:
        return None
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if status in (400, 422) and unstatable(status, body):
        return None
    raise RejectedPositiveData(
        operation=case.operation.label,
        message="A request the schema allows was refused for a rule the schema does not "
        "state: forbid it in the schema, or accept it\n"
        f"{json.dumps(body)[:1000] if body is not None else response.text[:1000]}",
        status_code=status,
        allowed_statuses=["2xx", "3xx", *map(str, sorted(SERVED)), "400/422 (unstatable)"],
    )
