"""The capability catalog: one typed, declarative definition per capability.

The CDK stacks (``cdk/``) build the deployed topology from :data:`CATALOG`, and the local
platform reads the same catalog, so a laptop runs exactly the routes, event rules, stream
consumers, schedules and state-machine tasks that AWS runs.

Conventions:

- A capability is one Lambda function; its handler is ``functions.<name>.handler.handler``.
- Route paths are API Gateway HTTP API paths (``/v1/backtests/{id}``); a route key is
  ``"<METHOD> <path>"``. Every route needs a JWT with at least one of its ``scopes``
  (``read``: query data and results; ``trade``: start work that spends compute or acts on a
  market; ``admin``: manage data and the platform) unless it is ``public`` (health only).
- Throttling is per route: ``rate`` in requests per second (steady state), ``burst`` in
  requests (token bucket size), for all callers together. ``caller_rate`` and
  ``caller_burst`` are each caller's share of it, applied by the local gateway only: an HTTP
  API has no per-client limits (no usage plans or API keys), so the deployed API throttles
  per route alone.
- Event rules match EventBridge ``source`` and ``detail-type``; detail types are the domain
  event types in :data:`EVENT_TYPES`. Events are published with source
  ``tradpal.<capability>`` (who published it), so rules match the source *prefix*
  ``tradpal.`` (:data:`EVENT_SOURCE` plus a dot).
- State-machine tasks are named ``<machine>.<task>`` (``backtest.run``); each task is provided
  by exactly one capability, whose handler receives ``{"task": "<task>", ...}``. Recording
  failures and publishing results are direct service integrations in the state machines, not
  tasks.
- Memory in MB, timeouts in seconds, Lambda's limits (128..10240 MB, 1..900 s).
- ``access`` grants resources of the topology (:mod:`tradpal.platform.topology`: buckets,
  tables, streams, the bus, secrets, state machines) as ``"<resource key>:<mode>"``; a
  function's environment names only what it is granted, on AWS and locally.

Everything is JSON-able: :meth:`Catalog.to_dict` / :meth:`Catalog.from_dict` round-trip exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tradpal.errors import ConfigError
from tradpal.platform.topology import TOPOLOGY, Grant, Topology

Scope = Literal["read", "trade", "admin"]
Packaging = Literal["zip", "image"]

SCOPES: tuple[str, ...] = ("read", "trade", "admin")
METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
PACKAGINGS: tuple[str, ...] = ("zip", "image")
EVENT_SOURCE = "tradpal"
EVENT_TYPES: tuple[str, ...] = (
    "market_data_update",
    "trading_signal",
    "order_executed",
    "portfolio_update",
    "risk_alert",
    "system_health",
    "ml_model_update",
    "backtest_complete",
)
DEPLOYED_STRATEGY_DIR = "/opt/python/tradpal_strategies"
# The binding limit on a request body on AWS: an HTTP API takes 10 MB, but the Lambda it
# invokes takes at most 6 MB of event (body and headers), so larger bodies that pass locally
# would fail deployed. The local gateway answers 413 above it; the document says so.
MAX_BODY_BYTES = 6 * 1024 * 1024
"""Where the deployed functions find the repository's ``strategies/`` folder (the layer's
``python/tradpal_strategies``, the same path in the container images)."""
STREAMS: tuple[str, ...] = tuple(s.name for s in TOPOLOGY.streams)
"""Kinesis streams of the platform, by logical name (from the topology)."""
STATE_MACHINES: tuple[str, ...] = tuple(m.name for m in TOPOLOGY.state_machines)


def source_pattern(source: str = EVENT_SOURCE) -> list[dict[str, str]]:
    """The EventBridge ``source`` filter for every publisher under ``source``
    (``tradpal.backtests``, ``tradpal.data``...): a prefix match on ``<source>.``."""
    return [{"prefix": f"{source}."}]


_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_PATH = re.compile(r"^/v1(/([a-z][a-z0-9_-]*|\{[a-z][a-z0-9_]*\}))+$")
_SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$")
_ENV_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _fail(message: str, hint: str) -> None:
    raise ConfigError(message, hint=hint)


@dataclass(frozen=True)
class Throttle:
    """Per-route throttling: ``rate`` requests/s steady state, ``burst`` requests at once, for
    all callers together (the deployed API's route throttle).

    ``caller_rate`` and ``caller_burst`` (default: the route's) limit each caller (each
    token subject) under that ceiling, like a usage plan; only the local gateway applies
    them, since an HTTP API cannot. Set them below the route's so that one caller's burst
    leaves room for the others.
    """

    rate: float = 10.0
    burst: int = 20
    caller_rate: float | None = None
    caller_burst: int | None = None

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1 and self.burst >= self.rate):
            _fail(
                f"throttle rate={self.rate} burst={self.burst} is invalid",
                "use rate > 0 requests/s and an integer burst >= max(1, rate)",
            )
        if self.caller_rate is None:
            object.__setattr__(self, "caller_rate", self.rate)
        if self.caller_burst is None:
            object.__setattr__(self, "caller_burst", self.burst)
        rate, burst = self.caller_rate, self.caller_burst
        if not (0 < rate <= self.rate and 1 <= burst <= self.burst and burst >= rate):
            _fail(
                f"throttle caller_rate={rate} caller_burst={burst} is invalid for the route's "
                f"rate={self.rate} burst={self.burst}",
                "use 0 < caller_rate <= rate and an integer caller_burst in "
                "max(1, caller_rate)..burst: a caller's share of the route's limit",
            )


@dataclass(frozen=True)
class Route:
    """An HTTP API route served by the capability.

    ``scopes``: any one of them grants access; empty only for a ``public`` route.
    """

    method: str
    path: str
    scopes: tuple[str, ...] = ("read",)
    throttle: Throttle = field(default_factory=Throttle)
    public: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", tuple(self.scopes))
        if self.method not in METHODS:
            _fail(f"route method {self.method!r} is not supported", f"use one of {METHODS}")
        if not _PATH.match(self.path):
            _fail(
                f"route path {self.path!r} is malformed",
                "paths start with /v1 and use lowercase segments or {param} placeholders",
            )
        bad = [s for s in self.scopes if s not in SCOPES]
        if bad:
            _fail(f"route {self.key} has unknown scopes {bad}", f"use scopes from {SCOPES}")
        if self.public == bool(self.scopes):
            _fail(
                f"route {self.key} must be either public or scoped, not "
                f"{'both' if self.public else 'neither'}",
                "give protected routes at least one scope and public routes none",
            )

    @property
    def key(self) -> str:
        """The API Gateway route key, ``"METHOD /path"``."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class EventRule:
    """EventBridge events on the tradpal bus that invoke the capability."""

    detail_types: tuple[str, ...]
    source: str = EVENT_SOURCE

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail_types", tuple(self.detail_types))
        unknown = [d for d in self.detail_types if d not in EVENT_TYPES]
        if not self.detail_types or unknown:
            _fail(
                f"event rule detail types {list(self.detail_types)} are empty or unknown "
                f"({unknown})",
                f"use event types from {EVENT_TYPES}",
            )

    def pattern(self) -> dict[str, list[Any]]:
        """The EventBridge event pattern: ``source`` starting with ``<source>.`` and the
        ``detail-type``."""
        return {"source": source_pattern(self.source), "detail-type": list(self.detail_types)}


@dataclass(frozen=True)
class StreamConsumer:
    """A Kinesis stream the capability consumes in batches.

    Failures are reported per record (partial batch response); a failing batch is bisected
    and retried ``max_retry_attempts`` times, then its records go to a dead-letter queue.
    """

    stream: str
    batch_size: int = 100
    max_batching_window_s: int = 5
    starting_position: Literal["LATEST", "TRIM_HORIZON"] = "LATEST"
    max_retry_attempts: int = 3
    parallelization_factor: int = 1

    def __post_init__(self) -> None:
        if self.stream not in STREAMS:
            _fail(f"unknown stream {self.stream!r}", f"use one of {STREAMS}")
        if not 1 <= self.batch_size <= 10_000:
            _fail(f"batch_size {self.batch_size} is out of range", "use 1..10000 records")
        if not 0 <= self.max_batching_window_s <= 300:
            _fail(
                f"max_batching_window_s {self.max_batching_window_s} is out of range",
                "use 0..300 seconds",
            )
        if self.starting_position not in ("LATEST", "TRIM_HORIZON"):
            _fail(
                f"starting_position {self.starting_position!r} is invalid",
                "use LATEST or TRIM_HORIZON",
            )
        if not 0 <= self.max_retry_attempts <= 10_000:
            _fail(f"max_retry_attempts {self.max_retry_attempts} is invalid", "use 0..10000")
        if not 1 <= self.parallelization_factor <= 10:
            _fail(f"parallelization_factor {self.parallelization_factor} is invalid", "use 1..10")


@dataclass(frozen=True)
class Schedule:
    """A scheduled invocation: EventBridge ``rate(...)`` or ``cron(...)`` with a JSON input."""

    name: str
    expression: str
    input: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input", dict(self.input))
        if not _NAME.match(self.name):
            _fail(f"schedule name {self.name!r} is invalid", "use lowercase snake_case")
        if not _SCHEDULE.match(self.expression):
            _fail(
                f"schedule expression {self.expression!r} is invalid",
                'use "rate(1 hour)", "rate(5 minutes)" or "cron(0 * * * ? *)"',
            )


@dataclass(frozen=True)
class Capability:
    """One capability: a Lambda function and everything that invokes it."""

    name: str
    description: str
    routes: tuple[Route, ...] = ()
    consumes: tuple[EventRule, ...] = ()
    streams: tuple[StreamConsumer, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    memory_mb: int = 1024
    timeout_s: int = 29
    packaging: Packaging = "zip"
    environment: Mapping[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    sfn_tasks: tuple[str, ...] = ()
    strategies: bool = False
    """Whether the function runs strategies by name: it then gets the deployed strategy
    folder (:data:`DEPLOYED_STRATEGY_DIR`) as its ``strategy_dirs``."""
    access: tuple[str, ...] = ()
    """What the function may touch, as grants ``"<resource key>:<mode>"``
    (:class:`~tradpal.platform.topology.Grant`); everything else is denied (least
    privilege), on AWS by IAM and locally by leaving it out of the function's environment."""

    def __post_init__(self) -> None:
        for name in ("routes", "consumes", "streams", "schedules", "sfn_tasks", "access"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for grant in self.grants:
            TOPOLOGY.check_grant(grant, self.name)
        object.__setattr__(self, "environment", dict(self.environment))
        if not _NAME.match(self.name):
            _fail(f"capability name {self.name!r} is invalid", "use lowercase snake_case")
        if not 128 <= self.memory_mb <= 10_240:
            _fail(f"{self.name}: memory_mb {self.memory_mb} is out of range", "use 128..10240")
        if not 1 <= self.timeout_s <= 900:
            _fail(f"{self.name}: timeout_s {self.timeout_s} is out of range", "use 1..900")
        if self.packaging not in PACKAGINGS:
            _fail(f"{self.name}: packaging {self.packaging!r} is invalid", f"use {PACKAGINGS}")
        if self.reserved_concurrency is not None and self.reserved_concurrency < 1:
            _fail(
                f"{self.name}: reserved_concurrency {self.reserved_concurrency} is invalid",
                "use None (unreserved) or a positive number of concurrent executions",
            )
        bad_env = [k for k in self.environment if not _ENV_KEY.match(k)]
        if bad_env or not all(isinstance(v, str) for v in self.environment.values()):
            _fail(
                f"{self.name}: environment keys {bad_env} or values are invalid",
                "use UPPER_SNAKE keys and string values",
            )
        for task in self.sfn_tasks:
            machine, _, step = task.partition(".")
            if machine not in STATE_MACHINES or not _NAME.match(step):
                _fail(
                    f"{self.name}: state-machine task {task!r} is invalid",
                    f"name tasks <machine>.<task> with machine in {STATE_MACHINES}",
                )
        if not (self.routes or self.consumes or self.streams or self.schedules or self.sfn_tasks):
            _fail(
                f"{self.name}: nothing invokes this capability",
                "give it routes, event rules, stream consumers, schedules or sfn_tasks",
            )

    @property
    def handler(self) -> str:
        """The Lambda handler, ``functions.<name>.handler.handler``."""
        return f"functions.{self.name}.handler.handler"

    @property
    def grants(self) -> tuple[Grant, ...]:
        """:attr:`access` parsed."""
        return tuple(Grant.parse(g) for g in self.access)

    def resource_keys(self, topology: Topology = TOPOLOGY) -> tuple[str, ...]:
        """Keys of the resources the function is granted (every one for ``*:describe``),
        in topology order: what its environment names."""
        if any(g.describes_all for g in self.grants):
            return topology.keys
        granted = {g.resource for g in self.grants}
        return tuple(k for k in topology.keys if k in granted)

    def mode(self, key: str) -> str | None:
        """The mode the function is granted on resource ``key``, or None."""
        return next((g.mode for g in self.grants if g.resource == key), None)

    @property
    def is_async(self) -> bool:
        """True when EventBridge (rules or schedules) invokes it asynchronously."""
        return bool(self.consumes or self.schedules)

    def to_dict(self) -> dict[str, Any]:
        """A plain-JSON dict of this capability, with its derived ``handler``."""
        data = asdict(self)
        data["handler"] = self.handler
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Capability:
        """Rebuild a capability from :meth:`to_dict` output (``handler`` is derived)."""
        d = {k: v for k, v in data.items() if k != "handler"}
        d["routes"] = tuple(
            Route(**{**r, "throttle": Throttle(**r["throttle"])}) for r in d.get("routes", ())
        )
        d["consumes"] = tuple(EventRule(**r) for r in d.get("consumes", ()))
        d["streams"] = tuple(StreamConsumer(**s) for s in d.get("streams", ()))
        d["schedules"] = tuple(Schedule(**s) for s in d.get("schedules", ()))
        return cls(**d)


@dataclass(frozen=True)
class Catalog:
    """The capabilities of the platform, validated as a whole (unique names, routes, tasks)."""

    capabilities: tuple[Capability, ...]
    topology: Topology = TOPOLOGY

    def __post_init__(self) -> None:
        object.__setattr__(self, "capabilities", tuple(self.capabilities))
        for label, keys in (
            ("capability name", [c.name for c in self.capabilities]),
            ("route", [r.key for c in self.capabilities for r in c.routes]),
            ("state-machine task", [t for c in self.capabilities for t in c.sfn_tasks]),
            ("schedule name", [s.name for c in self.capabilities for s in c.schedules]),
        ):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            if dupes:
                _fail(f"duplicate {label}s in the catalog: {dupes}", f"make each {label} unique")

    def __iter__(self) -> Iterator[Capability]:
        return iter(self.capabilities)

    def __len__(self) -> int:
        return len(self.capabilities)

    @property
    def names(self) -> tuple[str, ...]:
        """Capability names in catalog order."""
        return tuple(c.name for c in self.capabilities)

    def get(self, name: str) -> Capability:
        """The capability called ``name``; ConfigError naming the known ones otherwise."""
        for cap in self.capabilities:
            if cap.name == name:
                return cap
        raise ConfigError(f"unknown capability {name!r}", hint=f"use one of {self.names}")

    def routes(self) -> dict[str, tuple[Capability, Route]]:
        """Every route by its key (``"POST /v1/backtests"``) with the capability serving it."""
        return {r.key: (c, r) for c in self.capabilities for r in c.routes}

    def tasks(self) -> dict[str, Capability]:
        """Every state-machine task (``"backtest.run"``) with the capability providing it."""
        return {t: c for c in self.capabilities for t in c.sfn_tasks}

    def consumers_of(self, detail_type: str) -> tuple[Capability, ...]:
        """The capabilities with an event rule matching ``detail_type`` from tradpal."""
        return tuple(
            c
            for c in self.capabilities
            if any(detail_type in r.detail_types and r.source == EVENT_SOURCE for r in c.consumes)
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``{"capabilities": [...]}``."""
        return {"capabilities": [c.to_dict() for c in self.capabilities]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalog:
        """Rebuild a catalog from :meth:`to_dict` output."""
        return cls(tuple(Capability.from_dict(c) for c in data["capabilities"]))


# Throttles: reads are cheap; starting runs spends compute, so it is held tighter. A caller
# gets about half of a route (locally; see Throttle): one client's burst leaves the rest to
# the others. Admin is one operator's, and whole.
_READ = Throttle(rate=20.0, burst=40, caller_rate=10.0, caller_burst=20)
_RUN = Throttle(rate=2.0, burst=5, caller_rate=1.0, caller_burst=3)
_ADMIN = Throttle(rate=1.0, burst=2)

CATALOG = Catalog(
    (
        Capability(
            name="health",
            description="Liveness and version, for load balancers and uptime checks",
            routes=(
                Route("GET", "/v1/health", scopes=(), throttle=_READ, public=True),
                # The OpenAPI document of the whole API (functions/health/openapi.json).
                Route("GET", "/v1/openapi", scopes=(), throttle=_READ, public=True),
            ),
            memory_mb=256,
            timeout_s=5,
            # whether each resource is there (list, describe); no data
            access=("*:describe",),
        ),
        Capability(
            name="indicators",
            description="Technical indicators over stored candles",
            routes=(
                Route("GET", "/v1/indicators", ("read",), _READ),
                Route("POST", "/v1/indicators", ("read",), _READ),
            ),
            memory_mb=1024,
            timeout_s=29,
            access=("market_data_bucket:r", "datasets_table:r", "results_bucket:rw"),
        ),
        Capability(
            name="signals",
            description="Strategy signals on demand and on every new candle from the stream",
            routes=(Route("POST", "/v1/signals", ("read",), _READ),),
            streams=(StreamConsumer("market_data", batch_size=100, max_batching_window_s=5),),
            memory_mb=1024,
            timeout_s=60,
            strategies=True,
            access=(
                "market_data_bucket:r",
                "datasets_table:r",
                "market_data_stream:r",
                "idempotency_table:rw",
                "event_bus:publish",
            ),
        ),
        Capability(
            name="data",
            description="Candle ingest from exchanges into the store, and the stored datasets",
            routes=(
                Route("GET", "/v1/data", ("read",), _READ),
                Route("POST", "/v1/data/ingest", ("admin",), _ADMIN),
            ),
            schedules=(Schedule("ingest_hourly", "rate(1 hour)", {"action": "ingest"}),),
            memory_mb=1024,
            timeout_s=300,
            # One ingest at a time: exchanges rate-limit per API key and parallel appends to a
            # dataset would only contend.
            reserved_concurrency=2,
            access=(
                "market_data_bucket:rw",
                "datasets_table:rw",
                "market_data_stream:w",
                "event_bus:publish",
            ),
        ),
        Capability(
            name="backtests",
            description="Backtest runs: start, status and results, and the backtest tasks",
            routes=(
                Route("POST", "/v1/backtests", ("trade",), _RUN),
                Route("GET", "/v1/backtests", ("read",), _READ),
                Route("GET", "/v1/backtests/{id}", ("read",), _READ),
                Route("DELETE", "/v1/backtests/{id}", ("trade",), _RUN),
            ),
            sfn_tasks=(
                "backtest.validate",
                "backtest.ensure_data",
                "backtest.run",
                "backtest.store",
            ),
            memory_mb=3008,
            timeout_s=900,
            packaging="image",
            strategies=True,
            access=(
                "market_data_bucket:r",
                "datasets_table:r",
                "results_bucket:rw",
                "runs_table:rw",
                "idempotency_table:rw",
                "event_bus:publish",
                "backtest_state_machine:run",
            ),
        ),
        Capability(
            name="discovery",
            description="Strategy discovery: start, status and results; plan, reduce, validate",
            routes=(
                Route("POST", "/v1/discovery", ("trade",), _RUN),
                Route("GET", "/v1/discovery/{id}", ("read",), _READ),
                Route("DELETE", "/v1/discovery/{id}", ("trade",), _RUN),
            ),
            sfn_tasks=(
                "discovery.plan",
                "discovery.reduce",
                "discovery.validate_best",
            ),
            memory_mb=2048,
            timeout_s=900,
            strategies=True,
            access=(
                "market_data_bucket:r",
                "datasets_table:r",
                "results_bucket:rw",
                "runs_table:rw",
                "idempotency_table:rw",
                "event_bus:publish",
                "discovery_state_machine:run",
            ),
        ),
        Capability(
            name="discovery_evaluate",
            description="Scores one batch of discovery candidates (the Distributed Map worker)",
            sfn_tasks=("discovery.evaluate",),
            memory_mb=3008,
            timeout_s=900,
            packaging="image",
            strategies=True,
            access=("market_data_bucket:r", "datasets_table:r", "results_bucket:rw"),
        ),
        Capability(
            name="trading",
            description="The traders' state, orders and fills; stop, pause and start them",
            routes=(
                Route("GET", "/v1/trading", ("read",), _READ),
                Route("GET", "/v1/trading/{id}", ("read",), _READ),
                Route("GET", "/v1/trading/{id}/orders", ("read",), _READ),
                Route("GET", "/v1/trading/{id}/fills", ("read",), _READ),
                # acts on a market (the kill switch): trade, held as tight as starting runs
                Route("POST", "/v1/trading/{id}/stop", ("trade",), _RUN),
                Route("POST", "/v1/trading/{id}/pause", ("trade",), _RUN),
                Route("POST", "/v1/trading/{id}/start", ("trade",), _RUN),
            ),
            memory_mb=256,
            timeout_s=10,
            # reads the traders' items and writes their control item; IAM cannot narrow a
            # grant to one sort key, so it is the table's read and write
            access=("trading_table:rw",),
        ),
        Capability(
            name="notifier",
            description="Notifications (Telegram, e-mail) for signals, risk, orders and results",
            consumes=(
                EventRule(
                    (
                        "trading_signal",
                        "risk_alert",
                        "order_executed",
                        "backtest_complete",
                    )
                ),
            ),
            memory_mb=256,
            timeout_s=30,
            access=("idempotency_table:rw", "notifier_secret:r"),
        ),
    )
)
