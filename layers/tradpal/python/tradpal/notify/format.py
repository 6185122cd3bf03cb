"""Events -> human messages: a title, a short text, labelled fields and a severity.

Pure functions (no I/O): the same event always gives the same message, including its
``id``, a stable hash of the event type and the event's own natural key (signal id, alert
id, order id, run id and status), so receivers can drop duplicates even when a producer
published the same fact twice.

Conventions: prices with thousands separators and enough decimals to show the move (2 from
1,000 up, more for small prices); quantities up to 8 decimals; fractions (returns, drawdown,
win rate) as percentages; times as ``YYYY-MM-DD HH:MM UTC``. Messages carry no secrets: a
failure's cause is cut to its first line and :data:`MAX_ERROR_CHARS` characters (stack traces
and payloads stay in the logs).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tradpal.events.schemas import (
    BacktestComplete,
    EventSchemaError,
    OrderExecuted,
    RiskAlert,
    TradingSignal,
    validate_detail,
)

Severity = Literal["info", "success", "warning", "critical"]

NOTIFIABLE_TYPES: tuple[str, ...] = (
    "trading_signal",
    "risk_alert",
    "order_executed",
    "backtest_complete",
)
"""The event types :func:`format_message` turns into messages (what the notifier consumes)."""

MAX_TEXT_CHARS = 500
MAX_ERROR_CHARS = 300

# Backtest metrics shown in a completion message, in this order (fractions unless noted).
_METRICS: tuple[tuple[str, str], ...] = (
    ("total_return", "Total return"),
    ("cagr", "CAGR"),
    ("sharpe", "Sharpe"),
    ("max_drawdown", "Max drawdown"),
    ("win_rate", "Win rate"),
    ("profit_factor", "Profit factor"),
    ("num_trades", "Trades"),
    ("final_equity", "Final equity"),
)
_PERCENT = frozenset({"total_return", "cagr", "max_drawdown", "win_rate"})
_SIGNED = frozenset({"total_return", "cagr"})


@dataclass(frozen=True)
class Message:
    """A notification, independent of the channel that delivers it.

    ``fields`` keeps its insertion order (label -> formatted value); ``event`` is the
    validated event detail as JSON (what webhook receivers get under ``"event"``).
    """

    id: str
    type: str
    title: str
    text: str
    severity: Severity
    fields: Mapping[str, str] = field(default_factory=dict)
    event: Mapping[str, Any] = field(default_factory=dict)

    def payload(self, sent_at: str) -> dict[str, Any]:
        """The JSON body a webhook receives (``sent_at``: ISO 8601 UTC)."""
        return {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "text": self.text,
            "fields": dict(self.fields),
            "severity": self.severity,
            "event": dict(self.event),
            "sent_at": sent_at,
        }


# -- numbers and times ------------------------------------------------------------------------


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _trim(digits: str, keep: int) -> str:
    """Drop trailing zeros after the decimal point, keeping at least ``keep`` decimals."""
    if "." not in digits:
        return digits
    whole, frac = digits.split(".")
    frac = frac.rstrip("0").ljust(keep, "0")
    return f"{whole}.{frac}" if frac else whole


def format_price(value: Any) -> str:
    """A price: ``64,250.50``, ``1.2345``, ``0.00012345`` (about 5 significant digits below 1,
    never scientific notation); ``n/a`` when missing or not finite."""
    v = _finite(value)
    if v is None:
        return "n/a"
    a = abs(v)
    if a >= 1000 or a == 0:
        return f"{v:,.2f}"
    if a >= 1:
        return _trim(f"{v:,.4f}", 2)
    decimals = min(12, 4 - math.floor(math.log10(a)))  # ~5 significant digits
    return _trim(f"{v:.{decimals}f}", 2)


def format_quantity(value: Any) -> str:
    """A quantity in base units: up to 8 decimals, trailing zeros dropped (``0.5``, ``1,200``)."""
    v = _finite(value)
    return "n/a" if v is None else _trim(f"{v:,.8f}", 0)


def format_percent(value: Any, *, signed: bool = False) -> str:
    """A fraction as a percentage, 2 decimals: ``0.1234`` -> ``12.34%`` (signed: ``+12.34%``)."""
    v = _finite(value)
    if v is None:
        return "n/a"
    return f"{v:+.2%}" if signed else f"{v:.2%}"


def format_number(value: Any) -> str:
    """A ratio or amount: integers with separators, floats with 2 decimals (``1,234.57``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    v = _finite(value)
    return "n/a" if v is None else f"{v:,.2f}"


def format_time(iso: str) -> str:
    """An ISO 8601 time as ``YYYY-MM-DD HH:MM UTC`` (unparseable text is returned as is)."""
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _metric(name: str, value: Any) -> str:
    if name in _PERCENT:
        return format_percent(value, signed=name in _SIGNED)
    if name == "final_equity":
        return format_price(value)
    return format_number(value)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _message_id(detail_type: str, *key: str) -> str:
    raw = json.dumps([detail_type, *key], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


# -- one formatter per event type -------------------------------------------------------------


def _signal(d: TradingSignal) -> tuple[str, str, Severity, dict[str, str], tuple[str, ...]]:
    price = format_price(d.price)
    if d.side == "flat":
        action = f"close the {d.previous} {d.symbol} position"
        title = f"{d.symbol} {d.timeframe}: exit {d.previous.upper()}"
    else:
        was = f" (from {d.previous})" if d.previous != "flat" else ""
        action = f"go {d.side} {d.symbol}{was}"
        title = f"{d.symbol} {d.timeframe}: {d.side.upper()}"
    text = f"{d.strategy} wants to {action} at {price} after the {format_time(d.time)} bar."
    fields = {
        "Symbol": d.symbol,
        "Timeframe": d.timeframe,
        "Strategy": d.strategy,
        "Side": d.side,
        "Previous": d.previous,
        "Price": price,
        "Bar": format_time(d.time),
    }
    if d.params:
        fields["Params"] = _shorten(", ".join(f"{k}={d.params[k]}" for k in sorted(d.params)), 200)
    return title, text, "info", fields, (d.signal_id,)


def _risk(d: RiskAlert) -> tuple[str, str, Severity, dict[str, str], tuple[str, ...]]:
    where = f" on {d.symbol}" if d.symbol else ""
    title = f"Risk {d.level}: {d.kind.replace('_', ' ')}{where}"
    fields = {"Level": d.level, "Kind": d.kind}
    if d.symbol:
        fields["Symbol"] = d.symbol
    fields["Time"] = format_time(d.time)
    return title, d.message, d.level, fields, (d.alert_id,)


def _order(d: OrderExecuted) -> tuple[str, str, Severity, dict[str, str], tuple[str, ...]]:
    verb = "Bought" if d.side == "buy" else "Sold"
    qty, price = format_quantity(d.quantity), format_price(d.price)
    title = f"{verb} {qty} {d.symbol} @ {price} ({d.mode})"
    text = (
        f"{d.mode.capitalize()} order {d.order_id}: {d.side} {qty} {d.symbol} at {price}, "
        f"notional {format_price(d.quantity * d.price)}, fee {format_price(d.fee)}."
    )
    fields = {
        "Symbol": d.symbol,
        "Side": d.side,
        "Quantity": qty,
        "Price": price,
        "Notional": format_price(d.quantity * d.price),
        "Fee": format_price(d.fee),
        "Mode": d.mode,
        "Time": format_time(d.time),
    }
    return title, text, "info", fields, (d.order_id,)


def _cause(error: Any) -> str:
    """The readable part of a Step Functions error: a Lambda error's ``errorMessage`` when the
    cause is its JSON, else the cause's first line; never the stack trace."""
    if error is None:
        return "no error details recorded"
    cause = error.Cause or ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        cause = parsed["errorMessage"]
    line = cause.strip().splitlines()[0] if cause.strip() else ""
    return _shorten(f"{error.Error}: {line}" if line else error.Error, MAX_ERROR_CHARS)


def _run(d: BacktestComplete) -> tuple[str, str, Severity, dict[str, str], tuple[str, ...]]:
    what = "Backtest" if d.kind == "backtest" else "Discovery"
    key = (d.kind, d.run_id, d.status)
    if d.status == "FAILED":
        reason = _cause(d.error)
        fields = {"Run": d.run_id, "Kind": d.kind, "Status": d.status, "Error": reason}
        return f"{what} {d.run_id} failed", reason, "warning", fields, key
    fields = {"Run": d.run_id, "Kind": d.kind, "Status": d.status}
    metrics: Mapping[str, Any] = {}
    if d.kind == "backtest":
        metrics = (d.result or {}).get("metrics") or {}
    elif d.best:
        best = d.best
        if best.get("id") is not None:
            fields["Best"] = str(best["id"])
        if isinstance(best.get("params"), Mapping) and best["params"]:
            fields["Params"] = _shorten(
                ", ".join(f"{k}={v}" for k, v in sorted(best["params"].items())), 200
            )
        # Out-of-sample metrics are the honest ones; fall back to in-sample.
        metrics = best.get("oos") or best.get("is") or best.get("metrics") or {}
    shown = {label: _metric(name, metrics[name]) for name, label in _METRICS if name in metrics}
    fields.update(shown)
    summary = ", ".join(f"{k} {v}" for k, v in list(shown.items())[:4])
    text = f"{what} {d.run_id} finished" + (f": {summary}." if summary else ".")
    return f"{what} {d.run_id} succeeded", text, "success", fields, key


_FORMATTERS = {
    "trading_signal": _signal,
    "risk_alert": _risk,
    "order_executed": _order,
    "backtest_complete": _run,
}


def format_message(detail_type: str, detail: Any) -> Message:
    """The message for one event (``detail``: a dict or the validated model).

    Raises :class:`tradpal.events.EventSchemaError` when the detail does not match its schema
    or the type is not one of :data:`NOTIFIABLE_TYPES`.
    """
    model = validate_detail(detail_type, detail)
    formatter = _FORMATTERS.get(detail_type)
    if formatter is None:
        raise EventSchemaError(
            f"{detail_type} events are not notifications",
            hint=f"the notifier formats {', '.join(NOTIFIABLE_TYPES)}",
        )
    title, text, severity, fields, key = formatter(model)  # type: ignore[operator]
    return Message(
        id=_message_id(detail_type, *key),
        type=detail_type,
        title=_shorten(title, 200),
        text=_shorten(text, MAX_TEXT_CHARS),
        severity=severity,
        fields=fields,
        event=model.model_dump(mode="json"),
    )
