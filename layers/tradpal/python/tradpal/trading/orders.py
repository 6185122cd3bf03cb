"""Orders as the trader records them, and their client order ids.

Every order is written to the trader's order store under its client order id *before* it
is sent. The id is deterministic (trader, symbol, the bar the decision was made at, the
intent and a revision number), so a trader that crashed between writing and sending, or
whose request timed out, finds the order on the exchange by that id instead of sending a
second one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Intent = Literal["entry", "exit", "stop", "target"]
Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop_market"]
Status = Literal["new", "open", "closed", "canceled", "expired", "rejected", "unknown"]

INTENTS: tuple[Intent, ...] = ("entry", "exit", "stop", "target")
INTENT_CODES: dict[str, str] = {"entry": "n", "exit": "x", "stop": "s", "target": "t"}
"""The letter after ``tp`` in a client order id: what the order was for."""
PREFIX = "tp"
PROTECTIVE: frozenset[str] = frozenset({"stop", "target"})
FINAL: frozenset[str] = frozenset({"closed", "canceled", "expired", "rejected"})

# Binance allows 36 characters from [.A-Z:/a-z0-9_-]; other exchanges fewer symbols, so the
# id uses letters and digits only.
CLIENT_ID_LENGTH = 32


def client_order_id(
    trader_id: str, symbol: str, bar_ms: int, intent: Intent, revision: int = 0
) -> str:
    """The client order id of the order with ``intent`` decided at the bar opening at
    ``bar_ms`` (ms since the epoch) by trader ``trader_id`` on ``symbol``; ``revision``
    tells apart the replacements of one protective order (a trailing stop moved).

    ``tp`` + the intent's letter (:data:`INTENT_CODES`) + 29 hex digits of a SHA-256: the
    same inputs give the same id in every process, different ones collide with probability
    about 2**-116."""
    if intent not in INTENTS:
        raise ValueError(f"unknown order intent {intent!r}; use one of {INTENTS}")
    key = f"{trader_id}\x1f{symbol}\x1f{int(bar_ms)}\x1f{intent}\x1f{int(revision)}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{PREFIX}{INTENT_CODES[intent]}{digest[: CLIENT_ID_LENGTH - 3]}"


def intent_of(client_id: str) -> Intent | None:
    """The intent of an order whose client id this module made, else None (an order made
    by a person or another program)."""
    if len(client_id) != CLIENT_ID_LENGTH or not client_id.startswith(PREFIX):
        return None
    code = client_id[len(PREFIX)]
    tail = client_id[len(PREFIX) + 1 :]
    if any(c not in "0123456789abcdef" for c in tail):
        return None
    return next((i for i, c in INTENT_CODES.items() if c == code), None)  # type: ignore[return-value]


@dataclass(frozen=True)
class Order:
    """One order of a trader.

    ``amount`` in base units; ``price`` the limit price (limit orders) and ``stop_price``
    the trigger (stop-market orders), in quote currency per base unit. ``status`` follows
    ccxt's (open, closed, canceled, expired, rejected) plus ``new``: recorded, not yet
    known to have reached the exchange, and ``unknown``: sent, but the exchange has no
    order with this client id (reported, never sent again). ``exchange_id`` is the
    exchange's order id once known; ``filled`` the base units filled so far.
    """

    client_id: str
    symbol: str
    side: Side
    type: OrderType
    amount: float
    intent: Intent
    bar_ms: int
    price: float | None = None
    stop_price: float | None = None
    reduce_only: bool = False
    status: Status = "new"
    exchange_id: str | None = None
    filled: float = 0.0
    reason: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    def with_(self, **changes: Any) -> Order:
        return replace(self, **changes)

    def ccxt_params(self) -> dict[str, Any]:
        """The ``params`` of ccxt's ``create_order`` for this order."""
        params: dict[str, Any] = {"clientOrderId": self.client_id}
        if self.stop_price is not None:
            params["stopPrice"] = self.stop_price
        if self.reduce_only:
            params["reduceOnly"] = True
        return params

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Order:
        return cls(**d)


def ccxt_status(order: dict[str, Any]) -> Status:
    """The status of a ccxt order structure in :data:`Status` terms."""
    status = order.get("status")
    return status if status in ("open", "closed", "canceled", "expired", "rejected") else "open"
