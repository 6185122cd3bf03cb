"""Data sources by name: ``make_source("ccxt:binance")``.

Spec grammar: ``KIND`` or ``KIND:ARGUMENT``.

* ``ccxt:EXCHANGE`` -> :class:`~tradpal.data.sources.ccxt_source.CcxtSource` (``ccxt:binance``)
* ``yfinance`` -> :class:`~tradpal.data.sources.yfinance_source.YFinanceSource`
* ``synthetic`` or ``synthetic:KEY=VALUE,...`` ->
  :class:`~tradpal.data.sources.synthetic.SyntheticSource` (``synthetic:seed=7``)

Keyword options are passed to the source's constructor. Each source module is
imported only when its kind is asked for, so importing this registry does not
import ccxt or yfinance (cold start matters in Lambda).
"""

from __future__ import annotations

import re
from typing import Any

from tradpal.data.sources.base import OhlcvSource
from tradpal.errors import ConfigError

VALID_SPECS: tuple[str, ...] = (
    "ccxt:EXCHANGE (e.g. ccxt:binance)",
    "yfinance",
    "synthetic",
    "synthetic:seed=N",
)
_EXCHANGE_RE = re.compile(r"^[a-z0-9_]+$")


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError(
        f"bad data source {spec!r}: {why}", hint="use one of " + ", ".join(VALID_SPECS)
    )


def _number(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _key_values(spec: str, argument: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in argument.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier() or not value.strip():
            raise _bad(spec, f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = _number(value.strip())
    return out


def make_source(spec: str, **options: Any) -> OhlcvSource:
    """The data source named by ``spec`` (see the module docstring), built with ``options``.

    Raises :class:`ConfigError` listing the valid specs for anything else.
    """
    text = str(spec).strip()
    kind, _, argument = text.partition(":")
    kind = kind.strip().lower()
    argument = argument.strip()
    if kind == "ccxt":
        exchange = argument.lower()
        if not _EXCHANGE_RE.match(exchange):
            raise _bad(text, "name the exchange, such as ccxt:binance")
        from tradpal.data.sources.ccxt_source import CcxtSource

        return CcxtSource(exchange, **options)
    if kind == "yfinance":
        if argument:
            raise _bad(text, "yfinance takes no argument")
        from tradpal.data.sources.yfinance_source import YFinanceSource

        return YFinanceSource(**options)
    if kind == "synthetic":
        params = _key_values(text, argument)
        clash = sorted(set(params) & set(options))
        if clash:
            raise _bad(text, f"{', '.join(clash)} given both in the spec and as an option")
        from tradpal.data.sources.synthetic import SyntheticSource

        try:
            return SyntheticSource(**params, **options)
        except TypeError as exc:  # an unknown key: name it instead of a traceback
            raise _bad(text, str(exc)) from exc
    raise _bad(text, f"unknown kind {kind!r}" if kind else "empty spec")
