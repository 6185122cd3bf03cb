"""The trader's heartbeat: one CloudWatch Embedded Metric Format (EMF) line a minute.

A deployed trader prints :func:`heartbeat_emf`'s document as one JSON line on stdout every
:data:`HEARTBEAT_PERIOD_S` seconds while it is alive and trading. Its awslogs log group hands
the line to CloudWatch Logs, which extracts the metric :data:`HEARTBEAT_METRIC` (Count) in
namespace ``TradPal`` with dimensions ``service="trading"`` and ``trader=<id>``; no
``PutMetricData`` call and no IAM for it. The CDK app (``cdk/trading.py``) alarms when a
trader's heartbeats sum to less than one per minute three minutes running, missing data
counting as breaching: a trader that stopped, hangs or cannot log is noticed within minutes.
"""

from __future__ import annotations

from typing import Any

from tradpal.platform.observability import METRICS_NAMESPACE

HEARTBEAT_METRIC = "TraderHeartbeat"
"""The metric's name (unit Count, one per heartbeat)."""

HEARTBEAT_PERIOD_S = 60
"""Seconds between heartbeats; the alarm's period."""

HEARTBEAT_SERVICE = "trading"
"""The ``service`` dimension, as Powertools' metrics name the capability."""


def heartbeat_emf(trader_id: str, now_ms: int) -> dict[str, Any]:
    """The EMF document of one heartbeat of ``trader_id`` at ``now_ms`` (epoch milliseconds):
    print it as one JSON line (``json.dumps``) to stdout."""
    return {
        "_aws": {
            "Timestamp": int(now_ms),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["service", "trader"]],
                    "Metrics": [{"Name": HEARTBEAT_METRIC, "Unit": "Count"}],
                }
            ],
        },
        "service": HEARTBEAT_SERVICE,
        "trader": trader_id,
        HEARTBEAT_METRIC: 1,
    }


__all__ = ["HEARTBEAT_METRIC", "HEARTBEAT_PERIOD_S", "HEARTBEAT_SERVICE", "heartbeat_emf"]
