"""The settings of one backtest, validated when made."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from tradpal.errors import BacktestError
from tradpal.risk import RiskError, Sizing, StopRule

FILLS = ("close", "next_open")
DEFAULT_SIZING = Sizing("risk", 0.01)
DEFAULT_STOP = StopRule("atr", 1.5)
DEFAULT_TARGET = StopRule("atr", 3.0)


def _finite(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise BacktestError(f"{name} must be a finite number, not {v!r}")
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


__all__ = ["FILLS", "BacktestConfig", "BacktestError"]
