"""The look-ahead check: every built-in strategy passes it on real and synthetic data,
and deliberately peeking strategies are caught with the right bars reported, with the
default settings too (copies ending at every signal change)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tradpal.data.importers import import_binance_klines
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.strategies import (
    STRATEGIES,
    DeclaredStrategy,
    ParamSpace,
    Signals,
    StrategyError,
    check_lookahead,
    get_strategy,
    lines,
)
from tradpal.strategies.lookahead import signal_changes, signal_cut_ends

WRAPPED = ("confluence@4h", "regime@1d", "rsi_reversal+atr", "ema_crossover@4h+atr")
ALL = (*STRATEGIES, *WRAPPED)


@pytest.fixture(scope="module")
def btc(shared_data) -> pd.DataFrame:
    frame, _report = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    return frame


@pytest.mark.parametrize("name", ALL)
def test_builtins_pass_on_real_btc_data_with_the_defaults(btc, name):
    strat = get_strategy(name)
    report = check_lookahead(strat, btc, {})
    assert report.ok, report.summary()
    # every signal change of the full run was the last bar of a copy: the guarantee holds
    assert not report.capped and report.signal_cuts == report.signal_changes > 100
    assert len(report.truncations) >= report.signal_cuts and report.bars == len(btc)
    assert f"(of {report.signal_changes}: all)" in report.summary()
    sig = strat.generate(btc, {})
    assert sig.long_entry.sum() + sig.short_entry.sum() > 10  # the check saw real signals


@pytest.mark.parametrize("name", ALL)
def test_builtins_pass_on_synthetic_data(name):
    frame = generate_ohlcv(4000, "15m", seed=21)
    strat = get_strategy(name)
    for params in ({}, strat.space.sample(1, seed=sum(map(ord, name)))[0]):
        report = check_lookahead(strat, frame, params, checkpoints=15, min_bars=100)
        assert report.ok, report.summary()
        assert not report.capped and report.signal_cuts > 0
        assert "OK: no signal changed" in report.summary()


def peeking(rule_name: str, rule) -> DeclaredStrategy:
    return DeclaredStrategy(rule_name, "peeks at the future", ParamSpace(), rule)


def next_close_rule(px, p):
    nxt = pd.Series(px.close).shift(-1).to_numpy()  # the next bar's close: look-ahead
    with np.errstate(invalid="ignore"):
        up = nxt > px.close
    z = np.zeros(len(up), bool)
    return Signals(up, z, z.copy(), z.copy()), {}


def test_a_next_close_peek_is_caught_on_exactly_the_right_bars():
    frame = generate_ohlcv(400, "1h", seed=2)
    strat = peeking("next_close", next_close_rule)
    ends = list(range(100, 160))
    report = check_lookahead(strat, frame, {}, ends=ends)
    full = strat.generate(frame, {}).long_entry
    # a copy of e bars cannot see bar e, so its last bar loses the entry the full run has
    want = [(frame.index[e - 1], frame.index[e - 1], "long_entry") for e in ends if full[e - 1]]
    assert not report.ok and len(want) > 10
    assert [tuple(c) for c in report.changed] == want
    assert report.n_changed == len(want)
    assert report.changed_bars() == [w[0] for w in want]
    text = report.summary()
    assert "LOOK-AHEAD" in text and f"bar {want[0][0]}: long_entry" in text
    d = json.loads(json.dumps(report.to_dict()))
    assert d["ok"] is False and d["n_changed"] == len(want)
    assert d["changed"][0] == {
        "time": want[0][0].isoformat(),
        "truncation_end": want[0][1].isoformat(),
        "field": "long_entry",
    }


def test_a_centred_window_peek_is_caught_bars_before_the_end():
    def rule(px, p):
        smooth = pd.Series(px.close).rolling(9, center=True).mean().to_numpy()
        with np.errstate(invalid="ignore"):
            up = px.close > smooth
        z = np.zeros(len(up), bool)
        return Signals(up, ~up, z.copy(), z.copy(), stop_price=smooth), {}

    frame = generate_ohlcv(500, "1h", seed=3)
    report = check_lookahead(peeking("centred", rule), frame, {}, checkpoints=10, at_signals=False)
    assert not report.ok and report.signal_cuts == report.signal_changes == 0
    fields = {c.field for c in report.changed}
    assert fields == {"long_entry", "long_exit", "stop_price"}
    # the centred window reaches 4 bars ahead: the last 4 bars of each copy change
    ends = sorted({c.truncation_end for c in report.changed})
    assert len(ends) == 10
    for end in ends:
        stops = [
            c.time for c in report.changed if c.truncation_end == end and c.field == "stop_price"
        ]
        pos = frame.index.get_loc(end)
        if pos + 4 >= len(frame):  # the full run's own last 4 bars are NaN too
            continue
        assert stops == list(frame.index[pos - 3 : pos + 1])


def test_a_peek_into_the_next_bar_only_for_the_stop_price_is_caught():
    def rule(px, p):
        n = len(px.close)
        z = np.zeros(n, bool)
        nxt = np.r_[px.low[1:], np.nan]
        return Signals(z, z.copy(), z.copy(), z.copy(), stop_price=nxt), {}

    frame = generate_ohlcv(200, "1h", seed=4)
    report = check_lookahead(peeking("peek_stop", rule), frame, {}, ends=[50, 120])
    assert [(c.time, c.field) for c in report.changed] == [
        (frame.index[49], "stop_price"),
        (frame.index[119], "stop_price"),
    ]


def test_changes_are_capped_but_counted():
    def rule(px, p):  # scales by the whole series' mean: every bar changes
        up = px.close > px.close.mean()
        z = np.zeros(len(up), bool)
        return Signals(up, z, z.copy(), z.copy(), confidence=np.full(len(up), up.mean())), {}

    frame = generate_ohlcv(300, "1h", seed=5)
    report = check_lookahead(peeking("global", rule), frame, {}, max_changes=7)
    assert len(report.changed) == 7 and report.n_changed > 300
    assert "more" in report.summary()


def test_truncation_lengths_and_bad_arguments():
    frame = generate_ohlcv(100, "1h", seed=6)
    strat = STRATEGIES["ema_crossover"]
    report = check_lookahead(
        strat, frame, {"fast": 2, "slow": 5}, checkpoints=5, min_bars=20, at_signals=False
    )
    assert report.truncations == tuple(frame.index[[19, 39, 59, 78, 98]])
    assert report.params == {"fast": 2, "slow": 5}
    with pytest.raises(StrategyError, match=r"must lie in 1\.\.99"):
        check_lookahead(strat, frame, {}, ends=[100])
    with pytest.raises(StrategyError, match="at least 2 bars"):
        check_lookahead(strat, frame.iloc[:1], {})
    with pytest.raises(StrategyError, match="checkpoints"):
        check_lookahead(strat, frame, {}, checkpoints=0)
    with pytest.raises(StrategyError, match="max_signal_cuts -1 is not an integer >= 0"):
        check_lookahead(strat, frame, {}, max_signal_cuts=-1)
    with pytest.raises(StrategyError, match="unknown param"):
        check_lookahead(strat, frame, {"speed": 3})


def test_params_are_resolved_once_on_the_full_frame():
    # a 1d frame: the table's 50/200 apply to every copy, even ones too short to tell
    # their timeframe by bar spacing
    frame = generate_ohlcv(600, "1d", seed=7)
    report = check_lookahead(STRATEGIES["ema_crossover"], frame, {}, ends=[1, 2, 300])
    assert report.ok and report.params == {"fast": 50, "slow": 200}


class FormingBar:
    """Reads the 4h bar that contains each 1h bar: its close is still in the future."""

    name, description, space = "forming", "peeks at the forming 4h bar", ParamSpace()

    def defaults_for(self, timeframe):
        return {}

    def generate(self, frame, params=None):
        from tradpal.data.resample import resample_ohlcv

        htf = resample_ohlcv(frame, "4h")
        pos = np.searchsorted(htf.index.asi8, frame.index.asi8, side="right") - 1
        up = htf["close"].to_numpy()[pos] > frame["open"].to_numpy()
        z = np.zeros(len(frame), bool)
        return Signals(up, z, z.copy(), z.copy())


def test_a_higher_timeframe_bar_used_before_it_closes_is_caught():
    frame = generate_ohlcv(800, "1h", seed=8)
    report = check_lookahead(FormingBar(), frame, {})
    assert not report.ok
    # only bars of a 4h bar that the copy cut short can change, never the bar closing it
    assert all(c.truncation_end.hour % 4 != 3 for c in report.changed)
    assert all(c.time.floor("4h") == c.truncation_end.floor("4h") for c in report.changed)


# --- peeks of one bar or more, caught with the default settings ---------------------------


def early_cross(k: int) -> DeclaredStrategy:
    """The EMA 10/30 cross entered ``k`` bars early: the lines are built from the close
    ``k`` bars ahead (``close.shift(-k)``, the last ``k`` bars filled with the last close,
    as a user would to keep the EMA free of NaN)."""

    def rule(px, p):
        close = px.close
        ahead = pd.Series(close).shift(-k).fillna(close[-1]).to_numpy()
        fast, slow = lines.ema(ahead, 10), lines.ema(ahead, 30)
        with np.errstate(invalid="ignore"):
            up = (fast > slow) & np.r_[False, fast[:-1] <= slow[:-1]]
            down = (fast < slow) & np.r_[False, fast[:-1] >= slow[:-1]]
        return Signals(up, down, down.copy(), up.copy()), {}

    return DeclaredStrategy(f"early_cross_{k}", f"EMA 10/30 cross, {k} bar(s) early",
                            ParamSpace(), rule)  # fmt: skip


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    from tradpal.data.loading import load_ohlcv

    return load_ohlcv("sample", timeframe="1h")


@pytest.mark.parametrize("k", [1, 2, 5])
def test_a_peek_of_k_bars_is_caught_with_the_defaults_on_btc_and_the_sample(btc, sample, k):
    strat = early_cross(k)
    for frame in (btc, sample):
        report = check_lookahead(strat, frame)
        assert not report.ok, report.summary()
        assert not report.capped
        # the peek shows only in the last k bars of a copy, and there at the full run's
        # own entries: the copy ending at an entry bar lacks the close that made it
        pos = frame.index.get_indexer([c.time for c in report.changed])
        ends = frame.index.get_indexer([c.truncation_end for c in report.changed])
        assert ((ends - pos >= 0) & (ends - pos < k)).all()
        entries = set(frame.index[strat.generate(frame).long_entry])
        lost = {c.time for c in report.changed if c.field == "long_entry"} & entries
        assert len(lost) >= 10


def test_a_one_bar_peek_hides_between_evenly_spread_cuts(btc):
    # what the check missed before: with cuts at 10 or 20 even points only, no cut lands
    # on a signal bar, and a one-bar peek changes only the last bar of a copy
    strat = early_cross(1)
    for checkpoints in (10, 20):
        assert check_lookahead(strat, btc, checkpoints=checkpoints, at_signals=False).ok
    assert not check_lookahead(strat, btc, checkpoints=checkpoints).ok
    # and the peek pays: the early cross beats the honest one by far
    from tradpal.backtest.strategy_run import backtest_strategy

    honest = backtest_strategy(btc, "ema_crossover", {"fast": 10, "slow": 30}).result
    early = backtest_strategy(btc, strat).result
    assert early.metrics.final_equity > 3 * honest.metrics.final_equity


def test_signal_changes_split_starts_from_other_changes():
    z = np.zeros(8, bool)
    le = z.copy()
    le[[0, 3, 4]] = True  # a run at 3-4
    lx = z.copy()
    lx[6] = True
    stop = np.full(8, np.nan)
    stop[[3, 4]] = [10.0, 11.0]  # appears at 3, changes at 4, ends at 5
    starts, others = signal_changes(Signals(le, lx, z.copy(), z.copy(), stop_price=stop))
    assert starts.tolist() == [0, 3, 4, 6]
    assert others.tolist() == [1, 5, 7]


def test_signal_cuts_are_capped_starts_first_and_deterministically():
    n = 1000
    le = np.zeros(n, bool)
    le[::10] = True  # 100 entries at 0, 10, ...; each ends on the next bar: 200 changes
    le[n - 1] = True  # the last bar: no later data, so no copy ends there
    z = np.zeros(n, bool)
    sig = Signals(le, z, z.copy(), z.copy())
    ends, total = signal_cut_ends(sig)
    assert total == 200 and len(ends) == 200 and n not in ends
    assert ends[:4] == [1, 2, 11, 12] and ends[-1] == 992
    capped, total = signal_cut_ends(sig, cap=50)
    assert total == 200 and len(capped) == 50
    assert set(capped) <= {t + 1 for t in range(0, n - 1, 10)}  # entries only
    assert capped[0] == 1 and capped[-1] == 991 and capped == signal_cut_ends(sig, cap=50)[0]
    more, _ = signal_cut_ends(sig, cap=150)  # all 100 entries, then 50 of the exits
    assert len(more) == 150 and {t + 1 for t in range(0, n - 1, 10)} <= set(more)


def test_a_capped_check_says_so():
    def rule(px, p):  # a confidence that moves every bar: a change at each bar
        n = len(px.close)
        z = np.zeros(n, bool)
        conf = (np.arange(n) % 7) / 7.0  # causal: it depends on the bar number only
        return Signals(z, z.copy(), z.copy(), z.copy(), confidence=conf), {}

    frame = generate_ohlcv(300, "1h", seed=9)
    report = check_lookahead(peeking("moving", rule), frame, max_signal_cuts=40)
    assert report.ok and report.capped and report.signal_cuts == 40
    assert report.signal_changes == 299
    assert "capped" in report.summary() and report.to_dict()["capped"] is True


@pytest.mark.parametrize("name", ALL)
def test_the_default_check_does_a_bounded_number_of_copies(name):
    # 10,000 bars, the default settings: about 0.1 to 2 s per strategy on one core (README).
    # Its cost is the copies it runs; their number is bounded, not its time (a timed bound
    # failed on a loaded machine, and timing belongs to benchmarks/).
    frame = generate_ohlcv(10_000, "1h", seed=1)
    report = check_lookahead(get_strategy(name), frame)
    assert report.ok and not report.capped
    assert len(report.truncations) <= 2 * report.signal_changes + 20 + 1, name
