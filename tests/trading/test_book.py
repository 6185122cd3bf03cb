"""The book (tradpal.trading.book): each fill counted once, the position always the sum of
its fills, cash and trades by the backtest engine's conventions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.trading.book import Book, BookError, Fill


def fill(
    tid: str, side: str, amount: float, price: float, fee: float = 0.0, t: int = 0, reason=None
):
    return Fill(tid, "c" + tid, side, amount, price, fee, t, reason)


fills = st.lists(
    st.tuples(
        st.integers(0, 30),  # trade id: repeats are the same fill reported again
        st.sampled_from(["buy", "sell"]),
        st.floats(0.001, 10.0),
        st.floats(1.0, 1000.0),
    ),
    max_size=60,
)


@given(fills)
def test_the_position_is_the_sum_of_the_fills_each_counted_once(reported):
    book = Book(10_000.0)
    first: dict[int, tuple[str, float, float]] = {}
    for tid, side, amount, price in reported:
        booked = book.apply(fill(str(tid), side, amount, price, fee=amount * price * 0.001))
        assert booked == (tid not in first)
        first.setdefault(tid, (side, amount, price))
    signed = sum(a if s == "buy" else -a for s, a, _ in first.values())
    assert book.position == pytest.approx(
        signed, abs=1e-9 * max(1.0, sum(a for _, a, _ in first.values()))
    )
    # every closed trade's entry and exit quantities balance
    for trade in book.closed_trades:
        assert trade.exit_quantity == pytest.approx(trade.quantity, rel=1e-9)


def test_a_round_trip_is_booked_as_the_engine_books_it():
    book = Book(1_000.0)
    book.apply(fill("1", "buy", 2.0, 100.0, fee=0.2, t=1))
    assert book.cash == 1_000.0 - (200.0 + 0.2) and book.position == 2.0
    assert book.equity(110.0) == book.cash + 2.0 * 110.0
    book.apply(fill("2", "sell", 2.0, 110.0, fee=0.22, t=2, reason="target"))
    (trade,) = book.trades
    assert trade.closed and trade.exit_reason == "target" and book.position == 0.0
    assert trade.pnl == (220.0 - 200.0) - 0.2 - 0.22
    assert trade.ret == trade.pnl / 200.0 and book.cash == 1_000.0 - 200.2 + (220.0 - 0.22)


def test_partial_fills_make_one_trade_at_their_mean_price():
    book = Book(1_000.0)
    book.apply(fill("1", "sell", 1.0, 100.0, t=1))
    book.apply(fill("2", "sell", 3.0, 104.0, t=2))
    assert book.position == -4.0 and book.open_trade.entry_price == pytest.approx(103.0)
    book.apply(fill("3", "buy", 1.5, 90.0, t=3))
    assert book.open_trade is not None and book.position == -2.5
    book.apply(fill("4", "buy", 2.5, 95.0, t=4, reason="stop"))
    (trade,) = book.trades
    assert trade.pnl == pytest.approx(412.0 - (135.0 + 237.5)) and trade.exit_reason == "stop"


def test_a_fill_through_zero_closes_the_trade_and_opens_the_next():
    book = Book(1_000.0)
    book.apply(fill("1", "buy", 1.0, 100.0, fee=1.0))
    book.apply(fill("2", "sell", 3.0, 110.0, fee=3.0, reason="reverse"))
    first, second = book.trades
    assert first.closed and first.pnl == pytest.approx(10.0 - 1.0 - 1.0)
    assert not second.closed and second.side == -1 and second.quantity == pytest.approx(2.0)
    assert second.entry_fee == pytest.approx(2.0) and book.position == pytest.approx(-2.0)


def test_a_loss_past_zero_is_written_off_when_flat():
    book = Book(100.0)
    book.apply(fill("1", "buy", 5.0, 100.0))  # 5x leverage: cash -400
    book.apply(fill("2", "sell", 5.0, 70.0, reason="liquidation"))
    assert book.cash == 0.0 and book.trades[0].pnl == -100.0


@pytest.mark.parametrize(
    "amount, price", [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.0), (math.nan, 1.0), (1.0, math.inf)]
)
def test_a_fill_with_a_bad_amount_or_price_is_refused_and_changes_nothing(amount, price):
    book = Book(100.0)
    with pytest.raises(BookError, match="not a positive number"):
        book.apply(fill("1", "buy", amount, price))
    assert book.cash == 100.0 and book.position == 0.0 and not book.seen


def test_a_fee_taken_in_the_base_asset_shrinks_the_position_not_the_cash():
    book = Book(1_000.0)
    book.apply(Fill("1", "c1", "buy", 1.0, 100.0, 0.0, 1, base_fee=0.001))  # Binance spot
    assert book.position == 0.999 and book.cash == 900.0
    book.apply(Fill("2", "c2", "sell", 0.999, 110.0, 0.1099, 2, reason="target"))
    (trade,) = book.trades
    assert trade.closed and book.position == 0.0
    assert trade.pnl == pytest.approx(0.999 * 110.0 - 100.0 - 0.1099)
