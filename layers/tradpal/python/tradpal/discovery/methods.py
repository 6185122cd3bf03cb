"""How a discovery proposes candidates: grid, random, genetic, tpe, nsga2.

All of it is seeded and stateless: a generation's candidates depend only on the
request, the evaluated history and the generation number (the random generator is
``numpy.random.default_rng([seed, generation])``; optuna samplers get ``seed +
generation``), so the same inputs give the same candidates, bit for bit.

The genetic algorithm is TradPal's: tournament selection of size 3 (drawn with
replacement, the best score wins, ties to the first drawn), two-point crossover with
probability 0.8 on the genes in declaration order, mutation of each gene with
probability 0.2 (re-drawn within its range and step), elitism (the best ``elitism``
of a generation pass unchanged to the next, without being evaluated again); a child
that breaks a constraint has the genes named in the broken constraint re-drawn
until it holds (a fresh random point when that fails). Ranking uses the first
objective; NaN (not eligible) ranks below everything.

``tpe`` and ``nsga2`` use optuna's ``TPESampler`` and ``NSGAIISampler`` through
ask/tell: every generation the study is rebuilt in memory from the history
(``optuna.trial.create_trial`` + ``study.add_trial``; an ineligible candidate is a
failed trial), then ``population`` trials are asked for. Stepped float params are
searched as an index into their grid values, so every candidate lies on the grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tradpal.strategies import Param, ParamSpace

METHODS: tuple[str, ...] = ("grid", "random", "genetic", "tpe", "nsga2")
TOURNAMENT_SIZE = 3
CROSSOVER_P = 0.8
MUTATION_P = 0.2
_REPAIR_TRIES = 100


def rng_for(seed: int, generation: int) -> np.random.Generator:
    """The generator of ``generation``'s random choices (independent streams per generation)."""
    return np.random.default_rng([int(seed), int(generation)])


def _key(score: float | None) -> float:
    return -math.inf if score is None or math.isnan(score) else float(score)


def tournament(scores: Sequence[float | None], rng: np.random.Generator, k: int = 3) -> int:
    """The index of the best of ``k`` members drawn with replacement (ties: first drawn)."""
    drawn = rng.integers(len(scores), size=k)
    keys = [_key(scores[int(i)]) for i in drawn]
    return int(drawn[int(np.argmax(keys))])


def crossover(
    a: Mapping[str, Any], b: Mapping[str, Any], rng: np.random.Generator
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two-point crossover: the genes between two cut points (in declaration order)
    are swapped, so each child keeps at least its own first gene and takes at least
    one gene from the other parent (with two genes or more)."""
    names = list(a)
    c1, c2 = dict(a), dict(b)
    n = len(names)
    if n < 2:
        return c1, c2
    lo = int(rng.integers(1, n + 1))  # DEAP's cxTwoPoint: cuts in 1..n, slice [lo:hi)
    hi = int(rng.integers(1, n))
    if hi >= lo:
        hi += 1
    else:
        lo, hi = hi, lo
    for name in names[lo:hi]:
        c1[name], c2[name] = b[name], a[name]
    return c1, c2


def mutate(
    individual: Mapping[str, Any],
    space: ParamSpace,
    rng: np.random.Generator,
    p: float = MUTATION_P,
) -> dict[str, Any]:
    """Each gene re-drawn within its param's range and step with probability ``p``."""
    out = dict(individual)
    for param in space.params:
        if rng.random() < p:
            out[param.name] = param.draw(rng)
    return out


def repair(
    individual: Mapping[str, Any], space: ParamSpace, rng: np.random.Generator
) -> dict[str, Any]:
    """``individual`` with the genes of broken constraints re-drawn until every
    constraint holds; a fresh random point when that fails 100 times."""
    out = dict(individual)
    for _ in range(_REPAIR_TRIES):
        broken = next((c for c in space.constraints if not c.holds(out)), None)
        if broken is None:
            return out
        for name in broken.names():
            out[name] = space.param(name).draw(rng)
    while True:  # the defaults satisfy the constraints, so valid points exist
        point = {p.name: p.draw(rng) for p in space.params}
        if space.satisfies(point):
            return point


def offspring(
    parents: Sequence[Mapping[str, Any]],
    scores: Sequence[float | None],
    space: ParamSpace,
    n: int,
    rng: np.random.Generator,
    *,
    crossover_p: float = CROSSOVER_P,
    mutation_p: float = MUTATION_P,
    tournament_size: int = TOURNAMENT_SIZE,
) -> list[dict[str, Any]]:
    """``n`` children of ``parents``: tournament selection, crossover, mutation, repair."""
    children: list[dict[str, Any]] = []
    while len(children) < n:
        a = parents[tournament(scores, rng, tournament_size)]
        b = parents[tournament(scores, rng, tournament_size)]
        pair = crossover(a, b, rng) if rng.random() < crossover_p else (dict(a), dict(b))
        for child in pair:
            if len(children) < n:
                children.append(repair(mutate(child, space, rng, mutation_p), space, rng))
    return children


def elites(scores: Sequence[float | None], k: int) -> list[int]:
    """Indices of the ``k`` best scores, best first (ties: earlier first)."""
    order = sorted(range(len(scores)), key=lambda i: (-_key(scores[i]), i))
    return order[:k]


def initial_population(space: ParamSpace, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` random points (distinct when the space has that many)."""
    try:
        return space.sample(n, seed=seed)
    except Exception:  # a small space: repeats are allowed
        return space.sample(n, seed=seed, unique=False)


# -- optuna -----------------------------------------------------------------------------


def _distribution(p: Param) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if p.kind == "categorical":
        return CategoricalDistribution(list(p.choices or ()))
    assert p.low is not None and p.high is not None
    if p.kind == "int":
        step = int(p.step or 1)
        if p.log and step == 1:
            return IntDistribution(int(p.low), int(p.high), log=True)
        high = int(p.low) + (int(p.high) - int(p.low)) // step * step
        return IntDistribution(int(p.low), high, step=step)
    if p.step is None:
        return FloatDistribution(float(p.low), float(p.high), log=p.log)
    return IntDistribution(0, len(p.values()) - 1)  # an index into the grid values


def _to_internal(p: Param, v: Any) -> Any:
    if p.kind == "float" and p.step is not None:
        assert p.low is not None
        n = len(p.values())
        return min(max(round((float(v) - p.low) / p.step), 0), n - 1)
    return v


def _from_internal(p: Param, v: Any) -> Any:
    if p.kind == "float" and p.step is not None:
        return p.values()[int(v)]
    return p.cast(v)


def optuna_candidates(
    method: str,
    space: ParamSpace,
    history: Sequence[Mapping[str, Any]],
    n_objectives: int,
    n: int,
    *,
    seed: int,
    generation: int,
    population: int,
) -> list[dict[str, Any]]:
    """``n`` candidates from optuna's sampler (``"tpe"`` or ``"nsga2"``) given the
    evaluated ``history`` (entries with ``params``, ``values`` (None = not eligible)
    and ``generation``)."""
    import optuna
    from optuna.samplers import NSGAIISampler, TPESampler
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = seed + generation
    if method == "tpe":
        sampler: Any = TPESampler(seed=s)
    else:
        sampler = NSGAIISampler(seed=s, population_size=max(population, 2))
    gen_key = "NSGAIISampler:generation"
    study = optuna.create_study(directions=["maximize"] * n_objectives, sampler=sampler)
    dists = {p.name: _distribution(p) for p in space.params}
    for e in history:
        values = e.get("values")
        ok = values is not None and all(v is not None for v in values)
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE if ok else TrialState.FAIL,
                params={p.name: _to_internal(p, e["params"][p.name]) for p in space.params},
                distributions=dists,
                values=[float(v) for v in values] if ok else None,
                system_attrs={gen_key: int(e["generation"])},
            )
        )
    rng = rng_for(seed, generation)
    out = []
    for _ in range(n):
        trial = study.ask(dists)
        point = {p.name: _from_internal(p, trial.params[p.name]) for p in space.params}
        out.append(repair(point, space, rng))
    return out


__all__ = [
    "CROSSOVER_P",
    "METHODS",
    "MUTATION_P",
    "TOURNAMENT_SIZE",
    "crossover",
    "elites",
    "initial_population",
    "mutate",
    "offspring",
    "optuna_candidates",
    "repair",
    "rng_for",
    "tournament",
]
