"""The platform's resources and how events reach its functions: the one statement of them.

The CDK stacks (``cdk/``) create these resources and the local platform (``tradpal.local``)
creates the same ones in moto, both from :data:`TOPOLOGY`; a handler finds each resource it
was granted through the environment variable named here (:mod:`tradpal.platform.environment`).
Nothing about the topology (table keys and TTLs, stream sizes, retry settings, variable
names) is written anywhere else.

Every resource has a ``key``, ``<name>_<kind>`` (``runs_table``, ``market_data_bucket``,
``market_data_stream``, ``event_bus``, ``notifier_secret``, ``backtest_state_machine``):
what capabilities are granted access to (:class:`Grant`), what the environment variable is
named after (``TRADPAL_<KEY>``) and what health checks report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

from tradpal.errors import ConfigError

ResourceKind = Literal["bucket", "table", "stream", "bus", "secret", "state_machine"]
ENV_PREFIX = "TRADPAL_"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def _fail(message: str, hint: str) -> None:
    raise ConfigError(message, hint=hint)


@dataclass(frozen=True)
class Resource:
    """A resource of the platform: ``name`` is logical (``"runs"``); the deployed and the
    local names are derived from it (:meth:`physical_name`)."""

    name: str
    description: str
    kind: ClassVar[ResourceKind]
    modes: ClassVar[tuple[str, ...]]
    """The access modes a capability may be granted (see :class:`Grant`)."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            _fail(f"resource name {self.name!r} is invalid", "use lowercase snake_case")

    @property
    def key(self) -> str:
        """``<name>_<kind>``: how grants, variables and health checks name the resource."""
        return f"{self.name}_{self.kind}"

    @property
    def env_var(self) -> str:
        """The variable a function reads the resource's name (or ARN) from."""
        return ENV_PREFIX + self.key.upper()

    def physical_name(self, prefix: str) -> str:
        """The resource's name under ``prefix`` (``tradpal-dev``): ``<prefix>-runs``."""
        return f"{prefix}-{self.name.replace('_', '-')}"


@dataclass(frozen=True)
class Bucket(Resource):
    """An S3 bucket (encrypted, versioned, public access blocked)."""

    kind: ClassVar[ResourceKind] = "bucket"
    modes: ClassVar[tuple[str, ...]] = ("r", "rw")


@dataclass(frozen=True)
class Table(Resource):
    """A DynamoDB table, on demand: string ``partition`` (and ``sort``) keys; items expire at
    the epoch seconds in attribute ``ttl`` when one is named."""

    partition: str = "id"
    sort: str | None = None
    ttl: str | None = None
    kind: ClassVar[ResourceKind] = "table"
    modes: ClassVar[tuple[str, ...]] = ("r", "rw")


@dataclass(frozen=True)
class Stream(Resource):
    """A Kinesis data stream: ``shards`` provisioned shards, records kept
    ``retention_hours``."""

    shards: int = 1
    retention_hours: int = 24
    kind: ClassVar[ResourceKind] = "stream"
    modes: ClassVar[tuple[str, ...]] = ("r", "w")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.shards <= 500 or not 24 <= self.retention_hours <= 8760:
            _fail(
                f"stream {self.name}: shards {self.shards} or retention "
                f"{self.retention_hours} h is out of range",
                "use 1..500 shards and 24..8760 hours",
            )


@dataclass(frozen=True)
class Bus(Resource):
    """The EventBridge bus of the domain events (with an archive; its retention is the
    stage's, ``cdk/config.py``)."""

    kind: ClassVar[ResourceKind] = "bus"
    modes: ClassVar[tuple[str, ...]] = ("publish",)


@dataclass(frozen=True)
class Secret(Resource):
    """A Secrets Manager secret (a JSON document)."""

    kind: ClassVar[ResourceKind] = "secret"
    modes: ClassVar[tuple[str, ...]] = ("r",)

    def physical_name(self, prefix: str) -> str:
        """Secrets are named like paths: ``<prefix>/notifier``."""
        return f"{prefix}/{self.name}"


@dataclass(frozen=True)
class StateMachine(Resource):
    """A Step Functions state machine (``state_machines/<name>.asl.json``); its variable
    holds the ARN. ``run``: start executions, describe and stop them."""

    kind: ClassVar[ResourceKind] = "state_machine"
    modes: ClassVar[tuple[str, ...]] = ("run",)


@dataclass(frozen=True)
class Grant:
    """Access of a capability to a resource: ``"<key>:<mode>"`` (``"runs_table:rw"``).

    Modes: buckets and tables ``r`` (read) or ``rw``; streams ``r`` (consume) or ``w`` (put);
    the bus ``publish``; secrets ``r``; state machines ``run``. The special grant
    ``"*:describe"`` (health) may see that every resource exists, and read nothing."""

    resource: str
    mode: str

    @classmethod
    def parse(cls, text: str) -> Grant:
        resource, sep, mode = str(text).partition(":")
        if not sep or not resource or not mode:
            _fail(f"grant {text!r} is malformed", 'write "<resource key>:<mode>"')
        return cls(resource, mode)

    def __str__(self) -> str:
        return f"{self.resource}:{self.mode}"

    @property
    def describes_all(self) -> bool:
        return self.resource == "*" and self.mode == "describe"


@dataclass(frozen=True)
class Delivery:
    """How events reach functions, on AWS and locally alike.

    * EventBridge to a target (rules and schedules): ``target_retries`` retries within
      ``target_max_age_s``, then the rules' dead-letter queue;
    * Lambda's asynchronous invocations (what EventBridge makes): ``async_retries`` retries
      of a function error within ``async_max_age_s``, then the function's on-failure queue;
    * dead-letter queues keep messages ``dead_letter_days``.

    Stream consumers have their own settings (:class:`~tradpal.platform.catalog.StreamConsumer`).
    """

    target_retries: int = 3
    target_max_age_s: int = 2 * 3600
    async_retries: int = 2
    async_max_age_s: int = 6 * 3600
    dead_letter_days: int = 14

    def __post_init__(self) -> None:
        if not 0 <= self.target_retries <= 185 or not 60 <= self.target_max_age_s <= 86_400:
            _fail("EventBridge target retries or event age out of range", "0..185, 60..86400 s")
        if not 0 <= self.async_retries <= 2 or not 60 <= self.async_max_age_s <= 21_600:
            _fail("Lambda async retries or event age out of range", "use 0..2 and 60..21600 s")
        if not 1 <= self.dead_letter_days <= 14:
            _fail(f"dead_letter_days {self.dead_letter_days} is out of range", "use 1..14")


@dataclass(frozen=True)
class Topology:
    """Every resource of the platform and the delivery settings (module docstring)."""

    buckets: tuple[Bucket, ...]
    tables: tuple[Table, ...]
    streams: tuple[Stream, ...]
    bus: Bus
    secrets: tuple[Secret, ...]
    state_machines: tuple[StateMachine, ...]
    delivery: Delivery = Delivery()

    def __post_init__(self) -> None:
        keys = [r.key for r in self]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            _fail(f"duplicate resources in the topology: {dupes}", "make each name unique")

    def __iter__(self) -> Iterator[Resource]:
        yield from self.buckets
        yield from self.tables
        yield from self.streams
        yield self.bus
        yield from self.secrets
        yield from self.state_machines

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(r.key for r in self)

    def get(self, key: str) -> Resource:
        """The resource with ``key`` (``"runs_table"``); ConfigError naming the known ones."""
        for resource in self:
            if resource.key == key:
                return resource
        raise ConfigError(f"unknown resource {key!r}", hint=f"use one of {', '.join(self.keys)}")

    def stream(self, name: str) -> Stream:
        """The stream called ``name`` (``"market_data"``)."""
        found = self.get(f"{name}_stream")
        assert isinstance(found, Stream)
        return found

    def check_grant(self, grant: Grant, owner: str) -> None:
        """Refuse a grant of a resource that does not exist or with a mode it has not."""
        if grant.describes_all:
            return
        try:
            resource = self.get(grant.resource)
        except ConfigError as exc:
            raise ConfigError(f"{owner}: {exc.message}", hint=exc.hint) from None
        if grant.mode not in resource.modes:
            _fail(
                f"{owner}: grant {grant} has mode {grant.mode!r}",
                f"a {resource.kind} takes {', '.join(resource.modes)}",
            )


TOPOLOGY = Topology(
    buckets=(
        Bucket("market_data", "Parquet market data, partitioned by symbol and timeframe"),
        Bucket("results", "Run results: backtest files, discovery state, large responses"),
    ),
    tables=(
        Table("runs", "One item per backtest or discovery run", "run_id", ttl="expires_at"),
        Table(
            "datasets",
            "One item per stored dataset: range, rows, quality, stream watermarks",
            "symbol",
            "timeframe",
        ),
        # Attribute names are Powertools' idempotency defaults.
        Table(
            "idempotency",
            "Idempotency records (run starts, signals, deliveries)",
            "id",
            ttl="expiration",
        ),
        # Single-table design (tradpal.trading.store): a trader's items share its partition,
        # so one query reads a trader whole and a transaction checks its lease beside a write.
        Table(
            "trading",
            "Traders: state, lease, orders and fills, one partition per trader",
            "trader_id",
            "item",
        ),
    ),
    streams=(Stream("market_data", "New candles (CandleRecord JSON), keyed by dataset"),),
    bus=Bus("event", "The tradpal bus of domain events"),
    secrets=(Secret("notifier", "Notification channels: webhook URLs, tokens, signing key"),),
    state_machines=(
        StateMachine("backtest", "validate, ensure data, run, store, publish"),
        StateMachine("discovery", "plan, evaluate (Distributed Map), reduce, validate best"),
    ),
)
"""The platform's resources (module docstring)."""
