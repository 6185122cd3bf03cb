"""Shared fixtures: the real market data beside the checkout, isolated homes, and moto with
the platform's resources provisioned (handlers, runs and adapters run against it the same way
the local platform runs them, tradpal.local)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real exchange candles. Skips when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real market data not found at {SHARED_DATA} (a user's clone has none)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own TRADPAL_HOME, so no test reads or writes a user's data."""
    home = tmp_path_factory.mktemp("tradpal-home")
    monkeypatch.setenv("TRADPAL_HOME", str(home))
    for var in ("TRADPAL_CONFIG", "TRADPAL_PROFILE", "TRADPAL_STRATEGY_DIRS"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def aws(tmp_path, monkeypatch):
    """A fresh moto server with the buckets, tables, bus, stream and notifier secret; the
    process environment points boto3, pyarrow and the handlers at it."""
    from tradpal.local.moto_server import MotoServer, patched_environ
    from tradpal.local.resources import local_env, provision
    from tradpal.platform.aws import client, reset_clients
    from tradpal.platform.environment import platform_env

    server = MotoServer().start()
    env = local_env(prefix=f"t{server.port}")
    values = {
        **server.environ(),
        **env.to_environ(),
        "TRADPAL_HOME": str(tmp_path / "home"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }
    try:
        with patched_environ(values):
            reset_clients()
            platform_env.cache_clear()
            provision(env)
            yield SimpleNamespace(server=server, env=env, client=client, tmp=tmp_path)
    finally:
        reset_clients()
        platform_env.cache_clear()
        server.stop()


@pytest.fixture
def machines(aws, monkeypatch):
    """``aws`` plus both state machines and their task functions, every invocation running
    the real handlers in this process; Retry waits are recorded, not slept
    (``machines.sleeps``). ``machines.local`` is the LocalLambda (calls, re-registering)."""
    from fakes.lambda_events import load_handler
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    from tradpal.local.lambdas import LocalLambda
    from tradpal.local.machines import deploy_state_machines
    from tradpal.local.moto_server import patched_environ
    from tradpal.platform.environment import platform_env

    sleeps: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=sleeps.append))
    local = LocalLambda()
    handlers = {
        c: load_handler(c).handler for c in ("backtests", "discovery", "discovery_evaluate")
    }
    env = deploy_state_machines(aws.env, local, handlers, evaluate_batch_size=2)
    with patched_environ(env.to_environ()), local.install():
        platform_env.cache_clear()
        yield SimpleNamespace(**{**vars(aws), "env": env, "local": local, "sleeps": sleeps})
    platform_env.cache_clear()
