"""moto in server mode for the local-runtime tests: a fresh state per use, env pointed at it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from tradpal.local.moto_server import MOTO_CONFIG, MotoServer, patched_environ


def reset_moto(server: MotoServer) -> None:
    """Forget every resource (moto's backends are process-wide) and re-apply the config."""
    for path, body in (("reset", b""), ("config", json.dumps(MOTO_CONFIG).encode())):
        request = urllib.request.Request(
            f"{server.url}/moto-api/{path}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


@contextmanager
def running_moto() -> Iterator[MotoServer]:
    """A moto server on a free 127.0.0.1 port with AWS_* variables pointing at it; call
    :func:`reset_moto` for an empty state (a module can share one server)."""
    server = MotoServer().start()
    try:
        with patched_environ(server.environ()):
            yield server
    finally:
        server.stop()
