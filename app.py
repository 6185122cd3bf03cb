#!/usr/bin/env python3
"""CDK entry point: ``npx cdk synth`` / ``npx cdk deploy -c stage=prod``."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# The tradpal library lives in the layer's source tree; the CDK app imports its catalog.
sys.path.insert(0, str(ROOT / "layers" / "tradpal" / "python"))

from cdk.app import build_app  # noqa: E402

build_app().app.synth()
