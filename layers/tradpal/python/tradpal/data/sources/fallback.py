"""A chain of data sources: the first that delivers wins, every failure is told.

:func:`fetch_with_fallback` asks each source in order. A source that raises
:class:`~tradpal.errors.SourceError`, fails with a network error (``OSError``,
which covers ``ConnectionError`` and ``TimeoutError``) or returns no bars is
logged as a warning on the ``tradpal.data`` logger, naming the source and the
reason, and the next source is asked. Any other exception is a bug and
propagates unchanged.

The frame returned is one source's frame, whole: sources are never mixed
within one frame (no gap is filled from another source), so prices, volume
units and adjustments stay consistent. Its ``MarketMeta.source`` names the
source that delivered and ``MarketMeta.fallback`` records the chain, such as
``("ccxt:binance failed: <reason>", "yfinance: ok")``. When the first source
delivers, nothing fell back and ``fallback`` stays empty. When every source
fails, :class:`SourceError` lists every source's failure.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from tradpal.data.contract import MarketMeta, get_meta, with_meta
from tradpal.data.sources.base import OhlcvSource, ProgressCallback
from tradpal.errors import ConfigError, SourceError
from tradpal.timeframes import Timeframe, parse_timeframe

logger = logging.getLogger("tradpal.data")

#: Errors that mean "this source cannot deliver now": move on to the next one.
RECOVERABLE: tuple[type[BaseException], ...] = (SourceError, OSError)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return str(exc)  # message and hint
    return f"{type(exc).__name__}: {exc}"


def fetch_with_fallback(
    sources: Sequence[OhlcvSource],
    symbol: str,
    timeframe: Timeframe | str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Fetch ``symbol`` bars opening in ``[start, end)`` from the first source that can.

    See the module docstring for what counts as a failure and what the
    metadata records. Raises :class:`ConfigError` for an empty ``sources``
    and :class:`SourceError` naming every failure when all sources fail.
    """
    return _first_delivering(sources, symbol, timeframe, start, end, progress)[1]


def _first_delivering(
    sources: Sequence[OhlcvSource],
    symbol: str,
    timeframe: Timeframe | str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    progress: ProgressCallback | None,
) -> tuple[OhlcvSource, pd.DataFrame]:
    """The source that delivered and its frame (see :func:`fetch_with_fallback`)."""
    if not sources:
        raise ConfigError(
            "no data sources to try", hint="give at least one source, e.g. make_source('yfinance')"
        )
    tf = parse_timeframe(timeframe)
    chain: list[str] = []
    for i, source in enumerate(sources):
        name = getattr(source, "name", type(source).__name__)
        try:
            frame = source.fetch(symbol, tf, start, end, progress=progress)
        except RECOVERABLE as exc:
            reason = _reason(exc)
        else:
            if len(frame):
                meta = get_meta(frame) or MarketMeta(symbol, tf.name, name)
                if chain:
                    chain.append(f"{name}: ok")
                    meta = meta.evolve(fallback=(*chain, *meta.fallback))
                return source, with_meta(frame, meta)
            reason = "returned no bars"
        chain.append(f"{name} failed: {reason}")
        following = (
            f"; trying {getattr(sources[i + 1], 'name', type(sources[i + 1]).__name__)}"
            if i + 1 < len(sources)
            else "; no source left"
        )
        logger.warning(
            "data source %s failed for %s %s: %s%s", name, symbol, tf.name, reason, following
        )
    raise SourceError(
        f"every data source failed for {symbol} {tf.name}: " + " | ".join(chain),
        hint="fix the first source's problem, or add another source to the chain",
    )


class FallbackSource:
    """An ``OhlcvSource`` that tries ``sources`` in order (see :func:`fetch_with_fallback`).

    The chain is sticky per symbol and timeframe: once a source has delivered
    bars, later fetches of that symbol and timeframe (the next chunk of a long
    download, an older range) go to that source alone. Its empty answer is
    then an answer (no older data, such as before a listing date), and its
    failure is raised instead of switching sources in the middle of one
    dataset, which would mix prices and volume units.
    """

    def __init__(self, sources: Sequence[OhlcvSource]) -> None:
        if not sources:
            raise ConfigError(
                "a fallback chain needs at least one source",
                hint="FallbackSource([make_source('ccxt:binance'), make_source('yfinance')])",
            )
        self.sources: tuple[OhlcvSource, ...] = tuple(sources)
        self.name = "fallback(" + ",".join(s.name for s in self.sources) + ")"
        self._chosen: dict[tuple[str, str], OhlcvSource] = {}

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        progress: ProgressCallback | None = None,
    ) -> pd.DataFrame:
        """Bars of ``symbol`` in ``[start, end)`` from the first source that delivers."""
        tf = parse_timeframe(timeframe)
        chosen = self._chosen.get((symbol, tf.name))
        if chosen is not None:
            try:
                return chosen.fetch(symbol, tf, start, end, progress=progress)
            except RECOVERABLE as exc:
                raise SourceError(
                    f"{chosen.name} failed for {symbol} {tf.name} after delivering earlier "
                    f"bars: {_reason(exc)}",
                    hint="run the download again to resume; sources are not switched within "
                    "one dataset",
                ) from exc
        source, frame = _first_delivering(self.sources, symbol, tf, start, end, progress)
        self._chosen[(symbol, tf.name)] = source
        return frame
