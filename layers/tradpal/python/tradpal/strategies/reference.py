"""Strategy references: the one place a strategy's text (``"regime@4h+atr"``) is parsed.

A reference names a base strategy and the wrappers around it, applied left to right::

    [PATH.py:]NAME[@TF | +atr]...

* ``NAME``: a built-in (``ema_crossover``) or a strategy of your own found by name in
  the ``strategy_dirs`` setting; a name is letters, digits and ``_``, not starting
  with a digit;
* ``PATH.py:NAME``: the strategy ``NAME`` declared in the Python file ``PATH.py``
  (relative to the current directory, ``~`` expanded); ``PATH.py`` alone when the
  file declares exactly one strategy;
* ``@TF``: wrap in a higher-timeframe trend filter on TF bars
  (:func:`~tradpal.strategies.wrappers.mtf_filter`; ``@4h``, ``@1d``);
* ``+atr``: add ATR stop and target prices
  (:func:`~tradpal.strategies.wrappers.with_atr_stops`).

So ``./my.py:breakout@4h+atr`` is ``with_atr_stops(mtf_filter(breakout, "4h"))``.
:func:`parse_reference` checks the syntax only (and the timeframes); whether the
name or file exists is :func:`~tradpal.strategies.get_strategy`'s business. Code that
needs the parts of a strategy (its higher timeframe, its inner strategy) reads them
from the strategy objects (``MtfFilter.higher_timeframe``, ``AtrStops.inner``), never
from the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tradpal.errors import StrategyError
from tradpal.timeframes import Timeframe, parse_timeframe

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The file part ends at the first ".py" followed by the end, ":" or a wrapper.
_PATH = re.compile(r"^(?P<path>.*?\.py)(?=$|[:@+])")
_WRAPPER = re.compile(r"(@[^@+]*|\+[^@+]*)")
_HINT = (
    "write NAME (a built-in or one in strategy_dirs) or PATH.py:NAME, then @TF for a "
    "higher-timeframe filter and +atr for ATR stops, e.g. ./my.py:breakout@4h+atr"
)


@dataclass(frozen=True)
class Wrapper:
    """One wrapper of a reference: ``kind`` ``"mtf"`` (``@TF``, with ``timeframe``) or
    ``"atr"`` (``+atr``)."""

    kind: Literal["mtf", "atr"]
    timeframe: Timeframe | None = None

    def __str__(self) -> str:
        return f"@{self.timeframe.name}" if self.timeframe is not None else "+atr"


@dataclass(frozen=True)
class StrategyRef:
    """A parsed reference (module docstring): the base strategy's ``name`` (None for
    ``PATH.py`` alone), its ``path`` (None for a name), and the ``wrappers`` applied
    to it, innermost first."""

    name: str | None
    path: Path | None = None
    wrappers: tuple[Wrapper, ...] = ()

    @property
    def base(self) -> str:
        """The base strategy's part of the text: ``NAME``, ``PATH.py:NAME`` or ``PATH.py``."""
        if self.path is None:
            return str(self.name)
        return f"{self.path}:{self.name}" if self.name else str(self.path)

    def __str__(self) -> str:
        return self.base + "".join(map(str, self.wrappers))


def parse_reference(text: object) -> StrategyRef:
    """``text`` as a :class:`StrategyRef`; :class:`StrategyError` (or a
    :class:`~tradpal.timeframes.TimeframeError` for an unknown ``@TF``) naming what is
    wrong with it."""
    if not isinstance(text, str):
        raise StrategyError(
            f"a strategy is named by text, not {type(text).__name__} {text!r}", hint=_HINT
        )
    given = text.strip()
    if not given:
        raise StrategyError("the strategy name is empty", hint=_HINT)
    path: Path | None = None
    rest = given
    match = _PATH.match(given)
    if match:
        path = Path(match["path"]).expanduser()
        rest = given[match.end() :]
        name = None
        if rest.startswith(":"):
            name, rest = _split_name(rest[1:])
            if not name:
                raise StrategyError(
                    f"{given!r} names the file {path} but no strategy after the ':'",
                    hint="write PATH.py:NAME with the name the file's @strategy declares",
                )
    else:
        name, rest = _split_name(given)
    if name is not None and not NAME_PATTERN.fullmatch(name):
        raise StrategyError(
            f"{name!r} in {given!r} is not a strategy name (letters, digits and _; a file "
            "ends in .py)",
            hint=_HINT,
        )
    wrappers = []
    for part in _WRAPPER.findall(rest):
        if part.startswith("@"):
            if len(part) == 1:
                raise StrategyError(f"{given!r} has an '@' without a timeframe", hint=_HINT)
            wrappers.append(Wrapper("mtf", parse_timeframe(part[1:].strip())))
        elif part.strip() == "+atr":
            wrappers.append(Wrapper("atr"))
        else:
            raise StrategyError(
                f"unknown wrapper {part!r} in {given!r}",
                hint="+atr adds ATR stops and @TF (such as @4h) a higher-timeframe filter",
            )
    return StrategyRef(name, path, tuple(wrappers))


def _split_name(text: str) -> tuple[str, str]:
    """``text`` split into its leading name and the wrappers after it."""
    cut = min((i for i in (text.find("@"), text.find("+")) if i >= 0), default=len(text))
    return text[:cut].strip(), text[cut:]


__all__ = ["NAME_PATTERN", "StrategyRef", "Wrapper", "parse_reference"]
