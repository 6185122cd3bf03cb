"""The platform: the capability catalog shared by the CDK stacks and the local platform."""

from tradpal.platform.catalog import (
    CATALOG,
    EVENT_SOURCE,
    EVENT_TYPES,
    SCOPES,
    STATE_MACHINES,
    STREAMS,
    Capability,
    Catalog,
    EventRule,
    Route,
    Schedule,
    StreamConsumer,
    Throttle,
)

__all__ = [
    "CATALOG",
    "EVENT_SOURCE",
    "EVENT_TYPES",
    "SCOPES",
    "STATE_MACHINES",
    "STREAMS",
    "Capability",
    "Catalog",
    "EventRule",
    "Route",
    "Schedule",
    "StreamConsumer",
    "Throttle",
]
