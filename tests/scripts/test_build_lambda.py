"""scripts/build_lambda.py: the Lambda layer and function zips, built without Docker.

The slow test runs the real build (wheels for python3.12 / manylinux x86_64, the C kernels
compiled with gcc) and checks Lambda's 250 MB limit, the kernels' GLIBC needs, and that
the layer works: under Python 3.12 when one is installed, its kernels compute the same
numbers, bit for bit, as the kernels installed in the test environment.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_lambda.py"
PY312 = Path("/root/.pyenv/versions/3.12.1/bin/python3.12")

_spec = importlib.util.spec_from_file_location("build_lambda", SCRIPT)
build_lambda = importlib.util.module_from_spec(_spec)
sys.modules["build_lambda"] = build_lambda
_spec.loader.exec_module(build_lambda)

# Runs every C kernel through tradpal's public API on fixed prices made with pure Python
# (identical on every Python), and prints each output's float.hex() values.
PROBE = r"""
import json, random, sys
import numpy as np
import tradpal.indicators as ind
from tradpal.backtest.engine import simulate
from tradpal.backtest.config import BacktestConfig

rng = random.Random(7)
c = [100.0]
for _ in range(599):
    c.append(c[-1] * (1.0 + rng.uniform(-0.02, 0.021)))
c = np.array(c)
h = c * (1.0 + np.array([rng.uniform(0, 0.01) for _ in c]))
lo = c * (1.0 - np.array([rng.uniform(0, 0.01) for _ in c]))
v = np.array([rng.uniform(1.0, 100.0) for _ in c])
o = np.concatenate([[c[0]], c[:-1]])
out = {
    "sma": ind.sma(c, 20), "ema": ind.ema(c, 20), "wma": ind.wma(c, 10), "rsi": ind.rsi(c),
    "atr": ind.atr(h, lo, c), "willr": ind.williams_r(h, lo, c), "obv": ind.obv(c, v),
    "cmf": ind.cmf(h, lo, c, v), "tr": ind.true_range(h, lo, c),
}
for name, tup in (("macd", ind.macd(c)), ("bb", ind.bollinger(c)), ("adx", ind.adx(h, lo, c)),
                  ("stoch", ind.stochastic(h, lo, c))):
    for i, arr in enumerate(tup):
        out[f"{name}{i}"] = arr
fast, slow = ind.sma(c, 10), ind.sma(c, 30)
up = np.nan_to_num(fast) > np.nan_to_num(slow)
sim = simulate(o, h, lo, c, up, ~up, ~up, up, BacktestConfig(allow_short=True))
out["equity"] = sim.equity
out["ledger"] = sim.ledger.ravel()
res = {k: [float(x).hex() for x in np.asarray(a, dtype=float)] for k, a in out.items()}
res["trades"] = sim.num_trades
json.dump({"python": sys.version_info[:2], "result": res, "kernels": ind._native.lib._name},
          sys.stdout)
"""


def _probe(python: Path | str, pythonpath: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    # -S: no site-packages, so only the layer (or, for the venv, sys.path as set) is used
    args = [str(python), *(["-S"] if pythonpath else []), "-c", PROBE]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd="/", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("lambda-build")
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--cache", str(ROOT / "build/wheels")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode == 3:
        pytest.skip(f"the package index is unreachable, the layer cannot be built: {proc.stderr}")
    print(proc.stdout)  # the size table, shown with -s or on failure
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout
    return out, json.loads((out / "lambda-sizes.json").read_text())


@pytest.mark.slow
def test_every_zip_function_with_the_layer_fits_lambdas_limit(built):
    out, summary = built
    zips, _ = build_lambda.catalog_packaging()
    assert {f["name"] for f in summary["functions"]} == set(zips)
    for f in summary["functions"]:
        assert f["total_unzipped"] <= 250 * 1024 * 1024, f
        assert (out / "functions" / f"{f['name']}.zip").exists()
    layer = out / "layer" / "python"
    assert summary["layer"]["unzipped"] == build_lambda.tree_size(out / "layer")
    with zipfile.ZipFile(out / "layer.zip") as zf:
        names = set(zf.namelist())
    assert "python/tradpal/indicators/_kernels.abi3.so" in names
    assert "python/tradpal/backtest/_engine.abi3.so" in names
    # what the runtime provides or the light layer leaves out is not shipped
    for absent in ("boto3", "botocore", "plotly", "typer", "pyarrow/libarrow_flight.so.2600"):
        assert not (layer / absent).exists(), absent
    assert not list(layer.rglob("__pycache__"))
    assert not list((layer / "tradpal").rglob("*.c"))


@pytest.mark.slow
def test_layer_kernels_need_no_glibc_newer_than_2_17(built):
    out, summary = built
    for obj in ("indicators/_kernels.abi3.so", "backtest/_engine.abi3.so"):
        text = subprocess.run(
            ["objdump", "-T", str(out / "layer/python/tradpal" / obj)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        versions = [v for v in text.split() if v.startswith("(GLIBC_") or v.startswith("GLIBC_")]
        parsed = [
            tuple(map(int, v.strip("()").removeprefix("GLIBC_").split("."))) for v in versions
        ]
        assert all(p <= (2, 17) for p in parsed), (obj, versions)
    assert tuple(map(int, summary["layer_glibc_max"].split("."))) <= (2, 34)


@pytest.mark.slow
def test_layer_kernels_compute_the_installed_kernels_numbers_under_python312(built):
    out, _ = built
    if not PY312.exists():
        pytest.skip(f"no Python 3.12 at {PY312}: the layer cannot be run as Lambda would")
    reference = _probe(sys.executable, None)
    layered = _probe(PY312, out / "layer" / "python")
    assert layered["python"] == [3, 12]
    assert layered["kernels"].startswith(str(out / "layer" / "python"))
    assert reference["kernels"] != layered["kernels"]
    assert layered["result"]["trades"] > 0
    assert layered["result"] == reference["result"]


def test_runtime_requirements_leave_out_runtime_and_cli_packages():
    reqs = build_lambda.runtime_requirements()
    names = {build_lambda._dist_name(r) for r in reqs}
    assert {"numpy", "pandas", "pyarrow", "ccxt", "yfinance", "optuna", "orjson"} <= names
    assert not names & {"boto3", "botocore", "plotly", "typer", "rich"}


def test_size_table_flags_a_function_over_the_limit():
    mib = 1024 * 1024
    summary = {
        "limit_bytes": 250 * mib,
        "layer": {"name": "layer", "zipped": 80 * mib, "unzipped": 240 * mib},
        "functions": [
            {"name": "small", "zipped": mib, "unzipped": 2 * mib, "total_unzipped": 242 * mib},
            {"name": "big", "zipped": 9 * mib, "unzipped": 20 * mib, "total_unzipped": 260 * mib},
        ],
    }
    lines = build_lambda.size_table(summary).splitlines()
    assert lines[2].startswith("small") and lines[2].endswith("ok")
    assert lines[3].startswith("big") and lines[3].endswith("OVER")


def test_glibc_check_rejects_a_too_new_symbol(tmp_path, monkeypatch):
    obj = tmp_path / "k.so"
    obj.write_bytes(b"")
    monkeypatch.setattr(build_lambda, "glibc_versions", lambda _: {(2, 2, 5), (2, 29)})
    with pytest.raises(build_lambda.BuildError, match=r"GLIBC_2\.29.*newer than 2\.17"):
        build_lambda.check_glibc([obj], (2, 17))
    assert build_lambda.check_glibc([obj], (2, 34)) == {"k.so": "2.29"}


GOOD = """
from tradpal.strategies import Param, Signals, strategy


@strategy(params=[Param("n", "int", 2, 50, default=5, description="bars")])
def always_flat(prices, params):
    n = len(prices.close)
    import numpy as np

    none = np.zeros(n, dtype=bool)
    return Signals(none, none, none.copy(), none.copy())
"""


def test_deployed_strategies_are_checked_and_copied_into_the_layer(tmp_path):
    source, site = tmp_path / "strategies", tmp_path / "site"
    source.mkdir()
    (source / "flat.py").write_text(GOOD)
    (source / "_helpers.py").write_text("X = 1\n")  # a helper: copied, not scanned
    (source / "notes.txt").write_text("not code")
    assert build_lambda.copy_strategies(site, source) == ["always_flat"]
    copied = sorted(p.name for p in (site / build_lambda.STRATEGIES_LAYER_DIR).iterdir())
    assert copied == ["_helpers.py", "flat.py"]
    (source / "broken.py").write_text("def oops(:\n")
    with pytest.raises(build_lambda.BuildError, match=r"broken\.py"):
        build_lambda.copy_strategies(site, source)
    # without a folder the layer still gets an empty one (TRADPAL_STRATEGY_DIRS must exist)
    assert build_lambda.copy_strategies(site, tmp_path / "none") == []
    assert (site / build_lambda.STRATEGIES_LAYER_DIR).is_dir()
