"""The topology: every resource once, one variable each, grants that name real resources and
modes, delivery settings in AWS's ranges; the catalog's capabilities grant only what exists."""

from __future__ import annotations

import pytest

from tradpal.errors import ConfigError
from tradpal.platform.catalog import CATALOG, Capability, Route
from tradpal.platform.environment import PLATFORM_ENV_VARS
from tradpal.platform.topology import TOPOLOGY, Delivery, Grant, Table, Topology


def test_every_resource_has_a_unique_key_and_variable():
    keys = TOPOLOGY.keys
    assert len(set(keys)) == len(keys)
    assert {r.env_var for r in TOPOLOGY} <= set(PLATFORM_ENV_VARS)
    assert TOPOLOGY.get("runs_table").env_var == "TRADPAL_RUNS_TABLE"
    assert TOPOLOGY.get("backtest_state_machine").env_var == "TRADPAL_BACKTEST_STATE_MACHINE"
    runs = TOPOLOGY.get("runs_table")
    assert isinstance(runs, Table) and (runs.partition, runs.ttl) == ("run_id", "expires_at")
    assert TOPOLOGY.get("notifier_secret").physical_name("tp") == "tp/notifier"
    with pytest.raises(ConfigError, match="unknown resource 'nope_table'"):
        TOPOLOGY.get("nope_table")


def test_a_duplicate_resource_is_refused():
    twice = (Table("runs", "a", "run_id"), Table("runs", "b", "run_id"))
    with pytest.raises(ConfigError, match="duplicate resources"):
        Topology(TOPOLOGY.buckets, twice, TOPOLOGY.streams, TOPOLOGY.bus, TOPOLOGY.secrets,
                 TOPOLOGY.state_machines)  # fmt: skip


@pytest.mark.parametrize(
    ("grant", "said"),
    [
        ("nope_table:r", "unknown resource"),
        ("runs_table:w", "a table takes r, rw"),
        ("event_bus:r", "a bus takes publish"),
        ("runs_table", "malformed"),
    ],
)
def test_a_grant_must_name_a_resource_and_one_of_its_modes(grant, said):
    route = Route("GET", "/v1/x", ("read",))
    with pytest.raises(ConfigError, match=said):
        Capability("x", "x", routes=(route,), access=(grant,))


def test_the_catalog_grants_least_privilege():
    for cap in CATALOG:
        for grant in cap.grants:
            TOPOLOGY.check_grant(grant, cap.name)
    assert CATALOG.get("health").resource_keys() == TOPOLOGY.keys  # describes everything
    notifier = CATALOG.get("notifier")
    assert set(notifier.resource_keys()) == {"idempotency_table", "notifier_secret"}
    assert notifier.mode("idempotency_table") == "rw" and notifier.mode("runs_table") is None
    # only the run starters may start their machine, and only their own
    starters = {c.name: c for c in CATALOG if any(g.mode == "run" for g in c.grants)}
    assert set(starters) == {"backtests", "discovery"}
    assert starters["backtests"].resource_keys().count("discovery_state_machine") == 0
    assert Grant.parse("*:describe").describes_all


@pytest.mark.parametrize(
    "settings", [{"target_retries": 186}, {"async_retries": 3}, {"dead_letter_days": 15}]
)
def test_delivery_settings_stay_in_the_ranges_aws_takes(settings):
    with pytest.raises(ConfigError):
        Delivery(**settings)
