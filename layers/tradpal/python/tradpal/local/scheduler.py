"""Scheduled rules, fired locally: EventBridge ``rate(...)`` and ``cron(...)`` expressions.

moto stores scheduled rules but never fires them. :func:`next_fire` computes when a schedule
fires next (pure, UTC, minute resolution as EventBridge); :class:`Scheduler` fires each
schedule's target at those times on a background thread, and on demand with
:meth:`Scheduler.fire`.

Expression semantics (AWS's):

* ``rate(N minute|minutes|hour|hours|day|days)``: every N units from an anchor. AWS anchors
  at the rule's creation; :func:`next_fire` takes the ``anchor`` (default the Unix epoch, so
  ``rate(1 hour)`` fires on the hour), :class:`Scheduler` anchors at its start.
* ``cron(minutes hours day-of-month month day-of-week year)``, UTC: ``*``, ``?``, values,
  ranges ``a-b``, lists ``a,b``, steps ``*/n`` and ``a/n`` and ``a-b/n``; months ``1-12`` or
  ``JAN-DEC``; days of week ``1-7`` (1 = Sunday) or ``SUN-SAT``; years 1970-2199. One of
  day-of-month and day-of-week must be ``?``. ``L``, ``W`` and ``#`` are refused with a
  :class:`~tradpal.errors.ConfigError` naming the part.
"""

from __future__ import annotations

import calendar
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from tradpal.errors import ConfigError
from tradpal.local.events import scheduled_event
from tradpal.local.lambdas import invoke
from tradpal.platform.catalog import Schedule

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}  # JAN..DEC -> 1..12
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
# (name, low, high, names)
_FIELDS = (
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {k.upper(): v for k, v in _MONTHS.items()}),
    ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2199, {}),
)


def _bad(expression: str, problem: str, hint: str) -> ConfigError:
    return ConfigError(f"schedule {expression!r}: {problem}", hint=hint)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the allowed values of each field; ``dom``/``dow`` None when
    the field is ``?``."""

    minutes: frozenset[int]
    hours: frozenset[int]
    dom: frozenset[int] | None
    months: frozenset[int]
    dow: frozenset[int] | None
    years: frozenset[int]

    def day_matches(self, year: int, month: int, day: int) -> bool:
        if self.dom is not None:
            return day in self.dom
        weekday = datetime(year, month, day).weekday()  # Monday = 0
        return (weekday + 1) % 7 + 1 in self.dow  # AWS: Sunday = 1


def _value(text: str, field: tuple, expression: str) -> int:
    name, low, high, names = field
    number = names.get(text.upper()) if not text.isdigit() else int(text)
    if number is None or not low <= number <= high:
        raise _bad(
            expression,
            f"{name} value {text!r} is out of range",
            f"use {low}-{high}" + (f" or {'/'.join(names)}" if names else ""),
        )
    return number


def _field(text: str, field: tuple, expression: str) -> frozenset[int] | None:
    name, low, high, _ = field
    if text == "?":
        if name not in ("day-of-month", "day-of-week"):
            raise _bad(expression, f"'?' is not allowed in {name}", "use * instead")
        return None
    # Names (JUL, WED) contain letters of the special tokens: look at the rest only.
    bare = re.sub("|".join(field[3]) or "$^", "", text.upper()) if field[3] else text.upper()
    for token in ("L", "W", "#"):
        if token in bare:
            raise _bad(
                expression,
                f"{name} {text!r} uses {token!r}, which the local scheduler does not support",
                "use explicit values, ranges, lists or steps",
            )
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise _bad(expression, f"{name} step {part!r} is invalid", "use a/n with n >= 1")
            step = int(step_text)
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            first, last = _value(a, field, expression), _value(b, field, expression)
            if first > last:
                raise _bad(
                    expression,
                    f"{name} range {span!r} runs backwards",
                    "write it as two ranges in a list, e.g. 22-23,0-2",
                )
        elif span:
            first = _value(span, field, expression)
            last = high if step_text else first
        else:
            raise _bad(expression, f"{name} has an empty part in {text!r}", "remove the comma")
        values.update(range(first, last + 1, step))
    return frozenset(values)


@lru_cache(maxsize=256)
def parse_cron(expression: str) -> Cron:
    """Parse ``cron(...)``; ConfigError naming the bad field otherwise."""
    if not (expression.startswith("cron(") and expression.endswith(")")):
        raise _bad(
            expression,
            "is not a rate(...) or cron(...) expression",
            'use "rate(5 minutes)" or "cron(0 * * * ? *)"',
        )
    parts = expression[5:-1].split()
    if len(parts) != 6:
        raise _bad(
            expression,
            f"has {len(parts)} fields, cron needs 6",
            "minutes hours day-of-month month day-of-week year, e.g. cron(0 12 * * ? *)",
        )
    fields = [_field(p, f, expression) for p, f in zip(parts, _FIELDS, strict=True)]
    if (fields[2] is None) == (fields[4] is None):
        raise _bad(
            expression,
            "exactly one of day-of-month and day-of-week must be '?'",
            "e.g. cron(0 12 * * ? *) or cron(0 12 ? * MON-FRI *)",
        )
    return Cron(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5])


def parse_rate(expression: str) -> timedelta:
    """The period of ``rate(N unit)``; ConfigError for a bad one (N >= 1; singular for 1)."""
    m = _RATE.match(expression)
    if not m:
        raise _bad(expression, "is not a rate(...) expression", "use rate(5 minutes)")
    n, unit = int(m.group(1)), m.group(2)
    if n < 1 or (n == 1) != (not unit.endswith("s")):
        raise _bad(
            expression,
            "has a bad value or unit",
            "N >= 1; the unit is singular for 1 (rate(1 hour)) and plural otherwise",
        )
    return timedelta(seconds=n * _UNIT_S[unit.rstrip("s")])


def validate(expression: str) -> None:
    """ConfigError unless ``expression`` is a schedule expression this scheduler runs."""
    if expression.startswith("rate("):
        parse_rate(expression)
    else:
        parse_cron(expression)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ConfigError(
            f"datetime {moment.isoformat()} has no time zone",
            hint="schedules run in UTC: pass an aware datetime (tzinfo=UTC)",
        )
    return moment.astimezone(UTC)


def matches(expression: str, moment: datetime) -> bool:
    """True when ``expression`` fires at ``moment`` (UTC, whole minute; rates from the epoch)."""
    moment = _utc(moment)
    if moment.second or moment.microsecond:
        return False
    if expression.startswith("rate("):
        period = parse_rate(expression)
        return (moment - EPOCH) % period == timedelta(0)
    c = parse_cron(expression)
    return (
        moment.year in c.years
        and moment.month in c.months
        and c.day_matches(moment.year, moment.month, moment.day)
        and moment.hour in c.hours
        and moment.minute in c.minutes
    )


def next_fire(expression: str, after: datetime, *, anchor: datetime = EPOCH) -> datetime:
    """The first time strictly after ``after`` (aware) at which ``expression`` fires (UTC).

    Rates fire at ``anchor + k * period``; cron at whole minutes. ConfigError when a cron
    expression never fires again (its years are over)."""
    after = _utc(after)
    if expression.startswith("rate("):
        period = parse_rate(expression)
        anchor = _utc(anchor)
        k = (after - anchor) // period + 1
        return anchor + k * period
    c = parse_cron(expression)
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for year in sorted(y for y in c.years if y >= start.year):
        for month in sorted(c.months):
            if (year, month) < (start.year, start.month):
                continue
            first_day = start.day if (year, month) == (start.year, start.month) else 1
            for day in range(first_day, calendar.monthrange(year, month)[1] + 1):
                if not c.day_matches(year, month, day):
                    continue
                same_day = (year, month, day) == (start.year, start.month, start.day)
                for hour in sorted(h for h in c.hours if not same_day or h >= start.hour):
                    earliest = start.minute if same_day and hour == start.hour else 0
                    minute = min((m for m in c.minutes if m >= earliest), default=None)
                    if minute is not None:
                        return datetime(year, month, day, hour, minute, tzinfo=UTC)
    raise _bad(expression, f"never fires after {after.isoformat()}", "check its year field")


Target = Callable[[Any], Any]
"""A schedule's target: ``target(event) -> result``."""


@dataclass
class _Entry:
    schedule: Schedule
    target: Target
    rule_arn: str
    next_at: datetime
    fired: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class ScheduleInfo:
    """One schedule in :meth:`Scheduler.list`."""

    name: str
    expression: str
    next_fire: datetime
    fired: int
    last_error: str | None


def function_target(function: str) -> Target:
    """A target that invokes Lambda ``function`` (name or ARN) through moto's Lambda API and
    raises :class:`ScheduleTargetError` on a function or service error."""

    def call(event: Any) -> Any:
        outcome = invoke(function, event)
        if not outcome.ok:
            raise ScheduleTargetError(f"{function} failed: {outcome.error_text}")
        return outcome.payload

    return call


class ScheduleTargetError(Exception):
    """A scheduled target failed."""


class Scheduler:
    """Fires scheduled targets: ``Scheduler([(schedule, target), ...])``.

    ``target`` is a callable taking the event or a Lambda function name/ARN. The event is the
    schedule's ``input`` (the CDK app sets the target input to it), or with ``envelope=True``
    the "Scheduled Event" envelope. ``clock()`` gives the aware UTC now; ``sleep(s)`` waits
    (default: an interruptible wait, so :meth:`stop` returns at once). Rule ARNs are
    ``arn:aws:events:<region>:<account>:rule/<schedule name>``."""

    def __init__(
        self,
        schedules: list[tuple[Schedule, Target | str]],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] | None = None,
        envelope: bool = False,
        region: str = "us-east-1",
        account: str = "123456789012",
        max_wait_s: float = 30.0,
    ) -> None:
        self._clock = clock
        self._stop = threading.Event()
        self._sleep = sleep or (lambda s: self._stop.wait(s))
        self._envelope = envelope
        self._max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._anchor = _utc(clock())
        self._entries: dict[str, _Entry] = {}
        for schedule, target in schedules:
            validate(schedule.expression)
            if schedule.name in self._entries:
                raise ConfigError(
                    f"schedule {schedule.name!r} is given twice", hint="name schedules uniquely"
                )
            if isinstance(target, str):
                target = function_target(target)
            elif not callable(target):
                raise ConfigError(
                    f"the target of schedule {schedule.name!r} is not callable",
                    hint="pass a callable taking the event, or a Lambda function name",
                )
            self._entries[schedule.name] = _Entry(
                schedule,
                target,
                f"arn:aws:events:{region}:{account}:rule/{schedule.name}",
                next_fire(schedule.expression, self._anchor, anchor=self._anchor),
            )

    def event(self, name: str, when: datetime) -> Any:
        """What the target of schedule ``name`` receives for a firing at ``when``."""
        entry = self._entry(name)
        if self._envelope:
            return scheduled_event(entry.rule_arn, when)
        return dict(entry.schedule.input)

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown schedule {name!r}", hint=f"use one of: {', '.join(sorted(self._entries))}"
            ) from None

    def fire(self, name: str) -> Any:
        """Fire schedule ``name`` now, in this thread; returns the target's result (its
        exception propagates). The regular timetable is unchanged."""
        entry = self._entry(name)
        return self._run(entry, _utc(self._clock()), raise_errors=True)

    def _run(self, entry: _Entry, when: datetime, *, raise_errors: bool) -> Any:
        try:
            result = entry.target(self.event(entry.schedule.name, when))
        except Exception as exc:
            with self._lock:
                entry.fired += 1
                entry.last_error = f"{type(exc).__name__}: {exc}"
            if raise_errors:
                raise
            log.error("schedule %s failed: %s", entry.schedule.name, exc)
            return None
        with self._lock:
            entry.fired += 1
            entry.last_error = None
        return result

    def list(self) -> list[ScheduleInfo]:
        """The schedules with their next fire times, soonest first."""
        with self._lock:
            infos = [
                ScheduleInfo(
                    e.schedule.name, e.schedule.expression, e.next_at, e.fired, e.last_error
                )
                for e in self._entries.values()
            ]
        return sorted(infos, key=lambda i: (i.next_fire, i.name))

    def tick(self) -> list[str]:
        """Fire every schedule that is due now (once each, even if several times were
        missed, as EventBridge does not catch up) and advance it; the names fired."""
        now = _utc(self._clock())
        with self._lock:
            due = [e for e in self._entries.values() if e.next_at <= now]
        for entry in due:
            self._run(entry, entry.next_at, raise_errors=False)
            with self._lock:
                entry.next_at = next_fire(entry.schedule.expression, now, anchor=self._anchor)
        return [e.schedule.name for e in due]

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            with self._lock:
                soonest = min((e.next_at for e in self._entries.values()), default=None)
            if soonest is None:
                wait = self._max_wait_s
            else:
                wait = (soonest - _utc(self._clock())).total_seconds()
            # Bounded waits: a clock jump (laptop sleep) is noticed within max_wait_s.
            self._sleep(min(max(wait, 0.0), self._max_wait_s))

    def start(self) -> Scheduler:
        """Start firing on a daemon thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread (a target still running is waited for up to ``timeout_s``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    @property
    def fired(self) -> Mapping[str, int]:
        """Firings so far by schedule name (timetable and on demand)."""
        with self._lock:
            return {n: e.fired for n, e in self._entries.items()}
