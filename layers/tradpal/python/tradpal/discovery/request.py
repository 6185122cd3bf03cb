"""A discovery request and an evaluate batch, checked once when they are made.

:class:`DiscoveryRequest` is what ``tradpal discover``, ``POST /v1/discovery`` and the
state machine's plan task all start from: a strategy, a search method and its sizes, the
objectives, the data, backtest settings and the validation (holdout and walk-forward
folds). Unset fields take the defaults below; a field the library refuses is a validation
error naming it: an unknown strategy, method or objective, a size above its limit, more
than :data:`MAX_EVALUATIONS` evaluations, elitism that leaves no room for children, a grid
with more points than ``n_candidates``, or a size or seed field the method does not use
(refused rather than silently ignored; one left at its default is no choice, so a stored
request, which holds them all, checks again). :meth:`DiscoveryRequest.to_json` is the
request with every default filled in, as the search state keeps it.

:class:`EvaluateBatch` is one batch of candidates to score
(:func:`tradpal.discovery.evaluate`): the candidates and the search's settings, given at
the top level or in the batch's ``request`` (a key at the top level wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from tradpal.backtest.config import BacktestOverrides
from tradpal.data.reference import DataRef
from tradpal.errors import TradPalError
from tradpal.fields import field_refused, refusal, strategy_for
from tradpal.optimize.objectives import OBJECTIVES

# Limits of one search: what a serious search needs, and what keeps one request from
# planning more than the platform can hold. Every evaluation keeps a result of about 2 KB in
# the state, which each generation's reduce reads and rewrites whole (20 000 evaluations:
# about 40 MB of JSON) and final.json holds twice (history and ranking); optuna rebuilds its
# study from every evaluation each generation; a generation is one Distributed Map.
MAX_POPULATION = 1000
"""Candidates per generation at most (genetic, tpe, nsga2; random without n_candidates)."""
MAX_GENERATIONS = 500
"""Generations at most (genetic, tpe, nsga2)."""
MAX_EVALUATIONS = 20_000
"""Evaluations one search may plan at most: population x generations (genetic, tpe,
nsga2), n_candidates or population (random), the grid's points (grid)."""
DEFAULT_ELITISM = 2

MAX_WARMUP = 1_000_000
"""Warm-up bars of a fold at most."""
Method = Literal["grid", "random", "genetic", "tpe", "nsga2"]
Objective = Literal[tuple(OBJECTIVES)]  # type: ignore[valid-type]
"""An objective's name (an enum in the OpenAPI document)."""


def _integral(value: Any) -> Any:
    if type(value) is float and value.is_integer():  # JSON Schema's integer takes 2.0
        return int(value)
    return value


def _count(low: int, high: int) -> Any:
    """A strict int in ``[low, high]`` (no true, no "2") that takes an integral float, as
    JSON's integer does."""
    return Annotated[int, Field(strict=True, ge=low, le=high), BeforeValidator(_integral)]


Population = _count(2, MAX_POPULATION)
Generations = _count(1, MAX_GENERATIONS)
Seed = _count(0, 2**32 - 1)
MinTrades = _count(0, 1_000_000)
Elitism = _count(0, MAX_POPULATION - 1)
Candidates = _count(1, MAX_EVALUATIONS)
Folds = _count(1, 100)
Warmup = _count(0, MAX_WARMUP)
METHOD_FIELDS: Mapping[str, tuple[str, ...]] = {
    "grid": ("n_candidates",),
    "random": ("n_candidates", "population", "seed"),
    "genetic": ("population", "generations", "elitism", "seed"),
    "tpe": ("population", "generations", "seed"),
    "nsga2": ("population", "generations", "seed"),
}
"""The size and seed fields each method uses (random: n_candidates, else population)."""


class Validation(BaseModel):
    """How candidates are scored out of sample: the last ``holdout`` fraction of the bars is
    never searched; the rest is cut into ``folds`` walk-forward windows; each fold's strategy
    warms up on the ``warmup`` bars before it (default one fold length; null: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    holdout: float = Field(0.25, ge=0, lt=1, description="fraction of the bars kept out")
    folds: Folds = Field(4, description="walk-forward folds of the search span")
    warmup: Warmup | None = Field(
        default=None, description="bars a fold warms up on; unset: one fold; null: all before it"
    )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON; ``warmup`` only when it was given (unset and null differ)."""
        return self.model_dump(mode="json", exclude={"warmup"} if "warmup" not in
                               self.model_fields_set else set())  # fmt: skip


class DiscoveryRequest(BaseModel):
    """A discovery (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    strategy: str = Field(min_length=1, max_length=256, examples=["ema_crossover", "confluence"])
    method: Method = "genetic"
    objectives: list[Objective] = Field(
        default_factory=lambda: ["sharpe"], min_length=1, max_length=len(OBJECTIVES),
        json_schema_extra={"uniqueItems": True},
        description='higher-better, each once, e.g. ["sharpe", "calmar"]; several give a '
        "Pareto front",
    )  # fmt: skip
    population: Population = Field(50, description="per generation")
    generations: Generations = Field(
        20,
        description=f"population x generations: at most {MAX_EVALUATIONS} evaluations",
    )  # fmt: skip
    seed: Seed = Field(0)
    min_trades: MinTrades = Field(10, description="fewer trades: not eligible")
    elitism: Elitism | None = Field(
        None,
        description=f"genetic: elites carried over; default min({DEFAULT_ELITISM}, population - 1)",
    )  # fmt: skip
    n_candidates: Candidates | None = Field(
        None, description="grid (its most points) or random: how many"
    )
    risk: bool = Field(True, strict=True, description="also search stop, target and sizing")
    data: DataRef = Field(default_factory=lambda: DataRef(source="sample"))
    config: BacktestOverrides = Field(
        default_factory=BacktestOverrides, description="backtest settings over the defaults"
    )
    validation: Validation = Field(default_factory=Validation)

    @field_validator("objectives")
    @classmethod
    def _known_objectives(cls, value: list[str]) -> list[str]:
        from tradpal.optimize.objectives import check_objectives

        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise refusal(
                TradPalError(f"objectives name {', '.join(twice)} twice", hint="give each once")
            )
        try:
            return check_objectives(value)
        except TradPalError as exc:
            raise refusal(exc) from None

    @model_validator(mode="after")
    def _library_accepts(self) -> DiscoveryRequest:
        from tradpal.backtest.strategy_run import config_for
        from tradpal.discovery.search_space import SearchSpace

        used = METHOD_FIELDS[self.method]
        for key in ("n_candidates", "population", "generations", "elitism", "seed"):
            # a field left at its default says nothing (a stored request holds them all)
            value = getattr(self, key)
            default = (
                self._default_elitism()
                if key == "elitism"
                else type(self).model_fields[key].default
            )
            if value is None or value == default:
                continue
            if key not in used:
                users = ", ".join(m for m, keys in METHOD_FIELDS.items() if key in keys)
                reason = f"method {self.method} does not use {key} (used by: {users})"
            elif self.method == "random" and key == "population" and self.n_candidates:
                reason = "method random draws n_candidates points; population is ignored"
            else:
                continue
            hint = f"leave {key} out, or change the method"
            raise field_refused(key, TradPalError(reason, hint=hint), getattr(self, key))
        if self.method in ("genetic", "tpe", "nsga2"):
            n = self.population * self.generations
            if n > MAX_EVALUATIONS:
                raise field_refused(
                    "generations",
                    TradPalError(
                        f"population {self.population} x generations {self.generations} = "
                        f"{n} evaluations, above the limit of {MAX_EVALUATIONS} per discovery",
                        hint=f"keep population x generations <= {MAX_EVALUATIONS}, e.g. "
                        f"population {self.population} with at most "
                        f"{max(1, MAX_EVALUATIONS // self.population)} generations",
                    ),
                    self.generations,
                )
        if self.elitism is not None and self.elitism >= self.population:
            raise field_refused(
                "elitism",
                TradPalError(
                    f"elitism {self.elitism} must be below the population {self.population}",
                    hint="elites take places in the population; leave room for children",
                ),
                self.elitism,
            )
        try:  # what each evaluation makes of it (tradpal.discovery.evaluate)
            config_for(None, **self.config.overrides())
        except TradPalError as exc:
            raise field_refused("config", exc, self.config.overrides()) from None
        try:
            # an @TF filter the data's bars cannot make is refused now, not in every batch
            strategy_for(self.strategy, self.data.timeframe)
            space = SearchSpace.for_strategy(self.strategy, risk=self.risk)
        except TradPalError as exc:
            raise field_refused("strategy", exc, self.strategy) from None
        if self.method == "grid":  # refused now, not when the run plans it
            from tradpal.discovery.state import grid_points

            try:
                grid_points(space, self.n_candidates)
            except TradPalError as exc:
                raise field_refused("n_candidates", exc, self.n_candidates) from None
        return self

    def _default_elitism(self) -> int:
        return min(DEFAULT_ELITISM, self.population - 1)

    @property
    def effective_elitism(self) -> int:
        """Elites carried over: as given, else ``min(2, population - 1)``."""
        return self._default_elitism() if self.elitism is None else self.elitism

    def to_json(self) -> dict[str, Any]:
        """The request with every default filled in, as plain JSON (the search state's)."""
        out = self.model_dump(mode="json", exclude={"data", "validation", "config"})
        out["config"] = self.config.overrides()
        out["elitism"] = self.effective_elitism
        out["data"] = self.data.to_json()
        out["validation"] = self.validation.to_json()
        return out


class Candidate(BaseModel):
    """One parameter set to score: its stable id (``g3-17``) and params."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    params: dict[str, Any]


_SETTINGS = ("strategy", "data", "config", "validation", "objectives", "min_trades", "risk")


class EvaluateBatch(BaseModel):
    """Candidates of one search to score, with the search's settings (module docstring)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    batch_id: str | None = None
    generation: int | None = Field(None, ge=0)
    candidates: list[Candidate] = Field(default_factory=list)
    strategy: str = Field(min_length=1)
    data: DataRef | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    validation: Validation = Field(default_factory=Validation)
    objectives: list[str] = Field(default_factory=lambda: ["sharpe"], min_length=1)
    min_trades: int = Field(0, ge=0)
    risk: bool = True

    @model_validator(mode="before")
    @classmethod
    def _settings_from_request(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        request = value.get("request")
        merged = {k: v for k, v in value.items() if k != "request"}
        if isinstance(request, Mapping):
            for key in _SETTINGS:
                if key not in merged and key in request:
                    merged[key] = request[key]
        return merged
