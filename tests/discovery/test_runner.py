"""run_discovery end to end on real BTC 1h candles through a file data reference: the same
state with one worker and two, resuming from a checkpoint after an interruption, and the
worker's per-process frame cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tradpal.discovery import deflated_sharpe, pareto_front, runner
from tradpal.discovery.runner import (
    evaluate_json,
    read_checkpoint,
    run_discovery,
    write_checkpoint,
)
from tradpal.errors import DiscoveryError

GENERATIONS = 3


@pytest.fixture(scope="module")
def request_(shared_data):
    return {
        "strategy": "ema_crossover",
        "method": "genetic",
        "objectives": ["sharpe"],
        "population": 6,
        "generations": GENERATIONS,
        "elitism": 2,
        "seed": 3,
        "min_trades": 3,
        "data": {
            "source": str(shared_data / "BTCUSDT-1h.csv"),
            "timeframe": "1h",
            "end": "2022-01-15T00:00:00+00:00",
        },
        "validation": {"holdout": 0.25, "folds": 3},
        "risk": True,
    }


@pytest.fixture(scope="module")
def final(request_):
    return run_discovery(request_, workers=1, batch_size=4)


def dump(state) -> str:
    return json.dumps(state, sort_keys=True, allow_nan=False)


def test_a_search_runs_to_the_end(final, request_):
    assert final["done"] is True and final["generation"] == GENERATIONS
    assert final["request"]["strategy"] == "ema_crossover"
    assert json.loads(dump(final)) == final  # strict JSON
    history = final["history"]
    # the elites are carried over and repeated points reused: each parameter set once
    assert final["evaluated"] == len(history) <= 6 + 2 * (6 - 2)
    assert len({e["id"] for e in history}) == len(history)
    assert len({json.dumps(e["params"], sort_keys=True) for e in history}) == len(history)
    scores = [e["values"][0] for e in final["ranked"] if e["values"] is not None]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 2
    assert sorted(e["id"] for e in final["ranked"]) == sorted(e["id"] for e in history)
    best = final["best"]
    assert best["values"][0] == scores[0] and best["is"] and best["oos"]
    stats = best["returns_stats"]
    sharpes = np.array([e["returns_stats"]["sharpe"] for e in history])
    assert best["deflated_sharpe"] == deflated_sharpe(
        stats["sharpe"], n_trials=len(history), n_obs=stats["n_obs"], skew=stats["skew"],
        kurtosis=stats["kurtosis"], sharpe_std=float(sharpes.std(ddof=1)),
    )  # fmt: skip
    assert 0 <= best["deflated_sharpe"] <= 1 and "pareto" not in final


def test_several_objectives_give_a_pareto_front(request_):
    req = {**request_, "method": "random", "n_candidates": 8,
           "objectives": ["sharpe", "total_return"]}  # fmt: skip
    for unused in ("population", "generations", "elitism"):  # random draws n_candidates
        req.pop(unused)
    state = run_discovery(req, workers=1)
    eligible = [e for e in state["history"] if e["values"] is not None]
    front = pareto_front(np.array([e["values"] for e in eligible]))
    assert state["pareto"] == [eligible[i]["id"] for i in front] and state["pareto"]
    assert state["evaluated"] == 8


def test_two_workers_give_the_same_state_as_one(final, request_):
    assert dump(run_discovery(request_, workers=2, batch_size=3)) == dump(final)


def test_resume_after_an_interruption_reaches_the_same_state(final, request_, tmp_path):
    path = tmp_path / "state.json"
    seen = []

    class Stop(Exception):
        pass

    def interrupt(done, planned, state):
        seen.append((done, planned))
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        run_discovery(request_, workers=1, checkpoint=path, progress=interrupt, batch_size=4)
    saved = read_checkpoint(path)
    assert saved["done"] is False and seen == [(1, GENERATIONS), (2, GENERATIONS)]
    calls = []
    resumed = run_discovery(
        request_, workers=1, checkpoint=path, batch_size=4,
        progress=lambda d, p, s: calls.append(d),
    )  # fmt: skip
    assert calls == [GENERATIONS]  # only the last generation was run again
    assert dump(resumed) == dump(final)
    assert dump(read_checkpoint(path)) == dump(final)
    # a finished checkpoint is returned as it is, nothing evaluated
    assert dump(run_discovery(request_, workers=2, checkpoint=path)) == dump(final)


def test_a_checkpoint_of_another_request_is_refused(final, request_, tmp_path):
    path = tmp_path / "state.json"
    write_checkpoint(path, final)
    with pytest.raises(DiscoveryError, match="another search request") as info:
        run_discovery({**request_, "seed": 4}, workers=1, checkpoint=path)
    assert "delete" in info.value.hint


@pytest.mark.parametrize("text", ["{not json", '{"a": 1}', "[]"])
def test_a_broken_checkpoint_is_refused(tmp_path, text):
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(DiscoveryError, match="checkpoint"):
        read_checkpoint(path)


def test_checkpoints_are_written_whole(tmp_path, final):
    path = tmp_path / "deep" / "state.json"
    write_checkpoint(path, final)
    write_checkpoint(path, final)
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]
    assert read_checkpoint(path) == final


def test_workers_load_each_data_reference_once(request_, monkeypatch):
    loads = []
    real = runner.load_batch_frame
    monkeypatch.setattr(runner, "_FRAMES", {})
    monkeypatch.setattr(runner, "load_batch_frame", lambda d: loads.append(d) or real(d))
    batch = {
        **request_,
        "batch_id": "b",
        "generation": 0,
        "candidates": [{"id": "a", "params": {"fast": 8, "slow": 30, "sl_atr": 1.5,
                                              "tp_atr": 3.0, "risk_per_trade": 0.01}}],
    }  # fmt: skip
    first = evaluate_json(json.dumps(batch))
    assert evaluate_json(json.dumps(batch)) == first
    assert len(loads) == 1
    other = {**batch, "data": {**batch["data"], "end": "2022-01-10T00:00:00+00:00"}}
    assert evaluate_json(json.dumps(other)) != first
    assert len(loads) == 2


@pytest.mark.parametrize(("kw", "needle"), [({"workers": 0}, "workers"),
                                           ({"batch_size": 0}, "batch_size")])  # fmt: skip
def test_bad_settings_are_refused(request_, kw, needle):
    with pytest.raises(DiscoveryError, match=needle):
        run_discovery(request_, **kw)


def test_evaluations_without_values_are_left_out_of_the_pareto_front():
    # an evaluation refused or below min_trades holds [] or None: finalize crashed on the
    # ragged array ("inhomogeneous shape"), a TaskError at the end of a whole discovery
    history = [
        {"id": "a", "values": [1.0, 0.5], "score": 1.0},
        {"id": "b", "values": [], "score": None},
        {"id": "c", "values": None, "score": None},
        {"id": "d", "values": [0.5, 1.0], "score": 0.5},
        {"id": "e", "values": [0.2, None], "score": None},
    ]
    state = {"request": {"objectives": ["sharpe", "total_return"]}, "history": history}
    out = runner.finalize(state)
    assert sorted(out["pareto"]) == ["a", "d"] and out["evaluated"] == 5
