"""`tradpal strategy new` and `list`: the template backtests and passes the look-ahead
check as written, and strategies of your own work by path and by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradpal.cli.main import run


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _flat(text: str) -> str:
    """``text`` with the terminal's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def _no_strategy_dirs(monkeypatch):
    monkeypatch.delenv("TRADPAL_STRATEGY_DIRS", raising=False)


def test_the_template_backtests_and_passes_the_lookahead_check(capsys, tmp_path: Path) -> None:
    code, out, err = _run(capsys, "strategy", "new", "breakout", "--dir", str(tmp_path))
    path = tmp_path / "breakout.py"
    assert code == 0, err
    assert path.is_file() and f"tradpal backtest --strategy {path}:breakout" in out
    text = path.read_text()
    assert "@strategy(" in text and "constraints=" in text and "timeframe_defaults=" in text
    code, out, err = _run(capsys, "backtest", "--strategy", f"{path}:breakout", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["num_trades"] > 20 and result["meta"]["strategy"] == "breakout"
    assert result["meta"]["params"] == {"entry": 48, "exit": 24, "side": "both"}  # 1h row
    for ref in (f"{path}:breakout", f"{path}:breakout@4h+atr"):
        code, out, err = _run(capsys, "check", "lookahead", ref)
        assert code == 0 and "OK: no signal changed" in out and "(of " in out, out + err


def test_strategy_new_refuses_what_would_not_work(capsys, tmp_path: Path) -> None:
    assert _run(capsys, "strategy", "new", "mine", "--dir", str(tmp_path))[0] == 0
    for args, message in [
        (("mine",), "exists already"),
        (("ema_crossover",), "is a built-in strategy's name"),
        (("my-strat",), "is not a strategy name"),
        (("np",), "a name the template itself uses"),
    ]:
        code, out, err = _run(capsys, "strategy", "new", *args, "--dir", str(tmp_path))
        assert code == 2 and message in out + err and "Traceback" not in out + err
    code, _, _ = _run(capsys, "strategy", "new", "mine", "--dir", str(tmp_path), "--force")
    assert code == 0


def test_strategy_dirs_give_names_and_list_shows_them(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRADPAL_STRATEGY_DIRS", str(tmp_path))
    code, out, _ = _run(capsys, "strategy", "new", "channel_break")  # the first folder
    assert code == 0 and (tmp_path / "channel_break.py").is_file()
    assert "tradpal backtest --strategy channel_break\n" in out
    code, out, err = _run(capsys, "backtest", "--strategy", "channel_break@4h", "--json")
    assert code == 0, err
    assert json.loads(out)["meta"]["strategy"] == "channel_break@4h"
    code, out, _ = _run(capsys, "strategy", "list")
    assert code == 0 and "ema_crossover  (built-in)" in out
    assert f"channel_break  ({tmp_path / 'channel_break.py'})" in out
    assert "entry=20 (10-200)" in out
    # a broken file in the folders is named, by list as by every command
    (tmp_path / "broken.py").write_text("import numpy as np\nnp.nope()\n")
    for args in (("strategy", "list"), ("backtest", "--strategy", "channel_break")):
        code, out, err = _run(capsys, *args)
        # the terminal may wrap a long path anywhere: compare without any whitespace
        where = "".join(f"{tmp_path / 'broken.py'}, line 2".split())
        assert code == 2 and where in "".join((out + err).split())
        assert "Traceback" not in out + err
