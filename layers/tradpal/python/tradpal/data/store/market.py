"""The market data store: OHLCV datasets as Parquet, locally or on S3, one code path.

A dataset is one symbol at one timeframe. It is stored as period files (see
:mod:`tradpal.data.store.layout`), each written atomically (see
:mod:`tradpal.data.store.files`), with the symbol and its
:class:`~tradpal.data.contract.MarketMeta` in every file's footer (see
:mod:`tradpal.data.store.codec`), so a read returns a contract frame with its
meta. Everything written passes the quality checks of
:mod:`tradpal.data.quality` first: bad data is rejected (the default), repaired
on request, or stored with its low score under the ``report`` policy, never
silently.

Concurrency: any number of readers, and one writer per dataset at a time
(the store takes no locks; the services that write run one job per dataset).
A reader that runs during a write that touches several files may see some of
them already merged, never a partial file.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tradpal.data.contract import (
    OHLCV_COLUMNS,
    MarketMeta,
    ensure_ohlcv,
    get_meta,
    make_ohlcv,
    to_utc_timestamp,
    with_meta,
)
from tradpal.data.quality import Policy, QualityReport, check_quality, enforce_quality
from tradpal.data.sources.base import OhlcvSource, ProgressCallback
from tradpal.data.store import codec, files
from tradpal.data.store.codec import FileRecord
from tradpal.data.store.layout import (
    OHLCV_DIR,
    DatasetPath,
    data_file_key,
    join,
    parse_dataset_dir,
    period_keys,
    period_overlaps,
    period_sort_key,
)
from tradpal.data.store.listing import (
    StoredDataset,
    decode_manifest,
    encode_manifest,
    entry_from_records,
    latest,
    merge_meta,
)
from tradpal.data.store.plan import Span, ceil_to_bar, chunk_span, missing_spans
from tradpal.errors import DataQualityError, SourceError, StoreError
from tradpal.timeframes import TIMEFRAMES, Timeframe, parse_timeframe

WriteMode = Literal["merge", "append"]
DEFAULT_CHUNK_BARS = 10_000
"""Bars per fetch-and-store step of :meth:`MarketStore.update` (a week of 1m bars)."""

_FOOTER_THREADS = 8  # footers are read in parallel: on S3 each costs a round trip


@dataclass(frozen=True)
class WriteResult:
    """What :meth:`MarketStore.write` did.

    ``rows``: bars in the written frame after the quality policy; ``added``:
    of those, bars whose timestamp was not stored before; ``replaced``: stored
    bars overwritten by a newer bar with the same timestamp; ``files``: period
    keys of the files rewritten (``"2024"``, ``"2024-03"``, ``"all"``).
    """

    symbol: str
    timeframe: str
    rows: int
    added: int
    replaced: int
    files: tuple[str, ...]
    report: QualityReport


@dataclass(frozen=True)
class UpdateResult:
    """What :meth:`MarketStore.update` fetched and stored.

    ``fetched`` lists the ``[start, end)`` ranges requested from the source,
    in request order; ``range`` is the stored ``(first, last)`` afterwards.
    """

    symbol: str
    timeframe: str
    fetched: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]
    bars_written: int
    range: tuple[pd.Timestamp, pd.Timestamp] | None


def default_root() -> Path:
    """``$TRADPAL_HOME/market`` (``~/.tradpal/market`` when TRADPAL_HOME is unset)."""
    home = os.environ.get("TRADPAL_HOME") or str(Path.home() / ".tradpal")
    return Path(home).expanduser() / "market"


class MarketStore:
    """OHLCV datasets partitioned by symbol and timeframe, in Parquet files.

    ``MarketStore()`` uses ``$TRADPAL_HOME/market``; ``MarketStore(root)`` takes
    a directory or a store URI (see :meth:`from_uri`); with ``filesystem``,
    ``root`` is a path on that pyarrow file system (``bucket/prefix`` on S3).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        filesystem: pafs.FileSystem | None = None,
    ) -> None:
        if filesystem is None:
            filesystem, root = files.filesystem_from_uri(default_root() if root is None else root)
        elif root is None:
            raise StoreError("a store on a given file system needs a root path", hint="pass root=")
        self._fs = filesystem
        self._root = os.fspath(root).rstrip("/") or "/"

    @classmethod
    def from_uri(
        cls,
        uri: str | os.PathLike[str],
        *,
        endpoint: str | None = None,
        region: str | None = None,
        s3_options: dict[str, Any] | None = None,
    ) -> MarketStore:
        """A store at a local path or ``s3://bucket/prefix``.

        ``endpoint`` (``http://host:port``) points S3 at a compatible server
        such as the local platform's; ``region`` and ``s3_options`` (passed to
        :class:`pyarrow.fs.S3FileSystem`) configure the client. Raises
        :class:`StoreError` for anything else than a path or an S3 URI.
        """
        fs, root = files.filesystem_from_uri(
            uri, endpoint=endpoint, region=region, s3_options=s3_options
        )
        return cls(root, filesystem=fs)

    @classmethod
    def from_settings(cls, settings: Any) -> MarketStore:
        """The store that :class:`tradpal.config.Settings` names (``market_store_uri``)."""
        return cls.from_uri(settings.market_store_uri)

    @property
    def root(self) -> str:
        return self._root

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self._fs

    @property
    def uri(self) -> str:
        """Where the store lives, for messages (``s3://bucket/prefix`` or a path)."""
        return self._root if files.is_local(self._fs) else f"s3://{self._root}"

    def __repr__(self) -> str:
        return f"MarketStore({self.uri!r})"

    # --- writing ----------------------------------------------------------------------------

    def write(
        self,
        frame: pd.DataFrame,
        *,
        mode: WriteMode = "merge",
        policy: Policy | str = Policy.REJECT,
    ) -> WriteResult:
        """Store ``frame`` (a contract frame with MarketMeta) in its dataset.

        The dataset is ``meta.symbol`` at ``meta.timeframe``. The frame first
        passes :func:`~tradpal.data.quality.enforce_quality` with ``policy``
        (``reject`` raises :class:`~tradpal.errors.DataQualityError` and stores
        nothing). ``mode``:

        * ``"merge"``: bars are merged by timestamp; where a timestamp is
          already stored, the bar being written wins (the later fetch of a bar
          is the more complete one). Only the period files the frame touches
          are rewritten.
        * ``"append"``: like merge, but every bar must open after the last
          stored bar, else :class:`StoreError` (guards against rewriting
          history by mistake).

        A dataset holds data of one source: writing bars from another source
        (or synthetic bars into real data) raises :class:`StoreError`.
        Each file is replaced atomically; a crash leaves every file either as
        it was or fully written.
        """
        if mode not in ("merge", "append"):
            raise StoreError(f"unknown write mode {mode!r}", hint="use 'merge' or 'append'")
        meta = _require_meta(frame)
        tf = parse_timeframe(meta.timeframe)
        frame, report = enforce_quality(frame, policy, timeframe=tf)
        ensure_ohlcv(frame, what=f"data for {meta.label}")
        extra = [str(c) for c in frame.columns if c not in OHLCV_COLUMNS]
        if extra:
            raise StoreError(
                f"data for {meta.label} has column(s) {', '.join(extra)} besides OHLCV",
                hint="the store keeps open, high, low, close and volume only: select them "
                "(frame[list(OHLCV_COLUMNS)]) or write with policy='repair'",
            )
        meta = get_meta(frame) or meta
        codec.check_meta(meta)
        ds = DatasetPath.of(self._root, meta.symbol, tf)
        if len(frame) == 0:
            return WriteResult(meta.symbol, tf.name, 0, 0, 0, (), report)

        present = self._data_files(ds, sweep=True)
        records = self._records(ds, present) if present else {}
        if records:
            _check_same_origin(ds, latest(list(records.values())).meta, meta)
            stored_last = max(r.last for r in records.values())
            if mode == "append" and frame.index.asi8[0] <= stored_last:
                raise StoreError(
                    f"cannot append to {ds.label}: the first bar {frame.index[0]} is not after "
                    f"the last stored bar {_ts(stored_last)}",
                    hint="write with mode='merge' to update stored bars",
                )

        keys = period_keys(frame.index, tf)
        # Deleting the manifest first marks the dataset as being written: after a
        # crash the listing is rebuilt from the data files, never read stale.
        with files.io_errors(f"cannot write {ds.label} to {self.uri}"):
            files.delete_quietly(self._fs, ds.manifest)
        written_at = time.time_ns()
        added = replaced = 0
        written: list[str] = []
        for key, lo, hi in _runs(keys):
            part = frame.iloc[lo:hi]
            old_meta = None
            if key in present:
                old, old_record = self._read_file(ds, key, present[key].size)
                old_meta = old_record.meta
                merged, overlap = _merge(old, part)
            else:
                merged, overlap = part, 0
            file_meta = merge_meta(old_meta, meta)
            quality = check_quality(merged, timeframe=tf)
            record = codec.frame_record(
                key, merged, file_meta, quality.score, _issues(quality), written_at
            )
            data = codec.encode(merged, record)
            with files.io_errors(f"cannot write {ds.label} to {self.uri}"):
                files.atomic_write(self._fs, ds.file(key), data)
            records[key] = replace(record, size=data.size)
            written.append(key)
            added += len(part) - overlap
            replaced += overlap
        self._save_manifest(ds, records)
        return WriteResult(
            meta.symbol, tf.name, len(frame), added, replaced, tuple(written), report
        )

    def delete(self, symbol: str, timeframe: str | Timeframe) -> None:
        """Remove the dataset ``symbol`` at ``timeframe``; :class:`StoreError` if it is absent."""
        ds = DatasetPath.of(self._root, symbol, timeframe)
        if not files.list_files(self._fs, ds.directory, recursive=True):
            raise self._unknown(ds)
        with files.io_errors(f"cannot delete {ds.label} from {self.uri}"):
            files.delete_quietly(self._fs, ds.manifest)
            self._fs.delete_dir(ds.directory)
        if files.is_local(self._fs):  # drop the symbol's directory once it is empty
            with contextlib.suppress(OSError):
                os.rmdir(ds.directory.rpartition("/")[0])

    # --- reading ----------------------------------------------------------------------------

    def read(
        self,
        symbol: str,
        timeframe: str | Timeframe,
        start: Any = None,
        end: Any = None,
    ) -> pd.DataFrame:
        """The stored bars of ``symbol`` at ``timeframe`` with open time in ``[start, end)``.

        ``start`` and ``end`` are anything :class:`pandas.Timestamp` takes
        (naive times are UTC); ``None`` leaves that side open. Only the period
        files that overlap the range are opened, and row groups outside it are
        skipped using the Parquet statistics. Returns a contract frame with
        the dataset's MarketMeta (that of the most recent write among the files
        read, with the repairs recorded in any of them); raises
        :class:`StoreError` naming the stored datasets when there is none.
        """
        ds = DatasetPath.of(self._root, symbol, timeframe)
        lo, hi = _utc(start, "start"), _utc(end, "end")
        present = self._data_files(ds)
        if not present:
            raise self._unknown(ds)
        keys = sorted((k for k in present if period_overlaps(k, lo, hi)), key=period_sort_key)
        if not keys or (lo is not None and hi is not None and lo >= hi):
            newest = self._records(ds, present)
            return _empty(latest(list(newest.values())).meta)
        paths = {ds.file(k): k for k in keys}
        with files.io_errors(f"cannot read {ds.label} from {self.uri}"):
            dataset = pads.dataset(
                list(paths), schema=codec.SCHEMA, format="parquet", filesystem=self._fs
            )
            records = [
                codec.record_from_metadata(
                    paths[frag.path], frag.physical_schema.metadata, present[paths[frag.path]].size
                )
                for frag in dataset.get_fragments()
            ]
            table = dataset.to_table(filter=_time_filter(lo, hi))
        if table.num_rows > 1:
            t = table.column(codec.TIME_COLUMN).cast("int64").to_numpy()
            if (np.diff(t) <= 0).any():  # scans may deliver files out of order
                table = table.take(pc.sort_indices(table, [(codec.TIME_COLUMN, "ascending")]))
        return codec.table_to_frame(table, _combined_meta(records))

    def range(
        self, symbol: str, timeframe: str | Timeframe
    ) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """Open times of the first and last stored bar, or ``None`` when nothing is stored."""
        ds = DatasetPath.of(self._root, symbol, timeframe)
        present = self._data_files(ds)
        if not present:
            return None
        records = self._records(ds, present).values()
        return _ts(min(r.first for r in records)), _ts(max(r.last for r in records))

    def datasets(self) -> list[StoredDataset]:
        """Every stored dataset with its range, rows, source and quality score.

        Served from each dataset's manifest when it matches the data files,
        otherwise from the files' footers (after a crash or outside changes);
        :meth:`rebuild_listing` rewrites stale manifests.
        """
        entries = []
        for ds, present in self._datasets().items():
            records = self._records(ds, present)
            entries.append(entry_from_records(ds.symbol, ds.timeframe.name, list(records.values())))
        return sorted(entries, key=lambda e: (e.symbol, TIMEFRAMES[e.timeframe].seconds))

    def rebuild_listing(self) -> list[StoredDataset]:
        """Rewrite every manifest from the data files' footers and return the listing.

        A maintenance step for the (single) writer, for example after a crash;
        readers never write manifests.
        """
        for ds, present in self._datasets().items():
            records = self._read_footers(ds, present)
            self._save_manifest(ds, records)
        return self.datasets()

    # --- updating from a source ---------------------------------------------------------------

    def update(
        self,
        source: OhlcvSource,
        symbol: str,
        timeframe: str | Timeframe,
        start: Any,
        end: Any = None,
        *,
        progress: ProgressCallback | None = None,
        policy: Policy | str = Policy.REJECT,
        chunk_bars: int = DEFAULT_CHUNK_BARS,
    ) -> UpdateResult:
        """Fetch the bars of ``[start, end)`` that are not stored yet and store them.

        Only the ranges before the first and after the last stored bar are
        fetched (gaps inside the stored range are not refetched); ``end``
        (default: now) is capped at the open of the bar in progress, so only
        closed bars are stored. Each range is fetched and written in chunks of
        ``chunk_bars`` bars: after the stored data forward in time, before it
        backward (newest chunk first; an empty chunk there means the source has
        no older data, and the update stops going back). So the stored bars
        stay one block, and an update that is interrupted (error, crash,
        Ctrl-C) loses at most the chunk in flight: the next update continues
        from the last stored bar. Every chunk passes the quality ``policy``;
        a rejected chunk raises :class:`~tradpal.errors.DataQualityError` and
        leaves the chunks before it stored. ``progress(done, total)`` counts
        bars over all missing ranges.
        """
        if not isinstance(source, OhlcvSource):
            raise StoreError(
                f"{type(source).__name__} is not a data source",
                hint="pass an OhlcvSource (a name and fetch(symbol, timeframe, start, end))",
            )
        if chunk_bars < 1:
            raise StoreError(f"chunk_bars must be positive, got {chunk_bars}", hint="use >= 1")
        tf = parse_timeframe(timeframe)
        DatasetPath.of(self._root, symbol, tf).directory  # noqa: B018 - validates the symbol
        lo = _utc(start, "start")
        if lo is None:
            raise StoreError("update needs a start time", hint="pass start='2024-01-01'")
        now = int(tf.floor_ns(time.time_ns()))  # the bar in progress opens here
        hi_ns = now if end is None else min(int(_utc(end, "end").value), now)
        lo_ns = ceil_to_bar(int(lo.value), tf)
        hi_ns = ceil_to_bar(hi_ns, tf)
        stored = self.range(symbol, tf)
        stored_ns = None if stored is None else (int(stored[0].value), int(stored[1].value))
        spans = missing_spans(stored_ns, lo_ns, hi_ns, tf)
        step = tf.nanoseconds
        total = sum(s.bars(step) for s in spans)
        done = written = 0
        fetched: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        for span in spans:
            for chunk in chunk_span(span, step, chunk_bars):
                fetched.append((_ts(chunk.start), _ts(chunk.end)))
                frame = self._fetch(source, symbol, tf, chunk, progress, done, total)
                if len(frame):
                    written += self._store_chunk(frame, source, chunk, policy)
                done += chunk.bars(step)
                if progress is not None:
                    progress(done, total)
                if chunk.backward and not len(frame):
                    break  # nothing older at the source
        return UpdateResult(symbol, tf.name, tuple(fetched), written, self.range(symbol, tf))

    def _fetch(
        self,
        source: OhlcvSource,
        symbol: str,
        tf: Timeframe,
        chunk: Span,
        progress: ProgressCallback | None,
        done: int,
        total: int,
    ) -> pd.DataFrame:
        size = chunk.bars(tf.nanoseconds)
        inner = None
        if progress is not None:

            def inner(d: int, _t: int) -> None:
                progress(done + min(d, size), total)

        frame = source.fetch(symbol, tf, _ts(chunk.start), _ts(chunk.end), progress=inner)
        meta = get_meta(frame) if isinstance(frame, pd.DataFrame) else None
        if meta is None or meta.symbol != symbol or meta.timeframe != tf.name:
            got = "no MarketMeta" if meta is None else f"{meta.symbol} {meta.timeframe}"
            raise SourceError(
                f"source {source.name} returned {got} for a request of {symbol} {tf.name}",
                hint="a source must return contract frames with MarketMeta for the request",
            )
        index = frame.index
        if isinstance(index, pd.DatetimeIndex) and index.tz is not None and len(index):
            # Sources may deliver a bar or two beyond the request (paging); those
            # belong to the neighbouring chunk, which fetches them itself.
            t = index.asi8
            inside = (t >= chunk.start) & (t < chunk.end)
            if not inside.all():
                frame = with_meta(frame.loc[inside].copy(), meta)
        return frame

    def _store_chunk(
        self, frame: pd.DataFrame, source: OhlcvSource, chunk: Span, policy: Policy | str
    ) -> int:
        try:
            return self.write(frame, policy=policy).rows
        except DataQualityError as exc:
            raise DataQualityError(
                f"bars [{_ts(chunk.start)}, {_ts(chunk.end)}) from {source.name}: {exc.message}",
                report=exc.report,
                hint=exc.hint,
            ) from exc

    # --- internals --------------------------------------------------------------------------

    def _data_files(self, ds: DatasetPath, *, sweep: bool = False) -> dict[str, pafs.FileInfo]:
        """The data files of ``ds`` by period key.

        With ``sweep`` (only the writer passes it), temporary files left by a
        writer that died are deleted: with one writer per dataset, any that
        exist when a write starts are orphans.
        """
        out = {}
        for info in files.list_files(self._fs, ds.directory, recursive=False):
            key = data_file_key(info.base_name)
            if key is not None:
                out[key] = info
            elif sweep and files.is_temp_name(info.base_name):
                with files.io_errors(f"cannot clean up {info.path}"):
                    files.delete_quietly(self._fs, info.path)
        return out

    def _datasets(self) -> dict[DatasetPath, dict[str, pafs.FileInfo]]:
        """Every dataset with data files, from one recursive listing."""
        base = join(self._root, OHLCV_DIR)
        found: dict[DatasetPath, dict[str, pafs.FileInfo]] = {}
        for info in files.list_files(self._fs, base, recursive=True):
            key = data_file_key(info.base_name)
            if key is None:
                continue
            rel = info.path[len(base) :].rpartition("/")[0]
            parsed = parse_dataset_dir(rel)
            if parsed is not None:
                ds = DatasetPath.of(self._root, *parsed)
                found.setdefault(ds, {})[key] = info
        return found

    def _records(self, ds: DatasetPath, present: dict[str, pafs.FileInfo]) -> dict[str, FileRecord]:
        """The footers of ``present``: from the manifest when it matches, else from the files."""
        cached = decode_manifest(files.read_bytes(self._fs, ds.manifest))
        if cached is not None and {k: r.size for k, r in cached.items()} == {
            k: i.size for k, i in present.items()
        }:
            return cached
        return self._read_footers(ds, present)

    def _read_footers(
        self, ds: DatasetPath, present: dict[str, pafs.FileInfo]
    ) -> dict[str, FileRecord]:
        def footer(key: str) -> FileRecord:
            path = ds.file(key)
            with files.io_errors(f"cannot read {path}"), self._fs.open_input_file(path) as f:
                metadata = pq.ParquetFile(f).schema_arrow.metadata
            return codec.record_from_metadata(key, metadata, present[key].size)

        keys = sorted(present, key=period_sort_key)
        if len(keys) <= 2:
            return {k: footer(k) for k in keys}
        with ThreadPoolExecutor(min(_FOOTER_THREADS, len(keys))) as pool:
            return dict(zip(keys, pool.map(footer, keys), strict=True))

    def _read_file(self, ds: DatasetPath, key: str, size: int) -> tuple[pd.DataFrame, FileRecord]:
        path = ds.file(key)
        with files.io_errors(f"cannot read {path}"), self._fs.open_input_file(path) as f:
            pf = pq.ParquetFile(f)
            record = codec.record_from_metadata(key, pf.schema_arrow.metadata, size)
            table = pf.read()
        return codec.table_to_frame(table, record.meta), record

    def _save_manifest(self, ds: DatasetPath, records: dict[str, FileRecord]) -> None:
        ordered = [records[k] for k in sorted(records, key=period_sort_key)]
        data = encode_manifest(ds.symbol, ds.timeframe.name, ordered)
        with files.io_errors(f"cannot write the manifest of {ds.label} to {self.uri}"):
            files.atomic_write(self._fs, ds.manifest, data)

    def _unknown(self, ds: DatasetPath) -> StoreError:
        stored = sorted(
            {(d.symbol, d.timeframe.seconds, d.timeframe.name) for d in self._datasets()}
        )
        same = [tf for sym, _, tf in stored if sym == ds.symbol]
        if same:
            hint = f"{ds.symbol} is stored at {', '.join(same)}"
        elif stored:
            names = [f"{sym} {tf}" for sym, _, tf in stored]
            more = f" and {len(names) - 20} more" if len(names) > 20 else ""
            hint = f"stored: {', '.join(names[:20])}{more}"
        else:
            hint = f"the store at {self.uri} is empty; fetch data first (MarketStore.update)"
        return StoreError(f"no stored data for {ds.label} in {self.uri}", hint=hint)


def _require_meta(frame: object) -> MarketMeta:
    if not isinstance(frame, pd.DataFrame):
        raise StoreError(
            f"can only store a pandas DataFrame, not {type(frame).__name__}",
            hint="build OHLCV frames with tradpal.data.make_ohlcv",
        )
    meta = get_meta(frame)
    if meta is None:
        raise StoreError(
            "the frame carries no MarketMeta, so the store cannot tell which dataset it is",
            hint="attach it: tradpal.data.with_meta(frame, MarketMeta(symbol, timeframe, source))",
        )
    return meta


def _check_same_origin(ds: DatasetPath, stored: MarketMeta, new: MarketMeta) -> None:
    if stored.source != new.source or stored.synthetic != new.synthetic:

        def kind(m: MarketMeta) -> str:
            return f"{m.source}{' (synthetic)' if m.synthetic else ''}"

        raise StoreError(
            f"{ds.label} holds data from {kind(stored)}; refusing to mix in data from {kind(new)}",
            hint=f"delete the dataset first (store.delete({ds.symbol!r}, {ds.timeframe.name!r}))"
            " or keep the sources apart under different symbols",
        )


def _runs(keys: list[str]) -> Iterable[tuple[str, int, int]]:
    """``(key, start, stop)`` of each run of equal keys (rows are in time order)."""
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            yield keys[start], start, i
            start = i


def _merge(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``old`` and ``new`` merged by timestamp, ``new`` winning; and how many it replaced."""
    old_t, new_t = old.index.asi8, new.index.asi8
    kept = ~np.isin(old_t, new_t)
    t = np.concatenate([old_t[kept], new_t])
    order = np.argsort(t, kind="stable")
    cols = [np.concatenate([old[c].to_numpy()[kept], new[c].to_numpy()])[order] for c in new]
    merged = make_ohlcv(t[order], *cols)
    return merged, int((~kept).sum())


def _combined_meta(records: list[FileRecord]) -> MarketMeta:
    ordered = sorted(records, key=lambda r: (r.written_at, r.key))
    meta = None
    for r in ordered:
        meta = merge_meta(meta, r.meta)
    assert meta is not None
    return meta


def _empty(meta: MarketMeta) -> pd.DataFrame:
    none = np.zeros(0)
    return make_ohlcv(np.zeros(0, dtype=np.int64), none, none, none, none, none, meta=meta)


def _time_filter(lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pc.Expression | None:
    field = pc.field(codec.TIME_COLUMN)
    expr = None
    if lo is not None:
        expr = field >= lo
    if hi is not None:
        cond = field < hi
        expr = cond if expr is None else expr & cond
    return expr


def _issues(report: QualityReport) -> dict[str, int]:
    return {r.name: r.count for r in report.rules if r.count}


def _utc(value: Any, what: str) -> pd.Timestamp | None:
    return None if value is None else to_utc_timestamp(value, what, error=StoreError)


def _ts(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC")
