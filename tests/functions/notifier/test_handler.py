"""The notifier function against moto (secret, idempotency table) and real webhook receivers
on 127.0.0.1: each event reaches each wanting channel exactly once, even across retries after
a partial failure; failures and bad events raise so Lambda retries and dead-letters them."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest
from fakes.lambda_events import LambdaContext, load_handler

from tradpal.errors import ConfigError
from tradpal.events import EventSchemaError
from tradpal.local.moto_server import ACCOUNT_ID, REGION
from tradpal.notify import DELIVERY_HEADER, delivery, verify_signature
from tradpal.notify.config import clear_config_cache
from tradpal.notify.delivery import NotificationError
from tradpal.notify.receiver import WebhookReceiver

notifier = load_handler("notifier")

SIGNAL = {
    "version": 1,
    "signal_id": "sig-1",
    "symbol": "BTC/USDT",
    "timeframe": "1h",
    "strategy": "sma_cross",
    "params": {"fast": 10, "slow": 30},
    "time": "2024-05-01T13:00:00Z",
    "side": "long",
    "previous": "flat",
    "price": 64250.5,
}
RISK = {
    "alert_id": "r-1",
    "level": "warning",
    "kind": "drawdown",
    "message": "Drawdown 12% (limit 20%)",
    "time": "2024-05-01T13:00:00Z",
}


def bus_event(detail_type: str, detail: dict, *, event_id: str | None = None) -> dict:
    """An EventBridge event as Lambda receives it from a rule."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "tradpal.signals",
        "account": ACCOUNT_ID,
        "time": "2024-05-01T13:00:01Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


@pytest.fixture
def receivers():
    with WebhookReceiver(secret="whsec_a") as a, WebhookReceiver() as b:
        yield a, b


@pytest.fixture
def notify(aws, monkeypatch):
    """Configure the notifier secret with ``webhooks`` and return an invoker."""
    monkeypatch.setattr(
        delivery, "CHANNEL_OPTIONS", {"sleep": lambda s: None, "timeout_s": 2, "max_attempts": 3}
    )
    clear_config_cache()

    def configure(webhooks: list[dict]) -> None:
        aws.client("secretsmanager").put_secret_value(
            SecretId=aws.env.notifier_secret, SecretString=json.dumps({"webhooks": webhooks})
        )
        clear_config_cache()

    def invoke(event: dict) -> dict:
        return notifier.handler(event, LambdaContext())

    yield configure, invoke
    clear_config_cache()


def test_delivers_to_every_channel_once(notify, receivers):
    configure, invoke = notify
    a, b = receivers
    configure([{"url": a.url, "secret": "whsec_a"}, {"url": b.url, "name": "team"}])
    event = bus_event("trading_signal", SIGNAL)
    out = invoke(event)
    assert out["event_id"] == event["id"] and out["type"] == "trading_signal"
    assert [s["outcome"] for s in out["sent"]] == ["sent", "sent"]
    [ra], [rb] = a.requests, b.requests
    assert verify_signature("whsec_a", ra.header("x-tradpal-signature"), ra.body) > 0
    assert ra.json()["title"] == "BTC/USDT 1h: LONG" == rb.json()["title"]
    assert ra.json()["event"] == SIGNAL
    assert ra.header(DELIVERY_HEADER) == rb.header(DELIVERY_HEADER) == out["message_id"]

    # the same event again (EventBridge or Lambda redelivery): nobody is notified twice
    again = invoke(event)
    assert [s["outcome"] for s in again["sent"]] == ["duplicate", "duplicate"]
    assert len(a.requests) == 1 and len(b.requests) == 1


def emf_counts(out: str) -> dict[str, float]:
    """``{"<metric>/<channel>": value}`` from the EMF records printed by the handler."""
    counts: dict[str, float] = {}
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "TradPal"
            for metric in directive["Metrics"]:
                key = f"{metric['Name']}/{record.get('channel', '-')}"
                value = record[metric["Name"]]
                counts[key] = counts.get(key, 0) + sum(
                    value if isinstance(value, list) else [value]
                )
    return counts


def test_after_a_partial_failure_only_the_failed_channel_is_retried(
    notify, receivers, monkeypatch, capsys
):
    configure, invoke = notify
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    a, b = receivers
    configure([{"url": a.url, "secret": "whsec_a"}, {"url": b.url}])
    b.script(503, 503, 503)  # b is down for the whole first invocation (3 attempts)
    event = bus_event("risk_alert", RISK)
    # Powertools keeps metrics added while disabled (earlier tests) until a flush that prints.
    notifier.obs.metrics.clear_metrics()
    capsys.readouterr()
    with pytest.raises(NotificationError, match="1 of 2 channel") as err:
        invoke(event)
    assert "failed after 3 attempt" in str(err.value)
    assert len(a.delivered()) == 1 and len(b.requests) == 3 and not b.delivered()
    assert emf_counts(capsys.readouterr().out) == {
        "NotificationEvents/-": 1,
        "NotificationsSent/webhook": 1,
        "NotificationsFailed/webhook": 1,
    }

    out = invoke(event)  # Lambda's async retry of the same event
    assert [s["outcome"] for s in out["sent"]] == ["duplicate", "sent"]
    assert len(a.delivered()) == 1 and len(b.delivered()) == 1
    assert len(a.requests) == 1  # a was not called again at all
    assert emf_counts(capsys.readouterr().out) == {
        "NotificationEvents/-": 1,
        "NotificationsSent/webhook": 1,
        "NotificationsDuplicate/webhook": 1,
    }


def test_a_refusing_channel_fails_the_event_for_the_dead_letter_queue(notify, receivers):
    configure, invoke = notify
    a, b = receivers
    configure([{"url": a.url, "secret": "whsec_a"}, {"url": b.url}])
    b.script(410)
    event = bus_event("risk_alert", RISK)
    with pytest.raises(NotificationError, match="refused the message: HTTP 410"):
        invoke(event)
    assert len(b.requests) == 1  # a refusal is not retried within the invocation
    b.script(410)
    with pytest.raises(NotificationError):
        invoke(event)  # still refused on Lambda's retry: the event ends in the DLQ
    assert len(a.requests) == 1


def test_event_filters_and_no_channels(notify, receivers):
    configure, invoke = notify
    a, b = receivers
    configure([])
    assert invoke(bus_event("risk_alert", RISK))["sent"] == []
    configure([{"url": a.url, "secret": "whsec_a", "events": ["risk_alert"]}, {"url": b.url}])
    invoke(bus_event("trading_signal", SIGNAL))
    assert a.requests == [] and len(b.requests) == 1
    invoke(bus_event("risk_alert", RISK))
    assert len(a.requests) == 1 and len(b.requests) == 2


def test_bad_events_and_a_broken_secret_raise_with_the_reason(notify, receivers):
    configure, invoke = notify
    a, _ = receivers
    configure([{"url": a.url, "secret": "whsec_a"}])
    with pytest.raises(EventSchemaError, match="price"):
        invoke(bus_event("trading_signal", {**SIGNAL, "price": "high"}))
    with pytest.raises(EventSchemaError, match="not notifications"):
        invoke(
            bus_event(
                "system_health", {"status": "ok", "checks": {}, "time": "2024-05-01T13:00:00Z"}
            )
        )
    with pytest.raises(EventSchemaError, match="no detail-type"):
        invoke({"id": "x"})
    with pytest.raises(EventSchemaError, match="without an id"):
        invoke({**bus_event("risk_alert", RISK), "id": ""})
    assert a.requests == []
    configure([{"url": "ftp://x/" + "t" * 20}])
    with pytest.raises(ConfigError, match=r"webhooks\[0\]\.url") as err:
        invoke(bus_event("risk_alert", RISK))
    assert "tttttttt" not in str(err.value)


def test_logs_carry_the_event_id_and_no_url_secrets(notify, receivers):
    configure, invoke = notify
    a, _ = receivers
    token = "services/T0000000/B0000000/SECRETtokenXYZ"
    configure([{"url": a.url_for(f"/{token}?key=queryKEYsecret"), "secret": "whsec_a"}])
    a.script(500, 500, 500)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(notifier.obs.logger.registered_formatter)
    notifier.obs.logger.addHandler(handler)
    event = bus_event("risk_alert", RISK, event_id="evt-log-1")
    try:
        with pytest.raises(NotificationError) as err:
            invoke(event)
    finally:
        notifier.obs.logger.removeHandler(handler)
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    failed = [r for r in records if r["message"] == "delivery failed"]
    assert failed and failed[0]["correlation_id"] == "evt-log-1"
    assert failed[0]["attempts"] == 3 and failed[0]["status"] == 500
    everything = buffer.getvalue() + str(err.value)
    for secret in ("SECRETtokenXYZ", "T0000000", "queryKEYsecret", "whsec_a"):
        assert secret not in everything
