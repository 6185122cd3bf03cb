"""Orchestration in the whole app: both state machines under the names the run starters are
granted, every Lambda task wired to the catalog function providing it, the Distributed Map,
logging and tracing."""

from __future__ import annotations

import json

from tradpal.platform.catalog import CATALOG


def _machines(synth) -> dict[str, dict]:
    return {
        m["Properties"]["StateMachineName"]: m["Properties"]
        for m in synth.resources("orchestration", "AWS::StepFunctions::StateMachine").values()
    }


def _definition(props: dict) -> tuple[dict, dict[str, object]]:
    """The definition as JSON, each deploy-time token replaced by a marker string."""
    tokens: dict[str, object] = {}
    text = ""
    for part in props["DefinitionString"]["Fn::Join"][1]:
        if isinstance(part, str):
            text += part
        else:
            marker = f"@@token{len(tokens)}@@"
            tokens[marker] = part
            text += marker
    return json.loads(text), tokens


def _states(definition: dict):
    for name, state in definition["States"].items():
        yield name, state
        if state["Type"] == "Map":
            yield from _states(state.get("ItemProcessor") or state["Iterator"])


def _function_of(synth, token: object) -> str:
    imported = json.dumps(token)
    for fid, fn in synth.resources("functions", "AWS::Lambda::Function").items():
        if fid in imported:
            return fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    raise AssertionError(imported)


def test_machines_named_as_the_run_starters_expect_with_logging_and_tracing(synth_dev):
    machines = _machines(synth_dev)
    assert set(machines) == {"tradpal-dev-backtest", "tradpal-dev-discovery"}
    for props in machines.values():
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["Level"] == "ALL"
        assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
        assert props["StateMachineType"] == "STANDARD"


def test_every_lambda_task_invokes_the_catalog_function_providing_it(synth_dev):
    invoked = set()
    for props in _machines(synth_dev).values():
        definition, tokens = _definition(props)
        for _, state in _states(definition):
            if state.get("Resource") == "arn:aws:states:::lambda:invoke":
                invoked.add(_function_of(synth_dev, tokens[state["Parameters"]["FunctionName"]]))
    assert invoked == {c.name for c in CATALOG if c.sfn_tasks}


def test_discovery_fans_out_with_a_distributed_map_over_s3_items(synth_dev):
    definition, _ = _definition(_machines(synth_dev)["tradpal-dev-discovery"])
    maps = [s for _, s in _states(definition) if s["Type"] == "Map"]
    (fan_out,) = maps
    assert fan_out["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert fan_out["ItemReader"]["Resource"].startswith("arn:aws:states:::s3:getObject")
    assert fan_out["ItemSelector"]["BatchInput"]["task"] == "evaluate"  # one child per batch
    assert fan_out["MaxConcurrency"] == 1000
    assert isinstance(fan_out["ToleratedFailurePercentage"], float)
