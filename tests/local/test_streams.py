"""Kinesis event source mappings over a real moto server: batches, partial failures, bisect,
retries, the on-failure queue and checkpoints across a restart."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator

import boto3
import pytest
from fakes.local_moto import reset_moto, running_moto

from tradpal.errors import ConfigError
from tradpal.local.lambdas import LocalLambda
from tradpal.local.moto_server import MotoServer
from tradpal.local.streams import StreamPoller
from tradpal.platform.catalog import StreamConsumer

STREAM = "market_data"  # the catalog's logical name doubles as the moto stream name here


def consumer(**kw) -> StreamConsumer:
    return StreamConsumer(STREAM, **{"starting_position": "TRIM_HORIZON", **kw})


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


class Env:
    def __init__(self, local: LocalLambda) -> None:
        self.local = local
        self.kinesis = boto3.client("kinesis")
        self.sqs = boto3.client("sqs")
        self.kinesis.create_stream(StreamName=STREAM, ShardCount=1)
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        self.role = role["Role"]["Arn"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("h.py", "def handler(e, c):\n    return None\n")
        boto3.client("lambda").create_function(
            FunctionName="signals",
            Runtime="python3.12",
            Role=self.role,
            Handler="h.handler",
            Code={"ZipFile": buf.getvalue()},
        )
        self.dlq = self.sqs.create_queue(QueueName="signals-stream-dlq")["QueueUrl"]
        self.batches: list[list[int]] = []

    def put(self, *values: int) -> list[str]:
        return [
            self.kinesis.put_record(
                StreamName=STREAM, Data=json.dumps({"n": v}).encode(), PartitionKey="BTC"
            )["SequenceNumber"]
            for v in values
        ]

    def handler(self, decide):
        """Register a handler that records each batch's values and answers ``decide``."""

        def handle(event, context):
            values = [
                json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in event["Records"]
            ]
            self.batches.append(values)
            return decide(values, event["Records"])

        self.local.register("signals", handle)

    def dead_letters(self) -> list[dict]:
        got = self.sqs.receive_message(QueueUrl=self.dlq, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]


@pytest.fixture
def env(server) -> Iterator[Env]:
    reset_moto(server)
    local = LocalLambda()
    with local.install():
        yield Env(local)


def poller(env: Env, tmp_path=None, **kw) -> StreamPoller:
    cons = kw.pop("consumer", None) or consumer(batch_size=kw.pop("batch_size", 100))
    return StreamPoller(
        "signals",
        STREAM,
        cons,
        on_failure_queue_url=env.dlq,
        checkpoint_path=(tmp_path / "signals.json") if tmp_path else None,
        sleep=lambda s: None,
        **kw,
    )


def test_the_function_gets_lambdas_kinesis_event_in_batches(env):
    seen: list[dict] = []
    env.handler(lambda values, records: seen.extend(records))
    seqs = env.put(*range(5))
    p = poller(env, batch_size=2)
    assert p.poll_once() == 5
    assert env.batches == [[0, 1], [2, 3], [4]]
    first = seen[0]
    assert first["eventSource"] == "aws:kinesis" and first["eventVersion"] == "1.0"
    assert first["eventName"] == "aws:kinesis:record"
    assert first["eventID"] == f"shardId-000000000000:{seqs[0]}"
    assert first["eventSourceARN"].endswith(f":stream/{STREAM}")
    assert first["awsRegion"] == "us-east-1" and first["invokeIdentityArn"] == env.role
    k = first["kinesis"]
    assert k["kinesisSchemaVersion"] == "1.0" and k["partitionKey"] == "BTC"
    assert k["sequenceNumber"] == seqs[0]
    assert json.loads(base64.b64decode(k["data"])) == {"n": 0}
    assert isinstance(k["approximateArrivalTimestamp"], float)
    assert p.checkpoints() == {"shardId-000000000000": seqs[-1]}
    assert p.poll_once() == 0  # nothing new


def test_partial_batch_failure_retries_from_the_failed_record(env):
    seqs = env.put(*range(5))
    tries = {"n": 0}

    def decide(values, records):
        tries["n"] += 1
        if tries["n"] == 1:  # record 2 fails once; 4 too, but the first failure decides
            by_value = dict(zip(values, records, strict=True))
            return {
                "batchItemFailures": [
                    {"itemIdentifier": by_value[4]["kinesis"]["sequenceNumber"]},
                    {"itemIdentifier": by_value[2]["kinesis"]["sequenceNumber"]},
                ]
            }
        return {"batchItemFailures": []}

    env.handler(decide)
    p = poller(env)
    p.poll_once()
    assert env.batches == [[0, 1, 2, 3, 4], [2, 3, 4]]
    assert p.checkpoints()["shardId-000000000000"] == seqs[-1]
    assert env.dead_letters() == [] and p.stats.retries == 1


def test_an_unknown_item_identifier_fails_the_whole_batch(env):
    env.put(0, 1)
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "nope"}]}, None])
    env.handler(lambda values, records: next(answers))
    poller(env).poll_once()
    assert env.batches == [[0, 1], [0, 1]]


def test_function_errors_bisect_down_to_the_poison_record(env):
    def decide(values, records):
        if 5 in values:
            raise ValueError("cannot parse candle 5")

    env.handler(decide)
    seqs = env.put(*range(8))
    p = poller(env, consumer=consumer(batch_size=8, max_retry_attempts=2))
    assert p.poll_once() == 8
    # 8 fails -> [0..3] ok, [4..7] fails -> [4,5] fails -> [4] ok, [5] fails 1 + 2 retries,
    # then [6,7] ok: in order, and every good record delivered exactly once.
    assert env.batches == [
        list(range(8)),
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [4, 5],
        [4],
        [5],
        [5],
        [5],
        [6, 7],
    ]
    (failure,) = env.dead_letters()
    info = failure["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == seqs[5]
    assert info["batchSize"] == 1 and info["shardId"] == "shardId-000000000000"
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert "cannot parse candle 5" in failure["errorMessage"]
    assert p.checkpoints()["shardId-000000000000"] == seqs[-1]
    assert p.stats.dead_lettered == 1 and p.stats.records == 8


def test_without_bisect_the_whole_batch_is_retried_then_reported(env):
    env.handler(lambda values, records: 1 / 0)
    seqs = env.put(0, 1, 2)
    p = poller(env, consumer=consumer(max_retry_attempts=1), bisect_on_error=False)
    p.poll_once()
    assert env.batches == [[0, 1, 2], [0, 1, 2]]
    (failure,) = env.dead_letters()
    assert failure["KinesisBatchInfo"]["startSequenceNumber"] == seqs[0]
    assert failure["KinesisBatchInfo"]["endSequenceNumber"] == seqs[2]
    assert failure["KinesisBatchInfo"]["batchSize"] == 3


def test_no_queue_keeps_the_failure(env):
    env.handler(lambda values, records: 1 / 0)
    env.put(0)
    p = StreamPoller("signals", STREAM, consumer(max_retry_attempts=0), sleep=lambda s: None)
    p.poll_once()
    (kept,) = p.failures
    assert "ZeroDivisionError" in kept["errorMessage"] and p.stats.kept == 1


def test_a_restart_resumes_from_the_checkpoint_without_redelivering(env, tmp_path):
    env.handler(lambda values, records: None)
    env.put(0, 1, 2)
    first = poller(env, tmp_path)
    first.poll_once()
    saved = json.loads((tmp_path / "signals.json").read_text())
    assert saved["shards"] == first.checkpoints()
    env.put(3, 4)
    second = poller(env, tmp_path)  # a new process would start exactly so
    assert second.poll_once() == 2
    assert env.batches == [[0, 1, 2], [3, 4]]
    with pytest.raises(ConfigError, match="belongs to"):
        StreamPoller("other", STREAM, consumer(), checkpoint_path=tmp_path / "signals.json")


def test_latest_skips_what_was_there_before_the_start(env):
    # LATEST is the catalog's default starting position.
    env.handler(lambda values, records: None)
    env.put(0, 1)
    p = poller(env, consumer=StreamConsumer(STREAM, max_batching_window_s=0))
    p.start()
    try:
        env.put(2, 3)
        assert p.wait_idle(60)
    finally:
        p.stop()
    assert [v for b in env.batches for v in b] == [2, 3]


def test_the_thread_batches_within_the_window_and_waits_idle(env, tmp_path):
    env.handler(lambda values, records: None)
    p = poller(
        env,
        tmp_path,
        consumer=consumer(batch_size=3, max_batching_window_s=0),
        poll_interval_s=0.02,
    ).start()
    try:
        env.put(*range(7))
        assert p.wait_idle(60)
    finally:
        p.stop()
    flat = [v for b in env.batches for v in b]
    assert flat == list(range(7))  # in order, each once
    assert all(len(b) <= 3 for b in env.batches)
