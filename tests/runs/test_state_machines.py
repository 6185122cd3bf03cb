"""Both state machines executed under moto (server mode, in this process) with every Lambda
task running the real handlers (functions.<capability>.handler) through
tradpal.local.lambdas, against the platform's buckets, tables and bus.

Happy path equal to the library bit for bit, retry on a throttled task, and the Catch path
(the failure is recorded in the runs table, published as a FAILED backtest_complete, and the
execution fails) for each machine; the discovery runs through its Distributed Map over items
in S3 and must find what the library's own loop (run_discovery) finds, bit for bit."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config
from fakes.lambda_events import load_handler

from tradpal.discovery import run_discovery
from tradpal.events.schemas import BacktestComplete
from tradpal.local.lambdas import LambdaServiceError
from tradpal.local.machines import function_name
from tradpal.platform.results import ResultStore
from tradpal.reports import result_document
from tradpal.runs.backtest import backtest, checked, output_files
from tradpal.serialize import to_jsonable

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


class World(SimpleNamespace):
    def start(self, machine: str, request: dict) -> dict:
        name = f"{machine}-{uuid.uuid4().hex[:12]}"  # a unique name: moto's default collides
        arn = self.sfn.start_execution(
            stateMachineArn=self.env.state_machine_arn(machine),
            name=name,
            input=json.dumps(request),
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
        item = self.ddb.get_item(TableName=self.env.runs_table, Key={"run_id": {"S": run_id}}).get(
            "Item"
        )
        return None if item is None else {k: v.get("S", v.get("N")) for k, v in item.items()}

    def calls(self, capability: str, task: str | None = None) -> list:
        """Invocations of a capability's function (of one task, when given)."""
        calls = self.local.calls_to(function_name(self.env, capability))
        if task is None:
            return calls
        return [c for c in calls if _task(c.event) == task]


def assert_derivable(event: dict) -> None:
    """The event is what :mod:`tradpal.runs.completion` derives from the run's record and
    result (the local platform publishes that for a run a kill stopped before this did)."""
    from tradpal.events.publisher import event_source
    from tradpal.runs.completion import CAPABILITY, completion_detail
    from tradpal.runs.store import RunStore

    published = BacktestComplete.model_validate(event["detail"])
    derived = completion_detail(RunStore().get(published.run_id))
    assert BacktestComplete.model_validate(derived) == published
    assert event["source"] == event_source(CAPABILITY[published.kind])


def _task(event: dict) -> str | None:
    return (event.get("BatchInput") or {}).get("task") or event.get("task")


@pytest.fixture
def world(machines):
    sqs, ev = machines.client("sqs"), machines.client("events")
    bus = machines.env.event_bus  # moto's backends are per process: names unique per test
    queue = sqs.create_queue(QueueName=f"{bus}-complete")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    ev.put_rule(
        Name="complete",
        EventBusName=bus,
        EventPattern=json.dumps({"detail-type": ["backtest_complete"]}),
    )
    ev.put_targets(
        Rule="complete",
        EventBusName=bus,
        Targets=[{"Id": "q", "Arn": queue_arn["Attributes"]["QueueArn"]}],
    )
    return World(
        **vars(machines),
        sfn=machines.client("stepfunctions"),
        sqs=sqs,
        queue=queue,
        ddb=machines.client("dynamodb"),
        lam=machines.client("lambda"),
        results=ResultStore(machines.env.results_bucket),
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


def _handler(capability: str):
    return load_handler(capability).handler


# -- the dispatcher itself ------------------------------------------------------------------


def test_direct_invoke_runs_the_handler_and_reports_its_exception_as_a_function_error(world):
    name = function_name(world.env, "backtests")
    event = {"task": "validate", "run_id": "r1", "state": BACKTEST_REQUEST}
    ok = world.lam.invoke(FunctionName=name, Payload=json.dumps(event))
    assert "FunctionError" not in ok
    assert json.load(ok["Payload"]) == {"run_id": "r1", "request": checked(BACKTEST_REQUEST)}

    bad = world.lam.invoke(FunctionName=name, Payload=json.dumps({**event, "task": "nope"}))
    assert bad["FunctionError"] == "Unhandled"
    payload = json.load(bad["Payload"])
    assert payload["errorType"] == "ConfigError" and "'nope'" in payload["errorMessage"]
    world.local.register(name, flaky(_handler("backtests")))
    # a client that does not retry throttles itself (Step Functions' own client does not)
    once = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(once.exceptions.TooManyRequestsException):
        once.invoke(FunctionName=name, Payload=json.dumps(event))
    with pytest.raises(world.lam.exceptions.ResourceNotFoundException):
        world.lam.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert [c.outcome for c in world.local.calls] == ["ok", "function_error", "service_error"]


# -- backtest -------------------------------------------------------------------------------


def test_backtest_happy_path_stores_the_library_result_and_publishes(world):
    done = world.start("backtest", BACKTEST_REQUEST)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    run_id = done["run_id"]
    # the stored files are the library's, for the same request, bit for bit
    expected, frame = backtest(checked(BACKTEST_REQUEST))
    stored = world.results.get_json(f"backtests/{run_id}/result.json")
    assert stored == json.loads(json.dumps(result_document(expected.result, frame)))
    assert stored["metrics"]["num_trades"] > 0
    files = output_files(expected, frame)
    for name in ("trades.csv", "equity.csv", "result.json"):
        got = world.results.get_bytes(f"backtests/{run_id}/{name}")
        assert got == files[name.split(".")[0]]
    assert world.results.get_bytes(f"backtests/{run_id}/report.html").startswith(b"<!DOCTYPE")
    item = world.run_item(run_id)
    assert {k: item[k] for k in ("run_id", "kind", "status", "result_key")} == {
        "run_id": run_id,
        "kind": "backtest",
        "status": "SUCCEEDED",
        "result_key": f"backtests/{run_id}/result.json",
    }
    (event,) = world.events()
    assert event["detail-type"] == "backtest_complete" and event["source"] == "tradpal.backtests"
    detail = BacktestComplete.model_validate(event["detail"])
    assert detail.run_id == run_id and detail.status == "SUCCEEDED"
    assert detail.result["metrics"] == to_jsonable(expected.result.metrics.to_dict())
    assert_derivable(event)
    order = [_task(c.event) for c in world.calls("backtests")]
    assert order == ["validate", "ensure_data", "run", "store"]


def test_backtest_retries_a_transient_lambda_error_then_succeeds(world):
    name = function_name(world.env, "backtests")
    real = _handler("backtests")
    throttled = [False]

    def run_throttled_once(event, context):
        if event.get("task") == "run" and not throttled[0]:
            throttled[0] = True
            raise LambdaServiceError(TRANSIENT)
        return real(event, context)

    world.local.register(name, run_throttled_once)
    done = world.start("backtest", BACKTEST_REQUEST)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    outcomes = [c.outcome for c in world.calls("backtests", "run")]
    assert outcomes == ["service_error", "ok"]
    assert len(world.sleeps) == 1  # one backoff wait before the second attempt
    assert world.run_item(done["run_id"])["status"] == "SUCCEEDED"
    assert [e["detail"]["status"] for e in world.events()] == ["SUCCEEDED"]


def test_backtest_failure_is_recorded_published_and_fails_the_execution(world):
    done = world.start("backtest", {**BACKTEST_REQUEST, "strategy": "no_such_strategy"})
    assert done["status"] == "FAILED"
    assert done["error"] == "BacktestFailed"
    (validate,) = world.calls("backtests", "validate")
    assert validate.outcome == "function_error" and validate.error == "FieldError"
    assert world.calls("backtests", "run") == []  # nothing after the failed task ran
    item = world.run_item(done["run_id"])
    assert item["status"] == "FAILED" and item["error"] == validate.error
    assert item["kind"] == "backtest" and item["failed_at"]
    assert "no_such_strategy" in item["cause"]
    (event,) = world.events()
    detail = BacktestComplete.model_validate(event["detail"])
    assert detail.status == "FAILED" and detail.run_id == done["run_id"]
    assert detail.error.Error == validate.error
    assert_derivable(event)


def test_record_failure_updates_the_running_item_keeping_its_request(world):
    """The Catch's updateItem keeps what the API wrote (request, created_at)."""
    from tradpal.runs.store import RunRecord, RunStore

    runs = RunStore(world.env.runs_table)
    name = f"backtest-{uuid.uuid4().hex[:12]}"
    data = {**DATA, "source": "store", "symbol": "BTC/USDT"}  # nothing stored: StoreError
    request = {**BACKTEST_REQUEST, "data": data}
    runs.put(RunRecord(name, "backtest", "RUNNING", "2024-05-01T00:00:00.000Z", request=request))
    arn = world.sfn.start_execution(
        stateMachineArn=world.env.state_machine_arn("backtest"), name=name,
        input=json.dumps(request),
    )["executionArn"]  # fmt: skip
    for _ in range(2400):
        if world.sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
            break
        time.sleep(0.025)
    record = runs.get(name)
    assert record.status == "FAILED" and record.error == "StoreError"
    assert record.request == request and record.created_at == "2024-05-01T00:00:00.000Z"
    assert "BTC/USDT" in record.cause


# -- discovery ------------------------------------------------------------------------------


def _batch_sizes(world, run_id: str) -> list[int]:
    """The candidates in each Map item (a batch) of every generation of ``run_id``."""
    keys = world.results.list_keys(f"discovery/{run_id}/")
    items = [world.results.get_json(k) for k in keys if k.endswith("/items.json")]
    assert len(items) == DISCOVERY_REQUEST["generations"]
    return [len(batch["candidates"]) for generation in items for batch in generation]


@pytest.fixture(scope="module")
def reference():
    """The library's own loop on the same request: the state machine must agree."""
    return run_discovery(DISCOVERY_REQUEST, workers=1, batch_size=2)


def test_discovery_happy_path_matches_the_library_loop(world, reference):
    done = world.start("discovery", DISCOVERY_REQUEST)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    run_id = done["run_id"]
    final = world.results.get_json(f"discovery/{run_id}/final.json")
    assert final["done"] and final["generation"] == DISCOVERY_REQUEST["generations"]
    assert json.dumps(final["history"], sort_keys=True) == json.dumps(
        reference["history"], sort_keys=True
    )
    assert final["best"] == json.loads(json.dumps(reference["best"]))
    # one Map child per batch Plan or Reduce wrote (at most 2 candidates here); the elites
    # and repeated points are not re-evaluated: each distinct parameter set once
    sizes = _batch_sizes(world, run_id)
    assert max(sizes) == 2
    assert len(world.calls("discovery_evaluate")) == len(sizes)
    assert sum(sizes) == len(final["history"]) <= 4 + (4 - 1)
    assert len(world.calls("discovery", "reduce")) == 2  # the Choice looped once
    item = world.run_item(run_id)
    assert item["status"] == "SUCCEEDED" and item["result_key"] == f"discovery/{run_id}/final.json"
    (event,) = world.events()
    assert event["source"] == "tradpal.discovery" and event["detail"]["status"] == "SUCCEEDED"
    detail = BacktestComplete.model_validate(event["detail"])
    assert detail.best["id"] == reference["best"]["id"]
    assert_derivable(event)
    output = json.loads(done["output"])
    assert output["best"]["values"] == reference["best"]["values"]


def test_discovery_retries_a_throttled_evaluate(world, reference):
    name = function_name(world.env, "discovery_evaluate")
    world.local.register(name, flaky(_handler("discovery_evaluate")))
    done = world.start("discovery", DISCOVERY_REQUEST)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    outcomes = [c.outcome for c in world.calls("discovery_evaluate")]
    final = world.results.get_json(f"discovery/{done['run_id']}/final.json")
    assert outcomes.count("service_error") == 1
    assert outcomes.count("ok") == len(_batch_sizes(world, done["run_id"]))
    assert len(world.sleeps) == 1
    assert final["best"]["id"] == reference["best"]["id"]


def test_discovery_failure_in_the_map_is_recorded_published_and_fails(world, monkeypatch):
    # a Map child that crashes (not a library error, which the worker records for Reduce)
    import tradpal.discovery

    def crash(batch, *, frame=None):
        raise RuntimeError("the worker ran out of memory")

    monkeypatch.setattr(tradpal.discovery, "evaluate", crash)
    done = world.start("discovery", DISCOVERY_REQUEST)
    assert done["status"] == "FAILED" and done["error"] == "DiscoveryFailed"
    assert {c.outcome for c in world.calls("discovery_evaluate")} == {"function_error"}
    # AWS fails the Map at the first failed child (ToleratedFailurePercentage 0); moto ignores
    # tolerances and lets the Map finish, so there Reduce refuses the incomplete generation
    # with its own DiscoveryError, pointing at the worker's logs.
    item = world.run_item(done["run_id"])
    assert item["status"] == "FAILED" and item["kind"] == "discovery"
    assert item["error"] == "DiscoveryError"
    assert "have no result" in item["cause"] and "logs" in item["cause"]
    (event,) = world.events()
    detail = BacktestComplete.model_validate(event["detail"])
    assert detail.kind == "discovery" and detail.status == "FAILED"
    assert detail.error.Error == "DiscoveryError"
    assert_derivable(event)
