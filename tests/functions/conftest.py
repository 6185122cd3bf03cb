"""Handlers run against moto in server mode with the platform's resources provisioned, the
same way the local platform runs them (tradpal.local)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tradpal.local.moto_server import MotoServer, patched_environ
from tradpal.local.resources import local_env, provision
from tradpal.platform.clients import client, reset_clients
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
