"""``cdk synth`` with the CDK CLI pinned in package.json works offline from the repository root
(cdk.json runs app.py), for both stages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "node_modules" / ".bin" / "cdk"


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_pinned_cli_synthesizes_every_stack(stage, tmp_path):
    if not CLI.exists() or shutil.which("node") is None:
        pytest.skip("the pinned CDK CLI is not installed (run `npm ci` at the repository root)")
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["aws-cdk"]
    installed = json.loads((ROOT / "node_modules" / "aws-cdk" / "package.json").read_text())
    assert installed["version"] == pinned == "2.1148.1"
    env = {**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    result = subprocess.run(
        [str(CLI), "synth", "-q", "-o", str(tmp_path), "-c", f"stage={stage}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    prefix = "Tradpal" if stage == "prod" else "TradpalDev"
    names = {p.name for p in tmp_path.glob("*.template.json")}
    roles = ("Data", "Functions", "Events", "Orchestration", "Api", "Monitoring")
    assert names == {f"{prefix}{r}.template.json" for r in roles}
