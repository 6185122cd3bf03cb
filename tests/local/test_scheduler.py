"""Schedule expressions (AWS semantics) and the local scheduler's firing."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from fakes.local_moto import reset_moto, running_moto
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tradpal.errors import ConfigError
from tradpal.local.lambdas import LocalLambda
from tradpal.local.scheduler import (
    Scheduler,
    ScheduleTargetError,
    matches,
    next_fire,
    parse_cron,
    parse_rate,
)
from tradpal.platform.catalog import CATALOG, Schedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Hand-computed from AWS's documented examples; the weekdays checked on a calendar
# (2024-03-08 is a Friday, 2024-03-09 a Saturday).
KNOWN = [
    ("cron(0 10 * * ? *)", utc(2024, 3, 10, 10, 0), utc(2024, 3, 11, 10, 0)),  # strictly after
    ("cron(0 10 * * ? *)", utc(2024, 3, 10, 9, 59, 59), utc(2024, 3, 10, 10, 0)),
    ("cron(15 12 * * ? *)", utc(2023, 12, 31, 12, 15), utc(2024, 1, 1, 12, 15)),
    ("cron(0 18 ? * MON-FRI *)", utc(2024, 3, 8, 18, 0), utc(2024, 3, 11, 18, 0)),
    ("cron(0 8 1 * ? *)", utc(2024, 1, 1, 8, 0), utc(2024, 2, 1, 8, 0)),
    ("cron(0/15 * * * ? *)", utc(2024, 3, 10, 10, 44, 59), utc(2024, 3, 10, 10, 45)),
    ("cron(0/5 8-17 ? * MON-FRI *)", utc(2024, 3, 8, 17, 55), utc(2024, 3, 11, 8, 0)),
    ("cron(0 0 29 2 ? *)", utc(2024, 2, 29, 0, 0), utc(2028, 2, 29, 0, 0)),
    ("cron(30 2 31 * ? *)", utc(2024, 4, 1), utc(2024, 5, 31, 2, 30)),
    ("cron(0 12 ? * SUN *)", utc(2024, 3, 9, 12, 0), utc(2024, 3, 10, 12, 0)),
    ("cron(0 12 ? * 1 *)", utc(2024, 3, 9, 12, 0), utc(2024, 3, 10, 12, 0)),  # 1 = Sunday
    ("cron(0 12 ? * 7 *)", utc(2024, 3, 8, 12, 0), utc(2024, 3, 9, 12, 0)),  # 7 = Saturday
    ("cron(0 0 1 JAN ? 2030)", utc(2024, 6, 1), utc(2030, 1, 1)),
    ("cron(0 22-23,0-1 * * ? *)", utc(2024, 3, 10, 23, 30), utc(2024, 3, 11, 0, 0)),
    ("cron(10-40/10 * * * ? *)", utc(2024, 3, 10, 10, 40), utc(2024, 3, 10, 11, 10)),
    ("cron(0 10 ? JUL WED *)", utc(2024, 1, 1), utc(2024, 7, 3, 10, 0)),
    ("cron(0 * * * ? *)", utc(2024, 12, 31, 23, 0), utc(2025, 1, 1, 0, 0)),
    ("rate(5 minutes)", utc(2024, 3, 10, 10, 2, 30), utc(2024, 3, 10, 10, 5)),
    ("rate(2 hours)", utc(2024, 3, 10, 2, 0), utc(2024, 3, 10, 4, 0)),
    ("rate(1 day)", utc(2024, 3, 10, 23, 59), utc(2024, 3, 11)),
]


@pytest.mark.parametrize(("expression", "after", "expected"), KNOWN)
def test_next_fire_known_cases(expression, after, expected):
    assert next_fire(expression, after) == expected
    assert matches(expression, expected)


def test_rate_is_anchored():
    anchor = utc(2024, 1, 1, 6, 30)
    assert next_fire("rate(1 day)", utc(2024, 3, 10, 7), anchor=anchor) == utc(2024, 3, 11, 6, 30)
    assert next_fire("rate(1 day)", anchor, anchor=anchor) == utc(2024, 1, 2, 6, 30)


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("cron(0 0 L * ? *)", "'L'"),
        ("cron(0 0 15W * ? *)", "'W'"),
        ("cron(0 9 ? * 2#1 *)", "'#'"),
        ("cron(0 0 * * * *)", "'?'"),
        ("cron(0 0 ? * ? *)", "'?'"),
        ("cron(0 0 * * ?)", "6"),
        ("cron(60 0 * * ? *)", "minutes"),
        ("cron(0 24 * * ? *)", "hours"),
        ("cron(0 0 ? * FUNDAY *)", "day-of-week"),
        ("cron(0 0 5-1 * ? *)", "backwards"),
        ("cron(*/0 * * * ? *)", "step"),
        ("cron(? 0 * * ? *)", "minutes"),
        ("rate(1 hours)", "unit"),
        ("rate(0 minutes)", "value"),
        ("every hour", "rate"),
    ],
)
def test_bad_expressions_are_refused_naming_the_part(expression, names):
    with pytest.raises(ConfigError) as err:
        next_fire(expression, utc(2024, 1, 1))
    assert names in str(err.value)
    assert err.value.hint


def test_a_cron_whose_years_are_over_says_so():
    with pytest.raises(ConfigError, match="never fires"):
        next_fire("cron(0 0 1 1 ? 2020)", utc(2024, 1, 1))


def test_naive_datetimes_are_refused():
    with pytest.raises(ConfigError, match="time zone"):
        next_fire("rate(1 hour)", datetime(2024, 1, 1))


def test_parsed_fields():
    cron = parse_cron("cron(0,30 9-17/4 ? JAN-MAR,DEC MON-FRI 2024-2026)")
    assert cron.minutes == {0, 30} and cron.hours == {9, 13, 17}
    assert cron.months == {1, 2, 3, 12} and cron.dow == {2, 3, 4, 5, 6} and cron.dom is None
    assert cron.years == {2024, 2025, 2026}


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        value.map(str),
        st.tuples(value, value).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.integers(1, high - low + 1).map(lambda n: f"*/{n}"),
        st.tuples(value, st.integers(1, 12)).map(lambda a: f"{a[0]}/{a[1]}"),
        st.lists(value, min_size=1, max_size=4).map(lambda v: ",".join(map(str, v))),
    )


@st.composite
def crons(draw) -> str:
    days = (draw(_field(1, 31)), "?") if draw(st.booleans()) else ("?", draw(_field(1, 7)))
    return (
        f"cron({draw(_field(0, 59))} {draw(_field(0, 23))} {days[0]} {draw(_field(1, 12))} "
        f"{days[1]} *)"
    )


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(crons(), moments)
def test_next_fire_is_the_first_matching_minute_after(expression, after):
    try:
        fire = next_fire(expression, after)
    except ConfigError as exc:  # a day no chosen month has (30 February): never fires
        assert "never fires" in exc.message
        assume(False)
    assert fire > after
    assert matches(expression, fire)
    # No earlier minute matches (checked minute by minute when the gap is short).
    minute = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if fire - minute <= timedelta(days=2):
        while minute < fire:
            assert not matches(expression, minute), minute
            minute += timedelta(minutes=1)


@pytest.mark.parametrize("expression", ["cron(0 0 30 2 ? *)", "cron(* * 31 4,6,9,11 ? *)"])
def test_a_date_no_month_has_is_refused_as_never_firing(expression):
    with pytest.raises(ConfigError, match="never fires"):
        next_fire(expression, datetime(2026, 1, 1, tzinfo=UTC))


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["rate(1 minute)", "rate(7 minutes)", "rate(3 hours)", "rate(2 days)"]),
    moments,
    moments,
)
def test_rate_fires_on_the_anchor_grid(expression, after, anchor):
    fire = next_fire(expression, after, anchor=anchor)
    period = next_fire(expression, fire, anchor=anchor) - fire
    assert after < fire <= after + period
    assert (fire - anchor) % period == timedelta(0)


class FakeClock:
    """Time that moves only when the scheduler sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += timedelta(seconds=seconds)
        time.sleep(0.001)  # let the test thread run


def test_the_thread_fires_a_rate_schedule_on_the_injected_clock():
    clock = FakeClock(utc(2024, 3, 10, 12, 0, 0))
    fired: list[tuple[datetime, dict]] = []
    enough = threading.Event()

    def target(event):
        fired.append((clock(), event))
        if len(fired) >= 3:
            enough.set()

    schedule = Schedule("tick", "rate(1 minute)", {"action": "tick"})
    scheduler = Scheduler([(schedule, target)], clock=clock, sleep=clock.sleep)
    assert scheduler.list()[0].next_fire == utc(2024, 3, 10, 12, 1)
    scheduler.start()
    try:
        assert enough.wait(10)
    finally:
        scheduler.stop()
    times = [t for t, _ in fired[:3]]
    assert times == [utc(2024, 3, 10, 12, m) for m in (1, 2, 3)]
    assert all(e == {"action": "tick"} for _, e in fired)


def test_fire_on_demand_and_list():
    clock = FakeClock(utc(2024, 3, 10, 12, 0, 30))
    got: list[dict] = []
    schedules = [
        (Schedule("hourly", "rate(1 hour)", {"a": 1}), lambda e: got.append(e) or "ok"),
        (Schedule("daily", "cron(0 6 * * ? *)"), lambda e: got.append(e)),
    ]
    scheduler = Scheduler(schedules, clock=clock, envelope=False)
    assert scheduler.fire("hourly") == "ok"
    assert got == [{"a": 1}]
    listed = scheduler.list()
    assert [(i.name, i.next_fire) for i in listed] == [
        ("hourly", utc(2024, 3, 10, 13, 0, 30)),  # anchored at the scheduler's start
        ("daily", utc(2024, 3, 11, 6, 0)),
    ]
    assert listed[0].fired == 1
    with pytest.raises(ConfigError, match="unknown schedule"):
        scheduler.fire("weekly")


def test_envelope_mode_sends_the_scheduled_event():
    clock = FakeClock(utc(2024, 3, 10, 12, 0))
    got: list[dict] = []
    scheduler = Scheduler(
        [(Schedule("nightly", "cron(0 2 * * ? *)"), got.append)], clock=clock, envelope=True
    )
    scheduler.fire("nightly")
    (event,) = got
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/nightly"]
    assert event["time"] == "2024-03-10T12:00:00Z" and event["detail"] == {}


def test_a_failing_target_is_recorded_and_the_timetable_goes_on():
    clock = FakeClock(utc(2024, 3, 10, 12, 0))

    def broken(event):
        raise RuntimeError("exchange down")

    scheduler = Scheduler([(Schedule("tick", "rate(1 minute)"), broken)], clock=clock)
    clock.sleep(60)
    assert scheduler.tick() == ["tick"]
    (info,) = scheduler.list()
    assert info.last_error == "RuntimeError: exchange down"
    assert info.next_fire == utc(2024, 3, 10, 12, 2)
    with pytest.raises(RuntimeError):
        scheduler.fire("tick")


def test_the_catalog_schedules_are_accepted():
    """Every schedule the CDK app deploys runs locally: listed once under its name and
    expression, due next when AWS would fire it, and delivering its input to its target."""
    catalog = [s for c in CATALOG for s in c.schedules]
    assert "ingest_hourly" in [s.name for s in catalog]
    start = utc(2024, 3, 10, 12, 0, 30)
    got: dict[str, list] = {}
    schedules = [(s, lambda e, name=s.name: got.setdefault(name, []).append(e)) for s in catalog]
    scheduler = Scheduler(schedules, clock=FakeClock(start), envelope=False)
    listed = {i.name: i for i in scheduler.list()}
    assert sorted(listed) == sorted(s.name for s in catalog)  # each once
    for s in catalog:
        info = listed[s.name]
        assert (info.expression, info.fired, info.last_error) == (s.expression, 0, None)
        if s.expression.startswith("rate("):  # one period after the scheduler's start
            assert info.next_fire == start + parse_rate(s.expression)
        else:  # the first whole minute the cron matches
            assert start < info.next_fire and info.next_fire.second == 0
            assert matches(s.expression, info.next_fire)
    assert listed["ingest_hourly"].next_fire == utc(2024, 3, 10, 13, 0, 30)
    for s in catalog:
        scheduler.fire(s.name)
    assert got == {s.name: [dict(s.input)] for s in catalog}
    assert got["ingest_hourly"] == [{"action": "ingest"}]
    assert scheduler.fired == {s.name: 1 for s in catalog}


def test_a_function_name_target_invokes_the_lambda_in_moto():
    def zipped() -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("h.py", "def handler(e, c):\n    return e\n")
        return buf.getvalue()

    with running_moto() as server, LocalLambda().install() as local:
        reset_moto(server)
        lam = boto3.client("lambda")
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        for name in ("data", "broken"):
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role["Role"]["Arn"],
                Handler="h.handler",
                Code={"ZipFile": zipped()},
            )
        local.register("data", lambda e, c: {"ingested": e["action"]})
        local.register("broken", lambda e, c: 1 / 0)
        scheduler = Scheduler(
            [
                (Schedule("ingest_hourly", "rate(1 hour)", {"action": "ingest"}), "data"),
                (Schedule("bad", "rate(1 hour)"), "broken"),
            ]
        )
        assert scheduler.fire("ingest_hourly") == {"ingested": "ingest"}
        with pytest.raises(ScheduleTargetError, match="ZeroDivisionError"):
            scheduler.fire("bad")
