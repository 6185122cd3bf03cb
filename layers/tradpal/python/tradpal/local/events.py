"""EventBridge delivery to the targets moto cannot deliver to: Lambda, Kinesis, Step Functions.

moto matches rules for real (``put_events``) and delivers to SQS, log groups, archives and
other buses, but raises ``NotImplementedError`` for Lambda, Kinesis and Step Functions
targets. The seam is ``moto.events.models.Rule.send_to_targets(event)``, called for every
rule of the bus with moto's internal event message. :meth:`EventDelivery.install` wraps it:
targets of those three kinds are delivered here, on a worker thread pool (never in the
``put_events`` caller's thread, as EventBridge is asynchronous), everything else goes on to
moto as before. The rules and targets are the real ones created with ``put_rule`` /
``put_targets``, so what drives delivery is what the CDK app configures on AWS.

Delivery semantics (AWS's, scaled down):

* What a target receives: the event envelope as EventBridge sends it (``version``, ``id``,
  ``detail-type``, ``source``, ``account``, ``time`` ISO-8601 UTC, ``region``,
  ``resources``, ``detail``), or the target's ``Input`` (constant JSON), ``InputPath``
  (JSONPath into the envelope) or ``InputTransformer``.
* Lambda: an asynchronous invocation. A *function error* is retried by "Lambda" up to the
  function's ``MaximumRetryAttempts`` (its event invoke config in moto, set by
  :meth:`EventDelivery.set_async_config` or ``put_function_event_invoke_config``; default 2
  as on AWS) with exponential backoff, then an invocation record (AWS's on-failure
  destination format, ``condition: RetriesExhausted``, with the error payload) goes to the
  function's on-failure SQS destination.
* A *delivery* failure (the Lambda service refuses the call, a stream or state machine does
  not exist) is retried by "EventBridge" up to the target's ``RetryPolicy``
  ``MaximumRetryAttempts`` (default :data:`DEFAULT_TARGET_RETRIES`, what the CDK app sets),
  then the event goes to the target's ``DeadLetterConfig`` queue with AWS's message
  attributes (``ERROR_CODE``, ``ERROR_MESSAGE``, ``RULE_ARN``, ``TARGET_ARN``).
* Never dropped: a function error with no on-failure destination falls back to the target's
  dead-letter queue; with neither, the failure is kept in :attr:`EventDelivery.undelivered`
  and logged.
* Kinesis: ``put_record`` with the event as data, partition key from
  ``KinesisParameters.PartitionKeyPath`` (JSONPath into the envelope) or the event id.
* Step Functions: ``start_execution`` with the event as input and a unique name.
* Kept across a crash: with an :class:`~tradpal.local.outbox.Outbox`, each delivery of an
  event put on the bus is on disk before ``PutEvents`` answers, and is marked done when it
  ends; :meth:`EventDelivery.redeliver` delivers again, after a restart, those that were not
  (at least once, as on AWS). Scheduled events (:meth:`EventDelivery.fire_rule`) are not
  kept: the schedule fires again.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tradpal.errors import ConfigError
from tradpal.local.lambdas import invoke
from tradpal.local.outbox import Outbox
from tradpal.platform.aws import Arn, client, queue_url
from tradpal.platform.topology import TOPOLOGY

log = logging.getLogger(__name__)

DEFAULT_ASYNC_RETRIES = TOPOLOGY.delivery.async_retries
"""Lambda's retries of an asynchronous invocation that failed with a function error (the
topology's, which the CDK app sets too)."""
DEFAULT_TARGET_RETRIES = TOPOLOGY.delivery.target_retries
"""EventBridge's retries of a failed delivery (the topology's, which the CDK app sets too)."""
KINDS = ("lambda", "kinesis", "states")
"""The target services delivered here; moto delivers the others."""


def target_kind(arn: str) -> str | None:
    """``"lambda"``, ``"kinesis"`` or ``"states"`` for targets delivered here, else None."""
    parts = arn.split(":")
    if len(parts) < 6:
        return None
    service = parts[2]
    if service == "lambda" and parts[5].startswith("function"):
        return "lambda"
    if service == "kinesis" and parts[5].startswith("stream/"):
        return "kinesis"
    if service == "states" and parts[5].startswith("stateMachine"):
        return "states"
    return None


def iso_time(value: Any) -> str:
    """EventBridge's event time, ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds), from moto's
    epoch seconds, a datetime or an ISO string."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(float(value), tz=UTC)
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromtimestamp(float(value), tz=UTC)
        except ValueError:
            return value
    else:
        moment = datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to a target, from moto's event message."""
    return {
        "version": str(event.get("version", "0")),
        "id": event["id"],
        "detail-type": event["detail-type"],
        "source": event["source"],
        "account": event["account"],
        "time": iso_time(event.get("time")),
        "region": event["region"],
        "resources": list(event.get("resources") or []),
        "detail": event.get("detail", {}),
    }


def _jsonpath(path: str, document: Any) -> Any:
    from jsonpath_ng.ext import parse

    try:
        matches = parse(path).find(document)
    except Exception as exc:  # jsonpath_ng raises several types for bad syntax
        raise ConfigError(
            f"target path {path!r} is not valid JSONPath: {exc}",
            hint='use a path such as "$.detail" or "$.detail.symbol"',
        ) from None
    return matches[0].value if matches else None


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What ``target`` receives for the envelope ``event``: its ``Input``, ``InputPath``,
    ``InputTransformer``, or the whole envelope."""
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        return _jsonpath(target["InputPath"], event)
    transformer = target.get("InputTransformer")
    if transformer:
        from moto.events.utils import EventTemplateParser

        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event={**event, "ingestion-time": event["time"]},
        )
    return event


def scheduled_event(
    rule_arn: str, when: datetime | None = None, *, event_id: str | None = None
) -> dict[str, Any]:
    """The "Scheduled Event" envelope EventBridge sends when a scheduled rule fires."""
    arn = Arn.parse(rule_arn)
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": arn.account,
        "time": iso_time(when or datetime.now(UTC)),
        "region": arn.region,
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass(frozen=True)
class AsyncConfig:
    """A function's asynchronous invocation settings: retries after a function error (0..2)
    and the SQS queue (URL) for invocation records of events that still failed."""

    retries: int = DEFAULT_ASYNC_RETRIES
    on_failure_queue_url: str | None = None


@dataclass(frozen=True)
class Undelivered:
    """An event that failed and had no queue to go to: kept, never dropped."""

    rule_arn: str
    target_arn: str
    event: Any
    error: str


@dataclass
class DeliveryStats:
    """Counters of the deliveries so far (a snapshot copy from :attr:`EventDelivery.stats`)."""

    submitted: int = 0
    delivered: int = 0
    retries: int = 0
    dead_lettered: int = 0
    undelivered: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class DeliveryFailed(Exception):
    """A delivery attempt failed; ``code`` is the AWS error code, ``function`` True when the
    target ran and failed (a Lambda function error) rather than refused the event."""

    def __init__(self, code: str, message: str, *, function: bool = False, payload: Any = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.function, self.payload = code, message, function, payload


class EventDelivery:
    """Delivers matched events to Lambda, Kinesis and Step Functions targets in moto.

    ``max_workers`` threads deliver; ``sleep(seconds)`` waits between retries (inject a
    recorder in tests); retry ``n`` (1-based) waits ``backoff_s * 2 ** (n - 1)`` seconds.
    AWS waits about a minute; the local default is short so failures surface quickly.
    ``outbox``: where the deliveries of events put on the bus are kept until done (none:
    in memory only).

    Use ``with delivery.install(): ...`` in the process running the moto server (with
    :meth:`LocalLambda.install <tradpal.local.lambdas.LocalLambda.install>` active
    for Lambda targets: invocations go through moto's Lambda API)."""

    def __init__(
        self,
        *,
        max_workers: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        backoff_s: float = 0.5,
        outbox: Outbox | None = None,
    ) -> None:
        if max_workers < 1:
            raise ConfigError(f"max_workers={max_workers} is invalid", hint="use 1 or more")
        self._max_workers = max_workers
        self._sleep = sleep
        self._backoff_s = backoff_s
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending: set[Future[Any]] = set()
        self._pool: ThreadPoolExecutor | None = None
        self._stats = DeliveryStats()
        self.undelivered: list[Undelivered] = []
        self.outbox = outbox

    # -- configuration ----------------------------------------------------------------------

    def set_async_config(
        self,
        function_name: str,
        *,
        retries: int = DEFAULT_ASYNC_RETRIES,
        on_failure_queue_url: str | None = None,
        region: str | None = None,
    ) -> None:
        """Set ``function_name``'s asynchronous invocation config in moto, as the CDK app does
        (``retry_attempts`` and an on-failure SQS destination)."""
        if not 0 <= retries <= 2:
            raise ConfigError(f"retries={retries} is invalid", hint="Lambda allows 0, 1 or 2")
        lam = client("lambda", region, retries=False)
        config: dict[str, Any] = {"MaximumRetryAttempts": retries}
        if on_failure_queue_url:
            arn = client("sqs", region, retries=False).get_queue_attributes(
                QueueUrl=on_failure_queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            config["DestinationConfig"] = {"OnFailure": {"Destination": arn}}
        # moto appends configs and answers the first: replace, do not stack.
        with suppress(lam.exceptions.ResourceNotFoundException):
            lam.delete_function_event_invoke_config(FunctionName=function_name)
        lam.put_function_event_invoke_config(FunctionName=function_name, **config)

    def async_config(self, function: str, region: str | None = None) -> AsyncConfig:
        """``function``'s asynchronous invocation config as moto holds it (defaults if none)."""
        lam = client("lambda", region, retries=False)
        try:
            found = lam.get_function_event_invoke_config(FunctionName=function)
        except lam.exceptions.ResourceNotFoundException:
            return AsyncConfig()
        destination = found.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        return AsyncConfig(
            retries=int(found.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES)),
            on_failure_queue_url=queue_url(destination) if destination else None,
        )

    # -- lifecycle --------------------------------------------------------------------------

    @contextmanager
    def install(self) -> Iterator[EventDelivery]:
        """Within the block, moto's rules hand Lambda, Kinesis and Step Functions targets to
        this delivery (process-wide); on exit the original is restored and in-flight
        deliveries are drained (bounded) and the workers stopped."""
        from moto.events.models import Rule

        original = Rule.send_to_targets
        delivery = self

        def send_to_targets(rule: Any, event: Any, transform_input: bool = True) -> None:
            ours = [t for t in rule.targets if target_kind(t["Arn"])]
            if ours and rule.event_pattern.matches_event(event) and _event_rule(rule):
                for target in ours:
                    sent, outbox = envelope(event), delivery.outbox
                    # on disk before PutEvents answers: the caller is told it will happen
                    kept = outbox.accept(rule.arn, target, sent) if outbox else None
                    delivery.submit(rule.arn, target, sent, kept=kept)
            others = [t for t in rule.targets if not target_kind(t["Arn"])]
            if others:
                # A shallow copy: the rule object is shared with concurrent put_events calls.
                view = copy.copy(rule)
                view.targets = others
                original(view, event, transform_input)

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="events")
        Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
        try:
            yield self
        finally:
            Rule.send_to_targets = original  # type: ignore[method-assign]
            self.close()

    def close(self, timeout_s: float = 10.0) -> None:
        """Drain in-flight deliveries (up to ``timeout_s``) and stop the workers."""
        self.drain(timeout_s)
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until no delivery is in flight (retries included); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    @property
    def stats(self) -> DeliveryStats:
        """A copy of the counters."""
        with self._lock:
            return copy.deepcopy(self._stats)

    # -- delivery ---------------------------------------------------------------------------

    def submit(
        self,
        rule_arn: str,
        target: dict[str, Any],
        event: dict[str, Any],
        *,
        kept: int | None = None,
    ) -> Future[Any]:
        """Deliver ``event`` (an envelope) to ``target`` (a ``put_targets`` target dict) on a
        worker; the future's result is the delivery's outcome (see :meth:`deliver`). ``kept``:
        its number in the outbox, marked done there when the delivery ends."""
        kind = target_kind(target["Arn"])
        if kind is None:
            raise ConfigError(
                f"target {target['Arn']} is not a Lambda, Kinesis or Step Functions target",
                hint="moto delivers SQS, log group, archive and bus targets itself",
            )
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="events")
            future = self._pool.submit(self.deliver, rule_arn, target, event)
            self._pending.add(future)
            self._stats.submitted += 1
            self._stats.by_kind[kind] = self._stats.by_kind.get(kind, 0) + 1
        future.add_done_callback(functools.partial(self._done, kept))
        return future

    def redeliver(self) -> int:
        """Deliver again what the outbox holds as accepted and not done (a restart after a
        crash); how many deliveries."""
        if self.outbox is None:
            return 0
        pending = self.outbox.pending()
        for entry in pending:
            self.submit(entry.rule, entry.target, entry.event, kept=entry.n)
        if pending:
            log.warning("delivering again %d event(s) in delivery at the last stop", len(pending))
        return len(pending)

    def _done(self, kept: int | None, future: Future[Any]) -> None:
        ended = not future.cancelled() and future.exception() is None
        if ended and kept is not None and self.outbox is not None:
            self.outbox.done(kept)  # before the drain sees it finished
        with self._idle:
            self._pending.discard(future)
            if not self._pending:
                self._idle.notify_all()
        if not future.cancelled() and future.exception() is not None:
            log.error("event delivery crashed", exc_info=future.exception())

    def fire_rule(
        self,
        rule_name: str,
        *,
        event_bus_name: str = "default",
        when: datetime | None = None,
        region: str | None = None,
    ) -> list[Future[Any]]:
        """Fire a scheduled rule as EventBridge does at its time: a "Scheduled Event" to each
        of its Lambda, Kinesis and Step Functions targets (read from moto)."""
        events = client("events", region, retries=False)
        rule = events.describe_rule(Name=rule_name, EventBusName=event_bus_name)
        targets = events.list_targets_by_rule(Rule=rule_name, EventBusName=event_bus_name)
        event = scheduled_event(rule["Arn"], when)
        return [
            self.submit(rule["Arn"], t, event)
            for t in targets.get("Targets", [])
            if target_kind(t["Arn"])
        ]

    def deliver(self, rule_arn: str, target: dict[str, Any], event: dict[str, Any]) -> str:
        """Deliver in this thread, with retries: ``"delivered"``, ``"dead_lettered"`` or
        ``"undelivered"``."""
        payload = target_input(target, event)
        kind = target_kind(target["Arn"])
        policy = target.get("RetryPolicy") or {}
        delivery_retries = int(policy.get("MaximumRetryAttempts", DEFAULT_TARGET_RETRIES))
        send = {"lambda": self._lambda, "kinesis": self._kinesis, "states": self._states}[kind]
        failure: DeliveryFailed | None = None
        attempt = 0
        while True:
            try:
                send(target, payload, event)
                self._count("delivered")
                return "delivered"
            except DeliveryFailed as exc:
                failure = exc
            if failure.function or attempt >= delivery_retries:
                break
            attempt += 1
            self._retry_wait(attempt)
        return self._dead_letter(rule_arn, target, payload, event, failure)

    def _retry_wait(self, attempt: int) -> None:
        self._count("retries")
        self._sleep(self._backoff_s * 2 ** (attempt - 1))

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self._stats, name, getattr(self._stats, name) + 1)

    def _lambda(self, target: dict[str, Any], payload: Any, event: dict[str, Any]) -> None:
        function = target["Arn"]
        config = self.async_config(function, Arn.parse(function).region)
        count = 0
        while True:
            count += 1
            outcome = invoke(function, payload)
            if outcome.service_error:
                code, _, message = outcome.service_error.partition(": ")
                raise DeliveryFailed(code, message)
            if outcome.ok:
                return
            if count > config.retries:
                break
            self._retry_wait(count)
        record = _invocation_record(
            function, payload, outcome.payload, outcome.function_error, count
        )
        if config.on_failure_queue_url:
            client("sqs", Arn.parse(function).region, retries=False).send_message(
                QueueUrl=config.on_failure_queue_url, MessageBody=json.dumps(record)
            )
            self._count("dead_lettered")
            # The event is safe in the destination: for EventBridge the delivery succeeded.
            log.warning("%s failed %d times; record sent to its on-failure queue", function, count)
            return
        raise DeliveryFailed("FunctionError", outcome.error_text, function=True, payload=record)

    def _kinesis(self, target: dict[str, Any], payload: Any, event: dict[str, Any]) -> None:
        arn = Arn.parse(target["Arn"])
        key_path = (target.get("KinesisParameters") or {}).get("PartitionKeyPath")
        key = _jsonpath(key_path, event) if key_path else event["id"]
        self._call(
            lambda: client("kinesis", arn.region, retries=False).put_record(
                StreamName=arn.name,
                Data=json.dumps(payload).encode(),
                PartitionKey=str(key if key is not None else event["id"]),
            )
        )

    def _states(self, target: dict[str, Any], payload: Any, event: dict[str, Any]) -> None:
        arn = Arn.parse(target["Arn"])
        # Execution names are unique per state machine; EventBridge generates one per event.
        name = f"{event['id'][:36]}-{uuid.uuid4().hex[:12]}"
        self._call(
            lambda: client("stepfunctions", arn.region, retries=False).start_execution(
                stateMachineArn=target["Arn"], name=name, input=json.dumps(payload)
            )
        )

    @staticmethod
    def _call(fn: Callable[[], Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn()
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise DeliveryFailed(str(err.get("Code")), str(err.get("Message"))) from None
        except BotoCoreError as exc:
            raise DeliveryFailed(type(exc).__name__, str(exc)) from None

    def _dead_letter(
        self,
        rule_arn: str,
        target: dict[str, Any],
        payload: Any,
        event: dict[str, Any],
        failure: DeliveryFailed,
    ) -> str:
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        body = failure.payload if failure.function else payload
        if dlq:
            try:
                sqs = client("sqs", Arn.parse(dlq).region, retries=False)
                sqs.send_message(
                    QueueUrl=queue_url(dlq),
                    MessageBody=json.dumps(body),
                    MessageAttributes={
                        name: {"DataType": "String", "StringValue": value or "-"}
                        for name, value in (
                            ("ERROR_CODE", failure.code),
                            ("ERROR_MESSAGE", failure.message[:1000]),
                            ("RULE_ARN", rule_arn),
                            ("TARGET_ARN", target["Arn"]),
                        )
                    },
                )
                self._count("dead_lettered")
                log.warning("event %s to %s dead-lettered: %s", event["id"], target["Arn"], failure)
                return "dead_lettered"
            except Exception as exc:  # the DLQ itself failed: keep the event below
                failure = DeliveryFailed(failure.code, f"{failure.message}; DLQ failed: {exc}")
        with self._lock:
            self.undelivered.append(Undelivered(rule_arn, target["Arn"], body, str(failure)))
            self._stats.undelivered += 1
        log.error("event %s to %s undelivered and kept: %s", event["id"], target["Arn"], failure)
        return "undelivered"


def _event_rule(rule: Any) -> bool:
    """Enabled rules with an event pattern match events; scheduled rules only fire on time."""
    return rule.state == "ENABLED" and not (
        rule.scheduled_expression and not rule.event_pattern.get_pattern()
    )


def _invocation_record(
    function_arn: str, request: Any, response: Any, function_error: str | None, count: int
) -> dict[str, Any]:
    """Lambda's on-failure destination record for an asynchronous invocation."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"{function_arn}:$LATEST"
            if function_arn.count(":") == 6
            else function_arn,
            "condition": "RetriesExhausted",
            "approximateInvokeCount": count,
        },
        "requestPayload": request,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": function_error,
        },
        "responsePayload": response,
    }
