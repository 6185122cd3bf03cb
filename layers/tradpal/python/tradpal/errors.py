"""The errors TradPal raises on bad input or unavailable resources.

Every error a user can cause derives from :class:`TradPalError` and carries a
message that says what is wrong and a ``hint`` that says how to fix it. The
command line prints these without a traceback; handlers map them to 4xx
responses.
"""

from __future__ import annotations

import json
from typing import Any

_SHOWN_MAX = 60


def shown(value: Any) -> str:
    """``value`` as a user wrote it in JSON (``true``, ``"abc"``, ``{"x": 1}``), for a
    message: a request's values are JSON, and Python's repr (``True``, ``'abc'``) is not
    what the user sent. Cut to about 60 characters; what JSON cannot write, as text."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except (TypeError, ValueError):  # NaN, infinity: Python's text is the readable one
        text = str(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


class TradPalError(Exception):
    """Base class of all errors a user can cause or act on."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class ConfigError(TradPalError):
    """Settings are missing, malformed or inconsistent."""


class DataContractError(TradPalError, ValueError):
    """A frame does not follow the OHLCV contract (index, columns, dtypes, order)."""


class DataQualityError(TradPalError, ValueError):
    """A dataset failed quality rules under the ``reject`` policy.

    ``report`` is the :class:`tradpal.data.quality.QualityReport` that failed.
    """

    def __init__(self, message: str, *, report: object, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class SourceError(TradPalError):
    """A data source could not deliver the requested data."""


class StoreError(TradPalError):
    """The market data store could not read or write a dataset."""


class SerializationError(TradPalError, TypeError):
    """A value has no JSON form (see :mod:`tradpal.serialize`)."""


class ReportError(TradPalError, ValueError):
    """A report or result file cannot be written from what was given."""


class TimeframeError(TradPalError, ValueError):
    """An unknown or unusable timeframe."""


class IndicatorInputError(TradPalError, ValueError):
    """An indicator was given input it cannot compute on (shape, type, NaN, period)."""


class StrategyError(TradPalError, ValueError):
    """A strategy, its parameters or its signals are unusable as given."""


class RiskError(ConfigError, ValueError):
    """A sizing rule, stop rule or risk limit is malformed or out of range."""


class BacktestError(TradPalError, ValueError):
    """A backtest's settings or inputs are unusable as given."""


class OptimizeError(TradPalError, ValueError):
    """A sweep or walk-forward request cannot run as given (windows, objective, candidates)."""


class DiscoveryError(OptimizeError):
    """A discovery (a search at scale: a kind of optimisation) request, state or batch of
    results is unusable as given."""


class FieldError(TradPalError):
    """A request field the library refuses. ``field`` names it by its place in the request
    (``"body.data.end"``, ``"query.after"``): an API answers 400 naming it, the command line
    prints the message and hint."""

    def __init__(self, field: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"{field}: {message}", hint=hint)
        self.field, self.reason = field, message

    def details(self) -> list[dict[str, str]]:
        """``[{"field", "message", "hint"}]``: the error shape's details (no hint: left out)."""
        detail = {"field": self.field, "message": self.reason}
        return [detail | {"hint": self.hint}] if self.hint else [detail]
