"""kill -9 at random points while runs go on: every run the API ever answered SUCCEEDED is
still there after the restart, with its results (the journal, tradpal.local.journal), and
every run the kill interrupted is ABORTED, not left RUNNING with no execution behind it."""

from __future__ import annotations

import json
import random
import time
import urllib.request

import pytest
from e2e.crashing import call, start, token

RUNS_PER_CYCLE = 12
WANT_SUCCEEDED = 50
MAX_CYCLES = 16


@pytest.mark.slow
def test_runs_answered_succeeded_survive_kill_9_at_any_moment(tmp_path):
    rng = random.Random(7)  # reproducible kill times
    succeeded: dict[str, dict] = {}  # run id -> the metrics the API answered
    unfinished: list[str] = []  # started, not seen SUCCEEDED before the kill
    tok = None
    for cycle in range(MAX_CYCLES):
        up = start(tmp_path)
        url = up.url
        try:
            tok = tok or token(tmp_path, ["read", "trade"])
            # everything answered SUCCEEDED before any kill is still there
            for run_id, metrics in succeeded.items():
                status, view = call(url, tok, "GET", f"/v1/backtests/{run_id}")
                assert status == 200 and view["status"] == "SUCCEEDED", (cycle, run_id, view)
                assert view["metrics"] == metrics
                with urllib.request.urlopen(view["links"]["result"], timeout=30) as result:
                    assert json.load(result)["metrics"] == metrics
            # a run the kill interrupted is ABORTED (a retry starts it again), never left
            # RUNNING with no execution behind it
            for run_id in unfinished:
                status, view = call(url, tok, "GET", f"/v1/backtests/{run_id}")
                assert status == 200 and view["status"] in ("SUCCEEDED", "ABORTED"), view
            unfinished.clear()
            if len(succeeded) >= WANT_SUCCEEDED:
                break
            started = []
            for i in range(RUNS_PER_CYCLE):
                fast = 5 + (cycle * RUNS_PER_CYCLE + i) % 20  # distinct runs
                body = {"strategy": "ema_crossover", "params": {"fast": fast, "slow": 60},
                        "data": {"symbol": "SYN/USD", "timeframe": "1h"}}  # fmt: skip
                # the route's throttle (2/s, burst 5): wait, as told
                status, accepted = call(url, tok, "POST", "/v1/backtests", body)
                assert status == 202, accepted
                started.append(accepted["run_id"])
            # The kill comes at a random moment while runs are in flight: after a random
            # number of this cycle's runs succeeded (the worker processes start with the
            # platform and take seconds to import, so a kill at a fixed time found none).
            enough, deadline = rng.randint(2, RUNS_PER_CYCLE - 2), time.monotonic() + 120
            done_now = 0
            while done_now < enough:
                assert time.monotonic() < deadline, f"cycle {cycle}: {done_now} runs in 120 s"
                for run_id in started:
                    if run_id in succeeded:
                        continue
                    status, view = call(url, tok, "GET", f"/v1/backtests/{run_id}")
                    if status == 200 and view["status"] == "SUCCEEDED":
                        succeeded[run_id] = view["metrics"]
                        done_now += 1
            time.sleep(rng.uniform(0.0, 0.5))
            unfinished.extend(r for r in started if r not in succeeded)
        finally:
            up.kill()
    assert len(succeeded) >= WANT_SUCCEEDED, f"only {len(succeeded)} runs succeeded"
