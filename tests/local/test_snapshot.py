"""Snapshots of S3 objects and DynamoDB items: round trip across two moto servers,
incremental writes and crash safety.

moto's backends are process-wide, so the "second server" is a new server on another port
started after the state was reset: what it holds after the restore came from the folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from fakes.local_moto import reset_moto, running_moto

from tradpal import files
from tradpal.errors import StoreError
from tradpal.local.moto_server import MotoServer
from tradpal.local.snapshot import RestoreResult, Snapshotter, load_manifest, restore, snapshot

BUCKETS = ("tp-market", "tp-results")
TABLE = "tp-runs"


def create_resources() -> None:
    s3 = boto3.client("s3")
    for b in BUCKETS:
        s3.create_bucket(Bucket=b)
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def fill() -> None:
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket="tp-market",
        Key="market/BTC/1h/part-0.parquet",
        Body=bytes(range(256)) * 4000,
        ContentType="application/vnd.apache.parquet",
        Metadata={"rows": "1000"},
    )
    s3.put_object(Bucket="tp-results", Key="runs/a/report.json", Body=b'{"sharpe": 1.5}')
    s3.put_object(Bucket="tp-results", Key="runs/b/report.json", Body=b'{"sharpe": 1.5}')
    table = boto3.resource("dynamodb").Table(TABLE)
    table.put_item(
        Item={
            "run_id": "a",
            "status": "SUCCEEDED",
            "metrics": {"sharpe": Decimal("1.5"), "trades": 12},
            "tags": {"x", "y"},
            "blob": b"\x00\x01binary",
            "series": [1, "two", None, True],
        }
    )
    table.put_item(Item={"run_id": "b", "status": "RUNNING"})


def state() -> dict:
    s3 = boto3.client("s3")
    objects = {}
    for b in BUCKETS:
        for obj in s3.list_objects_v2(Bucket=b).get("Contents", []):
            got = s3.get_object(Bucket=b, Key=obj["Key"])
            objects[(b, obj["Key"])] = (got["Body"].read(), got["ContentType"], got["Metadata"])
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return {"objects": objects, "items": sorted(items, key=lambda i: i["run_id"]["S"])}


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


def take(directory: Path, **kw):
    return snapshot(directory, buckets=BUCKETS, tables=[TABLE], **kw)


def test_round_trip_across_two_servers(tmp_path):
    with running_moto() as first:
        reset_moto(first)
        create_resources()
        fill()
        before = state()
        result = take(tmp_path)
    assert result.changed and result.objects_written == 3 and result.items == 2
    # The two identical reports share one blob (content addressed) + 1 parquet + 1 table dump.
    assert len(list((tmp_path / "blobs").glob("*/*"))) == 3
    with running_moto() as second:
        reset_moto(second)
        create_resources()
        assert state()["objects"] == {}
        restored = restore(tmp_path)
        after = state()
    assert restored.objects == 3 and restored.items == 2
    assert after == before
    assert after["objects"][("tp-market", "market/BTC/1h/part-0.parquet")][1:] == (
        "application/vnd.apache.parquet",
        {"rows": "1000"},
    )
    item_a = after["items"][0]
    assert item_a["blob"] == {"B": b"\x00\x01binary"} and set(item_a["tags"]["SS"]) == {"x", "y"}


def test_incremental_snapshots_rewrite_only_what_changed(server, tmp_path):
    reset_moto(server)
    create_resources()
    fill()
    take(tmp_path)
    manifest = tmp_path / "manifest.json"
    blob_mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "blobs").glob("*/*")}
    manifest_mtime = manifest.stat().st_mtime_ns
    time.sleep(0.01)

    again = take(tmp_path)
    assert (again.changed, again.objects_written, again.objects_reused) == (False, 0, 3)
    assert manifest.stat().st_mtime_ns == manifest_mtime  # nothing changed: not rewritten

    boto3.client("s3").put_object(Bucket="tp-results", Key="runs/c/report.json", Body=b"{}")
    boto3.client("s3").delete_object(Bucket="tp-results", Key="runs/b/report.json")
    third = take(tmp_path)
    assert third.changed and third.objects_written == 1 and third.objects_reused == 2
    for path, mtime in blob_mtimes.items():
        if path.exists():
            assert path.stat().st_mtime_ns == mtime  # never rewritten
    keys = set(load_manifest(tmp_path)["buckets"]["tp-results"])
    assert keys == {"runs/a/report.json", "runs/c/report.json"}


class FailingS3:
    """An S3 client whose get_object fails for one key: a crash in the middle of a snapshot."""

    def __init__(self, key: str) -> None:
        self._s3, self._key = boto3.client("s3"), key

    def __getattr__(self, name):
        return getattr(self._s3, name)

    def get_object(self, **kw):
        if kw["Key"] == self._key:
            raise OSError("connection reset in the middle of the snapshot")
        return self._s3.get_object(**kw)


def test_a_crash_mid_snapshot_leaves_the_previous_snapshot_usable(server, tmp_path, monkeypatch):
    reset_moto(server)
    create_resources()
    fill()
    before = state()
    take(tmp_path)
    committed = (tmp_path / "manifest.json").read_bytes()

    s3 = boto3.client("s3")
    s3.put_object(Bucket="tp-results", Key="runs/a/report.json", Body=b'{"sharpe": 9}')
    s3.put_object(Bucket="tp-results", Key="runs/z/report.json", Body=b"new")
    boto3.resource("dynamodb").Table(TABLE).delete_item(Key={"run_id": "b"})
    # 1. The crash while objects are being copied.
    with pytest.raises(OSError, match="connection reset"):
        take(tmp_path, s3_client=FailingS3("runs/z/report.json"))
    assert (tmp_path / "manifest.json").read_bytes() == committed

    # 2. The crash while the new manifest is being committed.
    def disk_full(src, dst):
        raise OSError("No space left on device")

    monkeypatch.setattr(files.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        take(tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "manifest.json").read_bytes() == committed
    assert not list(tmp_path.glob(".manifest.json.*"))  # no temporary file left

    reset_moto(server)
    create_resources()
    restore(tmp_path)
    assert state() == before  # exactly the last committed snapshot

    # The next snapshot works and removes what the crashed ones left behind.
    take(tmp_path)
    manifest = load_manifest(tmp_path)
    referenced = {e["blob"] for objs in manifest["buckets"].values() for e in objs.values()}
    referenced |= {t["blob"] for t in manifest["tables"].values()}
    assert {p.name for p in (tmp_path / "blobs").glob("*/*")} == referenced
    assert not list((tmp_path / "blobs").glob(".blob.*"))


def test_restore_needs_the_resources_and_an_intact_folder(server, tmp_path):
    reset_moto(server)
    assert restore(tmp_path) == RestoreResult(0, 0)  # no snapshot yet: nothing to do
    create_resources()
    fill()
    take(tmp_path)
    reset_moto(server)
    with pytest.raises(StoreError, match="bucket tp-market") as err:
        restore(tmp_path)
    assert "create the platform's buckets" in err.value.hint
    create_resources()
    for blob in (tmp_path / "blobs").glob("*/*"):
        blob.unlink()
    with pytest.raises(StoreError, match="missing"):
        restore(tmp_path)


def test_the_snapshotter_snapshots_changes_and_once_more_on_stop(server, tmp_path):
    reset_moto(server)
    create_resources()
    keeper = Snapshotter(tmp_path, buckets=BUCKETS, tables=[TABLE], interval_s=0.05).start()
    try:
        deadline = time.monotonic() + 60
        while keeper.snapshots < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert keeper.snapshots == 1  # the empty state
        boto3.client("s3").put_object(Bucket="tp-market", Key="k", Body=b"v")
        while keeper.snapshots < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "k" in load_manifest(tmp_path)["buckets"]["tp-market"]
    finally:
        keeper.stop()
    assert keeper.last_error is None
    # A long interval: only the final snapshot on stop can have seen this object.
    keeper = Snapshotter(tmp_path, buckets=BUCKETS, tables=[TABLE], interval_s=60).start()
    boto3.client("s3").put_object(Bucket="tp-market", Key="last", Body=b"w")
    final = keeper.stop()
    assert final.changed and final.objects_written == 1
    assert "last" in load_manifest(tmp_path)["buckets"]["tp-market"]
