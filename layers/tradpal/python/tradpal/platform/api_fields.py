"""The field types the API's request models share, each stated once for the schema and the
validator: a value the OpenAPI document allows is one the model accepts, and one the model
refuses is one the document forbids (a pattern, a range, an enum, a length).

* :data:`ApiTime` (:data:`TimeText`, :func:`check_time_text`): ISO 8601 text (``format:
  date-time``) in the years :data:`FIRST_YEAR` to :data:`LAST_YEAR`, the whole years int64
  nanoseconds hold whatever the offset (pandas keeps bar times so: 1677-09-22 to 2262-04-11);
* :data:`Symbol`: a market symbol (``BTC/USDT``, ``BTC/USDT:USDT``, ``^GSPC``, ``BRK.B``);
* :data:`StrategyName`: ``NAME[@TF][+atr]``, a built-in or a deployed strategy by name
  (never a file); whether the name exists and whether ``@TF`` fits the data are the
  library's to say (the deployment's strategies, and the data's timeframe);
* :data:`Params`: strategy params as names to scalars, numbers finite and bounded;
* :data:`RUN_ID_PATTERN`: the id of a run (a UUID, as run ids are made); the
  ``Idempotency-Key`` header and the page cursor's alphabet.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from pydantic import BeforeValidator, Field, StrictStr, WithJsonSchema
from pydantic_core import PydanticCustomError

from tradpal.timeframes import TIMEFRAMES

FIRST_YEAR, LAST_YEAR = 1678, 2261
"""The years a request time may have: whole years that stay within int64 nanoseconds (pandas'
1677-09-22 to 2262-04-11) whatever the UTC offset."""
_YEAR = r"(?:16(?:7[89]|[89][0-9])|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])"
TIME_PATTERN = rf"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}[Tt][0-9]{{2}}:[0-9]{{2}}:[0-5][0-9]"
"""What the document says a request time starts with (``format: date-time`` says the rest):
a year in range, and no leap second (``23:59:60``, which no bar opens at and pandas cannot
hold). The validator takes more: a date alone, a naive time (UTC)."""
_YEAR_FIRST = re.compile(rf"^{_YEAR}-")
_TIME_EXAMPLE = "2024-01-31T12:00:00Z"


def check_time_text(value: Any) -> Any:
    """``value`` when it is ISO 8601 text in the years of :data:`TIME_PATTERN` (or a
    ``datetime`` in them); a validation error saying what to send otherwise. The rest of
    the text is the parser's to check (pydantic's datetime, or :func:`to_utc_timestamp`)."""
    if isinstance(value, datetime):
        year = value.year
    elif isinstance(value, str):
        if _YEAR_FIRST.match(value.strip()):
            return value
        head = value.strip()[:4]
        year = int(head) if head.isdigit() and len(head) == 4 else None
        if year is None:
            raise PydanticCustomError(
                "datetime_format",
                "give the time as ISO 8601 text, e.g. {example}",
                {"example": _TIME_EXAMPLE},
            )
    else:
        raise PydanticCustomError(
            "datetime_type",
            "give the time as ISO 8601 text, e.g. {example}, not {kind}",
            {"example": _TIME_EXAMPLE, "kind": _json_kind(value)},
        )
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PydanticCustomError(
            "datetime_out_of_range",
            "the year {year} is out of range: give a time in the years {first} to {last}",
            {"year": year, "first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return value


def _json_kind(value: Any) -> str:
    """What JSON calls ``value``'s type, with its article ("an object"), for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


_TIME_SCHEMA = {"pattern": TIME_PATTERN, "examples": [_TIME_EXAMPLE]}

ApiTime = Annotated[
    datetime, BeforeValidator(check_time_text), Field(json_schema_extra=_TIME_SCHEMA)
]
"""A bar time or a range bound in a request (module docstring): a ``datetime``."""

TimeText = Annotated[str, Field(json_schema_extra={"format": "date-time", **_TIME_SCHEMA})]
"""The schema of a time kept as text (a data reference's ``start`` and ``end``), whose model
checks it with :func:`check_time_text` before it parses it."""

SYMBOL_PATTERN = r"^[A-Za-z0-9^][A-Za-z0-9^._:/=+-]{0,63}$"
"""A market symbol: letters, digits and ``^ . _ : / = + -``, 1 to 64 characters, not starting
with punctuation other than ``^`` (the store keeps any such symbol)."""
Symbol = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=64,
        pattern=SYMBOL_PATTERN,
        examples=["BTC/USDT", "SYN/USD"],
        description="a market symbol: BTC/USDT, BTC/USDT:USDT (futures), ^GSPC, BRK.B",
    ),
]

BUILTIN_STRATEGIES = ("ema_crossover", "confluence", "rsi_reversal", "bb_reversal", "regime")
"""The built-in strategies' names, for the document (a test keeps them the registry's; not
imported from it, so that this module stays light to import)."""
_TF = "|".join(re.escape(name) for name in TIMEFRAMES)
_WRAPPERS = rf"(?:@(?:{_TF})){{0,2}}(?:\+atr(?:@(?:{_TF})){{0,2}})?"
STRATEGY_PATTERN = rf"^[A-Za-z_][A-Za-z0-9_]{{0,63}}{_WRAPPERS}$"
"""``NAME``, then up to two higher-timeframe filters ``@TF`` and ATR stops ``+atr`` (once)."""
BUILTIN_PATTERN = rf"^(?:{'|'.join(BUILTIN_STRATEGIES)}){_WRAPPERS}$"


def _builtins_first(schema: dict[str, Any]) -> None:
    # The same strings as STRATEGY_PATTERN alone; stated apart so that a reader (and a
    # generator of examples) sees the built-ins.
    pattern = schema.pop("pattern")
    schema["anyOf"] = [{"pattern": BUILTIN_PATTERN}, {"pattern": pattern}]


StrategyName = Annotated[
    StrictStr,
    Field(
        max_length=160,
        pattern=STRATEGY_PATTERN,
        json_schema_extra=_builtins_first,
        examples=["ema_crossover", "regime@4h", "confluence+atr"],
        description=f"a strategy by name: a built-in ({', '.join(BUILTIN_STRATEGIES)}) or one "
        "deployed in strategy_dirs; @TF adds a "
        "higher-timeframe filter (TF coarser than the data's, a whole multiple of it), +atr "
        "ATR stops. An unknown name, or a filter the data cannot make, is a 422 naming it",
    ),
]

PARAM_LIMIT = 1e9
"""The largest magnitude of a numeric strategy param (every built-in range is far inside)."""
PARAM_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_PARAM_TEXT_MAX = 64


def _param_value(value: Any) -> Any:
    """A param value: a finite number within +-:data:`PARAM_LIMIT`, a boolean, or text of at
    most 64 characters (a choice's name)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range
            number = math.inf
        if -PARAM_LIMIT <= number <= PARAM_LIMIT:
            return value
        raise PydanticCustomError(
            "param_out_of_range",
            "a param value is a number from -1e9 to 1e9, not {value}",
            {"value": f"{number:.6g}"},
        )
    if isinstance(value, str) and len(value) <= _PARAM_TEXT_MAX:
        return value
    raise PydanticCustomError(
        "param_type",
        "a param value is a number, true or false, or a choice's name (at most {n} "
        "characters), not {kind}",
        {
            "n": _PARAM_TEXT_MAX,
            "kind": _json_kind(value) if not isinstance(value, str) else "a longer text",
        },
    )


ParamValue = Annotated[
    Any,
    BeforeValidator(_param_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": -PARAM_LIMIT, "maximum": PARAM_LIMIT},
                {"type": "boolean"},
                {"type": "string", "maxLength": _PARAM_TEXT_MAX},
            ]
        }
    ),
]
Params = Annotated[
    dict[Annotated[str, Field(pattern=PARAM_NAME_PATTERN)], ParamValue],
    Field(
        max_length=32,
        json_schema_extra={"additionalProperties": False},
        description="param values over the strategy's defaults (names and ranges: "
        "tradpal strategy list); an unknown name, a value outside the strategy's range or "
        "a broken constraint (fast < slow) is a 422 naming the param",
    ),
]


RUN_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
"""A run id: the lower-case UUID a run is named by."""
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"
"""An Idempotency-Key: 1 to 255 visible ASCII characters (no spaces, which HTTP trims), such
as a UUID (tradpal.runs.api.MAX_KEY_LENGTH)."""
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,512}$"
"""A page cursor: the opaque base64url text of ``next`` (tradpal.runs.api.page_cursor)."""

RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="the run_id its start answered")]
"""The ``{id}`` of a run's routes."""
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="makes a retry safe: a repeat with the same key and body answers the "
        "first run (for 24 hours); the same key with another body is a 409",
    ),
]
"""The optional ``Idempotency-Key`` header of a run's start."""


__all__ = [
    "CURSOR_PATTERN",
    "FIRST_YEAR",
    "IDEMPOTENCY_KEY_PATTERN",
    "LAST_YEAR",
    "RUN_ID_PATTERN",
    "STRATEGY_PATTERN",
    "SYMBOL_PATTERN",
    "TIME_PATTERN",
    "ApiTime",
    "IdempotencyKey",
    "Params",
    "RunId",
    "StrategyName",
    "Symbol",
    "TimeText",
    "check_time_text",
]
