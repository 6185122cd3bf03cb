"""The write-ahead journal: which requests change what, state records that replay to the
same buckets and tables (idempotent, in order), a torn last record ignored, records dropped
once a snapshot holds them, and their blobs kept by the snapshot's garbage collection."""

from __future__ import annotations

import json
import urllib.parse

import boto3
import pytest
from fakes.local_moto import reset_moto, running_moto

from tradpal.local.journal import JOURNAL, Journal, JournalingApp
from tradpal.local.snapshot import restore, snapshot
from tradpal.platform.aws import reset_clients

BUCKET, TABLE = "tp-results", "tp-runs"


@pytest.fixture(scope="module")
def server():
    with running_moto() as s:
        yield s


@pytest.fixture
def world(server, tmp_path):
    reset_moto(server)
    reset_clients()
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("dynamodb").create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    journal = Journal(tmp_path, buckets=[BUCKET], tables={TABLE: ("run_id", None)})
    server.wrap_app(lambda app: JournalingApp(app, journal))
    journal.enabled = True
    yield journal
    journal.enabled = False


def test_changes_are_read_from_the_request():
    j = Journal("/nonexistent", buckets=[BUCKET], tables={TABLE: ("run_id", None)})

    def env(method, path, query="", target=None):
        # as a WSGI server gives them: the raw URI, and PATH_INFO decoded once
        out = {"REQUEST_METHOD": method, "RAW_URI": f"{path}?{query}" if query else path,
               "PATH_INFO": urllib.parse.unquote(path), "QUERY_STRING": query}  # fmt: skip
        if target:
            out["HTTP_X_AMZ_TARGET"] = f"DynamoDB_20120810.{target}"
        return out

    key = {"run_id": {"S": "a"}}
    put = json.dumps({"TableName": TABLE, "Item": {**key, "x": {"N": "1"}}}).encode()
    assert j.changes(env("POST", "/", target="PutItem"), put) == [("ddb", TABLE, key)]
    assert j.changes(env("POST", "/", target="GetItem"), put) == []
    other = json.dumps({"TableName": "other", "Key": key}).encode()
    assert j.changes(env("POST", "/", target="DeleteItem"), other) == []  # not kept
    other_key = {"run_id": {"S": "b"}}
    writes = [{"PutRequest": {"Item": key}}, {"DeleteRequest": {"Key": other_key}}]
    batch = json.dumps({"RequestItems": {TABLE: writes}}).encode()
    found = j.changes(env("POST", "/", target="BatchWriteItem"), batch)
    assert [c[2] for c in found] == [key, other_key]
    spaced = [("s3", BUCKET, "runs/a b.json")]
    assert j.changes(env("PUT", f"/{BUCKET}/runs/a%20b.json"), b"") == spaced
    # a key holding "%2F" (the market store quotes a symbol's slash) is decoded once only
    quoted = [("s3", BUCKET, "market/symbol=SYN%2FUSD/2026.parquet")]
    assert j.changes(env("PUT", f"/{BUCKET}/market/symbol=SYN%252FUSD/2026.parquet"), b"") == quoted
    assert j.changes(env("PUT", f"/{BUCKET}/k", "partNumber=1&uploadId=u"), b"") == []
    assert j.changes(env("POST", f"/{BUCKET}/k", "uploadId=u"), b"") == [("s3", BUCKET, "k")]
    assert j.changes(env("DELETE", f"/{BUCKET}/k", "uploadId=u"), b"") == []  # an abort
    xml = b"<Delete><Object><Key>x</Key></Object><Object><Key>y</Key></Object></Delete>"
    assert j.changes(env("POST", f"/{BUCKET}", "delete="), xml) == [
        ("s3", BUCKET, "x"), ("s3", BUCKET, "y"),
    ]  # fmt: skip
    assert j.changes(env("PUT", "/another-bucket/k"), b"") == []


def test_acknowledged_changes_are_on_disk_and_replay_to_the_same_state(world, tmp_path):
    s3, ddb = boto3.client("s3"), boto3.client("dynamodb")
    s3.put_object(Bucket=BUCKET, Key="runs/a/result.json", Body=b'{"ok": 1}',
                  ContentType="application/json", Metadata={"run": "a"})  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key="runs/b/result.json", Body=b"gone soon")
    s3.put_object(Bucket=BUCKET, Key="market/symbol=SYN%2FUSD/2026.parquet", Body=b"bars")
    s3.delete_object(Bucket=BUCKET, Key="runs/b/result.json")
    ddb.put_item(TableName=TABLE, Item={"run_id": {"S": "a"}, "status": {"S": "RUNNING"}})
    ddb.update_item(
        TableName=TABLE,
        Key={"run_id": {"S": "a"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "SUCCEEDED"}},
    )
    ops = [r["op"] for r in world.records()]
    assert ops == ["s3_put", "s3_put", "s3_put", "s3_delete", "ddb_put", "ddb_put"]
    assert world.records()[-1]["item"]["status"] == {"S": "SUCCEEDED"}  # the state, not the request

    world.enabled = False  # a crash: moto's memory is gone, the journal is not
    s3.delete_object(Bucket=BUCKET, Key="runs/a/result.json")
    s3.delete_object(Bucket=BUCKET, Key="market/symbol=SYN%2FUSD/2026.parquet")
    ddb.delete_item(TableName=TABLE, Key={"run_id": {"S": "a"}})
    with open(tmp_path / JOURNAL, "ab") as fh:
        fh.write(b'{"seq": 99, "op": "ddb_put", "tab')  # torn by the crash: never answered
    again = Journal(tmp_path, buckets=[BUCKET], tables={TABLE: ("run_id", None)})
    assert again.replay() == 6 and again.replay() == 6  # idempotent
    got = s3.get_object(Bucket=BUCKET, Key="runs/a/result.json")
    assert got["Body"].read() == b'{"ok": 1}' and got["Metadata"] == {"run": "a"}
    assert got["ContentType"] == "application/json"
    quoted = s3.get_object(Bucket=BUCKET, Key="market/symbol=SYN%2FUSD/2026.parquet")
    assert quoted["Body"].read() == b"bars"
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/b/")
    item = ddb.get_item(TableName=TABLE, Key={"run_id": {"S": "a"}})["Item"]
    assert item["status"] == {"S": "SUCCEEDED"}


def test_a_snapshot_takes_over_its_records_and_keeps_later_ones(world, tmp_path, monkeypatch):
    from tradpal.local import snapshot as snapshots

    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key="a", Body=b"first")
    snapshot(tmp_path, buckets=[BUCKET], tables=[TABLE], journal=world)
    assert world.records() == []  # the snapshot holds them now

    real = snapshots._snapshot_table

    def write_meanwhile(directory, ddb, table):  # a change while the snapshot is taken
        s3.put_object(Bucket=BUCKET, Key="b", Body=b"during the snapshot")
        return real(directory, ddb, table)

    monkeypatch.setattr(snapshots, "_snapshot_table", write_meanwhile)
    snapshot(tmp_path, buckets=[BUCKET], tables=[TABLE], journal=world)
    (later,) = world.records()  # after the snapshot began: kept, with its blob
    assert later["key"] == "b"
    assert later["blob"] in {p.name for p in (tmp_path / "blobs").glob("*/*")}

    world.enabled = False  # a crash, then the next start
    for key in ("a", "b"):
        s3.delete_object(Bucket=BUCKET, Key=key)
    restore(tmp_path, buckets=[BUCKET], tables=[TABLE])
    Journal(tmp_path, buckets=[BUCKET], tables={TABLE: ("run_id", None)}).replay()
    assert s3.get_object(Bucket=BUCKET, Key="b")["Body"].read() == b"during the snapshot"
    assert s3.get_object(Bucket=BUCKET, Key="a")["Body"].read() == b"first"
