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

from tradpal.data.reference import DataRef
from tradpal.discovery.request import DiscoveryRequest
from tradpal.errors import TradPalError
from tradpal.fields import field_refused, refuse_strategy_files, strategy_for


class PlatformDataRef(DataRef):
    """A data reference of a run on the platform: the store (default) or the sample."""

    source: Literal["store", "sample"] = Field(
        "store", description="store: the platform's market data; sample: the seeded sample"
    )


class BacktestRequest(BaseModel):
    """A backtest to run: a strategy with params over the data, with backtest settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    strategy: str = Field(
        min_length=1, max_length=256, examples=["ema_crossover", "regime@4h", "confluence+atr"]
    )
    params: dict[str, Any] = Field(default_factory=dict, description="over the defaults")
    data: PlatformDataRef
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="BacktestConfig overrides: capital, fees, slippage, fill, sizing, "
        'stop_loss, take_profit, trailing_stop, time_stop_bars, max_leverage...; "none" '
        "turns an optional rule off",
    )

    @model_validator(mode="after")
    def _library_accepts(self) -> BacktestRequest:
        from tradpal.backtest.strategy_run import config_for

        try:
            strategy = strategy_for(self.strategy, self.data.timeframe, allow_paths=False)
        except TradPalError as exc:
            raise field_refused("strategy", exc, self.strategy) from None
        unknown = sorted(set(self.params) - set(strategy.space.names))
        if unknown:
            raise field_refused(
                "params",
                TradPalError(
                    f"unknown param(s) {', '.join(unknown)} for {strategy.name}",
                    hint=f"{strategy.name} takes: {', '.join(strategy.space.names)}",
                ),
                self.params,
            )
        defaults = strategy.defaults_for(self.data.timeframe)
        try:
            strategy.space.validate({**defaults, **self.params})
        except TradPalError as exc:
            raise field_refused("params", exc, self.params) from None
        for name, value in self.config.items():
            if value is None:  # config_for skips None (an unset CLI flag): never a silent default
                raise field_refused(
                    ("config", name),
                    TradPalError(
                        f"{name} is null; give a value, or leave the field out for the default",
                        hint="to turn an optional setting off (stop_loss, take_profit, "
                        'trailing_stop, time_stop_bars...) give "none"',
                    ),
                    value,
                )
        try:
            config_for(self.data.timeframe, **self.config)
        except TradPalError as exc:
            raise field_refused("config", exc, self.config) from None
        return self

    def pinned(self) -> BacktestRequest:
        """The request with an open data end pinned to now (:meth:`DataRef.pinned`)."""
        return self.model_copy(update={"data": self.data.pinned()})

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, unset data fields left out (what the run's execution gets)."""
        out = self.model_dump(mode="json")
        out["data"] = self.data.to_json()
        return out


class DiscoveryRunRequest(DiscoveryRequest):
    """A discovery on the platform: a strategy by name (no files), its data the store or the
    sample."""

    data: PlatformDataRef = Field(description="the candles searched (store or sample)")

    @field_validator("strategy")
    @classmethod
    def _a_name(cls, value: str) -> str:
        return refuse_strategy_files(value)
