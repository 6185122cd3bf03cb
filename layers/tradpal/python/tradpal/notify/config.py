"""The notifier's channels, from a Secrets Manager secret (webhook URLs are credentials).

Secret format (JSON)::

    {"webhooks": [
        {"url": "https://hooks.example.com/T0/B0/abc",   # required, http(s)
         "secret": "whsec_...",                          # optional: sign deliveries
         "events": ["trading_signal", "risk_alert"],     # optional: only these types
         "name": "ops-chat"}                             # optional: label for logs/metrics
    ]}

The secret is read through :func:`load_config` and cached for ``ttl_s`` seconds, so a
changed secret takes effect within a minute without a redeploy while a busy function does
not call Secrets Manager per event. Validation errors name the entry and field, never the
URL's path, query or credentials.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tradpal.errors import ConfigError
from tradpal.notify.channels import Channel, WebhookChannel, validate_webhook_url
from tradpal.notify.format import NOTIFIABLE_TYPES
from tradpal.notify.redact import redact_url

DEFAULT_TTL_S = 60.0
_WEBHOOK_KEYS = frozenset({"url", "secret", "events", "name"})


@dataclass(frozen=True)
class WebhookConfig:
    """One configured webhook; ``events`` None means every notifiable event type."""

    url: str
    secret: str | None = None
    events: frozenset[str] | None = None
    name: str | None = None

    def __repr__(self) -> str:  # never the URL's secret parts nor the signing secret
        label = self.name or redact_url(self.url)
        events = sorted(self.events) if self.events is not None else "all"
        return f"WebhookConfig({label!r}, signed={self.secret is not None}, events={events})"

    def wants(self, detail_type: str) -> bool:
        return self.events is None or detail_type in self.events

    def channel(self, **options: Any) -> WebhookChannel:
        """The channel for this webhook (``options``: WebhookChannel keyword arguments)."""
        return WebhookChannel(self.url, secret=self.secret, name=self.name, **options)


@dataclass(frozen=True)
class NotifierConfig:
    """All configured channels."""

    webhooks: tuple[WebhookConfig, ...] = ()

    def channels_for(self, detail_type: str, **options: Any) -> list[Channel]:
        """The channels that want events of ``detail_type``, in configuration order."""
        return [w.channel(**options) for w in self.webhooks if w.wants(detail_type)]


def _fail(where: str, problem: str) -> ConfigError:
    return ConfigError(
        f"notifier channels {where}: {problem}",
        hint='expected {"webhooks": [{"url": "https://...", "secret": "...", '
        f'"events": [...], "name": "..."}}]}} with events among {", ".join(NOTIFIABLE_TYPES)}',
    )


def _webhook(index: int, entry: Any, signing_key: str | None = None) -> WebhookConfig:
    where = f"webhooks[{index}]"
    if not isinstance(entry, Mapping):
        raise _fail(where, f"must be an object, not {type(entry).__name__}")
    unknown = sorted(set(entry) - _WEBHOOK_KEYS)
    if unknown:
        raise _fail(where, f"unknown key(s) {unknown} (allowed: {sorted(_WEBHOOK_KEYS)})")
    url = entry.get("url")
    if not isinstance(url, str) or not url.strip():
        raise _fail(f"{where}.url", "is required (a string)")
    try:
        validate_webhook_url(url.strip())
    except ConfigError as exc:
        raise _fail(f"{where}.url", exc.message) from None
    secret = entry.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise _fail(f"{where}.secret", "must be a non-empty string when given")
    events = entry.get("events")
    if events is not None:
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise _fail(f"{where}.events", "must be a list of event type names")
        bad = sorted(set(events) - set(NOTIFIABLE_TYPES))
        if bad:
            raise _fail(f"{where}.events", f"unknown event type(s) {bad}")
        if not events:
            raise _fail(f"{where}.events", "is empty: leave it out to receive every type")
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise _fail(f"{where}.name", "must be a non-empty string when given")
    return WebhookConfig(
        url=url.strip(),
        secret=secret or signing_key,
        events=frozenset(events) if events is not None else None,
        name=name.strip() if name else None,
    )


def parse_config(value: str | bytes | Mapping[str, Any]) -> NotifierConfig:
    """Validate the secret's value (JSON text or already parsed) -> :class:`NotifierConfig`."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as exc:
            # The decoder's message holds a position, never the text itself.
            raise _fail("secret", f"is not valid JSON ({exc.args[0].split(':')[0]})") from None
    if not isinstance(value, Mapping):
        raise _fail("secret", f"must be a JSON object, not {type(value).__name__}")
    unknown = sorted(set(value) - {"webhooks", "signing_key"})
    if unknown:
        raise _fail("secret", f"unknown key(s) {unknown} (allowed: ['signing_key', 'webhooks'])")
    # The stacks generate signing_key: webhooks without their own secret are signed with it.
    signing_key = value.get("signing_key")
    if signing_key is not None and (not isinstance(signing_key, str) or len(signing_key) < 16):
        raise _fail("signing_key", "must be a string of at least 16 characters when given")
    hooks = value.get("webhooks", [])
    if not isinstance(hooks, list):
        raise _fail("webhooks", f"must be a list, not {type(hooks).__name__}")
    return NotifierConfig(tuple(_webhook(i, e, signing_key) for i, e in enumerate(hooks)))


def _read_secret(secret_id: str) -> str:
    from botocore.exceptions import ClientError

    from tradpal.platform.aws import client

    try:
        answer = client("secretsmanager").get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise ConfigError(
            f"cannot read the notifier secret {secret_id!r} ({code})",
            hint="create it (the stacks and the local platform do) and grant the notifier "
            "secretsmanager:GetSecretValue on it",
        ) from None
    text = answer.get("SecretString")
    if text is None:
        raise ConfigError(
            f"the notifier secret {secret_id!r} holds binary data, not JSON text",
            hint='store {"webhooks": [...]} as the secret string',
        )
    return text


@dataclass
class _Entry:
    config: NotifierConfig
    loaded_at: float


_cache: dict[str, _Entry] = {}
_lock = threading.Lock()


def load_config(
    secret_id: str | None = None,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    clock: Callable[[], float] = time.monotonic,
    read: Callable[[str], str] = _read_secret,
) -> NotifierConfig:
    """The channels in secret ``secret_id`` (default: ``platform_env().notifier_secret``;
    no secret configured: no channels), cached ``ttl_s`` seconds per secret id.

    Raises ConfigError when the secret cannot be read or is invalid (not cached, so a fix
    takes effect on the next call).
    """
    if secret_id is None:
        from tradpal.platform.environment import platform_env

        secret_id = platform_env().notifier_secret
        if not secret_id:
            return NotifierConfig()
    now = clock()
    with _lock:
        entry = _cache.get(secret_id)
        if entry is not None and now - entry.loaded_at < ttl_s:
            return entry.config
    config = parse_config(read(secret_id))
    with _lock:
        _cache[secret_id] = _Entry(config, now)
    return config


def clear_config_cache() -> None:
    """Forget cached configurations (tests; after writing the secret locally)."""
    with _lock:
        _cache.clear()
