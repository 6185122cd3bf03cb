"""Local state that survives a restart: S3 objects and DynamoDB items, snapshotted to disk.

moto keeps everything in memory. :func:`snapshot` copies the platform's buckets and tables
into a folder (under ``TRADPAL_HOME``), :func:`restore` puts them back into fresh moto
resources (created by the platform before the restore), and :class:`Snapshotter` snapshots in
the background while the platform runs, and once more when it stops.

Layout of the folder:

* ``blobs/<2 hex>/<sha256>``: content-addressed files, one per distinct S3 object body and
  per table dump; written once (temporary file + rename) and never modified;
* ``manifest.json``: the snapshot, ``{"version": 1, "created", "buckets": {bucket: {key:
  {"blob", "size", "etag", "last_modified", "content_type", "metadata"}}}, "tables": {name:
  {"blob", "items"}}}``. A table dump is JSON ``{"table", "items": [...]}`` with DynamoDB's
  type descriptors (``{"S": ...}``, ``{"N": "1.5"}``, binary as base64 text).

Crash safety: the manifest is replaced atomically and only after every blob it names is on
disk; blobs no manifest names are deleted only after that. A crash at any point leaves the
previous manifest and all of its blobs in place. Incremental: an object whose ETag, size and
last-modified time are those of the previous snapshot is not downloaded or rewritten, and an
unchanged state does not rewrite the manifest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradpal.errors import StoreError
from tradpal.files import replace_json
from tradpal.platform.aws import client

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
VERSION = 1
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SnapshotResult:
    """What :func:`snapshot` did: ``changed`` (a new manifest was written), objects downloaded
    (``objects_written``) and reused from the previous snapshot, table items dumped."""

    changed: bool
    objects_written: int
    objects_reused: int
    items: int


@dataclass(frozen=True)
class RestoreResult:
    """What :func:`restore` put back: objects and items."""

    objects: int
    items: int


# -- DynamoDB values <-> JSON ---------------------------------------------------------------


def _to_json(value: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB attribute value as JSON: bytes (``B``, ``BS``) become base64 text."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode("ascii") for b in inner]}
    if kind == "M":
        return {"M": {k: _to_json(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_to_json(v) for v in inner]}
    return {kind: inner}


def _from_json(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": {k: _from_json(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_from_json(v) for v in inner]}
    return {kind: inner}


# -- blobs ----------------------------------------------------------------------------------


def _blob_path(directory: Path, digest: str) -> Path:
    return directory / "blobs" / digest[:2] / digest


def _put_blob(directory: Path, chunks: Iterable[bytes]) -> tuple[str, int]:
    """Store ``chunks`` as a blob; (sha256, size). An existing blob is left untouched."""
    folder = directory / "blobs"
    folder.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".blob.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        final = _blob_path(directory, digest.hexdigest())
        if final.exists():
            os.unlink(tmp)
        else:
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


def load_manifest(directory: str | Path) -> dict[str, Any] | None:
    """The current manifest of ``directory``, or None when there is no snapshot yet."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StoreError(
            f"snapshot manifest {path} is not valid JSON: {exc}",
            hint="it is written atomically, so something else changed it; move the folder "
            "away to start from an empty state",
        ) from None
    if manifest.get("version") != VERSION:
        raise StoreError(
            f"snapshot {path} has version {manifest.get('version')!r}, expected {VERSION}",
            hint="restore it with the tradpal version that wrote it",
        )
    return manifest


# -- snapshot -------------------------------------------------------------------------------


def _snapshot_bucket(
    directory: Path, s3: Any, bucket: str, previous: dict[str, Any], counts: dict[str, int]
) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            key, etag = obj["Key"], obj["ETag"]
            modified = obj["LastModified"].astimezone(UTC).isoformat()
            old = previous.get(key)
            if (
                old
                and (old["etag"], old["size"], old["last_modified"])
                == (etag, obj["Size"], modified)
                and _blob_path(directory, old["blob"]).exists()
            ):
                entries[key] = old
                counts["reused"] += 1
                continue
            got = s3.get_object(Bucket=bucket, Key=key)
            digest, size = _put_blob(directory, got["Body"].iter_chunks(_CHUNK))
            entries[key] = {
                "blob": digest,
                "size": size,
                "etag": etag,
                "last_modified": modified,
                "content_type": got.get("ContentType"),
                "metadata": got.get("Metadata", {}),
            }
            counts["written"] += 1
    return entries


def _snapshot_table(directory: Path, ddb: Any, table: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items += [{k: _to_json(v) for k, v in item.items()} for item in page.get("Items", [])]
    # Sorted: the same items give the same bytes, hence the same blob.
    items.sort(key=lambda item: json.dumps(item, sort_keys=True))
    body = json.dumps({"table": table, "items": items}, sort_keys=True).encode()
    digest, _ = _put_blob(directory, [body])
    return {"blob": digest, "items": len(items)}


def _collect_garbage(directory: Path, manifest: dict[str, Any], also: Iterable[str] = ()) -> None:
    keep = {e["blob"] for objs in manifest["buckets"].values() for e in objs.values()}
    keep |= {t["blob"] for t in manifest["tables"].values()} | set(also)
    for path in (directory / "blobs").glob("*/*"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
    for stale in (directory / "blobs").glob(".blob.*.tmp"):  # left by a crash
        stale.unlink(missing_ok=True)


def snapshot(
    directory: str | Path,
    *,
    buckets: Iterable[str] = (),
    tables: Iterable[str] = (),
    s3_client: Any = None,
    ddb_client: Any = None,
    journal: Any = None,
) -> SnapshotResult:
    """Snapshot ``buckets`` and ``tables`` into ``directory`` (created if needed).

    Clients default to the local runtime's (AWS_ENDPOINT_URL). Returns what changed; the
    previous snapshot stays valid until the new manifest replaces it atomically. With a
    ``journal`` (:class:`tradpal.local.journal.Journal`, in the same folder), the records the
    new snapshot holds are dropped from it and the blobs its other records name are kept."""
    directory = Path(directory)
    s3 = s3_client or client("s3", retries=False)
    ddb = ddb_client or client("dynamodb", retries=False)
    previous = load_manifest(directory) or {"buckets": {}, "tables": {}}
    covered = journal.position if journal is not None else 0  # all of these are read below
    counts = {"written": 0, "reused": 0}
    manifest: dict[str, Any] = {"version": VERSION, "buckets": {}, "tables": {}}
    for bucket in buckets:
        manifest["buckets"][bucket] = _snapshot_bucket(
            directory, s3, bucket, previous["buckets"].get(bucket, {}), counts
        )
    items = 0
    for table in tables:
        manifest["tables"][table] = _snapshot_table(directory, ddb, table)
        items += manifest["tables"][table]["items"]
    same = {k: v for k, v in previous.items() if k != "created"} == manifest
    if not same:
        manifest["created"] = datetime.now(UTC).isoformat()
        replace_json(directory / MANIFEST, manifest)  # the commit point
    if journal is None:
        # After the commit only: what an interrupted snapshot left behind goes now.
        _collect_garbage(directory, manifest)
    else:
        with journal.lock:  # no record (and its blob) is written while blobs are collected
            journal.drop_through(covered)
            _collect_garbage(directory, manifest, journal.blobs())
    return SnapshotResult(not same, counts["written"], counts["reused"], items)


# -- restore --------------------------------------------------------------------------------


def _read_blob(directory: Path, digest: str) -> bytes:
    path = _blob_path(directory, digest)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise StoreError(
            f"snapshot blob {path} is missing",
            hint="the snapshot folder was changed by hand; restore from a copy of it",
        ) from None


def _require(check: Any, what: str) -> None:
    from botocore.exceptions import ClientError

    try:
        check()
    except ClientError as exc:
        raise StoreError(
            f"cannot restore into {what}: {exc.response.get('Error', {}).get('Code')}",
            hint="create the platform's buckets and tables before restoring",
        ) from None


def restore(
    directory: str | Path,
    *,
    buckets: Iterable[str] | None = None,
    tables: Iterable[str] | None = None,
    s3_client: Any = None,
    ddb_client: Any = None,
) -> RestoreResult:
    """Put the snapshot in ``directory`` back: objects (with content type and metadata) and
    items, into buckets and tables that already exist. ``buckets``/``tables`` select (None:
    all in the snapshot). No snapshot: nothing to do."""
    directory = Path(directory)
    manifest = load_manifest(directory)
    if manifest is None:
        return RestoreResult(0, 0)
    s3 = s3_client or client("s3", retries=False)
    ddb = ddb_client or client("dynamodb", retries=False)
    wanted_buckets = manifest["buckets"] if buckets is None else list(buckets)
    wanted_tables = manifest["tables"] if tables is None else list(tables)
    objects = items = 0
    for bucket in wanted_buckets:
        _require(lambda b=bucket: s3.head_bucket(Bucket=b), f"bucket {bucket}")
        for key, entry in manifest["buckets"].get(bucket, {}).items():
            extra = {"ContentType": entry["content_type"]} if entry.get("content_type") else {}
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=_read_blob(directory, entry["blob"]),
                Metadata=entry.get("metadata") or {},
                **extra,
            )
            objects += 1
    for table in wanted_tables:
        if table not in manifest["tables"]:
            continue
        _require(lambda t=table: ddb.describe_table(TableName=t), f"table {table}")
        dump = json.loads(_read_blob(directory, manifest["tables"][table]["blob"]))
        rows = [{k: _from_json(v) for k, v in item.items()} for item in dump["items"]]
        for start in range(0, len(rows), 25):  # BatchWriteItem's limit
            request = {table: [{"PutRequest": {"Item": r}} for r in rows[start : start + 25]]}
            for attempt in range(10):
                left = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not left:
                    break
                request = left
                time.sleep(0.05 * 2**attempt)
            else:
                raise StoreError(
                    f"DynamoDB kept refusing items of {table} during the restore",
                    hint="retry the restore; the snapshot is unchanged",
                )
        items += len(rows)
    return RestoreResult(objects, items)


class Snapshotter:
    """Snapshots ``buckets`` and ``tables`` into ``directory`` every ``interval_s`` seconds
    (writing only when something changed) and once more on :meth:`stop`."""

    def __init__(
        self,
        directory: str | Path,
        *,
        buckets: Iterable[str] = (),
        tables: Iterable[str] = (),
        interval_s: float = 2.0,
        s3_client: Any = None,
        ddb_client: Any = None,
        journal: Any = None,
    ) -> None:
        self.directory = Path(directory)
        self.journal = journal
        self.buckets, self.tables = tuple(buckets), tuple(tables)
        self.interval_s = interval_s
        self._clients = {"s3_client": s3_client, "ddb_client": ddb_client}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.snapshots = 0
        self.last_error: str | None = None

    def snapshot_now(self) -> SnapshotResult:
        """Snapshot now (serialised with the background thread)."""
        with self._lock:
            result = snapshot(
                self.directory,
                buckets=self.buckets,
                tables=self.tables,
                journal=self.journal,
                **self._clients,
            )
            self.snapshots += result.changed
            return result

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.snapshot_now()
                self.last_error = None
            except Exception as exc:  # keep running: the next tick may succeed
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("snapshot of the local state failed")

    def start(self) -> Snapshotter:
        """Snapshot in the background (a daemon thread)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="snapshotter", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> SnapshotResult:
        """Stop the thread and take the final snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        return self.snapshot_now()
