"""Strategies by reference: the built-ins, your own files and the ``strategy_dirs`` folders.

:func:`get_strategy` is the one way from a strategy's text to the strategy: it parses
the reference (:mod:`tradpal.strategies.reference`: ``[PATH.py:]NAME[@TF|+atr]...``),
finds the base strategy (a built-in, the file's, or one found by name in the
``strategy_dirs`` setting, :mod:`tradpal.strategies.user`) and applies the wrappers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from tradpal.errors import StrategyError
from tradpal.strategies.base import Strategy
from tradpal.strategies.reference import StrategyRef, parse_reference
from tradpal.strategies.regime import REGIME
from tradpal.strategies.reversal import BB_REVERSAL, RSI_REVERSAL
from tradpal.strategies.trend import CONFLUENCE, EMA_CROSSOVER
from tradpal.strategies.wrappers import mtf_filter, with_atr_stops

STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {s.name: s for s in (EMA_CROSSOVER, CONFLUENCE, RSI_REVERSAL, BB_REVERSAL, REGIME)}
)
"""The built-in strategies by name."""


def get_strategy(
    name: str,
    *,
    dirs: Iterable[str | Path] | None = None,
    allow_paths: bool = True,
) -> Strategy:
    """The strategy that the reference ``name`` names.

    ``"NAME"`` is a built-in, else a strategy of your own declared in a file of the
    ``strategy_dirs`` folders (``dirs``; None: the setting, read only for a name that
    is not a built-in); ``"PATH.py:NAME"`` the strategy NAME of that file (refused
    unless ``allow_paths``: a service that takes names from its users should not load
    files they name). ``"...@TF"`` wraps it in
    :func:`~tradpal.strategies.wrappers.mtf_filter` with the higher timeframe TF
    (``"ema_crossover@4h"``), ``"...+atr"`` in
    :func:`~tradpal.strategies.wrappers.with_atr_stops`, left to right. Unknown
    names raise :class:`StrategyError` listing the known ones.
    """
    ref = parse_reference(name)
    strategy = _base(ref, dirs, allow_paths)
    for wrapper in ref.wrappers:
        if wrapper.kind == "atr":
            strategy = with_atr_stops(strategy)
        else:
            assert wrapper.timeframe is not None
            strategy = mtf_filter(strategy, wrapper.timeframe.name)
    return strategy


def _base(ref: StrategyRef, dirs: Iterable[str | Path] | None, allow_paths: bool) -> Strategy:
    from tradpal.strategies import user

    if ref.path is not None:
        if not allow_paths:
            raise StrategyError(
                f"strategy files are not accepted here ({ref.base})",
                hint="name a built-in strategy or one in the strategy_dirs folders",
            )
        return user.file_strategy(ref.path, ref.name)
    assert ref.name is not None
    builtin = STRATEGIES.get(ref.name)
    if builtin is not None:
        return builtin
    own = user.dir_strategies(configured_dirs() if dirs is None else dirs)
    if ref.name in own:
        return own[ref.name]
    mine = f"; yours (strategy_dirs): {', '.join(own)}" if own else ""
    raise StrategyError(
        f"unknown strategy {ref.name!r}",
        hint=f"choose one of {', '.join(STRATEGIES)}{mine}; or PATH.py:NAME for a strategy "
        "file of your own (add @4h for a higher-timeframe filter, +atr for ATR stops)",
    )


def configured_dirs() -> tuple[Path, ...]:
    """The ``strategy_dirs`` setting (:func:`tradpal.config.load_settings`)."""
    from tradpal.config import load_settings

    return tuple(Path(d) for d in load_settings().strategy_dirs)


def list_strategies(dirs: Iterable[str | Path] | None = None) -> dict[str, Strategy]:
    """The built-ins, then every strategy of the ``strategy_dirs`` folders (``dirs``;
    None: the setting), by name; :class:`StrategyError` as :func:`get_strategy` for a
    folder or file that cannot be loaded."""
    from tradpal.strategies import user

    own = user.dir_strategies(configured_dirs() if dirs is None else dirs)
    return {**STRATEGIES, **own}


__all__ = ["STRATEGIES", "configured_dirs", "get_strategy", "list_strategies"]
