"""Indicator sets as plain data, so a settings file can carry them.

A spec entry is a mapping ``{"kind": "ema", "period": 9}`` (or an
:class:`IndicatorSpec`); :func:`compute` turns a list of them into named columns
of numpy arrays. Column names are the output stem and the parameters joined by
``_``: ``ema_9``, ``rsi_14``, ``bb_upper_20_2``, ``atr_14``, ``adx_14``,
``plus_di_14``, ``stoch_k_14_3_3``, ``obv``; MACD with its standard 12/26/9 is
``macd``, ``macd_signal``, ``macd_hist`` (other settings get the suffix, e.g.
``macd_5_35_5``). No pandas here: :mod:`tradpal.indicators.frame` adds the
columns to a DataFrame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from tradpal.indicators import core
from tradpal.indicators._validate import IndicatorInputError, as_array, checked

_NO_DEFAULT = object()


@dataclass(frozen=True)
class _Kind:
    fn: Callable[..., Any]
    inputs: tuple[str, ...]  # positional inputs: high, low, close, volume
    params: tuple[tuple[str, Any], ...]  # (name, default) in signature order
    outputs: tuple[str, ...]  # column stems, one per output
    bare_when_default: bool = False  # MACD 12/26/9 -> "macd"
    keyword_inputs: tuple[str, ...] = ()  # e.g. vwap's time=


_P = ("period", _NO_DEFAULT)
KINDS: Mapping[str, _Kind] = MappingProxyType(
    {
        "sma": _Kind(core.sma, ("close",), (_P,), ("sma",)),
        "ema": _Kind(core.ema, ("close",), (_P,), ("ema",)),
        "wma": _Kind(core.wma, ("close",), (_P,), ("wma",)),
        "rsi": _Kind(core.rsi, ("close",), (("period", 14),), ("rsi",)),
        "macd": _Kind(
            core.macd,
            ("close",),
            (("fast", 12), ("slow", 26), ("signal", 9)),
            ("macd", "macd_signal", "macd_hist"),
            bare_when_default=True,
        ),
        "bollinger": _Kind(
            core.bollinger,
            ("close",),
            (("period", 20), ("k", 2.0)),
            ("bb_upper", "bb_middle", "bb_lower", "bb_bandwidth", "bb_percent_b"),
        ),
        "atr": _Kind(core.atr, ("high", "low", "close"), (("period", 14),), ("atr",)),
        "adx": _Kind(
            core.adx,
            ("high", "low", "close"),
            (("period", 14),),
            ("adx", "plus_di", "minus_di"),
        ),
        "stochastic": _Kind(
            core.stochastic,
            ("high", "low", "close"),
            (("k", 14), ("smooth_k", 3), ("d", 3)),
            ("stoch_k", "stoch_d"),
        ),
        "williams_r": _Kind(
            core.williams_r, ("high", "low", "close"), (("period", 14),), ("willr",)
        ),
        "obv": _Kind(core.obv, ("close", "volume"), (), ("obv",)),
        "cmf": _Kind(core.cmf, ("high", "low", "close", "volume"), (("period", 20),), ("cmf",)),
        "vwap": _Kind(
            core.vwap,
            ("high", "low", "close", "volume"),
            (("period", None),),
            ("vwap",),
            keyword_inputs=("time",),
        ),
        "volatility": _Kind(
            core.rolling_volatility, ("close",), (("period", 20),), ("volatility",)
        ),
    }
)


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator of a set: its ``kind`` (a key of :data:`KINDS`) and parameters."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kind = KINDS.get(self.kind)
        if kind is None:
            raise IndicatorInputError(
                f"unknown indicator kind {self.kind!r}", hint=f"use one of {', '.join(KINDS)}"
            )
        known = {name for name, _ in kind.params}
        unknown = sorted(set(self.params) - known)
        if unknown:
            raise IndicatorInputError(
                f"{self.kind} has no parameter(s) {', '.join(unknown)}",
                hint=f"{self.kind} takes {', '.join(sorted(known)) or 'no parameters'}",
            )
        resolved = {}
        for name, default in kind.params:
            value = self.params.get(name, default)
            if value is _NO_DEFAULT:
                raise IndicatorInputError(
                    f"{self.kind} needs the parameter {name!r}",
                    hint=f'e.g. {{"kind": "{self.kind}", "{name}": 14}}',
                )
            resolved[name] = value
        object.__setattr__(self, "params", MappingProxyType(resolved))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IndicatorSpec:
        """``{"kind": "ema", "period": 9}`` -> ``IndicatorSpec("ema", {"period": 9})``."""
        if not isinstance(data, Mapping) or "kind" not in data:
            raise IndicatorInputError(
                f"an indicator spec must be a mapping with a 'kind', not {data!r}",
                hint='e.g. {"kind": "rsi", "period": 14}',
            )
        return cls(str(data["kind"]), {k: v for k, v in data.items() if k != "kind"})

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.params}

    def columns(self) -> tuple[str, ...]:
        """The column names this entry produces, one per output."""
        kind = KINDS[self.kind]
        values = [v for v in self.params.values() if v is not None]
        defaults = [d for _, d in kind.params if d is not None]
        if not values or (kind.bare_when_default and values == defaults):
            return kind.outputs
        suffix = "_".join(_fmt(v) for v in values)
        return tuple(f"{stem}_{suffix}" for stem in kind.outputs)

    def compute(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Columns computed from ``inputs`` (``high low close volume`` arrays, ``time``)."""
        kind = KINDS[self.kind]
        try:
            args = [inputs[name] for name in kind.inputs]
        except KeyError as exc:
            raise IndicatorInputError(
                f"{self.kind} needs the input {exc.args[0]!r}",
                hint="pass open/high/low/close/volume columns",
            ) from None
        extra = {k: inputs[k] for k in kind.keyword_inputs if inputs.get(k) is not None}
        result = kind.fn(*args, **self.params, **extra)
        outputs = (result,) if isinstance(result, np.ndarray) else tuple(result)
        return dict(zip(self.columns(), outputs, strict=True))


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_spec(spec: Iterable[IndicatorSpec | Mapping[str, Any]]) -> tuple[IndicatorSpec, ...]:
    """A tuple of :class:`IndicatorSpec` from specs or plain mappings; names must not clash."""
    if isinstance(spec, Mapping | str | IndicatorSpec):
        raise IndicatorInputError(
            "an indicator set is a list of entries",
            hint='e.g. [{"kind": "ema", "period": 9}, {"kind": "rsi"}]',
        )
    out = tuple(s if isinstance(s, IndicatorSpec) else IndicatorSpec.from_dict(s) for s in spec)
    seen: set[str] = set()
    for s in out:
        for col in s.columns():
            if col in seen:
                raise IndicatorInputError(
                    f"the indicator set produces the column {col!r} twice",
                    hint="remove the duplicate entry",
                )
            seen.add(col)
    return out


TRADPAL_SET: tuple[IndicatorSpec, ...] = parse_spec(
    [
        {"kind": "ema", "period": 9},
        {"kind": "ema", "period": 21},
        {"kind": "rsi", "period": 14},
        {"kind": "bollinger", "period": 20, "k": 2.0},
        {"kind": "atr", "period": 14},
        {"kind": "macd", "fast": 12, "slow": 26, "signal": 9},
        {"kind": "adx", "period": 14},
        {"kind": "stochastic", "k": 14, "smooth_k": 3, "d": 3},
        {"kind": "obv"},
    ]
)
"""The default set: EMA 9 and 21, RSI 14, Bollinger 20/2, ATR 14, MACD 12/26/9,
ADX 14, Stochastic 14/3/3 and OBV."""


def compute(
    spec: Iterable[IndicatorSpec | Mapping[str, Any]] = TRADPAL_SET,
    *,
    high: Any = None,
    low: Any = None,
    close: Any = None,
    volume: Any = None,
    time: Any = None,
) -> dict[str, np.ndarray]:
    """Every column of ``spec`` (default :data:`TRADPAL_SET`) as name -> array."""
    entries = parse_spec(spec)
    columns = {"high": high, "low": low, "close": close, "volume": volume}
    arrays = {k: as_array(v, k) for k, v in columns.items() if v is not None}
    inputs: dict[str, Any] = dict(arrays, time=time)
    out: dict[str, np.ndarray] = {}
    with checked(arrays):  # each column is checked once, not once per indicator
        for entry in entries:
            out.update(entry.compute(inputs))
    return out


def parse_entry(entry: str | Mapping[str, Any] | IndicatorSpec) -> IndicatorSpec:
    """One set entry from its short text form or a mapping.

    The text form is the kind followed by its parameters in signature order,
    separated by colons: ``"ema:9"``, ``"rsi"`` (defaults), ``"bollinger:20:2.5"``,
    ``"macd:12:26:9"``. It is what settings files, environment variables and the
    command line use.
    """
    if isinstance(entry, IndicatorSpec):
        return entry
    if isinstance(entry, Mapping):
        return IndicatorSpec.from_dict(entry)
    kind, *values = [part.strip() for part in str(entry).split(":")]
    if kind not in KINDS:
        return IndicatorSpec(kind)  # raises, naming the known kinds
    names = [name for name, _ in KINDS[kind].params]
    if len(values) > len(names):
        raise IndicatorInputError(
            f"{entry!r} gives {len(values)} parameter(s); {kind} takes {len(names)}",
            hint=f"write {kind}" + "".join(f":<{n}>" for n in names),
        )
    try:
        params = {n: _number(v) for n, v in zip(names, values, strict=False)}
    except ValueError:
        raise IndicatorInputError(
            f"{entry!r}: parameters must be numbers", hint="e.g. ema:21 or bollinger:20:2"
        ) from None
    return IndicatorSpec(kind, params)


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)
