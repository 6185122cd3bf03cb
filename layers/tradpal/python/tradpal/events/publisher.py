"""The one way events leave a function: validated against their schema, then put on the bus.

EventBridge takes at most 10 entries per ``PutEvents`` call and may refuse single entries
while accepting the rest; refused entries are retried (:func:`tradpal.events.partial.put_all`)
and an error is raised if any is still refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from tradpal.events.partial import Outcome, put_all, refusal
from tradpal.events.schemas import validate_detail
from tradpal.platform.aws import client
from tradpal.platform.catalog import EVENT_SOURCE
from tradpal.platform.environment import platform_env

MAX_ENTRIES = 10
MAX_ATTEMPTS = 4


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
        def send(batch: list[dict[str, Any]]) -> list[Outcome]:
            answer = client("events").put_events(Entries=batch)
            return [(r.get("EventId"), refusal(r)) for r in answer["Entries"]]

        return put_all(
            entries,
            send,
            what="the event bus",
            hint="check the bus name and the function's events:PutEvents permission",
            attempts=MAX_ATTEMPTS,
            sleep=self._sleep,
        )
