"""Parameter spaces: what a strategy can be tuned over, declared beside it.

A :class:`ParamSpace` is a tuple of :class:`Param` (name, kind, range or
choices, default) and :class:`Constraint` between them ("fast < slow"). It
validates user parameters (filling defaults, casting text such as ``"9"`` from
the command line), enumerates a grid, draws a seeded random sample and travels
as plain JSON (:meth:`ParamSpace.to_dict` / :meth:`ParamSpace.from_dict`), so
discovery can ship it to workers.

Conventions:

* ``int`` and ``float`` params take any value in ``[low, high]``; ``step`` is
  the spacing of the grid and of random draws (``low, low + step, ...`` up to
  ``high``), not a restriction on what a user may pass. ``int`` params default
  to step 1; ``float`` params need a step for :meth:`ParamSpace.grid` and are
  drawn continuously by :meth:`ParamSpace.sample` without one.
* ``log=True`` draws log-uniformly in :meth:`ParamSpace.sample` (``low > 0``);
  the grid is always arithmetic.
* Grid order is deterministic: the cartesian product in declaration order, the
  last parameter varying fastest, filtered by the constraints.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tradpal.errors import StrategyError, shown

Kind = Literal["int", "float", "categorical"]
Scalar = int | float | str | bool

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
# Float grid values are rounded to this many decimals so 0.1 + 0.2 prints as 0.3.
_GRID_DECIMALS = 12


@dataclass(frozen=True)
class Param:
    """One tunable parameter.

    ``kind`` is ``"int"``, ``"float"`` or ``"categorical"``. Numeric params
    need ``low <= default <= high``; categorical ones need ``choices`` holding
    the default. ``description`` says what it means, with units.
    """

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Scalar, ...] | None = None
    default: Scalar | None = None
    log: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        where = f"param {self.name!r}"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise StrategyError(f"param name {self.name!r} is not an identifier")
        if self.kind not in ("int", "float", "categorical"):
            raise StrategyError(f"{where}: kind {self.kind!r} is not int, float or categorical")
        if self.kind == "categorical":
            if not self.choices:
                raise StrategyError(f"{where}: a categorical param needs choices")
            object.__setattr__(self, "choices", tuple(self.choices))
            if len(set(self.choices)) != len(self.choices):
                raise StrategyError(f"{where}: choices repeat a value")
            default = self.choices[0] if self.default is None else self.default
            if default not in self.choices:
                raise StrategyError(f"{where}: default {default!r} is not one of {self.choices}")
            object.__setattr__(self, "default", default)
            return
        if self.low is None or self.high is None:
            raise StrategyError(f"{where}: a numeric param needs low and high")
        num = int if self.kind == "int" else float
        for attr in ("low", "high", "step"):
            v = getattr(self, attr)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise StrategyError(f"{where}: {attr} {v!r} is not a finite number")
            if num is int and v != int(v):
                raise StrategyError(f"{where}: {attr} {v!r} is not a whole number")
            object.__setattr__(self, attr, num(v))
        if self.low > self.high:
            raise StrategyError(f"{where}: low {self.low} is above high {self.high}")
        if self.step is not None and self.step <= 0:
            raise StrategyError(f"{where}: step {self.step} must be positive")
        if self.log and self.low <= 0:
            raise StrategyError(f"{where}: log scale needs low > 0, not {self.low}")
        default = self.low if self.default is None else self.default
        object.__setattr__(self, "default", self.cast(default))

    def cast(self, value: Any) -> Scalar:
        """``value`` as this param's type and in its range, else :class:`StrategyError`.

        Text is parsed (``"9"`` for an int, ``"0.5"`` for a float, a choice's
        text for a categorical) so command-line values work as given.
        """
        where = f"param {self.name!r}"
        if isinstance(value, np.generic):  # numpy scalars from grids and arrays
            value = value.item()
        if self.kind == "categorical":
            assert self.choices is not None
            for c in self.choices:
                if c == value and isinstance(c, bool) == isinstance(value, bool):
                    return c
            for c in self.choices:
                if str(c).lower() == str(value).strip().lower():
                    return c
            raise StrategyError(
                f"{where} is {shown(value)}, not one of {', '.join(map(str, self.choices))}",
                hint=f"choose one of {', '.join(map(str, self.choices))}",
            )
        x = _number(value, where, f"give a number from {self.low} to {self.high}")
        if self.kind == "int":
            if x != math.floor(x):
                raise StrategyError(
                    f"{where} is {shown(value)}, not a whole number",
                    hint=f"give an integer from {self.low} to {self.high}",
                )
            x = int(x)
        if not self.low <= x <= self.high:
            raise StrategyError(
                f"{where} is {shown(value)}, outside its range {self.low} to {self.high}",
                hint=f"give a value from {self.low} to {self.high}",
            )
        return x

    def values(self) -> list[Scalar]:
        """The grid values: the choices, or ``low, low + step, ...`` up to ``high``."""
        if self.kind == "categorical":
            assert self.choices is not None
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise StrategyError(
                f"float param {self.name!r} has no step, so it has no grid",
                hint="give the param a step, or draw random points with sample()",
            )
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + i * self.step, _GRID_DECIMALS) for i in range(count)]

    def draw(self, rng: np.random.Generator) -> Scalar:
        """One random value: uniform over the choices or the step grid; continuous
        (log-uniform when ``log``) for a float without a step."""
        if self.kind == "categorical" or (self.step is not None and not self.log):
            vals = self.values()
            return vals[int(rng.integers(len(vals)))]
        assert self.low is not None and self.high is not None
        if self.log:
            u = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        elif self.kind == "int":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        else:
            u = float(rng.uniform(self.low, self.high))
        if self.kind == "int" or self.step is not None:
            step = self.step or 1
            k = round((u - self.low) / step)
            u = min(self.low + k * step, self.high)
            return int(u) if self.kind == "int" else round(u, _GRID_DECIMALS)
        return u

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (None fields left out)."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        for attr in ("low", "high", "step", "default"):
            if getattr(self, attr) is not None:
                out[attr] = getattr(self, attr)
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.log:
            out["log"] = True
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Param:
        if not isinstance(d, Mapping) or "name" not in d or "kind" not in d:
            raise StrategyError(f"a param needs at least a name and a kind, got {d!r}")
        known = {"name", "kind", "low", "high", "step", "choices", "default", "log", "description"}
        extra = set(d) - known
        if extra:
            raise StrategyError(f"param {d['name']!r} has unknown field(s) {sorted(extra)}")
        kw = dict(d)
        if kw.get("choices") is not None:
            kw["choices"] = tuple(kw["choices"])
        return cls(**kw)


def _number(value: Any, where: str, hint: str) -> float:
    if isinstance(value, bool):
        raise StrategyError(f"{where} is {shown(value)}, not a number", hint=hint)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise StrategyError(f"{where} is {shown(value)}, not a number", hint=hint) from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise StrategyError(f"{where} is {shown(value)}, not a finite number", hint=hint)
    return value


@dataclass(frozen=True)
class Constraint:
    """``left op right``: ``left`` a param name, ``op`` one of ``< <= > >=``,
    ``right`` another param's name or a number (``Constraint("fast", "<", "slow")``)."""

    left: str
    op: str
    right: str | float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise StrategyError(f"constraint operator {self.op!r} is not one of < <= > >=")
        if isinstance(self.right, bool) or not isinstance(self.right, str | int | float):
            raise StrategyError(f"constraint right side {self.right!r} is not a name or number")

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """``"fast < slow"`` or ``"k >= 1.5"`` as a Constraint."""
        parts = str(text).split()
        if len(parts) != 3 or parts[1] not in _OPS:
            raise StrategyError(
                f"constraint {text!r} is not 'name op name-or-number'",
                hint="write it like 'fast < slow' (spaces around one of < <= > >=)",
            )
        left, op, right = parts
        try:
            num: str | float = float(right)
        except ValueError:
            num = right
        return cls(left, op, num)

    def names(self) -> tuple[str, ...]:
        return (self.left, self.right) if isinstance(self.right, str) else (self.left,)

    def holds(self, params: Mapping[str, Any]) -> bool:
        """Whether the constraint holds for ``params`` (which must name its params)."""
        right = params[self.right] if isinstance(self.right, str) else self.right
        return bool(_OPS[self.op](params[self.left], right))

    def __str__(self) -> str:
        right = self.right if isinstance(self.right, str) else f"{self.right:g}"
        return f"{self.left} {self.op} {right}"


@dataclass(frozen=True)
class ParamSpace:
    """The params of a strategy and the constraints between them (module docstring)."""

    params: tuple[Param, ...] = ()
    constraints: tuple[Constraint, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        cons = tuple(Constraint.parse(c) if isinstance(c, str) else c for c in self.constraints)
        object.__setattr__(self, "constraints", cons)
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise StrategyError(f"param {dup!r} is declared twice")
        for c in cons:
            for n in c.names():
                if n not in names:
                    raise StrategyError(
                        f"constraint '{c}' names {n!r}, which is not a param",
                        hint=f"params: {', '.join(names) or 'none'}",
                    )
                if self.param(n).kind == "categorical":
                    raise StrategyError(f"constraint '{c}' compares categorical param {n!r}")
        broken = self._broken(self.defaults())
        if broken is not None:
            raise StrategyError(f"the defaults break the constraint '{broken}'")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def param(self, name: str) -> Param:
        """The param called ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        raise StrategyError(f"no param {name!r}", hint=f"params: {', '.join(self.names) or 'none'}")

    def defaults(self) -> dict[str, Any]:
        """Every param's default, in declaration order."""
        return {p.name: p.default for p in self.params}

    def validate(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``params`` checked, cast and completed with defaults, in declaration order.

        Raises :class:`StrategyError` naming an unknown param (and the known
        ones), a value of the wrong type or outside its range (and the range),
        or a broken constraint (and the values that break it).
        """
        params = dict(params or {})
        unknown = [k for k in params if k not in self.names]
        if unknown:
            raise StrategyError(
                f"unknown param(s) {', '.join(map(repr, unknown))}",
                hint=f"this strategy takes: {', '.join(self.names) or 'no params'}",
            )
        out = {
            p.name: p.cast(params[p.name]) if p.name in params else p.default for p in self.params
        }
        broken = self._broken(out)
        if broken is not None:
            values = ", ".join(f"{n}={out[n]}" for n in broken.names())
            raise StrategyError(
                f"params break the constraint '{broken}' ({values})",
                hint=f"choose values with {broken}",
            )
        return out

    def satisfies(self, params: Mapping[str, Any]) -> bool:
        """Whether complete ``params`` meet every constraint."""
        return self._broken(params) is None

    def _broken(self, params: Mapping[str, Any]) -> Constraint | None:
        return next((c for c in self.constraints if not c.holds(params)), None)

    def _points(self) -> Iterator[dict[str, Any]]:
        names = self.names
        for combo in itertools.product(*(p.values() for p in self.params)):
            point = dict(zip(names, combo, strict=True))
            if self._broken(point) is None:
                yield point

    def grid(self, *, max_points: int | None = None) -> list[dict[str, Any]]:
        """Every grid point that meets the constraints (order: module docstring).

        With ``max_points``, a grid larger than that raises :class:`StrategyError`
        instead of being cut (a cut grid would silently favour the first params).
        """
        out: list[dict[str, Any]] = []
        for point in self._points():
            out.append(point)
            if max_points is not None and len(out) > max_points:
                raise StrategyError(
                    f"the grid has more than {max_points} points",
                    hint="use coarser steps or narrower ranges, or draw points with sample()",
                )
        return out

    def grid_size(self) -> int:
        """The number of points :meth:`grid` returns."""
        return sum(1 for _ in self._points())

    def sample(self, n: int, *, seed: int, unique: bool = True) -> list[dict[str, Any]]:
        """``n`` random points meeting the constraints, the same for the same seed.

        Each param is drawn independently (:meth:`Param.draw`); points breaking a
        constraint are drawn again. With ``unique`` (default) no point repeats;
        when the space cannot give ``n`` distinct points, :class:`StrategyError`.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise StrategyError(f"sample size {n!r} is not a non-negative integer")
        rng = np.random.default_rng(seed)
        out: list[dict[str, Any]] = []
        seen: set[tuple[Any, ...]] = set()
        attempts = 0
        limit = 1000 + 200 * n
        while len(out) < n:
            attempts += 1
            if attempts > limit:
                raise StrategyError(
                    f"found only {len(out)} {'distinct ' if unique else ''}points meeting the "
                    f"constraints in {limit} draws, {n} were asked for",
                    hint="ask for fewer points, widen the ranges, or use grid()",
                )
            point = {p.name: p.draw(rng) for p in self.params}
            if self._broken(point) is not None:
                continue
            key = tuple(point.values())
            if unique and key in seen:
                continue
            seen.add(key)
            out.append(point)
        return out

    def with_defaults(self, defaults: Mapping[str, Any]) -> ParamSpace:
        """This space with some defaults replaced (validated like params)."""
        new = self.validate({**self.defaults(), **defaults})
        params = tuple(Param(**{**p.__dict__, "default": new[p.name]}) for p in self.params)
        return ParamSpace(params, self.constraints)

    def merge(self, other: ParamSpace) -> ParamSpace:
        """The params and constraints of both spaces (names must not clash)."""
        return ParamSpace(self.params + other.params, self.constraints + other.constraints)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``{"params": [...], "constraints": ["fast < slow", ...]}``."""
        return {
            "params": [p.to_dict() for p in self.params],
            "constraints": [str(c) for c in self.constraints],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParamSpace:
        """The space :meth:`to_dict` wrote (constraints as text or as
        ``{"left", "op", "right"}`` objects)."""
        if not isinstance(d, Mapping) or not isinstance(d.get("params", []), list):
            raise StrategyError(
                "a param space is an object with a 'params' list",
                hint='write it like {"params": [{"name": "fast", "kind": "int", ...}]}',
            )
        cons = []
        for c in d.get("constraints", []):
            cons.append(Constraint(**c) if isinstance(c, Mapping) else Constraint.parse(c))
        return cls(tuple(Param.from_dict(p) for p in d.get("params", [])), tuple(cons))


__all__ = ["Constraint", "Param", "ParamSpace"]
