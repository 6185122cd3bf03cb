"""The runs table against moto: runs created, updated, listed, their request kept."""

from __future__ import annotations

import pytest

from tradpal.errors import ConfigError
from tradpal.runs.store import RunRecord, RunStore


def test_runs_are_created_updated_listed_and_keep_their_request(aws):
    runs = RunStore(aws.env.runs_table)
    for i in range(3):
        runs.put(
            RunRecord(
                f"r{i}",
                "backtest",
                "RUNNING",
                created_at=f"2026-01-0{i + 1}T00:00:00.000Z",
                request={"strategy": "ema_crossover", "i": i},
            )
        )
    runs.put(RunRecord("d1", "discovery", "RUNNING", created_at="2026-01-09T00:00:00.000Z"))
    runs.update("r1", status="SUCCEEDED", result_key="backtests/r1/result.json")
    got = runs.get("r1")
    assert got.status == "SUCCEEDED" and got.result_key == "backtests/r1/result.json"
    assert got.request == {"strategy": "ema_crossover", "i": 1} and got.updated_at
    assert [r.run_id for r in runs.list("backtest")] == ["r2", "r1", "r0"]
    assert [r.run_id for r in runs.list("backtest", limit=1)] == ["r2"]
    assert runs.get("missing") is None
    with pytest.raises(ConfigError):
        runs.put(RunRecord("x", "backtest", "DONE"))
    with pytest.raises(ConfigError):
        runs.update("r1", request="{}")
    item = aws.client("dynamodb").get_item(
        TableName=aws.env.runs_table, Key={"run_id": {"S": "r0"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) > 1_767_225_600  # a TTL, in epoch seconds
