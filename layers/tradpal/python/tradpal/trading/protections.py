"""Protections: rules that stop a trader opening new positions for a while, as freqtrade's
users know them. Exits and protective orders are never blocked.

* ``stoploss_guard``: after ``count`` stop exits (stop, trailing stop, liquidation) within
  ``lookback_bars`` bars, no entries for ``pause_bars`` bars from the last of them;
* ``cooldown_bars``: no entry within that many bars after any exit;
* ``daily_loss_limit``: once the day's closed trades have lost that fraction of the equity
  at the day's start (UTC days), no entries until the next day;
* ``max_open_positions``: no entry while that many positions are open across the traders
  sharing an account (the trader asks a callable; its own position counts too).

The drawdown guard (``max_drawdown`` in the backtest settings) is the kill switch beside
these: it trips once and stays tripped. All are off by default, so a paper session and a
backtest agree; with one on, the paper session trades less than the backtest, by design.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tradpal.errors import ConfigError
from tradpal.trading.book import Trade

STOP_REASONS = frozenset({"stop", "trailing", "liquidation"})
DAY_MS = 86_400_000


@dataclass(frozen=True)
class StoplossGuard:
    """``count`` stop exits within ``lookback_bars`` bars pause entries ``pause_bars`` bars."""

    count: int
    lookback_bars: int
    pause_bars: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.lookback_bars < 1 or self.pause_bars < 1:
            raise ConfigError(
                f"stoploss guard {self.count}/{self.lookback_bars}/{self.pause_bars} needs "
                "counts of at least 1",
                hint="e.g. 3 stops within 24 bars pause 12 bars",
            )


@dataclass(frozen=True)
class Protections:
    """The protections a trader applies (see the module docstring); None/0 is off."""

    stoploss_guard: StoplossGuard | None = None
    cooldown_bars: int = 0
    daily_loss_limit: float | None = None
    max_open_positions: int | None = None

    def __post_init__(self) -> None:
        if self.cooldown_bars < 0:
            raise ConfigError(f"cooldown_bars {self.cooldown_bars} is negative", hint="0 is off")
        if self.daily_loss_limit is not None and not 0 < self.daily_loss_limit < 1:
            raise ConfigError(
                f"daily_loss_limit {self.daily_loss_limit} is not a fraction between 0 and 1",
                hint="e.g. 0.05: no entries for the rest of a day that lost 5 %",
            )
        if self.max_open_positions is not None and self.max_open_positions < 1:
            raise ConfigError(f"max_open_positions {self.max_open_positions} is below 1")

    @property
    def any(self) -> bool:
        return bool(
            self.stoploss_guard
            or self.cooldown_bars
            or self.daily_loss_limit
            or self.max_open_positions
        )

    def blocks(
        self,
        trades: Sequence[Trade],
        *,
        now_ms: int,
        bar_ms: int,
        day_start_equity: float,
        open_positions: int = 0,
    ) -> str | None:
        """Why an entry at ``now_ms`` is blocked (None: it is not). ``trades``: the
        trader's trades, oldest first; ``bar_ms`` the bar length; ``day_start_equity``
        the equity at the start of the UTC day of ``now_ms``; ``open_positions`` those
        open across the account."""
        closed = [t for t in trades if t.closed]
        if self.cooldown_bars and closed:
            since = (now_ms - closed[-1].exit_ms) // bar_ms
            if since < self.cooldown_bars:
                return f"cooldown: {since} of {self.cooldown_bars} bars since the last exit"
        guard = self.stoploss_guard
        if guard is not None:
            stops = [t.exit_ms for t in closed if t.exit_reason in STOP_REASONS]
            if stops and (now_ms - stops[-1]) // bar_ms < guard.pause_bars:
                recent = [s for s in stops if (stops[-1] - s) // bar_ms < guard.lookback_bars]
                if len(recent) >= guard.count:
                    return (
                        f"stoploss guard: {len(recent)} stops within {guard.lookback_bars} bars, "
                        f"paused {guard.pause_bars} bars"
                    )
        if self.daily_loss_limit is not None and day_start_equity > 0:
            day = now_ms - now_ms % DAY_MS
            lost = -sum(t.pnl for t in closed if t.exit_ms >= day)
            if lost >= self.daily_loss_limit * day_start_equity:
                return f"daily loss limit: {lost:.2f} lost today, limit {self.daily_loss_limit:.1%}"
        if self.max_open_positions is not None and open_positions >= self.max_open_positions:
            return f"max open positions: {open_positions} of {self.max_open_positions} open"
        return None
