"""Discovery: 10,000 confluence candidates over 10,000 bars, 2 workers against 1, the cost
per candidate against one plain backtest, and the duration and peak memory of one batch.

* Search: ``run_discovery`` with the random method, 10,000 candidates of ``confluence``
  (strategy and risk parameters), 10,000 seeded synthetic 1h bars (the ``sample`` data
  reference, pinned), default validation (holdout 0.25, 4 walk-forward folds), batches
  of ``BATCH`` candidates, once with ``workers=1`` (in process) and once with
  ``workers=2`` (a fork pool). Both runs must give the same state; speedup = t1 / t2.
* Reference: one plain ``backtest_strategy`` (signals from scratch, the full
  ``run_backtest`` with metrics) over the same 10,000 bars, for ``REF_RUNS``
  candidates of the same space; cost ratio = (t1 / candidates) / (reference per run).
* One batch as a Lambda would run it: a fresh Python process reads a batch of N
  candidates as JSON, imports the library, loads the data, evaluates and answers JSON;
  measured: the wall time of the whole process, the evaluation alone, and the peak
  resident memory (``VmHWM`` of that process).

Run: .venv/bin/python benchmarks/bench_discovery.py [n_candidates]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

N_CANDIDATES = 10_000
N_BARS = 10_000
BATCH = 100
REF_RUNS = 200
LAMBDA_BATCHES = (50, 100)
START = "2024-01-01T00:00:00+00:00"
ROOT = Path(__file__).resolve().parents[1]


def data_ref() -> dict:
    import pandas as pd

    start = pd.Timestamp(START)
    end = start + pd.Timedelta(hours=N_BARS)
    return {"source": "sample", "timeframe": "1h", "start": START, "end": end.isoformat()}


def request(n: int) -> dict:
    return {
        "strategy": "confluence",
        "method": "random",
        "objectives": ["sharpe"],
        "n_candidates": n,
        "seed": 7,
        "min_trades": 10,
        "data": data_ref(),
        "validation": {"holdout": 0.25, "folds": 4},
        "risk": True,
    }


def plain_backtest_seconds(n: int) -> float:
    """Mean seconds of one plain backtest_strategy run over the bars, per candidate."""
    import dataclasses

    from tradpal.backtest.strategy_run import backtest_strategy, config_for
    from tradpal.discovery.evaluate import load_batch_frame
    from tradpal.discovery.search_space import SearchSpace

    frame = load_batch_frame(data_ref())
    space = SearchSpace.for_strategy("confluence")
    base = config_for("1h")
    runs = []
    for c in space.space.sample(n, seed=11):
        params, overrides = space.split(c)
        runs.append((params, dataclasses.replace(base, **overrides)))
    backtest_strategy(frame, "confluence", runs[0][0], runs[0][1])  # warm caches/imports
    t0 = time.perf_counter()
    for params, cfg in runs:
        backtest_strategy(frame, "confluence", params, cfg)
    return (time.perf_counter() - t0) / n


_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
text = sys.stdin.read()
from tradpal.discovery.runner import evaluate_json
from tradpal.discovery.evaluate import evaluate, load_batch_frame
batch = json.loads(text)
frame = load_batch_frame(batch["data"])
t1 = time.perf_counter()
out = json.dumps(evaluate(batch, frame=frame), allow_nan=False)
t2 = time.perf_counter()
hwm = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1]) * 1024
print(json.dumps({"total_s": t2 - t0, "setup_s": t1 - t0, "evaluate_s": t2 - t1,
                  "vmhwm_bytes": hwm, "in_bytes": len(text), "out_bytes": len(out)}))
"""


def one_batch(n: int) -> dict:
    """A fresh process evaluating one batch of ``n`` candidates (as a Lambda would)."""
    from tradpal.discovery.search_space import SearchSpace

    space = SearchSpace.for_strategy("confluence")
    cands = [{"id": f"g0-{i}", "params": p} for i, p in enumerate(space.space.sample(n, seed=5))]
    batch = {**request(n), "batch_id": "b0", "generation": 0, "candidates": cands}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(n_candidates: int = N_CANDIDATES) -> dict:
    from tradpal.discovery.runner import run_discovery

    req = request(n_candidates)
    t0 = time.perf_counter()
    one = run_discovery(req, workers=1, batch_size=BATCH)
    t1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    two = run_discovery(req, workers=2, batch_size=BATCH)
    t2 = time.perf_counter() - t0
    same = json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    ref = plain_backtest_seconds(REF_RUNS)
    per_candidate = t1 / n_candidates
    batches = {str(n): one_batch(n) for n in LAMBDA_BATCHES}
    print(f"discovery: {n_candidates} confluence candidates (random), {N_BARS} bars, "
          f"holdout 0.25, 4 folds, batches of {BATCH}")  # fmt: skip
    print(f"1 worker {t1:.2f} s, 2 workers {t2:.2f} s: speedup {t1 / t2:.2f}x (target >= 1.8)")
    print(f"identical results: {same}")
    print(f"per candidate {per_candidate * 1e3:.2f} ms; one plain backtest {ref * 1e3:.2f} ms; "
          f"ratio {per_candidate / ref:.2f} (target <= 2)")  # fmt: skip
    for n, b in batches.items():
        mib, kb = b["vmhwm_bytes"] / 2**20, b["out_bytes"] / 1024
        print(f"one batch of {n} in a fresh process: {b['total_s']:.2f} s "
              f"(import+load {b['setup_s']:.2f} s, evaluate {b['evaluate_s']:.2f} s), "
              f"VmHWM {mib:.0f} MiB, answer {kb:.0f} KB")  # fmt: skip
    return {
        "candidates": n_candidates,
        "bars": N_BARS,
        "batch_size": BATCH,
        "workers1_s": t1,
        "workers2_s": t2,
        "speedup": t1 / t2,
        "identical": same,
        "per_candidate_s": per_candidate,
        "plain_backtest_s": ref,
        "cost_ratio": per_candidate / ref,
        "batches": batches,
    }


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else N_CANDIDATES)
