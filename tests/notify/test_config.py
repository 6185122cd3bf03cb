"""Channel configuration from the notifier secret: validation that names the entry and field
but never a URL's secret parts, event filters, the TTL cache, and reading Secrets Manager."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from tradpal.errors import ConfigError
from tradpal.notify import NotifierConfig, WebhookChannel, load_config, parse_config
from tradpal.notify.config import clear_config_cache
from tradpal.platform.aws import reset_clients
from tradpal.platform.environment import platform_env

TOKEN = "T000/B000/XXXXsecretXXXX"
URL = f"https://hooks.example.com/services/{TOKEN}"


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_config_cache()
    yield
    clear_config_cache()


def test_parses_webhooks_with_filters():
    config = parse_config(
        json.dumps(
            {
                "webhooks": [
                    {"url": URL, "secret": "whsec", "name": "ops"},
                    {"url": "http://127.0.0.1:8080/in", "events": ["risk_alert"]},
                ]
            }
        )
    )
    assert len(config.webhooks) == 2
    assert config.webhooks[0].events is None and config.webhooks[0].secret == "whsec"
    signals = config.channels_for("trading_signal")
    risks = config.channels_for("risk_alert", timeout_s=1)
    assert [c.label for c in signals] == ["webhook ops"]
    assert len(risks) == 2 and all(isinstance(c, WebhookChannel) for c in risks)
    assert risks[1].timeout_s == 1
    assert signals[0].signed and not risks[1].signed


def test_empty_config_has_no_channels():
    assert parse_config('{"webhooks": []}').channels_for("risk_alert") == []
    assert parse_config("{}") == NotifierConfig()


def test_repr_hides_url_and_secret():
    config = parse_config({"webhooks": [{"url": URL, "secret": "whsec_topsecret"}]})
    text = repr(config)
    assert "XXXXsecretXXXX" not in text and "whsec_topsecret" not in text
    assert "hooks.example.com" in text


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("not json {", "secret: is not valid JSON"),
        ("[]", "secret: must be a JSON object"),
        ({"webhook": []}, "unknown key(s) ['webhook']"),
        ({"webhooks": {}}, "webhooks: must be a list"),
        ({"webhooks": ["https://x"]}, "webhooks[0]: must be an object"),
        ({"webhooks": [{"secret": "s"}]}, "webhooks[0].url: is required"),
        ({"webhooks": [{"url": URL}, {"url": f"ftp://h/{TOKEN}"}]}, "webhooks[1].url"),
        ({"webhooks": [{"url": URL, "secret": 5}]}, "webhooks[0].secret"),
        ({"webhooks": [{"url": URL, "events": "risk_alert"}]}, "webhooks[0].events: must be"),
        ({"webhooks": [{"url": URL, "events": ["risk"]}]}, "unknown event type(s) ['risk']"),
        ({"webhooks": [{"url": URL, "events": []}]}, "webhooks[0].events: is empty"),
        ({"webhooks": [{"url": URL, "name": ""}]}, "webhooks[0].name"),
        ({"webhooks": [{"url": URL, "token": "t"}]}, "unknown key(s) ['token']"),
    ],
)
def test_validation_errors_name_the_field_not_the_secret(value, where):
    with pytest.raises(ConfigError) as err:
        parse_config(value)
    text = str(err.value)
    assert where in text
    assert err.value.hint and "webhooks" in err.value.hint
    assert "XXXXsecretXXXX" not in text and "T000" not in text


def test_cache_expires_after_ttl_and_errors_are_not_cached():
    clock = [0.0]
    reads: list[str] = []
    values = iter(['{"webhooks": []}', "broken", json.dumps({"webhooks": [{"url": URL}]})])

    def read(secret_id: str) -> str:
        reads.append(secret_id)
        return next(values)

    def load():
        return load_config("sec", ttl_s=60, clock=lambda: clock[0], read=read)

    assert load().webhooks == ()
    clock[0] = 59
    assert load().webhooks == () and len(reads) == 1  # cached
    clock[0] = 61
    with pytest.raises(ConfigError):
        load()  # re-read after the TTL: the new value is broken
    assert len(load().webhooks) == 1  # the broken value was not cached
    assert len(reads) == 3


@pytest.fixture
def moto_secrets(monkeypatch):
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        reset_clients()
        platform_env.cache_clear()
        yield boto3.client("secretsmanager", region_name="us-east-1")
    reset_clients()
    platform_env.cache_clear()


def test_reads_the_platform_secret(moto_secrets, monkeypatch):
    value = {"webhooks": [{"url": URL, "events": ["order_executed"]}]}
    moto_secrets.create_secret(Name="tp/notifier", SecretString=json.dumps(value))
    monkeypatch.setenv("TRADPAL_NOTIFIER_SECRET", "tp/notifier")
    platform_env.cache_clear()
    config = load_config()
    assert config.webhooks[0].url == URL
    assert config.channels_for("risk_alert") == []


def test_missing_secret_is_a_config_error(moto_secrets):
    with pytest.raises(ConfigError, match="cannot read the notifier secret 'nope'") as err:
        load_config("nope")
    assert "GetSecretValue" in err.value.hint


def test_no_secret_configured_means_no_channels(moto_secrets, monkeypatch):
    monkeypatch.delenv("TRADPAL_NOTIFIER_SECRET", raising=False)
    platform_env.cache_clear()
    assert load_config() == NotifierConfig()


def test_the_generated_signing_key_signs_webhooks_that_have_no_secret_of_their_own():
    # The deployed secret is created as {"webhooks": [], "signing_key": <generated>}.
    key = "k" * 48
    config = parse_config(
        {
            "signing_key": key,
            "webhooks": [
                {"url": "https://a.example/hook"},
                {"url": "https://b.example/h", "secret": "own-secret"},
            ],
        }
    )
    assert [w.secret for w in config.webhooks] == [key, "own-secret"]
    with pytest.raises(ConfigError, match="signing_key"):
        parse_config({"signing_key": "short", "webhooks": []})
