"""Where messages go: the :class:`Channel` protocol and the webhook channel.

A webhook delivery is an HTTP POST of the message as JSON (:meth:`Message.payload`), signed
when the channel has a secret (:mod:`tradpal.notify.signing`), with the message id in
``X-TradPal-Delivery`` so a receiver can drop a delivery it already has. Transient failures
(connection errors, timeouts, 408, 429, 5xx) are retried with exponential backoff and full
jitter (429: after the receiver's ``Retry-After``); any other answer is a refusal and is not
retried. Errors and logs name the channel by its redacted URL only.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from tradpal.errors import ConfigError, TradPalError
from tradpal.notify.format import Message
from tradpal.notify.redact import redact_url, scrub
from tradpal.notify.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign

USER_AGENT = "TradPal-Notifier/1"
_RETRY_STATUS = frozenset({408, 429})
_MAX_SNIPPET = 200


class DeliveryError(TradPalError):
    """A message a channel could not deliver.

    ``retryable`` is False when the receiver refused it (a 4xx other than 408/429): sending
    it again unchanged would be refused again. ``status`` is the last HTTP status, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        attempts: int,
        retryable: bool,
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.channel = channel
        self.attempts = attempts
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class Delivery:
    """A delivered message: the channel (redacted label), HTTP status and attempts used."""

    channel: str
    status: int
    attempts: int
    delivery_id: str


@runtime_checkable
class Channel(Protocol):
    """A destination for messages.

    ``kind`` names the channel type (metrics dimension: ``"webhook"``); ``key`` is a stable,
    secret-free identity (idempotency records); ``label`` is safe to log.
    """

    kind: str
    key: str
    label: str

    def send(self, message: Message) -> Delivery:
        """Deliver ``message`` or raise :class:`DeliveryError` after the channel's retries."""
        ...


class _Attempt(Exception):
    """One failed attempt (internal): what happened and whether to try again."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A webhook that redirects is misconfigured; following it would turn the POST into a GET
    # and could send the signed body to another host.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def validate_webhook_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"webhook URL {redact_url(url)} is not an http(s) URL with a host",
            hint="use https://host/path (http only for receivers on this machine)",
        )


class WebhookChannel:
    """POSTs messages as JSON to ``url``.

    ``secret``: HMAC key for the ``X-TradPal-Signature`` header (none: unsigned).
    ``timeout_s``: per attempt (connect and each read). ``max_attempts``: total attempts
    including the first. Backoff before retry n (1, 2, ...) is uniform in
    ``[0, min(max_delay_s, base_delay_s * 2 ** (n - 1))]`` (full jitter); a 429's
    ``Retry-After`` is waited as given, and one longer than ``max_retry_after_s`` ends the
    attempts (retryable: the caller's own retry comes later). ``budget_s``, when given,
    returns the seconds the sender may still spend (a Lambda's remaining time less a
    margin): no attempt starts that could outlast it, so the function fails cleanly and is
    retried instead of timing out mid-request. ``sleep``, ``clock`` (unix seconds) and
    ``rng`` are injectable for tests.
    """

    kind = "webhook"

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        timeout_s: float = 5,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        name: str | None = None,
        base_delay_s: float = 0.5,
        max_delay_s: float = 8.0,
        max_retry_after_s: float = 20.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        budget_s: Callable[[], float] | None = None,
    ) -> None:
        validate_webhook_url(url)
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, not {max_attempts}")
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be positive, not {timeout_s}")
        self._url = url
        self._secret = secret or None
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._budget = budget_s
        self.key = f"webhook:{hashlib.sha256(url.encode()).hexdigest()[:16]}"
        self.label = f"webhook {name}" if name else f"webhook {redact_url(url)}"

    def __repr__(self) -> str:
        return f"WebhookChannel({self.label!r}, signed={self._secret is not None})"

    @property
    def signed(self) -> bool:
        return self._secret is not None

    def send(self, message: Message) -> Delivery:
        """POST ``message``; the :class:`Delivery` on a 2xx, else :class:`DeliveryError`."""
        sent_at = datetime.fromtimestamp(self._clock(), UTC).isoformat().replace("+00:00", "Z")
        body = json.dumps(
            message.payload(sent_at), separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
        last: _Attempt | None = None
        for attempt in range(1, self.max_attempts + 1):
            delay = self._delay(attempt - 1, last) if last is not None else 0.0
            if self._budget is not None and self._budget() < delay + self.timeout_s:
                raise self._out_of_time(last, attempt - 1)
            if delay:
                self._sleep(delay)
            try:
                status = self._post(body, message)
            except _Attempt as failure:
                last = failure
                if not failure.retryable:
                    raise self._error(failure, attempt) from None
                if failure.retry_after is not None and failure.retry_after > self.max_retry_after_s:
                    raise self._error(failure, attempt) from None
                continue
            return Delivery(self.label, status, attempt, message.id)
        assert last is not None
        raise self._error(last, self.max_attempts) from None

    # -- internals ----------------------------------------------------------------------------

    def _delay(self, retry: int, failure: _Attempt) -> float:
        if failure.retry_after is not None:
            return failure.retry_after
        return self._rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1)))

    def _post(self, body: bytes, message: Message) -> int:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: message.id,
            "X-TradPal-Event": message.type,
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body, int(self._clock()))
        request = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        try:
            with _opener.open(request, timeout=self.timeout_s) as response:
                response.read(65536)  # drain so the connection closes cleanly
                return response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            snippet = self._snippet(exc)
            retry_after = (
                _retry_after(exc.headers.get("Retry-After"), self._clock())
                if status == 429 and exc.headers is not None
                else None
            )
            retryable = status in _RETRY_STATUS or status >= 500
            reason = f"HTTP {status}" + (f" ({snippet})" if snippet else "")
            raise _Attempt(
                reason, retryable=retryable, status=status, retry_after=retry_after
            ) from None
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            cause = getattr(exc, "reason", exc)
            reason = type(cause).__name__ + (f": {cause}" if str(cause) else "")
            raise _Attempt(self._scrub(reason), retryable=True) from None

    def _snippet(self, exc: urllib.error.HTTPError) -> str:
        try:
            text = exc.read(_MAX_SNIPPET).decode("utf-8", "replace")
        except OSError:
            return ""
        finally:
            exc.close()
        return self._scrub(" ".join(text.split()))

    def _scrub(self, text: str) -> str:
        return scrub(text, self._url, self._secret)

    def _out_of_time(self, last: _Attempt | None, attempts: int) -> DeliveryError:
        after = f" after {attempts} attempt(s): {last.reason}" if last is not None else ""
        return DeliveryError(
            f"{self.label}: no time left for another attempt{after}",
            channel=self.label,
            attempts=attempts,
            retryable=True,
            status=last.status if last is not None else None,
            hint="the invocation is ending; the event is retried later",
        )

    def _error(self, failure: _Attempt, attempts: int) -> DeliveryError:
        if not failure.retryable:
            return DeliveryError(
                f"{self.label} refused the message: {failure.reason}",
                channel=self.label,
                attempts=attempts,
                retryable=False,
                status=failure.status,
                hint="the receiver rejected the request itself; check its URL, "
                "authentication and expected payload (not retried)",
            )
        if failure.retry_after is not None and failure.retry_after > self.max_retry_after_s:
            return DeliveryError(
                f"{self.label} asked to retry after {failure.retry_after:.0f} s "
                f"(more than {self.max_retry_after_s:g} s): {failure.reason}",
                channel=self.label,
                attempts=attempts,
                retryable=True,
                status=failure.status,
                hint="the receiver is throttling; the event is retried later",
            )
        return DeliveryError(
            f"{self.label} failed after {attempts} attempt(s): {failure.reason}",
            channel=self.label,
            attempts=attempts,
            retryable=True,
            status=failure.status,
            hint="the receiver is down, slow or erroring; the event is retried later",
        )
