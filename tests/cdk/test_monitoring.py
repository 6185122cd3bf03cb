"""Monitoring stack: the dashboard covers API, Lambda, state machines, the stream and the DLQs;
alarms on each of them go to the encrypted SNS topic."""

from __future__ import annotations

import json

from tradpal.platform.catalog import CATALOG


def _alarms(synth) -> list[dict]:
    return [
        a["Properties"] for a in synth.resources("monitoring", "AWS::CloudWatch::Alarm").values()
    ]


def _by_metric(synth) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for alarm in _alarms(synth):
        out.setdefault((alarm["Namespace"], alarm["MetricName"]), []).append(alarm)
    return out


def test_every_alarm_notifies_the_topic(synth_dev):
    (topic_id,) = synth_dev.resources("monitoring", "AWS::SNS::Topic")
    alarms = _alarms(synth_dev)
    assert alarms
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmDescription"]


def test_alarms_on_what_matters(synth_dev):
    by_metric = _by_metric(synth_dev)
    n = len(CATALOG)
    assert len(by_metric[("AWS/Lambda", "Errors")]) == n
    assert len(by_metric[("AWS/Lambda", "Throttles")]) == n
    assert len(by_metric[("AWS/ApiGateway", "5xx")]) == 1
    assert len(by_metric[("AWS/States", "ExecutionsFailed")]) == 2
    (age,) = by_metric[("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds")]
    assert age["Statistic"] == "Maximum" and age["Threshold"] == 300_000
    dlqs = len(synth_dev.resources("functions", "AWS::SQS::Queue")) + len(
        synth_dev.resources("events", "AWS::SQS::Queue")
    )
    assert len(by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]) == dlqs


def test_dashboard_has_every_area(synth_dev):
    (dashboard,) = synth_dev.resources("monitoring", "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "API latency",
        "API errors",
        "Lambda errors",
        "Lambda throttles",
        "Lambda duration",
        "State machine failures",
        "iterator age",
        "Dead-letter queue depth",
    ):
        assert title in body, title


def test_topic_is_encrypted_and_prod_mails_the_operator(synth_dev, synth_prod):
    (topic,) = synth_dev.resources("monitoring", "AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]
    assert synth_dev.resources("monitoring", "AWS::SNS::Subscription") == {}
    (sub,) = synth_prod.resources("monitoring", "AWS::SNS::Subscription").values()
    assert sub["Properties"]["Protocol"] == "email"
    assert sub["Properties"]["Endpoint"] == "ops@example.com"
