"""Each in-process function sees only the resources it is granted, as on AWS: a handler that
reaches for another resource fails naming its variable; scopes do not leak between threads."""

from __future__ import annotations

import threading

import pytest

from tradpal.errors import ConfigError
from tradpal.local.resources import local_env
from tradpal.platform.catalog import CATALOG
from tradpal.platform.environment import PlatformEnv, platform_env, scoped_env, with_env

FULL = local_env("t").with_resources(backtest_state_machine="arn:sm")


def test_granted_keeps_only_the_capabilitys_resources():
    notifier = FULL.granted(CATALOG.get("notifier"))
    assert set(notifier.resources) == {"idempotency_table", "notifier_secret"}
    assert notifier.event_bus == "" and notifier.idempotency_table == FULL.idempotency_table
    with pytest.raises(ConfigError, match="TRADPAL_RUNS_TABLE is unset") as caught:
        notifier.require("runs_table")
    assert "runs_table:<mode>" in caught.value.hint
    assert FULL.granted(CATALOG.get("health")).resources == FULL.resources


def test_an_in_process_function_sees_its_scope_only():
    seen = {}

    def handler(event, context):
        seen["bus"] = platform_env().event_bus
        return platform_env().require("runs_table")

    notifier = with_env(handler, FULL.granted(CATALOG.get("notifier")))
    with pytest.raises(ConfigError, match="runs table"):
        notifier({}, None)
    backtests = with_env(handler, FULL.granted(CATALOG.get("backtests")))
    assert backtests({}, None) == FULL.runs_table and seen["bus"] == FULL.event_bus


def test_scopes_are_per_thread():
    inside = threading.Event()
    done = threading.Event()
    seen = {}

    def other():
        with scoped_env(PlatformEnv(stage="other")):
            inside.set()
            done.wait(5)
            seen["other"] = platform_env().stage

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with scoped_env(PlatformEnv(stage="mine")):
        seen["mine"] = platform_env().stage
    done.set()
    thread.join(5)
    assert seen == {"mine": "mine", "other": "other"}


def test_unknown_resources_are_refused():
    with pytest.raises(ConfigError, match="unknown platform resources"):
        PlatformEnv(resources={"catalog_table": "x"})
    with pytest.raises(AttributeError):
        PlatformEnv().catalog_table  # noqa: B018
