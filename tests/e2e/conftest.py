"""End-to-end: the local platform started once per module, used over real HTTP."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fakes.api_client import Client


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A started local platform (sample ingested, schedules only on demand, no throttles)."""
    from tradpal.local.platform import LocalPlatform

    home = tmp_path_factory.mktemp("platform-home")
    started = LocalPlatform(home, port=0, run_schedules=False, throttle=False).start()
    try:
        client = Client(started.url, started.token(("read", "trade", "admin")))
        yield SimpleNamespace(platform=started, client=client, home=home)
    finally:
        started.stop()
