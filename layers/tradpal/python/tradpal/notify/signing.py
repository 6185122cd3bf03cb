"""Webhook signatures, in the scheme Stripe uses, so receivers can trust a delivery.

Header ``X-TradPal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``, where the HMAC key
is the channel's secret and the signed text is ``f"{t}.{body}"`` (``body``: the exact bytes
sent). The timestamp is inside the signed text, so a captured delivery cannot be replayed
after ``tolerance_s``; several ``v1=`` entries are accepted (a receiver rotating secrets
can check old and new).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from tradpal.errors import TradPalError

SIGNATURE_HEADER = "X-TradPal-Signature"
DELIVERY_HEADER = "X-TradPal-Delivery"
SCHEME = "v1"


class SignatureError(TradPalError):
    """A webhook delivery whose signature header is missing, malformed, stale or wrong."""


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes | str, timestamp: int) -> str:
    """The :data:`SIGNATURE_HEADER` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},{SCHEME}={_digest(secret, timestamp, _as_bytes(body))}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes | str,
    tolerance_s: float = 300,
    *,
    now: float | None = None,
) -> int:
    """Check a delivery's :data:`SIGNATURE_HEADER` against the raw request ``body``.

    Returns the signed timestamp (unix seconds). Raises :class:`SignatureError` when the
    header is missing or malformed, the timestamp is more than ``tolerance_s`` seconds from
    ``now`` (default: the clock), or no ``v1`` signature matches (constant-time compare).
    """
    if not header:
        raise SignatureError(
            f"no {SIGNATURE_HEADER} header", hint="the sender has no secret configured"
        )
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif name == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(
            f"malformed {SIGNATURE_HEADER} header (expected t=<unix>,{SCHEME}=<hex>)"
        )
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(
            f"signature timestamp is {abs(now - timestamp):.0f} s from now "
            f"(tolerance {tolerance_s:g} s)",
            hint="a replayed or delayed delivery, or a clock out of sync",
        )
    expected = _digest(secret, timestamp, _as_bytes(body))
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError(
            "signature does not match the body",
            hint="verify the raw body bytes as received, with the channel's secret",
        )
    return timestamp
