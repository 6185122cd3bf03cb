"""Cold start: a fresh process imports tradpal.indicators and computes the set on 10,000 bars;
and every Lambda function's cold start, a fresh process importing its handler and serving
its first request.

Wall time of the whole subprocess (interpreter start included), median of several
runs, against the 0.5 s budget; `python -c pass` and TA-Lib doing the same work
are measured in the same run for reference.

Functions: for each capability, ``functions.<capability>.handler`` imported in a fresh
interpreter that then serves one request as Lambda delivers it, against a moto server this
process starts (the platform's buckets, tables, bus, stream and notifier secret
provisioned), in the environment the local platform gives its functions; median of
:data:`FUNCTION_RUNS` wall times against :data:`FUNCTION_BUDGET_S`, with the median split into
interpreter start, handler import and first request (from the child's own clock). The
first requests (:data:`FIRST_REQUESTS`) answer without a state machine: the HTTP functions a
real route (the discovery one a run id that is not stored: 404), the discovery worker a batch
whose data is not stored (it records the refusal in the results bucket), the notifier an
event no channel is configured for.

Two ways (:data:`MODES`): "bytecode", this environment with every module's bytecode cached;
and "shipped", what scripts/build_lambda.py ships, as Lambda runs it: Python 3.12, the
function's zip unpacked as /var/task and the layer's as /opt/python, read-only and with
PYTHONDONTWRITEBYTECODE (Lambda cannot write there), so only the bytecode in the zips is
used; boto3 and botocore, which the runtime provides, precompiled as the runtime has them.
The build runs first into a scratch folder (wheels from build/wheels; about 1.5 minutes), or
``TRADPAL_LAMBDA_BUILD=DIR`` takes one already built there. The image capabilities
(backtests, discovery_evaluate) are modelled the same way, their handler zipped and compiled
as a zip function's (their images also install the layer's packages, pip compiling them).
Each run also counts the modules of the shipped code compiled from source at that cold start,
and the process's CPU time (user + system, its exit included), which a machine busy with
other work inflates far less than the wall time.
Run: .venv/bin/python benchmarks/bench_cold_start.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

RUNS = 7
BUDGET_S = 0.5
FUNCTION_RUNS = 5
FUNCTION_BUDGET_S = 1.0
ROOT = Path(__file__).resolve().parents[1]

_DATA = """
import numpy as np
rng = np.random.default_rng(42)
c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 10_000)))
h = c * 1.004; lo = c * 0.996; v = rng.gamma(2.0, 500.0, 10_000)
"""

SCRIPTS = {
    "python -c pass": "pass",
    "tradpal.indicators + set": "import tradpal.indicators as ti\n"
    + _DATA
    + "ti.compute(ti.TRADPAL_SET, high=h, low=lo, close=c, volume=v)\n"
    + "import sys; assert 'pandas' not in sys.modules\n",
    "talib + set": "import talib\n"
    + _DATA
    + "talib.EMA(c, 9); talib.EMA(c, 21); talib.RSI(c, 14); talib.BBANDS(c, 20, 2, 2, 0)\n"
    + "talib.ATR(h, lo, c, 14); talib.MACD(c, 12, 26, 9); talib.ADX(h, lo, c, 14)\n"
    + "talib.PLUS_DI(h, lo, c, 14); talib.MINUS_DI(h, lo, c, 14)\n"
    + "talib.STOCH(h, lo, c, 14, 3, 0, 3, 0); talib.OBV(c, v)\n",
}


def wall(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def _candles(n: int) -> list[dict[str, Any]]:
    from tradpal.data.sources.synthetic import generate_ohlcv

    frame = generate_ohlcv(n, "1h", seed=7, symbol="SYN/USD")
    return [
        {"time": t.isoformat(), **{c: float(frame[c].iloc[i]) for c in frame.columns}}
        for i, t in enumerate(frame.index)
    ]


def _http(method: str, path: str, body: Any = None, route: str | None = None) -> dict[str, Any]:
    key = f"{method} {route or path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1"},
            "requestId": "cold-start",
            "routeKey": key,
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def first_requests() -> dict[str, dict[str, Any]]:
    """The first request each function serves (see the module docstring)."""
    posted = _candles(50)
    batch = {
        "Items": [{"id": 0, "params": {"fast": 9, "slow": 21}}],
        "BatchInput": {
            "task": "evaluate",
            "run_id": "cold-start",
            "generation": 0,
            "request": {"strategy": "ema_crossover", "data": {"source": "store",
                        "symbol": "NONE/USD", "timeframe": "1h"}},
            "results_prefix": "discovery/cold-start/g0/results/",
        },
    }  # fmt: skip
    alert = {
        "version": "0",
        "id": "cold-start",
        "detail-type": "risk_alert",
        "source": "tradpal.signals",
        "account": "123456789012",
        "time": "2024-05-01T13:00:01Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"alert_id": "r-1", "level": "warning", "kind": "drawdown",
                   "message": "Drawdown 12% (limit 20%)", "time": "2024-05-01T13:00:00Z"},
    }  # fmt: skip
    return {
        "health": _http("GET", "/v1/health"),
        "signals": _http("POST", "/v1/signals", {"strategy": "ema_crossover", "candles": posted}),
        "indicators": _http(
            "POST", "/v1/indicators", {"indicators": ["ema:9", "rsi:14"], "candles": posted}
        ),
        "data": _http("GET", "/v1/data"),
        "backtests": _http("GET", "/v1/backtests"),
        "discovery": _http("GET", f"/v1/discovery/{uuid.UUID(int=0)}", route="/v1/discovery/{id}"),
        "discovery_evaluate": batch,
        "notifier": alert,
    }


FIRST_REQUESTS = (
    "health", "signals", "indicators", "data", "backtests", "discovery", "discovery_evaluate",
    "notifier",
)  # fmt: skip

_CHILD = """
import time
started = time.perf_counter()
import json, sys
import _frozen_importlib_external as external
compiled = []  # the shipped code's modules compiled from source (no usable bytecode)
source_to_code = external.SourceLoader.source_to_code
def recording(self, data, path, *args, **kw):
    if path.startswith({shipped!r}):
        compiled.append(path)
    return source_to_code(self, data, path, *args, **kw)
external.SourceLoader.source_to_code = recording
sys.path[:0] = {paths!r}
import importlib
module = importlib.import_module("functions.{capability}.handler")
imported = time.perf_counter()

class Context:
    function_name = "tradpal-{capability}"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tradpal-{capability}"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self):
        return 60_000

answer = module.handler(json.loads(sys.stdin.read()), Context())
served = time.perf_counter()
served_at = time.time()
status = answer.get("statusCode", "ok") if isinstance(answer, dict) else "ok"
print(json.dumps({{"import_s": imported - started, "first_request_s": served - imported,
                  "served_at": served_at, "status": status, "compiled": len(compiled),
                  "python": "%d.%d" % sys.version_info[:2]}}))
"""

MODES = {
    "bytecode": "this environment, every module's bytecode cached (written by a first run)",
    "shipped": "as the Lambda build ships it: Python 3.12, the function zip and the layer "
    "unpacked read-only as /var/task and /opt/python, their bytecode only (no writing)",
}


def shipped_build(scratch: Path, capabilities: list[str]) -> dict[str, Any] | None:
    """The Lambda artefacts unpacked as Lambda has them, under ``scratch``: ``python`` (the
    runtime's, that compiled the bytecode), ``paths`` by capability (/var/task, /opt/python,
    the runtime's boto3) and ``roots`` (the shipped trees); None, said why, when they cannot
    be built here (no Python 3.12, no wheels)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_lambda

    given = os.environ.get("TRADPAL_LAMBDA_BUILD")
    out = Path(given).resolve() if given else scratch / "build"
    if given:
        summary = json.loads((out / "lambda-sizes.json").read_text())
    else:
        zips, _ = build_lambda.catalog_packaging()
        try:
            summary = build_lambda.build(out, zips, cache=ROOT / "build" / "wheels")
        except build_lambda.BuildError as exc:
            print(f"  shipped: skipped, the Lambda build failed here: {exc}")
            return None
    compiled_by = (summary.get("bytecode") or {}).get("python")  # None: built without bytecode
    python = compiled_by or build_lambda.find_runtime_python()[0]
    if python is None:
        print("  shipped: skipped, no Python 3.12 here to run the runtime's code")
        return None
    opt = scratch / "opt"
    with zipfile.ZipFile(out / "layer.zip") as zf:
        zf.extractall(opt)
    runtime = scratch / "runtime"  # what the Lambda runtime provides, bytecode included
    for name in sorted(build_lambda.RUNTIME_PROVIDED):
        spec = importlib.util.find_spec(name)
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(Path(spec.origin).parent, runtime / name, ignore=ignore)
    subprocess.run([python, "-I", "-m", "compileall", "-q", str(runtime)], check=True)
    paths, roots = {}, [str(opt)]
    for capability in capabilities:
        zipped = out / "functions" / f"{capability}.zip"
        if not zipped.is_file():  # an image capability: its handler, as a zip function's
            zipped = scratch / "functions" / f"{capability}.zip"
            build_lambda.package_function(capability, scratch, compiled_by)
        task = scratch / "task" / capability
        with zipfile.ZipFile(zipped) as zf:
            zf.extractall(task)
        paths[capability] = [str(task), str(opt / "python"), str(runtime)]
        roots.append(str(task))
    for tree in (opt, scratch / "task"):  # read-only, as on Lambda (root writes anyway)
        for f in [tree, *tree.rglob("*")]:
            f.chmod(f.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return {"python": python, "paths": paths, "roots": tuple(roots), "build": str(out)}


def function_cold_starts() -> dict[str, Any]:
    """Per capability: the median time from spawning a fresh process to its answer to the
    first request, and the parts of that run; with every module's bytecode cached, and as the
    Lambda build ships it (:data:`MODES`). The cached bytecode lives under a
    ``PYTHONPYCACHEPREFIX`` of its own, never in the tree."""
    from tradpal.local.moto_server import MotoServer, patched_environ
    from tradpal.local.resources import local_env, provision
    from tradpal.platform.aws import reset_clients
    from tradpal.platform.environment import platform_env

    requests = first_requests()
    server = MotoServer().start()
    env = local_env(prefix="cold")
    scratch = Path(tempfile.mkdtemp(prefix="tradpal-cold-"))
    unset = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH", "PYTHONHOME")
    environ = {
        **{k: v for k, v in os.environ.items() if k not in unset},
        **server.environ(),
        **env.to_environ(),
        "TRADPAL_HOME": str(scratch / "home"),
        # as tradpal.local.platform sets them for its functions
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "TradPal",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    prefixes = {
        "bytecode": {"PYTHONPYCACHEPREFIX": str(scratch / "pyc-all")},
        "shipped": {"PYTHONDONTWRITEBYTECODE": "1"},
    }
    shipped: dict[str, Any] | None = None

    def run(capability: str, mode: str) -> tuple[float, dict]:
        """(seconds from spawning the process to its first answer, the child's parts); the
        interpreter's exit afterwards is not part of a cold start."""
        if mode == "shipped":
            python, paths, roots = shipped["python"], shipped["paths"][capability], shipped["roots"]
        else:
            python, paths, roots = sys.executable, [str(ROOT)], (str(ROOT),)
        code = _CHILD.format(paths=paths, shipped=roots, capability=capability)
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        spawned = time.time()
        done = subprocess.run(
            [python, "-s", "-c", code],
            input=json.dumps(requests[capability]),
            capture_output=True,
            text=True,
            env={**environ, **prefixes[mode]},
        )
        if done.returncode != 0:
            raise RuntimeError(f"{capability} ({mode}) failed: {done.stderr[-2000:]}")
        parts = json.loads(done.stdout.strip().splitlines()[0])
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        parts["cpu_s"] = after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime
        return parts["served_at"] - spawned, parts

    try:
        shipped = shipped_build(scratch, list(FIRST_REQUESTS))
        modes = [m for m in MODES if m != "shipped" or shipped is not None]
        samples: dict[str, dict[str, list[tuple[float, dict[str, Any]]]]] = {
            mode: {c: [] for c in FIRST_REQUESTS} for mode in modes
        }
        with patched_environ({k: environ[k] for k in (*server.environ(), *env.to_environ())}):
            reset_clients()
            platform_env.cache_clear()
            provision(env)
        for capability in FIRST_REQUESTS:  # bytecode written, the OS file cache warm
            for mode in modes:
                run(capability, mode)
        for _ in range(FUNCTION_RUNS):  # interleaved, so drifts hit every function alike
            for capability in FIRST_REQUESTS:
                for mode in modes:
                    samples[mode][capability].append(run(capability, mode))
    finally:
        reset_clients()
        platform_env.cache_clear()
        server.stop()
        for f in [scratch, *scratch.rglob("*")]:  # the shipped trees were made read-only
            if not f.is_symlink():
                f.chmod(f.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(scratch, ignore_errors=True)
    python_s = statistics.median(wall("pass") for _ in range(FUNCTION_RUNS))
    out: dict[str, Any] = {}
    for capability in FIRST_REQUESTS:
        figures: dict[str, Any] = {}
        for mode in modes:
            runs = sorted(samples[mode][capability], key=lambda r: r[0])
            took, parts = runs[len(runs) // 2]
            prefix = "" if mode == "bytecode" else f"{mode}_"
            figures[f"{prefix}wall_s"] = took
            figures[f"{prefix}import_s"] = parts["import_s"]
            figures[f"{prefix}first_request_s"] = parts["first_request_s"]
            figures[f"{prefix}start_s"] = took - parts["import_s"] - parts["first_request_s"]
            figures[f"{prefix}status"] = parts["status"]
            figures[f"{prefix}within_budget"] = took <= FUNCTION_BUDGET_S
            figures[f"{prefix}cpu_s"] = statistics.median(r[1]["cpu_s"] for r in runs)
            figures[f"{prefix}compiled_modules"] = max(r[1]["compiled"] for r in runs)
        out[capability] = figures
    print(
        "Function cold start: fresh process to the answer of its first request, median of "
        f"{FUNCTION_RUNS} (budget {FUNCTION_BUDGET_S:.1f} s; python -c pass "
        f"{python_s * 1e3:.0f} ms)"
        + (f"; shipped: Python 3.12, the build in {shipped['build']}" if shipped else "")
    )
    for capability, f in out.items():
        line = f"  {capability:<20}"
        for mode in modes:
            p = "" if mode == "bytecode" else f"{mode}_"
            line += (
                f"{mode} {f[p + 'wall_s'] * 1e3:>5.0f} ms (import {f[p + 'import_s'] * 1e3:>4.0f}"
                f", first request {f[p + 'first_request_s'] * 1e3:>4.0f}; cpu "
                f"{f[p + 'cpu_s'] * 1e3:>4.0f}) {f[p + 'status']!s:<4}"
                f"{'' if f[p + 'within_budget'] else 'OVER '}"
            )
            if mode == "shipped":
                line += f" {f['shipped_compiled_modules']} compiled"
            line += "   "
        print(line.rstrip())
    return {
        "budget_s": FUNCTION_BUDGET_S,
        "python_pass_s": python_s,
        "modes": {m: MODES[m] for m in modes},
        "by_capability": out,
    }


def main() -> dict[str, Any]:
    for code in SCRIPTS.values():  # warm the OS file cache once
        wall(code)
    medians = {}
    samples: dict[str, list[float]] = {k: [] for k in SCRIPTS}
    for _ in range(RUNS):  # interleaved, so drifts hit every variant alike
        for name, code in SCRIPTS.items():
            samples[name].append(wall(code))
    print(f"Cold start, fresh subprocess, median of {RUNS} (budget {BUDGET_S:.1f} s)")
    for name, ts in samples.items():
        medians[name] = statistics.median(ts)
        print(f"  {name:<28}{medians[name] * 1e3:>8.0f} ms")
    ours = medians["tradpal.indicators + set"]
    print(f"  tradpal within budget: {'yes' if ours <= BUDGET_S else 'NO'}")
    return {
        "cold_python_pass_s": medians["python -c pass"],
        "cold_tradpal_s": ours,
        "cold_talib_s": medians["talib + set"],
        "cold_budget_s": BUDGET_S,
        "cold_tradpal_minus_python_s": ours - medians["python -c pass"],
        "functions": function_cold_starts(),
    }


if __name__ == "__main__":
    main()
