"""`tradpal trade --replay`: a paper session prints what `tradpal backtest` prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradpal.cli.main import run

WINDOW = ("--start", "2024-05-01", "--end", "2024-06-01")  # 744 1h bars of the sample


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code = run(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_a_replayed_paper_session_prints_the_backtests_document(capsys, fill):
    common = ("--strategy", "rsi_reversal", "--param", "rsi_period=10", *WINDOW, "--fill", fill)
    paper = _json(capsys, "trade", "--replay", "sample", "--paper", *common, "--json")
    backtest = _json(capsys, "backtest", "--source", "sample", *common, "--json")
    assert paper["num_trades"] == backtest["num_trades"] > 10
    assert paper["final_equity"] == pytest.approx(backtest["final_equity"], rel=1e-9)
    assert set(paper) == set(backtest)  # the same document
    keys = ("entry_time", "exit_time", "side", "exit_reason", "bars_held")
    assert [[t[k] for k in keys] for t in paper["trades"]] == [
        [t[k] for k in keys] for t in backtest["trades"]
    ]
    assert paper["meta"]["mode"] == "paper" and paper["meta"]["params"]["rsi_period"] == 10


def test_a_paper_session_writes_the_backtests_files(capsys, tmp_path: Path):
    code = run(["trade", "--replay", "sample", *WINDOW, "--out", str(tmp_path / "p")])
    text, _ = capsys.readouterr()
    assert code == 0, text
    assert {p.name for p in (tmp_path / "p").iterdir()} == {
        "result.json", "trades.csv", "equity.csv", "report.html"
    }  # fmt: skip
    assert "report:" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--strategy", "nope"], "nope"),
        (["--volume-share", "0"], "volume-share"),
        (["--size", "risk:0.01", "--sl", "none"], "risk sizing needs a stop"),
        (["--stoploss-guard", "3/24"], "COUNT/LOOKBACK/PAUSE"),
        (["--daily-loss-limit", "2"], "daily_loss_limit"),
    ],
)
def test_bad_settings_are_refused_with_a_message(capsys, args, message):
    code = run(["trade", "--replay", "sample", *WINDOW, *args])
    out, err = capsys.readouterr()
    assert code != 0 and message in (out + err) and "Traceback" not in (out + err)


def test_protections_from_the_command_line_block_entries(capsys):
    common = ("--strategy", "rsi_reversal", *WINDOW, "--json")
    free = _json(capsys, "trade", "--replay", "sample", *common)
    guarded = _json(capsys, "trade", "--replay", "sample", *common, "--cooldown", "24",
                    "--stoploss-guard", "2/24/24")  # fmt: skip
    assert guarded["num_trades"] < free["num_trades"]
    assert guarded["meta"]["skipped_entries"]["protection"] > 0
