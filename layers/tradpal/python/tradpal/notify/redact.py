"""Webhook URLs as they may appear in logs and errors: without their secret parts.

Chat webhooks carry their credentials in the URL (``/services/T0/B0/<token>``,
``/api/webhooks/<id>/<token>``, ``/bot<token>/sendMessage``, ``?token=...``, ``user:pass@``),
so only the scheme, host and port are shown, with a short fingerprint of the whole URL to
tell two channels on one host apart. The fingerprint is 8 hex digits of SHA-256: it cannot
give back a token.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit


def url_fingerprint(url: str) -> str:
    """8 hex digits identifying ``url`` (stable across processes)."""
    return hashlib.sha256(url.encode()).hexdigest()[:8]


def redact_url(url: str) -> str:
    """``https://hooks.example.com/…#1a2b3c4d``: scheme, host and port only, path, query and
    credentials hidden; ``<invalid url #…>`` when it cannot be parsed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"<invalid url #{url_fingerprint(url)}>"
    if not parts.scheme or not host:
        return f"<invalid url #{url_fingerprint(url)}>"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}/…#{url_fingerprint(url)}"


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every occurrence of each non-empty ``secrets`` string (URLs: replaced by
    their redacted form; anything else by ``***``)."""
    for secret in secrets:
        if secret:
            replacement = redact_url(secret) if "://" in secret else "***"
            text = text.replace(secret, replacement)
    return text
