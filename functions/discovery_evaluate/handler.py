"""Capability ``discovery_evaluate``: the discovery state machine's Distributed Map worker.

Each invocation gets one batch ``{"Items": [candidates], "BatchInput": {"task": "evaluate",
"run_id", "generation", "request", "bucket", "results_prefix"}}``, scores it and stores the
result (:func:`tradpal.runs.discovery.evaluate`), and answers ``{"batch_id", "key"}``.
"""

from __future__ import annotations

from tradpal.platform.entry import lambda_handler
from tradpal.platform.observability import for_capability
from tradpal.runs import discovery

obs = for_capability("discovery_evaluate")
handler = lambda_handler(obs, tasks={"evaluate": discovery.evaluate})
