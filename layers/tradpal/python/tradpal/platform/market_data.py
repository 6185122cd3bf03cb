"""The candles a run names, read where the platform keeps them.

A run's request holds a *data reference* ``{"source", "symbol", "timeframe", "start", "end"}``
(:func:`tradpal.data.loading.load_ohlcv`). On the platform ``store`` means the market data
store in the market-data bucket (:meth:`PlatformEnv.market_store`), not ``$TRADPAL_HOME``;
``sample`` is the seeded synthetic market. Every task of a run loads the same reference, so
the API pins an open ``end`` when it accepts the run (:func:`pin_end`): without that, two
tasks a bar apart would see different bars.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from tradpal.errors import DataContractError
from tradpal.timeframes import parse_timeframe

PLATFORM_SOURCES = ("store", "sample")
"""Data sources a platform run may name (no files, no direct exchange fetches)."""


def pin_end(data: Mapping[str, Any], now: pd.Timestamp | None = None) -> dict[str, Any]:
    """``data`` with ``end`` set to the open time of the bar forming at ``now`` (UTC; default:
    the current time) when it is missing: every closed bar up to now, fixed for the run."""
    out = dict(data)
    if out.get("end") is None:
        tf = parse_timeframe(out.get("timeframe") or "1h")
        t = pd.Timestamp.now(tz="UTC") if now is None else now
        out["end"] = pd.Timestamp(int(tf.floor_ns(t.value)), tz="UTC").isoformat()
    return out


def load_data(data: Mapping[str, Any]) -> pd.DataFrame:
    """The contract frame that ``data`` names, bars with open time in ``[start, end)``.

    ``source`` ``store`` (the default) reads the platform's market store and needs a
    ``symbol``; ``sample`` builds the seeded synthetic market. An empty range is refused
    with a :class:`~tradpal.errors.DataContractError` saying which range was empty."""
    from tradpal.data.loading import load_ohlcv
    from tradpal.data.quality import enforce_quality

    source = data.get("source") or "store"
    tf = parse_timeframe(data.get("timeframe") or "1h")
    if source == "store":
        from tradpal.platform.environment import platform_env

        if not data.get("symbol"):
            raise DataContractError("reading the store needs a symbol", hint='e.g. "BTC/USDT"')
        frame = (
            platform_env()
            .market_store()
            .read(data["symbol"], tf, data.get("start"), data.get("end"))
        )
        _refuse_empty(frame, data, tf.name)  # before the quality check, which says less
        frame, _ = enforce_quality(frame, "reject", timeframe=tf)
        return frame
    extra = {k: data[k] for k in ("seed", "bars") if data.get(k) is not None}
    frame = load_ohlcv(
        source,
        symbol=data.get("symbol"),
        timeframe=tf.name,
        start=data.get("start"),
        end=data.get("end"),
        **extra,
    )
    _refuse_empty(frame, data, tf.name)
    return frame


def _refuse_empty(frame: pd.DataFrame, data: Mapping[str, Any], timeframe: str) -> None:
    if frame.empty:
        raise DataContractError(
            f"no {timeframe} bars of {data.get('symbol') or 'the sample'} from "
            f"{data.get('source') or 'store'} in "
            f"[{data.get('start') or 'the first bar'}, {data.get('end') or 'now'})",
            hint="widen data.start/data.end, or ingest the range first (POST /v1/data/ingest)",
        )
