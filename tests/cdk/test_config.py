"""Stage settings from CDK context: names per stage, and clear errors for bad context."""

from __future__ import annotations

import pytest

from cdk.config import StageConfig
from tradpal.errors import ConfigError


def test_names_per_stage():
    dev, prod = StageConfig("dev"), StageConfig("prod")
    assert (dev.bus_name, prod.bus_name) == ("tradpal-dev", "tradpal")
    assert prod.stream_name == "tradpal-market-data"
    assert dev.state_machine_name("backtest") == "tradpal-dev-backtest"
    assert prod.removal_policy.name == "RETAIN" and dev.removal_policy.name == "DESTROY"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"stage": "qa"}, "unknown stage"),
        ({"oidc_issuer": "https://id.example.com/"}, "together"),
        ({"oidc_issuer": "http://id.example.com/", "oidc_audience": ("a",)}, "https"),
        ({"domain_name": "api.example.com"}, "together"),
    ],
)
def test_bad_context_is_a_config_error_with_a_hint(kwargs, fragment):
    with pytest.raises(ConfigError) as err:
        StageConfig(**kwargs)
    assert fragment in err.value.message
    assert err.value.hint
