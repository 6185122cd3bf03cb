"""The template ``tradpal strategy new NAME`` writes: a commented, working strategy.

:func:`write_template` writes ``NAME.py``, a Donchian channel breakout that shows
every part of a strategy of your own (:mod:`tradpal.strategies.user`): params with
ranges, a constraint, per-timeframe defaults, declared indicator lines, and a pure,
vectorised rule without look-ahead. It backtests as written.
"""

from __future__ import annotations

import keyword
from pathlib import Path

from tradpal.errors import StrategyError
from tradpal.strategies.reference import NAME_PATTERN

TEMPLATE = '''"""{name}: a strategy of your own for TradPal (written by `tradpal strategy new`).

A Donchian channel breakout, to edit into your own idea: go long when the close
breaks above the highest high of the last `entry` bars, short when it breaks below
the lowest low; close a long when the close falls below the lowest low of the last
`exit` bars (a short on the mirror). The channels exclude the current bar, so a
close can break out of them, and every value at bar t uses bars up to t only.

Try it: a backtest; one with a 4h trend filter and ATR stops; the proof that it
never peeks ahead; a search of its params:
    tradpal backtest --strategy {path}:{name}
    tradpal backtest --strategy {path}:{name}@4h+atr
    tradpal check lookahead {path}:{name}
    tradpal discover --strategy {path}:{name} --population 20 --generations 5
With its folder in the strategy_dirs setting (TRADPAL_STRATEGY_DIRS), `{name}` alone
works too, in every command and over the API.
"""

from __future__ import annotations

import numpy as np

# Param: one tunable parameter; Signals: what the function returns; strategy: the
# decorator; onset: True on the first bar of each run of True. tradpal.strategies
# has crossed_above, crossed_below and prev too, and `lines` (EMA, SMA, RSI, ATR,
# Bollinger Bands: NaN instead of an error on data shorter than the period).
from tradpal.strategies import Param, Signals, onset, strategy


def channel(values: np.ndarray, period: int, highest: bool) -> np.ndarray:
    """The highest (or lowest) of the `period` values before each bar, the bar itself
    excluded; NaN for the first `period` bars, where there is no full window yet."""
    out = np.full(len(values), np.nan)
    if len(values) > period:
        windows = np.lib.stride_tricks.sliding_window_view(values[:-1], period)
        out[period:] = windows.max(axis=1) if highest else windows.min(axis=1)
    return out


@strategy(
    name="{name}",
    # Each param: name, kind ("int", "float" or "categorical"), low, high, the step a
    # grid or a search uses, the default, and what it means (with units).
    params=[
        Param("entry", "int", 10, 200, 5, default=20, description="entry window, bars"),
        Param("exit", "int", 5, 100, 5, default=10, description="exit channel, bars"),
        Param(
            "side",
            "categorical",
            choices=("both", "long"),
            default="both",
            description="trade both sides, or longs only",
        ),
    ],
    # Checked for every run and respected by every search.
    constraints=["exit < entry"],
    # Defaults by timeframe (others take the nearest listed one at or below them); any
    # --param given on a run wins.
    timeframe_defaults={{
        "1h": {{"entry": 48, "exit": 24}},
        "4h": {{"entry": 30, "exit": 15}},
        "1d": {{"entry": 55, "exit": 20}},
    }},
    # Lines computed before the function (which gets them as its third argument) and
    # drawn in the report: each is f(prices, params) -> one value per bar.
    indicators={{
        "upper": lambda prices, p: channel(prices.high, p["entry"], highest=True),
        "lower": lambda prices, p: channel(prices.low, p["entry"], highest=False),
        "exit_low": lambda prices, p: channel(prices.low, p["exit"], highest=False),
        "exit_high": lambda prices, p: channel(prices.high, p["exit"], highest=True),
    }},
)
def {name}(prices, params, ind) -> Signals:
    """Donchian breakout: long above the entry channel, short below it; out at the
    exit channel."""
    # prices.open/high/low/close/volume: read-only float64 arrays, one value per bar,
    # oldest first. params: the validated params ({{"entry": 48, ...}}).
    close = prices.close
    with np.errstate(invalid="ignore"):  # NaN (the warm-up) compares False: no signal
        long_entry = onset(close > ind["upper"])
        short_entry = onset(close < ind["lower"])
        long_exit = close < ind["exit_low"]
        short_exit = close > ind["exit_high"]
    if params["side"] == "long":
        short_entry = np.zeros(len(close), dtype=bool)
    # One bool per bar for each flag; stop_price=, target_price= (absolute prices, NaN
    # for none) and confidence= (0 to 1) are optional.
    return Signals(
        long_entry=long_entry,
        long_exit=long_exit,
        short_entry=short_entry,
        short_exit=short_exit,
    )
'''


# Module-level names of the template: a strategy function of the same name would replace
# them, and the rule would call itself instead of the helper.
_TEMPLATE_NAMES = frozenset({"annotations", "channel", "np", "onset", "Param", "Signals",
                             "strategy"})  # fmt: skip


def write_template(name: str, folder: str | Path = ".", *, force: bool = False) -> Path:
    """Write the template for strategy ``name`` to ``folder/name.py`` and return the path.

    ``name`` must be a Python identifier that is not a built-in strategy's; an existing
    file is kept unless ``force``. Raises :class:`StrategyError` saying what to change.
    """
    from tradpal.strategies.registry import STRATEGIES

    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or keyword.iskeyword(name):
        raise StrategyError(
            f"{name!r} is not a strategy name",
            hint="use letters, digits and _ (not starting with a digit, not a Python "
            "keyword), such as breakout or my_trend",
        )
    if name in STRATEGIES:
        raise StrategyError(
            f"{name!r} is a built-in strategy's name",
            hint="choose another name for yours, such as my_" + name,
        )
    if name in _TEMPLATE_NAMES:
        raise StrategyError(
            f"{name!r} is a name the template itself uses ({', '.join(sorted(_TEMPLATE_NAMES))})",
            hint="choose another name, such as my_" + name,
        )
    target_dir = Path(folder).expanduser()
    if target_dir.exists() and not target_dir.is_dir():
        raise StrategyError(f"{target_dir} is not a directory", hint="give --dir a folder")
    path = target_dir / f"{name}.py"
    if path.exists() and not force:
        raise StrategyError(
            f"{path} exists already",
            hint="choose another name or folder, or pass --force to overwrite it",
        )
    target_dir.mkdir(parents=True, exist_ok=True)
    shown = path.as_posix()
    if not path.is_absolute() and not shown.startswith(("./", "../")):
        shown = "./" + shown  # so the commands in its docstring read as a path
    text = TEMPLATE.format(name=name, path=shown)
    path.write_text(text, encoding="utf-8")
    return path


__all__ = ["TEMPLATE", "write_template"]
