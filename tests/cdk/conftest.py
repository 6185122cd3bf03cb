"""The CDK app, synthesized once per pytest session (jsii start-up and synthesis cost seconds)
and shared by the infrastructure tests, for each stage."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the `cdk` package lives at the repository root

pytest.importorskip("aws_cdk")


@dataclass(frozen=True)
class Synthesized:
    """One synthesized app: its stacks' templates by role and the cloud assembly directory."""

    built: Any  # cdk.app.TradpalApp
    outdir: Path
    templates: dict[str, dict]

    def template(self, role: str):
        """``aws_cdk.assertions.Template`` of the stack with ``role`` ("data", "events", ...)."""
        from aws_cdk.assertions import Template

        return Template.from_json(self.templates[role])

    def resources(self, role: str, type_: str) -> dict[str, dict]:
        """Logical id -> resource of CloudFormation type ``type_`` in stack ``role``."""
        return {k: v for k, v in self.templates[role]["Resources"].items() if v["Type"] == type_}

    def metadata(self) -> dict[str, list[dict]]:
        """Construct path -> metadata entries, across the whole assembly."""
        out: dict[str, list[dict]] = {}
        manifest = json.loads((self.outdir / "manifest.json").read_text())
        for artifact in manifest["artifacts"].values():
            for path, entries in (artifact.get("metadata") or {}).items():
                out.setdefault(path, []).extend(entries)
        for extra in self.outdir.glob("*.metadata.json"):
            for path, entries in json.loads(extra.read_text()).items():
                out.setdefault(path, []).extend(entries)
        return out


def _synthesize(outdir: Path, context: dict[str, Any]) -> Synthesized:
    from cdk.app import build_app

    built = build_app(context, outdir=str(outdir))
    assembly = built.app.synth()  # cdk-nag findings fail the synth here
    templates = {
        role: assembly.get_stack_by_name(stack.stack_name).template
        for role, stack in built.stacks_by_role.items()
    }
    return Synthesized(built=built, outdir=outdir, templates=templates)


@pytest.fixture(scope="session")
def synth_dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app as ``cdk synth`` (stage dev, Cognito authorizer)."""
    return _synthesize(tmp_path_factory.mktemp("cdk-dev"), {"stage": "dev"})


@pytest.fixture(scope="session")
def synth_prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app as ``cdk synth -c stage=prod`` with an external OIDC issuer, an alarm e-mail
    and a custom domain."""
    return _synthesize(
        tmp_path_factory.mktemp("cdk-prod"),
        {
            "stage": "prod",
            "oidc_issuer": "https://login.example.com/",
            "oidc_audience": "tradpal-api",
            "alarm_email": "ops@example.com",
            "domain_name": "api.example.com",
            "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc-123",
        },
    )
