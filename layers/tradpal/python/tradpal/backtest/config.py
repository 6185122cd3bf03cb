"""The settings of one backtest, validated when made: :class:`BacktestConfig`; and
:class:`BacktestOverrides`, the settings a request may override, typed with their ranges
(what the API's ``config`` objects accept, and what its OpenAPI document says)."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from tradpal.errors import BacktestError
from tradpal.risk import RiskError, Sizing, StopRule

FILLS = ("close", "next_open")
DEFAULT_SIZING = Sizing("risk", 0.01)
DEFAULT_STOP = StopRule("atr", 1.5)
DEFAULT_TARGET = StopRule("atr", 3.0)


def _finite(name: str, v: Any) -> float:
    try:
        ok = not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)
    except OverflowError:  # an integer beyond float range
        ok = False
    if not ok:
        if isinstance(v, float):
            shown = f"{v:.6g}"
        elif isinstance(v, int) and not isinstance(v, bool):
            shown = "an integer beyond float range"
        else:
            shown = type(v).__name__
        raise BacktestError(f"{name} must be a finite number, not {shown}")
    return float(v)


def _int(name: str, v: Any, low: int, hint: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise BacktestError(f"{name} must be a whole number >= {low}, not {v!r}", hint=hint)
    return int(v)


@dataclass(frozen=True)
class BacktestConfig:
    """How a backtest trades (units: fractions, not percent).

    ``capital`` starting cash; ``fees`` fraction of notional per side (0.001 = 0.1 %);
    ``slippage`` adverse fraction of price on market fills; ``fill`` ``"close"`` (the
    signal bar's close) or ``"next_open"``; ``sizing`` a :class:`~tradpal.risk.Sizing`
    (or its text, ``"risk:0.01"``); ``stop_loss`` / ``take_profit`` / ``trailing_stop``
    :class:`~tradpal.risk.StopRule` (or text, ``"atr:1.5"``, ``"pct:0.02"``, a bare number
    is a fraction) or None; ``time_stop_bars`` closes a position that many bars after its
    entry bar; ``atr_period`` for ATR rules; ``max_leverage`` caps notional at leverage x
    equity; ``max_notional`` caps it in currency; ``allow_short`` lets short entries open
    positions; ``max_drawdown`` arms the drawdown guard (no new entries past it);
    ``target_volatility`` arms the leverage clamp (annualised, over the last
    ``vol_lookback`` bars); ``year_days`` 365 for crypto, 252 for stocks (annualisation).
    """

    capital: float = 10_000.0
    fees: float = 0.001
    slippage: float = 0.0
    fill: Literal["close", "next_open"] = "close"
    sizing: Sizing = DEFAULT_SIZING
    stop_loss: StopRule | None = DEFAULT_STOP
    take_profit: StopRule | None = DEFAULT_TARGET
    trailing_stop: StopRule | None = None
    time_stop_bars: int | None = None
    atr_period: int = 14
    max_leverage: float = 1.0
    max_notional: float | None = None
    allow_short: bool = True
    max_drawdown: float | None = None
    target_volatility: float | None = None
    year_days: int = 365
    vol_lookback: int = 20

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        try:
            if not isinstance(self.sizing, Sizing):
                set_(self, "sizing", Sizing.parse(self.sizing))
            for name in ("stop_loss", "take_profit", "trailing_stop"):
                v = getattr(self, name)
                if v is not None and not isinstance(v, StopRule):
                    set_(self, name, StopRule.parse(v))
        except RiskError as exc:
            raise BacktestError(exc.message, hint=exc.hint) from None
        capital = _finite("capital", self.capital)
        if capital <= 0:
            raise BacktestError(f"capital must be above 0, not {capital}")
        set_(self, "capital", capital)
        for name in ("fees", "slippage"):
            v = _finite(name, getattr(self, name))
            if not 0 <= v < 1:
                raise BacktestError(
                    f"{name} {v} is not a fraction in [0, 1)", hint=f"{name}=0.001 means 0.1 %"
                )
            set_(self, name, v)
        if self.fill not in FILLS:
            raise BacktestError(f"unknown fill {self.fill!r}", hint="use close or next_open")
        if self.time_stop_bars is not None:
            _int("time_stop_bars", self.time_stop_bars, 1, "or None for no time stop")
        _int("atr_period", self.atr_period, 1, "the ATR period in bars, e.g. 14")
        _int("vol_lookback", self.vol_lookback, 2, "the volatility window in bars, e.g. 20")
        _int("year_days", self.year_days, 1, "365 for crypto, 252 for stocks")
        if self.year_days > 366:
            raise BacktestError(f"year_days {self.year_days} is more than a year")
        lev = _finite("max_leverage", self.max_leverage)
        if lev <= 0:
            raise BacktestError(f"max_leverage must be above 0, not {lev}", hint="1 = no leverage")
        set_(self, "max_leverage", lev)
        if self.max_notional is not None:
            mn = _finite("max_notional", self.max_notional)
            if mn <= 0:
                raise BacktestError(f"max_notional must be above 0, not {mn}")
            set_(self, "max_notional", mn)
        if not isinstance(self.allow_short, bool):
            raise BacktestError(f"allow_short must be True or False, not {self.allow_short!r}")
        if self.max_drawdown is not None:
            dd = _finite("max_drawdown", self.max_drawdown)
            if not 0 < dd < 1:
                raise BacktestError(
                    f"max_drawdown {dd} is not a fraction between 0 and 1",
                    hint="0.2 stops new entries after a 20 % drawdown",
                )
            set_(self, "max_drawdown", dd)
        if self.target_volatility is not None:
            tv = _finite("target_volatility", self.target_volatility)
            if tv <= 0:
                raise BacktestError(f"target_volatility must be above 0, not {tv}")
            set_(self, "target_volatility", tv)

    @property
    def uses_atr(self) -> bool:
        """Whether any protective rule is measured in ATR."""
        rules = (self.stop_loss, self.take_profit, self.trailing_stop)
        return any(r is not None and r.kind == "atr" for r in rules)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: rules and sizing as their text forms (``"atr:1.5"``, ``"risk:0.01"``)."""
        d = asdict(self)
        d["sizing"] = str(self.sizing)
        for name in ("stop_loss", "take_profit", "trailing_stop"):
            rule = getattr(self, name)
            d[name] = None if rule is None else str(rule)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BacktestConfig:
        """The inverse of :meth:`to_dict`; also accepts ``{"kind", "value"}`` mappings for
        sizing and rules. Unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise BacktestError(
                f"unknown backtest setting(s): {', '.join(unknown)}",
                hint=f"known settings: {', '.join(sorted(known))}",
            )
        values = dict(d)
        for name in ("sizing", "stop_loss", "take_profit", "trailing_stop"):
            v = values.get(name)
            if isinstance(v, dict):
                try:
                    values[name] = (Sizing if name == "sizing" else StopRule)(**v)
                except (TypeError, RiskError) as exc:
                    raise BacktestError(f"{name} {v!r} is malformed: {exc}") from None
        return cls(**values)


# Typed overrides ---------------------------------------------------------------------------
# Ranges: the library's own (fees in [0, 1), a pct stop in (0, 1)...), and an upper bound for
# every open-ended one so that a request holds finite numbers a backtest can compute with.
MAX_CAPITAL = 1e12
MAX_NOTIONAL = 1e15
MAX_LEVERAGE = 100.0
MAX_ATR_MULTIPLE = 100.0
MAX_FRACTION_SIZING = 100.0
MAX_QTY = 1e9
MAX_TARGET_VOLATILITY = 10.0
MAX_BARS = 1_000_000

# Decimal text of a number in a range, exactly (no exponent, no sign, no spaces): a fraction in
# (0, 1); a positive number below 100; below 1e9; a Kelly cap in (0, 1].
_FRACTION = r"0?\.[0-9]*[1-9][0-9]*"
_BELOW_100 = rf"(?:[1-9][0-9]?(?:\.[0-9]+)?|{_FRACTION})"
_BELOW_1E9 = rf"(?:[1-9][0-9]{{0,8}}(?:\.[0-9]+)?|{_FRACTION})"
_UP_TO_1 = rf"(?:{_FRACTION}|1(?:\.0+)?)"
SIZING_PATTERN = (
    rf"^(?:all|fraction:{_BELOW_100}|qty:{_BELOW_1E9}|risk:{_FRACTION}|kelly:{_UP_TO_1})$"
)
STOP_PATTERN = rf"^(?:pct:{_FRACTION}|atr:{_BELOW_100}|{_FRACTION})$"
_SIZING_TEXT, _STOP_TEXT = re.compile(SIZING_PATTERN), re.compile(STOP_PATTERN)
_SIZING_HINT = (
    "write all, fraction:F (0 < F < 100), qty:Q (0 < Q < 1e9), risk:F (0 < F < 1) or "
    'kelly:CAP (0 < CAP <= 1), e.g. "risk:0.01", or {"kind": "risk", "value": 0.01}'
)
_STOP_HINT = (
    'write pct:F (0 < F < 1) or atr:M (0 < M < 100), e.g. "atr:1.5", a fraction such as '
    '0.02, {"kind": "atr", "value": 1.5}, or "none" to turn the rule off'
)
# (exclusive low, high, high inclusive) of each kind's value
_SIZING_VALUES = {
    "fraction": (0.0, MAX_FRACTION_SIZING, False),
    "qty": (0.0, MAX_QTY, False),
    "risk": (0.0, 1.0, False),
    "kelly": (0.0, 1.0, True),
}
_STOP_VALUES = {"pct": (0.0, 1.0, False), "atr": (0.0, MAX_ATR_MULTIPLE, False)}


def _number_in(value: Any, low: float, high: float, high_inclusive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        x = float(value)
    except OverflowError:
        return False
    return low < x and (x <= high if high_inclusive else x < high)


def _kind_value(value: Any, ranges: dict[str, tuple[float, float, bool]]) -> str | None:
    """``{"kind", "value"}`` (a kind of ``ranges`` and a value in its range) as its text form
    (``"risk:0.01"``); None for anything else."""
    if not isinstance(value, dict) or set(value) != {"kind", "value"}:
        return None
    kind = value["kind"]
    if not isinstance(kind, str) or kind not in ranges:
        return None
    if not _number_in(value["value"], *ranges[kind]):
        return None
    return f"{kind}:{float(value['value'])!r}"


def _sizing(value: Any) -> Any:
    if isinstance(value, str) and _SIZING_TEXT.match(value):
        return value
    if value == {"kind": "all"}:
        return "all"
    text = _kind_value(value, _SIZING_VALUES)
    if text is not None:
        return text
    if value is None:
        _not_null(value)
    raise PydanticCustomError("sizing", "not a sizing: {hint}", {"hint": _SIZING_HINT})


def _stop(value: Any) -> Any:
    if value == "none" or (isinstance(value, str) and _STOP_TEXT.match(value)):
        return value
    if _number_in(value, 0.0, 1.0, False):
        return value
    text = _kind_value(value, _STOP_VALUES)
    if text is not None:
        return text
    if value is None:
        _not_null(value)
    raise PydanticCustomError("stop_rule", "not a stop rule: {hint}", {"hint": _STOP_HINT})


def _kind_schema(ranges: dict[str, tuple[float, float, bool]]) -> list[dict[str, Any]]:
    out = []
    for kind, (low, high, inclusive) in ranges.items():
        bound = {"maximum": high} if inclusive else {"exclusiveMaximum": high}
        value = {"type": "number", "exclusiveMinimum": low, **bound}
        out.append(
            {
                "type": "object",
                "properties": {"kind": {"const": kind}, "value": value},
                "required": ["kind", "value"],
                "additionalProperties": False,
            }
        )
    return out


SizingSetting = Annotated[
    Any,
    BeforeValidator(_sizing),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": SIZING_PATTERN},
                {
                    "type": "object",
                    "properties": {"kind": {"const": "all"}},
                    "required": ["kind"],
                    "additionalProperties": False,
                },
                *_kind_schema(_SIZING_VALUES),
            ],
            "description": "how large a position is: " + _SIZING_HINT,
        }
    ),
]
StopSetting = Annotated[
    Any,
    BeforeValidator(_stop),
    WithJsonSchema(
        {
            "anyOf": [
                {"const": "none"},
                {"type": "string", "pattern": STOP_PATTERN},
                {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                *_kind_schema(_STOP_VALUES),
            ],
            "description": "a protective exit: " + _STOP_HINT,
        }
    ),
]


def _not_null(value: Any) -> Any:
    if value is None:  # config_for skips None (an unset CLI flag): never a silent default
        raise PydanticCustomError(
            "null_setting",
            'null is not a setting: give a value, "none" to turn an optional rule off, or '
            "leave the field out for the default",
            {},
        )
    return value


def _huge_as_inf(value: Any) -> Any:
    if type(value) is int and abs(value) > 2**1023:  # beyond float range: out of any range
        return math.inf if value > 0 else -math.inf
    return value


def _integral(value: Any) -> Any:
    if type(value) is float and value.is_integer():  # JSON Schema's integer takes 2.0
        return int(value)
    return value


def _none_or(value: Any, handler: Any) -> Any:
    return value if value == "none" else handler(value)


def _or_none(schema: dict[str, Any]) -> None:
    """The field's schema, or "none" (an optional rule turned off)."""
    keep = ("title", "description", "default")
    inner = {k: v for k, v in schema.items() if k not in keep}
    for key in inner:
        del schema[key]
    schema["anyOf"] = [inner, {"const": "none"}]


_Set = BeforeValidator(_not_null)
_Float = BeforeValidator(_huge_as_inf)
_OrNone = WrapValidator(_none_or)
_Given = PlainSerializer(lambda v: v)  # a number, or "none"
Capital = Annotated[float, Field(strict=True, gt=0, le=MAX_CAPITAL), _Float, _Set]
Fraction01 = Annotated[float, Field(strict=True, ge=0, lt=1), _Float, _Set]
Leverage = Annotated[float, Field(strict=True, gt=0, le=MAX_LEVERAGE), _Float, _Set]
Notional = Annotated[
    float, Field(strict=True, gt=0, le=MAX_NOTIONAL), _Float, _OrNone, _Set, _Given
]
Drawdown = Annotated[float, Field(strict=True, gt=0, lt=1), _Float, _OrNone, _Set, _Given]
Volatility = Annotated[
    float, Field(strict=True, gt=0, le=MAX_TARGET_VOLATILITY), _Float, _OrNone, _Set, _Given
]
TimeStop = Annotated[
    int, Field(strict=True, ge=1, le=MAX_BARS), BeforeValidator(_integral), _OrNone, _Set, _Given
]
AtrPeriod = Annotated[int, Field(strict=True, ge=1, le=1000), BeforeValidator(_integral), _Set]
YearDays = Annotated[int, Field(strict=True, ge=1, le=366), BeforeValidator(_integral), _Set]
Lookback = Annotated[int, Field(strict=True, ge=2, le=10_000), BeforeValidator(_integral), _Set]


def _no_defaults(schema: dict[str, Any]) -> None:
    # every field is optional and has no value unless given: no "default": null in the schema
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class BacktestOverrides(BaseModel):
    """The :class:`BacktestConfig` settings a request overrides (the others keep their
    defaults, and the per-timeframe stops and leverage of
    :func:`~tradpal.backtest.strategy_run.config_for`), each with its range; ``"none"``
    turns an optional rule off. Sizing and stop rules are text (``"risk:0.01"``,
    ``"atr:1.5"``) or ``{"kind", "value"}`` objects, kept as their text."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_no_defaults)
    capital: Capital = Field(None, description="starting cash, in the quote currency")
    fees: Fraction01 = Field(None, description="fraction of notional per side (0.001 = 0.1 %)")
    slippage: Fraction01 = Field(None, description="adverse fraction of price on market fills")
    fill: Annotated[Literal["close", "next_open"], _Set] = Field(
        None,
        description="close: the signal bar's close; next_open: the next bar's open",
    )
    sizing: SizingSetting = None
    stop_loss: StopSetting = None
    take_profit: StopSetting = None
    trailing_stop: StopSetting = None
    time_stop_bars: TimeStop = Field(
        None,
        json_schema_extra=_or_none,
        description='close a position that many bars after its entry bar; "none": never',
    )
    atr_period: AtrPeriod = Field(None, description="bars of the ATR the ATR rules measure")
    max_leverage: Leverage = Field(
        None,
        description="notional at most leverage x equity (1 = no leverage)",
    )
    max_notional: Notional = Field(
        None,
        json_schema_extra=_or_none,
        description='notional at most this, in the quote currency; "none": no cap',
    )
    allow_short: Annotated[StrictBool, _Set] = Field(
        None, description="whether short entries open positions"
    )
    max_drawdown: Drawdown = Field(
        None,
        json_schema_extra=_or_none,
        description='no new entries past this drawdown (0.2 = 20 %); "none": no guard',
    )
    target_volatility: Volatility = Field(
        None,
        json_schema_extra=_or_none,
        description='annualised volatility the leverage clamp aims at; "none": no clamp',
    )
    year_days: YearDays = Field(None, description="365 for crypto, 252 for stocks")
    vol_lookback: Lookback = Field(None, description="bars of the volatility the clamp measures")

    def overrides(self) -> dict[str, Any]:
        """The settings given, as plain JSON (the keywords of :func:`config_for`)."""
        return self.model_dump(mode="json", exclude_unset=True)


__all__ = ["FILLS", "BacktestConfig", "BacktestError", "BacktestOverrides"]
