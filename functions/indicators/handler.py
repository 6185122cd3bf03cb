"""Capability ``indicators``: technical indicators over posted candles or stored data.

``GET /v1/indicators?symbol=...&indicators=ema:9,rsi:14`` computes over the market data
store; ``POST /v1/indicators`` over the candles in the body (checked by the data contract
and the quality rules) or a stored range. Rows (:func:`tradpal.indicators.rows.
indicator_table`) above 256 KB are stored under ``indicators/<sha256>.json`` in the results
bucket and answered with a pre-signed URL instead.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from tradpal.data.contract import get_meta
from tradpal.indicators.rows import indicator_specs, indicator_table
from tradpal.indicators.spec import _NO_DEFAULT, KINDS
from tradpal.platform.api_fields import SYMBOL_PATTERN, ApiTime
from tradpal.platform.candles import (
    CandlesRequest,
    QualitySummary,
    request_frame,
)
from tradpal.platform.entry import lambda_handler
from tradpal.platform.http import make_app, model_response, responses
from tradpal.platform.observability import for_capability
from tradpal.platform.results import ResultStore
from tradpal.timeframes import TimeframeName

obs = for_capability("indicators")
router = APIGatewayHttpRouter()
PERIOD_MAX = 100_000
"""The longest indicator period a request may ask for (and at most the bars computed on)."""
K_MAX = 100.0
"""The largest Bollinger multiplier."""
_PERIOD = "[1-9][0-9]{0,4}"
_K = r"(?:[0-9]{1,2}(?:\.[0-9]+)?|\.[0-9]+)"


def _entry_params(kind: str) -> list[tuple[str, bool, bool]]:
    """(name, required, is the Bollinger multiplier) of each param of ``kind``, in order."""
    return [
        (name, default is _NO_DEFAULT, (kind, name) == ("bollinger", "k"))
        for name, default in KINDS[kind].params
    ]


def _text_pattern(kind: str) -> str:
    """``kind`` then its params, colon-separated in signature order (the required ones,
    then optional ones left to right): ``ema:9``, ``rsi``, ``bollinger:20:2.5``."""
    parts = [(_K if k else _PERIOD, required) for _, required, k in _entry_params(kind)]
    optional = ""
    for value, required in reversed(parts):
        optional = f":{value}{optional}" if required else f"(?::{value}{optional})?"
    return re.escape(kind) + optional


ENTRY_PATTERN = "|".join(_text_pattern(kind) for kind in KINDS)
"""One entry in its text form (any of the kinds)."""
_ENTRY = re.compile(f"(?:{ENTRY_PATTERN})")
ENTRY_HINT = (
    'write KIND:PARAM..., e.g. "ema:9", "rsi", "bollinger:20:2", or {"kind": "rsi", '
    f'"period": 14}}; kinds: {", ".join(KINDS)}; periods 1 to {PERIOD_MAX}, the Bollinger k '
    f"from 0 to below {K_MAX:g}"
)


def _entry(value: Any) -> Any:
    """An indicator entry as the schema states it: the text form, or ``{"kind", params}``
    with whole periods in range (2.0 taken as 2) and k a number in range."""
    if isinstance(value, str) and _ENTRY.fullmatch(value):
        return value
    if isinstance(value, dict) and isinstance(value.get("kind"), str) and value["kind"] in KINDS:
        kind = value["kind"]
        out: dict[str, Any] = {"kind": kind}
        params = {name: (required, k) for name, required, k in _entry_params(kind)}
        ok = set(value) - {"kind"} <= set(params) and all(
            name in value for name, (required, _) in params.items() if required
        )
        for name, (_, k) in params.items():
            if not ok or name not in value:
                continue
            v = value[name]
            if k:
                ok = not isinstance(v, bool) and isinstance(v, int | float) and 0 <= v < K_MAX
            elif v is None and kind == "vwap":  # vwap without a period: anchored
                pass
            elif type(v) is float and v.is_integer():
                v = int(v)
            ok = ok and (k or v is None or (type(v) is int and 1 <= v <= PERIOD_MAX))
            out[name] = v
        if ok:
            return out
    raise PydanticCustomError("indicator_entry", "not an indicator: {hint}", {"hint": ENTRY_HINT})


def _object_schema(kind: str) -> dict[str, Any]:
    properties: dict[str, Any] = {"kind": {"const": kind}}
    for name, _, k in _entry_params(kind):
        if k:
            properties[name] = {"type": "number", "minimum": 0, "exclusiveMaximum": K_MAX}
        else:
            period = {"type": "integer", "minimum": 1, "maximum": PERIOD_MAX}
            properties[name] = {"anyOf": [period, {"type": "null"}]} if kind == "vwap" else period
    required = ["kind", *(name for name, req, _ in _entry_params(kind) if req)]
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


Entry = Annotated[
    Any,
    BeforeValidator(_entry),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": f"^(?:{ENTRY_PATTERN})$"},
                *(_object_schema(kind) for kind in KINDS),
            ],
            "description": "an indicator: " + ENTRY_HINT,
        }
    ),
]
ENTRIES_PATTERN = f"^(?:(?:{ENTRY_PATTERN})(?:,(?:{ENTRY_PATTERN}))*)?$"
"""The GET form: entries in their text form, comma-separated."""
MAX_ENTRIES = 32


class IndicatorsRequest(CandlesRequest):
    """Indicators over ``candles`` or the stored ``symbol`` at ``timeframe`` in ``[start,
    end)``; ``indicators`` like ``"ema:9"``, ``"bollinger:20:2"`` or ``{"kind": "rsi",
    "period": 14}`` (default: the configured set)."""

    model_config = ConfigDict(extra="forbid")
    indicators: list[Entry] | None = Field(
        default=None,
        max_length=MAX_ENTRIES,
        examples=[["ema:9", "rsi:14"]],
        description="default: the configured set; a period longer than the bars, or two "
        "entries with one column, is a 400 saying so",
    )
    policy: Literal["reject", "repair"] = Field(
        "reject", description="candles failing the quality rules: reject (422) or repair"
    )


class IndicatorsResponse(BaseModel):
    """The bars with their indicator columns, inline (``rows``) or behind ``url``."""

    symbol: str
    timeframe: str
    source: str
    bars: int
    columns: list[str] = Field(description="row keys: time, OHLCV, then the indicators")
    rows: list[dict[str, Any]] | None = Field(None, description="null where undefined")
    url: str | None = Field(None, description="pre-signed GET URL of the rows (JSON)")
    key: str | None = None
    bytes: int | None = None
    expires_in_s: int | None = None
    quality: QualitySummary


def answer(request: IndicatorsRequest, entries: list[Entry] | None, field: str) -> Response:
    """The :class:`IndicatorsResponse` to ``request``. The rows are encoded to JSON once: those
    bytes are hashed for the key, measured against the inline limit, and then either stored
    or written into the response as they are."""
    frame, quality = request_frame(request, field=field)
    table = indicator_table(frame, indicator_specs(entries))
    encoded = table.to_json()
    digest = hashlib.sha256(encoded).hexdigest()
    placed = ResultStore().place(f"indicators/{digest}.json", encoded)
    bars = len(frame)
    obs.metrics.add_metric(name="IndicatorBars", unit="Count", value=bars)
    meta = get_meta(frame)
    response = IndicatorsResponse(
        symbol=request.symbol,
        timeframe=request.timeframe,
        source=meta.source if meta else "request",
        bars=bars,
        columns=table.columns,
        rows=None,  # inline rows go in as the text encoded above
        **(placed or {}),
        quality=quality,
    )
    return model_response(response, encoded=None if placed else {"rows": encoded.decode()})


@router.get(
    "/v1/indicators",
    summary="Indicators over stored candles",
    responses=responses(IndicatorsResponse, (400, 404, 422)),
)
def get_indicators(
    symbol: Annotated[
        str,
        Query(min_length=1, max_length=64, pattern=SYMBOL_PATTERN, examples=["BTC/USDT"]),
    ],
    timeframe: Annotated[TimeframeName, Query()] = "1h",
    start: Annotated[ApiTime | None, Query(description="inclusive, ISO 8601")] = None,
    end: Annotated[ApiTime | None, Query(description="exclusive, after start")] = None,
    indicators: Annotated[
        str | None,
        Query(
            max_length=1024,
            pattern=ENTRIES_PATTERN,
            description="comma-separated text entries: ema:9,rsi:14 (default: the set)",
        ),
    ] = None,
):
    entries = [e for e in (indicators or "").split(",") if e.strip()] or None
    request = IndicatorsRequest(symbol=symbol, timeframe=timeframe, start=start, end=end)
    return answer(request, entries, "query")


@router.post(
    "/v1/indicators",
    summary="Indicators over posted candles or a stored range",
    responses=responses(IndicatorsResponse, (400, 404, 422)),
)
def post_indicators(request: IndicatorsRequest):
    return answer(request, request.indicators, "body")


app = make_app()
app.include_router(router)
handler = lambda_handler(obs, http=app)
