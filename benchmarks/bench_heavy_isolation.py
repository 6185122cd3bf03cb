"""Light routes while heavy runs go on: does the local platform keep answering?

Two platforms are measured side by side in one run, the same way: the state machines' tasks
in worker processes (the default, ``tradpal.local.workers``) and in the platform's own
process (``workers=0``, as before). For each: ``GET /v1/data`` every 100 ms and
``GET /v1/health`` every second, first for ``IDLE_S`` seconds with nothing running (the
reference), then for ``BUSY_S`` seconds while a backtest of ``HEAVY_BARS`` 1m bars and a
maximal discovery (population 1,000, 20 generations) run; then both runs are cancelled.
Reported: the light route's p50/p99 idle and busy, their ratio, and how many health checks
answered 200. Target (issue 15): busy p99 under 200 ms and health 200 throughout, with
workers.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HEAVY_BARS = 3_000_000
IDLE_S = 5.0
BUSY_S = 25.0


LIGHT_TIMEOUT_S = 30.0
"""A light request unanswered this long counts as answered at the timeout (and as failed)."""


def _call(
    url: str, token: str, method: str, path: str, body: dict | None = None, timeout: float = 120
):
    request = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except TimeoutError:
        return None, {}


def _watch(url: str, token: str, seconds: float) -> dict:
    latencies, health, failed, started = [], [], 0, time.monotonic()
    next_health = started
    while time.monotonic() - started < seconds:
        t0 = time.perf_counter()
        status, _ = _call(url, token, "GET", "/v1/data", timeout=LIGHT_TIMEOUT_S)
        latencies.append(time.perf_counter() - t0)
        failed += status != 200
        if time.monotonic() >= next_health:
            health.append(_call(url, token, "GET", "/v1/health", timeout=LIGHT_TIMEOUT_S)[0])
            next_health = time.monotonic() + 1.0
        time.sleep(0.1)
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
        "max_ms": ordered[-1] * 1000,
        "failed": failed,
        "health_ok": sum(s == 200 for s in health),
        "health_checks": len(health),
    }


def _measure(workers: int | None, frame) -> dict:
    from tradpal.local.platform import LocalPlatform
    from tradpal.platform.environment import platform_env

    with tempfile.TemporaryDirectory() as home:
        platform = LocalPlatform(
            Path(home), port=0, run_schedules=False, throttle=False, workers=workers
        ).start()
        try:
            platform_env().market_store().write(frame)
            token = platform.token(["read", "trade"])
            url = platform.url
            idle = _watch(url, token, IDLE_S)
            backtest = {
                "strategy": "ema_crossover",
                "data": {"symbol": "HEAVY/USD", "timeframe": "1m"},
            }
            discovery = {
                "strategy": "confluence",
                "population": 1000,
                "generations": 20,
                "data": {"source": "store", "symbol": "SYN/USD", "timeframe": "1h"},
            }
            runs = []
            for path, body in (("/v1/backtests", backtest), ("/v1/discovery", discovery)):
                status, accepted = _call(url, token, "POST", path, body)
                assert status == 202, accepted
                runs.append(f"{path}/{accepted['run_id']}")
            busy = _watch(url, token, BUSY_S)
            # still RUNNING: the heavy work went on for the whole window
            busy["runs_at_end"] = [_call(url, token, "GET", run)[1].get("status") for run in runs]
            for run in runs:
                _call(url, token, "DELETE", run)
        finally:
            platform.stop()
    return {"idle": idle, "busy": busy, "busy_p99_over_idle_p99": busy["p99_ms"] / idle["p99_ms"]}


def main() -> dict:
    from tradpal.data.sources.synthetic import generate_ohlcv

    frame = generate_ohlcv(HEAVY_BARS, "1m", seed=11, symbol="HEAVY/USD")
    figures = {}
    for label, workers in (("worker processes", None), ("in the platform's process", 0)):
        figures[label] = _measure(workers, frame)
        f = figures[label]
        print(
            f"{label:28s} GET /v1/data p99 idle {f['idle']['p99_ms']:7.1f} ms, busy "
            f"{f['busy']['p99_ms']:7.1f} ms (x{f['busy_p99_over_idle_p99']:.1f}), max "
            f"{f['busy']['max_ms']:7.1f} ms, {f['busy']['failed']} failed; health 200 "
            f"{f['busy']['health_ok']}/{f['busy']['health_checks']}; runs at the end "
            f"{', '.join(map(str, f['busy']['runs_at_end']))}",
            flush=True,
        )
    return {"heavy_bars": HEAVY_BARS, "busy_s": BUSY_S, **figures}


if __name__ == "__main__":
    main()
