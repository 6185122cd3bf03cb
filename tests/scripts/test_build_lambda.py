"""scripts/build_lambda.py: the Lambda layer and function zips, built without Docker.

The slow test runs the real build (wheels for python3.12 / manylinux x86_64, the C kernels
compiled with gcc) and checks Lambda's 250 MB limit, the kernels' GLIBC needs, and that
the layer works: under Python 3.12 when one is installed, its kernels compute the same
numbers, bit for bit, as the kernels installed in the test environment; the bytecode it
ships is Python 3.12's, hash-based, for every module it should cover, and is what the
handlers import from a read-only tree (nothing compiled); a second build gives the same bytes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import stat
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
    for name in build_lambda.LIGHT_OMIT_DISTS:  # left out, transitive ones included
        assert not list(layer.glob(f"{name.replace('-', '_')}*")), name
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


# -- bytecode -------------------------------------------------------------------------------

RUNTIME_PYTHON, _ = build_lambda.find_runtime_python()
needs_py312 = pytest.mark.skipif(
    RUNTIME_PYTHON is None, reason="no Python 3.12 here: the build ships no bytecode"
)

# Run by Python 3.12: checks every .py in the zips has its pyc and every pyc its .py; a pyc
# is 3.12's (magic number), unchecked-hash (PEP 552 flags 0b01) and of that very source
# (importlib.util.source_hash, keyed by 3.12's magic number, as the import system checks it).
VERIFY_PYCS = r"""
import importlib.util, json, sys, zipfile
archives = json.load(sys.stdin)
tag, magic = sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER
problems, checked = [], 0
for path, root, entries, sourceless in archives:
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        sources = {n for n in names if n.endswith(".py")}
        for name in sorted(names):
            if name.endswith(".pyc") and name[len(root):].split("/")[0] in sourceless:
                if not zf.read(name).startswith(magic):  # a lone pyc, in its source's place
                    problems.append(f"{name}: not a {tag} pyc")
                if name[:-1] in sources:
                    problems.append(f"{name}: its source is shipped too")
            elif name.endswith(".pyc"):
                folder, _, base = name.rpartition("/")
                source = folder.removesuffix("/__pycache__") + "/" + base.split(".")[0] + ".py"
                if not folder.endswith("__pycache__") or not base.endswith(f".{tag}.pyc"):
                    problems.append(f"{name}: not a {tag} pyc in __pycache__")
                elif source not in sources:
                    problems.append(f"{name}: no source")
        for name in sorted(sources):
            top = name[len(root):].split("/")[0]
            folder, _, base = name.rpartition("/")
            pyc = f"{folder}/__pycache__/{base[:-3]}.{tag}.pyc"
            if entries is not None and top not in entries:
                if pyc in names:
                    problems.append(f"{pyc}: bytecode of a package left out")
                continue
            if pyc not in names:
                problems.append(f"{name}: no {pyc}")
                continue
            data = zf.read(pyc)
            if data[:4] != magic:
                problems.append(f"{pyc}: magic {data[:4]!r}, not {magic!r}")
            elif int.from_bytes(data[4:8], "little") != 0b01:
                problems.append(f"{pyc}: flags {data[4:8]!r}, not unchecked-hash")
            elif data[8:16] != importlib.util.source_hash(zf.read(name)):
                problems.append(f"{pyc}: not the bytecode of {name}")
            checked += 1
json.dump({"checked": checked, "problems": problems}, sys.stdout)
"""

# Run by Python 3.12 on the unpacked zips: imports a handler as Lambda would and records each
# module the import system had to compile from source (SourceLoader.source_to_code runs
# only when no usable bytecode is found).
IMPORT_HANDLER = r"""
import importlib, json, os, sys
import _frozen_importlib_external as external
compiled = []
source_to_code = external.SourceLoader.source_to_code
def recording(self, data, path, *args, **kw):
    compiled.append(path)
    return source_to_code(self, data, path, *args, **kw)
external.SourceLoader.source_to_code = recording
importlib.import_module(sys.argv[1])
roots = sys.argv[2:]
shipped = [m for m in list(sys.modules.values())
           if str(getattr(m, "__file__", None) or "").startswith(tuple(roots))]
json.dump({
    "compiled": [p for p in compiled if p.startswith(tuple(roots))],
    "uncached": [m.__name__ for m in shipped
                 if m.__file__.endswith(".py") and not os.path.exists(m.__cached__ or "")],
    "modules": len(shipped),
}, sys.stdout)
"""


def _py312(script: str, stdin: str = "", args=(), env=None, cwd="/") -> dict:
    proc = subprocess.run(
        [RUNTIME_PYTHON, "-S", "-c", script, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
@needs_py312
def test_the_zips_ship_hash_based_python312_bytecode_for_every_module(built):
    out, summary = built
    assert summary["bytecode"]["python"] is not None, summary["bytecode"]
    assert summary["bytecode"]["invalidation"] == "unchecked-hash"
    layer = [
        str(out / "layer.zip"),
        "python/",
        list(build_lambda.BYTECODE_PACKAGES),
        list(build_lambda.SOURCELESS_PACKAGES),
    ]
    archives = [layer, *([str(z), "", None, []] for z in sorted((out / "functions").glob("*.zip")))]
    result = _py312(VERIFY_PYCS, json.dumps(archives))
    assert result["problems"] == [], result["problems"][:20]
    assert result["checked"] == summary["bytecode"]["files"] > 1000
    assert summary["bytecode"]["failed"] == []


def _unpack(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
    return dest


def _read_only(tree: Path) -> None:
    for p in [tree, *tree.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _snapshot(tree: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in tree.rglob("*")}


@pytest.mark.slow
@needs_py312
def test_handlers_import_their_shipped_bytecode_and_compile_nothing(built, tmp_path):
    """As on Lambda: the function zip at /var/task, the layer at /opt/python, both read-only
    (PYTHONDONTWRITEBYTECODE as well: root writes through file modes), boto3 from the
    runtime. A module of the zips compiled at import is a package missing from
    BYTECODE_PACKAGES (or a pyc Python does not take)."""
    out, _ = built
    opt = _unpack(out / "layer.zip", tmp_path / "opt")
    runtime = tmp_path / "runtime"  # what the Lambda runtime provides, from this environment
    runtime.mkdir()
    for name in build_lambda.RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, name
        (runtime / name).symlink_to(Path(spec.origin).parent)
    tasks = {}
    for zipped in sorted((out / "functions").glob("*.zip")):
        tasks[zipped.stem] = _unpack(zipped, tmp_path / "task" / zipped.stem)
    for tree in (opt, *tasks.values()):
        _read_only(tree)
    before = {t: _snapshot(t) for t in (opt, *tasks.values())}
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, task in tasks.items():
        env["PYTHONPATH"] = os.pathsep.join([str(task), str(opt / "python"), str(runtime)])
        if not (task / "functions" / name / "handler.py").exists():
            continue  # a function that is only the layer
        args = [f"functions.{name}.handler", str(task), str(opt)]
        result = _py312(IMPORT_HANDLER, args=args, env=env)
        assert result["compiled"] == [], (name, result["compiled"][:20])
        assert result["uncached"] == [], (name, result["uncached"][:20])
        assert result["modules"] > 100, name
    assert {t: _snapshot(t) for t in before} == before  # nothing written


@pytest.mark.slow
@needs_py312
def test_what_the_light_layer_leaves_out_is_not_imported(built, tmp_path):
    """ccxt's exchanges, yfinance and optuna's samplers load and run from the layer without
    the distributions LIGHT_OMIT_DISTS leaves out (an import of one fails here)."""
    out, summary = built
    script = r"""
import json, sys
import ccxt, yfinance, optuna
exchange = ccxt.binance()
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
study.optimize(lambda t: (t.suggest_int("x", 1, 9) - 3) ** 2, n_trials=12)
left_out = [m for m in sys.modules if m.split(".")[0] in sys.argv[1:]]
json.dump({"left_out": left_out, "best": study.best_params, "id": exchange.id,
           "ccxt_from": ccxt.__spec__.origin}, sys.stdout)
"""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(out / "layer" / "python")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    omitted = [n.replace("-", "_") for n in build_lambda.LIGHT_OMIT_DISTS]
    result = _py312(script, args=omitted, env=env)
    assert result["left_out"] == [] and result["id"] == "binance"
    assert set(result["best"]) == {"x"}
    # ccxt ships as bytecode only (SOURCELESS_PACKAGES): nothing of it to compile at import
    layer_ccxt = out / "layer" / "python" / "ccxt"
    assert result["ccxt_from"] == str(layer_ccxt / "__init__.pyc")
    assert summary["bytecode"]["sourceless"]["kept_as_source"] == []
    assert sorted(layer_ccxt.rglob("*.py")) == []
    assert summary["bytecode"]["sourceless"]["files"] == len(list(layer_ccxt.rglob("*.pyc")))


def _digests(out: Path) -> dict[str, str]:
    """sha256 of each zip, and of each member (a failure then names the files that differ)."""
    digests = {}
    for f in [out / "layer.zip", *sorted((out / "functions").glob("*.zip"))]:
        digests[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
        with zipfile.ZipFile(f) as zf:
            for info in zf.infolist():
                digests[f"{f.name}:{info.filename}"] = hashlib.sha256(zf.read(info)).hexdigest()
    return digests


@pytest.mark.slow
@needs_py312
def test_a_second_build_gives_the_same_bytes(built, tmp_path):
    """Hash-based bytecode and fixed zip times: the same inputs give the same zips, so CDK's
    asset hashes do not change and unchanged code is not redeployed."""
    out, _ = built
    again = tmp_path / "again"
    cmd = [sys.executable, str(SCRIPT), "--out", str(again), "--cache", str(ROOT / "build/wheels")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout
    first, second = _digests(out), _digests(again)
    assert [k for k in first if first[k] != second.get(k)] == [] and first == second


@needs_py312
def test_compiled_bytecode_names_the_runtime_path_and_a_broken_file_fails(tmp_path):
    tree = tmp_path / "site"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("def f():\n    raise ValueError('x')\n")
    (tree / "mod.py").write_text("X = {'a', 'b'}\n")
    sources = build_lambda.bytecode_sources(tree, "/opt/python")
    assert [n for _, n in sources] == ["/opt/python/mod.py", "/opt/python/pkg/__init__.py"]
    compiled = build_lambda.compile_bytecode(RUNTIME_PYTHON, sources)
    assert compiled.files == 2 and compiled.failed == ()
    pyc = tree / "pkg" / "__pycache__" / "__init__.cpython-312.pyc"
    assert (
        compiled.bytes
        == pyc.stat().st_size + (tree / "__pycache__/mod.cpython-312.pyc").stat().st_size
    )
    code = _py312(
        "import json, marshal, sys; c = marshal.loads(open(sys.argv[1], 'rb').read()[16:]); "
        "json.dump([c.co_filename, c.co_consts[0].co_filename], sys.stdout)",
        args=[str(pyc)],
    )
    assert code == ["/opt/python/pkg/__init__.py"] * 2  # not tmp_path: the same in any folder
    (tree / "broken.py").write_text("def oops(:\n")
    sources = build_lambda.bytecode_sources(tree, "/opt/python")
    with pytest.raises(build_lambda.BuildError, match=r"broken\.py"):
        build_lambda.compile_bytecode(RUNTIME_PYTHON, sources)
    lenient = build_lambda.compile_bytecode(RUNTIME_PYTHON, sources, strict=False)
    assert [name for name, _ in lenient.failed] == ["/opt/python/broken.py"]
    assert lenient.files == 2


@needs_py312
def test_sourceless_bytecode_takes_the_sources_place_and_imports(tmp_path):
    tree = tmp_path / "site"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("from pkg.part import X\n")
    (tree / "pkg" / "part.py").write_text("X = 41 + 1\n")
    (tree / "pkg" / "broken.py").write_text("def oops(:\n")
    sources = build_lambda.bytecode_sources(tree, "/opt/python", ["pkg"])
    compiled = build_lambda.compile_bytecode(RUNTIME_PYTHON, sources, strict=False, sourceless=True)
    assert compiled.files == 2 and [n for n, _ in compiled.failed] == ["/opt/python/pkg/broken.py"]
    files = sorted(p.name for p in (tree / "pkg").iterdir())
    assert files == ["__init__.pyc", "broken.py", "part.pyc"]  # what does not compile stays
    assert compiled.bytes == sum(p.stat().st_size for p in (tree / "pkg").glob("*.pyc"))
    got = _py312(
        "import json, sys; sys.path.insert(0, sys.argv[1]); import pkg; "
        "json.dump([pkg.X, pkg.__spec__.origin], sys.stdout)",
        args=[str(tree)],
    )
    assert got == [42, str(tree / "pkg" / "__init__.pyc")]


def test_bytecode_sources_refuse_an_entry_not_in_the_layer(tmp_path):
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "a.py").write_text("")
    (tmp_path / "one.py").write_text("")
    got = build_lambda.bytecode_sources(tmp_path, "/opt/python", ["here", "one.py"])
    assert [n for _, n in got] == ["/opt/python/here/a.py", "/opt/python/one.py"]
    with pytest.raises(build_lambda.BuildError, match="gone"):
        build_lambda.bytecode_sources(tmp_path, "/opt/python", ["here", "gone"])


def test_without_python312_the_build_compiles_nothing_and_says_so(tmp_path, monkeypatch):
    other = tmp_path / "python3.11"
    other.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    other.chmod(0o755)
    broken = tmp_path / "python3.12"  # a pyenv shim of a version not selected
    broken.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2; exit 127\n")
    broken.chmod(0o755)
    monkeypatch.setattr(build_lambda, "PYTHON_VERSION", "3.99")
    monkeypatch.setattr(
        build_lambda, "runtime_python_candidates", lambda: [str(other), str(broken)]
    )
    python, note = build_lambda.find_runtime_python()
    assert python is None
    assert note.startswith("NOT compiled: no CPython 3.99") and str(broken) in note
    line = build_lambda.bytecode_line({"python": None, "note": note})
    assert line.startswith("bytecode: NOT compiled") and "cold start" in line
    with pytest.raises(build_lambda.BuildError, match=r"not the Lambda runtime's CPython 3\.99"):
        build_lambda.find_runtime_python(str(other))


def test_runtime_python_candidates_look_where_ci_looks(tmp_path, monkeypatch):
    fake = tmp_path / "versions" / "3.12.9" / "bin"
    fake.mkdir(parents=True)
    (fake / "python3.12").write_text("")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    found = build_lambda.runtime_python_candidates()
    assert found[0] == sys.executable
    assert str(fake / "python3.12") in found


def test_dropping_a_distribution_removes_its_files_folders_and_metadata(tmp_path):
    site = tmp_path / "site"
    for rel in ("gone/__init__.py", "gone/sub/x.py", "kept/__init__.py"):
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text("")
    (site / "gone" / "sub" / "__pycache__").mkdir()  # no files: goes with its folder
    for name, files in (
        ("Gone_Dist", ["gone/__init__.py", "gone/sub/x.py"]),
        ("kept", ["kept/__init__.py"]),
    ):
        info = site / f"{name.lower()}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        record = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]
        (info / "RECORD").write_text("".join(f"{f},,\n" for f in record))
    assert build_lambda.drop_distributions(site, {"gone-dist", "absent"}) == ["gone-dist"]
    assert sorted(p.name for p in site.iterdir()) == ["kept", "kept-1.0.dist-info"]
