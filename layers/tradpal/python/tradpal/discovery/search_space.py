"""What a discovery searches over: a strategy's params plus the risk params.

A :class:`SearchSpace` is one :class:`~tradpal.strategies.ParamSpace` holding the
strategy's own params (with its constraints) and, when ``risk`` is on, three risk
params that become :class:`~tradpal.backtest.BacktestConfig` overrides:

* ``sl_atr``: the stop loss in ATR multiples (0.5 to 4, step 0.25) -> ``stop_loss="atr:X"``;
* ``tp_atr``: the take profit in ATR multiples (1 to 8, step 0.5) -> ``take_profit="atr:Y"``;
* ``risk_per_trade``: the equity fraction risked per trade (0.0025 to 0.03, step
  0.0025) -> ``sizing="risk:R"``;

with the constraint ``tp_atr > sl_atr`` (a target nearer than the stop is not searched).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tradpal.errors import DiscoveryError, TradPalError
from tradpal.strategies import Param, ParamSpace, get_strategy

RISK_PARAMS: tuple[Param, ...] = (
    Param("sl_atr", "float", 0.5, 4.0, 0.25, default=1.5, description="stop loss, x ATR"),
    Param("tp_atr", "float", 1.0, 8.0, 0.5, default=3.0, description="take profit, x ATR"),
    Param(
        "risk_per_trade",
        "float",
        0.0025,
        0.03,
        0.0025,
        default=0.01,
        description="fraction of equity risked per trade (0.01 = 1 %)",
    ),
)
RISK_CONSTRAINTS: tuple[str, ...] = ("tp_atr > sl_atr",)
RISK_NAMES: tuple[str, ...] = tuple(p.name for p in RISK_PARAMS)


@dataclass(frozen=True)
class SearchSpace:
    """The params a discovery searches for ``strategy`` (module docstring)."""

    strategy: str
    space: ParamSpace
    risk: bool = True

    @classmethod
    def for_strategy(cls, strategy: str, *, risk: bool = True) -> SearchSpace:
        """The space of the registered ``strategy`` (``"confluence"``,
        ``"ema_crossover@4h"``), plus the risk params when ``risk``."""
        try:
            own = get_strategy(strategy).space
        except TradPalError as exc:
            raise DiscoveryError(exc.message, hint=exc.hint) from None
        if not risk:
            return cls(strategy, own, False)
        clash = [n for n in RISK_NAMES if n in own]
        if clash:
            raise DiscoveryError(
                f"strategy {strategy!r} already has the risk param(s) {', '.join(clash)}",
                hint="search it with risk=false, or drop the '+atr' wrapper",
            )
        return cls(strategy, own.merge(ParamSpace(RISK_PARAMS, RISK_CONSTRAINTS)), True)

    @property
    def names(self) -> tuple[str, ...]:
        return self.space.names

    def split(self, candidate: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``candidate`` validated and split into (strategy params, BacktestConfig
        overrides). The overrides are empty when the space has no risk params."""
        try:
            full = self.space.validate(candidate)
        except TradPalError as exc:
            raise DiscoveryError(exc.message, hint=exc.hint) from None
        params = {k: v for k, v in full.items() if not (self.risk and k in RISK_NAMES)}
        if not self.risk:
            return params, {}
        overrides = {
            "stop_loss": f"atr:{full['sl_atr']:g}",
            "take_profit": f"atr:{full['tp_atr']:g}",
            "sizing": f"risk:{full['risk_per_trade']:g}",
        }
        return params, overrides

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``{"strategy", "risk", "space": ParamSpace.to_dict()}``."""
        return {"strategy": self.strategy, "risk": self.risk, "space": self.space.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchSpace:
        """The space :meth:`to_dict` wrote (the strategy need not be registered here)."""
        if not isinstance(d, Mapping) or not isinstance(d.get("strategy"), str):
            raise DiscoveryError(
                "a search space is an object with a strategy name and a space",
                hint='write it like {"strategy": "confluence", "risk": true, "space": {...}}',
            )
        try:
            space = ParamSpace.from_dict(d.get("space", {}))
        except TradPalError as exc:
            raise DiscoveryError(exc.message, hint=exc.hint) from None
        risk = bool(d.get("risk", False))
        if risk and not all(n in space for n in RISK_NAMES):
            raise DiscoveryError(f"a risk search space needs the params {', '.join(RISK_NAMES)}")
        return cls(d["strategy"], space, risk)


__all__ = ["RISK_CONSTRAINTS", "RISK_NAMES", "RISK_PARAMS", "SearchSpace"]
