"""YFinanceSource through the real yfinance code path, against a local fake of Yahoo.

yfinance 1.7 runs unchanged: its URLs, cookie and crumb handshake, curl_cffi
HTTPS requests, JSON parsing, time-zone and live-row fixes. The only hook is
the documented ``session`` argument of ``yf.Ticker``, which YFinanceSource
passes on: the session's DNS and port lead to the fake on 127.0.0.1 (see
tests/fakes/fake_yahoo.py). Expected bars come from the fake's own minute
path, an aggregation independent of yfinance and of the code under test.
"""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest
import yfinance as yf
from fakes.fake_yahoo import INSTRUMENTS, FakeYahoo, make_bars
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradpal.data.contract import ensure_ohlcv, get_meta
from tradpal.data.resample import resample_ohlcv
from tradpal.data.sources.base import OhlcvSource
from tradpal.data.sources.yfinance_source import (
    YFinanceSource,
    normalize_yfinance_frame,
    plan_interval,
    yahoo_symbol,
)
from tradpal.errors import SourceError
from tradpal.timeframes import TIMEFRAMES, parse_timeframe

# yfinance 1.7 calls sort_index(inplace=True), deprecated in pandas 3: its warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

NOW = pd.Timestamp("2024-06-05 14:17", tz="UTC")  # a Wednesday, 10:17 in New York


def T(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory):
    # yfinance keeps its time-zone and cookie caches on disk: keep them out of ~/.cache.
    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yf-cache")))
    with FakeYahoo(int(NOW.timestamp()), max_lifetime_s=300) as server:
        yield server


@pytest.fixture(scope="module")
def session(fake: FakeYahoo):
    return fake.session()


@pytest.fixture
def source(session) -> YFinanceSource:
    return YFinanceSource(session=session, clock=lambda: NOW)


def expected(ticker: str, interval: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The fake's bars opening in [start, end), closed by NOW, with UTC open times."""
    bars = make_bars(
        INSTRUMENTS[ticker],
        interval,
        int(start.timestamp()),
        int(end.timestamp()),
        int(NOW.timestamp()),
    )
    frame = pd.DataFrame(
        {
            k: np.asarray(bars[k], dtype=np.float64)
            for k in ("open", "high", "low", "close", "volume")
        },
        index=pd.to_datetime(np.asarray(bars["timestamp"], dtype=np.int64), unit="s", utc=True),
    )
    frame.index = frame.index.as_unit("ns").rename("time")
    return frame


# --------------------------------------------------------------------------- mapping tables
@pytest.mark.parametrize(
    ("symbol", "ticker", "mapped"),
    [
        ("BTC/USDT", "BTC-USD", ("USDT", "USD")),
        ("BTC/USD", "BTC-USD", None),
        ("btc/usdc", "BTC-USD", ("USDC", "USD")),
        ("ETH/BTC", "ETH-BTC", None),
        ("BTC/EUR", "BTC-EUR", None),
        ("AAPL", "AAPL", None),
        ("^GSPC", "^GSPC", None),
        ("brk-b", "BRK-B", None),
        ("0700.HK", "0700.HK", None),
        ("EURUSD=X", "EURUSD=X", None),
        ("BTC-USD", "BTC-USD", None),
    ],
)
def test_symbol_mapping(symbol: str, ticker: str, mapped: tuple[str, str] | None) -> None:
    ys = yahoo_symbol(symbol)
    assert (ys.symbol, ys.ticker, ys.quote_mapped) == (symbol, ticker, mapped)
    assert ys.crypto == ("/" in symbol)


@pytest.mark.parametrize("bad", ["", "  ", "BTC/USDT:USDT", "BTC/", "/USD", "AA PL", "A$B"])
def test_bad_symbols_are_refused_with_a_hint(bad: str) -> None:
    with pytest.raises(SourceError) as err:
        yahoo_symbol(bad)
    assert err.value.hint


INTERVALS = {
    # timeframe: (native fetched, yfinance interval)
    "1m": ("1m", "1m"),
    "3m": ("1m", "1m"),
    "5m": ("5m", "5m"),
    "15m": ("15m", "15m"),
    "30m": ("15m", "15m"),
    "1h": ("1h", "1h"),
    "2h": ("1h", "1h"),
    "4h": ("1h", "1h"),
    "6h": ("1h", "1h"),
    "12h": ("1h", "1h"),
    "1d": ("1d", "1d"),
    "1w": ("1w", "1wk"),
}


def test_interval_plan_covers_every_timeframe() -> None:
    assert set(INTERVALS) == set(TIMEFRAMES)
    for name, (native, yf_interval) in INTERVALS.items():
        plan = plan_interval(name)
        assert (plan.native.name, plan.yf_interval) == (native, yf_interval)
        assert plan.built == (native != name)
        assert plan.timeframe.seconds % plan.native.seconds == 0
    assert plan_interval("1m").max_span == pd.Timedelta(days=7)
    assert [plan_interval(n).max_age.days for n in ("1m", "5m", "15m", "1h")] == [30, 60, 60, 730]
    assert plan_interval("1d").max_age is None


# --------------------------------------------------------------------------- fetching
def test_crypto_1h_through_yfinance(source: YFinanceSource, fake: FakeYahoo) -> None:
    start, end = T("2024-06-01 00:00"), T("2024-06-03 00:00")
    assert isinstance(source, OhlcvSource)
    frame = source.fetch("BTC/USDT", parse_timeframe("1h"), start, end)
    ensure_ohlcv(frame)
    assert len(frame) == 48 and frame.index[0] == start and frame.index[-1] == T("2024-06-02 23:00")
    pd.testing.assert_frame_equal(frame, expected("BTC-USD", "1h", start, end), check_freq=False)
    meta = get_meta(frame)
    assert (meta.symbol, meta.timeframe, meta.source, meta.synthetic) == (
        "BTC/USDT",
        "1h",
        "yfinance",
        False,
    )
    assert meta.extra["ticker"] == "BTC-USD"
    assert meta.extra["quote_mapped"] == {"from": "USDT", "to": "USD"}
    assert "USD" in meta.extra["note"] and meta.extra["volume_unit"] == "quote (USD)"
    assert "built_from" not in meta.extra and "off_grid" not in meta.extra
    # yfinance really asked Yahoo's chart API for BTC-USD at 1h over that range.
    last = fake.chart_requests("BTC-USD")[-1]
    assert last["interval"] == "1h"
    assert (int(last["period1"]), int(last["period2"])) == (start.timestamp(), end.timestamp())


def test_4h_is_built_from_1h(source: YFinanceSource, fake: FakeYahoo) -> None:
    start, end = T("2024-05-30 02:00"), T("2024-06-02 00:00")
    four = source.fetch("BTC/USD", "4h", start, end)
    hourly = source.fetch("BTC/USD", "1h", T("2024-05-30 04:00"), end)
    assert fake.chart_requests("BTC-USD")[-2]["interval"] == "1h"  # 4h asked Yahoo for 1h bars
    # The 00:00 bar opens before start: excluded; bars from 04:00 on, every 4 hours.
    assert four.index[0] == T("2024-05-30 04:00") and len(four) == 17
    assert get_meta(four).extra["built_from"] == "1h"
    assert get_meta(four).timeframe == "4h"
    pd.testing.assert_frame_equal(
        four, resample_ohlcv(hourly, "4h"), check_freq=False, check_flags=False
    )
    # And an independent aggregation of the hourly bars.
    g = hourly.groupby(hourly.index.floor("4h"))
    ref = pd.DataFrame(
        {
            "open": g["open"].first(),
            "high": g["high"].max(),
            "low": g["low"].min(),
            "close": g["close"].last(),
            "volume": g["volume"].sum(),
        }
    )
    np.testing.assert_array_equal(four.to_numpy(), ref.to_numpy())
    np.testing.assert_array_equal(four.index.asi8, ref.index.asi8)


def test_30m_and_3m_are_built_and_say_so(source: YFinanceSource) -> None:
    end = T("2024-06-04 00:00")
    thirty = source.fetch("BTC/USD", "30m", T("2024-06-03 00:00"), end)
    fifteen = source.fetch("BTC/USD", "15m", T("2024-06-03 00:00"), end)
    assert get_meta(thirty).extra["built_from"] == "15m" and len(thirty) == 48
    np.testing.assert_array_equal(thirty.to_numpy(), resample_ohlcv(fifteen, "30m").to_numpy())
    three = source.fetch("ETH/BTC", "3m", T("2024-06-04 00:00"), T("2024-06-04 03:00"))
    assert get_meta(three).extra["built_from"] == "1m" and len(three) == 60


def test_stock_intraday_times_become_utc(source: YFinanceSource) -> None:
    # June: New York is on EDT (UTC-4), the session opens 09:30 local = 13:30 UTC.
    june = source.fetch("AAPL", "1h", T("2024-06-03"), T("2024-06-04"))
    assert str(june.index.tz) == "UTC"
    assert june.index[0] == T("2024-06-03 13:30") and june.index[-1] == T("2024-06-03 19:30")
    assert len(june) == 7  # 09:30 ... 15:30 local, the last one half an hour long
    pd.testing.assert_frame_equal(
        june, expected("AAPL", "1h", T("2024-06-03"), T("2024-06-04")), check_freq=False
    )
    # January: EST (UTC-5), the same local open is 14:30 UTC.
    jan = source.fetch("AAPL", "1h", T("2024-01-09"), T("2024-01-10"))
    assert jan.index[0] == T("2024-01-09 14:30")
    meta = get_meta(jan)
    assert meta.extra["exchange_timezone"] == "America/New_York"
    assert meta.extra["volume_unit"] == "base (shares)"
    assert meta.extra["off_grid"].startswith("7 of 7 1h bars open off the UTC grid")


def test_stock_daily_bars_are_labelled_by_trading_date(source: YFinanceSource) -> None:
    frame = source.fetch("AAPL", "1d", T("2024-05-27"), T("2024-06-08"))
    # Trading dates at 00:00 UTC; the weekend has no bars; Wednesday 5 June is still trading.
    assert list(frame.index) == [
        T(f"2024-{d}") for d in ("05-27", "05-28", "05-29", "05-30", "05-31", "06-03", "06-04")
    ]
    ref = expected("AAPL", "1d", T("2024-05-27"), T("2024-06-05"))
    np.testing.assert_array_equal(frame.to_numpy(), ref.to_numpy())
    assert (ref.index.hour == 13).all() and (ref.index.minute == 30).all()  # Yahoo's instants


def test_daily_bars_east_of_utc_keep_their_trading_date(source: YFinanceSource) -> None:
    # Sydney in January is UTC+11: Monday's session opens on Sunday 23:00 UTC.
    frame = source.fetch("BHP.AX", "1d", T("2024-01-08"), T("2024-01-13"))
    assert list(frame.index) == [T(f"2024-01-{d:02d}") for d in range(8, 13)]
    ref = expected("BHP.AX", "1d", T("2024-01-07"), T("2024-01-12"))
    assert ref.index[0] == T("2024-01-07 23:00")
    np.testing.assert_array_equal(frame.to_numpy(), ref.to_numpy())
    assert get_meta(frame).extra["currency"] == "AUD"
    week = source.fetch("BHP.AX", "1w", T("2024-01-08"), T("2024-01-22"))
    assert list(week.index) == [T("2024-01-08"), T("2024-01-15")]


def test_weekly_bars_open_on_monday(source: YFinanceSource) -> None:
    start, end = T("2024-01-01"), T("2024-06-10")
    week = parse_timeframe("1w")
    for symbol in ("BTC/USD", "AAPL"):
        frame = source.fetch(symbol, week, start, end)
        assert (frame.index.dayofweek == 0).all()
        np.testing.assert_array_equal(week.floor_ns(frame.index.asi8), frame.index.asi8)
        assert frame.index[-1] == T("2024-05-27")  # the week of NOW is still forming
        assert get_meta(frame).extra["yf_interval"] == "1wk"
    # Crypto trades every day: Yahoo's weeks are the Monday-aligned sums of its days.
    daily = source.fetch("BTC/USD", "1d", start, T("2024-06-03"))
    weekly = source.fetch("BTC/USD", "1w", start, T("2024-06-03"))
    np.testing.assert_allclose(
        resample_ohlcv(daily, "1w").to_numpy(), weekly.to_numpy(), rtol=1e-12
    )


def test_still_forming_bars_are_dropped(source: YFinanceSource) -> None:
    hourly = source.fetch("BTC/USD", "1h", T("2024-06-05 00:00"), T("2024-06-06"))
    assert hourly.index[-1] == T("2024-06-05 13:00")  # 14:00 bar closes at 15:00 > NOW
    four = source.fetch("BTC/USD", "4h", T("2024-06-05 00:00"), T("2024-06-06"))
    assert four.index[-1] == T("2024-06-05 08:00")  # 12:00 bar closes at 16:00 > NOW
    minute = source.fetch("BTC/USD", "1m", T("2024-06-05 14:00"), T("2024-06-05 15:00"))
    assert len(minute) == 17 and minute.index[-1] == T("2024-06-05 14:16")


def test_one_minute_history_is_fetched_in_seven_day_requests(
    source: YFinanceSource, fake: FakeYahoo
) -> None:
    before = len(fake.chart_requests("ETH-BTC"))
    start, end = T("2024-05-10"), T("2024-05-30")
    seen: list[tuple[int, int]] = []
    frame = source.fetch("ETH/BTC", "1m", start, end, progress=lambda d, t: seen.append((d, t)))
    calls = fake.chart_requests("ETH-BTC")[before:]
    spans = [int(c["period2"]) - int(c["period1"]) for c in calls]
    assert len(calls) == 3 and max(spans) <= 7 * 86400  # Yahoo refuses more than 8 days
    assert len(frame) == 20 * 1440
    assert (np.diff(frame.index.asi8) == 60 * 10**9).all()
    assert seen[-1] == (20 * 1440, 20 * 1440) and [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize(
    ("timeframe", "start", "limit"),
    [
        ("1m", "2024-05-05", "30 days"),
        ("3m", "2024-05-05", "30 days"),
        ("5m", "2024-04-01", "60 days"),
        ("30m", "2024-04-01", "60 days"),
        ("1h", "2022-06-01", "730 days"),
        ("4h", "2022-06-01", "730 days"),
    ],
)
def test_history_limits_are_checked_before_asking(
    source: YFinanceSource, fake: FakeYahoo, timeframe: str, start: str, limit: str
) -> None:
    before = len(fake.requests)
    with pytest.raises(SourceError) as err:
        source.fetch("BTC/USD", timeframe, T(start), T(start) + pd.Timedelta(days=2))
    assert f"only for the last {limit}" in err.value.message
    assert "coarser timeframe" in err.value.hint
    if timeframe in ("3m", "30m", "4h"):
        assert "built from" in err.value.message
    assert len(fake.requests) == before  # refused up front, nothing was asked


def test_daily_history_has_no_limit(source: YFinanceSource) -> None:
    frame = source.fetch("BTC/USD", "1d", T("2019-01-01"), T("2019-01-08"))
    assert len(frame) == 7


def test_empty_result_is_a_clear_error(source: YFinanceSource) -> None:
    with pytest.raises(SourceError) as err:  # a weekend: the exchange is closed
        source.fetch("AAPL", "1h", T("2024-06-01"), T("2024-06-03"))
    assert err.value.message.startswith("no data for AAPL in range")
    assert err.value.hint
    with pytest.raises(SourceError) as err:  # only the still-forming bar
        source.fetch("BTC/USD", "1h", T("2024-06-05 14:00"), T("2024-06-05 15:00"))
    assert "no data for BTC/USD" in err.value.message


def test_unknown_ticker(source: YFinanceSource) -> None:
    with pytest.raises(SourceError) as err:
        source.fetch("NOSUCH", "1d", T("2024-05-01"), T("2024-05-10"))
    assert "NOSUCH" in err.value.message and err.value.hint


def test_bad_ranges(source: YFinanceSource) -> None:
    with pytest.raises(SourceError, match="not before"):
        source.fetch("AAPL", "1d", T("2024-05-02"), T("2024-05-01"))
    with pytest.raises(SourceError, match="after now"):
        source.fetch("AAPL", "1d", T("2024-07-01"), T("2024-07-10"))


def test_network_failure_is_a_source_error(session) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from curl_cffi import requests as curl_requests
    from curl_cffi.const import CurlOpt

    dead = curl_requests.Session(
        impersonate="chrome",
        verify=False,
        curl_options={CurlOpt.PORT: port, CurlOpt.RESOLVE: [f"*:{port}:127.0.0.1"]},
    )
    try:
        with pytest.raises(SourceError) as err:
            YFinanceSource(session=dead, clock=lambda: NOW).fetch(
                "ETH/BTC", "1d", T("2024-03-01"), T("2024-03-05")
            )
        assert "could not reach Yahoo Finance" in err.value.message
        assert isinstance(err.value.__cause__, OSError)
    finally:
        yf.Ticker("BTC-USD", session=session)  # hand yfinance's shared session back


def test_auto_adjust_scales_prices_by_adj_close(session) -> None:
    start, end = T("2024-05-06"), T("2024-05-15")  # the fake's ex-dividend day is 10 May
    raw = YFinanceSource(session=session, clock=lambda: NOW).fetch("AAPL", "1d", start, end)
    adj = YFinanceSource(session=session, clock=lambda: NOW, auto_adjust=True).fetch(
        "AAPL", "1d", start, end
    )
    assert get_meta(raw).extra["adjusted"] == "splits"
    assert get_meta(adj).extra["adjusted"] == "splits+dividends"
    before = raw.index < T("2024-05-10")
    prices = ["open", "high", "low", "close"]
    np.testing.assert_allclose(
        adj.loc[before, prices], raw.loc[before, prices] * 0.9875, rtol=1e-12
    )
    np.testing.assert_array_equal(adj.loc[~before, prices], raw.loc[~before, prices])
    np.testing.assert_array_equal(adj["volume"], raw["volume"])


def test_yf_download_multiindex_output_normalises_the_same(source: YFinanceSource, session) -> None:
    start, end = T("2024-06-03"), T("2024-06-04")
    raw = yf.download(
        "AAPL",
        start=int(start.timestamp()),
        end=int(end.timestamp()),
        interval="1h",
        auto_adjust=False,
        progress=False,
        threads=False,
        session=session,
    )
    assert isinstance(raw.columns, pd.MultiIndex)
    frame = normalize_yfinance_frame(raw, ticker="AAPL", daily=False)
    ours = source.fetch("AAPL", "1h", start, end)
    pd.testing.assert_frame_equal(frame, ours, check_freq=False, check_flags=False)


def test_same_request_same_bits(session) -> None:
    a = YFinanceSource(session=session, clock=lambda: NOW).fetch(
        "AAPL", "4h", T("2024-05-20"), T("2024-06-01")
    )
    b = YFinanceSource(session=session, clock=lambda: NOW).fetch(
        "AAPL", "4h", T("2024-05-20"), T("2024-06-01")
    )
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.attrs == b.attrs
    assert "counted in the 4h bar" in get_meta(a).extra["off_grid"]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    offset_h=st.integers(min_value=0, max_value=24 * 6),
    length_h=st.integers(min_value=1, max_value=24 * 4),
    timeframe=st.sampled_from(["1h", "2h", "4h", "12h"]),
)
def test_any_window_is_a_slice_of_the_whole(
    source: YFinanceSource, offset_h: int, length_h: int, timeframe: str
) -> None:
    whole_start, whole_end = T("2024-05-20"), T("2024-05-31")
    whole = source.fetch("BTC/USD", timeframe, whole_start, whole_end)
    start = whole_start + pd.Timedelta(hours=offset_h)
    end = start + pd.Timedelta(hours=length_h)
    want = whole[(whole.index >= start) & (whole.index < end)]
    if want.empty:
        with pytest.raises(SourceError, match="no data"):
            source.fetch("BTC/USD", timeframe, start, end)
        return
    part = source.fetch("BTC/USD", timeframe, start, end)
    pd.testing.assert_frame_equal(part, want, check_freq=False, check_flags=False)
