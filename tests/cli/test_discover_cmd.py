"""`tradpal discover` end to end: outputs, resume from the checkpoint, several objectives."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tradpal.cli.main import run


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


ARGS = ("discover", "--strategy", "ema_crossover", "--population", "8", "--generations", "2",
        "--min-trades", "1", "--workers", "1", "--seed", "5", "--end", "2026-01-01")  # fmt: skip


def test_discover_writes_ranked_results_and_resumes(capsys, tmp_path: Path) -> None:
    code, text, err = _run(capsys, *ARGS, "--out", str(tmp_path))
    assert code == 0, err
    state = json.loads((tmp_path / "discovery.json").read_text())
    assert state["done"] and state["evaluated"] >= 8
    best = state["ranked"][0]
    assert set(best["params"]) >= {"fast", "slow", "sl_atr", "tp_atr", "risk_per_trade"}
    assert best["is"] is not None and best["oos"] is not None  # side by side
    assert 0.0 <= state["best"]["deflated_sharpe"] <= 1.0
    curve = state["best"]["oos_equity"]  # the winner traded over the held-out bars
    assert curve["equity"][-1] == state["best"]["oos"]["final_equity"]
    assert len(curve["time"]) == len(curve["equity"]) == 1250  # 25 % of the 5,000 sample bars
    html = (tmp_path / "report.html").read_text()
    assert "Convergence" in html and "<script src=" not in html
    assert "deflated Sharpe" in text
    # a second run with the same request resumes from the finished checkpoint: same result
    code, _, _ = _run(capsys, *ARGS, "--out", str(tmp_path))
    assert code == 0
    assert json.loads((tmp_path / "discovery.json").read_text()) == state


def test_two_objectives_give_a_pareto_front(capsys, tmp_path: Path) -> None:
    code, _, err = _run(
        capsys, *ARGS, "--method", "nsga2", "--objective", "sharpe", "--objective", "calmar",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    front = pd.read_csv(tmp_path / "pareto.csv")
    assert len(front) >= 1 and {"sharpe", "calmar"} <= set(front.columns)


def test_bad_discovery_input_is_a_clear_error(capsys, tmp_path: Path) -> None:
    code, out, err = _run(capsys, *ARGS, "--method", "annealing", "--out", str(tmp_path))
    assert code == 2 and "annealing" in out + err and "Traceback" not in out + err


def test_discover_a_strategy_file_on_the_process_pool(capsys, tmp_path: Path, monkeypatch) -> None:
    # written from a test's folder: the workers get its absolute path, so they load it
    # whatever their working directory
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "pair.py").write_text(
        "import numpy as np\n"
        "from tradpal.strategies import Param, crossover_signals, lines, strategy\n\n"
        "@strategy(params=[Param('fast', 'int', 2, 20, 2, default=8),\n"
        "                  Param('slow', 'int', 25, 60, 5, default=30)])\n"
        "def pair(prices, params):\n"
        "    c = prices.close\n"
        "    return crossover_signals(lines.ema(c, params['fast']), lines.ema(c, params['slow']))\n"
    )
    monkeypatch.chdir(folder)
    args = ("discover", "--strategy", "./pair.py:pair@4h", "--population", "6",
            "--generations", "2", "--min-trades", "1", "--workers", "2", "--seed", "5",
            "--end", "2026-01-01", "--out", str(tmp_path / "out"))  # fmt: skip
    code, _, err = _run(capsys, *args)
    assert code == 0, err
    state = json.loads((tmp_path / "out" / "discovery.json").read_text())
    assert state["request"]["strategy"] == f"{(folder / 'pair.py').resolve()}:pair@4h"
    assert state["done"] and state["evaluated"] >= 6
    assert set(state["ranked"][0]["params"]) >= {"fast", "slow", "sl_atr"}
    assert all(e["values"] is not None or e["num_trades"] < 1 for e in state["history"])
