"""Stopping the local platform is graceful: what was in flight when stop() was called (stream
records not yet consumed, events in delivery) is finished before the final snapshot. The
webhook here has no secret of its own (as `tradpal up --webhook URL` makes): its deliveries
are signed with the platform's signing key, as the stacks' generated key signs them on AWS."""

from __future__ import annotations

import json

from tradpal.local.platform import SAMPLE, LocalPlatform
from tradpal.notify import verify_signature
from tradpal.notify.receiver import WebhookReceiver


def test_stop_finishes_the_streamed_sample_and_its_webhooks(tmp_path):
    receiver = WebhookReceiver().start()
    try:
        hooks = [{"url": receiver.url, "events": ["trading_signal"]}]
        # the sample is history; its signals are delivered here to have work in flight
        settings = {"signal_strategies": json.dumps(["ema_crossover"]), "signal_max_age_bars": "0"}
        platform = LocalPlatform(
            tmp_path,
            port=0,
            run_schedules=False,
            webhooks=hooks,
            settings=settings,
            drain_s=300,  # completeness is the point here, not speed on a busy machine
        ).start()
        # start() returns once the sample is stored and on the stream; its consumers (signals,
        # then the notifier) are still at work. Stop at once, without waiting for them.
        platform.stop()
        sent = platform.local.calls_to(platform.function_name("notifier"))
        delivered = receiver.delivered()
        consumed = {
            record["kinesis"]["sequenceNumber"]
            for call in platform.local.calls_to(platform.function_name("signals"))
            for record in call.event.get("Records", [])
        }
    finally:
        receiver.stop()
    assert len(consumed) == SAMPLE["bars"], "stream records left unconsumed at stop()"
    assert delivered, "the sample's signals reached no webhook before stop() returned"
    # Each event reached the webhook exactly once: an invocation repeated after a lost answer
    # (at-least-once delivery under load) found its delivery done and sent nothing again.
    events = {c.event["id"] for c in sent if c.outcome == "ok"}
    ids = [r.headers["x-tradpal-delivery"] for r in delivered]
    outcomes = [json.loads(c.payload)["sent"] for c in sent if c.outcome == "ok"]
    assert len(delivered) == len(events), [
        o for o in outcomes if [s["outcome"] for s in o] != ["sent"]
    ]
    assert len(set(ids)) == len(ids)
    key = platform.signing_key()
    assert len(key) >= 32 and platform.signing_key_path.stat().st_mode & 0o777 == 0o600
    for request in delivered:
        verify_signature(key, request.headers["x-tradpal-signature"], request.body)
