"""The fallback chain: the first source that delivers wins, every failure is logged and recorded."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import yfinance as yf
from fakes.fake_yahoo import FakeYahoo

from tradpal.data.contract import get_meta, make_ohlcv
from tradpal.data.sources.base import OhlcvSource
from tradpal.data.sources.fallback import FallbackSource, fetch_with_fallback
from tradpal.data.sources.synthetic import SyntheticSource
from tradpal.data.sources.yfinance_source import YFinanceSource
from tradpal.errors import ConfigError, SourceError

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

NOW = pd.Timestamp("2024-06-05 14:17", tz="UTC")
START, END = pd.Timestamp("2024-06-01", tz="UTC"), pd.Timestamp("2024-06-02", tz="UTC")


class Broken:
    """A source that cannot deliver: raises ``error`` on every fetch."""

    def __init__(self, name: str, error: BaseException) -> None:
        self.name = name
        self.error = error
        self.calls = 0

    def fetch(self, symbol, timeframe, start, end, *, progress=None) -> pd.DataFrame:
        self.calls += 1
        raise self.error


class Empty:
    """A source that answers with no bars."""

    name = "empty"

    def fetch(self, symbol, timeframe, start, end, *, progress=None) -> pd.DataFrame:
        return make_ohlcv([], [], [], [], [], [])


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory):
    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yf-cache")))
    with FakeYahoo(int(NOW.timestamp()), max_lifetime_s=300) as server:
        yield server


@pytest.fixture
def yahoo(fake: FakeYahoo) -> YFinanceSource:
    return YFinanceSource(session=fake.session(), clock=lambda: NOW)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tradpal.data" and r.levelno == logging.WARNING
    ]


def test_falls_back_to_the_next_source_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    broken = Broken("ccxt:binance", SourceError("exchange down", hint="try later"))
    chain = FallbackSource([broken, SyntheticSource(seed=7)])
    assert isinstance(chain, OhlcvSource)
    assert chain.name == "fallback(ccxt:binance,synthetic)"
    with caplog.at_level(logging.WARNING, logger="tradpal.data"):
        frame = chain.fetch("BTC/USDT", "1h", START, END)
    # The frame is the synthetic source's, whole: nothing mixed in.
    direct = SyntheticSource(seed=7).fetch("BTC/USDT", "1h", START, END)
    pd.testing.assert_frame_equal(frame, direct, check_exact=True)
    meta = get_meta(frame)
    assert meta.source == "synthetic" and meta.synthetic
    assert meta.fallback == (
        "ccxt:binance failed: exchange down (hint: try later)",
        "synthetic: ok",
    )
    (message,) = warnings_of(caplog)
    assert "ccxt:binance" in message and "exchange down" in message
    assert "trying synthetic" in message


def test_first_source_delivering_means_no_fallback(caplog: pytest.LogCaptureFixture) -> None:
    second = Broken("never-asked", SourceError("unused"))
    with caplog.at_level(logging.WARNING, logger="tradpal.data"):
        frame = fetch_with_fallback([SyntheticSource(seed=1), second], "ETH/USD", "4h", START, END)
    assert get_meta(frame).fallback == () and get_meta(frame).source == "synthetic"
    assert second.calls == 0 and warnings_of(caplog) == []


def test_network_errors_and_empty_answers_fall_back(caplog: pytest.LogCaptureFixture) -> None:
    sources = [
        Broken("net", ConnectionResetError("connection reset by peer")),
        Broken("slow", TimeoutError("read timed out")),
        Empty(),
        SyntheticSource(seed=3),
    ]
    with caplog.at_level(logging.WARNING, logger="tradpal.data"):
        frame = fetch_with_fallback(sources, "BTC/USD", "1h", START, END)
    assert get_meta(frame).fallback == (
        "net failed: ConnectionResetError: connection reset by peer",
        "slow failed: TimeoutError: read timed out",
        "empty failed: returned no bars",
        "synthetic: ok",
    )
    assert len(warnings_of(caplog)) == 3


def test_all_failing_lists_every_failure(caplog: pytest.LogCaptureFixture) -> None:
    sources = [Broken("a", SourceError("first reason")), Broken("b", OSError("second reason"))]
    with caplog.at_level(logging.WARNING, logger="tradpal.data"), pytest.raises(SourceError) as err:
        fetch_with_fallback(sources, "BTC/USD", "1d", START, END)
    assert "every data source failed for BTC/USD 1d" in err.value.message
    assert "a failed: first reason" in err.value.message
    assert "b failed: OSError: second reason" in err.value.message
    assert err.value.hint
    logged = warnings_of(caplog)
    assert len(logged) == 2 and logged[-1].endswith("no source left")


def test_bugs_are_not_swallowed() -> None:
    bug = Broken("buggy", TypeError("unsupported operand"))
    after = SyntheticSource(seed=0)
    with pytest.raises(TypeError, match="unsupported operand"):
        fetch_with_fallback([bug, after], "BTC/USD", "1h", START, END)


def test_an_empty_chain_is_refused() -> None:
    with pytest.raises(ConfigError):
        FallbackSource([])
    with pytest.raises(ConfigError):
        fetch_with_fallback([], "BTC/USD", "1h", START, END)


def test_real_yahoo_failure_falls_back_to_synthetic(
    yahoo: YFinanceSource, caplog: pytest.LogCaptureFixture
) -> None:
    # One-minute bars from March are beyond Yahoo's 30 days: the real source refuses.
    start, end = pd.Timestamp("2024-03-01", tz="UTC"), pd.Timestamp("2024-03-01 01:00", tz="UTC")
    with caplog.at_level(logging.WARNING, logger="tradpal.data"):
        frame = FallbackSource([yahoo, SyntheticSource(seed=5)]).fetch("BTC/USD", "1m", start, end)
    meta = get_meta(frame)
    assert meta.source == "synthetic" and len(frame) == 60
    assert meta.fallback[0].startswith("yfinance failed: Yahoo Finance serves 1m bars for BTC/USD")
    assert meta.fallback[1] == "synthetic: ok"
    assert "only for the last 30 days" in warnings_of(caplog)[0]


def test_real_yahoo_delivers_after_a_failing_source(yahoo: YFinanceSource) -> None:
    broken = Broken("ccxt:binance", SourceError("451 restricted location"))
    frame = fetch_with_fallback([broken, yahoo], "BTC/USDT", "4h", START, END)
    direct = yahoo.fetch("BTC/USDT", "4h", START, END)
    pd.testing.assert_frame_equal(frame, direct, check_exact=True)
    meta = get_meta(frame)
    assert meta.source == "yfinance" and meta.extra["ticker"] == "BTC-USD"
    assert meta.extra["built_from"] == "1h"
    assert meta.fallback == ("ccxt:binance failed: 451 restricted location", "yfinance: ok")


class Scripted:
    """A source that answers from a script: a frame, an empty frame, or an error, per call."""

    def __init__(self, name: str, answers: list) -> None:
        self.name = name
        self.answers = list(answers)
        self.calls = 0

    def fetch(self, symbol, timeframe, start, end, *, progress=None) -> pd.DataFrame:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def test_chain_sticks_to_the_source_that_delivered() -> None:
    from tradpal.data.sources.fallback import FallbackSource
    from tradpal.data.sources.synthetic import SyntheticSource

    t = pd.Timestamp("2024-01-01", tz="UTC")
    bars = SyntheticSource(seed=1).fetch("X/USD", "1h", t, t + pd.Timedelta(hours=5))
    first = Scripted("first", [SourceError("down"), make_ohlcv([], [], [], [], [], [])])
    second = Scripted(
        "second", [bars, make_ohlcv([], [], [], [], [], []), SourceError("broke mid-download")]
    )
    chain = FallbackSource([first, second])
    got = chain.fetch("X/USD", "1h", t, t + pd.Timedelta(hours=5))
    assert got.index.equals(bars.index)
    assert get_meta(got).fallback == ("first failed: down", "second: ok")
    # an older range: the chosen source's empty answer is the answer (no switching)
    older = chain.fetch("X/USD", "1h", t - pd.Timedelta(days=9), t - pd.Timedelta(days=8))
    assert len(older) == 0 and first.calls == 1
    # the chosen source failing is raised, not papered over with another source
    with pytest.raises(SourceError, match="after delivering earlier bars"):
        chain.fetch("X/USD", "1h", t, t + pd.Timedelta(hours=5))
    assert first.calls == 1
