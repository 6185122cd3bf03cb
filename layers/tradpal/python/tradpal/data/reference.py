"""A data reference: which candles a run reads, checked once when it is made.

``{"source", "symbol", "timeframe", "start", "end", "seed", "bars"}``: ``source`` is
``store`` (the market data store), ``sample`` (the seeded synthetic market), a file or a
source spec (:func:`tradpal.data.loading.load_ohlcv`; the platform takes ``store`` and
``sample`` only: :class:`~tradpal.runs.requests.PlatformDataRef`); bars with open time in
``[start, end)``, times ISO 8601 (UTC when naive), kept in normalised form. Every task of a
run must read the same bars, so an open ``end`` is pinned when a run is accepted
(:meth:`DataRef.pinned`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradpal.errors import TradPalError
from tradpal.fields import field_refused, refusal
from tradpal.timeframes import TimeframeName, parse_timeframe

MAX_SAMPLE_BARS = 200_000
"""Most bars of the synthetic sample one reference may ask for."""


def utc_iso(value: Any) -> str | None:
    """``value`` (ISO 8601 text; naive is UTC) as normalised UTC ISO text, or a validation
    error saying what is wrong; None stays None."""
    from tradpal.data.contract import to_utc_timestamp

    if value is None:
        return None
    if not isinstance(value, str):
        raise refusal(TradPalError("give an ISO 8601 time, e.g. 2024-01-31T12:00:00Z"))
    try:
        return to_utc_timestamp(value).isoformat()
    except TradPalError as exc:
        raise refusal(exc) from None


class DataRef(BaseModel):
    """Where a run's candles come from (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field("store", min_length=1, description="store, sample, a file or a spec")
    symbol: str | None = Field(None, min_length=1, max_length=64, examples=["BTC/USDT"])
    timeframe: TimeframeName = Field("1h", description="the bars' timeframe")
    start: str | None = Field(None, description="first bar open time, ISO 8601 (UTC if naive)")
    end: str | None = Field(None, description="exclusive; default: now, pinned when accepted")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="sample only: its seed")
    bars: int | None = Field(
        None, ge=1, le=MAX_SAMPLE_BARS, description="sample only: how many bars"
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso_time(cls, value: Any) -> Any:
        return utc_iso(value)

    @model_validator(mode="after")
    def _consistent(self) -> DataRef:
        if self.source == "store" and not self.symbol:
            raise field_refused(
                "symbol",
                TradPalError("reading the store needs a symbol", hint='e.g. "BTC/USDT"'),
                self.symbol,
            )
        for name in ("seed", "bars"):
            if self.source != "sample" and getattr(self, name) is not None:
                raise field_refused(
                    name,
                    TradPalError(
                        f"{name} is for the sample only, not source {self.source}",
                        hint=f"leave {name} out",
                    ),
                    getattr(self, name),
                )
        if self.source == "sample" and self.end is not None:
            from tradpal.data.sources.synthetic import SYNTHETIC_ORIGIN

            if pd.Timestamp(self.end) <= SYNTHETIC_ORIGIN:  # it read no bar, and said "empty"
                raise field_refused(
                    "end",
                    TradPalError(
                        f"the sample begins at {SYNTHETIC_ORIGIN.isoformat()}: it has no bars "
                        f"before end {self.end}",
                        hint="give an end after the sample's first bar, or leave it out "
                        "(up to now)",
                    ),
                    self.end,
                )
        start = None if self.start is None else pd.Timestamp(self.start)
        if start is not None and self.end is not None and pd.Timestamp(self.end) <= start:
            raise field_refused(
                "end", TradPalError(f"end {self.end} is not after start {self.start}"), self.end
            )
        if start is not None and self.end is None and start >= self.open_end():
            raise field_refused(
                "start",
                TradPalError(
                    f"start {self.start} is in the future (an open end reads the closed "
                    f"{self.timeframe} bars before {self.open_end().isoformat()})",
                    hint="give a start in the past; without end the run reads up to now",
                ),
                self.start,
            )
        return self

    def open_end(self, now: pd.Timestamp | None = None) -> pd.Timestamp:
        """The open time of the bar forming at ``now`` (default: the current time): an open
        ``end`` reads every closed bar before it."""
        tf = parse_timeframe(self.timeframe)
        t = pd.Timestamp.now(tz="UTC") if now is None else now
        return pd.Timestamp(int(tf.floor_ns(t.value)), tz="UTC")

    def pinned(self, now: pd.Timestamp | None = None) -> DataRef:
        """This reference with an open ``end`` set to :meth:`open_end`: every closed bar up
        to now, fixed for the run."""
        if self.end is not None:
            return self
        return self.model_copy(update={"end": self.open_end(now).isoformat()})

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, unset fields left out."""
        return self.model_dump(mode="json", exclude_none=True)
