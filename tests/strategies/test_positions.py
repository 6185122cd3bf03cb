"""positions(): the desired position per bar equals the backtest engine's position (fills at
the close, no stops), for any signals."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.backtest._native import REASONS, TRADE_COLUMNS
from tradpal.backtest.config import BacktestConfig
from tradpal.backtest.engine import simulate
from tradpal.risk import Sizing
from tradpal.strategies.positions import changes, positions
from tradpal.strategies.signals import Signals


def engine_positions(sig: Signals, allow_short: bool) -> np.ndarray:
    """The engine's side after each bar's close, read from its trade ledger."""
    n = len(sig)
    close = np.linspace(100.0, 110.0, n)
    out = simulate(
        close, close * 1.01, close * 0.99, close,
        sig.long_entry, sig.long_exit, sig.short_entry, sig.short_exit,
        BacktestConfig(
            fees=0.0, fill="close", allow_short=allow_short, stop_loss=None,
            take_profit=None, sizing=Sizing("fraction", 0.5),
        ),
    )  # fmt: skip
    pos = np.zeros(n, dtype=np.int8)
    col = {name: i for i, name in enumerate(TRADE_COLUMNS)}
    for row in out.ledger:
        entry, exit_, side = int(row[col["entry_bar"]]), int(row[col["exit_bar"]]), row[col["side"]]
        end = n if REASONS[int(row[col["reason"]])] == "end" else exit_
        pos[entry:end] = int(side)
    return pos


flags = st.integers(0, 15)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(flags), min_size=1, max_size=60), st.booleans())
def test_positions_equal_the_engine(rows, allow_short):
    bits = np.array([r[0] for r in rows])
    sig = Signals(*(((bits >> k) & 1).astype(bool) for k in range(4)))
    assert (
        positions(sig, allow_short=allow_short).tolist()
        == engine_positions(sig, allow_short).tolist()
    )


def test_changes_compare_with_the_bar_before():
    pos = np.array([0, 1, 1, -1, 0, 0], dtype=np.int8)
    assert changes(pos).tolist() == [1, 3, 4]
    assert changes(pos, initial=1).tolist() == [0, 1, 3, 4]
    assert changes(np.zeros(0, dtype=np.int8)).tolist() == []
