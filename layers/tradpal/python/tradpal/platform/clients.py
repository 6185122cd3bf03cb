"""boto3 clients, one per service and thread-safe to share, created on first use.

Region and endpoint come from the environment as boto3 reads them (``AWS_REGION`` or
``AWS_DEFAULT_REGION``; ``AWS_ENDPOINT_URL`` for the local platform's moto server), so the
same code talks to AWS in Lambda and to moto on a laptop. Created at first use, not at import:
a handler's cold start only pays for the clients it needs.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """The shared boto3 client for ``service`` (``"s3"``, ``"dynamodb"``, ``"events"``...)."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            import boto3
            from botocore.config import Config

            # Standard retry mode: backoff with jitter on throttling and 5xx, as AWS advises.
            config = Config(retries={"mode": "standard", "max_attempts": 5})
            _clients[service] = boto3.session.Session().client(service, config=config)
        return _clients[service]


def reset_clients() -> None:
    """Forget the cached clients (after the endpoint or credentials changed)."""
    with _lock:
        _clients.clear()
