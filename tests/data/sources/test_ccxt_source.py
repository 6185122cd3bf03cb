"""CcxtSource with the real ccxt binance client against a local fake Binance server."""

from __future__ import annotations

import random
from typing import Any

import ccxt
import numpy as np
import pandas as pd
import pytest
from fakes.fake_binance import (
    ERR_BAD_SYMBOL,
    FakeBinance,
    Fault,
    generated_klines,
    ip_banned,
    klines_from_csv,
    overlapping_page,
    rate_limited,
    server_error,
    short_page,
    slow,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradpal.data.contract import ensure_ohlcv, get_meta
from tradpal.data.sources.base import OhlcvSource
from tradpal.data.sources.ccxt_source import CcxtSource, is_transient
from tradpal.errors import ConfigError, SourceError, TradPalError

HOUR_MS = 3_600_000
T0 = 1_640_995_200_000  # 2022-01-01 00:00 UTC, the first bar of the served series
BTC = generated_klines(1000, seed=7)
ETH = generated_klines(300, seed=8, price=0.07)


def ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def expected(klines: list[list[Any]], start_ms: int, end_ms: int) -> pd.DataFrame:
    """The served klines with open time in [start, end), parsed independently of ccxt."""
    rows = [k for k in klines if start_ms <= k[0] < end_ms]
    index = pd.DatetimeIndex([ts(k[0]) for k in rows], name="time").as_unit("ns")
    values = np.array([[float(x) for x in k[1:6]] for k in rows], dtype=np.float64)
    return pd.DataFrame(values.reshape(-1, 5), index=index, columns=list("ohlcv"))


def assert_same(frame: pd.DataFrame, want: pd.DataFrame) -> None:
    ensure_ohlcv(frame)
    assert list(frame.index) == list(want.index)
    assert np.array_equal(frame.to_numpy(), want.to_numpy())  # bit for bit


@pytest.fixture
def fake():
    with FakeBinance(
        {("BTC/USDT", "1h"): BTC, ("ETH/BTC", "1h"): ETH}, extra_symbols=["LTC/USDT"]
    ) as server:
        yield server


def source(fake: FakeBinance, sleeps: list[float] | None = None, **kw: Any) -> CcxtSource:
    """A source on the fake: 1 ms rate limit and a recorded no-op sleep keep tests fast."""
    config = fake.ccxt_config(rateLimit=1, timeout=kw.pop("timeout", 3000))
    kw.setdefault("page_limit", 100)
    kw.setdefault("rng", random.Random(0))
    return CcxtSource(
        "binance", config=config, sleep=(sleeps if sleeps is not None else []).append, **kw
    )


def start_times(fake: FakeBinance) -> list[int]:
    return [int(r.params["startTime"]) for r in fake.klines_requests()]


# --------------------------------------------------------------------------- paging
def test_multi_page_range_is_exactly_the_served_series(fake):
    start, end = T0 + 2 * HOUR_MS, T0 + 341 * HOUR_MS  # 339 bars
    src = source(fake)
    frame = src.fetch("BTC/USDT", "1h", ts(start), ts(end))

    assert_same(frame, expected(BTC, start, end))
    assert len(frame) == 339
    meta = get_meta(frame)
    assert (meta.symbol, meta.timeframe, meta.source) == ("BTC/USDT", "1h", "ccxt:binance")
    assert not meta.synthetic
    # paged by since: each page starts one hour after the previous page's last candle
    assert start_times(fake) == [start + k * 100 * HOUR_MS for k in range(4)]
    assert [r.params["limit"] for r in fake.klines_requests()] == ["100", "100", "100", "39"]
    assert {r.params["symbol"] for r in fake.klines_requests()} == {"BTCUSDT"}
    assert isinstance(src, OhlcvSource)


def test_default_page_size_is_the_exchange_maximum_and_an_empty_page_ends(fake):
    src = source(fake, page_limit=None)
    frame = src.fetch("BTC/USDT", "1h", ts(T0), ts(T0 + 1500 * HOUR_MS))

    assert_same(frame, expected(BTC, T0, T0 + 1500 * HOUR_MS))
    assert len(frame) == 1000  # the whole series: the server has nothing after it
    limits = [r.params["limit"] for r in fake.klines_requests()]
    # the second (capped) page came back empty; one full page confirms the end
    assert limits == ["1000", "500", "1000"]
    assert start_times(fake) == [T0, T0 + 1000 * HOUR_MS, T0 + 1000 * HOUR_MS]


def test_short_page_in_the_middle_does_not_stop_the_download(fake):
    fake.script(short_page(37))
    start, end = T0, T0 + 250 * HOUR_MS
    frame = source(fake).fetch("BTC/USDT", "1h", ts(start), ts(end))

    assert_same(frame, expected(BTC, start, end))
    assert start_times(fake) == [T0, T0 + 37 * HOUR_MS, T0 + 137 * HOUR_MS, T0 + 237 * HOUR_MS]


def test_candles_repeated_across_pages_are_dropped(fake):
    fake.script(short_page(50), overlapping_page(5), overlapping_page(20))
    start, end = T0 + 10 * HOUR_MS, T0 + 300 * HOUR_MS
    pages = list(source(fake).iter_pages("BTC/USDT", "1h", ts(start), ts(end)))
    frame = pd.concat(pages)

    assert_same(frame, expected(BTC, start, end))
    assert frame.index.is_unique
    # the overlapping pages still move forward from their own newest candle
    assert start_times(fake)[:3] == [start, start + 50 * HOUR_MS, start + 145 * HOUR_MS]


def test_range_bounds_trim_candles_and_unaligned_bounds(fake):
    fake.script(overlapping_page(3))  # the first page starts before `start`
    start = ts(T0 + 5 * HOUR_MS) + pd.Timedelta(minutes=30)
    end = ts(T0 + 20 * HOUR_MS) + pd.Timedelta(seconds=1)
    frame = source(fake).fetch("BTC/USDT", "1h", start, end)

    assert frame.index[0] == ts(T0 + 6 * HOUR_MS)
    assert frame.index[-1] == ts(T0 + 20 * HOUR_MS)  # opens before end, so it is in
    assert_same(frame, expected(BTC, T0 + 6 * HOUR_MS, T0 + 21 * HOUR_MS))


def test_empty_range_and_range_without_data(fake):
    src = source(fake)
    empty = src.fetch("BTC/USDT", "1h", ts(T0), ts(T0))
    ensure_ohlcv(empty)
    assert empty.empty and get_meta(empty).source == "ccxt:binance"
    assert fake.klines_requests() == []

    # before the market existed: Binance answers with its first candles, all past `end`
    before = src.fetch("BTC/USDT", "1h", pd.Timestamp("2021-06-01", tz="UTC"), ts(T0))
    assert before.empty
    assert len(fake.klines_requests()) == 1

    with pytest.raises(SourceError, match=r"ends .* before it starts"):
        src.fetch("BTC/USDT", "1h", ts(T0 + HOUR_MS), ts(T0))


def test_still_forming_candle_is_dropped(fake):
    now_s = (T0 + 500 * HOUR_MS) / 1000 + 1800  # half way through bar 500
    src = source(fake, clock=lambda: now_s)
    frame = src.fetch("BTC/USDT", "1h", ts(T0 + 400 * HOUR_MS), ts(T0 + 900 * HOUR_MS))

    assert frame.index[-1] == ts(T0 + 499 * HOUR_MS)  # bar 500 is not final yet
    assert_same(frame, expected(BTC, T0 + 400 * HOUR_MS, T0 + 500 * HOUR_MS))
    assert start_times(fake) == [T0 + 400 * HOUR_MS]  # and is not even asked for


def test_progress_reports_bars_done_and_the_estimate(fake):
    calls: list[tuple[int, int]] = []
    start, end = T0, T0 + 250 * HOUR_MS
    frame = source(fake).fetch(
        "BTC/USDT", "1h", ts(start), ts(end), progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(100, 250), (200, 250), (250, 250)]
    assert calls[-1][0] == len(frame)


def test_market_id_is_accepted_and_reported_as_the_unified_symbol(fake):
    frame = source(fake).fetch("ETHBTC", "1h", ts(T0), ts(T0 + 10 * HOUR_MS))
    assert get_meta(frame).symbol == "ETH/BTC"
    assert_same(frame, expected(ETH, T0, T0 + 10 * HOUR_MS))


# ------------------------------------------------------------------ resumption
def test_interrupted_download_resumes_without_gaps_or_duplicates(fake):
    start, end = T0 + 3 * HOUR_MS, T0 + 703 * HOUR_MS
    stored: list[pd.DataFrame] = []
    # the server fails for good on the fourth page: the download stops after 3 pages
    fake.script(*[Fault(), Fault(), Fault()], *[server_error(503)] * 3)
    src = source(fake, max_retries=2)
    with pytest.raises(SourceError, match="failed after 3 attempt"):
        for page in src.iter_pages("BTC/USDT", "1h", ts(start), ts(end)):
            stored.append(page)  # a store appends each page as it comes
    assert sum(len(p) for p in stored) == 300

    # the store's way: start one timeframe after the last stored bar
    last = stored[-1].index[-1]
    fake.requests.clear()
    rest = source(fake).fetch("BTC/USDT", "1h", last + pd.Timedelta(hours=1), ts(end))
    assert start_times(fake)[0] == int(last.value // 1_000_000) + HOUR_MS
    assert_same(pd.concat([*stored, rest]), expected(BTC, start, end))

    # the same with resume_from, over the original range
    again = list(source(fake).iter_pages("BTC/USDT", "1h", ts(start), ts(end), resume_from=last))
    assert_same(pd.concat([*stored, *again]), expected(BTC, start, end))


def test_consumer_interruption_then_resume(fake):
    start, end = T0, T0 + 450 * HOUR_MS
    stored: list[pd.DataFrame] = []
    pages = source(fake).iter_pages("BTC/USDT", "1h", ts(start), ts(end))
    for page in pages:
        stored.append(page)
        if len(stored) == 2:
            break  # the process is stopped here
    resumed = source(fake).fetch(
        "BTC/USDT", "1h", ts(start), ts(end), resume_from=stored[-1].index[-1]
    )
    assert_same(pd.concat([*stored, resumed]), expected(BTC, start, end))
    # resuming after the end gives an empty frame, not an error
    done = source(fake).fetch("BTC/USDT", "1h", ts(start), ts(end), resume_from=resumed.index[-1])
    assert done.empty


# ------------------------------------------------------------ retries and faults
def test_429_rate_limit_is_retried_after_the_retry_after_wait(fake):
    fake.script(rate_limited(retry_after=3), rate_limited(retry_after=1))
    sleeps: list[float] = []
    frame = source(fake, sleeps).fetch("BTC/USDT", "1h", ts(T0), ts(T0 + 150 * HOUR_MS))

    assert_same(frame, expected(BTC, T0, T0 + 150 * HOUR_MS))
    statuses = [r.status for r in fake.klines_requests()]
    assert statuses == [429, 429, 200, 200]
    # full jitter from the seeded rng, but never shorter than Retry-After
    jitter = random.Random(0)
    assert sleeps == [max(3.0, jitter.uniform(0, 0.5)), max(1.0, jitter.uniform(0, 1.0))]


def test_418_ip_ban_is_waited_out_or_given_up_on(fake):
    fake.script(ip_banned(retry_after=120))
    sleeps: list[float] = []
    frame = source(fake, sleeps).fetch("BTC/USDT", "1h", ts(T0), ts(T0 + 50 * HOUR_MS))
    assert len(frame) == 50 and sleeps == [120.0]

    # a ban longer than max_retry_after: give up at once, saying why
    fake.requests.clear()
    fake.script(ip_banned(retry_after=7200))
    sleeps.clear()
    with pytest.raises(SourceError, match=r"asks to wait 7200 s.*max_retry_after=300") as err:
        source(fake, sleeps).fetch("BTC/USDT", "1h", ts(T0), ts(T0 + 50 * HOUR_MS))
    assert sleeps == [] and len(fake.klines_requests()) == 1
    assert isinstance(err.value.__cause__, ccxt.DDoSProtection)
    assert err.value.hint


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_bounded_backoff(fake, status):
    fake.script(*[server_error(status)] * 3)
    sleeps: list[float] = []
    src = source(fake, sleeps, backoff_base=0.25, backoff_max=0.6)
    frame = src.fetch("BTC/USDT", "1h", ts(T0), ts(T0 + 60 * HOUR_MS))

    assert_same(frame, expected(BTC, T0, T0 + 60 * HOUR_MS))
    assert [r.status for r in fake.klines_requests()] == [status] * 3 + [200]
    assert len(sleeps) == 3
    for k, wait in enumerate(sleeps):
        assert 0 <= wait <= min(0.6, 0.25 * 2**k)


def test_gives_up_after_max_retries_with_a_clear_error(fake):
    fake.script(*[server_error(503)] * 10)
    sleeps: list[float] = []
    with pytest.raises(SourceError) as err:
        source(fake, sleeps, max_retries=3).fetch("BTC/USDT", "1h", ts(T0), ts(T0 + HOUR_MS * 5))
    text = str(err.value)
    assert "binance fetch_ohlcv BTC/USDT 1h since 2022-01-01T00:00Z" in text
    assert "failed after 4 attempt(s)" in text and "ExchangeNotAvailable" in text
    assert "max_retries" in err.value.hint
    assert len(fake.klines_requests()) == 4 and len(sleeps) == 3
    assert isinstance(err.value.__cause__, ccxt.ExchangeNotAvailable)


def test_slow_answer_times_out_and_is_retried(fake):
    fake.script(slow(1.0))
    sleeps: list[float] = []
    frame = source(fake, sleeps, timeout=250).fetch("BTC/USDT", "1h", ts(T0), ts(T0 + HOUR_MS))
    assert len(frame) == 1 and len(sleeps) == 1


def test_market_loading_is_retried(fake):
    fake.script(Fault(status=503, body="busy", path="/api/v3/exchangeInfo"), rate_limited(None))
    sleeps: list[float] = []
    frame = source(fake, sleeps).fetch("BTC/USDT", "1h", ts(T0), ts(T0 + 3 * HOUR_MS))
    assert len(frame) == 3 and len(sleeps) == 2
    assert [r.path for r in fake.requests].count("/api/v3/exchangeInfo") == 2


def test_non_transient_exchange_error_fails_at_once(fake):
    fake.script(Fault(status=400, body=ERR_BAD_SYMBOL))
    sleeps: list[float] = []
    with pytest.raises(SourceError, match="does not know the symbol") as err:
        source(fake, sleeps).fetch("BTC/USDT", "1h", ts(T0), ts(T0 + 3 * HOUR_MS))
    assert sleeps == [] and len(fake.klines_requests()) == 1
    assert isinstance(err.value.__cause__, ccxt.BadSymbol)


def test_backoff_is_deterministic_for_a_seed(fake):
    def run(seed: int) -> list[float]:
        fake.script(*[server_error(502)] * 4)
        sleeps: list[float] = []
        source(fake, sleeps, rng=seed, max_retries=5, backoff_base=1.0, backoff_max=5.0).fetch(
            "BTC/USDT", "1h", ts(T0), ts(T0 + HOUR_MS)
        )
        return sleeps

    first, second, other = run(42), run(42), run(43)
    assert first == second and first != other
    ref = random.Random(42)  # the documented formula, computed independently
    assert first == [ref.uniform(0, min(5.0, 1.0 * 2**k)) for k in range(4)]


def test_rate_limiter_is_always_on(fake):
    src = source(fake)
    assert src.exchange.enableRateLimit is True and src.exchange.rateLimit == 1
    with pytest.raises(ConfigError, match="enableRateLimit"):
        CcxtSource("binance", config={"enableRateLimit": False})


# ------------------------------------------------------------ validation errors
def test_unknown_symbol_names_close_matches(fake):
    with pytest.raises(SourceError, match="binance has no market 'BTC/USD'") as err:
        source(fake).fetch("BTC/USD", "1h", ts(T0), ts(T0 + HOUR_MS))
    assert "BTC/USDT" in err.value.hint and "load_markets" in err.value.hint
    assert fake.klines_requests() == []


def test_unknown_timeframe(fake):
    with pytest.raises(TradPalError, match="unknown timeframe '7h'"):
        source(fake).fetch("BTC/USDT", "7h", ts(T0), ts(T0 + HOUR_MS))
    # a timeframe TradPal knows that the exchange does not offer: no request is made
    kraken = CcxtSource("kraken", config={"urls": {"api": {"public": fake.url + "/0/public"}}})
    with pytest.raises(SourceError, match="kraken has no 2h candles") as err:
        kraken.fetch("BTC/USD", "2h", ts(T0), ts(T0 + HOUR_MS))
    assert "4h" in err.value.hint and "resample" in err.value.hint
    assert fake.requests == []


def test_unknown_exchange_id():
    with pytest.raises(SourceError, match="does not know the exchange 'binanse'") as err:
        CcxtSource("binanse")
    assert "binance" in err.value.hint and "ccxt.exchanges" in err.value.hint


@pytest.mark.parametrize("bad", [{"page_limit": 0}, {"max_retries": -1}, {"backoff_base": -1}])
def test_bad_settings_are_config_errors(bad):
    with pytest.raises(ConfigError):
        CcxtSource("binance", **bad)


def test_exchange_that_ignores_since_is_a_clear_error(fake, monkeypatch):
    src = source(fake)
    old = [[T0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    monkeypatch.setattr(src.exchange, "fetch_ohlcv", lambda *a, **k: old)
    with pytest.raises(SourceError, match="older candles only") as err:
        src.fetch("BTC/USDT", "1h", ts(T0 + 10 * HOUR_MS), ts(T0 + 20 * HOUR_MS))
    assert "ignore 'since'" in err.value.hint


def test_transient_classification():
    assert is_transient(ccxt.RequestTimeout("x")) and is_transient(ccxt.RateLimitExceeded("x"))
    assert is_transient(ccxt.OnMaintenance("x")) and is_transient(ccxt.DDoSProtection("x"))
    assert not is_transient(ccxt.BadSymbol("x")) and not is_transient(ccxt.ExchangeError("x"))
    assert not is_transient(ccxt.InvalidNonce("x")) and not is_transient(ValueError("x"))


# ------------------------------------------------------------------ real candles
def test_real_binance_candles_round_trip(shared_data):
    klines = klines_from_csv(shared_data / "BTCUSDT-1h.csv")
    start = pd.Timestamp("2022-05-01", tz="UTC")
    end = pd.Timestamp("2022-06-01", tz="UTC")
    with FakeBinance({("BTC/USDT", "1h"): klines}) as server:
        frame = source(server, page_limit=200).fetch("BTC/USDT", "1h", start, end)
        assert len(server.klines_requests()) == 4
    assert len(frame) == 31 * 24
    assert_same(frame, expected(klines, start.value // 1_000_000, end.value // 1_000_000))


# -------------------------------------------------------------------- invariant
@pytest.fixture(scope="module")
def shared_fake():
    with FakeBinance({("BTC/USDT", "1h"): BTC}, lifetime_s=120) as server:
        yield server


FAULTS = st.lists(
    st.tuples(st.sampled_from(["short", "overlap", "5xx"]), st.integers(1, 30)), max_size=4
)


def make_faults(spec: list[tuple[str, int]], page: int) -> list[Fault]:
    faults = []
    for kind, n in spec:
        if kind == "short":
            faults.append(short_page(n))
        elif kind == "5xx":
            faults.append(server_error(502))
        elif min(n, page - 1) > 0:
            # an overlap smaller than the page: a page of only old candles is filtered
            # out by ccxt and reads as the end of the data, like an empty page
            faults.append(overlapping_page(min(n, page - 1)))
    return faults


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=st.integers(-50, 1050),
    length=st.integers(0, 400),
    page=st.integers(1, 120),
    spec=FAULTS,
)
def test_any_range_any_faults_gives_exactly_the_range(shared_fake, first, length, page, spec):
    faults = make_faults(spec, page)
    shared_fake.clear_faults()  # a short range may leave faults of an earlier example
    shared_fake.script(*faults)
    start, end = T0 + first * HOUR_MS, T0 + (first + length) * HOUR_MS
    src = source(shared_fake, page_limit=page, max_retries=len(faults))
    frame = src.fetch("BTC/USDT", "1h", ts(start), ts(end))
    assert_same(frame, expected(BTC, start, end))
