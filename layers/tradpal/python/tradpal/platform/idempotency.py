"""Doing something once: Powertools Idempotency on the platform's idempotency table.

Every "at most once" of the platform goes through :func:`run_once`: a run start per
``Idempotency-Key``, a ``trading_signal`` per signal id, a notification per event and
channel. The first call runs the work and stores its result under a key derived from the
data; a repeat with the same key gets the stored result without running it (a repeat whose
data differs where ``validate`` points raises ``IdempotencyValidationError``; one while the
first is still running raises ``IdempotencyAlreadyInProgressError``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from tradpal.platform.aws import client
from tradpal.platform.environment import platform_env

TABLE = "idempotency_table"
_lock = threading.Lock()
_layers: dict[tuple[str, str], tuple[Any, Any]] = {}


def persistence(name: str) -> Any:
    """The persistence layer of work ``name`` on the function's idempotency table, reused
    across invocations and rebuilt when the client is. One per kind of work: Powertools
    configures a layer once, with the first config it meets (key path, expiry)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    table, ddb = platform_env().require(TABLE), client("dynamodb")
    with _lock:
        found = _layers.get((table, name))
        if found is None or found[0] is not ddb:
            layer = DynamoDBPersistenceLayer(table, boto3_client=ddb)
            found = _layers[(table, name)] = (ddb, layer)
        return found[1]


def run_once(
    name: str,
    data: Mapping[str, Any],
    work: Callable[[], Any],
    *,
    ttl_s: int,
    key: str | None = None,
    validate: str | None = None,
    context: Any = None,
) -> Any:
    """``work()``'s result, computed once per identity of ``data`` for ``ttl_s`` seconds.

    ``name`` keeps the keys of one kind of work apart (``"runs.start"``), and each name
    always comes with the same ``ttl_s``, ``key`` and ``validate``; ``key`` is a
    JMESPath into ``data`` giving the identity (default: all of ``data``; a key that finds
    nothing is an error); ``validate`` a JMESPath to the part a repeat must match;
    ``context`` the Lambda context, which bounds an in-progress record by the invocation's
    remaining time (a call cut off by a timeout can be retried at once). The result must be
    plain JSON."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(
        event_key_jmespath=key or "",
        payload_validation_jmespath=validate or "",
        expires_after_seconds=ttl_s,
        raise_on_no_idempotency_key=key is not None,
    )
    if context is not None:
        config.register_lambda_context(context)

    def once(data: Mapping[str, Any]) -> Any:
        return work()

    decorated = idempotent_function(
        once,
        data_keyword_argument="data",
        persistence_store=persistence(name),
        config=config,
        key_prefix=name,
    )
    return decorated(data=dict(data))
