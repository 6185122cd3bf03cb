"""Batch calls that may refuse single entries: retried until every entry is taken.

EventBridge ``PutEvents`` and Kinesis ``PutRecords`` answer 200 while refusing some entries
(``FailedEntryCount`` / ``FailedRecordCount``, an ``ErrorCode`` per entry). :func:`put_all`
sends the refused entries again, with full-jitter backoff, until all are taken or the
attempts run out, then raises: a caller never believes an entry went out when it did not.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tradpal.errors import TradPalError

T = TypeVar("T")
MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 0.1


class PublishError(TradPalError):
    """Entries a service refused after every retry."""


Outcome = tuple[Any, str | None]
"""Per entry: ``(result, None)`` when taken, ``(None, "<code>: <message>")`` when refused."""


def put_all(
    entries: Sequence[T],
    send: Callable[[list[T]], list[Outcome]],
    *,
    what: str,
    hint: str,
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Any]:
    """Each entry's result, in order, after sending them with ``send`` (one call per attempt
    with the entries still refused; it answers one :data:`Outcome` per entry given).
    Retry ``k`` waits a uniform ``[0, BACKOFF_BASE_S * 2**k]`` seconds. Raises
    :class:`PublishError` naming ``what``, the count and the last error."""
    results: list[Any] = [None] * len(entries)
    pending = list(range(len(entries)))
    error = ""
    for attempt in range(attempts):
        if not pending:
            break
        if attempt:
            sleep(random.uniform(0, BACKOFF_BASE_S * 2**attempt))
        outcomes = send([entries[i] for i in pending])
        still = []
        for i, (result, refused) in zip(pending, outcomes, strict=True):
            if refused is None:
                results[i] = result
            else:
                still.append(i)
                error = refused
        pending = still
    if pending:
        raise PublishError(
            f"{what} refused {len(pending)} entr{'y' if len(pending) == 1 else 'ies'} "
            f"after {attempts} attempts ({error})",
            hint=hint,
        )
    return results


def refusal(result: dict[str, Any]) -> str | None:
    """The ``"<code>: <message>"`` of an entry an AWS batch call refused, or None."""
    code = result.get("ErrorCode")
    return None if not code else f"{code}: {result.get('ErrorMessage')}"
