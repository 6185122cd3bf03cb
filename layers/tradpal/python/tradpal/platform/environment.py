"""Where a function finds the platform's resources: environment variables set by the stacks.

The Functions stack (``cdk/functions.py``) sets these on every Lambda function and the local
platform sets the same ones in its process, so a handler finds its bucket, tables, bus, stream
and state machines the same way in both places. They are not user settings: ``load_settings``
accepts them without treating them as misspelt ``TRADPAL_`` settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from tradpal.errors import ConfigError

if TYPE_CHECKING:
    from tradpal.data.store import MarketStore

# name in the environment -> PlatformEnv field
_FIELDS: dict[str, str] = {
    "TRADPAL_STAGE": "stage",
    "TRADPAL_MARKET_DATA_BUCKET": "market_data_bucket",
    "TRADPAL_RESULTS_BUCKET": "results_bucket",
    "TRADPAL_RUNS_TABLE": "runs_table",
    "TRADPAL_CATALOG_TABLE": "catalog_table",
    "TRADPAL_IDEMPOTENCY_TABLE": "idempotency_table",
    "TRADPAL_EVENT_BUS": "event_bus",
    "TRADPAL_MARKET_STREAM": "market_stream",
    "TRADPAL_NOTIFIER_SECRET": "notifier_secret",
}
_MACHINES: dict[str, str] = {
    "TRADPAL_BACKTEST_STATE_MACHINE_ARN": "backtest",
    "TRADPAL_DISCOVERY_STATE_MACHINE_ARN": "discovery",
}
PLATFORM_ENV_VARS: tuple[str, ...] = (*_FIELDS, *_MACHINES)
"""Every environment variable the platform sets on its functions."""

MARKET_PREFIX = "market"
"""Key prefix of the market data store in the market-data bucket."""


@dataclass(frozen=True)
class PlatformEnv:
    """The platform resources a function may use; empty strings where not configured."""

    stage: str = "local"
    market_data_bucket: str = ""
    results_bucket: str = ""
    runs_table: str = ""
    catalog_table: str = ""
    idempotency_table: str = ""
    event_bus: str = ""
    market_stream: str = ""
    notifier_secret: str | None = None
    state_machine_arns: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> PlatformEnv:
        """Read the variables of :data:`PLATFORM_ENV_VARS` (missing ones stay empty)."""
        env = os.environ if environ is None else environ
        values = {name: env[var] for var, name in _FIELDS.items() if env.get(var)}
        machines = {m: env[var] for var, m in _MACHINES.items() if env.get(var)}
        return cls(**values, state_machine_arns=machines)

    def to_environ(self) -> dict[str, str]:
        """The environment variables that :meth:`from_environ` reads back as ``self``."""
        out = {var: str(getattr(self, f)) for var, f in _FIELDS.items() if getattr(self, f)}
        for var, machine in _MACHINES.items():
            if machine in self.state_machine_arns:
                out[var] = self.state_machine_arns[machine]
        return out

    def require(self, name: str) -> str:
        """The value of field ``name``; ConfigError naming its variable when it is unset."""
        value = (
            self.state_machine_arns.get(name.removesuffix("_state_machine_arn"), "")
            if name.endswith("_state_machine_arn")
            else getattr(self, name)
        )
        if not value:
            var = next(
                (v for v, f in _FIELDS.items() if f == name),
                f"TRADPAL_{name.upper()}",
            )
            raise ConfigError(
                f"this function has no {name.replace('_', ' ')} configured ({var} is unset)",
                hint="the stacks set it on every function that may use it; check the "
                "capability's access in cdk/functions.py, or start the local platform",
            )
        return value

    def state_machine_arn(self, machine: str) -> str:
        """The ARN of state machine ``machine`` (``"backtest"``, ``"discovery"``)."""
        return self.require(f"{machine}_state_machine_arn")

    def market_store(self) -> MarketStore:
        """The market data store in the market-data bucket (``s3://<bucket>/market``)."""
        from tradpal.data.store import MarketStore

        return MarketStore(f"s3://{self.require('market_data_bucket')}/{MARKET_PREFIX}")


@cache
def platform_env() -> PlatformEnv:
    """The process's :class:`PlatformEnv` (read once; ``platform_env.cache_clear()`` re-reads)."""
    return PlatformEnv.from_environ()
