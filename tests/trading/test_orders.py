"""Client order ids (tradpal.trading.orders): deterministic, distinct, and what exchanges take."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.trading.orders import INTENTS, Order, client_order_id, intent_of

names = st.text(min_size=1, max_size=40)
bars = st.integers(min_value=0, max_value=2**62)


@given(names, names, bars, st.sampled_from(INTENTS), st.integers(0, 1000))
def test_an_id_is_the_same_in_every_process_and_fits_the_exchanges(
    trader, symbol, bar, intent, rev
):
    first = client_order_id(trader, symbol, bar, intent, rev)
    assert first == client_order_id(trader, symbol, bar, intent, rev)
    # Binance: 36 characters of [.A-Z:/a-z0-9_-]; letters and digits suit every exchange
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", first)
    assert intent_of(first) == intent


@given(names, bars, st.sampled_from(INTENTS), st.integers(0, 1000))
def test_any_change_of_the_inputs_changes_the_id(symbol, bar, intent, rev):
    base = client_order_id("t1", symbol, bar, intent, rev)
    others = {
        client_order_id("t2", symbol, bar, intent, rev),
        client_order_id("t1", symbol + "x", bar, intent, rev),
        client_order_id("t1", symbol, bar + 1, intent, rev),
        client_order_id("t1", symbol, bar, intent, rev + 1),
        *(client_order_id("t1", symbol, bar, i, rev) for i in INTENTS if i != intent),
    }
    assert base not in others and len(others) == 4 + len(INTENTS) - 1


def test_an_unknown_intent_is_refused():
    with pytest.raises(ValueError, match="unknown order intent"):
        client_order_id("t", "BTC/USDT", 0, "buy")  # type: ignore[arg-type]


def test_an_order_round_trips_through_its_dict_and_gives_ccxt_params():
    order = Order(
        "tpe1",
        "BTC/USDT",
        "sell",
        "stop_market",
        0.5,
        "stop",
        60_000,
        stop_price=9.5,
        reduce_only=True,
    )
    assert Order.from_dict(order.to_dict()) == order
    assert order.ccxt_params() == {"clientOrderId": "tpe1", "stopPrice": 9.5, "reduceOnly": True}
    assert not order.is_final and order.with_(status="closed").is_final


@pytest.mark.parametrize("other", ["", "manual-1", "tpn" + "z" * 29, "web_8f3a", "tpq" + "0" * 29])
def test_ids_this_module_did_not_make_have_no_intent(other):
    assert intent_of(other) is None
