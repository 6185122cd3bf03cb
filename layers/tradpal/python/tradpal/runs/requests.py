"""The requests a run starts from, checked once: what the API accepts, what the state
machine's tasks read back, and what a run record stores.

A backtest request (:class:`BacktestRequest`) and a discovery request
(:class:`~tradpal.discovery.request.DiscoveryRequest`, the library's own, which the command
line's ``tradpal discover`` makes too) are checked when they are made: a field the library
refuses is a validation error naming it (the API answers 422). The platform reads data from
its store or the sample only (:class:`PlatformDataRef`), and pins an open end when it
accepts a run, so that every task reads the same bars.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradpal.backtest.config import BacktestOverrides
from tradpal.data.reference import DataRef, utc_iso
from tradpal.discovery.request import DiscoveryRequest
from tradpal.errors import TradPalError
from tradpal.fields import check_params, field_refused, refuse_strategy_files, strategy_for
from tradpal.platform.api_fields import Params, StrategyName, Symbol, TimeText, check_time_text


def _store_or_sample(schema: dict[str, Any]) -> None:
    # The rules between fields that the model checks, stated in the schema: reading the
    # store needs a symbol, and seed and bars are the sample's only.
    schema["anyOf"] = [
        {"properties": {"source": {"const": "sample"}}, "required": ["source"]},
        {
            "properties": {"symbol": {"type": "string"}, "seed": {"type": "null"},
                           "bars": {"type": "null"}},
            "required": ["symbol"],
        },
    ]  # fmt: skip


class PlatformDataRef(DataRef):
    """A data reference of a run on the platform: the store (default, which needs a
    ``symbol``) or the seeded sample (which alone takes ``seed`` and ``bars``); ``start``
    and ``end`` ISO 8601 in the years 1678 to 2261, ``end`` after ``start``."""

    model_config = ConfigDict(json_schema_extra=_store_or_sample)
    source: Literal["store", "sample"] = Field(
        "store", description="store: the platform's market data; sample: the seeded sample"
    )
    symbol: Symbol | None = Field(None, description="the market; the store needs one")
    start: TimeText | None = Field(None, description="first bar open time (inclusive)")
    end: TimeText | None = Field(
        None,
        description="exclusive, after start (and, for the sample, after its first bar, "
        "2018-01-01T00:00:00Z); default: now, pinned when the run starts",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso_time(cls, value: Any) -> Any:
        return utc_iso(None if value is None else check_time_text(value))


class BacktestRequest(BaseModel):
    """A backtest to run: a strategy with params over the data, with backtest settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    strategy: StrategyName
    params: Params = Field(default_factory=dict)
    data: PlatformDataRef
    config: BacktestOverrides = Field(
        default_factory=BacktestOverrides,
        description="backtest settings over the defaults (and the per-timeframe stops and "
        "leverage)",
    )

    @model_validator(mode="after")
    def _library_accepts(self) -> BacktestRequest:
        from tradpal.backtest.strategy_run import config_for

        try:
            strategy = strategy_for(self.strategy, self.data.timeframe, allow_paths=False)
        except TradPalError as exc:
            raise field_refused("strategy", exc, self.strategy) from None
        check_params(strategy, self.params, self.data.timeframe)
        try:
            config_for(self.data.timeframe, **self.config.overrides())
        except TradPalError as exc:
            raise field_refused("config", exc, self.config.overrides()) from None
        return self

    def pinned(self) -> BacktestRequest:
        """The request with an open data end pinned to now (:meth:`DataRef.pinned`)."""
        return self.model_copy(update={"data": self.data.pinned()})

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, unset data fields left out (what the run's execution gets)."""
        out = self.model_dump(mode="json")
        out["data"] = self.data.to_json()
        out["config"] = self.config.overrides()
        return out


def _atr_stops_are_not_searched(schema: dict[str, Any]) -> None:
    # A strategy with +atr has its stops already: the risk search would search them twice.
    schema["if"] = {"properties": {"strategy": {"pattern": r"\+atr"}}, "required": ["strategy"]}
    schema["then"] = {"properties": {"risk": {"const": False}}, "required": ["risk"]}


class DiscoveryRunRequest(DiscoveryRequest):
    """A discovery on the platform: a strategy by name (no files), its data the store or the
    sample; a strategy with ``+atr`` stops is searched with ``risk`` false (the risk search
    would search its stops again)."""

    model_config = ConfigDict(json_schema_extra=_atr_stops_are_not_searched)
    strategy: StrategyName
    data: PlatformDataRef = Field(description="the candles searched (store or sample)")

    @field_validator("strategy")
    @classmethod
    def _a_name(cls, value: str) -> str:
        return refuse_strategy_files(value)
