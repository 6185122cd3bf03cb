"""Position sizing and protective levels: how much to trade and where to get out.

Conventions (the backtest engine and live trading apply exactly these):

* prices are per unit of the traded asset, quantities in units, notional = quantity x
  price, ``side`` is +1 (long) or -1 (short);
* the reference price of a position is its entry *fill* price (after slippage);
* a stop sits on the adverse side of the entry and a target on the favourable side:
  ``StopRule("pct", f)`` at entry x (1 - f) for a long (x (1 + f) for a short);
  ``StopRule("atr", k)`` at entry - k x ATR for a long (+ for a short), with the ATR of the
  signal bar (known at its close, so no look-ahead);
* :class:`Sizing` kinds, all against the account equity E when the position opens:

  ``all``       notional = E / (1 + fees): the whole account, entry fee included
                (vectorbt's ``size=np.inf``);
  ``fraction``  notional = value x E;
  ``qty``       quantity = value;
  ``risk``      quantity = value x E / |entry - stop|: losing ``value`` of equity when the
                stop fills at its level (default 1 %);
  ``kelly``     notional = f x E with f = :func:`kelly_fraction` of the trades closed so
                far (win rate W, payoff ratio R = mean winning return / |mean losing
                return|) capped at ``value``. Before ``KELLY_MIN_TRADES`` trades have
                closed there is no estimate and f = ``value``; with no winner yet f = 0
                and the entry is skipped (Kelly says: do not bet).

  Every kind is then capped: notional <= leverage x E / (1 + fees) (so margin plus the
  entry fee fit in the account at 1x) and <= ``max_notional`` when given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from tradpal.errors import RiskError

SizingKind = Literal["all", "fraction", "qty", "risk", "kelly"]
StopKind = Literal["pct", "atr"]
SIZING_KINDS: tuple[str, ...] = get_args(SizingKind)
STOP_KINDS: tuple[str, ...] = get_args(StopKind)
KELLY_MIN_TRADES = 10
"""Closed trades needed before the running Kelly estimate replaces the cap."""


def _number(text: str, what: str, example: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RiskError(f"{what} {text!r} is not a number", hint=f"write it as {example}") from None
    return value


@dataclass(frozen=True)
class Sizing:
    """How large a position is (see the module docstring for each kind's formula).

    ``value``: the fraction of equity (``fraction``), the quantity in units (``qty``), the
    fraction of equity risked per trade (``risk``, default 0.01) or the Kelly cap
    (``kelly``); ignored by ``all``.
    """

    kind: SizingKind
    value: float = 0.01

    def __post_init__(self) -> None:
        if self.kind not in SIZING_KINDS:
            raise RiskError(
                f"unknown sizing {self.kind!r}", hint=f"use one of {', '.join(SIZING_KINDS)}"
            )
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise RiskError(f"sizing value {v!r} is not a finite number")
        object.__setattr__(self, "value", float(v))
        if self.kind == "all":
            return
        if v <= 0:
            raise RiskError(f"{self.kind} sizing needs a value above 0, not {v}")
        if self.kind == "risk" and v >= 1:
            raise RiskError(
                f"risk sizing value {v} is the fraction of equity risked per trade",
                hint="use e.g. risk:0.01 to risk 1 % of equity",
            )
        if self.kind == "kelly" and v > 1:
            raise RiskError(f"the Kelly cap {v} is above 1", hint="use e.g. kelly:0.25")

    @classmethod
    def parse(cls, text: str) -> Sizing:
        """``"all"``, ``"fraction:0.5"``, ``"qty:2"``, ``"risk:0.01"`` or ``"kelly:0.25"``."""
        if isinstance(text, Sizing):
            return text
        kind, sep, rest = str(text).strip().lower().partition(":")
        if kind not in SIZING_KINDS:
            raise RiskError(
                f"unknown sizing {text!r}",
                hint="use all, fraction:F, qty:Q, risk:F or kelly:CAP",
            )
        if kind == "all":
            if sep and rest:
                raise RiskError(f"sizing 'all' takes no value ({text!r})", hint="write all")
            return cls("all")
        if not rest:
            raise RiskError(f"sizing {kind!r} needs a value", hint=f"write e.g. {kind}:0.5")
        return cls(kind, _number(rest, f"{kind} sizing value", f"{kind}:0.5"))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.value:g}"


@dataclass(frozen=True)
class StopRule:
    """A protective distance: ``pct`` = fraction of the entry price (0 < value < 1),
    ``atr`` = multiple of the signal bar's ATR (value > 0)."""

    kind: StopKind
    value: float

    def __post_init__(self) -> None:
        if self.kind not in STOP_KINDS:
            raise RiskError(f"unknown stop kind {self.kind!r}", hint="use pct or atr")
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise RiskError(f"stop value {v!r} is not a finite number")
        object.__setattr__(self, "value", float(v))
        if v <= 0 or (self.kind == "pct" and v >= 1):
            rng = "between 0 and 1 (0.02 = 2 %)" if self.kind == "pct" else "above 0"
            raise RiskError(f"a {self.kind} stop of {v} is out of range", hint=f"use a value {rng}")

    @classmethod
    def parse(cls, text: str | float) -> StopRule:
        """``"pct:0.02"``, ``"atr:1.5"``, or a bare number meaning a fraction (``0.02``)."""
        if isinstance(text, StopRule):
            return text
        if isinstance(text, int | float) and not isinstance(text, bool):
            return cls("pct", float(text))
        kind, sep, rest = str(text).strip().lower().partition(":")
        if not sep:
            return cls("pct", _number(kind, "stop", "pct:0.02 or atr:1.5"))
        if kind not in STOP_KINDS:
            raise RiskError(f"unknown stop kind in {text!r}", hint="write pct:0.02 or atr:1.5")
        return cls(kind, _number(rest, "stop value", f"{kind}:1.5"))  # type: ignore[arg-type]

    def distance(self, entry_price: float, atr: float = math.nan) -> float:
        """The distance from the entry price in price units (NaN when the ATR is unknown)."""
        return entry_price * self.value if self.kind == "pct" else self.value * atr

    def level(
        self, entry_price: float, side: int, *, adverse: bool, atr: float = math.nan
    ) -> float:
        """The price of this rule for a position of ``side`` entered at ``entry_price``:
        on the adverse side (a stop) or the favourable one (a target)."""
        s = -side if adverse else side
        if self.kind == "pct":
            return entry_price * (1.0 + s * self.value)
        return entry_price + s * (self.value * atr)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value:g}"


def kelly_fraction(win_rate: float, payoff_ratio: float, cap: float) -> float:
    """The Kelly fraction W - (1 - W) / R clamped to [0, cap].

    ``win_rate`` W in [0, 1]; ``payoff_ratio`` R = mean win / |mean loss| (> 0; ``inf``
    when there are no losses, giving W). A negative edge gives 0: do not bet.
    """
    if not 0.0 <= win_rate <= 1.0:
        raise RiskError(f"win rate {win_rate} is outside [0, 1]")
    if not cap > 0:
        raise RiskError(f"the Kelly cap must be above 0, not {cap}")
    if not payoff_ratio > 0:
        return 0.0
    k = win_rate - (1.0 - win_rate) / payoff_ratio
    return min(max(k, 0.0), cap)


def kelly_from_trades(returns: object, cap: float) -> float:
    """The running Kelly fraction the ``kelly`` sizing uses, from closed trades' returns.

    Fewer than :data:`KELLY_MIN_TRADES` trades: ``cap`` (no estimate yet). No winner: 0.
    No loser: min(W, cap). Otherwise :func:`kelly_fraction` with R = mean winning return /
    |mean losing return|. Trades with a return of exactly 0 count in W's denominator only.
    """
    import numpy as np

    r = np.asarray(returns, dtype=np.float64)
    if len(r) < KELLY_MIN_TRADES:
        return float(cap)
    wins, losses = r[r > 0], r[r < 0]
    if len(wins) == 0:
        return 0.0
    w = len(wins) / len(r)
    if len(losses) == 0:
        return min(w, cap)
    return kelly_fraction(w, float(wins.mean() / -losses.mean()), cap)


def position_size(
    sizing: Sizing,
    *,
    equity: float,
    price: float,
    stop: float = math.nan,
    fees: float = 0.0,
    leverage: float = 1.0,
    max_notional: float | None = None,
    kelly: float | None = None,
) -> float:
    """The quantity (units, >= 0) to open at fill ``price`` with account ``equity``.

    ``stop`` is the stop price (needed by ``risk``), ``leverage`` the cap already clamped
    by :func:`leverage_cap`, ``kelly`` the running Kelly fraction (``kelly`` sizing; None
    means no estimate yet, so the cap). 0 when nothing can be opened.
    """
    if not (equity > 0 and price > 0):
        return 0.0
    if sizing.kind == "all":
        qty = (equity / (1.0 + fees)) / price
    elif sizing.kind == "fraction":
        qty = sizing.value * equity / price
    elif sizing.kind == "qty":
        qty = sizing.value
    elif sizing.kind == "risk":
        dist = abs(price - stop)
        if not dist > 0:
            return 0.0
        qty = sizing.value * equity / dist
    else:
        f = sizing.value if kelly is None else min(max(kelly, 0.0), sizing.value)
        qty = f * equity / price
    max_value = leverage * equity / (1.0 + fees)
    if max_notional is not None and max_value > max_notional:
        max_value = max_notional
    if qty * price > max_value:
        qty = max_value / price
    return qty if qty > 0 and math.isfinite(qty) else 0.0


__all__ = [
    "KELLY_MIN_TRADES",
    "SIZING_KINDS",
    "STOP_KINDS",
    "Sizing",
    "StopRule",
    "kelly_fraction",
    "kelly_from_trades",
    "position_size",
]
