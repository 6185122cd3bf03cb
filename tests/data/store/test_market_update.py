"""MarketStore.update: fetch only what is missing, in chunks, resumably; local and S3."""

from __future__ import annotations

import pandas as pd
import pytest

from tradpal.data.contract import get_meta
from tradpal.data.sources.synthetic import SyntheticSource
from tradpal.errors import DataQualityError, SourceError, StoreError
from tradpal.timeframes import parse_timeframe

H = pd.Timedelta(hours=1)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_update_fetches_only_the_missing_ranges(store, wave_source) -> None:
    src = wave_source()
    first = store.update(src, "BTC/USDT", "1h", "2024-01-10", "2024-01-20")
    assert src.calls == [(ts("2024-01-10"), ts("2024-01-20"))]
    assert first.bars_written == 240 and first.range == (ts("2024-01-10"), ts("2024-01-19 23:00"))

    src.calls.clear()
    again = store.update(src, "BTC/USDT", "1h", "2024-01-12", "2024-01-18")  # all stored
    assert src.calls == [] and again.fetched == () and again.bars_written == 0

    wider = store.update(src, "BTC/USDT", "1h", "2024-01-05", "2024-01-25")
    assert src.calls == [
        (ts("2024-01-05"), ts("2024-01-10")),  # before the first stored bar
        (ts("2024-01-20"), ts("2024-01-25")),  # after the last stored bar
    ]
    assert wider.fetched == tuple(src.calls) and wider.bars_written == 240
    # The result equals one fetch of the whole range by an independent source.
    reference = wave_source().fetch("BTC/USDT", parse_timeframe("1h"), *wider.range)
    reference = pd.concat([reference, wave_source().fetch(
        "BTC/USDT", parse_timeframe("1h"), wider.range[1], wider.range[1] + H
    )])  # fmt: skip
    pd.testing.assert_frame_equal(store.read("BTC/USDT", "1h"), reference, check_exact=True)


def test_update_works_in_chunks_forward_after_and_backward_before(store, wave_source) -> None:
    src = wave_source()
    store.update(src, "ETH/USDT", "1h", "2024-02-01", "2024-02-02")
    src.calls.clear()
    store.update(src, "ETH/USDT", "1h", "2024-01-31 14:00", "2024-02-02 10:00", chunk_bars=4)
    assert src.calls == [
        (ts("2024-01-31 20:00"), ts("2024-02-01 00:00")),  # newest first going back
        (ts("2024-01-31 16:00"), ts("2024-01-31 20:00")),
        (ts("2024-01-31 14:00"), ts("2024-01-31 16:00")),
        (ts("2024-02-02 00:00"), ts("2024-02-02 04:00")),  # oldest first going forward
        (ts("2024-02-02 04:00"), ts("2024-02-02 08:00")),
        (ts("2024-02-02 08:00"), ts("2024-02-02 10:00")),
    ]
    assert store.range("ETH/USDT", "1h") == (ts("2024-01-31 14:00"), ts("2024-02-02 09:00"))


@pytest.mark.parametrize("fail_on_call", [2, 5])
def test_an_interrupted_update_resumes_from_the_last_stored_bar(
    store, wave_source, fail_on_call: int
) -> None:
    args = ("BTC/USDT", "1h", "2024-03-01", "2024-03-03")
    broken = wave_source(fail_on_call=fail_on_call)
    with pytest.raises(SourceError, match="connection reset"):
        store.update(broken, *args, chunk_bars=8)
    stored = store.range("BTC/USDT", "1h")
    assert stored == (ts("2024-03-01"), ts("2024-03-01") + (8 * (fail_on_call - 1) - 1) * H)

    resumed = wave_source()
    result = store.update(resumed, *args, chunk_bars=8)
    assert resumed.calls[0][0] == stored[1] + H  # continues after the last stored bar
    assert result.bars_written == 48 - 8 * (fail_on_call - 1)
    reference = wave_source().fetch("BTC/USDT", parse_timeframe("1h"), ts(args[2]), ts(args[3]))
    pd.testing.assert_frame_equal(store.read("BTC/USDT", "1h"), reference, check_exact=True)


def test_an_update_stopped_by_the_user_keeps_the_finished_chunks(store, wave_source) -> None:
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 25:  # reached while the third chunk is being fetched
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.update(wave_source(), "BTC/USDT", "1h", "2024-03-01", "2024-03-03",
                     chunk_bars=10, progress=progress)  # fmt: skip
    assert store.range("BTC/USDT", "1h")[1] == ts("2024-03-01") + 19 * H  # two chunks kept
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and {t for _, t in seen} == {48}
    seen.clear()
    store.update(wave_source(), "BTC/USDT", "1h", "2024-03-01", "2024-03-03",
                 progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    assert seen[-1] == (28, 28)
    assert len(store.read("BTC/USDT", "1h")) == 48


def test_going_back_stops_where_the_source_has_no_older_data(store, wave_source) -> None:
    src = wave_source(listed="2024-01-03")
    store.update(src, "NEW/USDT", "1d", "2023-01-01", "2024-02-01", chunk_bars=7)
    assert store.range("NEW/USDT", "1d") == (ts("2024-01-03"), ts("2024-01-31"))
    src.calls.clear()
    store.update(src, "NEW/USDT", "1d", "2023-01-01", "2024-02-01", chunk_bars=7)
    assert src.calls == [(ts("2023-12-27"), ts("2024-01-03"))]  # one empty chunk, then stop


def test_update_stores_closed_bars_only(store, wave_source) -> None:
    now = pd.Timestamp.now(tz="UTC")
    src = wave_source()
    result = store.update(src, "LIVE/USDT", "1h", now - 5 * H, now + 5 * H)
    open_bar = now.floor("1h")
    assert src.calls[-1][1] == open_bar  # the bar in progress is not fetched
    assert result.range[1] == open_bar - H


def test_a_rejected_chunk_stops_the_update_and_keeps_earlier_chunks(store, wave_source) -> None:
    class Spiky(wave_source):
        def fetch(self, symbol, timeframe, start, end, *, progress=None):
            frame = super().fetch(symbol, timeframe, start, end, progress=progress)
            bad = frame.index == ts("2024-03-01 22:00")  # in the third chunk of 10
            frame.loc[bad, "low"] = -1.0
            return frame

    with pytest.raises(DataQualityError, match=r"bars \[2024-03-01 20:00:00\+00:00") as err:
        store.update(Spiky(), "BTC/USDT", "1h", "2024-03-01", "2024-03-03", chunk_bars=10)
    assert "non_positive_prices" in str(err.value)
    assert store.range("BTC/USDT", "1h") == (ts("2024-03-01"), ts("2024-03-01 19:00"))
    store.update(Spiky(), "BTC/USDT", "1h", "2024-03-01", "2024-03-03", policy="repair")
    assert len(store.read("BTC/USDT", "1h")) == 47


def test_update_with_the_synthetic_source_matches_one_fetch(store) -> None:
    """The real synthetic source, wrapped to count calls: chunked updates agree bit for bit."""
    inner = SyntheticSource(seed=7)

    class Counting:
        name = inner.name
        calls = 0

        def fetch(self, *args, **kwargs):
            Counting.calls += 1
            return inner.fetch(*args, **kwargs)

    store.update(Counting(), "SYN/USD", "15m", "2024-01-01", "2024-01-04", chunk_bars=100)
    store.update(Counting(), "SYN/USD", "15m", "2023-12-30", "2024-01-06", chunk_bars=100)
    assert Counting.calls == 3 + 2 + 2
    back = store.read("SYN/USD", "15m")
    ref = SyntheticSource(seed=7).fetch("SYN/USD", "15m", ts("2023-12-30"), ts("2024-01-06"))
    assert get_meta(back).synthetic and store.datasets()[0].synthetic
    back.attrs.clear()
    ref.attrs.clear()  # the meta's regime list describes each fetch, not the whole range
    pd.testing.assert_frame_equal(back, ref, check_exact=True)


def test_update_errors_are_clear(store, wave_source) -> None:
    with pytest.raises(StoreError, match="not a data source"):
        store.update(object(), "BTC/USDT", "1h", "2024-01-01", "2024-01-02")
    with pytest.raises(StoreError, match="start"):
        store.update(wave_source(), "BTC/USDT", "1h", None, "2024-01-02")
    with pytest.raises(StoreError, match="chunk_bars"):
        store.update(wave_source(), "BTC/USDT", "1h", "2024-01-01", chunk_bars=0)

    class Wrong(wave_source):
        def fetch(self, symbol, timeframe, start, end, *, progress=None):
            return super().fetch("ETH/USDT", timeframe, start, end)

    with pytest.raises(SourceError, match="returned ETH/USDT 1h for a request of BTC/USDT"):
        store.update(Wrong(), "BTC/USDT", "1h", "2024-01-01", "2024-01-02")
    assert store.datasets() == []
