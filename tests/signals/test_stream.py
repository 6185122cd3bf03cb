"""The trading signals of new candles, without AWS: only position changes on the new bars,
none for bars that arrived long after they closed, ids stable; a batch's candles de-duplicated
and the ones failing the quality rules set aside."""

from __future__ import annotations

import pytest

from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.errors import DataQualityError
from tradpal.events.schemas import CandleRecord
from tradpal.signals.compute import compute_signals
from tradpal.signals.stream import StreamedCandle, batch_frame, trading_signals
from tradpal.strategies import get_strategy
from tradpal.timeframes import parse_timeframe

HOUR = parse_timeframe("1h")
FRAME = generate_ohlcv(600, "1h", seed=3, symbol="BTC/USDT")


def records(frame, *, arrived_after_close_s: float = 60.0) -> list[StreamedCandle]:
    out = []
    for i, (t, row) in enumerate(frame.iterrows()):
        candle = CandleRecord(symbol="BTC/USDT", timeframe="1h", time=t.isoformat(),
                              source="test", **{k: float(row[k]) for k in row.index})  # fmt: skip
        closed = t.timestamp() + HOUR.seconds
        out.append(StreamedCandle(str(i), candle, closed + arrived_after_close_s))
    return out


def test_only_changes_on_the_new_bars_are_signals():
    strategy = get_strategy("ema_crossover")
    arrived = FRAME.index.asi8[400:] / 1e9 + HOUR.seconds + 60
    details, stale = trading_signals(FRAME, 400, arrived, [strategy], symbol="BTC/USDT",
                                     timeframe=HOUR, max_age_bars=3)  # fmt: skip
    run = compute_signals(FRAME, strategy)
    want = [FRAME.index[t].isoformat() for t in run.changes if t >= 400]
    assert [d["time"] for d in details] == want and want and stale == 0
    assert {d["strategy"] for d in details} == {"ema_crossover"}
    assert len({d["signal_id"] for d in details}) == len(details)


def test_bars_that_arrived_long_after_closing_are_history_not_news():
    strategy = get_strategy("ema_crossover")
    late = FRAME.index.asi8[400:] / 1e9 + HOUR.seconds + 4 * HOUR.seconds  # 4 bars late
    details, stale = trading_signals(FRAME, 400, late, [strategy], symbol="BTC/USDT",
                                     timeframe=HOUR, max_age_bars=3)  # fmt: skip
    assert details == [] and stale > 0
    every, none_stale = trading_signals(FRAME, 400, late, [strategy], symbol="BTC/USDT",
                                        timeframe=HOUR, max_age_bars=0)  # fmt: skip
    assert len(every) == stale and none_stale == 0  # 0: everything is news


def test_a_batch_keeps_one_candle_per_bar_and_sets_bad_ones_aside():
    recs = records(FRAME.iloc[:10])
    newer = recs[3].candle.model_copy(update={"close": recs[3].candle.close * 1.001})
    recs.append(StreamedCandle("dup", newer, recs[3].arrived + 1))  # a re-sent bar: it wins
    bad = recs[5].candle.model_copy(update={"high": recs[5].candle.low / 2})  # high < low
    recs[5] = StreamedCandle("bad", bad, recs[5].arrived)
    batch = batch_frame("BTC/USDT", HOUR, recs)
    assert len(batch.frame) == 9 and set(batch.failed) == {"bad"}
    assert batch.frame["close"].iloc[3] == newer.close
    assert len(batch.arrived) == 9 and batch.arrived[3] == recs[3].arrived + 1  # the copy's
    assert isinstance(batch.failed["bad"], DataQualityError)


def test_a_rule_that_cannot_name_its_rows_refuses_the_whole_batch():
    recs = records(FRAME.iloc[:60])
    flat = [StreamedCandle(r.seq, r.candle.model_copy(update={"volume": 0.0}), r.arrived)
            for r in recs]  # fmt: skip
    try:
        batch = batch_frame("BTC/USDT", HOUR, flat)
    except DataQualityError as exc:
        assert "new candles fail" in exc.message
    else:  # a warning only, here: every candle kept
        assert len(batch.frame) == 60 and not batch.failed
    with pytest.raises(ValueError):
        batch_frame("BTC/USDT", HOUR, [])
