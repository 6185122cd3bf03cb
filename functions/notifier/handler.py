"""Capability ``notifier``: domain events from the bus, delivered to the configured channels.

EventBridge invokes it asynchronously for ``trading_signal``, ``risk_alert``,
``order_executed`` and ``backtest_complete``; :func:`tradpal.notify.delivery.notify` sends
each event once per channel and raises while a channel refuses it (Lambda retries, then the
on-failure queue). Metrics: one EMF record per channel kind with its counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from tradpal.notify.delivery import NotificationError, Notified, notify
from tradpal.platform.entry import lambda_handler
from tradpal.platform.observability import METRICS_NAMESPACE, for_capability

obs = for_capability("notifier")
TIME_MARGIN_S = 3.0
"""Seconds of the invocation kept for the delivery records and the error report: a channel
starts no attempt that could end later (it fails retryable instead of timing out)."""


def report(done: Notified) -> None:
    """A log line per channel that did not take the event, and one EMF record per channel
    kind (a dimension) with its delivery counts."""
    for sent in done.sent:
        if sent["outcome"] == "failed":
            obs.logger.warning("delivery failed", extra=sent)
    obs.metrics.add_metric(name="NotificationEvents", unit=MetricUnit.Count, value=1)
    if is_metrics_disabled():
        return
    for kind, tally in done.counts.items():
        for name, value in Counter(tally).items():
            dimensions = {"service": obs.name, "channel": kind}
            with single_metric(
                name=name,
                unit=MetricUnit.Count,
                value=value,
                namespace=METRICS_NAMESPACE,
                default_dimensions=dimensions,
            ):
                pass  # fmt: skip


def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = None if remaining is None else (lambda: remaining() / 1000 - TIME_MARGIN_S)
    try:
        done = notify(event, budget_s=budget, context=context)
    except NotificationError as exc:
        report(exc.notified)
        raise
    report(done)
    return done.to_dict()


handler = lambda_handler(obs, events=on_event)
