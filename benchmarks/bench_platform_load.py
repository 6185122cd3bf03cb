"""Load on the local platform: 20 clients at a time for a bounded duration, each on its own
keep-alive connection (``http.client``), through the gateway (HTTP, JWT check, HTTP API v2
event, the function): ``POST /v1/signals`` on 1,000 candles, then ``GET /v1/data``.

Reference, measured side by side in the same run: the same requests handed to the function
in-process (the platform's Lambda dispatch; no HTTP, no JWT), also 20 at a time for the same
duration. Locally a function runs one invocation at a time (one execution environment), so
concurrency shows up as queueing in both; requests/s is the figure, and its ratio
gateway / in-process is what HTTP, the token check and building the event cost. Throttling
is off: the catalog's per-route limit (20 requests/s) would turn most of the load into 429s,
which measures the limit, not the platform. Every answer must be 200: anything else, or a
failed connection, is counted as an error.
"""

from __future__ import annotations

import http.client
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

CONCURRENCY = 20
CANDLES = 1_000
DURATIONS_S = {"signals": 10.0, "data": 5.0}


def _body() -> bytes:
    from tradpal.data.sources.synthetic import generate_ohlcv

    frame = generate_ohlcv(CANDLES, "1h", seed=7, symbol="SYN/USD")
    columns = {c: frame[c].to_numpy().tolist() for c in frame.columns}
    candles = [
        {"time": t.isoformat(), **{c: columns[c][i] for c in columns}}
        for i, t in enumerate(frame.index)
    ]
    body = {"symbol": "SYN/USD", "timeframe": "1h", "strategy": "ema_crossover"}
    return json.dumps({**body, "candles": candles}).encode()


def _event(method: str, path: str, body: bytes | None) -> dict[str, Any]:
    """The HTTP API v2 event of one request, as the gateway hands it over."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1"},
            "requestId": "bench",
            "routeKey": f"{method} {path}",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body.decode()
    return event


def _load(make_client: Callable[[], Callable[[], bool]], duration_s: float) -> dict[str, Any]:
    """:data:`CONCURRENCY` clients, each made by ``make_client`` (its own connection),
    sending requests back to back for ``duration_s``: latencies, errors, requests/s."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + duration_s

    def client(_: int) -> None:
        nonlocal errors
        send = make_client()
        mine: list[float] = []
        failed = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                ok = send()
            except (OSError, http.client.HTTPException):
                ok = False
                send = make_client()  # a new connection after a broken one
            mine.append(time.perf_counter() - started)
            failed += not ok
        with lock:
            latencies.extend(mine)
            errors += failed

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(client, range(CONCURRENCY)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "requests_per_s": len(ordered) / wall,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
        "max_ms": ordered[-1] * 1000,
        "errors": errors,
    }


def main() -> dict[str, Any]:
    from tradpal.local.platform import LocalPlatform

    body = _body()
    home = tempfile.mkdtemp(prefix="tradpal-bench-")
    platform = LocalPlatform(home, port=0, sample=True, run_schedules=False, throttle=False)
    platform.start()
    routes = {
        "signals": ("signals", "POST", "/v1/signals", body),
        "data": ("data", "GET", "/v1/data", None),
    }
    result: dict[str, Any] = {"concurrency": CONCURRENCY, "candles": CANDLES}
    try:
        token = platform.token(("read",), ttl_s=3600)
        host, port = platform.url.removeprefix("http://").split(":")
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        for name, (capability, method, path, payload) in routes.items():
            event = _event(method, path, payload)

            def over_http(method=method, path=path, payload=payload) -> Callable[[], bool]:
                connection = http.client.HTTPConnection(host, int(port), timeout=120)

                def send() -> bool:
                    connection.request(method, path, body=payload, headers=headers)
                    answer = connection.getresponse()
                    answer.read()
                    return answer.status == 200

                return send

            def in_process(capability=capability, event=event) -> Callable[[], bool]:
                # the same in-process Lambda the gateway invokes, without HTTP and JWT
                return lambda: platform.invoke(capability, event)["statusCode"] == 200

            over_http()(), in_process()()  # warm both paths once
            gateway = _load(over_http, DURATIONS_S[name])
            direct = _load(in_process, DURATIONS_S[name])
            result[name] = {
                "route": f"{method} {path}",
                "duration_s": DURATIONS_S[name],
                "gateway": gateway,
                "in_process": direct,
                "requests_per_s_ratio_gateway_vs_in_process": gateway["requests_per_s"]
                / direct["requests_per_s"],
            }
    finally:
        platform.stop()
    print(f"{CONCURRENCY} clients at a time, keep-alive; POST /v1/signals on {CANDLES} candles")
    for name in routes:
        r = result[name]
        for side in ("gateway", "in_process"):
            f = r[side]
            print(
                f"  {r['route']:<18} {side:<10}  {f['requests_per_s']:>6.1f} req/s  p50 "
                f"{f['p50_ms']:>6.1f} ms  p99 {f['p99_ms']:>6.1f} ms  {f['requests']} requests"
                f"  errors {f['errors']}"
            )
        print(f"    gateway / in-process: {r['requests_per_s_ratio_gateway_vs_in_process']:.2f}")
    return result


if __name__ == "__main__":
    main()
