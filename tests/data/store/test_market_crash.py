"""Crashes during a write never damage stored data, locally or on S3.

Three kinds of failure, each on both backends: an upload that fails half-way
(the writer raises after sending some bytes), a failure between the files of
one write, and a writer process killed with SIGKILL in the middle of an upload.
"""

from __future__ import annotations

import json
import pickle
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pyarrow.dataset as pads
import pytest
from pyarrow.fs import FileSelector, FileType

from tradpal.data.contract import get_meta, with_meta
from tradpal.data.store import MarketStore, files
from tradpal.errors import StoreError


def all_files(store: MarketStore) -> dict[str, bytes]:
    """Every object under the root, hidden ones included (relative path -> bytes)."""
    fs = store.filesystem
    infos = fs.get_file_info(FileSelector(store.root, recursive=True, allow_not_found=True))
    out = {}
    for info in infos:
        if info.type == FileType.File:
            with fs.open_input_stream(info.path) as f:
                out[info.path[len(store.root) :]] = f.read()
    return out


def visible_data(snapshot: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in snapshot.items() if not k.rsplit("/", 1)[1].startswith((".", "_"))}


def hidden_temps(snapshot: dict[str, bytes]) -> list[str]:
    return [k for k in snapshot if files.is_temp_name(k.rsplit("/", 1)[1])]


def hive_rows(store: MarketStore) -> int:
    """Rows a third-party reader (pyarrow dataset discovery) sees in the whole store."""
    ds = pads.dataset(
        store.root + "/ohlcv", filesystem=store.filesystem, format="parquet", partitioning="hive"
    )
    return ds.count_rows()


@pytest.fixture
def stored(store, wave):
    """A store holding BTC/USDT 1h over 2023 and 2024 (two files), and a write touching both."""
    base = wave("BTC/USDT", "1h", "2023-12-25", 24 * 14)
    store.write(base)
    update = wave("BTC/USDT", "1h", "2023-12-30", 24 * 14)
    update[["open", "high", "low", "close"]] *= 1.02
    return store, base, update


def assert_unchanged(store: MarketStore, base: pd.DataFrame, before: dict[str, bytes]) -> None:
    after = all_files(store)
    assert visible_data(after) == visible_data(before)
    pd.testing.assert_frame_equal(store.read("BTC/USDT", "1h"), base, check_exact=True)
    assert get_meta(store.read("BTC/USDT", "1h")) == get_meta(base)
    assert hive_rows(store) == len(base)
    (entry,) = store.datasets()
    assert (entry.first, entry.last, entry.rows) == (base.index[0], base.index[-1], len(base))


def test_an_upload_failing_half_way_leaves_earlier_data_intact(stored, monkeypatch) -> None:
    store, base, update = stored
    before = all_files(store)
    listed_before = store.datasets()
    sent: list[int] = []

    def failing_upload(fs, path, data) -> None:
        stream = fs.open_output_stream(path)
        try:
            stream.write(data[: data.size // 2])
            sent.append(data.size // 2)
        finally:
            stream.close()  # as the real writer does: a partial object may now exist
        raise OSError("No space left on device (simulated)")

    monkeypatch.setattr(files, "_upload", failing_upload)
    with pytest.raises(StoreError, match="No space left") as err:
        store.write(update)
    assert err.value.hint and sent and sent[0] > 0
    monkeypatch.undo()
    assert_unchanged(store, base, before)
    assert hidden_temps(all_files(store)) == []  # the failed temporary file was removed
    assert store.datasets() == listed_before


def test_a_failure_between_files_leaves_each_file_whole(stored, monkeypatch) -> None:
    store, base, update = stored
    real = files.atomic_write
    data_writes: list[str] = []

    def second_data_write_fails(fs, path, data) -> None:
        if path.endswith(".parquet"):
            data_writes.append(path.rsplit("/", 1)[1])
            if len(data_writes) == 2:
                raise OSError("connection lost (simulated)")
        real(fs, path, data)

    monkeypatch.setattr(files, "atomic_write", second_data_write_fails)
    with pytest.raises(StoreError, match="connection lost"):
        store.write(update)
    monkeypatch.undo()
    assert data_writes == ["2023.parquet", "2024.parquet"]
    # 2023 holds the merge, 2024 the old bars: both whole, the catalog agrees with the data.
    back = store.read("BTC/USDT", "1h")
    in_2023 = update.index[update.index.year == 2023]
    pd.testing.assert_frame_equal(back.loc[in_2023], update.loc[in_2023], check_exact=True)
    in_2024 = back.index[back.index.year == 2024]
    pd.testing.assert_frame_equal(back.loc[in_2024], base.loc[in_2024], check_exact=True)
    (entry,) = store.datasets()
    assert (entry.first, entry.last, entry.rows) == (back.index[0], back.index[-1], len(back))
    # Writing again completes the merge.
    store.write(update)
    expected = pd.concat([base.loc[base.index < update.index[0]], update])
    pd.testing.assert_frame_equal(store.read("BTC/USDT", "1h"), expected, check_exact=True)


_KILLED_WRITER = textwrap.dedent(
    """
    import json, os, pickle, signal, sys
    from tradpal.data.contract import MarketMeta, with_meta
    from tradpal.data.store import MarketStore, files

    spec = json.loads(sys.argv[1])
    with open(sys.argv[2], "rb") as fh:
        frame, meta = pickle.load(fh)
    with_meta(frame, MarketMeta.from_dict(meta))
    store = MarketStore.from_uri(
        spec["uri"], endpoint=spec["endpoint"], region=spec["region"],
        s3_options=spec["s3_options"],
    )

    def dying_upload(fs, path, data):
        stream = fs.open_output_stream(path)
        stream.write(data[: data.size // 2])
        stream.flush()
        print("half written", path, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no close: a hard crash

    files._upload = dying_upload
    store.write(frame)
    print("not reached", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_writer_killed_mid_upload_leaves_earlier_data_intact(
    stored, store_spec, tmp_path
) -> None:
    store, base, update = stored
    before = all_files(store)
    payload = tmp_path / "frame.pkl"
    with payload.open("wb") as fh:
        pickle.dump((update, get_meta(update).to_dict()), fh)
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, json.dumps(store_spec.to_dict()), str(payload)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "half written" in proc.stdout and "not reached" not in proc.stdout

    store = store_spec.open()
    assert_unchanged(store, base, before)
    leftovers = hidden_temps(all_files(store))
    if store_spec.backend == "local":
        assert len(leftovers) == 1  # the half-written temp file: hidden from every reader
    else:
        assert leftovers == []  # an unfinished S3 upload creates no object at all
    # The next write sweeps the orphan and completes.
    store.write(update)
    assert hidden_temps(all_files(store)) == []
    expected = pd.concat([base.loc[base.index < update.index[0]], update])
    pd.testing.assert_frame_equal(store.read("BTC/USDT", "1h"), expected, check_exact=True)


def test_the_catalog_is_rebuilt_from_the_data_files(stored, wave) -> None:
    store, _, _ = stored
    store.write(wave("ETH/USDT", "1d", "2024-01-01", 30))
    expected = store.datasets()
    manifest = store.root + "/ohlcv/symbol=BTC%2FUSDT/timeframe=1h/_manifest.json"
    fs = store.filesystem
    files.atomic_write(fs, manifest, b"{not json")  # damaged
    assert store.datasets() == expected
    fs.delete_file(manifest)  # lost, as after a crash mid-write
    assert store.datasets() == expected
    assert store.rebuild_listing() == expected
    assert files.read_bytes(fs, manifest) is not None

    # A data file changed behind the store's back (another tool): the stale manifest is ignored.
    other = MarketStore(store.root + "-other", filesystem=fs)
    extended = wave("BTC/USDT", "1h", "2024-01-01", 24 * 30)
    other.write(extended)
    name = "/ohlcv/symbol=BTC%2FUSDT/timeframe=1h/2024.parquet"
    with fs.open_input_stream(other.root + name) as f:
        files.atomic_write(fs, store.root + name, f.read())
    entry = next(e for e in store.datasets() if e.symbol == "BTC/USDT")
    assert entry.last == extended.index[-1]
    assert entry.rows == len(store.read("BTC/USDT", "1h"))


def test_meta_is_kept_when_a_write_fails(stored, monkeypatch) -> None:
    store, base, update = stored
    with_meta(update, get_meta(update).evolve(extra={"attempt": 2}))
    monkeypatch.setattr(files, "atomic_write", _raise_os_error)
    with pytest.raises(StoreError):
        store.write(update)
    monkeypatch.undo()
    assert get_meta(store.read("BTC/USDT", "1h")) == get_meta(base)


def _raise_os_error(*_args, **_kwargs) -> None:
    raise OSError("read-only file system (simulated)")
