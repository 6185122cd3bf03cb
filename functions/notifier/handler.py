"""The notifier capability: domain events from the bus -> messages -> configured channels.

EventBridge invokes this function asynchronously for ``trading_signal``, ``risk_alert``,
``order_executed`` and ``backtest_complete``. Each event is validated, formatted once and
sent to every channel that wants its type (the channels come from the notifier secret).

Nothing is lost and nothing is sent twice:

* every (event id, channel) delivery is idempotent (Powertools idempotency on the
  idempotency table): a redelivered event skips the channels that already have it, so when
  one of two channels failed, only that one is tried again;
* any channel still failing after its own retries makes the invocation fail, so Lambda's
  asynchronous retries and then the on-failure dead-letter queue take over;
* an event that fails its schema (or is not a notification) fails the invocation with the
  reason, which the dead-letter record carries; it is never dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from tradpal.errors import TradPalError
from tradpal.events import EventSchemaError, parse_event
from tradpal.notify import Channel, DeliveryError, Message, format_message, load_config
from tradpal.platform.clients import client
from tradpal.platform.environment import platform_env
from tradpal.platform.observability import METRICS_NAMESPACE, for_capability

CAPABILITY = "notifier"
DELIVERY_RECORD_TTL_S = 7 * 24 * 3600
"""How long a delivery is remembered: longer than Lambda's async retries (6 h event age)
and a dead-letter redrive within a week."""

TIME_MARGIN_S = 3.0
"""Seconds of the invocation kept for idempotency writes and the error report: a channel
starts no attempt that could end later (it fails retryable instead of timing out)."""
CHANNEL_OPTIONS: dict[str, Any] = {}
"""Keyword arguments for every channel (WebhookChannel's timeout_s, max_attempts, sleep...);
empty: the channels' defaults (5 s per attempt, 4 attempts)."""

obs = for_capability(CAPABILITY)
_config = IdempotencyConfig(expires_after_seconds=DELIVERY_RECORD_TTL_S)
_layers: dict[str, tuple[Any, DynamoDBPersistenceLayer]] = {}


class NotificationError(TradPalError):
    """Channels that did not take an event; raised so the event is retried, then dead-lettered."""


def _persistence() -> DynamoDBPersistenceLayer:
    """The idempotency layer on the platform's table, rebuilt when the client changes."""
    table = platform_env().require("idempotency_table")
    ddb = client("dynamodb")
    found = _layers.get(table)
    if found is None or found[0] is not ddb:
        found = (ddb, DynamoDBPersistenceLayer(table_name=table, boto3_client=ddb))
        _layers[table] = found
    return found[1]


def _send(channel: Channel, message: Message, ran: list[bool], *, delivery: dict) -> dict:
    # ``delivery`` ({event_id, channel}) is the idempotency key; the rest is not hashed.
    ran.append(True)
    done = channel.send(message)
    return {"status": done.status, "attempts": done.attempts}


def deliver_once(channel: Channel, message: Message, event_id: str) -> tuple[dict, bool]:
    """Send ``message`` on ``channel`` unless this event already went there.

    Returns ``(record, sent_now)``: the stored delivery record, and whether it was sent by
    this call (False: a previous invocation delivered it).
    """
    ran: list[bool] = []
    once = idempotent_function(
        _send,
        data_keyword_argument="delivery",
        persistence_store=_persistence(),
        config=_config,
        key_prefix=f"{CAPABILITY}.delivery",
    )
    record = once(channel, message, ran, delivery={"event_id": event_id, "channel": channel.key})
    return record, bool(ran)


def _count(kind: str, counts: Counter[str]) -> None:
    """One EMF record per metric with the channel type as a dimension."""
    if is_metrics_disabled():
        return
    for name, value in counts.items():
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=value,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": CAPABILITY, "channel": kind},
        ):
            pass


def notify(event: dict[str, Any], *, budget_s: Callable[[], float] | None = None) -> dict[str, Any]:
    """Deliver one EventBridge event to its channels (the handler without the decorators).

    ``budget_s``: seconds the channels may still spend (see WebhookChannel).
    """
    detail_type, detail = parse_event(event)
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise EventSchemaError(
            "EventBridge event without an id", hint="deliver events from the tradpal bus"
        )
    message = format_message(detail_type, detail)
    obs.tracer.put_annotation("event_type", detail_type)
    obs.logger.append_keys(event_type=detail_type, message_id=message.id)
    options = dict(CHANNEL_OPTIONS)
    if budget_s is not None:
        options.setdefault("budget_s", budget_s)
    channels = load_config().channels_for(detail_type, **options)
    obs.metrics.add_metric(name="NotificationEvents", unit=MetricUnit.Count, value=1)
    if not channels:
        obs.logger.info("no channel wants this event type; nothing to send")
        return {"event_id": event_id, "type": detail_type, "message_id": message.id, "sent": []}

    results: list[dict[str, Any]] = []
    failures: list[str] = []
    counts: dict[str, Counter[str]] = {}
    for channel in channels:
        tally = counts.setdefault(channel.kind, Counter())
        try:
            record, sent_now = deliver_once(channel, message, event_id)
        except DeliveryError as exc:
            tally["NotificationsFailed"] += 1
            failures.append(exc.message)
            obs.logger.warning(
                "delivery failed",
                extra={
                    "channel": channel.label,
                    "attempts": exc.attempts,
                    "status": exc.status,
                    "retryable": exc.retryable,
                    "error": exc.message,
                },
            )
            results.append({"channel": channel.label, "outcome": "failed"})
            continue
        except IdempotencyAlreadyInProgressError:
            # Another invocation is delivering this event to this channel right now; fail so
            # Lambda retries later and finds its record.
            tally["NotificationsFailed"] += 1
            failures.append(f"{channel.label}: a delivery of this event is in progress")
            results.append({"channel": channel.label, "outcome": "in_progress"})
            continue
        outcome = "sent" if sent_now else "duplicate"
        tally["NotificationsSent" if sent_now else "NotificationsDuplicate"] += 1
        obs.logger.info(
            f"delivery {outcome}",
            extra={"channel": channel.label, "attempts": record.get("attempts")},
        )
        results.append({"channel": channel.label, "outcome": outcome, **record})
    for kind, tally in counts.items():
        _count(kind, tally)
    if failures:
        raise NotificationError(
            f"{len(failures)} of {len(channels)} channel(s) did not take event {event_id} "
            f"({detail_type}): " + "; ".join(failures),
            hint="the event is retried; after the retries it is in the notifier's "
            "dead-letter queue (channels that took it are not notified again)",
        )
    return {"event_id": event_id, "type": detail_type, "message_id": message.id, "sent": results}


@obs.logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@obs.metrics.log_metrics
@obs.tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: an EventBridge event, invoked asynchronously."""
    _config.register_lambda_context(context)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return notify(event)
    # Keep a margin for writing the delivery records and reporting the error.
    return notify(event, budget_s=lambda: remaining() / 1000 - TIME_MARGIN_S)
