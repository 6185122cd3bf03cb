"""What the typed request models share: the library's refusals as validation errors, and the
strategy-for-this-data check.

A request model (:class:`~tradpal.backtest.request.BacktestRequest`,
:class:`~tradpal.discovery.request.DiscoveryRequest`, the API's signals request...) checks
every field once, when it is made; a field the library refuses (an unknown strategy, a
higher-timeframe filter the data cannot make, a config value out of range) becomes a
pydantic error on that field whose message is the library's and whose context carries its
hint (:func:`refusal`). The API answers such a request 422 naming the field, the command line
prints the message and hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic_core import PydanticCustomError

from tradpal.errors import FieldError, StrategyError, TradPalError

M = TypeVar("M")


def refusal(exc: TradPalError, kind: str = "refused") -> PydanticCustomError:
    """``exc`` as a pydantic error of type ``kind``: its message as the message, its hint in
    the context (``ctx["hint"]``)."""
    ctx = {"reason": exc.message}
    if exc.hint:
        ctx["hint"] = exc.hint
    return PydanticCustomError(kind, "{reason}", ctx)


def field_refused(loc: str | tuple[str | int, ...], exc: TradPalError, value: Any) -> Exception:
    """A validation error on the field at ``loc`` (``"data.end"`` or a tuple), for a model
    validator that checks fields together; pydantic keeps the location (prefixed by the
    enclosing models' fields) and the hint (:func:`refusal`)."""
    from pydantic import ValidationError
    from pydantic_core import InitErrorDetails

    path = tuple(loc.split(".")) if isinstance(loc, str) else tuple(loc)
    detail = InitErrorDetails(type=refusal(exc), loc=path, input=value)
    return ValidationError.from_exception_data("request", [detail])


def strategy_for(reference: Any, timeframe: str, *, allow_paths: bool = True) -> Any:
    """The strategy ``reference`` names, for data at ``timeframe``; :class:`StrategyError`
    when it is unknown, names a file while ``allow_paths`` is off (an API takes names only:
    it must not load files its callers name), or when a higher-timeframe filter
    (``NAME@TF``) cannot be made from the data: TF must be ``timeframe`` or coarser, and a
    whole multiple of it."""
    from tradpal.data.resample import check_coarser
    from tradpal.strategies import get_strategy
    from tradpal.timeframes import parse_timeframe

    strategy = get_strategy(reference, allow_paths=allow_paths)
    tf = parse_timeframe(timeframe)
    inner = strategy
    while inner is not None:  # NAME@TF+atr wraps the filter in the stops
        higher = getattr(inner, "higher_timeframe", None)
        if higher is not None:
            try:
                check_coarser(tf, higher)
            except TradPalError as exc:
                raise StrategyError(
                    f"{strategy.name} filters on {higher.name} bars, which {tf.name} data "
                    f"cannot make ({exc.message})",
                    hint=f"use a filter timeframe that is a multiple of {tf.name} (such as "
                    "@4h on 1h data), or data at a finer timeframe",
                ) from None
        inner = getattr(inner, "inner", None)
    return strategy


def check_params(strategy: Any, params: Mapping[str, Any], timeframe: str) -> None:
    """Refuse ``params`` (a validation error on the ``params`` field) unless ``strategy``
    takes every one and, over its defaults at ``timeframe``, they fit its space (ranges and
    constraints such as fast < slow)."""
    unknown = sorted(set(params) - set(strategy.space.names))
    if unknown:
        raise field_refused(
            "params",
            TradPalError(
                f"unknown param(s) {', '.join(unknown)} for {strategy.name}",
                hint=f"{strategy.name} takes: {', '.join(strategy.space.names)}",
            ),
            dict(params),
        )
    try:
        strategy.space.validate({**strategy.defaults_for(timeframe), **params})
    except TradPalError as exc:
        raise field_refused("params", exc, dict(params)) from None


_HINTS = {
    "greater_than_equal": "use {ge} or more",
    "greater_than": "use more than {gt}",
    "less_than_equal": "use {le} or less",
    "less_than": "use less than {lt}",
    "literal_error": "use one of {expected}",
    "extra_forbidden": "leave this field out: the request has no such field",
    "missing": "add this field",
}


def message_of(error: Any) -> str:
    """The message of one pydantic error, said plainly (no "Value error," prefix; an
    unknown field called that)."""
    if error.get("type") == "extra_forbidden":
        return "unknown field"
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def hint_of(error: Any) -> str | None:
    """The hint of one pydantic error: a refused field's own (:func:`refusal`), else one
    for pydantic's usual errors (a bound, a choice, an unknown field)."""
    ctx = error.get("ctx") or {}
    if isinstance(ctx.get("hint"), str):
        return ctx["hint"]
    template = _HINTS.get(str(error.get("type")))
    try:
        return template.format(**ctx) if template else None
    except (KeyError, IndexError):
        return None


def as_error(exc: Any, error: type[TradPalError] | None = None) -> TradPalError:
    """A pydantic ``ValidationError`` as a :class:`~tradpal.errors.FieldError`, or as
    ``error`` (another :class:`TradPalError` class), for the library's callers (the command
    line prints it): the first failing field, its message and hint, and how many others
    failed. It has ``field`` (``"population"``) and ``reason`` attributes either way, so an
    API can still name the field."""
    errors = exc.errors()
    first = errors[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "request"
    reason = message_of(first)
    more = f" (and {len(errors) - 1} more field(s))" if len(errors) > 1 else ""
    if error is None:
        return FieldError(field, f"{reason}{more}", hint_of(first))
    out = error(f"{field}: {reason}{more}", hint=hint_of(first))
    out.field, out.reason = field, reason  # type: ignore[attr-defined]
    return out


def validated(model: type[M], data: Any, *, error: type[TradPalError] | None = None) -> M:
    """``model`` made from ``data``; a failing field raises ``error`` (:func:`as_error`)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise as_error(exc, error) from None


def refuse_strategy_files(reference: Any) -> Any:
    """``reference`` unless it names a file (``PATH.py:NAME``): a service takes the names of
    built-ins and of the strategies in its ``strategy_dirs`` only."""
    from tradpal.strategies.reference import parse_reference

    try:
        named = parse_reference(reference)
    except TradPalError as exc:
        raise refusal(exc) from None
    if named.path is not None:
        raise refusal(
            StrategyError(
                f"{reference!r} names a file; this API takes strategy names only",
                hint="use a built-in or a strategy of the deployed strategy_dirs by its name",
            )
        )
    return reference
