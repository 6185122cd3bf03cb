"""Risk limits shared by the backtest engine and live trading: the drawdown guard (the
kill switch) and the volatility-adjusted leverage clamp.

Both are pure: the guard is an immutable state that :meth:`DrawdownGuard.update` replaces,
so a live trader can persist it between runs as two numbers and a flag (``to_dict``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from tradpal.errors import RiskError


@dataclass(frozen=True)
class DrawdownGuard:
    """Stops new entries once equity has fallen ``max_drawdown`` (a fraction, 0.2 = 20 %)
    below its running peak. Open positions are not touched; the guard only refuses
    entries, and once tripped it stays tripped (a kill switch is reset by a person:
    :meth:`reset`).

    Rule, per equity observation e (in order): peak = max(peak, e); tripped when
    e <= peak x (1 - max_drawdown). ``max_drawdown=None`` disables the guard. The engine
    starts the peak at the initial capital and observes the equity at every bar's close
    (before that bar's signals act, and again after).
    """

    max_drawdown: float | None
    peak: float = -math.inf
    tripped: bool = False
    tripped_equity: float | None = None

    def __post_init__(self) -> None:
        d = self.max_drawdown
        if d is not None and not (isinstance(d, int | float) and 0 < d < 1):
            raise RiskError(
                f"max_drawdown {d!r} is not a fraction between 0 and 1",
                hint="use e.g. 0.2 to stop new entries after a 20 % drawdown",
            )

    @classmethod
    def start(cls, max_drawdown: float | None, capital: float) -> DrawdownGuard:
        """A fresh guard whose peak is the starting capital."""
        return cls(max_drawdown, peak=float(capital))

    def update(self, equity: float) -> DrawdownGuard:
        """The guard after observing ``equity``."""
        peak = equity if equity > self.peak else self.peak
        if self.tripped or self.max_drawdown is None:
            return replace(self, peak=peak)
        if equity <= peak * (1.0 - self.max_drawdown):
            return replace(self, peak=peak, tripped=True, tripped_equity=float(equity))
        return replace(self, peak=peak)

    @property
    def allows_entry(self) -> bool:
        """False once tripped."""
        return not self.tripped

    def drawdown(self, equity: float) -> float:
        """1 - equity / peak (0 at or above the peak)."""
        return max(0.0, 1.0 - equity / self.peak) if self.peak > 0 else 0.0

    def reset(self, equity: float) -> DrawdownGuard:
        """Re-arm after a person has reviewed the account: the peak restarts at ``equity``."""
        return DrawdownGuard(self.max_drawdown, peak=float(equity))

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_drawdown": self.max_drawdown,
            "peak": self.peak,
            "tripped": self.tripped,
            "tripped_equity": self.tripped_equity,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DrawdownGuard:
        return cls(
            d.get("max_drawdown"),
            peak=float(d.get("peak", -math.inf)),
            tripped=bool(d.get("tripped", False)),
            tripped_equity=d.get("tripped_equity"),
        )


def leverage_cap(max_leverage: float, target_volatility: float | None, volatility: float) -> float:
    """The leverage allowed for a new position: min(max_leverage, target / volatility).

    ``volatility`` is the market's annualised realised volatility at the signal bar (the
    sample standard deviation of the last ``vol_lookback`` log returns x sqrt(bars per
    year)); ``target_volatility`` the annualised volatility the position may carry (0.5 =
    50 %). Without a target the clamp is off. While the estimate is unknown (NaN, the
    first bars) or zero, the cap is min(max_leverage, 1): no leverage on no information.
    """
    if not max_leverage > 0:
        raise RiskError(f"max_leverage must be above 0, not {max_leverage}")
    if target_volatility is None:
        return float(max_leverage)
    if not (volatility > 0):  # NaN or 0
        return min(float(max_leverage), 1.0)
    return min(float(max_leverage), target_volatility / volatility)


__all__ = ["DrawdownGuard", "leverage_cap"]
