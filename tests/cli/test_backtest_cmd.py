"""`tradpal backtest` and `tradpal check lookahead` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradpal.backtest import BacktestConfig, run_backtest
from tradpal.backtest.strategy_run import backtest_strategy, config_for
from tradpal.cli.main import run
from tradpal.data.loading import load_ohlcv
from tradpal.strategies import Signals


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_strategy_backtest_writes_outputs_equal_to_the_library(capsys, tmp_path: Path) -> None:
    out = tmp_path / "bt"
    code, text, _ = _run(
        capsys, "backtest", "--strategy", "ema_crossover", "--param", "fast=9",
        "--source", "sample", "--capital", "5000", "--out", str(out),
    )  # fmt: skip
    assert code == 0, text
    assert {p.name for p in out.iterdir()} == {
        "result.json", "trades.csv", "equity.csv", "report.html"
    }  # fmt: skip
    document = json.loads((out / "result.json").read_text())
    frame = load_ohlcv("sample", timeframe="1h")
    direct = backtest_strategy(frame, "ema_crossover", {"fast": 9}, config_for("1h", capital=5000))
    assert document["metrics"]["final_equity"] == direct.result.metrics.final_equity
    assert document["metrics"]["num_trades"] == direct.result.metrics.num_trades
    assert document["meta"]["params"]["fast"] == 9 and document["meta"]["params"]["slow"] == 50
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades) == direct.result.metrics.num_trades
    assert "Sharpe ratio" in text and "report:" in text


def test_signals_file_run_with_json_output(capsys, tmp_path: Path, shared_data: Path) -> None:
    data = shared_data / "BTCUSDT-1h.csv"
    frame = load_ohlcv(str(data), symbol="BTC/USDT")
    rng = np.random.default_rng(5)
    entries = rng.random(len(frame)) < 0.02
    exits = rng.random(len(frame)) < 0.02
    table = pd.DataFrame(
        {"time": frame.index.strftime("%Y-%m-%dT%H:%M:%SZ"), "long_entry": entries.astype(int),
         "long_exit": exits.astype(int)}
    )  # fmt: skip
    signals_path = tmp_path / "signals.csv"
    table.to_csv(signals_path, index=False)
    code, text, err = _run(
        capsys, "backtest", "--data", str(data), "--signals", str(signals_path),
        "--fees", "0.001", "--slippage", "0.0005", "--sl", "0.02", "--tp", "0.04",
        "--size", "all", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(text)  # one JSON object and nothing else on stdout
    config = BacktestConfig(fees=0.001, slippage=0.0005, stop_loss="pct:0.02",
                            take_profit="pct:0.04", sizing="all")  # fmt: skip
    signals = Signals(entries, exits, np.zeros(len(frame), bool), np.zeros(len(frame), bool))
    direct = run_backtest(frame, signals, config)
    assert result["final_equity"] == direct.metrics.final_equity
    assert result["num_trades"] == direct.metrics.num_trades == len(result["trades"])
    for key in ("total_return", "sharpe", "max_drawdown"):
        assert key in result
    assert {"entry_time", "exit_time", "pnl", "exit_reason"} <= set(result["trades"][0])


def test_several_strategies_are_compared(capsys, tmp_path: Path) -> None:
    code, _text, _ = _run(
        capsys, "backtest", "--strategy", "ema_crossover", "--strategy", "rsi_reversal",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    compare = pd.read_csv(tmp_path / "comparison.csv", index_col=0)
    assert list(compare.index) == ["ema_crossover", "rsi_reversal"]
    assert (tmp_path / "rsi_reversal" / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("backtest", "--strategy", "nope"), "unknown strategy 'nope'"),
        (("backtest", "--param", "fast=abc"), "fast"),
        (("backtest", "--param", "fast=60", "--param", "slow=20"), "fast < slow"),
        (("backtest", "--fees", "2"), "fees 2.0 is not a fraction"),
        (("backtest", "--size", "lots"), "lots"),
        (("backtest", "--signals", "x.csv"), "--data and --signals go together"),
    ],
)
def test_bad_backtest_input_is_a_clear_error(capsys, args, message: str) -> None:
    code, out, err = _run(capsys, *args)
    assert code == 2, out + err
    assert message in out + err and "Traceback" not in out + err


def test_lookahead_check_passes_builtins_and_fails_with_exit_1(capsys, monkeypatch) -> None:
    code, out, _ = _run(capsys, "check", "lookahead", "regime@4h", "--checkpoints", "5")
    assert code == 0 and "OK: no signal changed" in out
    import tradpal.strategies as strategies

    peeking, original = _PeekingStrategy(), strategies.get_strategy
    monkeypatch.setattr(
        strategies, "get_strategy", lambda name: peeking if name == "peeking" else original(name)
    )
    code, out, _ = _run(capsys, "check", "lookahead", "peeking", "--checkpoints", "5")
    assert code == 1 and "LOOK-AHEAD" in out


def test_lookahead_check_catches_a_one_bar_peek_with_its_defaults(capsys, monkeypatch) -> None:
    import tradpal.strategies as strategies
    from tradpal.strategies import DeclaredStrategy, ParamSpace, crossover_signals, lines

    def early_cross(px, p):  # the EMA 10/30 cross one bar early: built from close.shift(-1)
        ahead = pd.Series(px.close).shift(-1).fillna(px.close[-1]).to_numpy()
        return crossover_signals(lines.ema(ahead, 10), lines.ema(ahead, 30)), {}

    early = DeclaredStrategy("early", "one bar early", ParamSpace(), early_cross)
    original = strategies.get_strategy
    monkeypatch.setattr(
        strategies, "get_strategy", lambda name: early if name == "early" else original(name)
    )
    code, out, _ = _run(capsys, "check", "lookahead", "early")
    assert code == 1 and "LOOK-AHEAD" in out and "end at a bar where the signals change" in out


class _PeekingStrategy:
    """Buys when the NEXT close is higher: the look-ahead the check must catch."""

    name = "peeking"
    description = "peeks one bar ahead"

    def __init__(self) -> None:
        from tradpal.strategies import ParamSpace

        self.space = ParamSpace(())

    def defaults_for(self, timeframe: str) -> dict:
        return {}

    def generate(self, frame: pd.DataFrame, params=None) -> Signals:
        close = frame["close"].to_numpy()
        up = np.zeros(len(close), bool)
        up[:-1] = close[1:] > close[:-1]
        none = np.zeros(len(close), bool)
        return Signals(up, ~up, none, none)


def test_walkforward_writes_report_and_equals_the_library(capsys, tmp_path: Path) -> None:
    from tradpal.optimize import walk_forward

    args = ("walkforward", "--strategy", "rsi_reversal", "--in-sample", "500",
            "--out-sample", "250", "--candidates", "5", "--seed", "3")  # fmt: skip
    code, text, _ = _run(capsys, *args, "--out", str(tmp_path))
    assert code == 0, text
    assert "the one to believe" in text
    document = json.loads((tmp_path / "walkforward.json").read_text())
    frame = load_ohlcv("sample", timeframe="1h", seed=42)
    direct = walk_forward(frame, "rsi_reversal", in_sample=500, out_sample=250, step=250,
                          method="random", n_candidates=5, seed=3, min_trades=1)  # fmt: skip
    assert len(document["windows"]) == len(direct.windows) == 18
    assert document["oos_metrics"]["final_equity"] == direct.oos_metrics.final_equity
    html = (tmp_path / "report.html").read_text()
    assert "the one to believe" in html and "<script src=" not in html
    code, text, _ = _run(capsys, *args, "--json")
    assert code == 0 and json.loads(text)["oos_metrics"] == document["oos_metrics"]


USER_STRATEGY = """
import numpy as np
from tradpal.strategies import Param, Signals, crossed_above, crossed_below, lines, strategy


@strategy(
    name="ema_pair",
    params=[
        Param("fast", "int", 2, 50, default=10, description="fast EMA, bars"),
        Param("slow", "int", 5, 200, 5, default=30, description="slow EMA, bars"),
    ],
    constraints=["fast < slow"],
)
def ema_pair(prices, params):
    close = prices.close{peek}
    fast, slow = lines.ema(close, params["fast"]), lines.ema(close, params["slow"])
    up, down = crossed_above(fast, slow), crossed_below(fast, slow)
    return Signals(up, down, down.copy(), up.copy()), {{"fast": fast, "slow": slow}}
"""
# the same cross one bar early: the lines are built from the next bar's close
PEEK = "\n    close = np.r_[close[1:], close[-1]]"


def _user_file(folder: Path, peek: bool = False) -> Path:
    path = folder / ("peeking.py" if peek else "ema_pair.py")
    path.write_text(USER_STRATEGY.format(peek=PEEK if peek else ""))
    return path


def test_backtest_takes_a_strategy_file(capsys, tmp_path: Path) -> None:
    path = _user_file(tmp_path)
    ref = f"{path}:ema_pair"
    code, out, err = _run(capsys, "backtest", "--strategy", ref, "-p", "fast=12", "--json")
    assert code == 0, err
    document = json.loads(out)
    frame = load_ohlcv("sample", timeframe="1h", seed=42)
    direct = backtest_strategy(frame, "ema_crossover", {"fast": 12, "slow": 30})
    # the same rule as the built-in: the same trades
    assert document["meta"]["params"] == {"fast": 12, "slow": 30}
    assert document["final_equity"] == pytest.approx(direct.result.metrics.final_equity)
    code, out, err = _run(capsys, "backtest", "--strategy", f"{ref}@4h+atr", "--strategy",
                          "ema_crossover", "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == 0, err
    assert "ema_pair@4h+atr" in out and (tmp_path / "out" / "comparison.csv").is_file()
    (report,) = (tmp_path / "out").glob("ema_pair@4h*/report.html")  # + is no file name's
    assert "fast" in report.read_text()
    code, out, err = _run(capsys, "backtest", "--strategy", ref, "-p", "fast=99")
    assert code == 2 and "ema_pair" in out + err and "outside its range 2 to 50" in out + err
    code, out, err = _run(capsys, "backtest", "--strategy", f"{tmp_path}/none.py:x")
    assert code == 2 and "no strategy file" in out + err and "Traceback" not in out + err


def test_lookahead_check_of_strategy_files(capsys, tmp_path: Path) -> None:
    code, out, err = _run(capsys, "check", "lookahead", f"{_user_file(tmp_path)}:ema_pair")
    assert code == 0 and "OK: no signal changed" in out, out + err
    peeking = _user_file(tmp_path, peek=True)
    code, out, _ = _run(capsys, "check", "lookahead", f"{peeking}:ema_pair")
    assert code == 1 and "LOOK-AHEAD" in out


def test_walkforward_takes_a_strategy_file(capsys, tmp_path: Path) -> None:
    ref = f"{_user_file(tmp_path)}:ema_pair"
    code, out, err = _run(capsys, "walkforward", "--strategy", ref, "--in-sample", "1000",
                          "--out-sample", "500", "--candidates", "3", "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["strategy"] == "ema_pair"
