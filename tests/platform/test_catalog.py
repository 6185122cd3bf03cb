"""The capability catalog: validation with clear errors, JSON round trips, and the design's
capabilities, routes, events, schedules and state-machine tasks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.errors import ConfigError
from tradpal.platform.catalog import (
    CATALOG,
    EVENT_TYPES,
    SCOPES,
    Capability,
    Catalog,
    EventRule,
    Route,
    Schedule,
    StreamConsumer,
    Throttle,
)


def _cap(**kw) -> Capability:
    base = {"name": "thing", "description": "d", "routes": (Route("GET", "/v1/things"),)}
    return Capability(**{**base, **kw})


def test_json_round_trip_is_exact():
    text = json.dumps(CATALOG.to_dict(), sort_keys=True)
    again = Catalog.from_dict(json.loads(text))
    assert again == CATALOG
    assert json.dumps(again.to_dict(), sort_keys=True) == text


def test_design_capabilities_and_handlers():
    assert set(CATALOG.names) == {
        "health",
        "indicators",
        "signals",
        "backtests",
        "discovery",
        "discovery_evaluate",
        "data",
        "trading",
        "notifier",
    }
    for cap in CATALOG:
        assert cap.handler == f"functions.{cap.name}.handler.handler"
        assert cap.to_dict()["handler"] == cap.handler


def test_only_health_and_the_api_document_are_public_and_every_other_route_is_scoped():
    routes = CATALOG.routes()
    public = [key for key, (_, route) in routes.items() if route.public]
    assert public == ["GET /v1/health", "GET /v1/openapi"]
    for key, (_, route) in routes.items():
        if not route.public:
            assert route.scopes and set(route.scopes) <= set(SCOPES), key
    # starting paid work needs "trade"; reading results needs "read"
    assert routes["POST /v1/backtests"][1].scopes == ("trade",)
    assert routes["GET /v1/backtests/{id}"][1].scopes == ("read",)
    assert routes["POST /v1/data/ingest"][1].scopes == ("admin",)


def test_a_callers_limit_defaults_to_the_routes_and_is_a_share_of_it():
    assert Throttle(rate=2, burst=4) == Throttle(rate=2, burst=4, caller_rate=2, caller_burst=4)
    for key, (_, route) in CATALOG.routes().items():
        limit = route.throttle
        assert limit.caller_rate <= limit.rate and limit.caller_burst <= limit.burst, key
    # two clients starting runs: the first one's burst leaves room for the second
    run = CATALOG.routes()["POST /v1/backtests"][1].throttle
    assert run.caller_burst < run.burst


def test_state_machine_tasks_match_the_definitions_placeholders():
    asl = pytest.importorskip("tradpal.platform.asl")
    wanted = {t for tasks in asl.TASK_PLACEHOLDERS.values() for t in tasks.values()}
    assert set(CATALOG.tasks()) == wanted
    assert CATALOG.tasks()["backtest.run"].name == "backtests"
    assert CATALOG.tasks()["discovery.evaluate"].name == "discovery_evaluate"


def test_heavy_compute_ships_as_images_the_rest_as_zip():
    images = {c.name for c in CATALOG if c.packaging == "image"}
    assert images == {"backtests", "discovery_evaluate"}


def test_notifier_consumes_the_design_events_and_data_ingests_hourly():
    for detail in ("trading_signal", "risk_alert", "order_executed", "backtest_complete"):
        assert [c.name for c in CATALOG.consumers_of(detail)] == ["notifier"]
    assert CATALOG.consumers_of("portfolio_update") == ()
    (schedule,) = CATALOG.get("data").schedules
    assert schedule.expression == "rate(1 hour)"
    assert CATALOG.get("notifier").consumes[0].pattern() == {
        "source": [{"prefix": "tradpal."}],
        "detail-type": ["trading_signal", "risk_alert", "order_executed", "backtest_complete"],
    }


def test_unknown_capability_names_the_known_ones():
    with pytest.raises(ConfigError) as err:
        CATALOG.get("nope")
    assert "health" in err.value.hint


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: Route("FETCH", "/v1/x"), "method"),
        (lambda: Route("GET", "/x"), "path"),
        (lambda: Route("GET", "/v1/x", scopes=("root",)), "unknown scopes"),
        (lambda: Route("GET", "/v1/x", scopes=()), "neither"),
        (lambda: Route("GET", "/v1/x", scopes=("read",), public=True), "both"),
        (lambda: Throttle(rate=0, burst=1), "throttle"),
        (lambda: Throttle(rate=10, burst=5), "throttle"),
        (lambda: Throttle(rate=2, burst=4, caller_rate=3), "caller_rate"),
        (lambda: Throttle(rate=2, burst=4, caller_burst=5), "caller_burst"),
        (lambda: Throttle(rate=2, burst=4, caller_rate=2, caller_burst=1), "caller_burst"),
        (lambda: EventRule(("price_moved",)), "unknown"),
        (lambda: EventRule(()), "empty"),
        (lambda: StreamConsumer("orders"), "unknown stream"),
        (lambda: StreamConsumer("market_data", batch_size=0), "batch_size"),
        (lambda: Schedule("hourly", "every hour"), "expression"),
        (lambda: _cap(name="Bad-Name"), "name"),
        (lambda: _cap(memory_mb=64), "memory_mb"),
        (lambda: _cap(timeout_s=901), "timeout_s"),
        (lambda: _cap(packaging="wheel"), "packaging"),
        (lambda: _cap(reserved_concurrency=0), "reserved_concurrency"),
        (lambda: _cap(environment={"lower": "x"}), "environment"),
        (lambda: _cap(sfn_tasks=("training.fit",)), "task"),
        (lambda: _cap(routes=()), "nothing invokes"),
        (lambda: Catalog((_cap(), _cap())), "duplicate capability"),
        (
            lambda: Catalog((_cap(), _cap(name="other"))),
            "duplicate route",
        ),
    ],
)
def test_invalid_definitions_are_config_errors_with_hints(make, fragment):
    with pytest.raises(ConfigError) as err:
        make()
    assert fragment in err.value.message
    assert err.value.hint


@given(
    rate=st.floats(min_value=0.1, max_value=10_000, allow_nan=False),
    extra=st.integers(min_value=0, max_value=1000),
    scopes=st.lists(st.sampled_from(SCOPES), min_size=1, max_size=3, unique=True),
    details=st.lists(st.sampled_from(EVENT_TYPES), min_size=1, max_size=4, unique=True),
    memory=st.integers(min_value=128, max_value=10_240),
)
def test_any_valid_capability_round_trips_through_json(rate, extra, scopes, details, memory):
    burst = int(rate) + 1 + extra
    cap = Capability(
        name="prop",
        description="property",
        routes=(Route("POST", "/v1/prop/{id}", tuple(scopes), Throttle(rate, burst)),),
        consumes=(EventRule(tuple(details)),),
        schedules=(Schedule("tick", "cron(0 * * * ? *)", {"k": [1, 2]}),),
        memory_mb=memory,
        environment={"A_B": "c"},
    )
    data = json.loads(json.dumps(Catalog((cap,)).to_dict()))
    assert Catalog.from_dict(data).capabilities == (cap,)
