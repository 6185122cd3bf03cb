"""Handlers run against moto in server mode with the platform's resources provisioned, the
same way the local platform runs them (tradpal.local)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tradpal.local.moto_server import MotoServer, patched_environ
from tradpal.local.resources import local_env, provision
from tradpal.platform.aws import client, reset_clients
from tradpal.platform.environment import platform_env


@pytest.fixture
def aws(tmp_path, monkeypatch):
    """A fresh moto server with the buckets, tables, bus, stream and notifier secret; the
    process environment points boto3, pyarrow and the handlers at it."""
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
