"""A small JSON-over-HTTP client for the local platform's gateway (end-to-end tests)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any


class Client:
    """A tiny HTTP client for the gateway: JSON in, ``(status, JSON body, headers)`` out."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url, self.token = url, token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        sent = {"content-type": "application/json", **(headers or {})}
        bearer = token if token is not None else self.token
        if bearer:
            sent["authorization"] = f"Bearer {bearer}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                raw, status, got = answer.read(), answer.status, dict(answer.headers)
        except urllib.error.HTTPError as err:
            raw, status, got = err.read(), err.code, dict(err.headers)
        return status, json.loads(raw) if raw else None, {k.lower(): v for k, v in got.items()}

    def wait(self, path: str, *, timeout_s: float = 120.0) -> Any:
        """GET ``path`` until its status is no longer RUNNING (bounded)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status, body, _ = self.call("GET", path)
            assert status == 200, body
            if body["status"] != "RUNNING" or time.monotonic() > deadline:
                return body
            time.sleep(0.2)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read()
