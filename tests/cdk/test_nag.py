"""The synthesized app passes cdk-nag's AwsSolutions (every acknowledgement with a real reason)
and cfn-lint (apart from CDK's own W3005)."""

from __future__ import annotations

import json

import pytest

GENERIC = {"", "n/a", "todo", "ok", "suppressed", "acknowledged", "not needed"}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_cdk_nag_reports_no_unacknowledged_finding(stage, request):
    synth = request.getfixturevalue(f"synth_{stage}")
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    violations = [v for p in report["pluginReports"] for v in p.get("violations", [])]
    assert violations == []


def test_every_acknowledgement_names_a_rule_and_gives_a_reason(synth_dev):
    acks = {}
    for path, entries in synth_dev.metadata().items():
        for entry in entries:
            if entry["type"] == "aws:cdk:acknowledged-rules":
                for rule, reason in entry["data"].items():
                    acks[(path, rule)] = reason
    assert acks, "cdk-nag acknowledgements are recorded in the assembly metadata"
    for (path, rule), reason in acks.items():
        assert "AwsSolutions-" in rule, (path, rule)
        assert reason.strip().lower() not in GENERIC and len(reason) >= 30, (path, rule, reason)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_cfn_lint_is_clean_apart_from_w3005(stage, request):
    from cfnlint.api import ManualArgs, lint_file

    synth = request.getfixturevalue(f"synth_{stage}")
    templates = sorted(synth.outdir.glob("*.template.json"))
    assert len(templates) == len(synth.templates)
    problems = []
    for path in templates:
        matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
        problems += [f"{path.name}: {m}" for m in matches if m.rule.id != "W3005"]
    assert problems == []
