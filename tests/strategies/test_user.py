"""Strategies of your own: a Python file with @strategy, used as PATH.py:NAME or by name
from strategy_dirs, wrapped like the built-ins, and every mistake in one a StrategyError
that names the file (and line) and what to fix."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tradpal.backtest.strategy_run import backtest_strategy
from tradpal.config import load_settings
from tradpal.data.loading import load_ohlcv
from tradpal.errors import ConfigError, StrategyError, TimeframeError
from tradpal.strategies import (
    STRATEGIES,
    AtrStops,
    MtfFilter,
    Param,
    Signals,
    UserStrategy,
    check_lookahead,
    get_strategy,
    list_strategies,
    parse_reference,
    reference_of,
    strategy,
    warmup_bars,
)
from tradpal.strategies.base import WARMUP_SETTLE
from tradpal.strategies.user import dir_strategies, load_file

BREAKOUT = '''
"""A channel breakout for the tests."""
import numpy as np
from tradpal.strategies import Param, Signals, onset, strategy


def highest(values, period):
    out = np.full(len(values), np.nan)
    if len(values) > period:
        out[period:] = np.lib.stride_tricks.sliding_window_view(values[:-1], period).max(1)
    return out


@strategy(
    name="breakout",
    params=[
        Param("period", "int", 5, 200, 5, default=20, description="channel, bars"),
        Param("hold", "int", 1, 50, default=5, description="bars held, at most"),
    ],
    constraints=["hold < period"],
    timeframe_defaults={"1h": {"period": 48}, "1d": {"period": 30, "hold": 10}},
    indicators={"upper": lambda prices, p: highest(prices.high, p["period"])},
)
def breakout(prices, params, ind):
    """Long when the close breaks the channel high; out after `hold` bars."""
    with np.errstate(invalid="ignore"):
        entry = onset(prices.close > ind["upper"])
    out = np.zeros(len(prices), bool)
    out[params["hold"]:] = entry[: len(entry) - params["hold"]]
    no = np.zeros(len(prices), bool)
    return Signals(entry, out, no, no.copy()), {"mid": ind["upper"] * 0.99}
'''


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_strategy_dirs(monkeypatch):
    monkeypatch.delenv("TRADPAL_STRATEGY_DIRS", raising=False)


@pytest.fixture
def good(tmp_path) -> Path:
    return write(tmp_path, "breakout.py", BREAKOUT)


@pytest.fixture(scope="module")
def sample():
    return load_ohlcv("sample", timeframe="1h")


def test_a_good_file_loads_and_runs_like_a_built_in(good, sample):
    s = get_strategy(f"{good}:breakout")
    assert isinstance(s, UserStrategy) and s.name == "breakout"
    assert s.description == "Long when the close breaks the channel high; out after `hold` bars."
    assert s.source_file == good.resolve() and s.reference == f"{good.resolve()}:breakout"
    assert get_strategy(str(good)) is s  # the file's only strategy: PATH.py alone works
    # per-timeframe defaults: own row, nearest at or below, the params' own below all
    assert s.defaults_for("1h") == {"period": 48, "hold": 5}
    assert s.defaults_for("4h") == {"period": 48, "hold": 5}
    assert s.defaults_for("1w") == {"period": 30, "hold": 10}
    assert s.defaults_for("15m") == {"period": 20, "hold": 5}
    run = backtest_strategy(sample, f"{good}:breakout", {"hold": 3})
    assert run.params == {"period": 48, "hold": 3}
    assert run.result.meta["strategy"] == "breakout" and len(run.result.trades) > 10
    assert set(run.indicators) == {"upper", "mid"} and len(run.indicators["mid"]) == len(sample)
    sig = run.signals
    np.testing.assert_array_equal(sig.long_exit[3:], sig.long_entry[:-3])
    # pure: the same frame gives the same signals, and the frame is untouched
    before = sample.copy()
    assert s.generate(sample, {}).equals(s.generate(sample.copy(), {}))
    assert sample.equals(before)


def test_the_decorator_works_outside_a_file_too():
    @strategy
    def plain(prices, params):
        z = np.zeros(len(prices), bool)
        return Signals(z, z, z, z)

    assert isinstance(plain, UserStrategy) and plain.name == "plain"
    frame = load_ohlcv("sample", timeframe="1h").iloc[:50]
    assert len(plain.generate(frame)) == 50
    assert plain.warmup_bars("1h") == 0  # no integer params


def test_composition_with_a_higher_timeframe_and_atr_stops(good, sample):
    ref = f"{good}:breakout@4h+atr"
    s = get_strategy(ref)
    assert isinstance(s, AtrStops) and isinstance(s.inner, MtfFilter)
    assert s.inner.higher_timeframe.name == "4h" and isinstance(s.inner.inner, UserStrategy)
    assert s.name == "breakout@4h+atr" and {"period", "hold", "sl_atr"} <= set(s.space.names)
    assert s.reference == f"{good.resolve()}:breakout@4h+atr"
    again = get_strategy(s.reference)  # the reference rebuilds the same strategy
    assert again.generate(sample, {}).equals(s.generate(sample, {}))
    sig = s.generate(sample, {})
    assert np.isfinite(sig.stop_price[sig.long_entry]).any()
    report = check_lookahead(s, sample)
    assert report.ok and not report.capped and report.signal_cuts > 10, report.summary()


def test_strategies_in_strategy_dirs_are_usable_by_name(good, tmp_path, monkeypatch, sample):
    other = tmp_path / "more"
    other.mkdir()
    write(other, "_helpers.py", "raise RuntimeError('helpers are not scanned')\n")
    write(other, "two.py", BREAKOUT.replace('name="breakout"', 'name="second"'))
    assert set(dir_strategies([good.parent, other])) == {"breakout", "second"}
    assert get_strategy("second@1d", dirs=[other]).inner.name == "second"
    with pytest.raises(StrategyError, match="unknown strategy 'second'") as err:
        get_strategy("second", dirs=[good.parent])
    assert "yours (strategy_dirs): breakout" in err.value.hint
    # the setting: os.pathsep-separated or a JSON list, relative to the current directory
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADPAL_STRATEGY_DIRS", f".{os.pathsep}more")
    assert load_settings().strategy_dirs == [str(tmp_path.resolve()), str(other.resolve())]
    assert get_strategy("breakout@4h").inner.source_file == good.resolve()
    assert set(list_strategies()) == {*STRATEGIES, "breakout", "second"}
    monkeypatch.setenv("TRADPAL_STRATEGY_DIRS", json.dumps([str(other)]))
    assert get_strategy("second").name == "second"
    # the stream's strategies are checked against the folders too
    monkeypatch.setenv("TRADPAL_SIGNAL_STRATEGIES", '["second@4h", "ema_crossover"]')
    assert load_settings().signal_strategies == ["second@4h", "ema_crossover"]
    monkeypatch.setenv("TRADPAL_SIGNAL_STRATEGIES", '["breakout"]')
    with pytest.raises(ConfigError, match="unknown strategy 'breakout'"):
        load_settings()


def test_strategy_dirs_in_the_settings_file_are_relative_to_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "conf" / "strats"
    folder.mkdir(parents=True)
    write(folder, "b.py", BREAKOUT)
    config = write(tmp_path / "conf", "tradpal.toml", 'strategy_dirs = ["strats"]\n')
    monkeypatch.setenv("TRADPAL_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    assert load_settings().strategy_dirs == [str(folder.resolve())]
    assert get_strategy("breakout").source_file == (folder / "b.py").resolve()
    monkeypatch.setenv("TRADPAL_STRATEGY_DIRS", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="missing is not a directory"):
        load_settings()


def test_a_name_in_two_files_or_a_built_in_name_is_refused_naming_both(good, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    twin = write(other, "twin.py", BREAKOUT)
    with pytest.raises(StrategyError) as err:
        dir_strategies([good.parent, other])
    assert str(good.resolve()) in err.value.message and str(twin.resolve()) in err.value.message
    assert "two strategy files declare 'breakout'" in err.value.message
    clash = write(tmp_path / "other", "clash.py", BREAKOUT.replace("breakout", "ema_crossover"))
    with pytest.raises(StrategyError) as err:
        load_file(clash)
    assert str(clash.resolve()) in err.value.message and "trend.py" in err.value.message
    assert "taken by the built-in strategy" in err.value.message


def test_a_file_that_changes_is_loaded_again(good, sample):
    first = get_strategy(f"{good}:breakout")
    assert get_strategy(f"{good}:breakout") is first  # kept while the file is unchanged
    good.write_text(BREAKOUT.replace('"1h": {"period": 48}', '"1h": {"period": 60}'))
    os.utime(good, ns=(1, 1))  # a new stamp even within the file system's time resolution
    assert get_strategy(f"{good}:breakout").defaults_for("1h")["period"] == 60


class At(str):
    """The text ``line N`` of the line of the written file that holds this snippet."""

    def line_in(self, text: str) -> str:
        lines = textwrap.dedent(text).lstrip().splitlines()
        return f"line {next(i for i, t in enumerate(lines, 1) if str(self) in t)}"


BAD = {
    "syntax": (
        "from tradpal.strategies import strategy\n\n@strategy\ndef x(prices, params)\n"
        "    return 1\n",
        "x",
        ["line 4", "SyntaxError", "def x(prices, params)"],
    ),
    "import": (
        "import numpy as np\nimport no_such_module_tradpal\n",
        "x",
        ["line 2", "No module named 'no_such_module_tradpal'"],
    ),
    "nothing": ("x = 1\n", "x", ["declares no strategy", "@strategy"]),
    "raises": (
        BREAKOUT.replace("    no = np.zeros(len(prices), bool)\n", '    no = {}["boom"]\n'),
        "breakout",
        [At('{}["boom"]'), "(strategy 'breakout')", "KeyError: 'boom'", 'no = {}["boom"]'],
    ),
    "short": (
        BREAKOUT.replace(
            "return Signals(entry, out, no, no.copy())",
            "return Signals(entry[1:], out[1:], no[1:], no[1:])",
        ),
        "breakout",
        ["(strategy 'breakout')", "signals for", "bars"],
    ),
    "floats": (
        BREAKOUT.replace(
            "return Signals(entry, out, no, no.copy())",
            "return Signals(entry * 0.5, out, no, no.copy())",
        ),
        "breakout",
        [At("entry * 0.5"), "long_entry holds values other than True/False"],
    ),
    "none": (
        BREAKOUT.replace(
            '    return Signals(entry, out, no, no.copy()), {"mid": ind["upper"] * 0.99}\n',
            "    pass\n",
        ),
        "breakout",
        ["returned None (is a return statement missing?)"],
    ),
    "frame": (
        BREAKOUT.replace("    return Signals(", "    return prices.frame, Signals("),
        "breakout",
        ["returned a tuple, not Signals"],
    ),
    "line": (
        BREAKOUT.replace('{"mid": ind["upper"] * 0.99}', '{"mid": ind["upper"][:-1]}'),
        "breakout",
        ["indicator line 'mid'", "not one value per bar"],
    ),
    "writes": (
        BREAKOUT.replace("    with np.errstate", "    prices.close[0] = 0\n    with np.errstate"),
        "breakout",
        ["assignment destination is read-only", "prices.close[0] = 0"],
    ),
    "param": (
        BREAKOUT.replace('default=20, description="channel', 'default=500, description="ch'),
        "breakout",
        [At("default=500"), "param 'period' is 500, outside its range 5 to 200"],
    ),
    "table": (
        BREAKOUT.replace('"1d": {"period": 30, "hold": 10}', '"1d": {"period": 30, "hold": 40}'),
        "breakout",
        ["timeframe_defaults['1d']", "break the constraint 'hold < period'"],
    ),
    "arity": (
        BREAKOUT.replace("def breakout(prices, params, ind):", "def breakout(prices, params):"),
        "breakout",
        ["takes (prices, params), not (prices, params, ind)"],
    ),
    "twice": (
        BREAKOUT
        + BREAKOUT.split("@strategy(")[0].split("def highest")[0]
        + "@strategy(name='breakout')\ndef again(prices, params):\n    pass\n",
        "breakout",
        ["declares the strategy 'breakout' twice"],
    ),
    "missing name": (BREAKOUT, "brekout", ["declares no strategy 'brekout'", "breakout"]),
    "top level": ("import sys\nsys.exit(3)\n", "x", ["line 2", "SystemExit"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_mistake_is_a_clear_error_naming_the_file(case, tmp_path, sample):
    text, name, wanted = BAD[case]
    path = write(tmp_path, f"bad_{case.replace(' ', '_')}.py", text)
    with pytest.raises(StrategyError) as err:
        s = get_strategy(f"{path}:{name}")
        backtest_strategy(sample, s, {})
    message = err.value.message
    assert str(path.resolve()) in message, message
    for part in wanted:
        part = part.line_in(text) if isinstance(part, At) else part
        assert part in message + err.value.hint, f"{part!r} not in {message!r}"
    assert err.value.hint and "Traceback" not in message + err.value.hint
    assert err.value.__suppress_context__ or err.value.__cause__ is None


def test_params_outside_the_space_name_the_strategy_and_its_file(good, sample):
    with pytest.raises(StrategyError) as err:
        backtest_strategy(sample, f"{good}:breakout", {"period": 999})
    assert err.value.message.startswith(f"breakout ({good.resolve()}): param 'period' is 999")
    assert err.value.hint == "give a value from 5 to 200"
    with pytest.raises(StrategyError, match=r"breakout@4h .*unknown param"):
        backtest_strategy(sample, f"{good}:breakout@4h", {"speed": 3})
    with pytest.raises(StrategyError, match="break the constraint 'hold < period'"):
        backtest_strategy(sample, f"{good}:breakout", {"period": 5, "hold": 9})


def test_a_missing_file_and_a_refused_path(tmp_path):
    with pytest.raises(StrategyError, match="no strategy file") as err:
        get_strategy(str(tmp_path / "nope.py:x"))
    assert "tradpal strategy new" in err.value.hint
    with pytest.raises(StrategyError, match="strategy files are not accepted here"):
        get_strategy(str(tmp_path / "nope.py:x"), allow_paths=False)


def test_a_user_strategy_that_peeks_is_caught(tmp_path, sample):
    peek = BREAKOUT.replace(
        'entry = onset(prices.close > ind["upper"])',
        'entry = onset(np.r_[prices.close[1:], prices.close[-1]] > ind["upper"])',
    )
    path = write(tmp_path, "peek.py", peek)
    report = check_lookahead(get_strategy(f"{path}:breakout"), sample)
    assert not report.ok and "long_entry" in {c.field for c in report.changed}


def test_references_are_parsed_in_one_place():
    ref = parse_reference(" ./my strats/b.py:breakout@4h+atr ")
    assert str(ref.path) == "my strats/b.py" and ref.name == "breakout"
    assert [str(w) for w in ref.wrappers] == ["@4h", "+atr"]
    assert str(ref) == "my strats/b.py:breakout@4h+atr"
    assert parse_reference("regime+atr@1d").wrappers[1].timeframe.name == "1d"
    assert parse_reference("/a@b/c.py").name is None  # a path may hold an @
    for bad, message in [
        ("", "empty"),
        ("my strat", "not a strategy name"),
        ("ema_crossover+stops", r"unknown wrapper '\+stops'"),
        ("ema_crossover@", "without a timeframe"),
        ("b.py:", "no strategy after the ':'"),
        (7, "named by text"),
    ]:
        with pytest.raises(StrategyError, match=message):
            parse_reference(bad)
    with pytest.raises(TimeframeError, match="unknown timeframe"):
        parse_reference("regime@soon")


def test_warmup_bars_from_the_longest_period(good):
    assert warmup_bars(STRATEGIES["ema_crossover"], "1h") == WARMUP_SETTLE * 50
    assert STRATEGIES["ema_crossover"].warmup_bars("1d") == WARMUP_SETTLE * 200
    assert STRATEGIES["ema_crossover"].warmup_bars("1h", {"slow": 100}) == WARMUP_SETTLE * 100
    # the filter's EMA50 runs on 1d bars, 24 of the 1h bars each
    assert get_strategy("rsi_reversal@1d").warmup_bars("1h") == WARMUP_SETTLE * 50 * 24
    assert get_strategy("rsi_reversal+atr").warmup_bars("1h") == WARMUP_SETTLE * 14
    assert get_strategy(f"{good}:breakout").warmup_bars("1h") == WARMUP_SETTLE * 48
    assert get_strategy(f"{good}:breakout").warmup_bars("1d") == WARMUP_SETTLE * 30

    @strategy(params=[Param("n", "int", 1, 9, default=3)], warmup=lambda p: 7 * p["n"])
    def own(prices, params):
        z = np.zeros(len(prices), bool)
        return Signals(z, z, z, z)

    assert own.warmup_bars("1h") == 21 and own.warmup_bars("1h", {"n": 9}) == 63
    assert reference_of(own) == f"{Path(__file__).resolve()}:own"  # declared in this file
    assert reference_of(STRATEGIES["regime"]) == "regime"
    with pytest.raises(StrategyError, match="warmup -1"):
        strategy(warmup=-1)(own.rule.func)


def test_the_readme_example_works_as_a_file(tmp_path, sample):
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Your own strategies", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    path = write(tmp_path, "my.py", code)
    s = get_strategy(f"{path}:trend_dip")
    assert s.defaults_for("1h")["trend"] == 200
    run = backtest_strategy(sample, s)
    assert len(run.result.trades) > 5 and set(run.indicators) == {"ema", "rsi"}
    assert check_lookahead(get_strategy(f"{path}:trend_dip@4h+atr"), sample).ok
