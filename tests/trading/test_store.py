"""The trading store's contract, run against both stores: the memory one and the DynamoDB one
(moto in this process, its table made by the local platform's provisioning from the
topology). Orders round-trip exactly and keep their first write's place; a fill is stored
once per trade id and a book rebuilt from the stored fills is the one that booked them; a
stale state version is refused; one owner holds the lease until it expires, and a store
without an unexpired lease writes nothing; control commands, asked without a lease, get
versions 1, 2, ... that no two requests share, and only for a trader that exists."""

from __future__ import annotations

import math
import struct
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradpal.errors import TradPalError
from tradpal.trading.book import Book, Fill
from tradpal.trading.orders import Order, client_order_id
from tradpal.trading.store import (
    CONTROL,
    FILL_PREFIX,
    LEASE,
    ORDER_PREFIX,
    STATE,
    Control,
    LeaseHeld,
    LeaseNotHeld,
    MemoryTradingStore,
    MemoryTradingTable,
    StaleState,
    TraderNotFound,
    TradingStore,
    TradingStoreError,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, epoch seconds
TTL = 30.0


@dataclass
class Clock:
    """The writers' clock (epoch seconds), moved by the tests."""

    now: float = T0

    def __call__(self) -> float:
        return self.now


class Backend:
    """Stores on one table: ``memory`` (a shared MemoryTradingTable) or ``dynamodb`` (a
    moto table); every store made here shares it, as processes share a table."""

    def __init__(self, kind: str, table: Any) -> None:
        self.kind, self.table = kind, table

    def store(self, trader_id: str, clock: Clock) -> Any:
        if self.kind == "memory":
            return MemoryTradingStore(trader_id, table=self.table, clock=clock)
        return TradingStore(trader_id, table=self.table, clock=clock)


@pytest.fixture(scope="module", params=["memory", "dynamodb"])
def backend(request) -> Backend:
    if request.param == "memory":
        return Backend("memory", MemoryTradingTable())
    return Backend("dynamodb", request.getfixturevalue("moto_trading_table"))


def new_trader() -> str:
    return f"ema-btc-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(backend, clock):
    """A store of a new trader that holds its lease (owner ``a``)."""
    s = backend.store(new_trader(), clock)
    s.acquire_lease("a", TTL, clock.now)
    return s


def order(i: int = 0, **changes: Any) -> Order:
    base = Order(
        client_id=client_order_id("t", "BTC/USDT", 1_767_225_600_000 + i * 60_000, "entry"),
        symbol="BTC/USDT",
        side="buy",
        type="market",
        amount=0.1 + 0.2,
        intent="entry",
        bar_ms=1_767_225_600_000 + i * 60_000,
        reason="entry",
    )
    return base.with_(**changes)


def fill(trade_id: str, side: str = "buy", amount: float = 1.0, time_ms: int = 0) -> Fill:
    return Fill(trade_id, "c1", side, amount, 100.0 + amount, 0.01 * amount, time_ms, "signal")


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


# ---- orders ----


def test_orders_are_written_ahead_updated_in_place_and_listed_newest_last(store):
    first, second, third = order(0), order(1), order(2)
    for o in (first, second, third):
        store.put(o)
    assert store.get(second.client_id) == second
    assert store.get("tpnmissing") is None
    sent = first.with_(status="open", exchange_id="e1")
    store.put(sent)  # its status changed: it keeps its place
    closed = second.with_(status="closed", exchange_id="e2", filled=second.amount)
    store.put(closed)
    assert store.orders() == [sent, closed, third]
    assert store.orders(open_only=True) == [sent, third]


HARD_FLOATS = [0.1 + 0.2, -0.0, 5e-324, 1e-300, 1.7976931348623157e308, 123456.78901234567]


def test_an_orders_floats_round_trip_bit_for_bit(store):
    for i, x in enumerate(HARD_FLOATS):
        o = order(i, amount=x, price=x, stop_price=-x, filled=x, info={"x": x, "n": [x, i]})
        store.put(o)
        got = store.get(o.client_id)
        assert got == o
        assert [bits(v) for v in (got.amount, got.price, got.stop_price, got.filled)] == [
            bits(x),
            bits(x),
            bits(-x),
            bits(x),
        ]
        assert bits(got.info["x"]) == bits(x) and type(got.bar_ms) is int
    nan = order(99, price=math.nan, info={"ccxt": {"average": math.nan}})
    store.put(nan)
    assert math.isnan(store.get(nan.client_id).price)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=st.floats(allow_nan=False), i=st.integers(0, 10**6))
def test_any_float_of_an_order_round_trips(backend, x, i):
    s = backend.store(new_trader(), Clock())
    s.acquire_lease("a", TTL, T0)
    o = order(i, amount=x, price=x)
    s.put(o)
    got = s.get(o.client_id)
    assert bits(got.amount) == bits(x) and bits(got.price) == bits(x)


def test_an_order_that_json_cannot_write_is_refused(store):
    with pytest.raises(TradingStoreError, match="JSON cannot write"):
        store.put(order(info={"when": object()}))
    assert store.orders() == []


# ---- fills ----


def test_a_fill_written_twice_is_stored_once(store):
    f = fill("t1")
    assert store.put_fill(f) is True
    assert store.put_fill(f) is False
    assert store.put_fill(fill("t1", amount=5.0)) is False  # another fill, the same trade id
    assert store.fills() == [f]


def test_a_book_rebuilt_from_the_stored_fills_is_the_book_that_booked_them(store):
    booked = Book(capital=10_000.0)
    fills = [
        fill("t1", "buy", 1.0, 1_000),
        fill("t2", "buy", 0.5, 1_000),  # the same ms: the write order decides
        fill("t3", "sell", 2.0, 2_000),  # through 0: closes, and opens a short
        fill("t1", "buy", 1.0, 1_000),  # a replay
        fill("t4", "buy", 0.5, 3_000),
    ]
    for f in fills:
        if store.put_fill(f):
            booked.apply(f)
    rebuilt = Book(capital=10_000.0)
    for f in store.fills():
        assert rebuilt.apply(f)
    assert repr(asdict(rebuilt)) == repr(asdict(booked))
    assert [f.trade_id for f in store.fills()] == ["t1", "t2", "t3", "t4"]


trade_ids = st.sampled_from([f"x{i}" for i in range(8)])
fill_events = st.lists(
    st.tuples(
        trade_ids,
        st.sampled_from(["buy", "sell"]),
        st.floats(0.001, 10.0),
        st.integers(0, 10_000),
    ),
    max_size=25,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=fill_events)
def test_the_position_from_stored_fills_is_the_sum_of_the_unique_fills(backend, events):
    s = backend.store(new_trader(), Clock())
    s.acquire_lease("a", TTL, T0)
    first: dict[str, Fill] = {}
    for trade_id, side, amount, time_ms in events:
        f = Fill(trade_id, "c", side, amount, 100.0, 0.0, time_ms)
        assert s.put_fill(f) is (trade_id not in first)
        first.setdefault(trade_id, f)
    book = Book(capital=1e9)
    for f in s.fills():
        book.apply(f)
    unique = list(first.values())
    assert s.fills() == unique
    expected = 0.0
    for f in unique:  # the book's own running sum, in its order
        expected += f.amount if f.side == "buy" else -f.amount
    assert book.position == pytest.approx(expected, abs=1e-9 * max(1.0, len(unique) * 10))
    assert sorted(book.seen) == sorted(first)


# ---- state ----


def test_state_is_versioned_and_a_stale_version_is_refused(store):
    assert store.load_state() is None
    doc = {"holding": {"side": 1, "stop": math.nan}, "guard": {"peak": 0.1 + 0.2}, "n": 3}
    assert store.save_state(doc, expected_version=None) == 1
    state, version = store.load_state()
    assert version == 1 and state["guard"] == doc["guard"] and math.isnan(state["holding"]["stop"])
    assert store.save_state({"n": 4}, expected_version=1) == 2
    with pytest.raises(StaleState, match=r"at version 2.*derived from 1") as stale:
        store.save_state({"n": 5}, expected_version=1)
    assert (stale.value.expected, stale.value.stored) == (1, 2)
    assert "load_state()" in stale.value.hint
    with pytest.raises(StaleState):
        store.save_state({"n": 5}, expected_version=None)  # a first save where one exists
    assert store.load_state() == ({"n": 4}, 2)


def test_a_first_save_with_a_version_is_refused(store):
    with pytest.raises(StaleState) as stale:
        store.save_state({}, expected_version=3)
    assert (stale.value.expected, stale.value.stored) == (3, None)
    assert store.load_state() is None


# ---- the lease ----


def test_one_owner_holds_the_lease_until_it_expires_then_the_old_owner_is_refused(backend, clock):
    trader = new_trader()
    a, b = backend.store(trader, clock), backend.store(trader, clock)
    a.acquire_lease("a", TTL, clock.now)
    a.put(order(0))
    a.put_fill(fill("t1"))
    a.save_state({"n": 1}, expected_version=None)

    clock.now += TTL  # the last second of a's lease: still a's
    with pytest.raises(LeaseHeld, match="held by a until") as held:
        b.acquire_lease("b", TTL, clock.now)
    assert held.value.holder == "a" and held.value.expires_at == T0 + TTL
    assert isinstance(held.value, TradPalError) and "only one trader" in held.value.hint
    with pytest.raises(LeaseNotHeld, match="has not acquired"):
        b.put(order(1))  # b never acquired

    clock.now += 1.0  # a's lease has expired: b takes it
    lease = b.acquire_lease("b", TTL, clock.now)
    assert lease.owner == "b" and lease.expires_at == clock.now + TTL
    assert backend.store(trader, clock).lease() == lease

    with pytest.raises(LeaseHeld, match="held by b"):
        a.put(order(0).with_(status="open"))
    with pytest.raises(LeaseHeld):
        a.put_fill(fill("t2"))
    with pytest.raises(LeaseHeld):
        a.save_state({"n": 2}, expected_version=1)
    with pytest.raises(LeaseHeld):
        a.renew_lease("a", TTL, clock.now)
    assert a.release_lease("a") is False
    # nothing of a's was written
    assert b.orders() == [order(0)] and b.fills() == [fill("t1")]
    assert b.load_state() == ({"n": 1}, 1)

    b.put(order(0).with_(status="open"))
    assert b.put_fill(fill("t2")) is True
    assert b.save_state({"n": 2}, expected_version=1) == 2


def test_a_store_whose_lease_expired_untaken_is_refused_until_it_renews(store, clock):
    clock.now += TTL + 1.0
    with pytest.raises(LeaseNotHeld, match="its lease expired") as expired:
        store.put(order(0))
    assert not isinstance(expired.value, LeaseHeld) and expired.value.holder == "a"
    assert store.orders() == []
    renewed = store.renew_lease("a", TTL, clock.now)  # nobody else acted meanwhile
    assert renewed.owner == "a" and renewed.expires_at == clock.now + TTL
    store.put(order(0))
    assert store.orders() == [order(0)]


def test_a_restarted_owner_retakes_its_lease_and_a_released_one_is_free(backend, clock):
    trader = new_trader()
    first = backend.store(trader, clock)
    first.acquire_lease("task-1", TTL, clock.now)
    first.put(order(0))
    again = backend.store(trader, clock)  # the same owner after a restart
    again.acquire_lease("task-1", TTL, clock.now + 1)
    again.put(order(1))  # counts on after the first store's writes
    assert again.orders() == [order(0), order(1)]

    assert again.release_lease("task-1") is True
    assert again.lease() is None
    with pytest.raises(LeaseNotHeld, match="has not acquired"):
        again.put(order(2))
    with pytest.raises(LeaseNotHeld, match="no lease"):
        first.put(order(2))  # its owner released it
    with pytest.raises(LeaseNotHeld, match="no lease"):
        first.renew_lease("task-1", TTL, clock.now)
    other = backend.store(trader, clock)
    other.acquire_lease("task-2", TTL, clock.now + 2)  # at once: it was released
    other.put(order(2))
    assert other.orders() == [order(0), order(1), order(2)]


@pytest.mark.parametrize(("ttl", "now"), [(0, T0), (-1, T0), (math.inf, T0), (TTL, math.nan)])
def test_a_lease_needs_a_positive_time_to_live(backend, ttl, now):
    with pytest.raises(TradingStoreError, match="time to live"):
        backend.store(new_trader(), Clock()).acquire_lease("a", ttl, now)


def test_ids_must_be_usable(backend):
    with pytest.raises(TradingStoreError, match="trader id"):
        backend.store("", Clock())
    with pytest.raises(TradingStoreError, match="lease owner"):
        backend.store(new_trader(), Clock()).acquire_lease("", TTL, T0)


# ---- every trader ----


def test_traders_lists_each_trader_with_its_state_and_lease(backend, clock):
    ids = sorted(new_trader() for _ in range(3))
    for n, trader in enumerate(ids):
        s = backend.store(trader, clock)
        s.acquire_lease(f"o{n}", TTL, clock.now)
        s.put(order(n))
        if n < 2:
            s.save_state({"n": n}, expected_version=None)
    backend.store(ids[2], clock).release_lease("o2")
    listed = {t.trader_id: t for t in backend.store(ids[0], clock).traders()}
    assert ids[0] in listed and ids[1] in listed and ids[2] not in listed  # nothing left
    one = listed[ids[1]]
    assert (one.state, one.version, one.updated_at) == ({"n": 1}, 1, clock.now)
    assert one.lease.owner == "o1" and one.lease.expires_at == clock.now + TTL
    assert one.to_dict()["lease"] == {"owner": "o1", "expires_at": clock.now + TTL}


def test_trader_reads_one_trader_as_traders_lists_it(backend, clock):
    s = backend.store(new_trader(), clock)
    assert s.trader() is None  # nothing yet
    s.acquire_lease("a", TTL, clock.now)
    leased = s.trader()
    assert (leased.state, leased.version, leased.control) == (None, 0, None)
    assert leased.lease.owner == "a"
    s.save_state({"n": 1}, expected_version=None)
    s.request_control("pause", reason="news", now_s=clock.now)
    one = s.trader()
    assert one == {t.trader_id: t for t in s.traders()}[s.trader_id]
    assert (one.state, one.version, one.control.command) == ({"n": 1}, 1, "pause")
    s.release_lease("a")
    assert s.trader().lease is None and s.trader().state == {"n": 1}  # stopped, still known


# ---- control ----


def test_control_commands_get_versions_one_after_another_without_a_lease(backend, clock):
    trader = new_trader()
    backend.store(trader, clock).acquire_lease("a", TTL, clock.now)
    api = backend.store(trader, clock)  # the API's store: it never acquires the lease
    assert api.control() is None
    first = api.request_control("pause", reason="news at 14:00", requested_by="u1", now_s=T0)
    assert first == Control(trader, "pause", False, "news at 14:00", "u1", T0, 1)
    assert api.control() == first
    clock.now += 5.5
    second = api.request_control("stop", flatten=True, now_s=clock.now)
    assert second == Control(trader, "stop", True, None, None, clock.now, 2)
    third = backend.store(trader, clock).request_control("start", now_s=clock.now + 1)
    assert (third.command, third.version, third.flatten) == ("start", 3, False)
    assert api.control() == third  # the last one asked for
    assert third.to_dict() == {
        "trader_id": trader, "command": "start", "flatten": False, "reason": None,
        "requested_by": None, "requested_at": clock.now + 1, "version": 3,
    }  # fmt: skip
    listed = {t.trader_id: t for t in api.traders()}[trader]
    assert listed.control == third and listed.to_dict()["control"] == third.to_dict()


def test_a_control_for_an_unknown_trader_is_refused_and_writes_nothing(backend, clock):
    api = backend.store(new_trader(), clock)
    with pytest.raises(TraderNotFound, match="neither state nor lease") as unknown:
        api.request_control("stop", now_s=T0)
    assert unknown.value.trader_id == api.trader_id and "GET /v1/trading" in unknown.value.hint
    assert isinstance(unknown.value, TradingStoreError)
    assert api.control() is None
    assert api.trader_id not in {t.trader_id for t in api.traders()}


def test_a_trader_with_state_but_no_lease_still_takes_control(backend, clock):
    trader = new_trader()
    s = backend.store(trader, clock)
    s.acquire_lease("a", TTL, clock.now)
    s.save_state({"summary": {"status": "stopped"}}, expected_version=None)
    s.release_lease("a")  # it stopped and let go
    control = backend.store(trader, clock).request_control("start", now_s=T0)
    assert control.version == 1
    assert s.control() == control  # the trader's own store reads what the API wrote


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"command": "halt"}, "unknown"),
        ({"command": "stop", "flatten": "yes"}, "not a boolean"),
        ({"command": "stop", "reason": "x" * 201}, "at most 200"),
        ({"command": "stop", "requested_by": ""}, "requester"),
        ({"command": "stop", "now_s": math.nan}, "request time"),
    ],
)
def test_a_bad_control_request_is_refused(backend, clock, kwargs, fragment):
    trader = new_trader()
    backend.store(trader, clock).acquire_lease("a", TTL, clock.now)
    api = backend.store(trader, clock)
    with pytest.raises(TradingStoreError, match=fragment):
        api.request_control(**{"now_s": T0, **kwargs})
    assert api.control() is None


def test_concurrent_control_requests_never_share_a_version(backend, clock):
    trader = new_trader()
    backend.store(trader, clock).acquire_lease("a", TTL, clock.now)
    if backend.kind == "dynamodb":
        # moto in this process is not safe for threads: race two requests by hand, the second
        # one written between the first's read and its write
        first, other = backend.store(trader, clock), backend.store(trader, clock)
        read, raced = first._get_items, []

        def read_then_race(*items):
            got = read(*items)
            if not raced:
                raced.append(other.request_control("pause", now_s=T0))
            return got

        first._get_items = read_then_race
        mine = first.request_control("stop", flatten=True, now_s=T0 + 1)
        assert (raced[0].version, mine.version) == (1, 2)
        assert first.control() == mine
        return
    got: list[Control] = []
    start = threading.Barrier(8)

    def ask(n: int) -> None:
        start.wait()
        for i in range(10):
            got.append(backend.store(trader, clock).request_control("pause", now_s=T0 + i))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c.version for c in got) == list(range(1, 81))
    assert backend.store(trader, clock).control().version == 80


# ---- DynamoDB only: the items as stored, and the platform's table ----


def test_the_items_as_dynamodb_holds_them(moto_trading_table, clock):
    from tradpal.platform.aws import client

    s = TradingStore(new_trader(), table=moto_trading_table, clock=clock)
    s.acquire_lease("a", TTL, clock.now)
    s.put(order(0))
    s.put_fill(fill("t1", time_ms=5))
    s.save_state({"n": 1}, expected_version=None)
    TradingStore(s.trader_id, table=moto_trading_table).request_control(
        "stop", flatten=True, reason="why", requested_by="u1", now_s=T0 + 0.25
    )
    items = client("dynamodb").query(
        TableName=moto_trading_table,
        KeyConditionExpression="trader_id = :t",
        ExpressionAttributeValues={":t": {"S": s.trader_id}},
    )["Items"]
    by_item = {i["item"]["S"]: i for i in items}
    assert set(by_item) == {
        LEASE,
        STATE,
        CONTROL,
        ORDER_PREFIX + order(0).client_id,
        FILL_PREFIX + "t1",
    }
    assert {k: v for k, v in by_item[CONTROL].items() if k not in ("trader_id", "item")} == {
        "command": {"S": "stop"},
        "flatten": {"BOOL": True},
        "reason": {"S": "why"},
        "requested_by": {"S": "u1"},
        "requested_at": {"N": repr(T0 + 0.25)},
        "version": {"N": "1"},
    }
    assert by_item[LEASE]["owner"] == {"S": "a"}
    assert float(by_item[LEASE]["expires_at"]["N"]) == T0 + TTL
    assert by_item[STATE]["version"] == {"N": "1"}
    assert by_item[ORDER_PREFIX + order(0).client_id]["status"] == {"S": "new"}
    assert by_item[FILL_PREFIX + "t1"]["time_ms"] == {"N": "5"}


def test_the_local_platform_provisions_the_table_the_store_finds(aws):
    from tradpal.platform.environment import platform_env

    assert platform_env().trading_table == aws.env.trading_table
    s = TradingStore(new_trader())  # the table from TRADPAL_TRADING_TABLE, the real clock
    assert s.table == aws.env.trading_table
    s.acquire_lease("a", TTL, time.time())
    s.put(order(0))
    assert TradingStore(s.trader_id).get(order(0).client_id) == order(0)


def test_without_a_configured_table_the_store_says_which_variable(monkeypatch):
    from tradpal.errors import ConfigError
    from tradpal.platform.environment import PlatformEnv, scoped_env

    with scoped_env(PlatformEnv()), pytest.raises(ConfigError, match="TRADPAL_TRADING_TABLE"):
        TradingStore("t")
