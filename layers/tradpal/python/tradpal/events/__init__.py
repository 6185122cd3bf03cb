"""Domain events: versioned schemas and the one publisher every function uses."""

from tradpal.events.partial import PublishError
from tradpal.events.publisher import EventPublisher, event_source
from tradpal.events.schemas import (
    DETAIL_MODELS,
    CandleRecord,
    EventSchemaError,
    parse_candle,
    parse_event,
    validate_detail,
)

__all__ = [
    "DETAIL_MODELS",
    "CandleRecord",
    "EventPublisher",
    "EventSchemaError",
    "PublishError",
    "event_source",
    "parse_candle",
    "parse_event",
    "validate_detail",
]
