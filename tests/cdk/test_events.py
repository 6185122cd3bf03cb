"""Events stack: the bus and its archive, a rule per catalog consumer, the catalog's schedules,
the encrypted market-data stream and its consumers with partial batch failure reporting."""

from __future__ import annotations

import json

from tradpal.platform.catalog import CATALOG


def _function_ids(synth) -> dict[str, str]:
    out = {}
    for fid, fn in synth.resources("functions", "AWS::Lambda::Function").items():
        env = fn["Properties"]["Environment"]["Variables"]
        if "POWERTOOLS_SERVICE_NAME" in env:
            out[env["POWERTOOLS_SERVICE_NAME"]] = fid
    return out


def _target_function(synth, target: dict) -> str:
    """The capability a rule target's Arn (an import of the function's Arn) points at."""
    imported = target["Arn"]["Fn::ImportValue"]
    for name, fid in _function_ids(synth).items():
        if fid in imported:
            return name
    raise AssertionError(f"target {imported} is no catalog function")


def test_bus_and_archive_of_every_tradpal_event(synth_dev):
    template = synth_dev.template("events")
    template.has_resource_properties("AWS::Events::EventBus", {"Name": "tradpal-dev"})
    (archive,) = synth_dev.resources("events", "AWS::Events::Archive").values()
    assert archive["Properties"]["EventPattern"] == {"source": [{"prefix": "tradpal."}]}
    assert archive["Properties"]["RetentionDays"] == 30


def test_a_rule_per_catalog_consumer_with_its_pattern_and_a_dlq(synth_dev):
    rules = synth_dev.resources("events", "AWS::Events::Rule")
    pattern_rules = [r["Properties"] for r in rules.values() if "EventPattern" in r["Properties"]]
    expected = [(c.name, rule.pattern()) for c in CATALOG for rule in c.consumes]
    got = []
    for props in pattern_rules:
        (bus_id,) = synth_dev.resources("events", "AWS::Events::EventBus")
        assert props["EventBusName"] == {"Ref": bus_id}
        (target,) = props["Targets"]
        assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 3
        got.append((_target_function(synth_dev, target), props["EventPattern"]))
    canon = lambda pairs: sorted(json.dumps(p, sort_keys=True) for p in pairs)  # noqa: E731
    assert canon(got) == canon(expected)


def test_the_catalog_schedules_run_with_their_input(synth_dev):
    rules = synth_dev.resources("events", "AWS::Events::Rule")
    scheduled = [r["Properties"] for r in rules.values() if "ScheduleExpression" in r["Properties"]]
    expected = [(c.name, s) for c in CATALOG for s in c.schedules]
    assert len(scheduled) == len(expected)
    for name, schedule in expected:
        (props,) = [p for p in scheduled if schedule.name in p["Description"]]
        assert props["ScheduleExpression"] == schedule.expression
        (target,) = props["Targets"]
        assert _target_function(synth_dev, target) == name
        assert json.loads(target["Input"]) == dict(schedule.input)


def test_market_stream_is_encrypted_and_consumed_with_partial_batch_failures(synth_dev):
    template = synth_dev.template("events")
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "Name": "tradpal-dev-market-data",
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
        },
    )
    mappings = synth_dev.resources("events", "AWS::Lambda::EventSourceMapping")
    consumers = [(c, s) for c in CATALOG for s in c.streams]
    assert consumers and len(mappings) == len(consumers)
    for mapping in mappings.values():
        props = mapping["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["BisectBatchOnFunctionError"] is True
        assert props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::ImportValue"]
        (_cap, consumer) = consumers[0]
        assert props["BatchSize"] == consumer.batch_size
        assert props["MaximumRetryAttempts"] == consumer.max_retry_attempts
        assert props["StartingPosition"] == consumer.starting_position


def test_prod_keeps_a_year_of_events(synth_prod):
    (archive,) = synth_prod.resources("events", "AWS::Events::Archive").values()
    assert archive["Properties"]["RetentionDays"] == 365
    synth_prod.template("events").has_resource_properties(
        "AWS::Events::EventBus", {"Name": "tradpal"}
    )
