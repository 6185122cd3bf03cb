"""The built-in strategies by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tradpal.errors import StrategyError
from tradpal.strategies.base import Strategy
from tradpal.strategies.regime import REGIME
from tradpal.strategies.reversal import BB_REVERSAL, RSI_REVERSAL
from tradpal.strategies.trend import CONFLUENCE, EMA_CROSSOVER
from tradpal.strategies.wrappers import mtf_filter, with_atr_stops

STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {s.name: s for s in (EMA_CROSSOVER, CONFLUENCE, RSI_REVERSAL, BB_REVERSAL, REGIME)}
)


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``.

    Besides the built-in names, ``"NAME@TF"`` is NAME wrapped by
    :func:`~tradpal.strategies.wrappers.mtf_filter` with the higher timeframe TF
    (``"ema_crossover@4h"``), and a trailing ``"+atr"`` adds ATR stop and target
    prices (:func:`~tradpal.strategies.wrappers.with_atr_stops`). Unknown names
    raise :class:`StrategyError` listing the known ones.
    """
    text = str(name).strip()
    if text.endswith("+atr"):
        return with_atr_stops(get_strategy(text[: -len("+atr")]))
    if "@" in text:
        base, _, tf = text.rpartition("@")
        return mtf_filter(get_strategy(base), tf)
    try:
        return STRATEGIES[text]
    except KeyError:
        raise StrategyError(
            f"unknown strategy {name!r}",
            hint=f"choose one of {', '.join(STRATEGIES)} (add @4h for a higher-timeframe "
            "filter, +atr for ATR stops)",
        ) from None


__all__ = ["STRATEGIES", "get_strategy"]
