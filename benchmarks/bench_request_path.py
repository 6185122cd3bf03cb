"""The request path: the signals and indicators handlers in-process on 1,000 posted candles.

Each handler is called as Lambda calls it: ``functions.<capability>.handler.handler`` with an
HTTP API v2 event and a Lambda context, the Powertools logger, metrics and tracer around it,
configured as the local platform configures them (tracing and metrics off, log level
WARNING); the results bucket is moto's, for the indicators' offload. p50 over 200 calls; the
reference, measured side by side and interleaved call for call: ``json.loads`` of the same
body. The ratio is handler p50 / ``json.loads`` p50.

Cases (the synthetic SYN/USD 1h market, seed 7, 1,000 candles, ~180 KB of JSON):

* ``signals``: ``POST /v1/signals``, ema_crossover;
* ``indicators``: ``POST /v1/indicators`` with ema:9 and rsi:14, whose rows (~220 KB of JSON)
  are answered inline;
* ``indicators_default_set``: the configured set (EMA 9/21, RSI 14, Bollinger 20/2, ATR 14):
  ~460 KB of rows, above the 256 KB inline limit, so every call stores them in the results
  bucket (a PUT to moto over HTTP) and answers a pre-signed link.

For the indicators the answer is larger than the request: ``rows_dumps_ms`` is
``json.dumps`` of the rows alone (compact), measured in the same loop, and
``ratio_to_loads_plus_rows_dumps`` the handler against parsing the body plus encoding the rows
once, the least any handler that answers them in JSON does.
Run: .venv/bin/python benchmarks/bench_request_path.py
"""

from __future__ import annotations

import importlib
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CALLS = 200
WARMUP = 10
CANDLES = 1_000
ENVIRON = {  # as tradpal.local.platform sets them for the functions
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "TradPal",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def candles(n: int = CANDLES) -> list[dict[str, Any]]:
    """``n`` candles of the synthetic market as a client posts them (ISO times, numbers)."""
    from tradpal.data.sources.synthetic import generate_ohlcv

    frame = generate_ohlcv(n, "1h", seed=7, symbol="SYN/USD")
    columns = {c: frame[c].to_numpy().tolist() for c in frame.columns}
    return [
        {"time": t.isoformat(), **{c: columns[c][i] for c in columns}}
        for i, t in enumerate(frame.index)
    ]


def http_event(path: str, body: bytes) -> dict[str, Any]:
    """An HTTP API (payload 2.0) POST event, as API Gateway delivers it."""
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "content-length": str(len(body))},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": "bench",
            "routeKey": f"POST {path}",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


class Context:
    """The attributes Powertools reads from a Lambda context."""

    function_name = "tradpal-bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tradpal-bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _handler(capability: str) -> Any:
    if sys.path[:1] != [str(ROOT)]:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"functions.{capability}.handler").handler


def measure(capability: str, body: dict[str, Any], rows_of: Any = None) -> dict[str, Any]:
    """p50 of the handler and of ``json.loads`` of its body (and of ``json.dumps`` of the
    answered rows, for the indicators), interleaved over :data:`CALLS` calls."""
    handler = _handler(capability)
    raw = json.dumps(body).encode()
    event, context = http_event(f"/v1/{capability}", raw), Context()
    answer = handler(event, context)
    if answer["statusCode"] != 200:
        raise RuntimeError(f"{capability}: {answer['statusCode']} {answer['body'][:300]}")
    rows = rows_of(json.loads(answer["body"])) if rows_of else None
    text = event["body"]
    took: dict[str, list[float]] = {"handler": [], "loads": [], "rows_dumps": []}
    for i in range(WARMUP + CALLS):
        t0 = time.perf_counter()
        status = handler(event, context)["statusCode"]
        t1 = time.perf_counter()
        json.loads(text)
        t2 = time.perf_counter()
        if rows is not None:
            json.dumps(rows, separators=(",", ":"))
        t3 = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"{capability}: status {status} on call {i}")
        if i >= WARMUP:
            took["handler"].append(t1 - t0)
            took["loads"].append(t2 - t1)
            took["rows_dumps"].append(t3 - t2)
    p50 = {k: statistics.median(v) for k, v in took.items()}
    out = {
        "body_bytes": len(raw),
        "answer_bytes": len(answer["body"]),
        "handler_p50_ms": p50["handler"] * 1e3,
        "handler_p90_ms": sorted(took["handler"])[int(0.9 * (CALLS - 1))] * 1e3,
        "json_loads_p50_ms": p50["loads"] * 1e3,
        "ratio_to_json_loads": p50["handler"] / p50["loads"],
    }
    if rows is not None:
        out["rows_bytes"] = len(json.dumps(rows, separators=(",", ":")))
        out["rows_dumps_p50_ms"] = p50["rows_dumps"] * 1e3
        out["ratio_to_loads_plus_rows_dumps"] = p50["handler"] / (p50["loads"] + p50["rows_dumps"])
    return out


def _stored_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    import urllib.request

    with urllib.request.urlopen(answer["url"], timeout=30) as got:  # moto, on 127.0.0.1
        return json.loads(got.read())


def main() -> dict[str, Any]:
    from tradpal.local.moto_server import MotoServer, patched_environ
    from tradpal.local.resources import local_env, provision
    from tradpal.platform.aws import reset_clients
    from tradpal.platform.environment import platform_env

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log
    posted = candles()
    home = tempfile.mkdtemp(prefix="tradpal-bench-")  # the default settings, not a user's
    server = MotoServer().start()
    env = local_env(prefix="bench")
    figures: dict[str, Any] = {"candles": CANDLES, "calls": CALLS}
    try:
        environ = {**server.environ(), **env.to_environ(), **ENVIRON, "TRADPAL_HOME": home}
        with patched_environ(environ):
            reset_clients()
            platform_env.cache_clear()
            provision(env)
            labels = {"symbol": "SYN/USD", "timeframe": "1h"}
            figures["signals"] = measure(
                "signals", {**labels, "strategy": "ema_crossover", "candles": posted}
            )
            figures["indicators"] = measure(
                "indicators",
                {**labels, "indicators": ["ema:9", "rsi:14"], "candles": posted},
                rows_of=lambda answer: answer["rows"],
            )
            figures["indicators_default_set"] = measure(
                "indicators", {**labels, "candles": posted}, rows_of=_stored_rows
            )
    finally:
        reset_clients()
        platform_env.cache_clear()
        server.stop()
    print(
        f"Handlers in-process, {CANDLES} posted candles, p50 of {CALLS} calls against "
        "json.loads of the same body"
    )
    for name in ("signals", "indicators", "indicators_default_set"):
        f = figures[name]
        line = (
            f"  {name:<24}{f['handler_p50_ms']:>7.2f} ms   json.loads "
            f"{f['json_loads_p50_ms']:.2f} ms   ratio {f['ratio_to_json_loads']:.2f}"
        )
        if "rows_dumps_p50_ms" in f:
            line += (
                f"   (rows json.dumps {f['rows_dumps_p50_ms']:.2f} ms; against loads + dumps "
                f"{f['ratio_to_loads_plus_rows_dumps']:.2f})"
            )
        print(line)
    return figures


if __name__ == "__main__":
    main()
