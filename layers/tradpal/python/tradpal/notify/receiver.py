"""A webhook receiver on 127.0.0.1 for local development and tests.

It speaks plain HTTP/1.1 (stdlib ``http.server``), records every request it gets and
answers from a script (``500``, ``429`` with ``Retry-After``, a delay longer than the
sender's timeout, ...) and then ``200``, so the real webhook channel can be exercised over
a real socket. With ``secret`` set it checks ``X-TradPal-Signature`` like a production
receiver should and answers ``401`` to a bad one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tradpal.notify.signing import SIGNATURE_HEADER, SignatureError, verify_signature


@dataclass(frozen=True)
class Reply:
    """One scripted answer: ``status`` after ``delay_s`` seconds, with ``headers``."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request as received, the status it was answered with and the scripted delay
    before the answer (a sender with a shorter timeout never saw that answer)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    delay_s: float = 0.0

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Records POSTs to ``url``; answers ``script`` replies in order, then ``200``."""

    def __init__(self, *, secret: str | None = None, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self._host = host
        self._lock = threading.Lock()
        self._script: list[Reply] = []
        self._requests: list[Received] = []
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------------------

    def start(self) -> WebhookReceiver:
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver._handle(self, self.rfile.read(length))

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer((self._host, 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cut scripted delays short
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the receiver first"
        return self._server.server_address[1]

    def url_for(self, path: str = "/hook") -> str:
        return f"http://{self._host}:{self.port}{path}"

    @property
    def url(self) -> str:
        return self.url_for()

    def script(self, *replies: Reply | int | Iterable[Reply]) -> None:
        """Queue replies (an int is a bare status) answered before the default ``200``."""
        with self._lock:
            for r in replies:
                if isinstance(r, int):
                    self._script.append(Reply(r))
                elif isinstance(r, Reply):
                    self._script.append(r)
                else:
                    self._script.extend(r)

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def delivered(self) -> list[Received]:
        """Requests answered at once with a 2xx (delayed answers may have been abandoned)."""
        return [r for r in self.requests if 200 <= r.answered < 300 and not r.delay_s]

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Received]:
        """The first ``count`` requests, waiting up to ``timeout_s`` for them."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self._requests) >= count, timeout=timeout_s)
            return list(self._requests)

    # -- serving ------------------------------------------------------------------------------

    def _handle(self, http: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._lock:
            reply = self._script.pop(0) if self._script else Reply()
        if self.secret is not None and 200 <= reply.status < 300:
            try:
                verify_signature(self.secret, http.headers.get(SIGNATURE_HEADER), body)
            except SignatureError as exc:
                reply = Reply(401, body=str(exc).encode())
        headers = {k.lower(): v for k, v in http.headers.items()}
        record = Received(http.command, http.path, headers, body, reply.status, reply.delay_s)
        with self._arrived:
            self._requests.append(record)
            self._arrived.notify_all()
        if reply.delay_s:
            self._stopping.wait(reply.delay_s)
        try:
            http.send_response(reply.status)
            for name, value in reply.headers.items():
                http.send_header(name, value)
            http.send_header("Content-Length", str(len(reply.body)))
            http.end_headers()
            http.wfile.write(reply.body)
        except OSError:  # the sender gave up (timeout) and closed the socket
            pass
