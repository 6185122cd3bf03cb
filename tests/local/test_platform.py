"""What a start of the local platform makes good after the last session was killed: the
``backtest_complete`` of a run recorded SUCCEEDED whose execution stopped before publishing
it is published (once: not again at the start after), and idempotency records left in
progress by invocations that died with the session are released. (The kills themselves are
in tests/e2e/test_crash_deliveries.py; here the kill's traces are made by hand.)"""

from __future__ import annotations

import json

from fakes.api_client import Client

from tradpal.local.outbox import OUTBOX
from tradpal.local.platform import LocalPlatform
from tradpal.notify.receiver import WebhookReceiver
from tradpal.platform.aws import client


def started(home, receiver) -> LocalPlatform:
    hooks = [{"url": receiver.url, "events": ["backtest_complete"]}]
    return LocalPlatform(
        home, port=0, run_schedules=False, throttle=False, webhooks=hooks, workers=0
    ).start()


def forget_completions(home) -> None:
    """The outbox as a kill between the run's record and its Publish state leaves it: the
    bus never accepted the run's backtest_complete."""
    path = home / "platform" / OUTBOX
    kept = [
        line
        for line in path.read_text().splitlines()
        if json.loads(line).get("event", {}).get("detail-type") != "backtest_complete"
    ]
    path.write_text("".join(line + "\n" for line in kept))


def test_a_start_publishes_what_the_last_session_could_not_and_releases_its_claims(tmp_path):
    with WebhookReceiver() as receiver:
        platform = started(tmp_path, receiver)
        try:
            api = Client(platform.url, platform.token(("read", "trade")))
            body = {"strategy": "ema_crossover", "data": {"symbol": "SYN/USD", "timeframe": "1h"}}
            status, accepted, _ = api.call("POST", "/v1/backtests", body)
            assert status == 202, accepted
            run_id = accepted["run_id"]
            assert api.wait(f"/v1/backtests/{run_id}")["status"] == "SUCCEEDED"
            [first] = receiver.wait_for(1, timeout_s=60)
            # a delivery in progress when the session died
            table = platform.env.idempotency_table
            orphan = {"id": {"S": "notify.delivery#orphan"}, "status": {"S": "INPROGRESS"},
                      "expiration": {"N": "4102444800"}}  # fmt: skip
            client("dynamodb").put_item(TableName=table, Item=orphan)
        finally:
            platform.stop()
        assert platform.republished == []  # a first start has nothing to make good
        forget_completions(tmp_path)

        again = started(tmp_path, receiver)
        try:
            assert again.republished == [run_id]
            [_, second] = receiver.wait_for(2, timeout_s=60)
            item = client("dynamodb").get_item(TableName=table, Key={"id": orphan["id"]})
        finally:
            again.stop()
        assert "Item" not in item
        # the same notification, by its id: the receiver drops the repeat
        assert second.json()["event"]["run_id"] == run_id
        assert second.header("x-tradpal-delivery") == first.header("x-tradpal-delivery")
        assert second.json()["event"]["result"] == first.json()["event"]["result"]

        third = started(tmp_path, receiver)
        third.stop()
        assert third.republished == [] and third.redelivered == 0
        assert len(receiver.requests) == 2
