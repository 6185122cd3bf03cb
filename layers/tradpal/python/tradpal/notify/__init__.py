"""Notifications: domain events formatted as messages and delivered to configured channels.

Pure core (:mod:`~tradpal.notify.format`, :mod:`~tradpal.notify.signing`,
:mod:`~tradpal.notify.redact`) and adapters (:mod:`~tradpal.notify.channels` over HTTP,
:mod:`~tradpal.notify.config` over Secrets Manager). The notifier function
(``functions/notifier/handler.py``) calls :func:`~tradpal.notify.delivery.notify`, which
joins them with idempotent delivery.
"""

from tradpal.notify.channels import Channel, Delivery, DeliveryError, WebhookChannel
from tradpal.notify.config import (
    NotifierConfig,
    WebhookConfig,
    clear_config_cache,
    load_config,
    parse_config,
)
from tradpal.notify.format import NOTIFIABLE_TYPES, Message, format_message
from tradpal.notify.redact import redact_url
from tradpal.notify.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    sign,
    verify_signature,
)

__all__ = [
    "DELIVERY_HEADER",
    "NOTIFIABLE_TYPES",
    "SIGNATURE_HEADER",
    "Channel",
    "Delivery",
    "DeliveryError",
    "Message",
    "NotifierConfig",
    "SignatureError",
    "WebhookChannel",
    "WebhookConfig",
    "clear_config_cache",
    "format_message",
    "load_config",
    "parse_config",
    "redact_url",
    "sign",
    "verify_signature",
]
