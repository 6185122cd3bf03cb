"""The deliveries the local bus accepted, kept on disk until they are done.

On AWS an event that ``PutEvents`` accepted is delivered to every target of its rules, and
retried for 24 hours, whatever happens to the function that published it. Locally the bus
and its deliveries live in the platform's process (:mod:`tradpal.local.events`), and a
``kill -9`` lost what was in delivery: a run the API had answered SUCCEEDED never reached
the webhooks. The outbox closes that gap:

* every delivery of an event to a Lambda, Kinesis or Step Functions target is appended here,
  fsynced, *before* ``PutEvents`` answers the publisher (an ``accept``), and marked ``done``
  when its delivery ends (delivered, dead-lettered or kept as undelivered);
* the next start delivers again every accepted delivery that is not done.

Delivery is so at least once, as on AWS: one cut off by the kill may have reached its target
already. Targets are idempotent where it matters (the notifier sends an event once per
channel; a webhook receiver drops a repeat by its ``X-TradPal-Delivery`` id).

The outbox also keeps, for the current *session* (since the platform started), which runs'
``backtest_complete`` the bus accepted (``kind, run_id, status``). A run's execution is not
kept across a restart, so a kill after the run was recorded SUCCEEDED (or FAILED) but before
its state machine published the event lost the event; the next start finds such runs among
those created in the previous session and publishes their event then
(:func:`tradpal.runs.completion.publish_completion`).

Layout: ``outbox.jsonl`` in the platform's state folder, one JSON record per line: first
``{"op": "session", "started", "completed": [[kind, run_id, status], ...]}``, then
``{"op": "accept", "n", "rule", "target", "event"}`` and ``{"op": "done", "n"}``. A torn
last line (a crash during the append) is ignored: its ``PutEvents`` was never answered.
The file is rewritten (the session line, then the accepts still pending) when a session
starts and whenever it has grown past ``max_bytes``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradpal.files import replace_file

log = logging.getLogger(__name__)

OUTBOX = "outbox.jsonl"
MAX_BYTES = 8 * 1024 * 1024
"""The size past which the outbox is compacted (its pending accepts only)."""

Completion = tuple[str, str, str]
"""``(kind, run_id, status)`` of a ``backtest_complete``."""


@dataclass(frozen=True)
class Accepted:
    """One accepted delivery: ``event`` (the envelope) to ``target`` of rule ``rule``."""

    n: int
    rule: str
    target: dict[str, Any]
    event: dict[str, Any]


@dataclass
class Session:
    """What the outbox holds of one session: when it started (ISO 8601 UTC, or None for an
    outbox written before sessions were kept), the ``backtest_complete`` events it accepted,
    and its deliveries not done."""

    started: str | None = None
    completed: set[Completion] = field(default_factory=set)
    pending: dict[int, Accepted] = field(default_factory=dict)
    last: int = 0
    """The highest delivery number in the file."""


def completion_of(event: dict[str, Any]) -> Completion | None:
    """``(kind, run_id, status)`` of a ``backtest_complete`` envelope, else None."""
    if event.get("detail-type") != "backtest_complete":
        return None
    detail = event.get("detail") or {}
    if not isinstance(detail, dict):
        return None
    key = (detail.get("kind"), detail.get("run_id"), detail.get("status"))
    return key if all(isinstance(k, str) for k in key) else None  # type: ignore[return-value]


class Outbox:
    """The outbox at ``path`` (module docstring); thread-safe. :attr:`previous` is what the
    file held when it was opened: the last session, with its pending deliveries."""

    def __init__(self, path: str | Path, *, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.previous = self._read()
        self._session = Session(
            self.previous.started, set(self.previous.completed), dict(self.previous.pending)
        )
        self._n = self.previous.last
        self._size = self.path.stat().st_size if self.path.exists() else 0

    # -- reading ------------------------------------------------------------------------

    def _read(self) -> Session:
        session = Session()
        if not self.path.exists():
            return session
        accepted: dict[int, Accepted] = {}
        for line in self.path.read_bytes().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                log.warning("ignored a torn outbox record (its PutEvents was never answered)")
                continue
            op = record.get("op")
            if op == "session":
                session.started = record.get("started")
                session.completed = {tuple(c) for c in record.get("completed", ())}
            elif op == "accept":
                entry = Accepted(record["n"], record["rule"], record["target"], record["event"])
                accepted[entry.n] = entry
                session.last = max(session.last, entry.n)
                if key := completion_of(entry.event):
                    session.completed.add(key)
            elif op == "done":
                accepted.pop(record["n"], None)
        session.pending = accepted
        return session

    def pending(self) -> list[Accepted]:
        """The accepted deliveries not done, in the order they were accepted."""
        with self._lock:
            return [self._session.pending[n] for n in sorted(self._session.pending)]

    def completed(self) -> set[Completion]:
        """The ``backtest_complete`` events accepted in this session."""
        with self._lock:
            return set(self._session.completed)

    # -- writing ------------------------------------------------------------------------

    def accept(self, rule: str, target: dict[str, Any], event: dict[str, Any]) -> int:
        """Keep the delivery of ``event`` to ``target`` (on disk, fsynced); its number."""
        with self._lock:
            self._n += 1
            entry = Accepted(self._n, rule, dict(target), event)
            self._append([_accept_record(entry)], sync=True)
            self._session.pending[entry.n] = entry
            if key := completion_of(event):
                self._session.completed.add(key)
            return entry.n

    def done(self, n: int) -> None:
        """The delivery numbered ``n`` ended: it is not delivered again after a restart. Not
        fsynced: a done lost to a machine crash only delivers once more."""
        with self._lock:
            if self._session.pending.pop(n, None) is None:
                return
            self._append([{"op": "done", "n": n}], sync=False)
            if self._size > self.max_bytes:
                self._rewrite()

    def start_session(self, started: str) -> None:
        """Begin a session at ``started`` (ISO 8601 UTC): the file holds that and the pending
        deliveries (of any session) only, and no ``backtest_complete`` yet."""
        with self._lock:
            self._session.started = started
            self._session.completed = set()
            self._rewrite()

    def _rewrite(self) -> None:
        session = self._session
        records: Iterable[dict[str, Any]] = [
            {"op": "session", "started": session.started,
             "completed": sorted(list(c) for c in session.completed)},
            *(_accept_record(session.pending[n]) for n in sorted(session.pending)),
        ]  # fmt: skip
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(self.path, text)
        self._size = len(text.encode())

    def _append(self, records: list[dict[str, Any]], *, sync: bool) -> None:
        data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        self._size += len(data)


def _accept_record(entry: Accepted) -> dict[str, Any]:
    return {"op": "accept", "n": entry.n, "rule": entry.rule, "target": entry.target,
            "event": entry.event}  # fmt: skip
