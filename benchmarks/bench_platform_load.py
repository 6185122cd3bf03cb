"""Load on the local platform: 1,000 ``POST /v1/signals`` requests on 1,000 candles each,
20 at a time, through the gateway (HTTP, JWT check, HTTP API v2 event, the signals handler).

Reference, measured side by side in the same run: the same requests handed to the signals
function in-process (the platform's Lambda dispatch; no HTTP, no JWT), also 20 at a time.
Locally a function runs one invocation at a time (one execution environment), so
concurrency shows up as queueing in both. The ratio of the two p50 latencies
is the gateway's overhead. Throttling is off: the catalog's per-route limit (20 requests/s)
would turn most of the load into 429s, which measures the limit, not the platform.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

REQUESTS = 1_000
CONCURRENCY = 20
CANDLES = 1_000


def _body() -> bytes:
    from tradpal.data.sources.synthetic import generate_ohlcv

    frame = generate_ohlcv(CANDLES, "1h", seed=7, symbol="SYN/USD")
    candles = [
        {
            "time": t.isoformat(),
            "open": float(r.open),
            "high": float(r.high),
            "low": float(r.low),
            "close": float(r.close),
            "volume": float(r.volume),
        }
        for t, r in frame.iterrows()
    ]
    body = {"symbol": "SYN/USD", "timeframe": "1h", "strategy": "ema_crossover"}
    return json.dumps({**body, "candles": candles}).encode()


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def _run(call) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0

    def one(_: int) -> None:
        nonlocal errors
        started = time.perf_counter()
        ok = call()
        latencies.append(time.perf_counter() - started)
        if not ok:
            errors += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(REQUESTS)))
    wall = time.perf_counter() - started
    return {**_percentiles(latencies), "errors": errors, "requests_per_s": REQUESTS / wall}


def main() -> dict:
    from tradpal.local.platform import LocalPlatform

    body = _body()
    home = tempfile.mkdtemp(prefix="tradpal-bench-")
    platform = LocalPlatform(home, port=0, sample=False, run_schedules=False, throttle=False)
    platform.start()
    try:
        token = platform.token(("read",), ttl_s=3600)
        url = platform.url + "/v1/signals"
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}

        def over_http() -> bool:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    answer.read()
                    return answer.status == 200
            except (urllib.error.URLError, OSError):
                return False

        event = {
            "version": "2.0",
            "routeKey": "POST /v1/signals",
            "rawPath": "/v1/signals",
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "http": {"method": "POST", "path": "/v1/signals", "protocol": "HTTP/1.1"},
                "requestId": "bench",
                "routeKey": "POST /v1/signals",
                "stage": "$default",
            },
            "body": body.decode(),
            "isBase64Encoded": False,
        }

        def in_process() -> bool:
            # the same in-process Lambda the gateway invokes, without HTTP and JWT
            return platform.invoke("signals", event)["statusCode"] == 200

        over_http()  # warm both paths once
        in_process()
        direct = _run(in_process)
        gateway = _run(over_http)
    finally:
        platform.stop()
    result = {
        "requests": REQUESTS,
        "concurrency": CONCURRENCY,
        "candles": CANDLES,
        "gateway": gateway,
        "handler_in_process": direct,
        "p50_ratio_gateway_vs_handler": gateway["p50_ms"] / direct["p50_ms"],
    }
    print(
        f"{REQUESTS} requests, {CONCURRENCY} at a time, {CANDLES} candles each\n"
        f"  gateway (HTTP + JWT + v2 event): p50 {gateway['p50_ms']:.1f} ms  "
        f"p99 {gateway['p99_ms']:.1f} ms  {gateway['requests_per_s']:.0f} req/s  "
        f"errors {gateway['errors']}\n"
        f"  handler in-process:              p50 {direct['p50_ms']:.1f} ms  "
        f"p99 {direct['p99_ms']:.1f} ms  {direct['requests_per_s']:.0f} req/s  "
        f"errors {direct['errors']}\n"
        f"  p50 ratio {result['p50_ratio_gateway_vs_handler']:.2f}"
    )
    return result


if __name__ == "__main__":
    main()
