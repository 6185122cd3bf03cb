"""Capability ``discovery_evaluate``: the discovery state machine's Distributed Map worker.

Each invocation gets one batch ``{"Items": [candidates], "BatchInput": {"task": "evaluate",
"run_id", "generation", "request", "bucket", "results_prefix"}}``, scores it with
:func:`tradpal.discovery.evaluate`, writes the results to S3 and returns the pointer
``{"batch_id", "key"}`` (:func:`tradpal.platform.discovery_runs.evaluate`).
"""

from __future__ import annotations

from typing import Any

from tradpal.platform import discovery_runs
from tradpal.platform.observability import for_capability
from tradpal.platform.run_api import dispatch_task

obs = for_capability("discovery_evaluate")
TASKS = {"evaluate": discovery_runs.evaluate}


@obs.logger.inject_lambda_context
@obs.metrics.log_metrics
@obs.tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    """One Map batch -> ``{"batch_id", "key"}``."""
    batch = event.get("BatchInput") or {}
    obs.logger.set_correlation_id(batch.get("run_id"))
    return dispatch_task(TASKS, event)
