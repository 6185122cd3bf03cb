"""Protections (tradpal.trading.protections): each blocks new entries exactly while its
rule holds, and a trader with one on trades a subset of what it would trade without."""

from __future__ import annotations

import pytest

from tradpal.backtest.strategy_run import config_for
from tradpal.data.loading import load_ohlcv
from tradpal.errors import ConfigError
from tradpal.trading.book import Trade
from tradpal.trading.paper import PaperExchange
from tradpal.trading.protections import Protections, StoplossGuard
from tradpal.trading.session import Session
from tradpal.trading.trader import Candle, Trader

H = 3_600_000


def closed(exit_bar: int, reason: str = "signal", pnl: float = 0.0) -> Trade:
    t = Trade(side=1, entry_ms=(exit_bar - 1) * H, quantity=1.0, entry_value=100.0)
    t.exit_ms, t.exit_reason, t.pnl = exit_bar * H, reason, pnl
    return t


def blocks(p: Protections, trades, bar: int, **kw):
    return p.blocks(
        trades, now_ms=bar * H, bar_ms=H, day_start_equity=kw.pop("equity", 1000.0), **kw
    )


def test_cooldown_blocks_entries_for_n_bars_after_an_exit():
    p = Protections(cooldown_bars=3)
    trades = [closed(10)]
    assert [blocks(p, trades, b) is not None for b in (10, 11, 12, 13, 14)] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_the_stoploss_guard_pauses_after_n_stops_within_the_lookback():
    p = Protections(stoploss_guard=StoplossGuard(count=2, lookback_bars=5, pause_bars=4))
    assert blocks(p, [closed(10, "stop")], 11) is None  # one stop is not enough
    two = [closed(10, "stop"), closed(13, "trailing")]
    assert "stoploss guard" in blocks(p, two, 14)
    assert blocks(p, two, 17) is None  # paused 4 bars from the last stop
    spread = [closed(1, "stop"), closed(13, "stop")]  # 12 bars apart: outside the lookback
    assert blocks(p, spread, 14) is None
    assert blocks(p, [closed(10, "target"), closed(12, "signal")], 13) is None  # not stops


def test_the_daily_loss_limit_holds_until_the_next_utc_day():
    p = Protections(daily_loss_limit=0.05)
    day = 24
    trades = [closed(day + 2, pnl=-30.0), closed(day + 5, pnl=-25.0)]
    assert "daily loss limit" in blocks(p, trades, day + 6, equity=1000.0)
    assert blocks(p, trades[:1], day + 6, equity=1000.0) is None  # 3 % only
    assert blocks(p, trades, 2 * day, equity=945.0) is None  # a new day


def test_max_open_positions_counts_the_accounts_positions():
    p = Protections(max_open_positions=2)
    assert blocks(p, [], 5, open_positions=1) is None
    assert "max open positions" in blocks(p, [], 5, open_positions=2)


@pytest.mark.parametrize(
    "kw", [{"cooldown_bars": -1}, {"daily_loss_limit": 1.5}, {"max_open_positions": 0}]
)
def test_bad_protections_are_refused_naming_the_setting(kw):
    with pytest.raises(ConfigError, match=next(iter(kw))):
        Protections(**kw)


def test_a_trader_with_protections_skips_entries_and_says_why():
    frame = load_ohlcv("sample", timeframe="1h", end="2024-06-01", bars=400)

    def run(protections):
        config = config_for("1h")
        trader = Trader(
            strategy="rsi_reversal", symbol="BTC/USDT", timeframe="1h", config=config,
            exchange=PaperExchange(config.capital, symbols=("BTC/USDT",)), protections=protections,
        )  # fmt: skip
        session = Session(trader, trader.exchange)
        for t, r in zip(frame.index.as_unit("ms").asi8.tolist(), frame.itertuples(), strict=True):
            session.bar_opened(t, r.open, r.volume)
            session.bar_closed(Candle(t, r.open, r.high, r.low, r.close, r.volume))
        return trader

    free, guarded = run(None), run(Protections(cooldown_bars=24))
    assert guarded.skipped["protection"] > 0 and guarded.blocked is not None
    assert len(guarded.book.trades) < len(free.book.trades)
    gaps = [
        (b.entry_ms - a.exit_ms) // H
        for a, b in zip(guarded.book.trades, guarded.book.trades[1:], strict=False)
        if a.closed
    ]
    assert min(gaps) >= 24
