"""Where a function finds the platform's resources: the environment variables of the topology.

Each resource of :data:`~tradpal.platform.topology.TOPOLOGY` has a variable,
``TRADPAL_<KEY>`` (``TRADPAL_RUNS_TABLE``, ``TRADPAL_BACKTEST_STATE_MACHINE``...), holding
its name (an ARN for state machines). The Functions stack sets on each function the
variables of the resources its capability is granted (:attr:`Capability.access`), and the
local platform gives each in-process function the same (:func:`scoped_env`), so a handler
that reaches for a resource it was not granted fails the same way on a laptop as on AWS.
They are not user settings: ``load_settings`` accepts them without treating them as misspelt
``TRADPAL_`` settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from tradpal.errors import ConfigError
from tradpal.platform.topology import ENV_PREFIX, TOPOLOGY

if TYPE_CHECKING:
    from tradpal.data.store import MarketStore
    from tradpal.platform.catalog import Capability

STAGE_VAR = ENV_PREFIX + "STAGE"
PLATFORM_ENV_VARS: tuple[str, ...] = (STAGE_VAR, *(r.env_var for r in TOPOLOGY))
"""Every environment variable the platform sets on its functions."""

MARKET_PREFIX = "market"
"""Key prefix of the market data store in the market-data bucket."""


@dataclass(frozen=True)
class PlatformEnv:
    """The stage and the resources a function may use, by resource key (``runs_table``);
    each key of the topology also reads as an attribute (``env.runs_table``: its name, or
    ``""`` where not configured)."""

    stage: str = "local"
    resources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.resources) - set(TOPOLOGY.keys))
        if unknown:
            raise ConfigError(
                f"unknown platform resources {unknown}", hint=f"use {', '.join(TOPOLOGY.keys)}"
            )
        object.__setattr__(self, "resources", {k: v for k, v in self.resources.items() if v})

    def __getattr__(self, key: str) -> str:
        if key in TOPOLOGY.keys:
            return self.resources.get(key, "")
        raise AttributeError(key)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> PlatformEnv:
        """Read :data:`PLATFORM_ENV_VARS` (missing ones stay unset)."""
        env = os.environ if environ is None else environ
        found = {r.key: env[r.env_var] for r in TOPOLOGY if env.get(r.env_var)}
        return cls(stage=env.get(STAGE_VAR) or "local", resources=found)

    def to_environ(self) -> dict[str, str]:
        """The variables that :meth:`from_environ` reads back as ``self``."""
        out = {STAGE_VAR: self.stage}
        out.update({TOPOLOGY.get(k).env_var: v for k, v in self.resources.items()})
        return out

    def with_resources(self, **resources: str) -> PlatformEnv:
        """A copy with ``resources`` (by key) added or replaced."""
        return PlatformEnv(self.stage, {**self.resources, **resources})

    def granted(self, capability: Capability) -> PlatformEnv:
        """Only the resources ``capability`` is granted (what its function's environment
        holds on AWS)."""
        keys = set(capability.resource_keys())
        return PlatformEnv(self.stage, {k: v for k, v in self.resources.items() if k in keys})

    def require(self, key: str) -> str:
        """The name of resource ``key``; ConfigError naming its variable when it is unset."""
        value = self.resources.get(key)
        if not value:
            resource = TOPOLOGY.get(key)
            raise ConfigError(
                f"this function has no {key.replace('_', ' ')} configured "
                f"({resource.env_var} is unset)",
                hint=f"grant the capability {key}:<mode> in its catalog entry "
                "(tradpal/platform/catalog.py), or start the local platform",
            )
        return value

    def state_machine_arn(self, machine: str) -> str:
        """The ARN of state machine ``machine`` (``"backtest"``, ``"discovery"``)."""
        return self.require(f"{machine}_state_machine")

    def market_store(self) -> MarketStore:
        """The market data store in the market-data bucket (``s3://<bucket>/market``)."""
        from tradpal.data.store import MarketStore

        return MarketStore(f"s3://{self.require('market_data_bucket')}/{MARKET_PREFIX}")


_scoped: ContextVar[PlatformEnv | None] = ContextVar("tradpal_platform_env", default=None)


@cache
def _process_env() -> PlatformEnv:
    return PlatformEnv.from_environ()


def platform_env() -> PlatformEnv:
    """The running function's :class:`PlatformEnv`: the one :func:`scoped_env` set, else the
    process's, read once (``platform_env.cache_clear()`` re-reads)."""
    scoped = _scoped.get()
    return scoped if scoped is not None else _process_env()


platform_env.cache_clear = _process_env.cache_clear  # type: ignore[attr-defined]


@contextmanager
def scoped_env(env: PlatformEnv) -> Iterator[PlatformEnv]:
    """Within the block (this thread or task), :func:`platform_env` is ``env``: how the
    local platform gives each in-process function only its own resources."""
    token = _scoped.set(env)
    try:
        yield env
    finally:
        _scoped.reset(token)


def with_env(handler: Any, env: PlatformEnv) -> Any:
    """``handler`` running with :func:`scoped_env` ``env``."""

    def run(event: Any, context: Any) -> Any:
        with scoped_env(env):
            return handler(event, context)

    return run
