"""Kinesis event source mappings, run locally: poll a stream's shards and invoke a function.

moto stores event source mappings but never calls the function without Docker.
:class:`StreamPoller` does what Lambda's poller does for one mapping (the CDK app's
``EventSourceMapping`` with ``bisect_batch_on_error``, ``report_batch_item_failures``,
``retry_attempts`` and an SQS on-failure destination), against the moto server:

* every shard is read in order from the consumer's starting position (``LATEST`` or
  ``TRIM_HORIZON``), or after the checkpointed sequence number when a checkpoint exists;
* records are batched up to ``batch_size``, waiting at most ``max_batching_window_s`` for a
  batch to fill, and the function receives Lambda's exact Kinesis event;
* a partial batch response (``{"batchItemFailures": [{"itemIdentifier": seq}]}``)
  checkpoints before the first failed record and retries from it; an identifier that is
  not in the batch fails the whole batch, as on AWS;
* a function error bisects the batch (halves retried separately, in order; splitting does
  not count as a retry) down to single records; a record (or batch) still failing after
  ``max_retry_attempts`` retries is reported to the on-failure SQS queue with Lambda's
  ``KinesisBatchInfo`` (shard, sequence range) and the error, then the shard moves on:
  nothing is skipped silently (without a queue the failure is kept in
  :attr:`StreamPoller.failures` and logged);
* the checkpoint (JSON, written atomically) is persisted after every batch, so a restart
  resumes after the last record handled and re-delivers nothing.

Shards are polled one after another by one thread (``parallelization_factor`` is not
emulated); ordering within a shard is what Lambda guarantees and what this keeps.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradpal.errors import ConfigError
from tradpal.files import replace_json
from tradpal.local.lambdas import invoke
from tradpal.platform.aws import client, region_name
from tradpal.platform.catalog import StreamConsumer

log = logging.getLogger(__name__)


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    checkpoint: str | None = None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    buffered_since: float | None = None
    closed: bool = False


@dataclass
class StreamStats:
    """Counters: invocations, records handled (delivered or dead-lettered), retries,
    bisections, records dead-lettered and records kept for lack of a queue."""

    invocations: int = 0
    records: int = 0
    retries: int = 0
    bisections: int = 0
    dead_lettered: int = 0
    kept: int = 0


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class StreamPoller:
    """Polls ``stream_name`` and invokes Lambda ``function_name`` (through moto's Lambda API,
    where :class:`~tradpal.local.lambdas.LocalLambda` runs the handler) as the event
    source mapping configured by ``consumer`` does.

    ``on_failure_queue_url``: the SQS queue for batches whose retries ran out.
    ``checkpoint_path``: a JSON file holding the last sequence number handled per shard.
    ``poll_interval_s``: the background thread's wait when the stream has nothing new.
    ``sleep``/``retry_backoff_s``: the wait before retry ``n`` is
    ``retry_backoff_s * 2 ** (n - 1)`` seconds (capped at 10 s)."""

    def __init__(
        self,
        function_name: str,
        stream_name: str,
        consumer: StreamConsumer,
        *,
        on_failure_queue_url: str | None = None,
        checkpoint_path: str | Path | None = None,
        poll_interval_s: float = 0.2,
        retry_backoff_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        bisect_on_error: bool = True,
        region: str | None = None,
    ) -> None:
        if poll_interval_s <= 0:
            raise ConfigError(f"poll_interval_s={poll_interval_s}", hint="use a positive value")
        self.function_name = function_name
        self.stream_name = stream_name
        self.consumer = consumer
        self.on_failure_queue_url = on_failure_queue_url
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.poll_interval_s = poll_interval_s
        self.retry_backoff_s = retry_backoff_s
        self.bisect_on_error = bisect_on_error
        self.region = region_name(region)
        self._sleep = sleep
        self._shards: dict[str, _Shard] = {}
        self._poll_lock = threading.Lock()  # one poll at a time: the thread or poll_once
        self._cond = threading.Condition()
        self._cycle = 0
        self._idle_cycle = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream_arn: str | None = None
        self._function_arn: str | None = None
        self._role_arn: str | None = None
        self.stats = StreamStats()
        self.failures: list[dict[str, Any]] = []
        self._load_checkpoint()

    # -- checkpoint ---------------------------------------------------------------------------

    def _load_checkpoint(self) -> None:
        if not (self.checkpoint_path and self.checkpoint_path.exists()):
            return
        try:
            saved = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
            shards = saved["shards"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"checkpoint {self.checkpoint_path} is unreadable: {exc}",
                hint="delete it to start from the consumer's starting position",
            ) from None
        if saved.get("stream") != self.stream_name or saved.get("function") != self.function_name:
            raise ConfigError(
                f"checkpoint {self.checkpoint_path} belongs to {saved.get('function')} on "
                f"{saved.get('stream')}, not {self.function_name} on {self.stream_name}",
                hint="give each mapping its own checkpoint file",
            )
        for shard_id, seq in shards.items():
            self._shards[shard_id] = _Shard(shard_id, checkpoint=seq)

    def _save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        shards = {s.shard_id: s.checkpoint for s in self._shards.values() if s.checkpoint}
        replace_json(
            self.checkpoint_path,
            {"version": 1, "stream": self.stream_name, "function": self.function_name}
            | {"shards": shards},
        )

    def checkpoints(self) -> dict[str, str]:
        """The last sequence number handled, by shard id."""
        return {s.shard_id: s.checkpoint for s in self._shards.values() if s.checkpoint}

    # -- reading ------------------------------------------------------------------------------

    def _resolve(self) -> None:
        if self._stream_arn is None:
            summary = client("kinesis", self.region, retries=False).describe_stream_summary(
                StreamName=self.stream_name
            )
            self._stream_arn = summary["StreamDescriptionSummary"]["StreamARN"]
        if self._function_arn is None:
            config = client("lambda", self.region, retries=False).get_function(
                FunctionName=self.function_name
            )
            self._function_arn = config["Configuration"]["FunctionArn"]
            self._role_arn = config["Configuration"].get("Role", "")

    def _iterator(self, shard: _Shard) -> str:
        kinesis = client("kinesis", self.region, retries=False)
        args: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard.shard_id}
        if shard.checkpoint:
            args |= {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "StartingSequenceNumber": shard.checkpoint,
            }
        else:
            args["ShardIteratorType"] = self.consumer.starting_position
        return kinesis.get_shard_iterator(**args)["ShardIterator"]

    def _fetch(self, shard: _Shard) -> int:
        """Read what the shard has into its buffer; the number of records read."""
        kinesis = client("kinesis", self.region, retries=False)
        got = 0
        if shard.closed:
            return 0
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        for _ in range(100):  # bounded: a busy stream still yields to processing
            try:
                answer = kinesis.get_records(ShardIterator=shard.iterator, Limit=10_000)
            except kinesis.exceptions.ExpiredIteratorException:
                shard.iterator = self._iterator(shard)
                continue
            records = answer.get("Records", [])
            if records and shard.buffered_since is None:
                shard.buffered_since = time.monotonic()
            shard.buffer.extend(records)
            got += len(records)
            shard.iterator = answer.get("NextShardIterator")
            if shard.iterator is None:
                shard.closed = True
                break
            if not records or answer.get("MillisBehindLatest", 0) == 0:
                break
        return got

    def _discover(self) -> list[_Shard]:
        kinesis = client("kinesis", self.region, retries=False)
        shards: list[str] = []
        args: dict[str, Any] = {"StreamName": self.stream_name}
        while True:
            page = kinesis.list_shards(**args)
            shards += [s["ShardId"] for s in page.get("Shards", [])]
            token = page.get("NextToken")
            if not token:
                break
            args = {"NextToken": token}
        for shard_id in shards:
            self._shards.setdefault(shard_id, _Shard(shard_id))
        return [self._shards[s] for s in sorted(shards)]

    # -- polling ------------------------------------------------------------------------------

    def poll_once(self, *, flush: bool = True) -> int:
        """Read every shard and process its records; the number of records handled.

        ``flush=True`` (the default, deterministic for tests) processes everything read,
        in batches of ``batch_size``; ``flush=False`` (the background thread) holds a partial
        batch until ``max_batching_window_s`` has passed since its first record arrived."""
        with self._poll_lock:
            self._resolve()
            handled = 0
            window = self.consumer.max_batching_window_s
            for shard in self._discover():
                self._fetch(shard)
                size = self.consumer.batch_size
                while shard.buffer and (
                    flush
                    or len(shard.buffer) >= size
                    or time.monotonic() - (shard.buffered_since or 0.0) >= window
                ):
                    batch = shard.buffer[:size]
                    self._process(shard, batch)
                    del shard.buffer[: len(batch)]
                    shard.buffered_since = time.monotonic() if shard.buffer else None
                    handled += len(batch)
            return handled

    def _pending(self) -> int:
        return sum(len(s.buffer) for s in self._shards.values())

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                self._cycle += 1
                cycle = self._cycle
            try:
                handled = self.poll_once(flush=False)
                idle = handled == 0 and self._pending() == 0
            except Exception:
                log.exception("polling %s for %s failed", self.stream_name, self.function_name)
                handled, idle = 0, False
            if idle:
                with self._cond:
                    self._idle_cycle = cycle
                    self._cond.notify_all()
            if handled == 0:
                self._stop.wait(self.poll_interval_s)

    def start(self) -> StreamPoller:
        """Poll on a daemon thread (LATEST positions are taken now)."""
        if self._thread is None:
            self._stop.clear()
            with self._poll_lock:
                self._resolve()
                for shard in self._discover():
                    if shard.iterator is None:
                        shard.iterator = self._iterator(shard)
            self._thread = threading.Thread(
                target=self._loop, name=f"stream-{self.function_name}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop polling; a batch in progress finishes first (records read but not yet
        processed are read again after a restart: they are past the checkpoint)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until a poll that began after this call found nothing new and nothing
        pending; False on timeout. Without the thread, polls in this thread."""
        deadline = time.monotonic() + timeout_s
        if self._thread is None:
            while time.monotonic() < deadline:
                if self.poll_once() == 0:
                    return True
            return False
        with self._cond:
            after = self._cycle
            while self._idle_cycle <= after:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # -- processing ---------------------------------------------------------------------------

    def event(self, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda sends for ``records`` (boto3 get_records records) of a shard."""
        return {
            "Records": [
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": r["PartitionKey"],
                        "sequenceNumber": r["SequenceNumber"],
                        "data": base64.b64encode(r["Data"]).decode("ascii"),
                        "approximateArrivalTimestamp": _epoch(r["ApproximateArrivalTimestamp"]),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": f"{shard_id}:{r['SequenceNumber']}",
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": self._role_arn,
                    "awsRegion": self.region,
                    "eventSourceARN": self._stream_arn,
                }
                for r in records
            ]
        }

    @staticmethod
    def _first_failure(payload: Any, records: list[dict[str, Any]]) -> int | None:
        """Index of the first failed record of a partial batch response; None when all
        succeeded; 0 (all failed) for an identifier that is not in the batch."""
        if not isinstance(payload, dict) or not payload.get("batchItemFailures"):
            return None
        index = {r["SequenceNumber"]: i for i, r in enumerate(records)}
        positions = []
        for failure in payload["batchItemFailures"]:
            ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if ident not in index:
                return 0
            positions.append(index[ident])
        return min(positions)

    def _process(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        attempts = 0
        while records:
            outcome = invoke(self.function_name, self.event(shard.shard_id, records))
            self.stats.invocations += 1
            if outcome.ok:
                failed = self._first_failure(outcome.payload, records)
                if failed is None:
                    self._handled(shard, records)
                    return
                if failed > 0:
                    self._handled(shard, records[:failed])
                    records = records[failed:]
                error = "batchItemFailures: " + json.dumps(outcome.payload["batchItemFailures"])
            else:
                error = outcome.error_text
                if outcome.function_error and self.bisect_on_error and len(records) > 1:
                    half = len(records) // 2
                    self.stats.bisections += 1
                    self._process(shard, records[:half])
                    self._process(shard, records[half:])
                    return
            attempts += 1
            if attempts > self.consumer.max_retry_attempts:
                self._dead_letter(shard, records, outcome, error, attempts)
                self._handled(shard, records)
                return
            self.stats.retries += 1
            self._sleep(min(10.0, self.retry_backoff_s * 2 ** (attempts - 1)))

    def _handled(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        shard.checkpoint = records[-1]["SequenceNumber"]
        self.stats.records += len(records)
        self._save_checkpoint()

    def _dead_letter(
        self,
        shard: _Shard,
        records: list[dict[str, Any]],
        outcome: Any,
        error: str,
        attempts: int,
    ) -> None:
        """Lambda's on-failure record for a Kinesis batch (metadata, not the data), with the
        error text as ``errorMessage`` (a local addition: AWS's record does not carry it)."""
        record = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self._function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": outcome.function_error,
            },
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "KinesisBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": records[0]["SequenceNumber"],
                "endSequenceNumber": records[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(
                    _epoch(records[0]["ApproximateArrivalTimestamp"])
                ),
                "approximateArrivalOfLastRecord": _iso(
                    _epoch(records[-1]["ApproximateArrivalTimestamp"])
                ),
                "batchSize": len(records),
                "streamArn": self._stream_arn,
            },
            "errorMessage": error,
        }
        if self.on_failure_queue_url:
            client("sqs", self.region, retries=False).send_message(
                QueueUrl=self.on_failure_queue_url, MessageBody=json.dumps(record)
            )
            self.stats.dead_lettered += len(records)
            log.warning(
                "%s: records %s..%s of %s failed after %d attempts; sent to the on-failure queue",
                self.function_name,
                records[0]["SequenceNumber"],
                records[-1]["SequenceNumber"],
                shard.shard_id,
                attempts,
            )
            return
        self.failures.append(record)
        self.stats.kept += len(records)
        log.error("%s: failed records kept (no on-failure queue): %s", self.function_name, record)
