"""The webhook channel over real HTTP to a receiver on 127.0.0.1: signed deliveries, retries
with backoff on transient failures, no retry on refusals, and no secret in any error."""

from __future__ import annotations

import json
import socket
from email.utils import formatdate

import pytest

from tradpal.errors import ConfigError
from tradpal.notify import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    Channel,
    DeliveryError,
    WebhookChannel,
    format_message,
    verify_signature,
)
from tradpal.notify.receiver import Reply, WebhookReceiver

NOW = 1_714_568_400.0


@pytest.fixture
def message(signal_detail):
    return format_message("trading_signal", signal_detail)


def channel(url, sleeps, **kw) -> WebhookChannel:
    kw.setdefault("timeout_s", 2)
    return WebhookChannel(url, sleep=sleeps.append, **kw)


def test_signed_delivery_verifies(receiver, message, sleeps):
    ch = channel(receiver.url, sleeps, secret="whsec_test", clock=lambda: NOW)
    assert isinstance(ch, Channel)
    done = ch.send(message)
    assert (done.status, done.attempts, done.delivery_id) == (200, 1, message.id)
    [req] = receiver.requests
    assert req.method == "POST" and req.path == "/hook"
    assert req.header("content-type").startswith("application/json")
    assert req.header(DELIVERY_HEADER) == message.id
    assert req.header("x-tradpal-event") == "trading_signal"
    assert verify_signature("whsec_test", req.header(SIGNATURE_HEADER), req.body, now=NOW) == NOW
    body = req.json()
    assert body == message.payload("2024-05-01T13:00:00Z")
    # a body changed in transit is refused by the receiver's check
    with pytest.raises(Exception, match="does not match"):
        verify_signature(
            "whsec_test", req.header(SIGNATURE_HEADER), req.body.replace(b"LONG", b"SHORT"), now=NOW
        )
    assert sleeps == []


def test_receiver_with_a_secret_refuses_bad_signatures(message, sleeps):
    with WebhookReceiver(secret="right") as r:
        with pytest.raises(DeliveryError, match="refused") as err:
            channel(r.url, sleeps, secret="wrong").send(message)
        assert err.value.status == 401 and not err.value.retryable
        assert channel(r.url, sleeps, secret="right").send(message).status == 200
        unsigned = channel(r.url, sleeps)
        with pytest.raises(DeliveryError, match="401"):
            unsigned.send(message)
        assert SIGNATURE_HEADER.lower() not in r.requests[-1].headers


def test_5xx_is_retried_with_full_jitter_then_succeeds(receiver, message, sleeps):
    receiver.script(500, 502, 503)
    done = channel(receiver.url, sleeps, base_delay_s=0.5, max_delay_s=8).send(message)
    assert (done.status, done.attempts) == (200, 4)
    assert [r.answered for r in receiver.requests] == [500, 502, 503, 200]
    assert len(sleeps) == 3
    for n, delay in enumerate(sleeps, start=1):
        assert 0 <= delay <= 0.5 * 2 ** (n - 1)
    # every attempt carries the same delivery id, so the receiver can dedupe
    assert {r.header(DELIVERY_HEADER) for r in receiver.requests} == {message.id}


def test_backoff_is_capped(receiver, message, sleeps):
    receiver.script(500, 500, 500, 500, 500)
    ch = channel(receiver.url, sleeps, max_attempts=6, base_delay_s=1, max_delay_s=2)
    ch.send(message)
    assert max(sleeps) <= 2


def test_429_waits_the_retry_after(receiver, message, sleeps):
    receiver.script(
        Reply(429, headers={"Retry-After": "3"}),
        Reply(429, headers={"Retry-After": formatdate(NOW + 7, usegmt=True)}),
    )
    done = channel(receiver.url, sleeps, clock=lambda: NOW).send(message)
    assert done.attempts == 3
    assert sleeps == [3.0, 7.0]


def test_429_with_too_long_retry_after_is_left_to_a_later_retry(receiver, message, sleeps):
    receiver.script(Reply(429, headers={"Retry-After": "120"}))
    with pytest.raises(DeliveryError, match="retry after 120 s") as err:
        channel(receiver.url, sleeps, max_retry_after_s=20).send(message)
    assert err.value.retryable and err.value.attempts == 1
    assert len(receiver.requests) == 1 and sleeps == []


def test_timeouts_are_retried(receiver, message, sleeps):
    receiver.script(Reply(200, delay_s=2))
    done = channel(receiver.url, sleeps, timeout_s=0.2).send(message)
    assert done.attempts == 2
    assert len(receiver.delivered()) == 1  # the slow answer never reached the sender


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_4xx_is_a_refusal_and_not_retried(receiver, message, sleeps, status):
    receiver.script(status)
    with pytest.raises(DeliveryError, match=f"refused the message: HTTP {status}") as err:
        channel(receiver.url, sleeps).send(message)
    assert not err.value.retryable and err.value.status == status
    assert err.value.attempts == 1 and len(receiver.requests) == 1 and sleeps == []


def test_redirects_are_not_followed(receiver, message, sleeps):
    receiver.script(Reply(302, headers={"Location": "http://127.0.0.1:9/elsewhere"}))
    with pytest.raises(DeliveryError, match="HTTP 302"):
        channel(receiver.url, sleeps).send(message)
    assert len(receiver.requests) == 1


def test_exhausted_retries_raise(receiver, message, sleeps):
    receiver.script(*[503] * 4)
    with pytest.raises(DeliveryError, match="failed after 4 attempt") as err:
        channel(receiver.url, sleeps, max_attempts=4).send(message)
    assert err.value.retryable and err.value.status == 503 and err.value.attempts == 4
    assert len(receiver.requests) == 4 and len(sleeps) == 3


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_errors_are_retried_and_reported_without_the_url_secrets(message, sleeps):
    token = "T0123456/B0123456/abcdefSECRETtoken"
    url = f"http://user:hunter2pass@127.0.0.1:{_closed_port()}/services/{token}?key=sekritValue1"
    ch = channel(url, sleeps, max_attempts=3)
    with pytest.raises(DeliveryError) as err:
        ch.send(message)
    assert err.value.attempts == 3 and err.value.retryable and len(sleeps) == 2
    text = f"{err.value} {err.value.channel} {ch!r} {ch.label}"
    for secret in ("hunter2pass", "SECRETtoken", "T0123456", "sekritValue1", "user:"):
        assert secret not in text
    assert "127.0.0.1" in text  # the host is still shown, to know which receiver failed


def test_a_receiver_echoing_its_token_is_scrubbed(receiver, message, sleeps):
    token = "xoxb-0000-SECRETTOKEN"
    receiver.script(Reply(403, body=f"invalid token {token} for /hook/{token}".encode()))
    with pytest.raises(DeliveryError) as err:
        channel(receiver.url_for(f"/hook/{token}"), sleeps).send(message)
    assert token not in str(err.value)
    assert "invalid token ***" in str(err.value)


def test_named_channels_log_under_their_name(receiver, sleeps):
    ch = channel(receiver.url_for("/hook/abcdefghijkl"), sleeps, name="ops-chat")
    assert ch.label == "webhook ops-chat"
    assert ch.key.startswith("webhook:") and "abcdefghijkl" not in ch.key


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "hooks.example.com/abc", "https:///nohost", "http://h:99999/"]
)
def test_bad_urls_are_config_errors_without_their_path(url, sleeps):
    with pytest.raises(ConfigError) as err:
        channel(url, sleeps)
    assert "/x" not in str(err.value) and "abc" not in str(err.value)


def _no_constants(name: str) -> None:
    raise AssertionError(f"the body holds {name}, which is not JSON")


def test_payload_has_no_nan(receiver, sleeps, backtest_ok_detail):
    """Metrics a backtest can leave undefined (a NaN Sharpe, an infinite profit factor with
    no losing trade) go out as null, and the body is strict JSON that any receiver parses."""
    metrics = backtest_ok_detail["result"]["metrics"]
    metrics.update(sharpe=float("nan"), profit_factor=float("inf"), sortino=float("-inf"))
    m = format_message("backtest_complete", backtest_ok_detail)
    channel(receiver.url, sleeps).send(m)
    [req] = receiver.requests
    # Python's json.loads accepts NaN and Infinity by default; a receiver in another
    # language would not, so refuse them here.
    body = json.loads(req.body, parse_constant=_no_constants)
    assert body == m.payload(body["sent_at"])
    assert body["event"]["result"]["metrics"] == {
        "total_return": 0.1234, "cagr": -0.05, "sharpe": None, "max_drawdown": 0.2,
        "win_rate": 0.55, "profit_factor": None, "num_trades": 1234, "final_equity": 11234.5,
        "sortino": None,
    }  # fmt: skip
    assert body["fields"] == {
        "Run": "bt-20240501-abc", "Kind": "backtest", "Status": "SUCCEEDED",
        "Total return": "+12.34%", "CAGR": "-5.00%", "Sharpe": "n/a", "Max drawdown": "20.00%",
        "Win rate": "55.00%", "Profit factor": "n/a", "Trades": "1,234",
        "Final equity": "11,234.50",
    }  # fmt: skip
    assert b"NaN" not in req.body and b"Infinity" not in req.body


def test_no_attempt_starts_that_could_outlast_the_budget(receiver, message, sleeps):
    receiver.script(500, 500, 500)
    left = iter([10.0, 1.9])  # seconds left before attempt 1 and before attempt 2
    ch = channel(
        receiver.url,
        sleeps,
        timeout_s=2,
        base_delay_s=1,
        max_delay_s=1,
        budget_s=lambda: next(left),
    )
    with pytest.raises(DeliveryError, match="no time left for another attempt after 1") as err:
        ch.send(message)
    assert err.value.retryable and err.value.attempts == 1 and err.value.status == 500
    assert len(receiver.requests) == 1 and sleeps == []


def test_no_first_attempt_without_time_for_it(receiver, message, sleeps):
    ch = channel(receiver.url, sleeps, timeout_s=2, budget_s=lambda: 1.0)
    with pytest.raises(DeliveryError, match="no time left") as err:
        ch.send(message)
    assert err.value.attempts == 0 and receiver.requests == []
