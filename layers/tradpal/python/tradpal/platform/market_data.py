"""The candles a run names, read where the platform keeps them.

A run's request holds a *data reference* ``{"source", "symbol", "timeframe", "start", "end"}``
(:func:`tradpal.data.loading.load_ohlcv`). On the platform ``store`` means the market data
store in the market-data bucket (:meth:`PlatformEnv.market_store`), not ``$TRADPAL_HOME``;
``sample`` is the seeded synthetic market. Every task of a run loads the same reference, so
the API pins an open ``end`` when it accepts the run (:func:`pin_end`): without that, two
tasks a bar apart would see different bars.

Every route that reads the store checks the reference first with :func:`require_stored_data`
(cheap: a listing and the dataset's manifest, no bars read), so all of them answer alike: a
dataset that is not stored 404, an inverted range 400 naming the field, a valid range without
bars 404. A run is refused when it is submitted, not failed later in its state machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from tradpal.errors import DataContractError, FieldError
from tradpal.platform.http import ApiError
from tradpal.timeframes import Timeframe, parse_timeframe

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


HINT_DATASETS = "list the stored datasets with GET /v1/data; ingest one with POST /v1/data/ingest"


def require_stored_data(data: Mapping[str, Any], *, field: str = "body.data") -> None:
    """Refuse a data reference whose store range has no bars, before any work starts.

    ``data`` is a data reference (``source``, ``symbol``, ``timeframe``, ``start``, ``end``;
    ``end`` exclusive, times ISO text or datetimes, naive = UTC). Only ``source`` ``"store"``
    (the default) is checked; ``sample`` always has bars. ``field`` prefixes the field names
    in the error details (``"body.data"`` -> ``body.data.symbol``; ``"query"`` for a GET).

    Raises :class:`~tradpal.platform.http.ApiError`: 400 ``bad_request`` when ``start`` is
    not before ``end`` (or a time does not parse), 404 ``not_found`` when the dataset
    (symbol, timeframe) is not stored (naming the timeframes the symbol is stored at) or
    holds no bar in ``[start, end)``. Reads only the dataset's listing and manifest."""
    from tradpal.platform.environment import platform_env

    if (data.get("source") or "store") != "store":
        return
    symbol = data.get("symbol")
    if not symbol:
        raise FieldError(f"{field}.symbol", "reading the store needs a symbol", 'e.g. "BTC/USDT"')
    tf = _timeframe(data.get("timeframe"), f"{field}.timeframe")
    start = _time(data.get("start"), f"{field}.start")
    end = _time(data.get("end"), f"{field}.end")
    if start is not None and end is not None and start >= end:
        raise FieldError(
            f"{field}.end",
            f"end {end.isoformat()} is not after start {start.isoformat()}",
            "give an end after start (end is exclusive)",
        )
    store = platform_env().market_store()
    stored = store.range(symbol, tf)
    if stored is None:
        raise _not_stored(store, symbol, tf, field)
    first, last = stored
    if (start is not None and start > last) or (end is not None and end <= first):
        raise no_bars_error(symbol, tf.name, start, end, stored, field=field)


def no_bars_error(
    symbol: str,
    timeframe: str,
    start: Any,
    end: Any,
    stored: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    *,
    field: str = "body.data",
) -> Exception:
    """The 404 ``not_found`` for a stored dataset without bars in ``[start, end)``
    (``stored``: its first and last bar, said in the hint)."""
    lo = "the first bar" if start is None else pd.Timestamp(start).isoformat()
    hi = "now" if end is None else pd.Timestamp(end).isoformat()
    where = (
        f"{symbol} {timeframe} is stored from {stored[0].isoformat()} to {stored[1].isoformat()}"
        if stored
        else f"{symbol} {timeframe} has a gap there"
    )
    return ApiError(
        404,
        "not_found",
        f"no stored {symbol} {timeframe} bars in [{lo}, {hi})",
        [
            {
                "field": f"{field}.start",
                "message": where,
                "hint": "choose a range with stored bars, or ingest the range first "
                "(POST /v1/data/ingest)",
            }
        ],
    )


def _not_stored(store: Any, symbol: str, tf: Timeframe, field: str) -> Exception:
    """404 for a dataset that is not stored, naming the timeframes ``symbol`` is stored at
    (one listing of the symbol's directory; the store's address is not said)."""
    from tradpal.data.store import files
    from tradpal.data.store.layout import DatasetPath, data_file_key, parse_dataset_dir

    symbol_dir = DatasetPath.of(store.root, symbol, tf).directory.rpartition("/")[0]
    base = symbol_dir.rpartition("/")[0]
    found = set()
    for info in files.list_files(store.filesystem, symbol_dir, recursive=True):
        if data_file_key(info.base_name) is not None:
            parsed = parse_dataset_dir(info.path[len(base) :].rpartition("/")[0])
            if parsed is not None:
                found.add(parse_timeframe(parsed[1]))
    if found:
        names = ", ".join(t.name for t in sorted(found, key=lambda t: t.seconds))
        detail = {
            "field": f"{field}.timeframe",
            "message": f"{symbol} is stored at {names}, not {tf.name}",
            "hint": f"use a stored timeframe, or ingest {symbol} at {tf.name} "
            "(POST /v1/data/ingest)",
        }
    else:
        detail = {
            "field": f"{field}.symbol",
            "message": f"{symbol} is not stored",
            "hint": HINT_DATASETS,
        }
    return ApiError(404, "not_found", f"no stored data for {symbol} {tf.name}", [detail])


def _timeframe(value: Any, field: str) -> Timeframe:
    from tradpal.errors import TradPalError

    try:
        return parse_timeframe(value or "1h")
    except TradPalError as exc:
        raise FieldError(field, exc.message, exc.hint or "e.g. 1h") from None


def _time(value: Any, field: str) -> pd.Timestamp | None:
    from tradpal.data.contract import to_utc_timestamp
    from tradpal.errors import TradPalError

    if value is None:
        return None
    try:
        return to_utc_timestamp(value, field.rpartition(".")[2])
    except TradPalError as exc:
        raise FieldError(field, exc.message, exc.hint or "give an ISO 8601 time") from None


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
