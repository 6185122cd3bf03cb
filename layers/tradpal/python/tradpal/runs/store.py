"""The runs table: one item per backtest or discovery run, keyed by its run id.

The run id is the state machine execution's name. The API writes ``RUNNING`` when it starts
an execution; the state machine's tasks write ``SUCCEEDED`` with the result's key, and its
Catch writes ``FAILED`` with the error and cause (a direct DynamoDB integration in the ASL,
which is why the attribute names here are plain strings: ``run_id kind status error cause
failed_at``). Items expire ``RETENTION_DAYS`` after creation (the table's TTL attribute).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from tradpal.errors import ConfigError
from tradpal.platform.aws import client
from tradpal.platform.environment import platform_env
from tradpal.serialize import now_iso

RunKind = Literal["backtest", "discovery"]
RunStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "CANCELLED"]
STATUSES: tuple[str, ...] = ("RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "CANCELLED")
"""ABORTED: its execution stopped without finishing (the local platform restarted, a timeout);
CANCELLED: its user cancelled it."""
RETENTION_DAYS = 90


@dataclass(frozen=True)
class RunRecord:
    """A run as stored. ``request`` is the request as accepted (plain JSON)."""

    run_id: str
    kind: str
    status: str
    created_at: str = ""
    updated_at: str = ""
    request: dict[str, Any] = field(default_factory=dict)
    execution_arn: str = ""
    result_key: str = ""
    error: str = ""
    cause: str = ""
    retried_by: str = ""
    """The run that retried this one (an aborted run repeated with its Idempotency-Key)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_STRINGS = (
    "kind", "status", "created_at", "updated_at", "execution_arn", "result_key", "retried_by",
)  # fmt: skip
_TEXT = ("error", "cause")


def _item(record: RunRecord) -> dict[str, Any]:
    item: dict[str, Any] = {"run_id": {"S": record.run_id}}
    for name in (*_STRINGS, *_TEXT):
        value = getattr(record, name)
        if value:
            item[name] = {"S": str(value)}
    item["request"] = {"S": json.dumps(record.request, sort_keys=True)}
    created = record.created_at or now_iso()
    epoch = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    item["expires_at"] = {"N": str(int(epoch) + RETENTION_DAYS * 86_400)}
    return item


def _record(item: dict[str, Any]) -> RunRecord:
    def s(name: str) -> str:
        return item.get(name, {}).get("S", "")

    request = s("request")
    return RunRecord(
        run_id=s("run_id"),
        kind=s("kind"),
        status=s("status"),
        created_at=s("created_at"),
        # the state machine's Catch records failed_at, the tasks updated_at
        updated_at=s("updated_at") or s("failed_at"),
        request=json.loads(request) if request else {},
        execution_arn=s("execution_arn"),
        result_key=s("result_key"),
        error=s("error"),
        cause=s("cause"),
        retried_by=s("retried_by"),
    )


class RunStore:
    """Runs in a DynamoDB table (partition key ``run_id``); by default the function's runs
    table (``TRADPAL_RUNS_TABLE``)."""

    def __init__(self, table: str | None = None) -> None:
        self.table = table or platform_env().require("runs_table")

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def put(self, record: RunRecord) -> None:
        """Write ``record`` whole (creating or replacing the item)."""
        if record.status not in STATUSES:
            raise ConfigError(f"run status {record.status!r} is invalid", hint=f"use {STATUSES}")
        self._ddb.put_item(TableName=self.table, Item=_item(record))

    def get(self, run_id: str) -> RunRecord | None:
        """The run called ``run_id``, or None."""
        got = self._ddb.get_item(
            TableName=self.table, Key={"run_id": {"S": run_id}}, ConsistentRead=True
        )
        item = got.get("Item")
        return None if item is None else _record(item)

    def update(self, run_id: str, *, only_if: dict[str, str] | None = None, **fields: str) -> bool:
        """Set string attributes of an existing run (``status=...``, ``result_key=...``);
        ``updated_at`` is set to now. ``only_if`` (``{"status": "RUNNING"}``, or ``{"field":
        ""}`` for one that is not set yet) makes the write conditional: False when the run
        is not so (nothing written), else True. How a task that finishes after its run was
        cancelled leaves it CANCELLED, and how one retry of a run wins."""
        unknown = sorted(set(fields) - set(_STRINGS) - set(_TEXT))
        if unknown:
            raise ConfigError(f"cannot update run fields {unknown}", hint=f"use {_STRINGS}")
        fields = {**fields, "updated_at": now_iso()}
        names = {f"#{k}": k for k in fields}
        values = {f":{k}": {"S": str(v)} for k, v in fields.items()}
        extra: dict[str, Any] = {}
        if only_if:
            conditions = []
            for k, v in only_if.items():
                names[f"#{k}"] = k
                if v:
                    values[f":if_{k}"] = {"S": v}
                    conditions.append(f"#{k} = :if_{k}")
                else:
                    conditions.append(f"attribute_not_exists(#{k})")
            extra["ConditionExpression"] = " AND ".join(conditions)
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key={"run_id": {"S": run_id}},
                UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **extra,
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def succeed(self, run_id: str, kind: str, result_key: str) -> bool:
        """Mark the run SUCCEEDED with its result, unless it was cancelled meanwhile (False:
        it stays CANCELLED). A run without a record yet (a task run by hand) gets one."""
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key={"run_id": {"S": run_id}},
                UpdateExpression="SET #status = :done, #kind = :kind, #key = :key, #at = :at",
                ConditionExpression="attribute_not_exists(run_id) OR #status <> :cancelled",
                ExpressionAttributeNames={
                    "#status": "status", "#kind": "kind", "#key": "result_key", "#at": "updated_at",
                },
                ExpressionAttributeValues={
                    ":done": {"S": "SUCCEEDED"}, ":kind": {"S": kind}, ":key": {"S": result_key},
                    ":at": {"S": now_iso()}, ":cancelled": {"S": "CANCELLED"},
                },
            )  # fmt: skip
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def list(
        self,
        kind: str,
        limit: int = 50,
        *,
        status: str | None = None,
        after: tuple[str, str] | None = None,
    ) -> list[RunRecord]:
        """The newest ``limit`` runs of ``kind``, newest first; with ``status`` only runs in
        that status (as stored); with ``after`` (a ``(created_at, run_id)`` position, see
        :func:`page_position`) only runs older than it: the next page.

        A filtered scan: fine for the hundreds of runs a user keeps (items expire after
        ``RETENTION_DAYS``); a kind/created_at index is the step up when that changes."""
        records: list[RunRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "#kind = :kind",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {":kind": {"S": kind}},
        }
        deadline = time.monotonic() + 10.0
        while True:
            page = self._ddb.scan(**kwargs)
            records.extend(_record(i) for i in page.get("Items", ()))
            if "LastEvaluatedKey" not in page or time.monotonic() > deadline:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        records.sort(key=page_position, reverse=True)
        if status is not None:
            records = [r for r in records if r.status == status]
        if after is not None:
            records = [r for r in records if page_position(r) < tuple(after)]
        return records[:limit]


def page_position(record: RunRecord) -> tuple[str, str]:
    """Where ``record`` sits in a newest-first listing: ``(created_at, run_id)``."""
    return (record.created_at, record.run_id)
