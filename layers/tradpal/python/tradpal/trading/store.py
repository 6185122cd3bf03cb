"""The trading store: what a trader must not forget or do twice, kept in DynamoDB.

One store serves one trader (``trader_id``: one strategy on one symbol) and keeps, in the
platform's trading table (``TRADPAL_TRADING_TABLE``, :data:`~tradpal.platform.topology.TOPOLOGY`),
one partition per trader (partition key ``trader_id``, sort key ``item``):

=====================  ============================================================
``item``               attributes
=====================  ============================================================
``state``              ``version`` (N, 1, 2, ...), ``doc`` (S, the state as JSON),
                       ``updated_at`` (N, epoch seconds)
``lease``              ``owner`` (S), ``expires_at`` and ``acquired_at`` (N, epoch s)
``order#<client_id>``  ``doc`` (S, the order as JSON), ``status`` (S), ``seq`` (N, the
                       write order of its first write), ``updated_at`` (N, epoch s)
``fill#<trade_id>``    ``doc`` (S, the fill as JSON), ``seq`` (N), ``time_ms`` (N, ms
                       since the epoch)
``control``            ``command`` (S: start, pause or stop), ``flatten`` (BOOL),
                       ``reason`` and ``requested_by`` (S, absent when not given),
                       ``requested_at`` (N, epoch s), ``version`` (N, 1, 2, ...)
=====================  ============================================================

The rules it enforces:

* **one actor**: a trader acts only while it holds the lease (:meth:`TradingStore.acquire_lease`,
  renewed before it expires). Every write of an order, a fill or the state is one
  ``TransactWriteItems`` with a ``ConditionCheck`` that the writer holds the lease unexpired
  at the writer's clock, so a trader that lost it (paused past its expiry, cut off while
  another took over) is refused (:class:`LeaseNotHeld`, :class:`LeaseHeld`) and writes
  nothing. Leases compare epoch seconds of different hosts: keep the lease's time to live
  far above their clock skew (NTP keeps AWS hosts within milliseconds);
* **write-ahead orders**: an order is written before it is sent and again at each change of
  status, under its deterministic client id, so a restarted trader finds what it sent;
* **each fill once**: a fill is written under its exchange trade id if that id is not there
  yet (``attribute_not_exists``); a repeated or replayed fill is refused, and a
  :class:`~tradpal.trading.book.Book` rebuilt from :meth:`TradingStore.fills` equals the one
  that booked them;
* **no lost update of the state**: the state (a small JSON document the trader defines) is
  versioned; a save names the version it was derived from and is refused
  (:class:`StaleState`) when another save came first;
* **each control command numbered once**: the API, which holds no lease, records a command
  for a trader (:meth:`TradingStore.request_control`: start, pause, stop) as the next
  ``version`` of the trader's one ``control`` item, in a transaction conditioned on the
  version it read and on the trader existing (its state or lease item), so two requests never
  share a version and an unknown trader gets no control (:class:`TraderNotFound`). The
  trader polls :meth:`TradingStore.control` and applies each version once, recording the
  version it applied in its own state; a newer command replaces an older one not yet applied
  (the last one asked for is the one that counts).

Orders and fills are kept as JSON text, not as DynamoDB numbers: Python's JSON writes a float
as its shortest repr and reads the same bits back (``-0.0``, ``5e-324`` and ``NaN``
included), where DynamoDB's numbers drop the sign of zero and hold neither NaN nor
magnitudes under 1e-130. The attributes beside ``doc`` are for reading the table by eye and
for ordering; ``doc`` alone is what is read back.

:class:`MemoryTradingStore` is the same store in memory (replays and pure tests), with the
same semantics: both pass one contract suite (``tests/trading/test_store.py``).
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from tradpal.errors import TradPalError
from tradpal.platform.aws import client
from tradpal.platform.environment import platform_env
from tradpal.trading.book import Fill
from tradpal.trading.orders import Order

STATE = "state"
LEASE = "lease"
CONTROL = "control"
COMMANDS: tuple[str, ...] = ("start", "pause", "stop")
"""The control commands: ``start`` (resume entries), ``pause`` (no new entries; open
positions keep their stops), ``stop`` (cancel the open orders; with ``flatten`` close the
position too)."""
MAX_REASON_LENGTH = 200
ORDER_PREFIX = "order#"
FILL_PREFIX = "fill#"
MAX_DOC_BYTES = 350_000
"""The largest JSON document one item holds: DynamoDB refuses items over 400 KB, and the
keys and other attributes need room."""
MAX_ID_LENGTH = 256
CONFLICT_ATTEMPTS = 4
"""Tries of a transaction that DynamoDB cancelled for a conflict with a concurrent write of
the same item (a lease renewal from another thread): botocore does not retry those."""
CONTROL_ATTEMPTS = 8
"""Tries of a control request whose version another request took first (or whose
transaction conflicted): each round one of the racing requests wins, so this many callers
at once all get through."""

Clock = Callable[[], float]
"""Epoch seconds now (``time.time``): the writer's clock, that leases are checked against."""


class TradingStoreError(TradPalError):
    """The trading store cannot do what was asked; the message says why."""


class LeaseNotHeld(TradingStoreError):
    """A write (or a renewal) by a store that holds no unexpired lease on its trader: nothing
    was written. ``holder`` and ``expires_at`` (epoch seconds) describe the lease as stored,
    None when there is none."""

    def __init__(
        self,
        message: str,
        *,
        hint: str,
        trader_id: str,
        holder: str | None = None,
        expires_at: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.trader_id, self.holder, self.expires_at = trader_id, holder, expires_at


class LeaseHeld(LeaseNotHeld):
    """Another owner holds the trader's lease until ``expires_at`` (epoch seconds)."""


class TraderNotFound(TradingStoreError):
    """A control request for a trader with neither state nor lease: no such trader (the API
    answers 404). Nothing was written."""

    def __init__(self, message: str, *, hint: str, trader_id: str) -> None:
        super().__init__(message, hint=hint)
        self.trader_id = trader_id


class StaleState(TradingStoreError):
    """A state save derived from ``expected`` while the stored version is ``stored`` (None:
    no state stored yet; ``expected`` None: a first save where a state exists)."""

    def __init__(self, message: str, *, hint: str, expected: int | None, stored: int | None):
        super().__init__(message, hint=hint)
        self.expected, self.stored = expected, stored


@dataclass(frozen=True)
class Lease:
    """A trader's lease as stored: ``owner`` holds it until ``expires_at`` (epoch seconds,
    included: it has expired once ``now > expires_at``)."""

    trader_id: str
    owner: str
    expires_at: float
    acquired_at: float

    def held_at(self, now_s: float) -> bool:
        return now_s <= self.expires_at


@dataclass(frozen=True)
class Control:
    """The last control command asked of a trader (module docstring): ``command`` (one of
    :data:`COMMANDS`), ``flatten`` (a stop that also closes the position), why and by whom
    (None when not said), when (``requested_at``, epoch seconds) and its ``version`` (1, 2,
    ...: each request the next; the trader applies each version once)."""

    trader_id: str
    command: str
    flatten: bool
    reason: str | None
    requested_by: str | None
    requested_at: float
    version: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TraderSummary:
    """One trader as :meth:`TradingStore.traders` lists it: its state and version (None and
    0 before its first save), when it was saved (epoch seconds), its lease (None when
    it has none: never taken or released) and its last control command (None: none asked)."""

    trader_id: str
    state: dict[str, Any] | None
    version: int
    updated_at: float | None
    lease: Lease | None
    control: Control | None = None

    def to_dict(self) -> dict[str, Any]:
        lease, control = self.lease, self.control
        return {
            "trader_id": self.trader_id,
            "state": self.state,
            "version": self.version,
            "updated_at": self.updated_at,
            "lease": None
            if lease is None
            else {"owner": lease.owner, "expires_at": lease.expires_at},
            "control": None if control is None else control.to_dict(),
        }


# ---- documents ----


def _dumps(value: Any, what: str) -> str:
    """``value`` as JSON text (floats as their shortest repr: read back bit for bit)."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TradingStoreError(
            f"{what} holds a value JSON cannot write: {exc}",
            hint="keep to str, int, float, bool, None, lists and dicts with string keys",
        ) from None
    size = len(text.encode())
    if size > MAX_DOC_BYTES:
        raise TradingStoreError(
            f"{what} is {size} bytes as JSON, over the {MAX_DOC_BYTES} an item holds",
            hint="keep the trader's state small: counters and the open position, not history",
        )
    return text


def order_doc(order: Order) -> str:
    return _dumps(order.to_dict(), f"order {order.client_id}")


def fill_doc(fill: Fill) -> str:
    return _dumps(fill.to_dict(), f"fill {fill.trade_id}")


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise TradingStoreError(
            f"{what} {value!r} is not a usable id",
            hint=f"use a non-empty string of at most {MAX_ID_LENGTH} characters",
        )
    return value


def _check_times(ttl_s: float, now_s: float) -> None:
    if not (math.isfinite(ttl_s) and ttl_s > 0) or not math.isfinite(now_s):
        raise TradingStoreError(
            f"lease time to live {ttl_s} s at {now_s} s is invalid",
            hint="give a positive ttl_s in seconds and now_s in epoch seconds (time.time())",
        )


def _check_control(
    command: str, flatten: bool, reason: str | None, requested_by: str | None, now_s: float
) -> None:
    if command not in COMMANDS:
        raise TradingStoreError(
            f"control command {command!r} is unknown", hint=f"use one of {', '.join(COMMANDS)}"
        )
    if not isinstance(flatten, bool):
        raise TradingStoreError(f"flatten {flatten!r} is not a boolean", hint="give True or False")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH):
        raise TradingStoreError(
            f"the reason {reason!r:.40} is not text of at most {MAX_REASON_LENGTH} characters",
            hint="say why in a short sentence, or give none",
        )
    if requested_by is not None:
        _check_id(requested_by, "requester")
    if not math.isfinite(now_s):
        raise TradingStoreError(
            f"request time {now_s} s is invalid", hint="give now_s in epoch seconds (time.time())"
        )


def _when(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


class _Base:
    """What both stores share: the trader, the clock, the owner this store acts as, and the
    errors."""

    def __init__(self, trader_id: str, clock: Clock) -> None:
        self.trader_id = _check_id(trader_id, "trader id")
        self.clock = clock
        self.owner: str | None = None
        """The owner this store writes as: set by a successful acquire or renewal."""

    def _writer(self) -> str:
        if self.owner is None:
            raise LeaseNotHeld(
                f"trader {self.trader_id}: this store has not acquired the lease, so it may "
                "not write",
                hint="call acquire_lease(owner, ttl_s, now_s) before writing orders, fills "
                "or state",
                trader_id=self.trader_id,
            )
        return self.owner

    def _not_held(self, owner: str, now_s: float, lease: Lease | None) -> LeaseNotHeld:
        """Why ``owner`` may not act at ``now_s`` given the stored ``lease``."""
        reload = "then load the state, orders and fills again before acting: another "
        reload += "trader may have acted meanwhile"
        if lease is None:
            return LeaseNotHeld(
                f"trader {self.trader_id} has no lease (never acquired, or released), so "
                f"{owner} may not act",
                hint="acquire_lease(owner, ttl_s, now_s), " + reload,
                trader_id=self.trader_id,
            )
        if lease.owner != owner and lease.held_at(now_s):
            return LeaseHeld(
                f"trader {self.trader_id} is held by {lease.owner} until {_when(lease.expires_at)} "
                f"(epoch {lease.expires_at} s, {lease.expires_at - now_s:.0f} s from now), so "
                f"{owner} may not act",
                hint="only one trader may act for a strategy and symbol: stop this one, or "
                f"acquire the lease once it expires ({lease.owner} frees it then if it is gone), "
                + reload,
                trader_id=self.trader_id,
                holder=lease.owner,
                expires_at=lease.expires_at,
            )
        whose = "its" if lease.owner == owner else f"{lease.owner}'s"
        return LeaseNotHeld(
            f"trader {self.trader_id}: {whose} lease expired at {_when(lease.expires_at)} "
            f"(epoch {lease.expires_at} s, {now_s - lease.expires_at:.0f} s ago), so {owner} "
            "may not act",
            hint="renew the lease well before it expires; now acquire_lease(owner, ttl_s, "
            "now_s), " + reload,
            trader_id=self.trader_id,
            holder=lease.owner,
            expires_at=lease.expires_at,
        )

    def _unknown(self) -> TraderNotFound:
        return TraderNotFound(
            f"no trader {self.trader_id}: it has neither state nor lease",
            hint="list the traders (GET /v1/trading, TradingStore.traders()); a trader exists "
            "once it has taken its lease",
            trader_id=self.trader_id,
        )

    def _stale(self, expected: int | None, stored: int | None) -> StaleState:
        return StaleState(
            f"trader {self.trader_id}: the state is at version {stored or 'none (no state)'}, "
            f"the save was derived from {expected or 'none (a first save)'}; nothing written",
            hint="load_state() and decide again from what it holds: another writer saved since",
            expected=expected,
            stored=stored,
        )


# ---- DynamoDB ----


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else value["S"]


def _n(item: dict[str, Any], name: str) -> float | None:
    value = item.get(name)
    return None if value is None else float(value["N"])


def _num(x: float) -> dict[str, str]:
    """A DynamoDB number of ``x`` (epoch seconds, versions: finite, exact as repr)."""
    return {"N": repr(float(x)) if not isinstance(x, int) else str(x)}


def _lease_of(trader_id: str, item: dict[str, Any] | None) -> Lease | None:
    """The lease in DynamoDB item ``item`` (None: no item, or one without an owner)."""
    if not item or "owner" not in item:
        return None
    expires_at, acquired_at = _n(item, "expires_at"), _n(item, "acquired_at")
    return Lease(trader_id, item["owner"]["S"], expires_at or 0.0, acquired_at or 0.0)


def _control_of(trader_id: str, item: dict[str, Any] | None) -> Control | None:
    """The control command in DynamoDB item ``item`` (None: no item)."""
    if not item or "command" not in item:
        return None
    return Control(
        trader_id=trader_id,
        command=item["command"]["S"],
        flatten=bool(item.get("flatten", {}).get("BOOL", False)),
        reason=_s(item, "reason"),
        requested_by=_s(item, "requested_by"),
        requested_at=_n(item, "requested_at") or 0.0,
        version=int(_n(item, "version") or 0),
    )


def _summary_of(trader_id: str, items: dict[str, dict[str, Any]]) -> TraderSummary | None:
    """The trader whose state, lease and control items (by ``item``) are ``items``; None
    when it has neither state nor lease (a control item alone makes no trader)."""
    state, lease = items.get(STATE), items.get(LEASE)
    if state is None and lease is None:
        return None
    return TraderSummary(
        trader_id=trader_id,
        state=None if state is None else json.loads(state["doc"]["S"]),
        version=0 if state is None else int(_n(state, "version")),
        updated_at=None if state is None else _n(state, "updated_at"),
        lease=_lease_of(trader_id, lease),
        control=_control_of(trader_id, items.get(CONTROL)),
    )


class TradingStore(_Base):
    """The trading store of trader ``trader_id`` in DynamoDB (module docstring): in
    ``table``, by default the function's trading table (``TRADPAL_TRADING_TABLE``).
    ``clock`` (epoch seconds) is what the lease is checked against at each write."""

    def __init__(
        self, trader_id: str, *, table: str | None = None, clock: Clock = time.time
    ) -> None:
        super().__init__(trader_id, clock)
        self.table = table or platform_env().require("trading_table")
        self._seq: int | None = None
        """The last ``seq`` written in this partition (read at the first write after an
        acquisition: only the lease holder writes, so it alone counts on from there)."""

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def _key(self, item: str) -> dict[str, Any]:
        return {"trader_id": {"S": self.trader_id}, "item": {"S": item}}

    # ---- the lease ----

    def _lease(self, item: dict[str, Any] | None) -> Lease | None:
        return _lease_of(self.trader_id, item)

    def lease(self) -> Lease | None:
        """The trader's lease as stored (None: none)."""
        got = self._ddb.get_item(TableName=self.table, Key=self._key(LEASE), ConsistentRead=True)
        return self._lease(got.get("Item"))

    def acquire_lease(self, owner: str, ttl_s: float, now_s: float) -> Lease:
        """Take the trader's lease for ``owner`` until ``now_s + ttl_s`` (epoch seconds) if
        nobody holds it, it expired, or ``owner`` holds it already (a restart); else
        :class:`LeaseHeld`. ``owner`` must name one running process (a task id and a
        random part): two processes under one name would both act. This store then writes
        as ``owner``."""
        owner = _check_id(owner, "lease owner")
        _check_times(ttl_s, now_s)
        ddb = self._ddb
        try:
            ddb.update_item(
                TableName=self.table,
                Key=self._key(LEASE),
                UpdateExpression="SET #owner = :me, expires_at = :exp, acquired_at = :now",
                ConditionExpression="attribute_not_exists(#owner) OR expires_at < :now "
                "OR #owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={
                    ":me": {"S": owner}, ":exp": _num(now_s + ttl_s), ":now": _num(now_s),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )  # fmt: skip
        except ddb.exceptions.ConditionalCheckFailedException as exc:
            raise self._not_held(owner, now_s, self._lease(exc.response.get("Item"))) from None
        self.owner, self._seq = owner, None
        return Lease(self.trader_id, owner, now_s + ttl_s, now_s)

    def renew_lease(self, owner: str, ttl_s: float, now_s: float) -> Lease:
        """Extend ``owner``'s lease to ``now_s + ttl_s`` (epoch seconds). Refused
        (:class:`LeaseHeld`, :class:`LeaseNotHeld`) when the stored lease is not
        ``owner``'s: another took it (then ``owner``'s view is stale) or it was released.
        A lease of ``owner``'s that expired untaken renews: nobody else can have acted."""
        owner = _check_id(owner, "lease owner")
        _check_times(ttl_s, now_s)
        ddb = self._ddb
        try:
            answer = ddb.update_item(
                TableName=self.table,
                Key=self._key(LEASE),
                UpdateExpression="SET expires_at = :exp",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}, ":exp": _num(now_s + ttl_s)},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ddb.exceptions.ConditionalCheckFailedException as exc:
            lease = self._lease(exc.response.get("Item"))
            raise self._not_held(owner, now_s, lease) from None
        self.owner = owner
        renewed = self._lease(answer["Attributes"])
        assert renewed is not None  # the condition held: the item is owner's
        return renewed

    def release_lease(self, owner: str) -> bool:
        """Give the lease up (the next acquire succeeds at once): True, or False when
        ``owner`` does not hold it (nothing done)."""
        ddb = self._ddb
        try:
            ddb.delete_item(
                TableName=self.table,
                Key=self._key(LEASE),
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        if self.owner == owner:
            self.owner = None
        return True

    # ---- guarded writes ----

    def _guarded(self, write: dict[str, Any]) -> dict[str, Any] | None:
        """Run ``write`` (one element of TransactWriteItems) if this store's owner holds the
        lease unexpired now: None when written, the stored item (``{}`` when there is none)
        when the write's own condition failed; :class:`LeaseNotHeld` when the lease check
        did (nothing written)."""
        owner, now = self._writer(), self.clock()
        check = {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": self._key(LEASE),
                "ConditionExpression": "#owner = :me AND expires_at >= :now",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": {":me": {"S": owner}, ":now": _num(now)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        ddb = self._ddb
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                ddb.transact_write_items(TransactItems=[check, write])
                return None
            except ddb.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                lease_reason, write_reason = [*reasons, {}, {}][:2]
                if lease_reason.get("Code") == "ConditionalCheckFailed":
                    stored = self._lease(lease_reason.get("Item"))
                    raise self._not_held(owner, now, stored) from None
                if write_reason.get("Code") == "ConditionalCheckFailed":
                    return write_reason.get("Item") or {}
                conflict = any(r.get("Code") == "TransactionConflict" for r in reasons)
                if not conflict or attempt + 1 == CONFLICT_ATTEMPTS:
                    raise TradingStoreError(
                        f"trader {self.trader_id}: DynamoDB cancelled the write: "
                        f"{[r.get('Code') for r in reasons]}",
                        hint="try again; if it persists, check the trading table's capacity",
                    ) from None
                time.sleep(0.05 * 2**attempt)  # another write of the same item in flight
        raise AssertionError("unreachable")  # the loop returns or raises

    def _next_seq(self) -> int:
        if self._seq is None:
            seqs = (int(_n(i, "seq") or 0) for i in self._items(None, seq_only=True))
            self._seq = max(seqs, default=0)
        self._seq += 1
        return self._seq

    def _items(self, prefix: str | None, *, seq_only: bool = False) -> Iterator[dict[str, Any]]:
        """This trader's items whose sort key starts with ``prefix`` (all with None; only
        their ``seq`` with ``seq_only``), in sort-key order, read consistently (a restarted
        trader sees its last writes)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "trader_id = :t",
            "ExpressionAttributeValues": {":t": {"S": self.trader_id}},
            "ConsistentRead": True,
        }
        if prefix is not None:  # DynamoDB refuses begins_with an empty string
            kwargs["KeyConditionExpression"] += " AND begins_with(#item, :p)"
            kwargs["ExpressionAttributeNames"] = {"#item": "item"}
            kwargs["ExpressionAttributeValues"][":p"] = {"S": prefix}
        if seq_only:
            kwargs["ProjectionExpression"] = "#seq"
            kwargs.setdefault("ExpressionAttributeNames", {})["#seq"] = "seq"
        while True:
            page = self._ddb.query(**kwargs)
            yield from page.get("Items", ())
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ---- orders ----

    def put(self, order: Order) -> None:
        """Write ``order`` whole under its client id (before it is sent, and at each change):
        it keeps the place in :meth:`orders` of its first write."""
        client_id = _check_id(order.client_id, "client order id")
        doc = order_doc(order)
        self._writer()  # refuse before a sequence number is counted
        self._guarded(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": self._key(ORDER_PREFIX + client_id),
                    "UpdateExpression": "SET doc = :doc, #status = :status, updated_at = :now, "
                    "seq = if_not_exists(seq, :seq)",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":doc": {"S": doc},
                        ":status": {"S": str(order.status)},
                        ":now": _num(self.clock()),
                        ":seq": _num(self._next_seq()),
                    },
                }
            }
        )

    def get(self, client_id: str) -> Order | None:
        """The order with ``client_id``, or None."""
        got = self._ddb.get_item(
            TableName=self.table, Key=self._key(ORDER_PREFIX + client_id), ConsistentRead=True
        )
        item = got.get("Item")
        return None if item is None else Order.from_dict(json.loads(item["doc"]["S"]))

    def orders(self, *, open_only: bool = False) -> list[Order]:
        """Every order, in the order of their first writes (newest last); ``open_only``: not
        final (new, open or unknown: what a restarted trader must look up)."""
        items = sorted(self._items(ORDER_PREFIX), key=lambda i: int(_n(i, "seq")))
        orders = [Order.from_dict(json.loads(i["doc"]["S"])) for i in items]
        return [o for o in orders if not o.is_final] if open_only else orders

    # ---- fills ----

    def put_fill(self, fill: Fill) -> bool:
        """Write ``fill`` once per exchange trade id: True, or False when a fill with its
        trade id is stored already (a repeat: the stored one is kept)."""
        trade_id = _check_id(fill.trade_id, "trade id")
        self._writer()
        old = self._guarded(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **self._key(FILL_PREFIX + trade_id),
                        "doc": {"S": fill_doc(fill)},
                        "seq": _num(self._next_seq()),
                        "time_ms": _num(int(fill.time_ms)),
                    },
                    "ConditionExpression": "attribute_not_exists(#item)",
                    "ExpressionAttributeNames": {"#item": "item"},
                }
            }
        )
        return old is None

    def fills(self) -> list[Fill]:
        """Every fill, in the order they were written: the order they were booked (time
        order when the exchange reports them in order), which a :class:`Book` needs to
        add them up to the same cash bit for bit."""
        items = sorted(self._items(FILL_PREFIX), key=lambda i: int(_n(i, "seq")))
        return [Fill.from_dict(json.loads(i["doc"]["S"])) for i in items]

    # ---- the state ----

    def save_state(self, state: dict[str, Any], *, expected_version: int | None) -> int:
        """Write ``state`` as the version after ``expected_version`` (None: the first save)
        and return the new version (1, 2, ...); :class:`StaleState` (nothing written) when
        the stored version is another."""
        doc = _dumps(state, f"trader {self.trader_id}'s state")
        version = 1 if expected_version is None else int(expected_version) + 1
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": {
                **self._key(STATE),
                "doc": {"S": doc},
                "version": _num(version),
                "updated_at": _num(self.clock()),
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(#item)"
            put["ExpressionAttributeNames"] = {"#item": "item"}
        else:
            put["ConditionExpression"] = "version = :expected"
            put["ExpressionAttributeValues"] = {":expected": _num(int(expected_version))}
        old = self._guarded({"Put": put})
        if old is not None:
            stored = _n(old, "version")
            raise self._stale(expected_version, None if stored is None else int(stored))
        return version

    def load_state(self) -> tuple[dict[str, Any], int] | None:
        """The stored state and its version, or None before the first save."""
        got = self._ddb.get_item(TableName=self.table, Key=self._key(STATE), ConsistentRead=True)
        item = got.get("Item")
        return None if item is None else (json.loads(item["doc"]["S"]), int(_n(item, "version")))

    # ---- every trader ----

    def traders(self) -> list[TraderSummary]:
        """Every trader in this store's table (not only this store's), by id, with its
        state and lease.

        A scan: the partition key is the trader, and DynamoDB lists partitions only by
        scanning. The filter returns the state, lease and control items (three per trader),
        but the scan reads, and is billed for, every order and fill too: about 4,000 items
        per 1 MB page, so a few pages for the tens of traders and their thousands of orders
        that one user runs, for a listing asked for now and then. A sparse index keyed on
        the state item is the step up once tables grow past that. A trader is listed once it
        has a state or a lease: a control item alone makes none."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "#item IN (:state, :lease, :control)",
            "ExpressionAttributeNames": {"#item": "item"},
            "ExpressionAttributeValues": {
                ":state": {"S": STATE}, ":lease": {"S": LEASE}, ":control": {"S": CONTROL},
            },
            "ConsistentRead": True,
        }  # fmt: skip
        found: dict[str, dict[str, dict[str, Any]]] = {}
        while True:
            page = self._ddb.scan(**kwargs)
            for item in page.get("Items", ()):
                found.setdefault(item["trader_id"]["S"], {})[item["item"]["S"]] = item
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        listed = (_summary_of(trader_id, found[trader_id]) for trader_id in sorted(found))
        return [summary for summary in listed if summary is not None]

    def trader(self) -> TraderSummary | None:
        """This store's trader as :meth:`traders` lists it (one consistent read of its
        state, lease and control items), or None when it has neither state nor lease."""
        return _summary_of(self.trader_id, self._get_items(STATE, LEASE, CONTROL))

    # ---- control ----

    def _get_items(self, *items: str) -> dict[str, dict[str, Any]]:
        """This trader's ``items`` that exist, by ``item``, in one consistent read."""
        keys: list[dict[str, Any]] = [self._key(i) for i in items]
        found: dict[str, dict[str, Any]] = {}
        ddb = self._ddb
        for attempt in range(CONFLICT_ATTEMPTS + 4):
            got = ddb.batch_get_item(
                RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
            )
            for item in got.get("Responses", {}).get(self.table, ()):
                found[item["item"]["S"]] = item
            keys = got.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            if not keys:
                return found
            time.sleep(0.05 * 2**attempt)  # throttled: DynamoDB left some keys unread
        raise TradingStoreError(
            f"trader {self.trader_id}: DynamoDB left items unread after retries",
            hint="try again; if it persists, check the trading table's capacity",
        )

    def request_control(
        self,
        command: str,
        *,
        flatten: bool = False,
        reason: str | None = None,
        requested_by: str | None = None,
        now_s: float,
    ) -> Control:
        """Ask the trader for ``command`` (:data:`COMMANDS`) at ``now_s`` (epoch seconds) and
        return it with its version, the one after the stored control's (1 for the first).
        Needs no lease (the API asks, the trader acts): each try reads the control and the
        trader's state and lease items, then writes the next version in one transaction
        conditioned on the version read and on the state (or, before the first save, the
        lease) item existing; a try that another request beat is made again. An unknown
        trader (neither state nor lease) is :class:`TraderNotFound`, with nothing written."""
        _check_control(command, flatten, reason, requested_by, now_s)
        ddb = self._ddb
        for attempt in range(CONTROL_ATTEMPTS):
            items = self._get_items(STATE, LEASE, CONTROL)
            anchor = STATE if STATE in items else LEASE if LEASE in items else None
            if anchor is None:
                raise self._unknown()
            stored = _control_of(self.trader_id, items.get(CONTROL))
            version = 1 if stored is None else stored.version + 1
            item: dict[str, Any] = {
                **self._key(CONTROL),
                "command": {"S": command},
                "flatten": {"BOOL": flatten},
                "requested_at": _num(now_s),
                "version": _num(version),
            }
            if reason is not None:
                item["reason"] = {"S": reason}
            if requested_by is not None:
                item["requested_by"] = {"S": requested_by}
            put: dict[str, Any] = {"TableName": self.table, "Item": item}
            if stored is None:
                put["ConditionExpression"] = "attribute_not_exists(#item)"
                put["ExpressionAttributeNames"] = {"#item": "item"}
            else:
                put["ConditionExpression"] = "version = :read"
                put["ExpressionAttributeValues"] = {":read": _num(stored.version)}
            exists = {
                "TableName": self.table,
                "Key": self._key(anchor),
                "ConditionExpression": "attribute_exists(#item)",
                "ExpressionAttributeNames": {"#item": "item"},
            }
            try:
                ddb.transact_write_items(TransactItems=[{"ConditionCheck": exists}, {"Put": put}])
            except ddb.exceptions.TransactionCanceledException as exc:
                codes = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                if set(codes) - {"None", "ConditionalCheckFailed", "TransactionConflict"}:
                    raise TradingStoreError(
                        f"trader {self.trader_id}: DynamoDB cancelled the control request: {codes}",
                        hint="try again; if it persists, check the trading table's capacity",
                    ) from None
                if "TransactionConflict" in codes:
                    time.sleep(0.02 * 2**attempt)
                continue  # another request took the version, or the trader's items changed
            return Control(
                self.trader_id, command, flatten, reason, requested_by, float(now_s), version
            )
        raise TradingStoreError(
            f"trader {self.trader_id}: {CONTROL_ATTEMPTS} control requests came at once and "
            "this one lost every round",
            hint="ask again: the command last asked for is the one the trader applies",
        )

    def control(self) -> Control | None:
        """The trader's last control command (read consistently), or None."""
        got = self._ddb.get_item(TableName=self.table, Key=self._key(CONTROL), ConsistentRead=True)
        return _control_of(self.trader_id, got.get("Item"))


def list_traders(*, table: str | None = None) -> list[TraderSummary]:
    """:meth:`TradingStore.traders` of ``table`` (default: the function's trading table),
    for a caller that serves no one trader (the API)."""
    return TradingStore(_ANY_TRADER, table=table).traders()


_ANY_TRADER = "*"
"""The trader id of a store made only to list the table (:func:`list_traders`)."""


# ---- memory ----


class MemoryTradingTable:
    """The trading table in memory: the stores made on one table (one per trader or per
    "process") see each other's writes, as DynamoDB stores on one table do. Items are
    plain dicts of the same attributes (``doc`` the same JSON text)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.lock = threading.RLock()
        self._seq = itertools.count(1)

    def next_seq(self) -> int:
        return next(self._seq)


class MemoryTradingStore(_Base):
    """:class:`TradingStore`'s interface and semantics in memory (replays, pure tests): on
    ``table`` (a new one by default), checked against ``clock`` (epoch seconds)."""

    def __init__(
        self,
        trader_id: str,
        *,
        table: MemoryTradingTable | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(trader_id, clock)
        self.table = table if table is not None else MemoryTradingTable()

    def _item(self, item: str) -> dict[str, Any] | None:
        return self.table.items.get((self.trader_id, item))

    def _set(self, item: str, value: dict[str, Any]) -> None:
        self.table.items[(self.trader_id, item)] = value

    # ---- the lease ----

    def lease(self) -> Lease | None:
        with self.table.lock:
            item = self._item(LEASE)
            return None if item is None else Lease(self.trader_id, **item)

    def acquire_lease(self, owner: str, ttl_s: float, now_s: float) -> Lease:
        """As :meth:`TradingStore.acquire_lease`."""
        owner = _check_id(owner, "lease owner")
        _check_times(ttl_s, now_s)
        with self.table.lock:
            lease = self.lease()
            if lease is not None and lease.owner != owner and not lease.expires_at < now_s:
                raise self._not_held(owner, now_s, lease)
            self._set(
                LEASE,
                {"owner": owner, "expires_at": float(now_s + ttl_s), "acquired_at": float(now_s)},
            )
        self.owner = owner
        return Lease(self.trader_id, owner, now_s + ttl_s, now_s)

    def renew_lease(self, owner: str, ttl_s: float, now_s: float) -> Lease:
        """As :meth:`TradingStore.renew_lease`."""
        owner = _check_id(owner, "lease owner")
        _check_times(ttl_s, now_s)
        with self.table.lock:
            lease = self.lease()
            if lease is None or lease.owner != owner:
                raise self._not_held(owner, now_s, lease)
            self._set(LEASE, {**self._item(LEASE), "expires_at": float(now_s + ttl_s)})
            self.owner = owner
            return self.lease()

    def release_lease(self, owner: str) -> bool:
        """As :meth:`TradingStore.release_lease`."""
        with self.table.lock:
            lease = self.lease()
            if lease is None or lease.owner != owner:
                return False
            del self.table.items[(self.trader_id, LEASE)]
        if self.owner == owner:
            self.owner = None
        return True

    def _guard(self) -> None:
        """With the table's lock held: :class:`LeaseNotHeld` unless this store's owner
        holds the lease unexpired now (the DynamoDB store's ConditionCheck)."""
        owner, now = self._writer(), self.clock()
        lease = self.lease()
        if lease is None or lease.owner != owner or not lease.held_at(now):
            raise self._not_held(owner, now, lease)

    # ---- orders ----

    def put(self, order: Order) -> None:
        """As :meth:`TradingStore.put`."""
        client_id = _check_id(order.client_id, "client order id")
        doc = order_doc(order)
        with self.table.lock:
            self._guard()
            old = self._item(ORDER_PREFIX + client_id)
            seq = old["seq"] if old is not None else self.table.next_seq()
            self._set(
                ORDER_PREFIX + client_id,
                {"doc": doc, "status": str(order.status), "updated_at": self.clock(), "seq": seq},
            )

    def get(self, client_id: str) -> Order | None:
        with self.table.lock:
            item = self._item(ORDER_PREFIX + client_id)
        return None if item is None else Order.from_dict(json.loads(item["doc"]))

    def _docs(self, prefix: str) -> list[str]:
        """The docs of this trader's items under ``prefix``, in write order."""
        with self.table.lock:
            items = [
                v for (t, k), v in self.table.items.items()
                if t == self.trader_id and k.startswith(prefix)
            ]  # fmt: skip
        return [i["doc"] for i in sorted(items, key=lambda i: i["seq"])]

    def orders(self, *, open_only: bool = False) -> list[Order]:
        """As :meth:`TradingStore.orders`."""
        orders = [Order.from_dict(json.loads(d)) for d in self._docs(ORDER_PREFIX)]
        return [o for o in orders if not o.is_final] if open_only else orders

    # ---- fills ----

    def put_fill(self, fill: Fill) -> bool:
        """As :meth:`TradingStore.put_fill`."""
        trade_id = _check_id(fill.trade_id, "trade id")
        doc = fill_doc(fill)
        with self.table.lock:
            self._guard()
            if self._item(FILL_PREFIX + trade_id) is not None:
                return False
            self._set(
                FILL_PREFIX + trade_id,
                {"doc": doc, "seq": self.table.next_seq(), "time_ms": int(fill.time_ms)},
            )
        return True

    def fills(self) -> list[Fill]:
        """As :meth:`TradingStore.fills`."""
        return [Fill.from_dict(json.loads(d)) for d in self._docs(FILL_PREFIX)]

    # ---- the state ----

    def save_state(self, state: dict[str, Any], *, expected_version: int | None) -> int:
        """As :meth:`TradingStore.save_state`."""
        doc = _dumps(state, f"trader {self.trader_id}'s state")
        with self.table.lock:
            self._guard()
            old = self._item(STATE)
            stored = None if old is None else old["version"]
            expected = None if expected_version is None else int(expected_version)
            if stored != expected:
                raise self._stale(expected, stored)
            version = 1 if expected is None else expected + 1
            self._set(STATE, {"doc": doc, "version": version, "updated_at": self.clock()})
        return version

    def load_state(self) -> tuple[dict[str, Any], int] | None:
        """As :meth:`TradingStore.load_state`."""
        with self.table.lock:
            item = self._item(STATE)
        return None if item is None else (json.loads(item["doc"]), item["version"])

    # ---- every trader ----

    def _summary(self, trader_id: str) -> TraderSummary | None:
        """With the table's lock held: trader ``trader_id`` as :meth:`traders` lists it."""
        state = self.table.items.get((trader_id, STATE))
        lease = self.table.items.get((trader_id, LEASE))
        control = self.table.items.get((trader_id, CONTROL))
        if state is None and lease is None:
            return None
        return TraderSummary(
            trader_id=trader_id,
            state=None if state is None else json.loads(state["doc"]),
            version=0 if state is None else state["version"],
            updated_at=None if state is None else state["updated_at"],
            lease=None if lease is None else Lease(trader_id, **lease),
            control=None if control is None else Control(trader_id, **control),
        )

    def traders(self) -> list[TraderSummary]:
        """As :meth:`TradingStore.traders`: every trader on this store's table."""
        with self.table.lock:
            ids = sorted({t for (t, k) in self.table.items if k in (STATE, LEASE)})
            return [s for s in map(self._summary, ids) if s is not None]

    def trader(self) -> TraderSummary | None:
        """As :meth:`TradingStore.trader`."""
        with self.table.lock:
            return self._summary(self.trader_id)

    # ---- control ----

    def request_control(
        self,
        command: str,
        *,
        flatten: bool = False,
        reason: str | None = None,
        requested_by: str | None = None,
        now_s: float,
    ) -> Control:
        """As :meth:`TradingStore.request_control`."""
        _check_control(command, flatten, reason, requested_by, now_s)
        with self.table.lock:
            if self._item(STATE) is None and self._item(LEASE) is None:
                raise self._unknown()
            old = self._item(CONTROL)
            control = Control(
                self.trader_id,
                command,
                flatten,
                reason,
                requested_by,
                float(now_s),
                1 if old is None else old["version"] + 1,
            )
            fields = control.to_dict()
            del fields["trader_id"]
            self._set(CONTROL, fields)
        return control

    def control(self) -> Control | None:
        """As :meth:`TradingStore.control`."""
        with self.table.lock:
            item = self._item(CONTROL)
        return None if item is None else Control(self.trader_id, **item)


__all__ = [
    "COMMANDS",
    "CONTROL",
    "FILL_PREFIX",
    "LEASE",
    "ORDER_PREFIX",
    "STATE",
    "Control",
    "Lease",
    "LeaseHeld",
    "LeaseNotHeld",
    "MemoryTradingStore",
    "MemoryTradingTable",
    "StaleState",
    "TraderNotFound",
    "TraderSummary",
    "TradingStore",
    "TradingStoreError",
    "list_traders",
]
