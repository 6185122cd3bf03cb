"""Run a discovery locally: plan, batches, evaluate on a process pool, reduce, repeat.

The same three steps the cloud runs (a Step Functions Distributed Map over
:func:`~tradpal.discovery.evaluate.evaluate`), on the cores of one machine:

* workers receive batches as JSON text and answer JSON text, as a Lambda would;
  each worker process keeps the frames it loaded, one per data reference, so data is
  read once per process, not once per batch;
* ``workers=1`` evaluates in this process (no pool); the result is the same, bit for
  bit, whatever the number of workers (the state passes through JSON every generation);
* after every finished generation the state is written to ``checkpoint`` (a temporary
  file renamed over it, so a crash never leaves half a state); a run started with an
  existing checkpoint of the same request resumes from it.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradpal.discovery.evaluate import evaluate, load_batch_frame
from tradpal.discovery.request import EvaluateBatch
from tradpal.errors import DiscoveryError
from tradpal.fields import validated
from tradpal.files import replace_file

DEFAULT_BATCH_SIZE = 25
Progress = Callable[[int, int, dict], None]

# Per process: data reference -> loaded frame (workers reuse it across batches).
_FRAMES: dict[str, pd.DataFrame] = {}


def _data_key(data: Any) -> str:
    key = json.dumps(data, sort_keys=True, default=str)
    source = data.get("source") if isinstance(data, Mapping) else None
    if isinstance(source, str) and os.path.isfile(source):
        st = os.stat(source)  # a file changed on disk is another data reference
        key += f"|{st.st_size}|{st.st_mtime_ns}"
    return key


def evaluate_json(text: str) -> str:
    """Evaluate one batch given and answered as JSON text (the worker's entry point);
    the frame of each data reference is loaded once per process."""
    batch = validated(EvaluateBatch, json.loads(text), error=DiscoveryError)
    data = batch.data.to_json() if batch.data else None
    key = _data_key(data)
    frame = _FRAMES.get(key)
    if frame is None:
        frame = _FRAMES[key] = load_batch_frame(data)
    return json.dumps(evaluate(batch, frame=frame), allow_nan=False)


def _normal(state: Mapping[str, Any]) -> dict:
    """``state`` through strict JSON: what a checkpoint holds is what the run continues
    with, so resumed and uninterrupted runs agree bit for bit."""
    try:
        return json.loads(json.dumps(state, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise DiscoveryError(
            f"the discovery state is not strict JSON: {exc}",
            hint="plan, reduce and evaluate must return plain JSON (NaN as null)",
        ) from None


def write_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file in the same folder, fsync,
    rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(state, allow_nan=False, separators=(",", ":")))


def read_checkpoint(path: Path) -> dict:
    """The state in ``path``; a clear error when it is not a discovery state."""
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DiscoveryError(
            f"cannot read the checkpoint {path}: {exc}",
            hint="delete it to start the search afresh",
        ) from None
    if not isinstance(state, dict) or not {"request", "generation", "done"} <= set(state):
        raise DiscoveryError(
            f"{path} is not a discovery checkpoint",
            hint="point checkpoint at a file a discovery run wrote, or at a new path",
        )
    return state


def _start(request: Mapping[str, Any], checkpoint: Path | None) -> dict:
    from tradpal.discovery import plan

    fresh = _normal(plan(request))
    if checkpoint is None or not Path(checkpoint).exists():
        return fresh
    state = read_checkpoint(checkpoint)
    if state["request"] != fresh["request"]:
        raise DiscoveryError(
            f"the checkpoint {checkpoint} belongs to another search request",
            hint="use another checkpoint path, or delete it to start this search afresh",
        )
    return state


def _pool(workers: int) -> Executor:
    # forkserver: workers fork from a clean single-threaded server, never from this
    # process, whose threads (a progress bar, a test's moto server) could hold locks that a
    # forked child would inherit locked. The server imports the evaluation code once, so
    # workers start with it loaded.
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["tradpal.discovery.evaluate"])
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context)


def _map(pool: Executor | None, items: Iterable[dict]) -> list[dict]:
    texts = [json.dumps(b, allow_nan=False) for b in items]
    answers = pool.map(evaluate_json, texts) if pool is not None else map(evaluate_json, texts)
    return [json.loads(a) for a in answers]


def run_discovery(
    request: Mapping[str, Any],
    *,
    workers: int | None = None,
    checkpoint: Path | str | None = None,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict:
    """Run the search ``request`` describes until it is done and return the final state.

    ``workers``: processes evaluating batches (None: all cores; 1: this process).
    ``checkpoint``: a JSON file written after every finished generation and resumed
    from when it exists (it must hold the same request). ``progress(generation,
    generations, state)`` is called after every finished generation with the number of
    generations finished, the number planned and the new state. ``batch_size``:
    candidates per batch (the number of candidates a Lambda would score).
    """
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise DiscoveryError(f"workers must be an integer >= 1, not {workers!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DiscoveryError(f"batch_size must be an integer >= 1, not {batch_size!r}")
    from tradpal.discovery import batches, reduce

    path = None if checkpoint is None else Path(checkpoint)
    state = _start(request, path)
    pool = _pool(workers) if workers > 1 and not state["done"] else None
    try:
        while not state["done"]:
            answers = _map(pool, batches(state, batch_size=batch_size))
            results = [r for a in answers for r in a["results"]]
            state = _normal(reduce(state, results))
            if state["done"]:
                state = _normal(finalize(state))
            if path is not None:
                write_checkpoint(path, state)
            if progress is not None:
                progress(_finished(state), _planned(state), state)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return state


def _score_key(entry: Mapping[str, Any]) -> tuple:
    # Higher first, a missing score (not eligible) last; ties keep evaluation order.
    return tuple(-v if v is not None else math.inf for v in entry.get("values") or [None])


def finalize(state: Mapping[str, Any], *, frame: Any = None) -> dict:
    """The finished search's summary added to ``state``: ``evaluated`` (candidates
    evaluated), ``ranked`` (every evaluated candidate, best first by the objectives in
    order, each with its ``is`` and ``oos`` metrics), ``pareto`` (the ids of the
    non-dominated eligible candidates, several objectives only) and, in ``best``, the
    winner's ``deflated_sharpe``: Bailey and Lopez de Prado's probability that its
    search-span Sharpe ratio (per bar) beats the best of ``evaluated`` trials whose
    Sharpe ratios vary as the evaluated candidates' do. ``frame``: the request's data
    already loaded (else the held-out equity loads it)."""
    from tradpal.optimize.objectives import deflated_sharpe, pareto_front

    out = dict(state)
    history = list(state.get("history") or [])
    ranked = sorted(history, key=_score_key)
    out["evaluated"] = len(history)
    out["ranked"] = ranked
    objectives = list(state["request"].get("objectives") or ["sharpe"])
    if len(objectives) > 1:
        # an evaluation that was refused or traded too little holds no values (an empty
        # list passed all() and gave numpy a ragged array): only full vectors are ranked
        eligible = [
            e
            for e in history
            if len(e.get("values") or []) == len(objectives)
            and all(v is not None for v in e["values"])
        ]
        values = np.array([e["values"] for e in eligible], dtype=np.float64)
        front = pareto_front(values) if len(eligible) else []
        out["pareto"] = [eligible[int(i)]["id"] for i in front]
    best = state.get("best")
    if best is not None and best.get("returns_stats"):
        stats = best["returns_stats"]
        sharpes = np.array([e["returns_stats"]["sharpe"] for e in history], dtype=np.float64)
        std = float(sharpes.std(ddof=1)) if len(sharpes) > 1 else 0.0
        dsr = deflated_sharpe(
            stats["sharpe"],
            n_trials=len(history),
            n_obs=stats["n_obs"],
            skew=stats["skew"],
            kurtosis=stats["kurtosis"],
            sharpe_std=std,
        )
        out["best"] = {**best, "deflated_sharpe": dsr, "n_trials": len(history)}
    if out.get("best") is not None:
        from tradpal.discovery.evaluate import holdout_equity

        # The winner's held-out equity, for the report (the only curve discovery keeps).
        out["best"] = {
            **out["best"],
            "oos_equity": holdout_equity(state["request"], out["best"]["params"], frame=frame),
        }
    return out


def _finished(state: Mapping[str, Any]) -> int:
    return len(state.get("summary") or state.get("generations") or []) or int(state["generation"])


def _planned(state: Mapping[str, Any]) -> int:
    req = state.get("request", {})
    method = req.get("method")
    return 1 if method in ("grid", "random") else int(req.get("generations", 1))


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "evaluate_json",
    "finalize",
    "read_checkpoint",
    "run_discovery",
    "write_checkpoint",
]
