"""Hand-checked cases: every number below is worked out by hand from the engine's rules."""

from __future__ import annotations

import numpy as np
import pytest

from tradpal.backtest import BacktestConfig, run_backtest, simulate
from tradpal.risk import DrawdownGuard, Sizing, kelly_from_trades, position_size

# no costs, 10 units per trade, no stops: each case switches on what it checks
PLAIN = dict(fees=0.0, slippage=0.0, sizing="qty:10", stop_loss=None, take_profit=None)


def cfg(**kw) -> BacktestConfig:
    return BacktestConfig(**{**PLAIN, **kw})


def only_trade(res):
    assert len(res.trades) == 1, res.trades
    return res.trades.iloc[0]


def test_stop_exits_exactly_at_the_stop_price(bars, signals):
    frame = bars([(100, 100, 100, 100), (99, 99.5, 94, 96), (96, 97, 95, 96)])
    res = run_backtest(frame, signals(3, le=[0]), cfg(fees=0.001, stop_loss="pct:0.05"))
    t = only_trade(res)
    assert t.exit_reason == "stop"
    assert t.exit_price == 100 * (1 - 0.05) == pytest.approx(95.0, abs=1e-12)
    assert t.exit_time == frame.index[1] and t.bars_held == 1
    assert t.stop_price == t.exit_price


def test_target_exits_exactly_at_the_target_even_with_slippage(bars, signals):
    frame = bars([(100, 100, 100, 100), (101, 111, 100.5, 109), (109, 109, 108, 108)])
    res = run_backtest(frame, signals(3, le=[0]), cfg(slippage=0.002, take_profit=0.1))
    t = only_trade(res)
    entry = 100 * (1 + 0.002)
    assert t.entry_price == entry
    assert t.exit_reason == "target" and t.exit_price == entry * (1 + 0.1)


def test_fees_and_slippage_to_the_cent(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 106, 99, 105), (105, 111, 104, 110)])
    res = run_backtest(frame, signals(3, le=[0], lx=[2]), cfg(fees=0.001, slippage=0.001))
    t = only_trade(res)
    # buy 10 at 100 x 1.001 = 100.10: 1001.00 + fee 1.001; sell at 110 x 0.999 = 109.89:
    # 1098.90 - fee 1.0989; PnL 1098.90 - 1001.00 - 1.001 - 1.0989 = 95.8001
    assert t.entry_price == pytest.approx(100.10, abs=1e-12)
    assert t.exit_price == pytest.approx(109.89, abs=1e-12)
    assert t.fees == pytest.approx(2.0999, abs=1e-12)
    assert t.pnl == pytest.approx(95.8001, abs=1e-9)
    assert t["return"] == pytest.approx(95.8001 / 1001.0, rel=1e-12)
    assert res.equity.iloc[1] == pytest.approx(10_000 - 1001 - 1.001 + 1050, abs=1e-9)
    assert round(res.metrics.final_equity, 2) == 10_095.80
    assert res.metrics.final_equity == pytest.approx(10_095.8001, abs=1e-9)


def test_short_position(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 101, 94, 95), (95, 96, 89, 90)])
    res = run_backtest(frame, signals(3, se=[0], sx=[2]), cfg(fees=0.001, slippage=0.001))
    t = only_trade(res)
    # short 10 at 99.90 (999.00, fee 0.999); cover at 90.09 (900.90, fee 0.9009)
    assert t.side == "short" and t.exit_reason == "signal"
    assert t.pnl == pytest.approx(999.0 - 900.9 - 0.999 - 0.9009, abs=1e-9)
    assert res.equity.iloc[1] == pytest.approx(10_000 + 999 - 0.999 - 950, abs=1e-9)


def test_short_stop_and_target_sit_on_the_mirrored_sides(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 104.5, 99, 104), (104, 106, 103, 105)])
    res = run_backtest(frame, signals(3, se=[0]), cfg(stop_loss=0.05, take_profit=0.05))
    t = only_trade(res)
    assert (t.stop_price, t.target_price) == (100 * 1.05, 100 * 0.95)
    assert t.exit_reason == "stop" and t.exit_price == 105.0 and t.exit_time == frame.index[2]


def test_reversal_closes_and_opens_the_opposite_side(bars, signals):
    frame = bars(
        [(100, 100, 100, 100), (100, 103, 99, 102), (102, 105, 101, 104), (104, 104, 99, 100)]
    )
    res = run_backtest(frame, signals(4, le=[0], se=[2]), cfg())
    first, second = res.trades.iloc[0], res.trades.iloc[1]
    assert (first.side, first.exit_reason, first.pnl) == ("long", "reverse", 40.0)
    assert (second.side, second.entry_time, second.entry_price) == ("short", frame.index[2], 104)
    assert (second.exit_reason, second.pnl) == ("end", 40.0)
    assert res.metrics.final_equity == 10_080.0


def test_opposite_entry_only_closes_when_shorts_are_off(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 103, 99, 102), (102, 105, 101, 104)])
    res = run_backtest(frame, signals(3, le=[0], se=[1]), cfg(allow_short=False))
    t = only_trade(res)
    assert (t.exit_reason, t.exit_time, t.pnl) == ("signal", frame.index[1], 20.0)


def test_trailing_stop_follows_the_highest_high_after_each_bar(bars, signals):
    frame = bars(
        [(100, 100, 100, 100), (100, 105, 99, 104), (104, 120, 107.5, 118), (118, 119, 107, 108)]
    )
    res = run_backtest(frame, signals(4, le=[0]), cfg(trailing_stop=0.1))
    t = only_trade(res)
    # bar 2's low 107.5 is above the level of the best price *before* it (105 x 0.9);
    # bar 3 checks against 120 x 0.9 = 108
    assert (t.exit_reason, t.exit_time) == ("trailing", frame.index[3])
    assert t.exit_price == 120 * (1 - 0.1)


def test_trailing_stop_in_atr_keeps_its_entry_distance(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 110, 99, 109), (109, 109, 103, 104)])
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    s = signals(3, le=[0])
    atr = np.array([2.0, 5.0, 5.0])  # the signal bar's ATR (2) sets the distance: 2 x 2 = 4
    out = simulate(
        o,
        h,
        lo,
        c,
        s.long_entry,
        s.long_exit,
        s.short_entry,
        s.short_exit,
        cfg(trailing_stop="atr:2"),
        atr=atr,
    )
    assert out.column("exit_price")[0] == 110 - 4.0 and out.column("reason")[0] == 3


def test_time_stop_closes_after_n_bars_at_the_close(bars, signals):
    rows = [(100, 100, 100, 100)] + [(100 + i, 102 + i, 99 + i, 101 + i) for i in range(5)]
    frame = bars(rows)
    res = run_backtest(frame, signals(6, le=[0]), cfg(time_stop_bars=3, slippage=0.001))
    t = only_trade(res)
    assert (t.exit_reason, t.bars_held, t.exit_time) == ("time", 3, frame.index[3])
    assert t.exit_price == pytest.approx(frame.close.iloc[3] * 0.999, rel=1e-15)


def test_next_open_fills(bars, signals):
    frame = bars(
        [(100, 100, 100, 100), (101, 102, 100, 101), (102, 103, 101, 102), (103, 104, 102, 103)]
    )
    res = run_backtest(frame, signals(4, le=[0], lx=[2]), cfg(fill="next_open", slippage=0.001))
    t = only_trade(res)
    assert (t.entry_time, t.exit_time) == (frame.index[1], frame.index[3])
    assert t.entry_price == 101 * 1.001 and t.exit_price == 103 * 0.999
    assert res.equity.iloc[0] == 10_000.0  # nothing happens at the signal bar's close


def test_next_open_signal_on_the_last_bar_is_dropped(bars, signals):
    frame = bars([(100, 100, 100, 100), (101, 102, 100, 101)])
    res = run_backtest(frame, signals(2, le=[1]), cfg(fill="next_open"))
    assert res.trades.empty and res.metrics.num_trades == 0


def test_leverage_caps_notional_and_margin_borrows_cash(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 111, 99, 110), (110, 112, 108, 111)])
    res = run_backtest(frame, signals(3, le=[0]), cfg(sizing="fraction:3", max_leverage=2.0))
    t = only_trade(res)
    assert t.quantity == 200.0  # 3 x 10,000 asked, capped at 2 x 10,000 of notional
    assert res.equity.iloc[1] == 12_000.0  # cash -10,000 + 200 x 110


def test_max_notional_caps_size(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 111, 99, 110)])
    res = run_backtest(frame, signals(2, le=[0]), cfg(sizing="all", max_notional=2_500.0))
    assert only_trade(res).quantity == 25.0


def test_liquidation_at_zero_equity(bars, signals):
    frame = bars([(100, 100, 100, 100), (60, 62, 45, 50), (50, 55, 49, 52), (52, 53, 51, 52)])
    c = cfg(sizing="fraction:2", max_leverage=2.0)
    res = run_backtest(frame, signals(4, le=[0, 2]), c)
    t = only_trade(res)
    # 200 units on 10,000: equity = -10,000 + 200 x price reaches 0 at 50
    assert (t.exit_reason, t.exit_price, t.pnl) == ("liquidation", 50.0, -10_000.0)
    assert res.equity.iloc[1:].eq(0.0).all()
    assert res.meta["skipped_entries"]["no_size"] == 1  # nothing left to trade with


def test_gap_through_the_liquidation_level_is_written_off(bars, signals):
    frame = bars([(100, 100, 100, 100), (40, 41, 39, 40)])
    res = run_backtest(frame, signals(2, le=[0]), cfg(sizing="fraction:2", max_leverage=2.0))
    t = only_trade(res)
    assert (t.exit_reason, t.exit_price, t.pnl) == ("liquidation", 40.0, -10_000.0)
    assert res.metrics.final_equity == 0.0 and res.metrics.total_return == -1.0


def test_unlevered_short_is_liquidated_when_the_price_doubles(bars, signals):
    frame = bars([(100, 100, 100, 100), (150, 210, 140, 205)])
    res = run_backtest(frame, signals(2, se=[0]), cfg(sizing="all"))
    t = only_trade(res)
    assert (t.exit_reason, t.exit_price, res.metrics.final_equity) == ("liquidation", 200.0, 0.0)


def test_gap_through_the_stop_fills_at_the_open(bars, signals):
    frame = bars([(100, 100, 100, 100), (90, 91, 88, 89)])
    res = run_backtest(frame, signals(2, le=[0]), cfg(stop_loss=0.05, slippage=0.001))
    t = only_trade(res)
    assert (t.exit_reason, t.exit_price) == ("stop", pytest.approx(90 * 0.999, rel=1e-15))


def test_stop_first_when_one_bar_touches_stop_and_target(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 106, 94, 100)])
    res = run_backtest(frame, signals(2, le=[0]), cfg(stop_loss=0.05, take_profit=0.05))
    t = only_trade(res)
    assert (t.exit_reason, t.exit_price) == ("stop", 95.0)


def test_no_stop_check_in_the_close_fill_entry_bar(bars, signals):
    """Entered at bar 0's close, bar 0's own low (before the entry) cannot stop it out."""
    frame = bars([(100, 100, 80, 100), (100, 101, 99, 100)])
    res = run_backtest(frame, signals(2, le=[0]), cfg(stop_loss=0.05))
    assert only_trade(res).exit_reason == "end"


def test_risk_sizing_with_atr_stop_and_target(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 101, 99, 100), (100, 107, 99, 106)])
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    s = signals(3, le=[0])
    config = BacktestConfig(fees=0.0)  # risk 1 %, stop 1.5 ATR, target 3 ATR
    out = simulate(
        o,
        h,
        lo,
        c,
        s.long_entry,
        s.long_exit,
        s.short_entry,
        s.short_exit,
        config,
        atr=np.full(3, 2.0),
    )
    assert out.column("stop")[0] == 97.0 and out.column("target")[0] == 106.0
    assert out.column("quantity")[0] == pytest.approx(100.0 / 3.0, rel=1e-15)
    assert out.column("reason")[0] == 2 and out.column("pnl")[0] == pytest.approx(200.0)


def test_risk_sizing_loses_the_risk_amount_at_the_stop(signals):
    from tradpal.data.sources.synthetic import generate_ohlcv
    from tradpal.indicators import atr

    frame = generate_ohlcv(400, "1h", seed=3)
    n = len(frame)
    res = run_backtest(frame, signals(n, le=range(5, n, 25)), BacktestConfig(fees=0.0))
    a = atr(frame.high, frame.low, frame.close, 14)
    assert res.meta["skipped_entries"]["no_level"] == 1  # bar 5: ATR still warming up
    stops = res.trades[res.trades.exit_reason == "stop"]
    assert len(stops) >= 2
    for t in res.trades.itertuples():
        i = frame.index.get_loc(t.entry_time)
        assert t.stop_price == pytest.approx(t.entry_price - 1.5 * a[i], rel=1e-14)
        assert t.target_price == pytest.approx(t.entry_price + 3.0 * a[i], rel=1e-14)
    equity_before = 10_000 + res.trades.pnl.cumsum().shift(fill_value=0.0)
    for t, e in zip(stops.itertuples(), equity_before[stops.index], strict=True):
        gap = min(0.0, frame.open[t.exit_time] - t.stop_price)  # a gap fills worse
        assert t.pnl == pytest.approx(-0.01 * e + gap * t.quantity, rel=1e-9)


def test_signal_levels_override_the_config(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 101, 99, 100), (100, 104, 99.5, 103)])
    sp, tp = np.full(3, np.nan), np.full(3, np.nan)
    sp[0], tp[0] = 98.0, 103.0
    res = run_backtest(
        frame, signals(3, le=[0], stop_price=sp, target_price=tp), BacktestConfig(fees=0.0)
    )
    t = only_trade(res)
    assert (t.stop_price, t.target_price, t.quantity) == (98.0, 103.0, 50.0)  # 100 / (100 - 98)
    assert (t.exit_reason, t.exit_price) == ("target", 103.0)


def test_level_on_the_wrong_side_skips_the_entry(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 101, 99, 100)])
    sp = np.array([101.0, np.nan])
    config = BacktestConfig(fees=0.0, take_profit=None)
    res = run_backtest(frame, signals(2, le=[0], stop_price=sp), config)
    assert res.trades.empty and res.meta["skipped_entries"]["bad_level"] == 1


def test_open_position_at_the_end_is_marked_without_exit_costs(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 103, 99, 102)])
    res = run_backtest(frame, signals(2, le=[0]), cfg(fees=0.001, slippage=0.001))
    t = only_trade(res)
    assert (t.exit_reason, t.exit_price) == ("end", 102.0)
    assert t.fees == pytest.approx(10 * 100.1 * 0.001, rel=1e-15)
    assert res.metrics.final_equity == pytest.approx(10_000 + t.pnl, rel=1e-15)


def test_a_stopped_bar_ignores_its_own_signals(bars, signals):
    frame = bars([(100, 100, 100, 100), (99, 99, 94, 96), (96, 97, 95, 96), (96, 97, 95, 96)])
    res = run_backtest(frame, signals(4, le=[0, 1, 2]), cfg(stop_loss=0.05))
    assert list(res.trades.entry_time) == [frame.index[0], frame.index[2]]


def test_conflicting_signals_are_ignored(bars, signals):
    frame = bars([(100, 100, 100, 100)] * 3)
    res = run_backtest(frame, signals(3, le=[0, 1], lx=[0], se=[1]), cfg())
    assert res.trades.empty


def test_drawdown_guard_stops_new_entries(bars, signals):
    frame = bars(
        [
            (100, 100, 100, 100),
            (100, 100, 85, 85),
            (85, 86, 84, 85),
            (85, 86, 84, 85),
            (85, 90, 84, 90),
        ]
    )
    c = cfg(sizing="fraction:1", max_drawdown=0.1)
    res = run_backtest(frame, signals(5, le=[0, 2, 3], lx=[1]), c)
    t = only_trade(res)
    assert t.pnl == -1500.0
    assert res.meta["guard_tripped_at"] == frame.index[1].isoformat()
    assert res.meta["skipped_entries"]["guard"] == 2
    guard = DrawdownGuard.start(0.1, 10_000.0)
    tripped = []
    for e in res.equity:
        guard = guard.update(e)
        tripped.append(guard.tripped)
    assert tripped == [False, True, True, True, True]


def test_volatility_clamp_lowers_leverage(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 101, 99, 100), (100, 101, 99, 100)])
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    s = signals(3, le=[0])
    config = cfg(sizing="fraction:2", max_leverage=3.0, target_volatility=0.4)
    out = simulate(
        o,
        h,
        lo,
        c,
        s.long_entry,
        s.long_exit,
        s.short_entry,
        s.short_exit,
        config,
        volatility=np.full(3, 0.8),
    )
    assert out.column("quantity")[0] == 50.0  # leverage 0.4 / 0.8 = 0.5: 5,000 of notional
    unknown = simulate(
        o,
        h,
        lo,
        c,
        s.long_entry,
        s.long_exit,
        s.short_entry,
        s.short_exit,
        config,
        volatility=np.full(3, np.nan),
    )
    assert unknown.column("quantity")[0] == 100.0  # no estimate yet: 1x


def test_kelly_sizing_follows_the_running_estimate(signals):
    from tradpal.data.sources.synthetic import generate_ohlcv

    frame = generate_ohlcv(3000, "1h", seed=11)
    n = len(frame)
    rng = np.random.default_rng(4)
    s = signals(n, le=np.flatnonzero(rng.random(n) < 0.05), lx=np.flatnonzero(rng.random(n) < 0.02))
    config = BacktestConfig(fees=0.001, sizing="kelly:0.5", stop_loss=0.02, take_profit=0.06)
    res = run_backtest(frame, s, config)
    t = res.trades
    assert len(t) > 20
    equity = 10_000 + np.concatenate(([0.0], np.cumsum(t.pnl.to_numpy())))
    sizes = []
    for k in range(len(t)):
        f = kelly_from_trades(t["return"].to_numpy()[:k], 0.5)
        q = position_size(
            Sizing("kelly", 0.5), equity=equity[k], price=t.entry_price.iloc[k], fees=0.001, kelly=f
        )
        sizes.append(q)
    np.testing.assert_allclose(t.quantity, sizes, rtol=1e-12)
    assert len(set(np.round(t.quantity * t.entry_price / equity[:-1], 6))) > 3  # it adapts


def test_kelly_sizing_stops_betting_on_a_negative_edge(signals):
    """Random entries lose to fees: once the estimate reaches 0, every later entry is
    skipped (Kelly says do not bet) and counted."""
    from tradpal.data.sources.synthetic import generate_ohlcv

    frame = generate_ohlcv(3000, "1h", seed=11)
    n = len(frame)
    rng = np.random.default_rng(1)
    s = signals(n, le=np.flatnonzero(rng.random(n) < 0.05), lx=np.flatnonzero(rng.random(n) < 0.02))
    config = BacktestConfig(fees=0.001, sizing="kelly:0.5", stop_loss=0.02, take_profit=0.06)
    res = run_backtest(frame, s, config)
    returns = res.trades["return"].to_numpy()
    assert len(returns) >= 10 and kelly_from_trades(returns, 0.5) == 0.0
    assert res.meta["skipped_entries"]["no_size"] > 100
