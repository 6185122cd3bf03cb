"""moto's Kinesis shards as the local platform patches them: a poller reading while an ingest
writes never fails (moto's own read failed with "OrderedDict mutated during iteration"), and
every read and iterator gives what moto's own does."""

from __future__ import annotations

import sys
import threading

import boto3
import pytest
from fakes.local_moto import reset_moto, running_moto

from tradpal.local.kinesis import patched_shards

STREAM = "s"


@pytest.fixture(scope="module")
def server():
    with running_moto() as server:
        yield server


@pytest.fixture
def kinesis(server):
    reset_moto(server)
    client = boto3.client("kinesis")
    client.create_stream(StreamName=STREAM, ShardCount=1)
    return client


def put(kinesis, first: int, n: int) -> list[str]:
    records = [{"Data": str(i).encode(), "PartitionKey": "k"} for i in range(first, first + n)]
    answer = kinesis.put_records(StreamName=STREAM, Records=records)
    return [r["SequenceNumber"] for r in answer["Records"]]


def iterator(kinesis, kind: str, seq: str | None = None) -> str:
    shard = kinesis.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
    extra = {"StartingSequenceNumber": seq} if seq else {}
    return kinesis.get_shard_iterator(
        StreamName=STREAM, ShardId=shard, ShardIteratorType=kind, **extra
    )["ShardIterator"]


def read(kinesis, it: str, limit: int) -> tuple[list[str], str, int]:
    got = kinesis.get_records(ShardIterator=it, Limit=limit)
    data = [r["Data"].decode() for r in got["Records"]]
    return data, got["NextShardIterator"], got["MillisBehindLatest"]


def reads(kinesis) -> list:
    """Pages of reads from every kind of iterator, after 25 records."""
    seqs = put(kinesis, 0, 25)
    out = []
    for kind, seq in (("TRIM_HORIZON", None), ("AFTER_SEQUENCE_NUMBER", seqs[9]),
                      ("AT_SEQUENCE_NUMBER", seqs[9]), ("LATEST", None)):  # fmt: skip
        it = iterator(kinesis, kind, seq)
        for _ in range(4):
            data, it, _behind = read(kinesis, it, 7)
            out.append((kind, data))
    put(kinesis, 25, 3)
    data, it, _ = read(kinesis, it, 10)  # the LATEST iterator sees what came after it
    out.append(("after", data))
    description = kinesis.describe_stream(StreamName=STREAM)["StreamDescription"]
    out.append(description["Shards"][0]["SequenceNumberRange"])
    return out


def test_reads_are_moto_s(server, kinesis):
    plain = reads(kinesis)
    reset_moto(server)
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    with patched_shards():
        assert reads(kinesis) == plain
    assert plain[0] == ("TRIM_HORIZON", [str(i) for i in range(7)])
    assert plain[-2] == ("after", ["25", "26", "27"])


@pytest.fixture
def busy_threads():
    """Threads switch often, so that a read overlaps a write (as on a loaded machine):
    without the patch, this test fails with moto's "OrderedDict mutated during iteration"."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


def test_a_reader_racing_a_writer_sees_every_record_once_in_order(kinesis, busy_threads):
    batches, size = 20, 500
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for b in range(batches):
                put(kinesis, b * size, size)
        except BaseException as exc:  # pragma: no cover - the failure reported below
            errors.append(exc)

    seen: list[str] = []
    with patched_shards():
        it = iterator(kinesis, "TRIM_HORIZON")
        writer = threading.Thread(target=write)
        writer.start()
        while writer.is_alive() or len(seen) < batches * size:
            data, it, behind = read(kinesis, it, 10_000)
            assert behind >= 0
            seen += data
            if not writer.is_alive() and not data and len(seen) < batches * size:
                break
        writer.join()
    assert not errors
    assert seen == [str(i) for i in range(batches * size)]
