"""Helpers of the fault-injection tests: ``tradpal up`` as a child process that a test kills
with ``kill -9`` at random points and starts again on the same TRADPAL_HOME, and calls to its
API. What the platform prints is kept, so a test can look for failures it logged."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tradpal.auth.issuer import LocalIssuer

URL = re.compile(r"running at (http://127\.0\.0\.1:\d+)")
AWS_URL = re.compile(r"AWS services[^:]*: (http://127\.0\.0\.1:\d+)")


class Up:
    """A started ``tradpal up``: its process, the API's URL, the local AWS endpoint (moto)
    and everything it printed so far (:meth:`output`)."""

    def __init__(self, proc: subprocess.Popen, url: str, lines: list[str]) -> None:
        self.proc, self.url, self._lines = proc, url, lines
        self.aws_url: str | None = None
        # keep reading its output, so that a full pipe never blocks it
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.append(line)

    def output(self) -> str:
        return "".join(self._lines)

    def aws(self, timeout_s: float = 30.0) -> str:
        """The local AWS endpoint it printed (after its URL)."""
        deadline = time.monotonic() + timeout_s
        while self.aws_url is None:
            if match := AWS_URL.search(self.output()):
                self.aws_url = match.group(1)
            elif time.monotonic() > deadline:
                pytest.fail(f"tradpal up printed no AWS endpoint:\n{self.output()}")
            else:
                time.sleep(0.05)
        return self.aws_url

    def kill(self) -> str:
        """``kill -9``; what it printed."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(10)
        return self.output()

    def stop(self, timeout_s: float = 120) -> str:
        """Ctrl-C, and wait for the graceful stop; what it printed."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._reader.join(10)
        return self.output()


def start(home: Path, *args: str, env: dict[str, str] | None = None) -> Up:
    """``tradpal up --port 0 --no-schedules ARGS`` on ``home``, once it serves."""
    environ = {**os.environ, "TRADPAL_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    command = [str(Path(sys.executable).with_name("tradpal")), "up", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--no-schedules", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**environ, **(env or {})},
    )  # fmt: skip
    deadline, seen = time.monotonic() + 180, []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if match := URL.search(line):
            return Up(proc, match.group(1), seen)
    proc.kill()
    pytest.fail(f"tradpal up did not start:\n{''.join(seen)}")


def token(home: Path, scopes: list[str]) -> str:
    """A token of the platform's issuer under ``home`` (it survives restarts)."""
    issuer = LocalIssuer.load_or_create(home / "platform" / "issuer")
    return issuer.mint(scopes, ttl_s=3600)


def call(url: str, token: str, method: str, path: str, body: dict | None = None) -> tuple:
    """``(status, JSON body)`` of one API request, waiting out throttling (429) for the
    Retry-After seconds as a client is told to: the tests poll runs in tight loops, and the
    per-caller limit (10/s, burst 20) is part of the platform under test, not a failure."""
    request = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as exc:
            status, answer = exc.code, json.loads(exc.read() or b"{}")
            if status != 429 or time.monotonic() > deadline:
                return status, answer
            time.sleep(min(float(exc.headers.get("Retry-After") or 0.5), 2.0))


FAILURES = re.compile(
    r"Traceback|on-failure queue|failed records kept|undelivered and kept|dead-lettered|"
    r"delivery crashed|polling .* failed"
)
"""What the platform logs when a consumer, a delivery or a stream poller failed."""


def failures(output: str) -> list[str]:
    """The lines of ``output`` that report a failure (:data:`FAILURES`)."""
    return [line for line in output.splitlines() if FAILURES.search(line)]
