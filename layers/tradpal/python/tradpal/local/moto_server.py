"""moto in server mode, in this process: the AWS services of the local platform.

Server mode (not ``mock_aws``) because pyarrow's S3 client, which the market data store uses,
speaks real HTTP; in-process because Lambda invocations (Step Functions tasks included) are
dispatched to the handlers by patching moto's Lambda backend (:mod:`tradpal.local.lambdas`),
which only works when moto runs in the same process.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tradpal.errors import ConfigError

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class MotoServer:
    """A moto server on ``127.0.0.1:<port>`` with Step Functions executing definitions and
    Lambda without Docker. :meth:`environ` gives the variables that point boto3, pyarrow and
    Step Functions' own calls at it."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        from moto.server import ThreadedMotoServer

        try:
            self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
            self._server.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot start the local AWS services on {self.url}: {exc}",
                hint="choose another port or stop what is using it",
            ) from None
        # moto's backends are process-wide: a server started after another in the same
        # process would see its resources. Start from nothing (the platform restores its own
        # state from its snapshot).
        reset = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(reset, timeout=10) as answer:
            answer.read()
        request = urllib.request.Request(
            f"{self.url}/moto-api/config",
            data=json.dumps(MOTO_CONFIG).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
        return self

    def wrap_app(self, wrap: Any) -> None:
        """Put ``wrap(app)`` in front of moto's WSGI app (a journal, :mod:`tradpal.local.
        journal`): every request of the running server goes through it."""
        server = self._server._server if self._server is not None else None
        if server is None:
            raise ConfigError("the local AWS services are not running", hint="start() first")
        server.app = wrap(server.app)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def environ(self) -> dict[str, str]:
        """Environment variables for clients of this server (fake credentials: moto's)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # Step Functions' lambda:invoke tasks call back into moto on this port
            "MOTO_PORT": str(self.port),
        }


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set inside the block, restored after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
