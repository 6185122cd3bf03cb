"""Stage configuration from CDK context: names, removal policies and retention per stage.

Resource names that other stacks need before the resource exists (the bus, the stream, the
state machines) are derived here, deterministically, so that stacks reference them by name and
ARN without cross-stack cycles (functions publish to the bus the Events stack creates later).
The ``traders`` to deploy (:class:`TraderConfig`) are checked here too, so that a misspelt
strategy or a live trader in a stage without ``live_trading`` fails the synth, not the task.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Node

from tradpal.errors import ConfigError, TradPalError

STAGES = ("dev", "prod")
TRADER_MODES = ("paper", "live")
_TRADER_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_TRADER_ID_MAX = 40
_TRADER_KEYS = ("id", "strategy", "symbol", "timeframe", "exchange", "mode", "params", "capital")
_EXCHANGE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


@dataclass(frozen=True)
class TraderConfig:
    """One deployed trader (an entry of the ``traders`` context list): a Fargate service
    running ``tradpal trade`` for ``strategy`` on ``symbol`` at ``timeframe``.

    ``id`` names the trader everywhere (its partition of the trading table, its service, log
    group, alarm and secret): lowercase letters, digits and dashes, at most 40 characters.
    ``strategy`` is a built-in strategy reference (``ema_crossover``, ``ema_crossover@4h``,
    ``confluence+atr``); ``params`` are checked against its space at synth, over the
    ``timeframe``'s defaults, as the trader will resolve them."""

    id: str
    strategy: str
    symbol: str
    timeframe: str
    exchange: str = "binance"
    mode: str = "paper"
    params: Mapping[str, Any] | None = None
    capital: float | None = None

    def __post_init__(self) -> None:
        tid = self.id
        if not isinstance(tid, str) or len(tid) > _TRADER_ID_MAX or not _TRADER_ID.match(tid):
            raise ConfigError(
                f"trader id {tid!r} is invalid",
                hint="use lowercase letters, digits and dashes (not first or last), at most "
                f'{_TRADER_ID_MAX} characters, such as "btc-ema-1h"',
            )
        from tradpal.strategies import STRATEGIES, get_strategy
        from tradpal.timeframes import parse_timeframe

        try:
            timeframe = parse_timeframe(self.timeframe).name
        except TradPalError as exc:
            raise ConfigError(f"trader {tid}: {exc.message}", hint=exc.hint) from None
        object.__setattr__(self, "timeframe", timeframe)
        try:
            # built-ins only (dirs=()): strategies of your own are not in the trader's image
            strategy = get_strategy(str(self.strategy), dirs=(), allow_paths=False)
        except TradPalError as exc:
            raise ConfigError(
                f"trader {tid}: {exc.message}",
                hint=f"use a built-in strategy: {', '.join(STRATEGIES)} (optionally with "
                "@TF for a higher-timeframe filter or +atr for ATR stops)",
            ) from None
        if self.params is not None:
            if not isinstance(self.params, Mapping):
                raise ConfigError(
                    f"trader {tid}: params must be an object, got {self.params!r}",
                    hint='write params as a JSON object, such as {"fast": 12, "slow": 26}',
                )
            params = dict(self.params)
            try:
                strategy.space.validate({**strategy.defaults_for(timeframe), **params})
            except TradPalError as exc:
                raise ConfigError(f"trader {tid}: {exc.message}", hint=exc.hint) from None
            object.__setattr__(self, "params", params)
        if not isinstance(self.symbol, str) or not re.fullmatch(r"[^\s/]+/[^\s/]+", self.symbol):
            raise ConfigError(
                f"trader {tid}: symbol {self.symbol!r} is not BASE/QUOTE",
                hint='write the exchange\'s unified symbol, such as "BTC/USDT"',
            )
        if not isinstance(self.exchange, str) or not _EXCHANGE_ID.match(self.exchange):
            raise ConfigError(
                f"trader {tid}: exchange {self.exchange!r} is not a ccxt exchange id",
                hint='use a ccxt exchange id in lowercase, such as "binance"',
            )
        import ccxt

        if self.exchange not in ccxt.exchanges:
            raise ConfigError(
                f"trader {tid}: ccxt knows no exchange {self.exchange!r}",
                hint='use a ccxt exchange id, such as "binance", "kraken" or "coinbase"',
            )
        if self.mode not in TRADER_MODES:
            raise ConfigError(
                f"trader {tid}: mode {self.mode!r} is not one of {', '.join(TRADER_MODES)}",
                hint='use "paper" (the default: no orders reach the exchange) or "live"',
            )
        if self.capital is not None:
            capital = self.capital
            if (
                isinstance(capital, bool)
                or not isinstance(capital, int | float)
                or not math.isfinite(capital)
                or capital <= 0
            ):
                raise ConfigError(
                    f"trader {tid}: capital {capital!r} is not a positive number",
                    hint="give the capital in the quote currency, such as 1000",
                )
            object.__setattr__(self, "capital", float(capital))

    @property
    def live(self) -> bool:
        return self.mode == "live"

    @classmethod
    def from_context(cls, entry: Any) -> TraderConfig:
        """A trader from one entry of the ``traders`` context list (a JSON object)."""
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"a traders entry must be an object, got {entry!r}",
                hint='write {"id": ..., "strategy": ..., "symbol": ..., "timeframe": ...}',
            )
        unknown = sorted(set(entry) - set(_TRADER_KEYS))
        missing = [k for k in _TRADER_KEYS[:4] if entry.get(k) in (None, "")]
        if unknown or missing:
            what = f"unknown keys {unknown}" if unknown else f"missing {', '.join(missing)}"
            raise ConfigError(
                f"traders entry {entry.get('id', '?')!r}: {what}",
                hint=f"a trader takes {', '.join(_TRADER_KEYS)}; id, strategy, symbol and "
                "timeframe are required",
            )
        return cls(**{k: entry[k] for k in _TRADER_KEYS if entry.get(k) is not None})


@dataclass(frozen=True)
class StageConfig:
    """Everything that differs between ``dev`` and ``prod`` (from ``-c stage=...``)."""

    stage: str = "dev"
    alarm_email: str | None = None
    oidc_issuer: str | None = None
    oidc_audience: tuple[str, ...] = ()
    scope_prefix: str = "tradpal/"
    cors_origins: tuple[str, ...] = ("http://localhost:8000",)
    domain_name: str | None = None
    certificate_arn: str | None = None
    traders: tuple[TraderConfig, ...] = field(default=())
    live_trading: bool = False
    fixed_egress_ip: bool = False

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ConfigError(
                f"unknown stage {self.stage!r}", hint=f"pass -c stage=<one of {STAGES}>"
            )
        if bool(self.oidc_issuer) != bool(self.oidc_audience):
            raise ConfigError(
                "oidc_issuer and oidc_audience must be given together",
                hint="pass both -c oidc_issuer=https://... and -c oidc_audience=<client id>, "
                "or neither to use the Cognito user pool",
            )
        if self.oidc_issuer and not self.oidc_issuer.startswith("https://"):
            raise ConfigError(
                f"oidc_issuer {self.oidc_issuer!r} is not an https URL",
                hint="use the issuer URL exactly as it appears in the tokens' iss claim",
            )
        if bool(self.domain_name) != bool(self.certificate_arn):
            raise ConfigError(
                "domain_name and certificate_arn must be given together",
                hint="pass both -c domain_name=api.example.com -c certificate_arn=arn:..., "
                "or neither",
            )
        ids = [t.id for t in self.traders]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ConfigError(
                f"traders {dupes} are configured more than once",
                hint="give each trader its own id: it names its table partition, service "
                "and secret",
            )
        live = [t.id for t in self.traders if t.live]
        if live and not self.live_trading:
            raise ConfigError(
                f"trader(s) {', '.join(live)} trade live, but stage {self.stage} does not "
                "allow live trading",
                hint='enable it with -c live_trading=true (or "live_trading": true in '
                "cdk.json's context), or set the trader's mode to \"paper\"",
            )

    @classmethod
    def from_node(cls, node: Node) -> StageConfig:
        """Read the stage settings from CDK context (``-c key=value`` or cdk.json)."""

        def ctx(key: str) -> str | None:
            value = node.try_get_context(key)
            return None if value in (None, "") else str(value)

        def csv(key: str) -> tuple[str, ...]:
            value = node.try_get_context(key)
            if isinstance(value, list):
                return tuple(str(v) for v in value)
            return tuple(v.strip() for v in (value or "").split(",") if v.strip())

        def flag(key: str) -> bool:
            value = node.try_get_context(key)
            if isinstance(value, bool) or value is None:
                return bool(value)
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ConfigError(
                f"{key} is {value!r}, not true or false", hint=f"pass -c {key}=true or false"
            )

        def traders() -> tuple[TraderConfig, ...]:
            value = node.try_get_context("traders")
            if isinstance(value, str):
                try:
                    value = json.loads(value) if value.strip() else []
                except json.JSONDecodeError as exc:
                    raise ConfigError(
                        f"traders is not JSON: {exc}",
                        hint="pass -c traders='[{\"id\": ..., ...}]' or set a list in cdk.json",
                    ) from None
            if value is None:
                return ()
            if not isinstance(value, list):
                raise ConfigError(
                    f"traders must be a list, got {value!r}",
                    hint='set "traders": [{"id": ..., "strategy": ..., ...}] in cdk.json',
                )
            return tuple(TraderConfig.from_context(entry) for entry in value)

        issuer = ctx("oidc_issuer")
        return cls(
            stage=ctx("stage") or "dev",
            alarm_email=ctx("alarm_email"),
            oidc_issuer=issuer,
            oidc_audience=csv("oidc_audience"),
            # Cognito access tokens carry "<resource server>/<scope>"; other issuers plain scopes.
            scope_prefix=ctx("scope_prefix") or ("" if issuer else "tradpal/"),
            cors_origins=csv("cors_origins") or cls.cors_origins,
            domain_name=ctx("domain_name"),
            certificate_arn=ctx("certificate_arn"),
            traders=traders(),
            live_trading=flag("live_trading"),
            fixed_egress_ip=flag("fixed_egress_ip"),
        )

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"

    @property
    def prefix(self) -> str:
        """Name prefix: ``tradpal`` in prod, ``tradpal-<stage>`` otherwise."""
        return "tradpal" if self.is_prod else f"tradpal-{self.stage}"

    @property
    def bus_name(self) -> str:
        return self.prefix

    @property
    def stream_name(self) -> str:
        return f"{self.prefix}-market-data"

    def state_machine_name(self, machine: str) -> str:
        return f"{self.prefix}-{machine}"

    def trader_secret_name(self, trader_id: str) -> str:
        """The Secrets Manager secret of a live trader's exchange API key:
        ``<prefix>/traders/<id>/exchange``, JSON ``{"apiKey": ..., "secret": ...}``."""
        return f"{self.prefix}/traders/{trader_id}/exchange"

    def bucket_name(self, purpose: str) -> str:
        """``<prefix>-<purpose>-<account>-<region>``: globally unique, and known to every
        stack without a cross-stack reference."""
        return f"{self.prefix}-{purpose}-{cdk.Aws.ACCOUNT_ID}-{cdk.Aws.REGION}"

    @property
    def removal_policy(self) -> cdk.RemovalPolicy:
        """Prod keeps its data when a stack or resource is deleted; dev cleans up."""
        return cdk.RemovalPolicy.RETAIN if self.is_prod else cdk.RemovalPolicy.DESTROY

    @property
    def log_retention(self) -> logs.RetentionDays:
        return logs.RetentionDays.ONE_YEAR if self.is_prod else logs.RetentionDays.TWO_WEEKS

    @property
    def archive_retention(self) -> cdk.Duration:
        return cdk.Duration.days(365 if self.is_prod else 30)
