"""The platform environment: it round-trips through variables and names what is missing."""

from __future__ import annotations

import pytest

from tradpal.errors import ConfigError
from tradpal.platform.environment import PLATFORM_ENV_VARS, PlatformEnv


def test_the_environment_round_trips_and_names_what_is_missing(aws):
    assert PlatformEnv.from_environ(aws.env.to_environ()) == aws.env
    assert set(aws.env.to_environ()) <= set(PLATFORM_ENV_VARS)
    with pytest.raises(ConfigError, match="TRADPAL_RESULTS_BUCKET"):
        PlatformEnv().require("results_bucket")
    with pytest.raises(ConfigError, match="backtest state machine"):
        PlatformEnv().state_machine_arn("backtest")
