"""Fixtures of the trading tests: a trading table in moto, made as the local platform makes it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def moto_trading_table():
    """The name of a trading table in moto (in this process), created from the topology by
    the local platform's provisioning; the module's boto3 clients reach it."""
    from moto import mock_aws

    from tradpal.local.resources import provision
    from tradpal.platform.aws import reset_clients
    from tradpal.platform.environment import PlatformEnv

    name = "test-trading"
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        reset_clients()  # a client made before mock_aws would reach past it
        try:
            provision(PlatformEnv(resources={"trading_table": name}))
            yield name
        finally:
            reset_clients()
