"""Sizing, stop rules, Kelly, the drawdown guard and the leverage clamp; and the engine
sizes its positions exactly as these pure functions say."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.backtest import BacktestConfig, simulate
from tradpal.risk import (
    KELLY_MIN_TRADES,
    DrawdownGuard,
    RiskError,
    Sizing,
    StopRule,
    kelly_fraction,
    kelly_from_trades,
    leverage_cap,
    position_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", Sizing("all")),
        (" Fraction:0.5 ", Sizing("fraction", 0.5)),
        ("qty:2", Sizing("qty", 2.0)),
        ("risk:0.01", Sizing("risk", 0.01)),
        ("kelly:0.25", Sizing("kelly", 0.25)),
    ],
)
def test_sizing_parse(text, expected):
    assert Sizing.parse(text) == expected
    assert Sizing.parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("lots:2", "unknown sizing"),
        ("risk", "needs a value"),
        ("risk:abc", "not a number"),
        ("risk:1.5", "fraction of equity risked"),
        ("fraction:-1", "above 0"),
        ("kelly:2", "above 1"),
        ("all:3", "takes no value"),
    ],
)
def test_sizing_parse_errors_say_what_is_wrong(text, words):
    with pytest.raises(RiskError, match=words) as info:
        Sizing.parse(text)
    assert info.value.hint or "above" in words or "risked" in words or "not a number" in words


def test_stop_rule_parse_and_levels():
    assert StopRule.parse("0.02") == StopRule.parse(0.02) == StopRule("pct", 0.02)
    assert StopRule.parse("atr:1.5") == StopRule("atr", 1.5)
    pct, atr = StopRule("pct", 0.02), StopRule("atr", 1.5)
    assert pct.level(100.0, 1, adverse=True) == 98.0
    assert pct.level(100.0, -1, adverse=True) == 102.0
    assert pct.level(100.0, -1, adverse=False) == 98.0
    assert atr.level(100.0, 1, adverse=True, atr=2.0) == 97.0
    assert atr.level(100.0, 1, adverse=False, atr=2.0) == 103.0
    assert atr.distance(100.0, 2.0) == 3.0 and math.isnan(atr.distance(100.0))
    for bad in ("pct:1", "atr:0", "ema:2", "x"):
        with pytest.raises(RiskError):
            StopRule.parse(bad)


def test_kelly_fraction():
    assert kelly_fraction(0.6, 2.0, 1.0) == pytest.approx(0.6 - 0.4 / 2.0)
    assert kelly_fraction(0.6, 2.0, 0.25) == 0.25
    assert kelly_fraction(0.3, 1.0, 1.0) == 0.0  # negative edge: do not bet
    assert kelly_fraction(0.5, math.inf, 0.4) == 0.4
    assert kelly_fraction(0.5, 0.0, 1.0) == 0.0
    with pytest.raises(RiskError):
        kelly_fraction(1.5, 2.0, 1.0)


def test_kelly_from_trades():
    assert kelly_from_trades([0.1] * (KELLY_MIN_TRADES - 1), 0.3) == 0.3  # no estimate yet
    r = [0.02] * 6 + [-0.01] * 4
    assert kelly_from_trades(r, 1.0) == pytest.approx(0.6 - 0.4 / 2.0)
    assert kelly_from_trades([-0.01] * 10, 0.5) == 0.0
    assert kelly_from_trades([0.01] * 10, 0.5) == 0.5


def test_position_size_each_kind():
    kw = dict(equity=10_000.0, price=100.0, fees=0.001)
    assert position_size(Sizing("all"), **kw) == pytest.approx(10_000 / 1.001 / 100)
    assert position_size(Sizing("fraction", 0.5), **kw) == 50.0
    assert position_size(Sizing("qty", 3.0), **kw) == 3.0
    assert position_size(Sizing("risk", 0.01), stop=98.0, **kw) == pytest.approx(50.0)
    assert position_size(Sizing("risk", 0.01), **kw) == 0.0  # no stop, no size
    assert position_size(Sizing("kelly", 0.5), kelly=0.2, **kw) == pytest.approx(20.0)
    assert position_size(Sizing("kelly", 0.5), kelly=None, **kw) == pytest.approx(50.0)
    # caps: leverage and max notional
    assert position_size(Sizing("fraction", 3.0), **kw) == pytest.approx(10_000 / 1.001 / 100)
    big = position_size(Sizing("fraction", 3.0), leverage=5.0, max_notional=20_000.0, **kw)
    assert big == pytest.approx(200.0)
    assert position_size(Sizing("all"), equity=0.0, price=100.0) == 0.0


def test_drawdown_guard():
    g = DrawdownGuard.start(0.2, 100.0)
    for e in (110.0, 95.0, 89.0):
        g = g.update(e)
        assert g.allows_entry
    assert g.drawdown(89.0) == pytest.approx(1 - 89 / 110)
    g = g.update(88.0)  # 110 x 0.8 = 88: tripped at the boundary
    assert not g.allows_entry and g.tripped_equity == 88.0
    g = g.update(200.0)
    assert g.tripped and g.peak == 200.0  # a kill switch stays off until a person resets it
    assert DrawdownGuard.from_dict(g.to_dict()) == g
    assert g.reset(150.0).allows_entry and g.reset(150.0).peak == 150.0
    off = DrawdownGuard.start(None, 100.0).update(1.0)
    assert off.allows_entry
    with pytest.raises(RiskError, match="between 0 and 1"):
        DrawdownGuard(1.5)


def test_leverage_cap():
    assert leverage_cap(5.0, None, 0.9) == 5.0
    assert leverage_cap(5.0, 0.5, 1.0) == 0.5
    assert leverage_cap(5.0, 0.5, 0.05) == 5.0
    assert leverage_cap(5.0, 0.5, math.nan) == 1.0 and leverage_cap(0.5, 0.5, 0.0) == 0.5
    with pytest.raises(RiskError):
        leverage_cap(0.0, None, 1.0)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["all", "fraction", "qty", "risk", "kelly"]),
    value=st.floats(0.001, 0.9),
    fees=st.sampled_from([0.0, 0.001, 0.004]),
    slippage=st.sampled_from([0.0, 0.0005]),
    leverage=st.sampled_from([0.5, 1.0, 4.0]),
    max_notional=st.one_of(st.none(), st.floats(100.0, 50_000.0)),
    stop=st.floats(0.001, 0.3),
    side=st.sampled_from([1, -1]),
    price=st.floats(0.01, 1e5),
)
def test_engine_sizes_like_position_size(
    kind, value, fees, slippage, leverage, max_notional, stop, side, price
):
    """The first position of a run: the C engine and the pure function agree exactly."""
    n = 3
    o = h = lo = c = np.full(n, price)
    on, off = np.array([True, False, False]), np.zeros(n, dtype=bool)
    config = BacktestConfig(
        fees=fees,
        slippage=slippage,
        sizing=Sizing(kind, value),
        stop_loss=StopRule("pct", stop),
        take_profit=None,
        max_leverage=leverage,
        max_notional=max_notional,
    )
    flags = (on, off, off, off) if side > 0 else (off, off, on, off)
    out = simulate(o, h, lo, c, *flags, config)
    fill = price * (1 + side * slippage)
    level = fill * (1 - side * stop)
    expected = position_size(
        config.sizing,
        equity=config.capital,
        price=fill,
        stop=level,
        fees=fees,
        leverage=leverage,
        max_notional=max_notional,
    )
    assert out.num_trades == 1
    assert out.column("quantity")[0] == expected
    assert out.column("entry_price")[0] == fill and out.column("stop")[0] == level
