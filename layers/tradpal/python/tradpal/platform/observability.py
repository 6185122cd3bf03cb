"""Powertools' logger, metrics and tracer for a capability, configured one way everywhere.

Logs are JSON with the capability as ``service`` and the correlation id of the request or
event; metrics are CloudWatch EMF in the ``TradPal`` namespace with the capability as the
``service`` dimension; traces go to X-Ray where Lambda enables it (the local platform sets
``POWERTOOLS_TRACE_DISABLED``). The library logs through standard-library loggers under
``tradpal``; in Lambda they write the capability's JSON lines too (:func:`for_capability`).
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

METRICS_NAMESPACE = "TradPal"


@dataclass(frozen=True)
class Observability:
    """The three Powertools utilities of one capability (its ``name``); the tracer is made
    on first use."""

    name: str
    logger: Logger
    metrics: Metrics

    @functools.cached_property
    def tracer(self) -> Tracer:
        """Powertools' tracer for the capability. Made when first asked for: a Tracer loads
        the X-Ray SDK (about 0.1 s of a cold start) even where tracing is off, and
        :func:`~tradpal.platform.entry.lambda_handler` asks only where it is on
        (:func:`tracing_enabled`)."""
        from aws_lambda_powertools import Tracer

        return Tracer(service=self.name)


def tracing_enabled() -> bool:
    """Whether Powertools' Tracer records traces here: in Lambda (``LAMBDA_TASK_ROOT``), not
    under SAM or Chalice locally, and not turned off (``POWERTOOLS_TRACE_DISABLED``): the
    rule ``Tracer`` applies itself (and True where this Powertools has no such rule: the
    Tracer is then made and decides)."""
    from aws_lambda_powertools.tracing.tracer import Tracer

    disabled = getattr(Tracer, "_is_tracer_disabled", None)
    return disabled is None or not disabled()


def for_capability(name: str) -> Observability:
    """Logger, metrics and tracer for capability ``name`` (its ``service``).

    In Lambda, the library's own loggers (``logging.getLogger("tradpal...")``) are given the
    capability logger's JSON handler, so everything a function logs is structured alike;
    elsewhere (the local platform, tests) they stay plain standard-library loggers."""
    logger = Logger(service=name)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

        logging.getLogger("tradpal")  # registered, so that its handler can be set
        copy_config_to_registered_loggers(source_logger=logger, include={"tradpal"})
    return Observability(
        name=name, logger=logger, metrics=Metrics(namespace=METRICS_NAMESPACE, service=name)
    )
