"""EventBridge delivery to Lambda, Kinesis and Step Functions targets over a real moto server.

Rules and targets are created with boto3 as the CDK app creates them; ``put_events`` goes
through moto's real pattern matching, and :class:`EventDelivery` takes over where moto raises
``NotImplementedError``."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from fakes.local_moto import reset_moto, running_moto

from tradpal.errors import ConfigError
from tradpal.local.events import EventDelivery, iso_time, scheduled_event, target_input
from tradpal.local.lambdas import LocalLambda
from tradpal.local.moto_server import MotoServer

BUS = "tradpal-test"
PATTERN = {"source": ["tradpal"], "detail-type": ["trading_signal"]}


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


class Env:
    def __init__(self) -> None:
        self.events = boto3.client("events")
        self.lam = boto3.client("lambda")
        self.sqs = boto3.client("sqs")
        self.iam = boto3.client("iam")
        role = self.iam.create_role(
            RoleName="fn-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )
        self.role = role["Role"]["Arn"]
        self.events.create_event_bus(Name=BUS)
        self.events.put_rule(Name="signals", EventBusName=BUS, EventPattern=json.dumps(PATTERN))

    def function(self, name: str) -> str:
        fn = self.lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=self.role,
            Handler="handler.handler",
            Code={"ZipFile": _zip()},
        )
        return fn["FunctionArn"]

    def queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    def target(self, **target) -> None:
        self.events.put_targets(Rule="signals", EventBusName=BUS, Targets=[target])

    def publish(self, detail: dict, detail_type: str = "trading_signal") -> str:
        out = self.events.put_events(
            Entries=[
                {
                    "Source": "tradpal",
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": BUS,
                    "Resources": ["arn:aws:s3:::x"],
                }
            ]
        )
        assert out["FailedEntryCount"] == 0
        return out["Entries"][0]["EventId"]

    def messages(self, url: str) -> list[dict]:
        got = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        return got.get("Messages", [])


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


@pytest.fixture
def env(server) -> Env:
    reset_moto(server)
    return Env()


@pytest.fixture
def local() -> Iterator[LocalLambda]:
    lam = LocalLambda()
    with lam.install():
        yield lam


def test_rule_delivers_the_eventbridge_envelope_to_lambda_asynchronously(env, local):
    seen: list[dict] = []
    gate = threading.Event()

    def notifier(event, context):
        assert gate.wait(10)  # held until put_events has answered
        seen.append(event)

    local.register("notifier", notifier)
    env.target(Id="n", Arn=env.function("notifier"))
    delivery = EventDelivery(sleep=lambda s: None)
    with delivery.install():
        event_id = env.publish({"symbol": "BTC/USDT", "side": "buy"})
        env.publish({"x": 1}, detail_type="risk_alert")  # matches no rule
        assert seen == []  # put_events returned while the delivery is still running
        gate.set()
        assert delivery.drain(60)
    (event,) = seen
    assert event["id"] == event_id
    assert event["version"] == "0"
    assert event["source"] == "tradpal" and event["detail-type"] == "trading_signal"
    assert event["detail"] == {"symbol": "BTC/USDT", "side": "buy"}
    assert event["account"] == "123456789012" and event["region"] == "us-east-1"
    assert event["resources"] == ["arn:aws:s3:::x"]
    assert datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")  # ISO UTC, whole seconds
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert delivery.stats.delivered == 1 and delivery.stats.by_kind == {"lambda": 1}


def test_input_and_input_path_replace_the_envelope(env, local):
    got: dict[str, list] = {"a": [], "b": []}
    local.register("a", lambda e, c: got["a"].append(e))
    local.register("b", lambda e, c: got["b"].append(e))
    env.target(Id="a", Arn=env.function("a"), Input=json.dumps({"action": "ingest"}))
    env.target(Id="b", Arn=env.function("b"), InputPath="$.detail.symbol")
    delivery = EventDelivery(sleep=lambda s: None)
    with delivery.install():
        env.publish({"symbol": "ETH/USDT"})
        assert delivery.drain(60)
    assert got == {"a": [{"action": "ingest"}], "b": ["ETH/USDT"]}


def test_failing_function_is_retried_then_its_record_goes_to_the_on_failure_queue(env, local):
    attempts: list[str] = []

    def broken(event, context):
        attempts.append(event["id"])
        raise RuntimeError("webhook refused: 503")

    local.register("notifier", broken)
    url, _ = env.queue("notifier-async-dlq")
    arn = env.function("notifier")
    env.target(Id="n", Arn=arn)
    sleeps: list[float] = []
    delivery = EventDelivery(sleep=sleeps.append, backoff_s=1.0)
    delivery.set_async_config("notifier", retries=2, on_failure_queue_url=url)
    with delivery.install():
        event_id = env.publish({"symbol": "BTC/USDT"})
        assert delivery.drain(60)
    assert attempts == [event_id] * 3  # the first try and Lambda's two retries
    assert sleeps == [1.0, 2.0]  # exponential backoff between them
    (message,) = env.messages(url)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"]["id"] == event_id
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert "webhook refused: 503" in record["responsePayload"]["errorMessage"]
    assert delivery.stats.dead_lettered == 1 and delivery.stats.retries == 2


def test_without_a_destination_the_target_dlq_gets_the_failure(env, local):
    local.register("notifier", lambda e, c: 1 / 0)
    url, dlq_arn = env.queue("rules-dlq")
    env.target(
        Id="n",
        Arn=env.function("notifier"),
        DeadLetterConfig={"Arn": dlq_arn},
        RetryPolicy={"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 7200},
    )
    delivery = EventDelivery(sleep=lambda s: None)
    delivery.set_async_config("notifier", retries=1)
    with delivery.install():
        event_id = env.publish({"n": 1})
        assert delivery.drain(60)
    assert len(local.calls_to("notifier")) == 2
    (message,) = env.messages(url)
    attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "FunctionError"
    assert "ZeroDivisionError" in attrs["ERROR_MESSAGE"]
    assert attrs["RULE_ARN"].endswith(f"rule/{BUS}/signals")
    body = json.loads(message["Body"])
    assert body["requestPayload"]["id"] == event_id


def test_a_missing_target_is_retried_by_eventbridge_then_dead_lettered(env, local):
    url, dlq_arn = env.queue("rules-dlq")
    ghost = "arn:aws:lambda:us-east-1:123456789012:function:ghost"
    env.target(
        Id="g",
        Arn=ghost,
        DeadLetterConfig={"Arn": dlq_arn},
        RetryPolicy={"MaximumRetryAttempts": 2},
    )
    sleeps: list[float] = []
    delivery = EventDelivery(sleep=sleeps.append, backoff_s=0.5)
    with delivery.install():
        event_id = env.publish({"n": 1})
        assert delivery.drain(60)
    assert sleeps == [0.5, 1.0]
    (message,) = env.messages(url)
    assert json.loads(message["Body"])["id"] == event_id  # the event itself
    attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "ResourceNotFoundException"
    assert attrs["TARGET_ARN"] == ghost


def test_no_queue_anywhere_keeps_the_event(env, local):
    local.register("notifier", lambda e, c: 1 / 0)
    env.target(Id="n", Arn=env.function("notifier"))
    delivery = EventDelivery(sleep=lambda s: None)
    with delivery.install():
        env.publish({"n": 1})
        assert delivery.drain(60)
    (kept,) = delivery.undelivered
    assert "ZeroDivisionError" in kept.error
    assert kept.event["responsePayload"]["errorType"] == "ZeroDivisionError"
    assert delivery.stats.undelivered == 1


def test_kinesis_target_puts_the_event_with_its_partition_key(env, local):
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="market", ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName="market")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    env.target(Id="k", Arn=arn, KinesisParameters={"PartitionKeyPath": "$.detail.symbol"})
    delivery = EventDelivery(sleep=lambda s: None)
    with delivery.install():
        event_id = env.publish({"symbol": "SOL/USDT"})
        assert delivery.drain(60)
    shard = kinesis.list_shards(StreamName="market")["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(
        StreamName="market", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    (record,) = kinesis.get_records(ShardIterator=it)["Records"]
    assert record["PartitionKey"] == "SOL/USDT"
    data = json.loads(record["Data"])
    assert data["id"] == event_id and data["detail"] == {"symbol": "SOL/USDT"}


def test_step_functions_target_starts_a_uniquely_named_execution_per_event(env, local):
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="echo",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=env.role,
    )["stateMachineArn"]
    env.target(Id="s", Arn=machine, RoleArn=env.role)
    delivery = EventDelivery(sleep=lambda s: None)
    with delivery.install():
        ids = [env.publish({"n": i}) for i in range(2)]
        assert delivery.drain(60)
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len({e["name"] for e in executions}) == 2
    inputs = sorted(
        json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["id"]
        for e in executions
    )
    assert inputs == sorted(ids)


def test_other_targets_still_reach_moto_and_the_seam_is_restored(env, local):
    local.register("notifier", lambda e, c: None)
    url, arn = env.queue("tap")
    env.target(Id="q", Arn=arn)
    env.target(Id="n", Arn=env.function("notifier"))
    delivery = EventDelivery(sleep=lambda s: None)
    with delivery.install():
        env.publish({"n": 1})
        assert delivery.drain(60)
    assert len(env.messages(url)) == 1  # moto's own SQS delivery
    assert len(local.calls_to("notifier")) == 1
    # Outside the block moto is itself again: a Lambda target is not implemented there.
    with pytest.raises(Exception):  # noqa: B017 - moto answers 500 for NotImplementedError
        env.publish({"n": 2})


def test_fire_rule_sends_the_scheduled_event_envelope(env, local):
    got: list[dict] = []
    local.register("data", lambda e, c: got.append(e))
    env.events.put_rule(Name="ingest_hourly", ScheduleExpression="rate(1 hour)")
    env.events.put_targets(
        Rule="ingest_hourly",
        Targets=[
            {"Id": "d", "Arn": env.function("data")},
            {"Id": "e", "Arn": env.function("data2"), "Input": '{"action": "ingest"}'},
        ],
    )
    local.register("data2", lambda e, c: got.append(e))
    delivery = EventDelivery(sleep=lambda s: None)
    with delivery.install():
        when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
        for f in delivery.fire_rule("ingest_hourly", when=when):
            assert f.result(10) == "delivered"
    scheduled = next(e for e in got if "detail-type" in e)
    assert scheduled["detail-type"] == "Scheduled Event"
    assert scheduled["source"] == "aws.events"
    assert scheduled["time"] == "2025-03-01T12:00:00Z"
    assert scheduled["resources"][0].endswith(":rule/ingest_hourly")
    assert {"action": "ingest"} in got


def test_pure_helpers():
    assert iso_time(0) == "1970-01-01T00:00:00Z"
    assert iso_time(datetime(2024, 5, 1, 1, 2, 3, 999, tzinfo=UTC)) == "2024-05-01T01:02:03Z"
    event = scheduled_event("arn:aws:events:eu-west-1:111122223333:rule/r", event_id="x")
    assert event["region"] == "eu-west-1" and event["account"] == "111122223333"
    transformed = target_input(
        {
            "InputTransformer": {
                "InputPathsMap": {"s": "$.detail.symbol"},
                "InputTemplate": '{"symbol": "<s>"}',
            }
        },
        {**event, "detail": {"symbol": "BTC"}},
    )
    assert transformed == {"symbol": "BTC"}
    with pytest.raises(ConfigError):
        target_input({"InputPath": "$.[["}, event)
