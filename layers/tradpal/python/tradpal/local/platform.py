"""The local platform: TradPal's whole serverless topology in one process, no AWS account.

:class:`LocalPlatform` builds, from the same catalog the CDK app deploys:

* moto in server mode (S3, DynamoDB, EventBridge, Kinesis, SQS, Secrets Manager, Step
  Functions with real execution) and the platform's resources (:mod:`tradpal.local.resources`);
* one Lambda function per capability, each invocation dispatched in-process to the real
  handler in ``functions/<capability>/handler.py`` (:mod:`tradpal.local.lambdas`);
* both state machines from ``state_machines/`` (:mod:`tradpal.local.machines`);
* the event rules of the catalog on the bus, with their retry policies and dead-letter
  queues, delivered to the functions (:mod:`tradpal.local.events`); the asynchronous
  invocation settings (2 retries, then an on-failure queue) of every function EventBridge
  invokes;
* the Kinesis event source mappings, polling into their consumers with partial batch
  failures, bisection, retries and an on-failure queue (:mod:`tradpal.local.streams`);
* the scheduled rules, fired on their schedule and on demand (:mod:`tradpal.local.scheduler`);
* an HTTP gateway on 127.0.0.1 that checks JWTs as the deployed authorizer does, throttles
  per route (and, unlike AWS, per caller under it) and turns requests into HTTP API v2 events
  (:mod:`tradpal.local.gateway`), with a local RS256 issuer (:mod:`tradpal.auth.issuer`);
* state kept under ``$TRADPAL_HOME/platform``: every change to the buckets and tables is
  journaled before moto answers it (:mod:`tradpal.local.journal`) and snapshotted in the
  background (:mod:`tradpal.local.snapshot`); the next start restores the snapshot and replays
  the journal, so a run the API answered SUCCEEDED survives even a ``kill -9``; the issuer's
  key is kept too, so tokens survive.

Stopping is graceful: the gateway stops taking requests, then events in delivery and records
on the Kinesis stream are consumed (up to ``drain_s``), then the final snapshot is taken.

A start after a crash (``kill -9``) makes good what the dead session left: runs still RUNNING
are marked ``ABORTED`` with the reason (their executions are not kept); idempotency records
still in progress are released (their invocations died, and a retry would have been refused
until they expired); the datasets table is made to say what the store holds (an ingest cut
off between storing bars and listing them); the event deliveries the bus had accepted and not
finished are made again, and a run recorded finished whose execution stopped before
publishing its ``backtest_complete`` gets it published (:mod:`tradpal.local.outbox`). What
is not kept: stream records still unconsumed when the platform was killed, or when the drain
ran out of time (a warning names what was left; an ingest puts again the bars after the
dataset's stream watermark, so only bars put before a kill and not yet consumed are lost).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from tradpal.errors import ConfigError
from tradpal.files import create_file
from tradpal.local.lambdas import LocalLambda
from tradpal.local.moto_server import ACCOUNT_ID, REGION, MotoServer
from tradpal.local.resources import local_env, provision
from tradpal.platform.aws import client, reset_clients
from tradpal.platform.catalog import CATALOG, Capability, Catalog
from tradpal.platform.environment import platform_env, scoped_env, with_env
from tradpal.platform.http import error_result
from tradpal.serialize import now_iso

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[5]
DEFAULT_PORT = 8787
SNAPSHOT_DIR = "state"
SIGNING_KEY_FILE = "webhook_signing_key"
SAMPLE = {"symbol": "SYN/USD", "timeframe": "1h", "bars": 5000}
"""The offline sample the platform ingests on its first start (synthetic, labelled so)."""


def _stop_process(proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _queue(name: str) -> str:
    sqs = client("sqs")
    return sqs.create_queue(QueueName=name)["QueueUrl"]


def _queue_arn(url: str) -> str:
    attrs = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attrs["Attributes"]["QueueArn"]


class LocalPlatform:
    """TradPal on this machine. ``with LocalPlatform(home) as p: ...`` or ``start()/stop()``.

    ``home``: where state lives (default ``$TRADPAL_HOME``); ``port``: the gateway's port
    (0 picks a free one); ``sample``: ingest the offline sample on the first start;
    ``run_schedules``: fire scheduled rules on their schedule (on demand always works);
    ``throttle``: apply the catalog's per-route throttles; ``webhooks``: notifier channels
    (``[{"url", "secret", "events"}]``) written into the notifier secret;
    ``settings``: extra ``TRADPAL_*`` settings for the functions (``{"sources": ...}``);
    ``drain_s``: how long :meth:`stop` waits for in-flight events and stream records;
    ``workers``: processes that run the state machines' tasks (:mod:`tradpal.local.workers`;
    default one per core but one; 0: in this process, where a test can patch them).
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        port: int = DEFAULT_PORT,
        host: str = "127.0.0.1",
        sample: bool = True,
        run_schedules: bool = True,
        throttle: bool = True,
        webhooks: Sequence[Mapping[str, Any]] | None = None,
        settings: Mapping[str, str] | None = None,
        catalog: Catalog = CATALOG,
        snapshot_interval_s: float = 30.0,
        drain_s: float = 30.0,
        workers: int | None = None,
    ) -> None:
        from tradpal.config import load_settings

        self.home = Path(home) if home is not None else load_settings().home
        self.port, self.host = port, host
        self.sample, self.run_schedules, self.throttle = sample, run_schedules, throttle
        self.webhooks = [dict(w) for w in webhooks] if webhooks is not None else None
        self.settings = dict(settings or {})
        self.catalog = catalog
        self.snapshot_interval_s = snapshot_interval_s
        self.drain_s = drain_s
        self.workers = workers
        self.pool: Any = None
        self.env = local_env()
        self.local = LocalLambda()
        self.pollers: list[Any] = []
        self.queues: dict[str, str] = {}
        self.aborted: list[str] = []
        self._stack: ExitStack | None = None
        self._saved_environ: dict[str, str | None] = {}
        self._lock = threading.Lock()

    # -- paths and names --------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        """``<home>/platform``: snapshot, issuer key, checkpoints."""
        return self.home / "platform"

    def function_name(self, capability: str) -> str:
        from tradpal.local.machines import function_name

        return function_name(self.env, capability)

    @property
    def url(self) -> str:
        """The gateway's base URL (``http://127.0.0.1:<port>``)."""
        return self.gateway.url

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> LocalPlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalPlatform:
        """Start everything; returns once the gateway answers."""
        if self._stack is not None:
            return self
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))  # handlers import as functions.<capability>.handler
        self.state_dir.mkdir(parents=True, exist_ok=True)
        stack = ExitStack()
        self._stack = stack
        try:
            self._start(stack)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, stack: ExitStack) -> None:
        # Handlers that record no metric in an invocation make Powertools warn each time.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        # moto's server logs every AWS call at INFO; the platform's own logs say what matters.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # moto's state-machine interpreter logs each failed state with internal reprs (and
        # that the Map's failure tolerance is ignored); a failed run's cause is in the API.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        from tradpal.auth.issuer import LocalIssuer
        from tradpal.local.events import EventDelivery
        from tradpal.local.gateway import LocalGateway
        from tradpal.local.journal import Journal, JournalingApp
        from tradpal.local.kinesis import patched_shards
        from tradpal.local.machines import deploy_state_machines, handler_of
        from tradpal.local.outbox import OUTBOX, Outbox
        from tradpal.local.snapshot import Snapshotter, restore
        from tradpal.notify.config import clear_config_cache

        started = now_iso()  # runs created from now on are this session's
        self.moto = MotoServer().start()
        stack.callback(self.moto.stop)
        # the stream is written and polled from several threads at once
        stack.enter_context(patched_shards())
        self._set_environ(
            {
                **self.moto.environ(),
                **self.env.to_environ(),
                "TRADPAL_HOME": str(self.home),
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "TradPal",
                # EMF lines would flood the console; CloudWatch is not here to read them.
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
                **{f"TRADPAL_{k.upper()}": v for k, v in self.settings.items()},
            }
        )
        stack.callback(self._restore_environ)
        reset_clients()
        platform_env.cache_clear()
        provision(self.env, notifier_channels=self._channels())
        # The notifier caches its channels per secret id (as on AWS, for a few minutes);
        # this start has just written them, maybe differently from a platform before it.
        clear_config_cache()
        snapshot_dir = self.state_dir / SNAPSHOT_DIR
        topology = self.catalog.topology
        buckets = [self.env.require(b.key) for b in topology.buckets]
        tables = [self.env.require(t.key) for t in topology.tables]
        restored = restore(snapshot_dir, buckets=buckets, tables=tables)
        # What changed after that snapshot and was acknowledged is in the journal; from now
        # on every change is journaled before moto answers it.
        keys = {self.env.require(t.key): (t.partition, t.sort) for t in topology.tables}
        self.journal = Journal(snapshot_dir, buckets=buckets, tables=keys)
        replayed = self.journal.replay()
        self.moto.wrap_app(lambda app: JournalingApp(app, self.journal))
        self.journal.enabled = True
        self.aborted = self._abort_interrupted_runs() if (restored or replayed) else []
        if restored or replayed:
            # every invocation of the last session ended with it
            self._release_orphaned_claims()
            self._reconcile_datasets()

        # functions: the state-machine tasks' (with the machines), then every other one
        handlers = {cap.name: _metrics_cleared(handler_of(cap.name)) for cap in self.catalog}
        if self.workers != 0:
            from tradpal.local.workers import WorkerPool

            self.pool = WorkerPool(str(ROOT), self.workers)
            stack.callback(self.pool.shutdown)
            self.pool.warm(tuple(c.name for c in self.catalog if c.sfn_tasks))
        # moto runs each Map child's interpreter in a thread of this process: more children
        # at once than there are workers to run their tasks only queue, holding the GIL.
        children = self.pool.size if self.pool is not None else 1
        self.env = deploy_state_machines(self.env, self.local, handlers, max_concurrency=children)
        self._set_environ(self.env.to_environ())
        platform_env.cache_clear()
        for cap in self.catalog:
            self._ensure_function(cap, handlers[cap.name])
        stack.enter_context(self.local.install())

        # events: the catalog's rules, async configs and dead-letter queues; deliveries are
        # kept until done (the outbox), so a kill loses none the bus accepted
        self.outbox = Outbox(self.state_dir / OUTBOX)
        self.delivery = EventDelivery(max_workers=4, outbox=self.outbox)
        stack.enter_context(self.delivery.install())
        self._wire_rules()

        # streams
        self._wire_streams(stack)

        # schedules
        self._wire_schedules(stack)

        # what the last stop left undelivered, now that every target is there
        self._recover_events(started)

        # state that survives a restart
        self.snapshotter = Snapshotter(
            snapshot_dir,
            buckets=buckets,
            tables=tables,
            interval_s=self.snapshot_interval_s,
            journal=self.journal,
        ).start()
        stack.callback(self.snapshotter.stop)
        # Runs after the gateway stops and before the final snapshot (the stack unwinds LIFO).
        stack.callback(self._drain)

        # the gateway
        self.issuer = LocalIssuer.load_or_create(self.state_dir / "issuer")
        self.gateway = LocalGateway(
            self.catalog,
            self._invoke_http,
            authorizer=self.issuer.authorizer_config(),
            jwks=self.issuer.jwks(),
            host=self.host,
            port=self.port,
            throttle=self.throttle,
            extra_routes={
                "GET /local/schedules": self._schedules_route,
                "POST /local/schedules": self._fire_route,
            },
        )
        try:
            self.gateway.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port}: {exc}",
                hint="another TradPal may be running; stop it or pass --port",
            ) from None
        stack.callback(self.gateway.stop)

        if self.sample:
            self.ingest_sample()

    def stop(self) -> None:
        """Stop everything (a final snapshot is taken first); safe to call twice."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()
        reset_clients()
        platform_env.cache_clear()

    # -- traders ------------------------------------------------------------------------------

    def start_trader(self, args: Sequence[str], **popen: Any) -> subprocess.Popen:
        """Start ``tradpal trade <args>`` in a process of its own, as a Fargate task runs
        beside the functions: with this platform's AWS endpoint and only the resources a
        trader reaches (:data:`~tradpal.trading.runner.TRADER_RESOURCES`). It is stopped
        with the platform (SIGTERM: it releases its lease)."""
        from tradpal.platform.environment import PlatformEnv
        from tradpal.platform.topology import TOPOLOGY
        from tradpal.trading.runner import TRADER_RESOURCES

        if self._stack is None:
            raise ConfigError("the local platform is not running", hint="start() first")
        granted = {k: v for k, v in self.env.resources.items() if k in TRADER_RESOURCES}
        env = {k: v for k, v in os.environ.items() if k not in {r.env_var for r in TOPOLOGY}}
        env.update(self.moto.environ())
        env.update(PlatformEnv(self.env.stage, granted).to_environ())
        proc = subprocess.Popen([sys.executable, "-m", "tradpal", "trade", *args], env=env,
                                **popen)  # fmt: skip
        self._stack.callback(_stop_process, proc)
        return proc

    # -- environment --------------------------------------------------------------------------

    def _set_environ(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self._saved_environ.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_environ(self) -> None:
        for key, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environ.clear()

    @property
    def signing_key_path(self) -> Path:
        """``<home>/platform/webhook_signing_key``: the key that signs webhooks which have no
        ``secret`` of their own (the stacks generate one in the notifier secret on AWS)."""
        return self.state_dir / SIGNING_KEY_FILE

    def signing_key(self) -> str:
        """The webhook signing key, created (random, mode 600) on first use and kept."""
        import secrets

        create_file(self.signing_key_path, secrets.token_urlsafe(32), mode=0o600)
        return self.signing_key_path.read_text(encoding="utf-8").strip()

    def _channels(self) -> dict[str, Any] | None:
        if self.webhooks is None:
            return None
        return {"webhooks": self.webhooks, "signing_key": self.signing_key()}

    # -- functions, rules, streams, schedules ------------------------------------------------

    def _ensure_function(self, cap: Capability, handler: Any) -> str:
        from tradpal.local.machines import _role, _zip

        lam = client("lambda")
        name = self.function_name(cap.name)
        try:
            arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        except lam.exceptions.ResourceNotFoundException:
            arn = lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=_role(),
                Handler=cap.handler,
                Code={"ZipFile": _zip()},
                Timeout=cap.timeout_s,
                MemorySize=cap.memory_mb,
                Environment={"Variables": dict(cap.environment)},
            )["FunctionArn"]
        # Only the resources the capability is granted, as its environment on AWS.
        granted = self.env.granted(cap)
        handler = with_env(handler, granted)
        if self.pool is not None and cap.sfn_tasks:  # heavy: in a worker process
            from tradpal.local.workers import tasks_in_workers

            handler = tasks_in_workers(handler, cap.name, self.pool, lambda: _environ_of(granted))
        self.local.register(name, handler)
        return arn

    def _function_arn(self, capability: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name(capability)}"

    def _wire_rules(self) -> None:
        events = client("events")
        prefix = self.env.event_bus
        self.queues["rules_dlq"] = _queue(f"{prefix}-rules-dlq")
        rules_dlq = _queue_arn(self.queues["rules_dlq"])
        for cap in self.catalog:
            if not cap.is_async:
                continue
            dlq = self.queues[f"{cap.name}_async_dlq"] = _queue(f"{prefix}-{cap.name}-async-dlq")
            self.delivery.set_async_config(
                self.function_name(cap.name),
                retries=self.catalog.topology.delivery.async_retries,
                on_failure_queue_url=dlq,
            )
            for i, rule in enumerate(cap.consumes):
                name = f"{prefix}-{cap.name}-{i}"
                events.put_rule(
                    Name=name,
                    EventBusName=self.env.event_bus,
                    EventPattern=json.dumps(rule.pattern()),
                    Description=f"{', '.join(rule.detail_types)} to {cap.name}",
                )
                events.put_targets(
                    Rule=name,
                    EventBusName=self.env.event_bus,
                    Targets=[self._target(cap, rules_dlq)],
                )

    def _target(
        self, cap: Capability, dlq_arn: str, input: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        delivery = self.catalog.topology.delivery
        target: dict[str, Any] = {
            "Id": cap.name,
            "Arn": self._function_arn(cap.name),
            "DeadLetterConfig": {"Arn": dlq_arn},
            "RetryPolicy": {
                "MaximumRetryAttempts": delivery.target_retries,
                "MaximumEventAgeInSeconds": delivery.target_max_age_s,
            },
        }
        if input is not None:
            target["Input"] = json.dumps(dict(input))
        return target

    def _wire_streams(self, stack: ExitStack) -> None:
        from tradpal.local.streams import StreamPoller

        for cap in self.catalog:
            for consumer in cap.streams:
                dlq = self.queues[f"{cap.name}_stream_dlq"] = _queue(
                    f"{self.env.event_bus}-{cap.name}-stream-dlq"
                )
                # The stream itself is not kept across restarts, so neither are positions.
                checkpoint = self.state_dir / f"{cap.name}-{consumer.stream}.checkpoint.json"
                checkpoint.unlink(missing_ok=True)
                poller = StreamPoller(
                    self.function_name(cap.name),
                    self.env.require(f"{consumer.stream}_stream"),
                    # Locally nothing is gained by waiting to fill a batch.
                    replace(consumer, max_batching_window_s=0),
                    on_failure_queue_url=dlq,
                    checkpoint_path=checkpoint,
                )
                poller.start()
                stack.callback(poller.stop)
                self.pollers.append(poller)

    def _wire_schedules(self, stack: ExitStack) -> None:
        from tradpal.local.scheduler import Scheduler

        events = client("events")
        rules_dlq = _queue_arn(self.queues["rules_dlq"])
        entries = []
        self._schedule_rules: dict[str, str] = {}
        for cap in self.catalog:
            for schedule in cap.schedules:
                name = f"{self.env.event_bus}-{schedule.name}"
                # Schedules live on the default bus, as on AWS.
                events.put_rule(
                    Name=name,
                    ScheduleExpression=schedule.expression,
                    Description=f"{schedule.name}: {schedule.expression} to {cap.name}",
                )
                events.put_targets(
                    Rule=name, Targets=[self._target(cap, rules_dlq, schedule.input)]
                )
                self._schedule_rules[schedule.name] = name
                entries.append((schedule, self._scheduled_target(name)))
        self.scheduler = Scheduler(entries)
        if self.run_schedules:
            self.scheduler.start()
            stack.callback(self.scheduler.stop)

    def _scheduled_target(self, rule_name: str):
        def fire(event: Any) -> list[Any]:
            futures = self.delivery.fire_rule(rule_name)
            return [f.result(timeout=900) for f in futures]

        return fire

    # -- operations ---------------------------------------------------------------------------

    def fire(self, schedule: str) -> list[Any]:
        """Fire schedule ``schedule`` (``"ingest_hourly"``) now and wait for its delivery."""
        return self.scheduler.fire(schedule)

    def token(self, scopes: Sequence[str] = ("read", "trade", "admin"), ttl_s: int = 3600) -> str:
        """A development token from the local issuer."""
        return self.issuer.mint(list(scopes), ttl_s=ttl_s)

    def invoke(self, capability: str, event: Any) -> Any:
        """Invoke ``capability``'s function synchronously; its result (function errors raise
        :class:`RuntimeError` with the error payload)."""
        payload, error = self.local.dispatch(
            self.function_name(capability),
            json.loads(json.dumps(event)),
            function_arn=self._function_arn(capability),
        )
        result = json.loads(payload) if payload else None
        if error:
            raise RuntimeError(f"{capability} failed: {result}")
        return result

    def _invoke_http(self, capability: str, event: dict[str, Any]) -> Any:
        return self.invoke(capability, event)

    def idle(self, timeout_s: float = 30.0) -> bool:
        """Wait until event deliveries and stream consumers have nothing in flight."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            left = max(0.01, deadline - time.monotonic())
            if not self.delivery.drain(left):
                return False
            busy = [
                p for p in self.pollers if not p.wait_idle(max(0.01, deadline - time.monotonic()))
            ]
            if not busy and self.delivery.drain(0.01):
                return True
        return False

    def _drain(self) -> None:
        """Let in-flight events and stream records finish before the final snapshot."""
        if not self.idle(self.drain_s):
            log.warning(
                "stopping with work in flight after %.0f s: events in delivery or stream "
                "records not yet consumed are not kept",
                self.drain_s,
            )

    def ingest_sample(self) -> dict[str, Any] | None:
        """Ingest the offline sample as the data capability does (store, datasets table,
        stream, ``market_data_update``), unless datasets are stored already."""
        import pandas as pd

        from tradpal.ingest.datasets_table import DatasetsTable
        from tradpal.ingest.pipeline import ingest
        from tradpal.timeframes import parse_timeframe

        with scoped_env(self.env.granted(self.catalog.get("data"))):
            if not DatasetsTable().is_empty():
                return None
            tf = parse_timeframe(SAMPLE["timeframe"])
            end = pd.Timestamp(tf.floor_ns(time.time_ns()), tz="UTC")
            start = end - SAMPLE["bars"] * pd.Timedelta(seconds=tf.seconds)
            # Seeded and labelled synthetic; the same source spec the CLI's sample uses.
            done = ingest(SAMPLE["symbol"], tf.name, start, end, source="synthetic:seed=42")
        log.info("stored the offline sample %s %s", SAMPLE["symbol"], tf.name)
        return done.model_dump(mode="json")

    def _release_orphaned_claims(self) -> None:
        """Delete the idempotency records still in progress: their invocations died with the
        last session (a kill), and until they expired (up to a function's timeout) a retry
        of the same work, such as delivering an event again, was refused as in progress and
        ended in a dead-letter queue."""
        ddb, table = client("dynamodb"), self.env.require("idempotency_table")
        pages = ddb.get_paginator("scan").paginate(
            TableName=table,
            FilterExpression="#s = :p",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": {"S": "INPROGRESS"}},
            ProjectionExpression="id",
        )
        for item in (i for page in pages for i in page.get("Items", ())):
            ddb.delete_item(TableName=table, Key={"id": item["id"]})

    def _recover_events(self, started: str) -> None:
        """Deliver again what the bus had accepted and not delivered at the last stop; publish
        the ``backtest_complete`` of the last session's runs that finished and whose execution
        stopped before publishing it; then begin this session (:mod:`tradpal.local.outbox`)."""
        self.redelivered = self.delivery.redeliver()
        self.republished: list[str] = []
        since = self.outbox.previous.started
        if since is not None:
            self.republished = self._publish_lost_completions(since, self.outbox.completed())
        self.outbox.start_session(started)

    def _publish_lost_completions(self, since: str, completed: set[tuple[str, str, str]]) -> list:
        from tradpal.runs.completion import CAPABILITY, FINISHED, publish_completion
        from tradpal.runs.store import RunStore

        published = []
        for kind, capability in CAPABILITY.items():
            with scoped_env(self.env.granted(self.catalog.get(capability))):
                for record in RunStore(self.env.runs_table).list(kind, limit=10_000):
                    if (
                        record.status in FINISHED
                        and _instant(record.created_at) >= _instant(since)
                        and (kind, record.run_id, record.status) not in completed
                    ):
                        publish_completion(record)
                        published.append(record.run_id)
        if published:
            log.warning(
                "published backtest_complete of %d run(s) that finished as the last session "
                "stopped, before their state machine published it",
                len(published),
            )
        return published

    def _reconcile_datasets(self) -> None:
        """The datasets table as the store is: an ingest cut off by the last stop may have
        stored bars it had not listed yet (:func:`~tradpal.ingest.pipeline.reconcile_datasets`)."""
        from tradpal.ingest.pipeline import reconcile_datasets

        with scoped_env(self.env.granted(self.catalog.get("data"))):
            reconcile_datasets()

    def _abort_interrupted_runs(self) -> list[str]:
        from tradpal.runs.store import RunStore

        runs = RunStore(self.env.runs_table)
        aborted = []
        for kind in ("backtest", "discovery"):
            for record in runs.list(kind, limit=10_000):
                if record.status == "RUNNING":
                    runs.update(
                        record.run_id,
                        status="ABORTED",
                        error="PlatformRestarted",
                        cause="the local platform stopped while this run was in progress; "
                        "start it again",
                    )
                    aborted.append(record.run_id)
        return aborted

    # -- local-only routes ----------------------------------------------------------------

    def _require_admin(self, event: dict[str, Any]) -> None:
        from tradpal.auth.jwt import authorize, bearer_token, verify_token

        token = bearer_token((event.get("headers") or {}).get("authorization"))
        config = self.issuer.authorizer_config()
        authorize(verify_token(token, config, self.issuer.jwks()), ("admin",), config)

    def _schedules_route(self, event: dict[str, Any]) -> Any:
        from tradpal.auth.jwt import AuthError

        try:
            self._require_admin(event)
        except AuthError as exc:
            return error_result(exc.status, exc.code, str(exc))
        return {
            "schedules": [
                {
                    "name": s.name,
                    "expression": s.expression,
                    # without --schedules nothing fires by itself: no next time
                    "next_fire": s.next_fire.isoformat() if self.run_schedules else None,
                    "fired": s.fired,
                    "last_error": s.last_error,
                }
                for s in self.scheduler.list()
            ]
        }

    def _fire_route(self, event: dict[str, Any]) -> Any:
        from tradpal.auth.jwt import AuthError

        try:
            self._require_admin(event)
        except AuthError as exc:
            return error_result(exc.status, exc.code, str(exc))
        known = ", ".join(sorted(self._schedule_rules))
        try:
            body = json.loads(event.get("body") or "{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error_result(400, "invalid_json", 'send a JSON object: {"schedule": "<name>"}')
        name, extra = body.get("schedule"), sorted(set(body) - {"schedule"})
        if extra:
            field = f"body.{extra[0]}"
            return error_result(
                422,
                "validation_error",
                f"invalid request: {field}",
                [{"field": field, "message": 'not a field: send only {"schedule": "<name>"}'}],
            )
        if not isinstance(name, str) or name not in self._schedule_rules:
            said = "missing" if name is None else f"{name!r} is not a schedule"
            return error_result(
                422,
                "validation_error",
                f"invalid request: body.schedule ({said})",
                [{"field": "body.schedule", "message": f"{said}; use one of: {known}"}],
            )
        results = self.fire(name)
        return {"schedule": name, "fired": True, "results": results}


def _instant(text: str) -> Any:
    """An ISO 8601 time as records write it (``...Z``), comparable; the epoch when empty."""
    from datetime import UTC, datetime

    if not text:
        return datetime.fromtimestamp(0, UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _environ_of(env: Any) -> dict[str, str]:
    """This process's environment with only ``env``'s platform resources (a function's)."""
    from tradpal.platform.environment import PLATFORM_ENV_VARS

    base = {k: v for k, v in os.environ.items() if k not in PLATFORM_ENV_VARS}
    return {**base, **env.to_environ()}


def _metrics_cleared(handler: Any) -> Any:
    """``handler``, clearing Powertools' metrics after each call: with metrics disabled
    (locally there is no CloudWatch to read EMF) Powertools never flushes them, and a
    long-running process would accumulate every metric ever added."""
    from aws_lambda_powertools import Metrics

    def run(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            Metrics().clear_metrics()

    return run
