"""Strategies of your own: a Python file with a decorated function, used by reference.

A strategy is a pure function from the prices and the params to signals, with its
parameter space, per-timeframe defaults and indicator lines declared beside it::

    import numpy as np
    from tradpal.strategies import Param, Signals, lines, onset, strategy

    @strategy(
        name="trend_rsi",
        params=[
            Param("trend", "int", 20, 300, 10, default=100, description="trend EMA, bars"),
            Param("rsi_period", "int", 2, 50, default=14, description="RSI period, bars"),
            Param("oversold", "float", 5, 50, 5, default=30, description="RSI level, 0-100"),
        ],
        constraints=["rsi_period < trend"],
        timeframe_defaults={"1h": {"trend": 200}, "1d": {"trend": 50}},
        indicators={
            "trend_ema": lambda prices, p: lines.ema(prices.close, p["trend"]),
            "rsi": lambda prices, p: lines.rsi(prices.close, p["rsi_period"]),
        },
    )
    def trend_rsi(prices, params, ind):
        \"\"\"Buy RSI dips above the trend EMA; sell when RSI recovers to 50.\"\"\"
        with np.errstate(invalid="ignore"):  # NaN (warm-up) compares False: no signal
            up = prices.close > ind["trend_ema"]
            entry = onset(up & (ind["rsi"] <= params["oversold"]))
            exit_ = ind["rsi"] >= 50
        no = np.zeros(len(prices), bool)
        return Signals(long_entry=entry, long_exit=exit_, short_entry=no, short_exit=no)

Then ``tradpal backtest --strategy ./my.py:trend_rsi`` (or ``trend_rsi`` alone when
its folder is in the ``strategy_dirs`` setting; ``@4h`` and ``+atr`` wrap it as they
wrap the built-ins). ``tradpal strategy new NAME`` writes a commented template.

Conventions (the same as the built-ins', :mod:`tradpal.strategies.base`):

* ``prices`` is a :class:`~tradpal.strategies.base.Prices`: ``open high low close
  volume`` as read-only float64 numpy arrays, one value per bar, oldest first (bars
  labelled by open time, UTC); ``prices.index`` the bar times, ``prices.frame`` the
  OHLCV DataFrame, ``len(prices)`` the number of bars. The signal at bar t may use
  the data up to the close of bar t only: ``tradpal check lookahead`` proves it;
* ``params`` is a read-only mapping of every declared param, validated and cast
  (ints are ``int``), given values over the timeframe's defaults over each param's
  own default;
* the function returns :class:`~tradpal.strategies.signals.Signals` (four bool
  arrays, optional stop and target prices and a confidence in [0, 1]), or a tuple
  of Signals and a dict of indicator lines to draw in reports (arrays, one value
  per bar). It must give one value per bar of ``prices``: False or NaN during a
  warm-up, never a shorter array;
* ``indicators`` (optional) maps a label to ``f(prices, params) -> array``; they are
  computed before the function, which then takes a third argument with them, and
  drawn in reports. Use :mod:`tradpal.strategies.lines` (NaN instead of an error on
  data shorter than a period; shared across a sweep's parameter sets) or
  :mod:`tradpal.indicators`;
* ``timeframe_defaults`` maps a timeframe to default param values on data of that
  timeframe; other timeframes take the nearest listed one at or below them, and
  timeframes finer than every listed one the params' own defaults.
  ``timeframe_params`` (``{"fast": "ema_fast"}``) follows TradPal's own table
  (:mod:`tradpal.strategies.defaults`) instead; ``timeframe_defaults`` wins over it;
* ``warmup``: the bars of history the strategy needs before its first signal
  (an int, or ``f(params) -> int``), for callers that load only recent data (the
  stream's signals); default 5 x the longest integer param
  (:data:`~tradpal.strategies.base.WARMUP_SETTLE`).

Loading (:func:`load_file`): the file is imported under a unique module name (its
folder is on ``sys.path`` while it loads, so helpers beside it can be imported) and
kept until it changes on disk. Every problem is a :class:`~tradpal.errors.StrategyError`
naming the file, the line where there is one and what to fix: a syntax error, an
import that fails, a file without strategies or without the one asked for, a bad
declaration, the function raising, a result of the wrong type or length. A strategy
may not take a built-in's name. In the ``strategy_dirs`` folders
(:func:`dir_strategies`) every ``*.py`` file not starting with ``_`` is loaded and
two files declaring one name is an error naming both.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import linecache
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from tradpal.errors import StrategyError, TradPalError
from tradpal.strategies.base import (
    WARMUP_SETTLE,
    DeclaredStrategy,
    Prices,
    longest_period,
    prices_of,
)
from tradpal.strategies.defaults import TimeframeDefaults, timeframe_defaults
from tradpal.strategies.reference import NAME_PATTERN
from tradpal.strategies.signals import Signals
from tradpal.strategies.space import Constraint, Param, ParamSpace
from tradpal.timeframes import Timeframe, parse_timeframe

IndicatorFunc = Callable[[Prices, Mapping[str, Any]], Any]
Warmup = int | Callable[[Mapping[str, Any]], int]

_NEW_HINT = "tradpal strategy new NAME writes a commented template to start from"
_RESULT_HINT = (
    "return Signals(long_entry=..., long_exit=..., short_entry=..., short_exit=...) with "
    "one value per bar (from tradpal.strategies import Signals), or a tuple of Signals and "
    "a dict of indicator lines"
)

# While a file loads, the strategies its decorators declare are collected here.
_declared: ContextVar[list[UserStrategy] | None] = ContextVar("tradpal_declared", default=None)


@dataclass(frozen=True)
class UserStrategy(DeclaredStrategy):
    """A strategy of your own (module docstring), made by :func:`strategy`.

    Beyond :class:`~tradpal.strategies.base.DeclaredStrategy`: ``source_file`` and
    ``source_line`` (where it was declared; None and 0 outside a file),
    ``timeframe_table`` (its own per-timeframe defaults, by timeframe name) and
    ``warmup`` (bars of history it needs, an int or ``f(params)``; None: the rule of
    :meth:`warmup_bars`).
    """

    source_file: Path | None = None
    source_line: int = 0
    timeframe_table: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    warmup: Warmup | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        fields = TimeframeDefaults.__dataclass_fields__
        wrong = {p: f for p, f in self.timeframe_params.items() if f not in fields}
        if wrong:
            raise StrategyError(
                f"timeframe_params {wrong} name(s) no column of TradPal's per-timeframe table",
                hint=f"the columns are: {', '.join(fields)}",
            )
        table: dict[str, Mapping[str, Any]] = {}
        for tf, row in dict(self.timeframe_table).items():
            name = parse_timeframe(tf).name
            if not isinstance(row, Mapping):
                raise StrategyError(
                    f"timeframe_defaults[{tf!r}] is a {type(row).__name__}, not a mapping",
                    hint='write it like {"1h": {"period": 20}, "1d": {"period": 50}}',
                )
            unknown = [k for k in row if k not in self.space]
            if unknown:
                raise StrategyError(
                    f"timeframe_defaults[{tf!r}] names unknown param(s) "
                    f"{', '.join(map(repr, unknown))}",
                    hint=f"the params are: {', '.join(self.space.names) or 'none'}",
                )
            table[name] = MappingProxyType(dict(row))
        ordered = sorted(table, key=lambda n: parse_timeframe(n).seconds)
        ordered_table = MappingProxyType({n: table[n] for n in ordered})
        object.__setattr__(self, "timeframe_table", ordered_table)
        for name in ordered:  # every listed row must give valid, consistent params
            try:
                self.defaults_for(name)
            except StrategyError as exc:
                raise StrategyError(
                    f"timeframe_defaults[{name!r}]: {exc.message}", hint=exc.hint
                ) from None
        if self.warmup is not None and not callable(self.warmup):
            _check_warmup(self.warmup, "warmup")

    def defaults_for(self, timeframe: str | Timeframe) -> dict[str, Any]:
        """The space's defaults, then TradPal's table (``timeframe_params``), then the
        nearest row of ``timeframe_table`` at or below ``timeframe``, validated."""
        tf = parse_timeframe(timeframe)
        row = timeframe_defaults(tf).to_dict()
        values = {p: row[f] for p, f in self.timeframe_params.items()}
        own: Mapping[str, Any] = {}
        for name, listed in self.timeframe_table.items():  # ordered by duration
            if parse_timeframe(name).seconds <= tf.seconds:
                own = listed
        return self.space.validate({**values, **own})

    @property
    def reference(self) -> str:
        """``"/absolute/path.py:NAME"`` (the name alone outside a file)."""
        return self.name if self.source_file is None else f"{self.source_file}:{self.name}"

    def warmup_bars(
        self, timeframe: str | Timeframe, params: Mapping[str, Any] | None = None
    ) -> int:
        """``warmup`` (for the params at ``timeframe``'s defaults, ``params`` over them),
        else :data:`~tradpal.strategies.base.WARMUP_SETTLE` x the longest integer param."""
        p = self.space.validate({**self.defaults_for(timeframe), **dict(params or {})})
        if self.warmup is None:
            return WARMUP_SETTLE * longest_period(p)
        if not callable(self.warmup):
            return int(self.warmup)
        subject = f"strategy {self.name!r}, warmup"
        line = _first_line(self.warmup) or self.source_line
        value = _call(self.warmup, (MappingProxyType(p),), subject, self.source_file, line)
        return _check_warmup(value, f"{_place(self.source_file, line, subject)} returned")

    def generate(self, frame: pd.DataFrame, params: Mapping[str, Any] | None = None) -> Signals:
        return self.rule(prices_of(frame, read_only=True), self.params_for(frame, params))[0]

    def indicators(
        self, frame: pd.DataFrame, params: Mapping[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        return self.rule(prices_of(frame, read_only=True), self.params_for(frame, params))[1]


def _check_warmup(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise StrategyError(
            f"{what} {value!r}, not a number of bars >= 0",
            hint="give warmup as an int, or a function of the params returning one",
        )
    return int(value)


@dataclass(frozen=True)
class _UserRule:
    """The user's function as a :data:`~tradpal.strategies.base.Rule`: the declared
    indicators computed first, the result checked (type, length) and every error
    turned into a :class:`StrategyError` naming the file and line."""

    name: str
    func: Callable[..., Any]
    indicator_funcs: Mapping[str, IndicatorFunc]
    file: Path | None

    def where(self, func: Callable[..., Any]) -> str:
        """``"FILE, line N (strategy 'x')"``: where ``func`` is defined."""
        return _place(self.file, _first_line(func), f"strategy {self.name!r}")

    def __call__(self, px: Prices, p: Mapping[str, Any]) -> tuple[Signals, dict[str, np.ndarray]]:
        n = len(px)
        params = MappingProxyType(dict(p))  # a run's params are recorded: not the rule's to change
        ind: dict[str, np.ndarray] = {}
        for label, func in self.indicator_funcs.items():
            subject = f"strategy {self.name!r}, indicator {label!r}"
            value = _call(func, (px, params), subject, self.file, _first_line(func))
            ind[label] = _line(value, n, f"{_place(self.file, _first_line(func), subject)} gives")
        args = (px, params, MappingProxyType(ind)) if self.indicator_funcs else (px, params)
        subject = f"strategy {self.name!r}"
        out = _call(self.func, args, subject, self.file, _first_line(self.func))
        where = self.where(self.func)
        drawn: Any = {}
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], Signals):
            out, drawn = out
            if not isinstance(drawn, Mapping):
                raise StrategyError(
                    f"{where} returned a {type(drawn).__name__} beside its Signals, not a "
                    "dict of indicator lines",
                    hint=_RESULT_HINT,
                )
        if not isinstance(out, Signals):
            got = "None (is a return statement missing?)" if out is None else (
                f"a {type(out).__name__}"
            )  # fmt: skip
            raise StrategyError(f"{where} returned {got}, not Signals", hint=_RESULT_HINT)
        if len(out) != n:
            raise StrategyError(
                f"{where} returned {len(out)} signals for {n} bars",
                hint="build every signal array with one value per bar of prices (as long as "
                "prices.close): keep the warm-up bars, False or NaN, instead of dropping them",
            )
        lines = {str(k): _line(v, n, f"{where} returned the indicator line {k!r}, which is")
                 for k, v in drawn.items()}  # fmt: skip
        return out, {**ind, **lines}


def _line(value: Any, n: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise StrategyError(
            f"{what} a {type(value).__name__}, not numbers",
            hint="give an array of floats, one per bar (NaN where there is none)",
        ) from None
    if arr.shape != (n,):
        raise StrategyError(
            f"{what} of shape {arr.shape}, not one value per bar ({n},)",
            hint="give an array of floats, one per bar (NaN where there is none)",
        )
    return arr


def _call(func: Callable[..., Any], args: tuple, subject: str, file: Path | None, line: int) -> Any:
    """``func(*args)``; any error it raises as a StrategyError naming ``subject``, the
    file and the line of ``file`` where it happened (else ``line``, where it is defined)."""
    try:
        return func(*args)
    except TradPalError as exc:
        where, code = _located(exc, file, subject, line)
        hint = exc.hint or _fix_hint(file)
        raise StrategyError(f"{where}: {exc.message}{code}", hint=hint) from None
    except Exception as exc:
        where, code = _located(exc, file, subject, line)
        raise StrategyError(
            f"{where}: {type(exc).__name__}: {exc}{code}",
            hint=_readonly_hint(exc) or _fix_hint(file),
        ) from None


def _first_line(func: Any) -> int:
    code = getattr(func, "__code__", None)
    return code.co_firstlineno if code is not None else 0


def _place(file: Path | None, line: int, subject: str = "") -> str:
    """``"FILE, line N (subject)"``, leaving out what is unknown."""
    if file is None:
        return subject or "the strategy"
    at = f"{file}, line {line}" if line else str(file)
    return f"{at} ({subject})" if subject else at


def _located(exc: BaseException, file: Path | None, subject: str, line: int = 0) -> tuple[str, str]:
    """Where ``exc`` happened in ``file`` (its last traceback frame there, else ``line``)
    and that line's code on a line of its own (empty when unknown)."""
    frame = _last_frame_in(exc, file) if file is not None else None
    if frame is None:
        return _place(file, line, subject), ""
    code = (frame.line or linecache.getline(str(file), frame.lineno or 0)).strip()
    return _place(file, frame.lineno or 0, subject), (f"\n    {code}" if code else "")


def _readonly_hint(exc: Exception) -> str | None:
    if isinstance(exc, ValueError) and "read-only" in str(exc):
        return "the price arrays are shared and read-only: copy one first (np.array(prices.close))"
    return None


def _fix_hint(file: Path | None) -> str:
    where = f" in {file}" if file is not None else ""
    return f"fix the strategy's code{where} at that line"


def _last_frame_in(exc: BaseException, file: Path) -> traceback.FrameSummary | None:
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if _same_file(frame.filename, file):
            found = frame
    return found


def _same_file(name: str, file: Path) -> bool:
    try:
        return name == str(file) or Path(name).resolve() == file
    except OSError:
        return False


def strategy(
    name: str | Callable[..., Any] | None = None,
    *,
    params: Sequence[Param] = (),
    constraints: Sequence[str | Constraint] = (),
    timeframe_defaults: Mapping[str, Mapping[str, Any]] | None = None,
    timeframe_params: Mapping[str, str] | None = None,
    indicators: Mapping[str, IndicatorFunc] | None = None,
    description: str | None = None,
    warmup: Warmup | None = None,
) -> Any:
    """Declare the decorated function a strategy (see the module docstring).

    ``@strategy(name="breakout", params=[Param(...)], constraints=["exit < entry"],
    timeframe_defaults={"1h": {...}}, indicators={"upper": f})`` on
    ``def breakout(prices, params[, ind]) -> Signals``; the decorated name is then a
    :class:`UserStrategy` (callable as any strategy: ``generate(frame, params)``).
    ``name`` defaults to the function's name and ``description`` to its docstring;
    bare ``@strategy`` works too. Raises :class:`StrategyError` for a bad declaration.
    """
    if callable(name):  # bare @strategy
        return strategy()(name)

    def declare(func: Callable[..., Any]) -> UserStrategy:
        if not callable(func):
            raise StrategyError(
                f"@strategy decorates a function, not a {type(func).__name__}",
                hint="put @strategy(...) on the line above def NAME(prices, params):",
            )
        label = func.__name__ if name is None else name
        _check_name(label)
        funcs = dict(indicators or {})
        for key, f in funcs.items():
            if not isinstance(key, str) or not callable(f):
                raise StrategyError(
                    f"indicators[{key!r}] is not a label and a function",
                    hint='write indicators={"ema": lambda prices, p: lines.ema(prices.close, '
                    'p["period"])}',
                )
        _check_arity(func, label, 3 if funcs else 2)
        code = getattr(func, "__code__", None)
        file = _source_path(code.co_filename) if code is not None else None
        doc = inspect.getdoc(func) or ""
        text = description or doc.split("\n\n")[0].replace("\n", " ").strip()
        declared = UserStrategy(
            name=label,
            description=text or f"{label}: a strategy of your own",
            space=ParamSpace(tuple(params), tuple(constraints)),
            rule=_UserRule(label, func, MappingProxyType(funcs), file),
            timeframe_params=dict(timeframe_params or {}),
            source_file=file,
            source_line=code.co_firstlineno if code is not None else 0,
            timeframe_table=dict(timeframe_defaults or {}),
            warmup=warmup,
        )
        collected = _declared.get()
        if collected is not None:
            collected.append(declared)
        return declared

    return declare


def _check_name(name: Any) -> None:
    from tradpal.strategies.registry import STRATEGIES

    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise StrategyError(
            f"strategy name {name!r} is not a name",
            hint="use letters, digits and _, not starting with a digit (it is how "
            "commands and strategy_dirs refer to it)",
        )
    if name in STRATEGIES:
        builtin = STRATEGIES[name]
        where = _source_path(builtin.rule.__code__.co_filename) if hasattr(
            getattr(builtin, "rule", None), "__code__"
        ) else None  # fmt: skip
        raise StrategyError(
            f"strategy name {name!r} is taken by the built-in strategy"
            + (f" in {where}" if where else ""),
            hint="give yours another name (@strategy(name=...))",
        )


def _check_arity(func: Callable[..., Any], name: str, want: int) -> None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return  # a builtin or C function: let the call tell
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in sig.parameters.values() if p.kind in kinds]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in sig.parameters.values())
    if len(required) <= want and (varargs or len(positional) >= want):
        return
    shown = "(prices, params, ind)" if want == 3 else "(prices, params)"
    why = " (it declares indicators, passed as the third)" if want == 3 else ""
    raise StrategyError(
        f"the function of strategy {name!r} takes ({', '.join(p.name for p in positional)}), "
        f"not {shown}{why}",
        hint=f"define it as def {getattr(func, '__name__', name)}{shown}:",
    )


def _source_path(filename: str) -> Path | None:
    if not filename or filename.startswith("<"):
        return None  # typed in a shell or a notebook cell
    try:
        return Path(filename).resolve()
    except OSError:
        return None


# --- loading files ----------------------------------------------------------------------------

# resolved path -> ((mtime_ns, size), {name: strategy}); a file is imported again when it
# changes, so a long-running platform picks up an edited strategy.
_LOADED: dict[Path, tuple[tuple[int, int], dict[str, UserStrategy]]] = {}


def load_file(path: str | Path) -> dict[str, UserStrategy]:
    """The strategies ``path`` declares, by name, in declaration order (module
    docstring); :class:`StrategyError` naming the file (and line) when it cannot."""
    file = _existing_file(path)
    st = file.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _LOADED.get(file)
    if hit is not None and hit[0] == stamp:
        return dict(hit[1])
    declared = _import(file)
    ours = [s for s in declared if s.source_file == file]
    if not ours:
        raise StrategyError(
            f"{file} declares no strategy",
            hint="decorate a function with @strategy(...) from tradpal.strategies; " + _NEW_HINT,
        )
    found: dict[str, UserStrategy] = {}
    for s in ours:
        if s.name in found:
            raise StrategyError(
                f"{file} declares the strategy {s.name!r} twice (lines "
                f"{found[s.name].source_line} and {s.source_line})",
                hint="give each @strategy its own name",
            )
        found[s.name] = s
    _LOADED[file] = (stamp, found)
    return dict(found)


def _existing_file(path: str | Path) -> Path:
    given = Path(path).expanduser()
    file = given.resolve()
    if not file.is_file():
        where = "" if given.is_absolute() else f" (looked in {Path.cwd()})"
        raise StrategyError(
            f"no strategy file {given}{where}",
            hint="check the path in PATH.py:NAME; relative paths start at the current "
            "directory. " + _NEW_HINT,
        )
    if file.suffix != ".py":
        raise StrategyError(f"{given} is not a Python file (.py)", hint="name a .py file")
    return file


def _module_name(file: Path) -> str:
    stem = re.sub(r"\W", "_", file.stem)
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:12]
    return f"_tradpal_strategy_{stem}_{digest}"


def _import(file: Path) -> list[UserStrategy]:
    """Execute ``file`` as a fresh module and return the strategies it declared."""
    name = _module_name(file)
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise StrategyError(f"{file} cannot be imported as Python", hint="name a .py file")
    module = importlib.util.module_from_spec(spec)
    collected: list[UserStrategy] = []
    token = _declared.set(collected)
    folder = str(file.parent)
    sys.path.insert(0, folder)  # helpers next to the file import as they would from a script
    # in sys.modules while it runs: dataclasses and typing look their module up there
    sys.modules[name] = module
    ok = False
    try:
        spec.loader.exec_module(module)
        ok = True
    except SyntaxError as exc:
        raise _syntax_error(exc, file) from None
    except TradPalError as exc:
        where, code = _located(exc, file, "")
        raise StrategyError(f"{where}: {exc.message}{code}", hint=exc.hint) from None
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        where, code = _located(exc, file, "")
        raise StrategyError(
            f"{where}: {type(exc).__name__}: {exc}{code}",
            hint=(
                f"install {missing} into TradPal's environment (.venv/bin/pip install "
                f"{missing.split('.')[0]}), or fix the import"
                if missing and isinstance(exc, ModuleNotFoundError)
                else "fix the import: check the names the module provides"
            ),
        ) from None
    except (Exception, SystemExit) as exc:
        where, code = _located(exc, file, "")
        raise StrategyError(
            f"{where}: loading the file raised {type(exc).__name__}: {exc}{code}",
            hint="the file's top level runs when it is loaded: fix the error there, and keep "
            "work such as downloads out of it",
        ) from None
    finally:
        _declared.reset(token)
        with contextlib.suppress(ValueError):  # the file may have changed sys.path itself
            sys.path.remove(folder)
        if not ok:
            sys.modules.pop(name, None)
    return collected


def _syntax_error(exc: SyntaxError, file: Path) -> StrategyError:
    other = exc.filename and not _same_file(exc.filename, file)
    where = f"{exc.filename}, line {exc.lineno}" if other else f"{file}, line {exc.lineno}"
    code = (exc.text or "").strip()
    message = f"{where}: {type(exc).__name__}: {exc.msg}" + (f"\n    {code}" if code else "")
    if other:
        message = f"{file} imports a file with a syntax error: {message}"
    return StrategyError(message, hint="fix the syntax on that line")


def file_strategy(path: str | Path, name: str | None = None) -> UserStrategy:
    """The strategy ``name`` of the file ``path`` (the file's only one when ``name`` is
    None); :class:`StrategyError` naming the file and the names it declares."""
    found = load_file(path)
    file = next(iter(found.values())).source_file
    if name is None:
        if len(found) == 1:
            return next(iter(found.values()))
        raise StrategyError(
            f"{file} declares {len(found)} strategies: {', '.join(found)}",
            hint=f"name one: {path}:{next(iter(found))}",
        )
    if name not in found:
        raise StrategyError(
            f"{file} declares no strategy {name!r}; it declares {', '.join(found)}",
            hint=f"use one of those names ({path}:{next(iter(found))}), or check the "
            "@strategy(name=...) in the file",
        )
    return found[name]


def dir_strategies(dirs: Iterable[str | Path]) -> dict[str, UserStrategy]:
    """Every strategy of the ``*.py`` files (not starting with ``_``) directly in
    ``dirs``, by name; :class:`StrategyError` for a folder that is missing, a file that
    fails to load, or two files declaring one name (naming both)."""
    found: dict[str, UserStrategy] = {}
    seen: set[Path] = set()
    for d in dirs:
        folder = Path(d).expanduser()
        if not folder.is_dir():
            raise StrategyError(
                f"the strategy folder {folder} (strategy_dirs) is not a directory",
                hint="create it, or fix TRADPAL_STRATEGY_DIRS / strategy_dirs in tradpal.toml",
            )
        folder = folder.resolve()
        if folder in seen:
            continue
        seen.add(folder)
        for file in sorted(folder.glob("*.py")):
            if file.name.startswith(("_", ".")) or not file.is_file():
                continue
            for name, s in load_file(file).items():
                if name in found:
                    raise StrategyError(
                        f"two strategy files declare {name!r}: {found[name].source_file} and "
                        f"{s.source_file}",
                        hint="rename one of them (@strategy(name=...)), or take one file out "
                        "of the strategy_dirs folders",
                    )
                found[name] = s
    return found


__all__ = [
    "UserStrategy",
    "dir_strategies",
    "file_strategy",
    "load_file",
    "strategy",
]
