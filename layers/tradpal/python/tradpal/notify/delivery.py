"""Delivery of one domain event to the channels that want it: each channel at most once.

The event is validated, formatted once (:func:`~tradpal.notify.format.format_message`) and
sent to every channel of the notifier secret that wants its type. Nothing is lost and nothing
is sent twice:

* every (event id, channel) delivery is idempotent (:func:`tradpal.platform.idempotency.
  run_once`): a redelivered event skips the channels that already have it, so when one of
  two channels failed, only that one is tried again;
* any channel still failing after its own retries raises :class:`NotificationError`, so
  Lambda's asynchronous retries and then the on-failure queue take over;
* an event that fails its schema (or is not a notification) raises with the reason, which
  the dead-letter record carries; it is never dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from tradpal.errors import TradPalError
from tradpal.events import EventSchemaError, parse_event
from tradpal.notify.channels import Channel, DeliveryError
from tradpal.notify.config import load_config
from tradpal.notify.format import Message, format_message
from tradpal.platform.idempotency import run_once

DELIVERY_RECORD_TTL_S = 7 * 24 * 3600
"""How long a delivery is remembered: longer than Lambda's async retries (6 h event age)
and a dead-letter redrive within a week."""
CHANNEL_OPTIONS: dict[str, Any] = {}
"""Keyword arguments for every channel (WebhookChannel's timeout_s, max_attempts, sleep...);
empty: the channels' defaults (5 s per attempt, 4 attempts)."""


@dataclass
class Notified:
    """What :func:`notify` did: per channel its outcome (sent, duplicate, failed with its
    attempts, status and error, in_progress), and per channel kind the counts
    (``NotificationsSent``...) for metrics."""

    event_id: str
    type: str
    message_id: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "type": self.type, "message_id": self.message_id,
                "sent": self.sent}  # fmt: skip


class NotificationError(TradPalError):
    """Channels that did not take an event; raised so the event is retried, then
    dead-lettered. ``notified`` is what was done (the channels that took it, the counts)."""

    def __init__(self, message: str, *, hint: str, notified: Notified) -> None:
        super().__init__(message, hint=hint)
        self.notified = notified


def deliver_once(
    channel: Channel, message: Message, event_id: str, context: Any = None
) -> tuple[dict[str, Any], bool]:
    """Send ``message`` on ``channel`` unless this event already went there: ``(record,
    sent_now)``, the stored delivery record and whether this call sent it."""
    ran: list[bool] = []

    def send() -> dict[str, Any]:
        ran.append(True)
        done = channel.send(message)
        return {"status": done.status, "attempts": done.attempts}

    identity = {"event_id": event_id, "channel": channel.key}
    record = run_once(
        "notify.delivery", identity, send, ttl_s=DELIVERY_RECORD_TTL_S, context=context
    )
    return record, bool(ran)


def notify(
    event: Mapping[str, Any],
    *,
    budget_s: Callable[[], float] | None = None,
    context: Any = None,
) -> Notified:
    """Deliver one EventBridge event to its channels (module docstring). ``budget_s``:
    seconds the channels may still spend (see WebhookChannel); ``context``: the Lambda
    context (bounds in-progress delivery records)."""
    detail_type, detail = parse_event(event)
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise EventSchemaError(
            "EventBridge event without an id", hint="deliver events from the tradpal bus"
        )
    message = format_message(detail_type, detail)
    options = dict(CHANNEL_OPTIONS)
    if budget_s is not None:
        options.setdefault("budget_s", budget_s)
    channels = load_config().channels_for(detail_type, **options)
    done = Notified(event_id, detail_type, message.id)
    failures: list[str] = []
    for channel in channels:
        tally = done.counts.setdefault(channel.kind, Counter())
        try:
            record, sent_now = deliver_once(channel, message, event_id, context)
        except DeliveryError as exc:
            tally["NotificationsFailed"] += 1
            failures.append(exc.message)
            done.sent.append(
                {"channel": channel.label, "outcome": "failed", "attempts": exc.attempts,
                 "status": exc.status, "retryable": exc.retryable, "error": exc.message}
            )  # fmt: skip
            continue
        except IdempotencyAlreadyInProgressError:
            # Another invocation is delivering this event to this channel right now; fail so
            # Lambda retries later and finds its record.
            tally["NotificationsFailed"] += 1
            failures.append(f"{channel.label}: a delivery of this event is in progress")
            done.sent.append({"channel": channel.label, "outcome": "in_progress"})
            continue
        outcome = "sent" if sent_now else "duplicate"
        tally["NotificationsSent" if sent_now else "NotificationsDuplicate"] += 1
        done.sent.append({"channel": channel.label, "outcome": outcome, **record})
    if failures:
        raise NotificationError(
            f"{len(failures)} of {len(channels)} channel(s) did not take event {event_id} "
            f"({detail_type}): " + "; ".join(failures),
            hint="the event is retried; after the retries it is in the notifier's "
            "dead-letter queue (channels that took it are not notified again)",
            notified=done,
        )
    return done
