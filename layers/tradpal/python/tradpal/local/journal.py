"""A write-ahead journal of the kept buckets and tables: no acknowledged change is lost.

Snapshots (:mod:`tradpal.local.snapshot`) are periodic, so a ``kill -9`` between two of them
used to lose what changed in between: a run the API had answered SUCCEEDED came back as 404.
The journal closes that gap. :class:`JournalingApp` sits in front of moto's WSGI app; for
every request that changes an object of a kept bucket or an item of a kept table and
succeeds, it reads back the resulting state (the object's bytes, the item, or its absence)
and appends it to the journal, fsynced, *before* moto's answer goes back to the caller. What
a caller was told happened is on disk.

Records hold the state after the change, never the request, so replaying them is
idempotent and order is the only thing that matters: at start the platform restores the last
snapshot and replays the journal over it; after each snapshot the records it covers are
dropped (a snapshot is taken while writes go on, so it may already hold some later changes;
replaying those again changes nothing).

Layout, in the snapshot folder: ``journal.jsonl``, one JSON record per line, ``{"seq",
"op"}`` with ``op`` one of ``s3_put`` (``bucket``, ``key``, ``blob``, ``content_type``,
``metadata``; the bytes in the snapshot's blob store), ``s3_delete`` (``bucket``, ``key``),
``ddb_put`` (``table``, ``item``) and ``ddb_delete`` (``table``, ``key``). A torn last line
(a crash during the append) is ignored: its change was never acknowledged.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tradpal.files import replace_file
from tradpal.local.snapshot import _from_json, _put_blob, _read_blob, _to_json
from tradpal.platform.aws import client

log = logging.getLogger(__name__)

JOURNAL = "journal.jsonl"
_DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_DDB_TARGET = "DynamoDB_20120810."

Change = tuple[str, str, Any]
"""``("s3", bucket, key)`` or ``("ddb", table, key attributes)``: what a request touches."""


class Journal:
    """The journal of ``buckets`` and ``tables`` (``{name: (partition, sort or None)}``) in
    ``directory``. Thread-safe: one append at a time, each fsynced."""

    def __init__(
        self,
        directory: str | Path,
        *,
        buckets: Iterable[str],
        tables: Mapping[str, tuple[str, str | None]],
    ) -> None:
        self.directory = Path(directory)
        self.path = self.directory / JOURNAL
        self.buckets = frozenset(buckets)
        self.tables = dict(tables)
        self.lock = threading.RLock()
        self.enabled = False
        records = self.records()
        self._seq = records[-1]["seq"] if records else 0

    # -- reading ------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """Every whole record, in order (a torn last line is left out)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_bytes().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                log.warning("ignored a torn journal record (its change was never answered)")
        return out

    @property
    def position(self) -> int:
        """The sequence number of the last record."""
        return self._seq

    def blobs(self) -> set[str]:
        """The blobs the records name (the snapshot's garbage collection keeps them)."""
        return {r["blob"] for r in self.records() if r.get("op") == "s3_put"}

    # -- writing ------------------------------------------------------------------------

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append ``records`` (numbered here) and fsync; the caller holds :attr:`lock`."""
        lines = []
        for record in records:
            self._seq += 1
            lines.append(json.dumps({"seq": self._seq, **record}, sort_keys=True) + "\n")
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as fh:
            fh.write("".join(lines).encode())
            fh.flush()
            os.fsync(fh.fileno())

    def record_states(self, changes: list[Change]) -> None:
        """Read the state each change left (through the moto endpoint) and journal it."""
        s3, ddb = client("s3", retries=False), client("dynamodb", retries=False)
        with self.lock:
            records = [self._state(s3, ddb, change) for change in changes]
            self.append(records)

    def _state(self, s3: Any, ddb: Any, change: Change) -> dict[str, Any]:
        kind, name, key = change
        if kind == "s3":
            found = _object(s3, name, key)
            if found is None:
                return {"op": "s3_delete", "bucket": name, "key": key}
            body, content_type, metadata = found
            digest, _ = _put_blob(self.directory, [body])
            return {
                "op": "s3_put", "bucket": name, "key": key, "blob": digest,
                "content_type": content_type, "metadata": metadata,
            }  # fmt: skip
        item = ddb.get_item(TableName=name, Key=key, ConsistentRead=True).get("Item")
        if item is None:
            return {
                "op": "ddb_delete",
                "table": name,
                "key": {k: _to_json(v) for k, v in key.items()},
            }
        return {"op": "ddb_put", "table": name, "item": {k: _to_json(v) for k, v in item.items()}}

    def drop_through(self, seq: int) -> None:
        """Forget the records up to ``seq`` (a snapshot holds their changes now)."""
        with self.lock:
            kept = [r for r in self.records() if r["seq"] > seq]
            text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept)
            replace_file(self.path, text)

    # -- replaying ----------------------------------------------------------------------

    def replay(self) -> int:
        """Apply every record to the (restored) buckets and tables; returns how many."""
        s3, ddb = client("s3", retries=False), client("dynamodb", retries=False)
        records = self.records()
        for r in records:
            op = r["op"]
            if op == "s3_put":
                extra = {"ContentType": r["content_type"]} if r.get("content_type") else {}
                s3.put_object(
                    Bucket=r["bucket"], Key=r["key"], Body=_read_blob(self.directory, r["blob"]),
                    Metadata=r.get("metadata") or {}, **extra,
                )  # fmt: skip
            elif op == "s3_delete":
                s3.delete_object(Bucket=r["bucket"], Key=r["key"])
            elif op == "ddb_put":
                item = {k: _from_json(v) for k, v in r["item"].items()}
                ddb.put_item(TableName=r["table"], Item=item)
            elif op == "ddb_delete":
                key = {k: _from_json(v) for k, v in r["key"].items()}
                ddb.delete_item(TableName=r["table"], Key=key)
        return len(records)

    # -- which requests change what -----------------------------------------------------

    def needs_body(self, environ: Mapping[str, Any]) -> bool:
        """Whether :meth:`changes` reads the request's body: DynamoDB writes (the keys are in
        the JSON) and S3 DeleteObjects (the keys are in the XML); an object's own body is
        never needed (its state is read back after the write)."""
        target = str(environ.get("HTTP_X_AMZ_TARGET") or "")
        if target.startswith(_DDB_TARGET):
            return target.removeprefix(_DDB_TARGET) in _DDB_WRITES
        return environ.get("REQUEST_METHOD") == "POST" and "delete" in urllib.parse.parse_qs(
            str(environ.get("QUERY_STRING") or ""), keep_blank_values=True
        )

    def changes(self, environ: Mapping[str, Any], body: bytes) -> list[Change]:
        """What a request to moto changes in the kept buckets and tables (empty: nothing)."""
        target = str(environ.get("HTTP_X_AMZ_TARGET") or "")
        if target.startswith(_DDB_TARGET):
            return self._ddb_changes(target.removeprefix(_DDB_TARGET), body)
        return self._s3_changes(environ, body)

    def _key(self, table: str, attrs: Mapping[str, Any]) -> dict[str, Any] | None:
        keys = self.tables.get(table)
        if keys is None:
            return None
        return {k: attrs[k] for k in keys if k is not None and k in attrs}

    def _ddb_changes(self, op: str, body: bytes) -> list[Change]:
        if op not in _DDB_WRITES:
            return []
        request = json.loads(body or b"{}")
        found: list[tuple[str, Mapping[str, Any]]] = []
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            found.append(
                (request.get("TableName", ""), request.get("Item") or request.get("Key") or {})
            )
        elif op == "BatchWriteItem":
            for table, writes in (request.get("RequestItems") or {}).items():
                for w in writes:
                    part = w.get("PutRequest", {}).get("Item") or w.get("DeleteRequest", {}).get(
                        "Key"
                    )
                    found.append((table, part or {}))
        else:
            for t in request.get("TransactItems") or []:
                for kind in ("Put", "Update", "Delete"):
                    if kind in t:
                        part = t[kind].get("Item") or t[kind].get("Key") or {}
                        found.append((t[kind].get("TableName", ""), part))
        out: list[Change] = []
        for table, attrs in found:
            key = self._key(table, attrs)
            if key:
                out.append(("ddb", table, key))
        return out

    def _s3_changes(self, environ: Mapping[str, Any], body: bytes) -> list[Change]:
        method = environ.get("REQUEST_METHOD", "")
        path = _object_path(environ)
        bucket, _, key = path.lstrip("/").partition("/")
        if bucket not in self.buckets:
            return []
        query = urllib.parse.parse_qs(
            str(environ.get("QUERY_STRING") or ""), keep_blank_values=True
        )
        if not key:
            if method == "POST" and "delete" in query:  # DeleteObjects
                root = ET.fromstring(body or b"<Delete/>")
                return [("s3", bucket, k.text or "") for k in root.iter() if k.tag.endswith("Key")]
            return []
        if method == "PUT" and "partNumber" not in query and not set(query) & {"tagging", "acl"}:
            return [("s3", bucket, key)]  # PutObject, CopyObject
        if method == "POST" and "uploadId" in query:  # CompleteMultipartUpload
            return [("s3", bucket, key)]
        if method == "DELETE" and "uploadId" not in query:
            return [("s3", bucket, key)]
        return []


def _object_path(environ: Mapping[str, Any]) -> str:
    """The request's path decoded once, as S3 reads a key: ``PATH_INFO`` is decoded already,
    and decoding it again turned a key holding ``%2F`` (a symbol's slash, quoted by the
    market store) into another key, whose state the journal then recorded as deleted."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return urllib.parse.unquote(urllib.parse.urlsplit(str(raw)).path)
    return str(environ.get("PATH_INFO") or "")


def _object(s3: Any, bucket: str, key: str) -> tuple[bytes, str | None, dict] | None:
    """An object's bytes, content type and metadata, or None when there is none. Read from
    moto's backend in this process (no second HTTP round trip copying the bytes through the
    server: results and market data files are megabytes); over the API where that is not
    possible."""
    try:
        from moto.s3.models import s3_backends

        from tradpal.local.moto_server import ACCOUNT_ID

        fake = s3_backends[ACCOUNT_ID]["global"].get_object(bucket, key)
    except Exception:  # moto's internals moved: the API says the same, more slowly
        try:
            got = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return None
        return got["Body"].read(), got.get("ContentType"), got.get("Metadata", {})
    if fake is None:
        return None
    headers = dict(fake.metadata or {})  # moto keeps the object's headers here
    user = {
        k.removeprefix("x-amz-meta-"): v for k, v in headers.items() if k.startswith("x-amz-meta-")
    }
    return fake.value, headers.get("content-type"), user


class JournalingApp:
    """moto's WSGI app, journaling each acknowledged change first (module docstring)."""

    def __init__(self, app: Callable[..., Any], journal: Journal) -> None:
        self.app, self.journal = app, journal

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self.journal.enabled:
            return self.app(environ, start_response)
        body = b""
        if self.journal.needs_body(environ):  # read it once, and hand moto a copy
            body = _read_body(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        try:
            changes = self.journal.changes(environ, body)
        except (ValueError, ET.ParseError):  # moto answers the malformed request itself
            changes = []
        if not changes:
            return self.app(environ, start_response)
        status: list[str] = []

        def capture(code: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info)

        answer = list(_iterate(self.app(environ, capture)))
        if status and status[0][:1] == "2":
            self.journal.record_states(changes)  # on disk before the caller hears of it
        return answer


def _read_body(environ: Mapping[str, Any]) -> bytes:
    """The request body: ``CONTENT_LENGTH`` bytes, or everything of a chunked body (the
    server has removed the chunking and marks the end)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    return stream.read() if environ.get("wsgi.input_terminated") else b""


def _iterate(result: Any) -> Iterator[bytes]:
    try:
        yield from result
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
