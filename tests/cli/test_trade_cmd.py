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


# ---- on the exchange's websocket (tradpal.trading.runner, tested on the fake exchange) ----


def test_live_trading_is_off_unless_the_setting_says_so(capsys, monkeypatch):
    monkeypatch.delenv("TRADPAL_LIVE_TRADING", raising=False)
    code = run(["trade", "--live", "--strategy", "rsi_reversal"])
    _, err = capsys.readouterr()
    assert code == 2 and "live trading is off" in err and "live_trading = true" in err


def test_a_replay_is_on_paper_only(capsys, monkeypatch):
    monkeypatch.setenv("TRADPAL_LIVE_TRADING", "true")
    code = run(["trade", "--live", "--replay", "sample"])
    _, err = capsys.readouterr()
    assert code == 2 and "--replay on paper" in err


def test_a_live_trader_needs_its_keys_from_secrets_manager(capsys, monkeypatch):
    monkeypatch.setenv("TRADPAL_LIVE_TRADING", "true")
    monkeypatch.delenv("TRADPAL_EXCHANGE_SECRET", raising=False)
    code = run(["trade", "--live"])
    _, err = capsys.readouterr()
    assert code == 2 and "exchange_secret" in err and "Traceback" not in err


def test_a_secret_without_keys_is_named_and_its_values_are_never_shown(capsys, monkeypatch):
    from moto import mock_aws

    from tradpal.platform.aws import reset_clients

    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("TRADPAL_LIVE_TRADING", "true")
    monkeypatch.setenv("TRADPAL_EXCHANGE_SECRET", "tradpal/dev/traders/t1/exchange")
    with mock_aws():
        reset_clients()
        import boto3

        boto3.client("secretsmanager").create_secret(
            Name="tradpal/dev/traders/t1/exchange",
            SecretString=json.dumps({"apiKey": "", "secret": "s3cr3t-value-123"}),
        )
        try:
            code = run(["trade", "--live"])
        finally:
            reset_clients()
    out, err = capsys.readouterr()
    assert code == 2 and "tradpal/dev/traders/t1/exchange has no apiKey" in err
    assert "put-secret-value" in err and "s3cr3t-value-123" not in out + err


def test_the_options_make_the_trader_the_runner_runs(capsys, monkeypatch):
    import tradpal.trading.runner as runner

    seen = {}

    def fake_run(spec, *, secret=None, bars=None):
        seen.update(spec=spec, secret=secret, bars=bars)
        return {"bars": bars, "num_trades": 0, "equity": 10_000.0, "mode": "paper",
                "paused": None}  # fmt: skip

    monkeypatch.setattr(runner, "run_trader", fake_run)
    urls = {"api": {"public": "http://127.0.0.1:9/api/v3"}}
    monkeypatch.setenv(
        "TRADPAL_SOURCE_OPTIONS", json.dumps({"ccxt:binance": {"config": {"urls": urls}}})
    )
    out = _json(capsys, "trade", "--strategy", "rsi_reversal", "--symbol", "ETH/USDT",
                "--timeframe", "15m", "--param", "rsi_period=6", "--bars", "3", "--cooldown", "2",
                "--json")  # fmt: skip
    spec = seen["spec"]
    assert out["bars"] == 3 and seen["bars"] == 3
    assert spec.trader_id == "rsi-reversal-eth-usdt-15m" and not spec.live
    assert (spec.symbol, spec.timeframe, spec.exchange) == ("ETH/USDT", "15m", "binance")
    assert spec.params == {"rsi_period": "6"} and spec.protections.cooldown_bars == 2
    assert spec.client_config == {"urls": urls}
