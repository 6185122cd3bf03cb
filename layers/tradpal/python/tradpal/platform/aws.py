"""The one boto3 client factory, and ARNs.

Every AWS call of TradPal (handlers, the local platform's runtime, health checks) gets its
client here. Region and endpoint come from the environment as boto3 reads them
(``AWS_REGION`` or ``AWS_DEFAULT_REGION``, else ``us-east-1``; ``AWS_ENDPOINT_URL`` for the
local platform's moto server), so the same code talks to AWS in Lambda and to moto on a
laptop. Clients are created at first use, not at import (a cold start pays only for the
clients it needs), and cached per service, region, endpoint and retry/timeout settings:
a changed endpoint gets a new client without :func:`reset_clients`.

Three ways of retrying, one per kind of caller:

* the default: botocore's standard mode (backoff with jitter on throttling and 5xx, as AWS
  advises), 5 attempts: what a function does;
* ``retries=False``: one attempt. The local runtime stands in for AWS services (Lambda's
  async retries, EventBridge's retry policy) and counts attempts itself; health checks must
  answer within their own budget;
* timeouts: ``read_timeout_s`` covers Lambda's longest synchronous invocation (900 s) for
  the local runtime, or a health check's short budget.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from tradpal.errors import ConfigError

DEFAULT_REGION = "us-east-1"
STANDARD_ATTEMPTS = 5

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}
_sessions: dict[tuple[tuple[str, str], ...], Any] = {}


def region_name(region: str | None = None) -> str:
    """``region``, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else us-east-1."""
    env = os.environ
    return region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def client(
    service: str,
    region: str | None = None,
    *,
    retries: bool = True,
    connect_timeout_s: float | None = None,
    read_timeout_s: float | None = None,
) -> Any:
    """The shared, thread-safe boto3 client of ``service`` (``"s3"``, ``"dynamodb"``...).

    ``retries``: botocore's standard retries (5 attempts), or one attempt when False.
    ``connect_timeout_s`` / ``read_timeout_s``: botocore's defaults (60 s) when None."""
    key = (
        service,
        region_name(region),
        os.environ.get("AWS_ENDPOINT_URL"),
        retries,
        connect_timeout_s,
        read_timeout_s,
    )
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:  # creating clients is not thread-safe; calls on a client are
        found = _clients.get(key)
        if found is None:
            import boto3
            from botocore.config import Config

            options: dict[str, Any] = {
                "retries": {
                    "mode": "standard",
                    "max_attempts": STANDARD_ATTEMPTS if retries else 1,
                }
            }
            if connect_timeout_s is not None:
                options["connect_timeout"] = connect_timeout_s
            if read_timeout_s is not None:
                options["read_timeout"] = read_timeout_s
            found = _session(boto3).client(service, region_name=key[1], config=Config(**options))
            _clients[key] = found
        return found


def _session(boto3: Any) -> Any:
    """The boto3 session clients are made from (with ``_lock`` held): one per set of
    ``AWS_*`` environment variables, which a session reads when it is made. A session of its
    own per client loaded botocore's endpoint, partition and retry data again for each: a
    function's first request that makes five clients took a third of a second more."""
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    found = _sessions.get(key)
    if found is None:
        found = _sessions[key] = boto3.session.Session()
    return found


def reset_clients() -> None:
    """Forget the cached clients and sessions (after the credentials changed)."""
    with _lock:
        _clients.clear()
        _sessions.clear()


@dataclass(frozen=True)
class Arn:
    """The parts of an ARN: ``arn:partition:service:region:account:resource``."""

    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, arn: str) -> Arn:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise ConfigError(f"{arn!r} is not an ARN", hint="use arn:aws:<service>:...")
        return cls(parts[2], parts[3], parts[4], parts[5])

    @property
    def name(self) -> str:
        """The resource name: the part after ``function:``, ``stream/``, ``stateMachine:``."""
        for sep in (":", "/"):
            if sep in self.resource:
                return self.resource.split(sep, 1)[1].split(":")[0]
        return self.resource


def queue_url(queue: str) -> str:
    """The URL of an SQS queue given by URL or ARN."""
    if not queue.startswith("arn:"):
        return queue
    arn = Arn.parse(queue)
    return client("sqs", arn.region, retries=False).get_queue_url(
        QueueName=arn.resource, QueueOwnerAWSAccountId=arn.account
    )["QueueUrl"]


__all__ = ["Arn", "client", "queue_url", "region_name", "reset_clients"]
