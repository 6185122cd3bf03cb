"""kill -9 at random points while backtests finish and their ``backtest_complete`` events are
delivered to a webhook (a receiver in this process, outside the killed one, answering slowly
so that deliveries are in flight at the kill). The guarantee, after any number of kills:

* at least once: every run the API answers as finished (SUCCEEDED or FAILED), before the kill
  or after the restart, has its ``backtest_complete`` delivered to the webhook;
* each delivery of one event carries the same ``X-TradPal-Delivery`` id (also the body's
  ``id``), and other events other ids, so the receiver can drop repeats;
* never a delivery for an event that did not happen: each one names a run the API knows,
  with the status the API answers for it (a run the kill interrupted is ABORTED and gets
  none), and is signed with the platform's key.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict

import pytest
from e2e.crashing import call, failures, start, token

from tradpal.notify import verify_signature
from tradpal.notify.receiver import Reply, WebhookReceiver

RUNS_PER_CYCLE = 8
KILLS = 3
DELIVERED_WITHIN_S = 90


def completions(receiver: WebhookReceiver) -> dict[str, list]:
    """The ``backtest_complete`` requests the receiver took (answered 2xx), by run id."""
    by_run = defaultdict(list)
    for request in receiver.requests:
        taken = 200 <= request.answered < 300
        if taken and request.header("x-tradpal-event") == "backtest_complete":
            by_run[request.json()["event"]["run_id"]].append(request)
    return by_run


def check_deliveries(url: str, tok: str, receiver: WebhookReceiver, runs: list[str]) -> dict:
    """Every finished run of ``runs`` delivered (waiting for it), nothing else; the status
    the API answers for each run."""
    deadline = time.monotonic() + DELIVERED_WITHIN_S
    while True:
        status = {}
        for run_id in runs:
            code, view = call(url, tok, "GET", f"/v1/backtests/{run_id}")
            assert code == 200, view
            status[run_id] = view["status"]
        finished = {r for r, s in status.items() if s in ("SUCCEEDED", "FAILED")}
        by_run = completions(receiver)
        missing = finished - set(by_run)
        if not missing:
            break
        assert time.monotonic() < deadline, f"finished, never delivered: {sorted(missing)}"
        time.sleep(1.0)
    assert set(by_run) <= finished, f"deliveries of runs that did not finish: {by_run.keys()}"
    ids = {}
    for run_id, requests in by_run.items():
        bodies = [r.json() for r in requests]
        assert {b["event"]["status"] for b in bodies} == {status[run_id]}, bodies
        delivery = {r.header("x-tradpal-delivery") for r in requests} | {b["id"] for b in bodies}
        assert len(delivery) == 1, f"run {run_id} delivered under ids {delivery}"
        ids[run_id] = delivery.pop()
    assert len(set(ids.values())) == len(ids), "two events share a delivery id"
    return status


@pytest.mark.slow
def test_every_finished_run_is_delivered_at_least_once_across_kill_9(tmp_path):
    rng = random.Random(5)  # reproducible kill points
    runs: list[str] = []
    logs: list[str] = []
    with WebhookReceiver() as receiver:
        # slow answers, and a receiver often down (503: the notifier tries again after a
        # backoff), so that deliveries are in flight when the kill comes
        receiver.script(
            *(Reply(503) if rng.random() < 0.4 else Reply(200, delay_s=0.3) for _ in range(10_000))
        )
        tok = token(tmp_path, ["read", "trade"])
        for cycle in range(KILLS + 1):
            up = start(tmp_path, "--webhook", receiver.url)
            try:
                status = check_deliveries(up.url, tok, receiver, runs)
                assert "RUNNING" not in status.values(), status
                if cycle == KILLS:
                    break
                started = []
                for i in range(RUNS_PER_CYCLE):
                    fast = 5 + cycle * RUNS_PER_CYCLE + i  # distinct runs
                    body = {"strategy": "ema_crossover", "params": {"fast": fast, "slow": 60},
                            "data": {"symbol": "SYN/USD", "timeframe": "1h"}}  # fmt: skip
                    code, accepted = call(up.url, tok, "POST", "/v1/backtests", body)
                    assert code == 202, accepted
                    started.append(accepted["run_id"])
                runs += started
                # the kill: once a random number of this cycle's runs finished, a moment later
                enough, deadline = rng.randint(1, RUNS_PER_CYCLE - 1), time.monotonic() + 180
                while True:
                    ended = 0
                    for run_id in started:
                        code, view = call(up.url, tok, "GET", f"/v1/backtests/{run_id}")
                        ended += view.get("status") in ("SUCCEEDED", "FAILED")
                    if ended >= enough:
                        break
                    assert time.monotonic() < deadline, f"cycle {cycle}: {ended} runs in 180 s"
                time.sleep(rng.uniform(0.0, 0.5))
            finally:
                logs.append(up.kill() if cycle < KILLS else up.stop())
        key = (tmp_path / "platform" / "webhook_signing_key").read_text().strip()
        for requests in completions(receiver).values():
            for request in requests:
                verify_signature(key, request.header("x-tradpal-signature"), request.body)
    assert status and all(s in ("SUCCEEDED", "ABORTED") for s in status.values()), status
    found = [line for log in logs for line in failures(log)]
    assert not found, "\n".join(found)
