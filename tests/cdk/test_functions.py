"""Functions stack: one Lambda per catalog capability with its handler, size, packaging,
Powertools environment, tracing, concurrency and failure destinations."""

from __future__ import annotations

from tradpal.platform.catalog import CATALOG, DEPLOYED_STRATEGY_DIR
from tradpal.platform.topology import TOPOLOGY


def _by_service(synth) -> dict[str, dict]:
    out = {}
    for fn in synth.resources("functions", "AWS::Lambda::Function").values():
        env = fn["Properties"]["Environment"]["Variables"]
        if "POWERTOOLS_SERVICE_NAME" in env:
            out[env["POWERTOOLS_SERVICE_NAME"]] = fn["Properties"]
    return out


def test_one_function_per_capability_as_the_catalog_says(synth_dev):
    functions = _by_service(synth_dev)
    assert set(functions) == set(CATALOG.names)
    for cap in CATALOG:
        props = functions[cap.name]
        assert props["MemorySize"] == cap.memory_mb
        assert props["Timeout"] == cap.timeout_s
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Architectures"] == ["x86_64"]
        assert props.get("ReservedConcurrentExecutions") == cap.reserved_concurrency
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "TradPal"
        assert env["LOG_LEVEL"] == "INFO"
        assert env["TRADPAL_STAGE"] == "dev"
        # the variables of exactly the resources the catalog grants it, as locally
        granted = {TOPOLOGY.get(k).env_var for k in cap.resource_keys()}
        own = {"TRADPAL_STAGE", "TRADPAL_STRATEGY_DIRS"}
        assert {k for k in env if k.startswith("TRADPAL_")} - own == granted
        # the deployed strategies: always in an image; in the layer once it is built
        # (these tests synthesise from the source tree)
        wants = cap.strategies and cap.packaging == "image"
        assert env.get("TRADPAL_STRATEGY_DIRS") == (DEPLOYED_STRATEGY_DIR if wants else None)
        if "TRADPAL_EVENT_BUS" in granted:
            assert env["TRADPAL_EVENT_BUS"] == "tradpal-dev"
        if cap.packaging == "image":
            assert props["PackageType"] == "Image"
            assert props["ImageConfig"]["Command"] == [cap.handler]
            assert "Layers" not in props
        else:
            assert props["Handler"] == cap.handler
            assert props["Runtime"] == "python3.12"
            assert props["Layers"] == [{"Ref": _layer_id(synth_dev)}]


def _layer_id(synth) -> str:
    (layer_id,) = synth.resources("functions", "AWS::Lambda::LayerVersion")
    return layer_id


def test_async_capabilities_send_failures_to_a_queue(synth_dev):
    configs = synth_dev.resources("functions", "AWS::Lambda::EventInvokeConfig")
    queues = synth_dev.resources("functions", "AWS::SQS::Queue")
    async_caps = [c.name for c in CATALOG if c.is_async]
    assert async_caps and len(configs) == len(async_caps)
    for config in configs.values():
        props = config["Properties"]
        assert props["MaximumRetryAttempts"] == TOPOLOGY.delivery.async_retries
        target = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        assert target in queues


def test_run_starters_may_start_only_their_state_machine(synth_dev):
    functions = _by_service(synth_dev)
    backtests = functions["backtests"]["Environment"]["Variables"]
    assert "TRADPAL_BACKTEST_STATE_MACHINE" in backtests
    assert "TRADPAL_DISCOVERY_STATE_MACHINE" not in backtests
    policies = synth_dev.resources("functions", "AWS::IAM::Policy")
    starts = []
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Action"] == "states:StartExecution":
                starts.append(str(statement["Resource"]))
    assert len(starts) == 2
    assert any("stateMachine:tradpal-dev-backtest" in s for s in starts)
    assert any("stateMachine:tradpal-dev-discovery" in s for s in starts)


def test_health_may_only_describe_what_it_checks(synth_dev):
    policies = synth_dev.resources("functions", "AWS::IAM::Policy")
    for policy in policies.values():
        roles = [r["Ref"] for r in policy["Properties"]["Roles"]]
        if any(r.startswith("HealthServiceRole") for r in roles):
            actions = {
                a
                for s in policy["Properties"]["PolicyDocument"]["Statement"]
                for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
            }
            # is each resource there: never a read or write of data
            assert actions <= {
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "s3:ListBucket",
                "dynamodb:DescribeTable",
                "events:DescribeEventBus",
                "kinesis:DescribeStreamSummary",
                "secretsmanager:DescribeSecret",
                "states:DescribeStateMachine",
            }


def test_the_built_layer_keeps_its_bytecode_and_the_source_tree_does_not():
    """scripts/build_lambda.py compiles the layer's bytecode for the runtime's Python (Lambda
    cannot write it: /opt is read-only); the source tree's is this machine's, left out."""
    from cdk.functions import ROOT, layer_exclude

    assert "**/__pycache__" not in layer_exclude(ROOT / "build" / "layer")
    assert "**/*.pyc" not in layer_exclude(ROOT / "build" / "layer")
    source = layer_exclude(ROOT / "layers" / "tradpal")
    assert {"**/__pycache__", "**/*.pyc"} <= set(source)
