"""discovery.json, pareto.csv and report.html from a search state (synthetic results)."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from tradpal.discovery import plan, reduce
from tradpal.discovery.report import (
    parameter_importance,
    pareto_entries,
    write_discovery_outputs,
)


def _run(objectives, fn):
    req = {"strategy": "ema_crossover", "method": "genetic", "risk": False, "population": 10,
           "generations": 3, "seed": 3, "objectives": objectives,
           "data": {"source": "sample", "end": "2024-01-01"}}  # fmt: skip
    state = plan(req)
    while not state["done"]:
        res = [{"id": c["id"], "values": fn(c["params"]), "num_trades": 12,
                "is": {"sharpe": 1.0, "num_trades": 12}, "oos": {"sharpe": 0.5, "num_trades": 3}}
               for c in state["candidates"]]  # fmt: skip
        state = reduce(state, res)
    return state


def test_importance_is_spearman_of_each_param_with_the_score():
    state = _run(["sharpe"], lambda p: [float(p["fast"])])  # the score is fast itself
    imp = parameter_importance(state)
    assert math.isclose(imp["fast"], 1.0, rel_tol=1e-12)
    rows = [e for e in state["history"] if e["values"] is not None]
    slow = np.array([e["params"]["slow"] for e in rows], dtype=float)
    fast = np.array([e["params"]["fast"] for e in rows], dtype=float)

    def ranks(x):  # average ranks, computed independently of pandas
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(1, len(x) + 1)
        for v in np.unique(x):
            r[x == v] = r[x == v].mean()
        return r

    assert math.isclose(imp["slow"], np.corrcoef(ranks(slow), ranks(fast))[0, 1], rel_tol=1e-12)


def test_outputs_are_written_and_readable(tmp_path):
    state = _run(["sharpe", "total_return"], lambda p: [float(p["fast"]), -float(p["slow"])])
    paths = write_discovery_outputs(state, tmp_path / "out")
    assert set(paths) == {"discovery.json", "report.html", "pareto.csv"}
    assert json.loads(paths["discovery.json"].read_text()) == json.loads(json.dumps(state))
    rows = list(csv.DictReader(io.StringIO(paths["pareto.csv"].read_text())))
    front = pareto_entries(state)
    assert [r["id"] for r in rows] == [e["id"] for e in front] and rows
    for r in rows:  # nobody in the history dominates a front member
        a = (float(r["sharpe"]), float(r["total_return"]))
        for e in state["history"]:
            b = e["values"]
            assert not (b[0] >= a[0] and b[1] >= a[1] and (b[0] > a[0] or b[1] > a[1]))
    html = paths["report.html"].read_text()
    assert "data-figure='convergence'" in html and "data-figure='importance'" in html
    assert "Pareto front" in html and "out of sample (held out)" in html
    assert "<script src=" not in html  # offline: plotly is inline


def test_single_objective_writes_no_pareto_csv(tmp_path):
    state = _run(["sharpe"], lambda p: [float(p["fast"])])
    assert set(write_discovery_outputs(state, tmp_path)) == {"discovery.json", "report.html"}
