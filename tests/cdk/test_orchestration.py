"""The Orchestration construct synthesized in a small stack of its own: both state machines
from the files, numbers rendered, every ARN and name substituted, logging ALL and tracing on,
least-privilege grants, and no unacknowledged cdk-nag finding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the cdk package lives at the repository root
    sys.path.insert(0, str(ROOT))

cdk = pytest.importorskip("aws_cdk")
from aws_cdk import aws_dynamodb as dynamodb  # noqa: E402
from aws_cdk import aws_events as events  # noqa: E402
from aws_cdk import aws_lambda as lambda_  # noqa: E402
from aws_cdk import aws_s3 as s3  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from cdk.nag import acknowledge  # noqa: E402
from cdk.orchestration import Orchestration  # noqa: E402
from tradpal.errors import ConfigError  # noqa: E402
from tradpal.platform.asl import TASK_PLACEHOLDERS  # noqa: E402

TASKS = [t for tasks in TASK_PLACEHOLDERS.values() for t in tasks.values()]


def _stack(tmp_path, **kw):
    app = cdk.App(outdir=str(tmp_path))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = cdk.Stack(app, "OrchestrationTest")
    bucket = s3.Bucket(stack, "Results", enforce_ssl=True)
    table = dynamodb.Table(
        stack,
        "Runs",
        partition_key=dynamodb.Attribute(name="run_id", type=dynamodb.AttributeType.STRING),
    )
    bus = events.EventBus(stack, "Bus", event_bus_name="tradpal-test")
    functions = {}
    for i, task in enumerate(TASKS):
        fn = lambda_.Function(
            stack, f"Fn{i}", runtime=lambda_.Runtime.PYTHON_3_13, handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"),
        )  # fmt: skip
        functions[task] = fn
    # the fixtures' own findings (not the construct's) are the stacks helper's business
    basic = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    for construct in (bucket, table, *functions.values()):
        for rule in ("S1", "S10", "DDB3", f"IAM4[Policy::{basic}]", "L1"):
            acknowledge(construct, rule, "test fixture, not part of the construct under test")
    orch = Orchestration(
        stack, "Orchestration", functions=functions, bus=bus, results_bucket=bucket,
        runs_table=table, names={"backtest": "t-backtest", "discovery": "t-discovery"}, **kw,
    )  # fmt: skip
    app.synth()  # cdk-nag findings fail here
    return stack, orch, functions


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("cdk")
    stack, _orch, functions = _stack(outdir, max_concurrency=500)
    return Template.from_stack(stack), stack, functions, outdir


def _machines(template):
    return template.find_resources("AWS::StepFunctions::StateMachine")


def test_both_machines_from_the_files_with_every_placeholder_substituted(synthesized):
    template, stack, functions, _ = synthesized
    machines = _machines(template)
    by_name = {m["Properties"]["StateMachineName"]: m["Properties"] for m in machines.values()}
    assert set(by_name) == {"t-backtest", "t-discovery"}
    for machine in ("backtest", "discovery"):
        props = by_name[f"t-{machine}"]
        assert "DefinitionSubstitutions" not in props
        parts = props["DefinitionString"]["Fn::Join"][1]
        text = "".join(p if isinstance(p, str) else "\u0000" for p in parts)
        assert "${" not in text  # every placeholder filled (cfn-lint E1029)
        refs = {p["Fn::GetAtt"][0] for p in parts if isinstance(p, dict) and "Fn::GetAtt" in p}
        tasks = TASK_PLACEHOLDERS[machine].values()
        assert {stack.get_logical_id(functions[t].node.default_child) for t in tasks} <= refs
        assert props["StateMachineType"] == "STANDARD"
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["Level"] == "ALL"
        assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    joined = by_name["t-discovery"]["DefinitionString"]["Fn::Join"][1]
    definition = json.loads("".join(p if isinstance(p, str) else "x" for p in joined))
    map_state = definition["States"]["EvaluateGeneration"]
    assert map_state["MaxConcurrency"] == 500
    # Plan cuts the batches (moto cannot run an ItemBatcher): the size travels in its payload
    assert "ItemBatcher" not in map_state
    assert definition["States"]["Plan"]["Parameters"]["Payload"]["state"]["batch_size"] == 10
    assert map_state["ItemSelector"]["Items.$"] == "$$.Map.Item.Value.candidates"
    assert map_state["ToleratedFailurePercentage"] == 0.0
    assert map_state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"


def test_each_role_invokes_only_its_own_tasks(synthesized):
    template, stack, functions, _ = synthesized
    fn_ids = {task: stack.get_logical_id(fn.node.default_child) for task, fn in functions.items()}
    machines = _machines(template)
    policies = template.find_resources("AWS::IAM::Policy")
    for props in (m["Properties"] for m in machines.values()):
        machine = props["StateMachineName"].removeprefix("t-")
        role = props["RoleArn"]["Fn::GetAtt"][0]
        (policy,) = [p for p in policies.values() if {"Ref": role} in p["Properties"]["Roles"]]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        invoked = set()
        for st in statements:
            if st["Action"] == "lambda:InvokeFunction":
                invoked |= {res["Fn::GetAtt"][0] for res in st["Resource"]}
        expected = {fn_ids[t] for t in TASK_PLACEHOLDERS[machine].values()}
        assert invoked == expected
        actions = {
            a
            for st in statements
            for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        }
        assert "events:PutEvents" in actions and "dynamodb:UpdateItem" in actions
        assert ("states:StartExecution" in actions) == (machine == "discovery")


def test_a_missing_task_function_is_a_clear_error(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bad")
    bucket = s3.Bucket(stack, "B")
    table = dynamodb.Table(
        stack,
        "T",
        partition_key=dynamodb.Attribute(name="run_id", type=dynamodb.AttributeType.STRING),
    )
    bus = events.EventBus(stack, "E")
    with pytest.raises(ConfigError, match=r"discovery\.evaluate"):
        Orchestration(stack, "O", functions={}, bus=bus, results_bucket=bucket, runs_table=table)


def test_cfn_lint_finds_nothing_but_cdks_own_w3005(synthesized):
    outdir = synthesized[3]
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run(
        [str(cfn_lint), "--ignore-checks", "W3005", "--",
         str(outdir / "OrchestrationTest.template.json")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
