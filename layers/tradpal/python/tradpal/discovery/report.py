"""A finished discovery's files: discovery.json, pareto.csv and report.html.

* ``discovery.json``: the final state as strict JSON (:func:`tradpal.serialize.dumps`).
* ``pareto.csv``: with several objectives, the non-dominated eligible candidates
  (``id``, ``generation``, one column per objective, then the params).
* ``report.html`` (offline plotly): convergence by generation (best, median and best
  so far of the first objective), parameter importance (Spearman rank correlation of
  each numeric param with the first objective over the eligible candidates), the best
  candidate's in-sample and out-of-sample metrics side by side and, when the best entry
  carries ``oos_equity`` (``{"time": [...], "equity": [...]}``), its out-of-sample equity.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tradpal.errors import DiscoveryError
from tradpal.files import replace_file
from tradpal.optimize.objectives import pareto_front
from tradpal.reports.html import (
    METRIC_LABELS,
    figure_block,
    format_metric,
    key_value_table,
    page,
    records_table,
)
from tradpal.serialize import dumps


def _eligible(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [e for e in state.get("history") or [] if e.get("values") is not None]


def _objectives(state: Mapping[str, Any]) -> list[str]:
    return list(state["request"]["objectives"])


def parameter_importance(state: Mapping[str, Any]) -> dict[str, float]:
    """Spearman's rank correlation (average ranks for ties) of each numeric param with
    the first objective over the eligible candidates, by param; NaN where a param or
    the score does not vary or fewer than 3 candidates are eligible."""
    rows = _eligible(state)
    names = [p["name"] for p in state["space"]["space"]["params"] if p["kind"] in ("int", "float")]
    out: dict[str, float] = {}
    if len(rows) < 3:
        return dict.fromkeys(names, math.nan)
    score = pd.Series([e["values"][0] for e in rows], dtype=np.float64).rank().to_numpy()
    for name in names:
        x = pd.Series([e["params"][name] for e in rows], dtype=np.float64).rank().to_numpy()
        if x.std() == 0 or score.std() == 0:
            out[name] = math.nan
        else:
            out[name] = float(np.corrcoef(x, score)[0, 1])
    return out


def pareto_entries(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The non-dominated eligible candidates (empty with a single objective)."""
    if len(_objectives(state)) < 2:
        return []
    rows = _eligible(state)
    if not rows:
        return []
    front = pareto_front(np.array([e["values"] for e in rows], dtype=np.float64))
    return [rows[int(i)] for i in front]


def pareto_csv(state: Mapping[str, Any]) -> str:
    """``pareto.csv``'s text (header only when there is no front)."""
    names = [p["name"] for p in state["space"]["space"]["params"]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "generation", *_objectives(state), *names])
    for e in pareto_entries(state):
        w.writerow(
            [e["id"], e["generation"], *map(repr, e["values"]), *(e["params"][n] for n in names)]
        )
    return buf.getvalue()


def _convergence_figure(state: Mapping[str, Any]) -> go.Figure:
    summary = state.get("summary") or []
    gens = [s["generation"] for s in summary]
    fig = go.Figure()
    for key, label in (("best", "best"), ("median", "median"), ("best_so_far", "best so far")):
        fig.add_trace(
            go.Scatter(x=gens, y=[s[key] for s in summary], mode="lines+markers", name=label)
        )
    obj = _objectives(state)[0]
    fig.update_layout(
        title="Convergence",
        xaxis_title="generation",
        yaxis_title=obj,
        template="plotly_white",
        height=360,
    )
    return fig


def _importance_figure(importance: Mapping[str, float]) -> go.Figure:
    items = [(k, v) for k, v in importance.items() if not math.isnan(v)]
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h"))
    fig.update_layout(
        title="Parameter importance (Spearman correlation with the score)",
        xaxis_range=[-1, 1],
        template="plotly_white",
        height=120 + 30 * len(items),
    )
    return fig


def _equity_figure(equity: Mapping[str, Any]) -> go.Figure:
    fig = go.Figure(
        go.Scatter(x=list(equity["time"]), y=list(equity["equity"]), mode="lines", name="equity")
    )
    fig.update_layout(
        title="Best candidate: out-of-sample equity", template="plotly_white", height=360
    )
    return fig


def discovery_report_html(state: Mapping[str, Any]) -> str:
    """The offline HTML report of a discovery state (module docstring)."""
    if not isinstance(state, Mapping) or "request" not in state or "space" not in state:
        raise DiscoveryError("not a discovery state", hint="pass the state run_discovery returned")
    req = state["request"]
    parts = [
        "<h2>Search</h2>",
        key_value_table(
            {
                k: req[k]
                for k in (
                    "strategy",
                    "method",
                    "objectives",
                    "population",
                    "generations",
                    "seed",
                    "min_trades",
                )
                if k in req
            }
        ),
        f"<p>{len(state.get('history') or [])} candidates evaluated, "
        f"{len(_eligible(state))} eligible.</p>",
        figure_block(_convergence_figure(state), "convergence"),
    ]
    importance = parameter_importance(state)
    parts.append(figure_block(_importance_figure(importance), "importance"))
    best = state.get("best")
    if best:
        parts.append("<h2>Best candidate</h2>")
        parts.append(key_value_table({"id": best["id"], **best["params"]}))
        dsr = best.get("deflated_sharpe")
        if isinstance(dsr, int | float):
            parts.append(
                f"<p>Deflated Sharpe ratio: {dsr:.4f} (probability that the edge is real)</p>"
            )
        ins, oos = best.get("is") or {}, best.get("oos") or {}
        if ins or oos:
            keys = list(dict.fromkeys([*ins, *oos]))
            parts.append(
                records_table(
                    ["metric", "in sample (search span)", "out of sample (held out)"],
                    [
                        [
                            METRIC_LABELS.get(k, k),
                            format_metric(k, ins.get(k)),
                            format_metric(k, oos.get(k)),
                        ]
                        for k in keys
                    ],
                )
            )
        if best.get("oos_equity"):
            parts.append(figure_block(_equity_figure(best["oos_equity"]), "oos-equity"))
    front = pareto_entries(state)
    if front:
        objs = _objectives(state)
        parts.append("<h2>Pareto front</h2>")
        parts.append(records_table(["id", *objs], [[e["id"], *e["values"]] for e in front]))
    synthetic = (req.get("data") or {}).get("source") == "sample"
    return page(
        f"Discovery: {req['strategy']} ({req['method']})", "\n".join(parts), synthetic=synthetic
    )


def write_discovery_outputs(state: Mapping[str, Any], directory: Path | str) -> dict[str, Path]:
    """Write discovery.json, report.html and (several objectives) pareto.csv into
    ``directory`` (created), each atomically; returns their paths by name."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    html_text = discovery_report_html(state)
    paths = {"discovery.json": out / "discovery.json", "report.html": out / "report.html"}
    replace_file(paths["discovery.json"], dumps(state))
    replace_file(paths["report.html"], html_text)
    if len(_objectives(state)) > 1:
        paths["pareto.csv"] = out / "pareto.csv"
        replace_file(paths["pareto.csv"], pareto_csv(state))
    return paths


__all__ = [
    "discovery_report_html",
    "parameter_importance",
    "pareto_csv",
    "pareto_entries",
    "write_discovery_outputs",
]
