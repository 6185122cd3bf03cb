"""The one way events leave a function: validated against their schema, then put on the bus.

EventBridge takes at most 10 entries per ``PutEvents`` call and may refuse single entries
(``FailedEntryCount``) while accepting the rest; refused entries are retried with backoff and
an error is raised if any is still refused, so a caller never believes an event went out when
it did not.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from tradpal.errors import TradPalError
from tradpal.events.schemas import validate_detail
from tradpal.platform.catalog import EVENT_SOURCE
from tradpal.platform.clients import client
from tradpal.platform.environment import platform_env

MAX_ENTRIES = 10
MAX_ATTEMPTS = 4


class PublishError(TradPalError):
    """Events the bus refused after every retry."""


def event_source(capability: str) -> str:
    """The ``source`` of events a capability publishes: ``tradpal.<capability>``."""
    return f"{EVENT_SOURCE}.{capability}"


class EventPublisher:
    """Publishes domain events as ``source`` (``tradpal.<capability>``) on ``bus_name``
    (default: the platform's bus)."""

    def __init__(
        self,
        capability: str,
        *,
        bus_name: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = event_source(capability)
        self._bus = bus_name
        self._sleep = sleep

    @property
    def bus_name(self) -> str:
        return self._bus or platform_env().require("event_bus")

    def publish(self, detail_type: str, detail: Any) -> str:
        """Publish one event; returns its EventBridge event id."""
        return self.publish_many([(detail_type, detail)])[0]

    def publish_many(self, events: Iterable[tuple[str, Any]]) -> list[str]:
        """Publish events in order (chunks of 10); returns their ids in the same order."""
        entries = []
        for detail_type, detail in events:
            model = validate_detail(detail_type, detail)
            entries.append(
                {
                    "EventBusName": self.bus_name,
                    "Source": self.source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(model.model_dump(mode="json"), allow_nan=False),
                }
            )
        ids: list[str] = []
        for start in range(0, len(entries), MAX_ENTRIES):
            ids.extend(self._put(entries[start : start + MAX_ENTRIES]))
        return ids

    def _put(self, entries: list[dict[str, Any]]) -> list[str]:
        ids: list[str | None] = [None] * len(entries)
        pending = list(range(len(entries)))
        last_error = ""
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self._sleep(random.uniform(0, 0.1 * 2**attempt))  # full jitter
            answer = client("events").put_events(Entries=[entries[i] for i in pending])
            still = []
            for i, result in zip(pending, answer["Entries"], strict=True):
                if result.get("EventId"):
                    ids[i] = result["EventId"]
                else:
                    still.append(i)
                    last_error = f"{result.get('ErrorCode')}: {result.get('ErrorMessage')}"
            pending = still
            if not pending:
                return [i for i in ids if i is not None]
        raise PublishError(
            f"the event bus refused {len(pending)} event(s) after {MAX_ATTEMPTS} attempts "
            f"({last_error})",
            hint="check the bus name and the function's events:PutEvents permission",
        )
