"""Invariants of the engine over random markets, signals and settings (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.backtest import EXIT_REASONS, BacktestConfig, simulate


def market(seed: int, n: int, vol: float) -> tuple[np.ndarray, ...]:
    """Positive OHLC bars with overnight gaps, so stops get jumped over now and then."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    gap = np.exp(rng.normal(0.0, vol / 2, n))
    open_ = np.concatenate(([close[0]], close[:-1])) * gap
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, vol, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, vol, n)))
    return open_, high, low, close


def random_signals(seed: int, n: int, p: float) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed + 1)
    return tuple(rng.random(n) < p for _ in range(4))


rules = st.one_of(
    st.none(),
    st.tuples(st.just("pct"), st.floats(0.002, 0.2)).map(lambda t: f"{t[0]}:{t[1]}"),
    st.tuples(st.just("atr"), st.floats(0.3, 4.0)).map(lambda t: f"{t[0]}:{t[1]}"),
)
configs = st.builds(
    BacktestConfig,
    fees=st.sampled_from([0.0, 0.0005, 0.002]),
    slippage=st.sampled_from([0.0, 0.0003, 0.002]),
    fill=st.sampled_from(["close", "next_open"]),
    sizing=st.sampled_from(["all", "fraction:0.5", "fraction:3", "qty:7", "kelly:0.3"]),
    stop_loss=rules,
    take_profit=rules,
    trailing_stop=rules,
    time_stop_bars=st.one_of(st.none(), st.integers(1, 30)),
    max_leverage=st.sampled_from([0.5, 1.0, 3.0, 20.0]),
    allow_short=st.booleans(),
    max_drawdown=st.one_of(st.none(), st.floats(0.05, 0.5)),
)
cases = dict(
    seed=st.integers(0, 2**31),
    n=st.integers(2, 400),
    vol=st.sampled_from([0.002, 0.01, 0.05]),
    p=st.sampled_from([0.02, 0.1, 0.4]),
    config=configs,
)


def run(seed, n, vol, p, config):
    o, h, lo, c = market(seed, n, vol)
    le, lx, se, sx = random_signals(seed, n, p)
    return (o, h, lo, c), simulate(o, h, lo, c, le, lx, se, sx, config)


@settings(max_examples=150, deadline=None)
@given(**cases)
def test_equity_is_cash_plus_position_value_at_every_close(seed, n, vol, p, config):
    """Rebuilt from the ledger alone: equity at the close of t = capital + realised PnL of
    the trades closed by then + the open trade's value change less its entry fee."""
    (_, _, _, c), out = run(seed, n, vol, p, config)
    entry, exit_ = out.column("entry_bar"), out.column("exit_bar")
    side, qty, price = out.column("side"), out.column("quantity"), out.column("entry_price")
    pnl, reason = out.column("pnl"), out.column("reason")
    is_end = reason == EXIT_REASONS.index("end")
    t = np.arange(n)[:, None]
    closed = (exit_[None, :] <= t) & ~is_end[None, :]
    open_ = (entry[None, :] <= t) & ((exit_[None, :] > t) | is_end[None, :])
    unreal = side * qty * (c[:, None] - price) - qty * price * config.fees
    rebuilt = config.capital + (pnl * closed).sum(axis=1) + (unreal * open_).sum(axis=1)
    np.testing.assert_allclose(out.equity, rebuilt, rtol=1e-9, atol=1e-9 * config.capital)
    assert open_.sum(axis=1).max(initial=0) <= 1  # one position at a time


@settings(max_examples=150, deadline=None)
@given(**cases)
def test_ledger_is_consistent(seed, n, vol, p, config):
    _, out = run(seed, n, vol, p, config)
    entry, exit_ = out.column("entry_bar"), out.column("exit_bar")
    assert (exit_ >= entry).all()
    assert (entry[1:] >= exit_[:-1]).all()  # no trade overlaps the next
    assert (out.column("fees") >= 0).all() and (out.column("quantity") > 0).all()
    reasons = out.column("reason")
    assert set(reasons.astype(int)) <= set(range(len(EXIT_REASONS)))
    assert not (reasons[:-1] == EXIT_REASONS.index("end")).any()  # only the last can be open
    assert (out.equity >= 0).all()  # liquidation keeps equity at or above zero
    final = out.final_equity
    assert np.isclose(out.column("pnl").sum(), final - config.capital, rtol=1e-9, atol=1e-6)
    # a stop fill is never better than its level: the level less slippage, or a worse open
    stop, px, side = out.column("stop"), out.column("exit_price"), out.column("side")
    hit = reasons == EXIT_REASONS.index("stop")
    assert (side[hit] * (px[hit] - stop[hit]) <= 1e-9 * stop[hit]).all()
    target = out.column("target")
    hit = reasons == EXIT_REASONS.index("target")
    assert (side[hit] * (px[hit] - target[hit]) >= -1e-9 * target[hit]).all()


@settings(max_examples=60, deadline=None)
@given(**cases)
def test_same_inputs_give_the_same_bits(seed, n, vol, p, config):
    _, a = run(seed, n, vol, p, config)
    _, b = run(seed, n, vol, p, config)
    assert a.equity.tobytes() == b.equity.tobytes()
    assert a.ledger.tobytes() == b.ledger.tobytes()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 300), config=configs)
def test_no_signals_give_flat_equity(seed, n, config):
    o, h, lo, c = market(seed, n, 0.02)
    z = np.zeros(n, dtype=bool)
    out = simulate(o, h, lo, c, z, z, z, z, config)
    assert out.num_trades == 0 and (out.equity == config.capital).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(2, 300), p=st.sampled_from([0.05, 0.3]))
def test_exits_only_signals_without_costs_keep_equity_flat(seed, n, p):
    """Exits with nothing open are no-ops: with zero fees and slippage equity stays put."""
    o, h, lo, c = market(seed, n, 0.02)
    rng = np.random.default_rng(seed)
    z = np.zeros(n, dtype=bool)
    config = BacktestConfig(fees=0.0, slippage=0.0, sizing="all")
    out = simulate(o, h, lo, c, z, rng.random(n) < p, z, rng.random(n) < p, config)
    assert (out.equity == config.capital).all()
