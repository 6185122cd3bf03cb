"""Both state machines executed under moto, with every Lambda task dispatched in-process
(tradpal.platform.local_lambda) to callables that do what the issue-6 handlers will do:
call the library (validate, load the data, backtest_strategy; discovery plan, evaluate,
reduce, finalize) and keep large data in S3 and DynamoDB, passing pointers through the
state. Happy path, retry on a transient Lambda error, and the Catch path (the failure is
recorded in the runs table and published as a FAILED backtest_complete, and the execution
fails) for each machine; the discovery runs through its Distributed Map over items in S3
and must find what the library's own loop (run_discovery) finds, bit for bit."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from tradpal.backtest import BacktestConfig
from tradpal.backtest.runs import backtest_strategy, config_for
from tradpal.data.loading import load_ohlcv
from tradpal.discovery import evaluate, plan, reduce, run_discovery
from tradpal.discovery.runner import finalize
from tradpal.errors import TradPalError
from tradpal.platform.asl import (
    TASK_PLACEHOLDERS,
    load_definition_text,
    local_definition,
    render_definition,
)
from tradpal.platform.local_lambda import LambdaServiceError, LocalLambda
from tradpal.serialize import to_jsonable
from tradpal.strategies import get_strategy

REGION = "us-east-1"
BUCKET = "tradpal-results-test"
TABLE = "tradpal-runs-test"
BUS = "tradpal"
DATA = {
    "source": "sample",
    "symbol": "SYN/USD",
    "timeframe": "1h",
    "start": "2024-01-01T00:00:00+00:00",
    "end": "2024-02-15T00:00:00+00:00",
}
BACKTEST_REQUEST = {"strategy": "ema_crossover", "params": {}, "data": DATA, "config": {}}
DISCOVERY_REQUEST = {
    "strategy": "ema_crossover",
    "method": "genetic",
    "risk": False,
    "population": 4,
    "generations": 2,
    "elitism": 1,
    "seed": 7,
    "min_trades": 0,
    "data": DATA,
    "validation": {"holdout": 0.25, "folds": 2},
}
TRANSIENT = "TooManyRequestsException"


# -- what the Lambda functions do (issue 6 puts this behind functions/<capability>/) --------


class Tasks:
    """Library-backed task callables over moto S3 and DynamoDB."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)

    def _put(self, key: str, obj: Any) -> None:
        body = json.dumps(obj, allow_nan=False).encode()
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)

    def _get(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    # backtest
    def validate(self, event: dict, context: Any) -> dict:
        req = event["request"]
        get_strategy(req["strategy"])  # raises a TradPalError naming the known strategies
        BacktestConfig.from_dict(dict(req.get("config") or {}))
        return {"run_id": event["run_id"], "request": req}

    def ensure_data(self, event: dict, context: Any) -> dict:
        frame = load_ohlcv(**_data_args(event["request"]["data"]))
        if frame.empty:
            raise TradPalError("no bars in the requested range", hint="widen start/end")
        first, last = frame.index[0].isoformat(), frame.index[-1].isoformat()
        return {**event, "data": {"bars": len(frame), "first": first, "last": last}}

    def run(self, event: dict, context: Any) -> dict:
        req = event["request"]
        frame = load_ohlcv(**_data_args(req["data"]))
        config = config_for(req["data"]["timeframe"], **(req.get("config") or {}))
        result = backtest_strategy(frame, req["strategy"], req.get("params"), config).result
        key = f"backtests/{event['run_id']}/result.json"
        self._put(key, result.to_dict())
        metrics = to_jsonable(result.metrics.to_dict())
        return {**event, "result": {"bucket": BUCKET, "key": key, "metrics": metrics}}

    def store(self, event: dict, context: Any) -> dict:
        self.ddb.put_item(
            TableName=TABLE,
            Item={
                "run_id": {"S": event["run_id"]},
                "kind": {"S": "backtest"},
                "status": {"S": "SUCCEEDED"},
                "result_key": {"S": event["result"]["key"]},
            },
        )
        return event

    # discovery
    def _pointer(self, run_id: str, state: dict) -> dict:
        g = state["generation"]
        base = f"discovery/{run_id}"
        self._put(f"{base}/state.json", state)
        pointer = {
            "run_id": run_id,
            "bucket": BUCKET,
            "state_key": f"{base}/state.json",
            "generation": g,
            "done": state["done"],
            "request": state["request"],
            "items_key": f"{base}/g{g}/items.json",
            "results_prefix": f"{base}/g{g}/results/",
        }
        if not state["done"]:
            self._put(pointer["items_key"], state["candidates"])
        return pointer

    def plan(self, event: dict, context: Any) -> dict:
        return self._pointer(event["run_id"], plan(event["request"]))

    def evaluate(self, event: dict, context: Any) -> dict:
        items, ctx = event["Items"], event["BatchInput"]
        batch_id = f"{items[0]['id']}+{len(items)}"
        batch = {
            "batch_id": batch_id,
            "generation": ctx["generation"],
            "request": ctx["request"],
            "candidates": items,
        }
        key = f"{ctx['results_prefix']}{batch_id}.json"
        self._put(key, evaluate(batch))
        return {"batch_id": batch_id, "key": key}

    def reduce(self, event: dict, context: Any) -> dict:
        state = self._get(event["state_key"])
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=event["results_prefix"])
        results = [r for o in listed.get("Contents", []) for r in self._get(o["Key"])["results"]]
        return self._pointer(event["run_id"], reduce(state, results))

    def validate_best(self, event: dict, context: Any) -> dict:
        final = finalize(self._get(event["state_key"]))
        key = f"discovery/{event['run_id']}/final.json"
        self._put(key, final)
        best = final["best"]
        summary = {k: best[k] for k in ("id", "params", "values", "deflated_sharpe")}
        return {**event, "state_key": key, "best": summary}


def _data_args(data: dict) -> dict:
    return {
        "data": data["source"],
        **{k: data[k] for k in ("symbol", "timeframe", "start", "end") if k in data},
    }


# -- the moto world -----------------------------------------------------------------------


class World(SimpleNamespace):
    def start(self, machine: str, request: dict) -> str:
        name = f"{machine}-{uuid.uuid4().hex[:12]}"  # a unique name: moto's default collides
        arn = self.sfn.start_execution(
            stateMachineArn=self.machines[machine], name=name, input=json.dumps(request)
        )["executionArn"]
        for _ in range(2400):  # bounded: a hung execution fails the test, never the suite
            desc = self.sfn.describe_execution(executionArn=arn)
            if desc["status"] != "RUNNING":
                desc["run_id"] = name
                return desc
            time.sleep(0.025)
        raise AssertionError(f"execution {name} still running")

    def events(self) -> list[dict]:
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return out
            for m in got["Messages"]:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])

    def run_item(self, run_id: str) -> dict | None:
        item = self.ddb.get_item(TableName=TABLE, Key={"run_id": {"S": run_id}}).get("Item")
        return None if item is None else {k: v["S"] for k, v in item.items()}


# placeholder -> (moto function name, Tasks method), from the same table the construct uses
FUNCTIONS = {
    placeholder: (task.replace(".", "-").replace("_", "-"), task.split(".")[1])
    for tasks in TASK_PLACEHOLDERS.values()
    for placeholder, task in tasks.items()
}


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


@pytest.fixture
def world(monkeypatch):
    for var, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(var, value)
    sleeps: list[float] = []
    # Retry waits really sleep in moto; record them instead (the backoff is what is checked).
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=sleeps.append))
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="tradpal-test", AssumeRolePolicyDocument="{}")["Role"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"}],
        )
        ev = boto3.client("events", region_name=REGION)
        ev.create_event_bus(Name=BUS)
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="backtest-complete")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        ev.put_rule(
            Name="complete",
            EventBusName=BUS,
            EventPattern=json.dumps({"detail-type": ["backtest_complete"]}),
        )
        ev.put_targets(
            Rule="complete",
            EventBusName=BUS,
            Targets=[{"Id": "q", "Arn": queue_arn["Attributes"]["QueueArn"]}],
        )
        lam = boto3.client("lambda", region_name=REGION)
        tasks = Tasks()
        local = LocalLambda()
        values: dict[str, Any] = {
            "EventBusName": BUS,
            "RunsTableName": TABLE,
            "EvaluateBatchSize": 2,
            "MaxConcurrency": 1000,
        }
        for placeholder, (name, method) in FUNCTIONS.items():
            fn = lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role["Arn"],
                Handler="handler.handler",
                Code={"ZipFile": _zip()},
            )
            values[placeholder] = fn["FunctionArn"]
            local.register(name, getattr(tasks, method))
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machines = {}
        for machine in ("backtest", "discovery"):
            text = local_definition(render_definition(load_definition_text(machine), values))
            machines[machine] = sfn.create_state_machine(
                name=machine, definition=text, roleArn=role["Arn"]
            )["stateMachineArn"]
        with local.install():
            yield World(
                sfn=sfn,
                sqs=sqs,
                queue=queue,
                ddb=ddb,
                s3=s3,
                lam=lam,
                local=local,
                tasks=tasks,
                machines=machines,
                sleeps=sleeps,
            )


def flaky(handler, failures: int = 1):
    """``handler`` after ``failures`` throttled calls (a transient Lambda service error)."""
    left = [failures]

    def wrapped(event, context):
        if left[0] > 0:
            left[0] -= 1
            raise LambdaServiceError(TRANSIENT)
        return handler(event, context)

    return wrapped


# -- the dispatcher itself ------------------------------------------------------------------


def test_direct_invoke_runs_the_handler_and_reports_its_exception_as_a_function_error(world):
    world.local.register(
        "backtest-validate", lambda event, ctx: {"got": event, "name": ctx.function_name}
    )
    ok = world.lam.invoke(FunctionName="backtest-validate", Payload=json.dumps({"a": 1}))
    assert "FunctionError" not in ok
    assert json.load(ok["Payload"]) == {"got": {"a": 1}, "name": "backtest-validate"}

    def boom(event, ctx):
        raise ValueError("bad input")

    world.local.register("backtest-store", boom)
    bad = world.lam.invoke(FunctionName="backtest-store", Payload=b"{}")
    assert bad["FunctionError"] == "Unhandled"
    payload = json.load(bad["Payload"])
    assert payload["errorType"] == "ValueError" and payload["errorMessage"] == "bad input"
    world.local.register("backtest-run", flaky(lambda e, c: e))
    # a client that does not retry throttles itself (Step Functions' own client does not)
    once = boto3.client(
        "lambda", region_name=REGION, config=Config(retries={"total_max_attempts": 1})
    )
    with pytest.raises(once.exceptions.TooManyRequestsException):
        once.invoke(FunctionName="backtest-run", Payload=b"{}")
    with pytest.raises(world.lam.exceptions.ResourceNotFoundException):
        world.lam.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert [c.outcome for c in world.local.calls] == ["ok", "function_error", "service_error"]


# -- backtest -------------------------------------------------------------------------------


def test_backtest_happy_path_stores_the_library_result_and_publishes(world):
    done = world.start("backtest", BACKTEST_REQUEST)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    run_id = done["run_id"]
    # the stored result is the library's, for the same request
    frame = load_ohlcv(**_data_args(DATA))
    expected = backtest_strategy(frame, "ema_crossover", {}, config_for("1h")).result
    stored = world.tasks._get(f"backtests/{run_id}/result.json")
    assert stored == json.loads(json.dumps(expected.to_dict()))
    assert stored["metrics"]["num_trades"] > 0
    assert world.run_item(run_id) == {
        "run_id": run_id,
        "kind": "backtest",
        "status": "SUCCEEDED",
        "result_key": f"backtests/{run_id}/result.json",
    }
    (event,) = world.events()
    assert event["detail-type"] == "backtest_complete" and event["source"] == "tradpal.backtests"
    assert event["detail"]["run_id"] == run_id and event["detail"]["status"] == "SUCCEEDED"
    assert event["detail"]["result"]["metrics"] == to_jsonable(expected.metrics.to_dict())
    order = [c.function for c in world.local.calls]
    assert order == ["backtest-validate", "backtest-ensure-data", "backtest-run", "backtest-store"]


def test_backtest_retries_a_transient_lambda_error_then_succeeds(world):
    world.local.register("backtest-run", flaky(world.tasks.run))
    done = world.start("backtest", BACKTEST_REQUEST)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    outcomes = [c.outcome for c in world.local.calls_to("backtest-run")]
    assert outcomes == ["service_error", "ok"]
    assert len(world.sleeps) == 1  # one backoff wait before the second attempt
    assert world.run_item(done["run_id"])["status"] == "SUCCEEDED"
    assert [e["detail"]["status"] for e in world.events()] == ["SUCCEEDED"]


def test_backtest_failure_is_recorded_published_and_fails_the_execution(world):
    done = world.start("backtest", {**BACKTEST_REQUEST, "strategy": "no_such_strategy"})
    assert done["status"] == "FAILED"
    assert done["error"] == "BacktestFailed"
    (validate,) = world.local.calls_to("backtest-validate")
    assert validate.outcome == "function_error"
    assert world.local.calls_to("backtest-run") == []  # nothing after the failed task ran
    item = world.run_item(done["run_id"])
    assert item["status"] == "FAILED" and item["error"] == validate.error
    assert "no_such_strategy" in item["cause"]
    (event,) = world.events()
    assert event["detail"]["status"] == "FAILED" and event["detail"]["run_id"] == done["run_id"]
    assert event["detail"]["error"]["Error"] == validate.error


# -- discovery ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference():
    """The library's own loop on the same request: the state machine must agree."""
    return run_discovery(DISCOVERY_REQUEST, workers=1, batch_size=2)


def test_discovery_happy_path_matches_the_library_loop(world, reference):
    done = world.start("discovery", DISCOVERY_REQUEST)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    run_id = done["run_id"]
    final = world.tasks._get(f"discovery/{run_id}/final.json")
    assert final["done"] and final["generation"] == DISCOVERY_REQUEST["generations"]
    assert json.dumps(final["history"], sort_keys=True) == json.dumps(
        reference["history"], sort_keys=True
    )
    assert final["best"] == json.loads(json.dumps(reference["best"]))
    # one Map child per candidate locally (a batch of one); the elites are not re-evaluated
    evaluated = world.local.calls_to("discovery-evaluate")
    assert len(evaluated) == 4 + (4 - 1)
    assert len(world.local.calls_to("discovery-reduce")) == 2  # the Choice looped once
    (event,) = world.events()
    assert event["source"] == "tradpal.discovery" and event["detail"]["status"] == "SUCCEEDED"
    assert event["detail"]["best"]["id"] == reference["best"]["id"]
    output = json.loads(done["output"])
    assert output["best"]["values"] == reference["best"]["values"]


def test_discovery_retries_a_throttled_evaluate(world, reference):
    world.local.register("discovery-evaluate", flaky(world.tasks.evaluate))
    done = world.start("discovery", DISCOVERY_REQUEST)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    outcomes = [c.outcome for c in world.local.calls_to("discovery-evaluate")]
    assert outcomes.count("service_error") == 1 and outcomes.count("ok") == 7
    assert len(world.sleeps) == 1
    final = world.tasks._get(f"discovery/{done['run_id']}/final.json")
    assert final["best"]["id"] == reference["best"]["id"]


def test_discovery_failure_in_the_map_is_recorded_published_and_fails(world):
    # plan accepts a sample without an end; evaluate refuses it (each batch would see
    # different bars): a real library error raised inside the Distributed Map
    data = {k: v for k, v in DATA.items() if k not in ("start", "end")}
    done = world.start("discovery", {**DISCOVERY_REQUEST, "data": data})
    assert done["status"] == "FAILED" and done["error"] == "DiscoveryFailed"
    assert {c.error for c in world.local.calls_to("discovery-evaluate")} == {"DiscoveryError"}
    # AWS fails the Map at the first failed child (ToleratedFailurePercentage 0); moto ignores
    # tolerances and lets the Map finish, so there Reduce refuses the incomplete generation
    # with its own DiscoveryError. Either way the Catch sees a DiscoveryError.
    item = world.run_item(done["run_id"])
    assert item["status"] == "FAILED" and item["kind"] == "discovery"
    assert item["error"] == "DiscoveryError"
    assert "end time" in item["cause"] or "missing: g0-0" in item["cause"]
    (event,) = world.events()
    assert event["detail"]["kind"] == "discovery" and event["detail"]["status"] == "FAILED"
    assert event["detail"]["error"]["Error"] == "DiscoveryError"
