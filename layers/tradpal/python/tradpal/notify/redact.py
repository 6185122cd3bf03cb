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


MIN_SECRET_PART = 8
"""URL parts at least this long (path segments, query values, the password) are treated as
possible tokens by :func:`scrub`; shorter ones (``api``, ``v1``) are plain words."""


def secret_parts(url: str) -> list[str]:
    """The parts of ``url`` that may be credentials: the password and the path segments and
    query values of at least :data:`MIN_SECRET_PART` characters, longest first."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found = {password} if password else set()
    found.update(seg for seg in parts.path.split("/") if len(seg) >= MIN_SECRET_PART)
    for pair in parts.query.split("&"):
        value = pair.partition("=")[2]
        if len(value) >= MIN_SECRET_PART:
            found.add(value)
    return sorted(found, key=len, reverse=True)


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` without ``secrets``: a URL is replaced by its redacted form and its possible
    tokens (:func:`secret_parts`) by ``***``, so a receiver echoing its token is hidden too;
    any other non-empty string by ``***``."""
    for secret in secrets:
        if not secret:
            continue
        if "://" in secret:
            text = text.replace(secret, redact_url(secret))
            for part in secret_parts(secret):
                text = text.replace(part, "***")
        else:
            text = text.replace(secret, "***")
    return text
