"""Schemathesis's full run against a fresh local platform: every phase (examples, coverage,
fuzzing) and every check that applies to this API, with ST202 (schema-valid requests are
accepted) judged by :func:`fuzz_checks.schema_valid_requests_are_served`.

    .venv/bin/python tests/e2e/fuzz_acceptance.py [--max-examples N] [--seed S] [-- ARGS]

The defaults (100 examples per operation: about 1,800 cases, 1.5 minutes on 2 cores) find
what the issue's 4,319 cases found; ``--max-examples 400`` runs about 4,500 cases in 3
minutes. It starts the local platform in a temporary home (the offline sample ingested),
runs ``schemathesis run`` on the committed document with a token of every scope, and exits
with schemathesis's status (0: no failure). ``POST /v1/data/ingest`` is left out: it
downloads from live exchanges (tests/functions/data covers it against a fake exchange).
Left out as checks, as in tests/e2e/test_fuzz.py: ``positive_data_acceptance`` (replaced,
see fuzz_checks), ``unsupported_method`` (the gateway answers an undeclared method 404, as
API Gateway does), ``negative_data_rejection`` (unknown query parameters are ignored, as
API Gateway passes them on), and the stateful checks that need links the document does not
declare. The bounded version CI runs is tests/e2e/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "schema_valid_requests_are_served",
    "missing_required_header",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=100, help="per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-time", type=int, default=None, help="seconds, whole run")
    parser.add_argument("--workers", default="1", help="schemathesis workers (see below)")
    parser.add_argument("extra", nargs="*", help="more schemathesis arguments (after --)")
    args = parser.parse_args()

    from tradpal.local.platform import LocalPlatform
    from tradpal.platform.openapi import DOCUMENT_PATH

    with tempfile.TemporaryDirectory(prefix="tradpal-fuzz-") as home:
        platform = LocalPlatform(Path(home), port=0, run_schedules=False, throttle=False)
        started = platform.start()
        try:
            token = started.token(("read", "trade", "admin"))
            command = [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                str(DOCUMENT_PATH),
                "--url",
                started.url,
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                ",".join(CHECKS),
                "--exclude-path",
                "/v1/data/ingest",
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
                "--workers",
                args.workers,
                "--request-timeout",
                "120",
                "--suppress-health-check",
                "all",
                "--phases",
                "examples,coverage,fuzzing",
                "--generation-database",
                "none",
                "--continue-on-failure",
                "--no-color",
            ]
            if args.max_time:
                command += ["--max-time", str(args.max_time)]
            env = dict(os.environ, SCHEMATHESIS_HOOKS="fuzz_checks")
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, (str(Path(__file__).parent), env.get("PYTHONPATH")))
            )
            return subprocess.call([*command, *args.extra], cwd=ROOT, env=env)
        finally:
            started.stop()


if __name__ == "__main__":
    sys.exit(main())
