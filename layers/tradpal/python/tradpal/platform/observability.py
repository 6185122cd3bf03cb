"""Powertools' logger, metrics and tracer for a capability, configured one way everywhere.

Logs are JSON with the capability as ``service`` and the correlation id of the request or
event; metrics are CloudWatch EMF in the ``TradPal`` namespace with the capability as the
``service`` dimension; traces go to X-Ray where Lambda enables it (the local platform sets
``POWERTOOLS_TRACE_DISABLED``).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger, Metrics, Tracer

METRICS_NAMESPACE = "TradPal"


@dataclass(frozen=True)
class Observability:
    """The three Powertools utilities of one capability."""

    logger: Logger
    metrics: Metrics
    tracer: Tracer


def for_capability(name: str) -> Observability:
    """Logger, metrics and tracer for capability ``name`` (its ``service``)."""
    return Observability(
        logger=Logger(service=name),
        metrics=Metrics(namespace=METRICS_NAMESPACE, service=name),
        tracer=Tracer(service=name),
    )
