"""Build TradPal's Lambda artefacts without Docker, and report their sizes.

    python scripts/build_lambda.py [--functions indicators,signals,...] [--out build]

Produces, for the Lambda platform (python3.12, x86_64, Amazon Linux 2023):

* ``build/layer/python/``: the runtime dependencies from pyproject.toml as manylinux
  wheels (minus boto3/botocore, which the runtime provides) and the tradpal package, its
  two C kernels compiled here with the system gcc and checked with ``objdump -T`` to need
  no GLIBC symbol version newer than 2.17; ``build/layer.zip`` zips it.
* ``build/functions/<name>.zip`` per zip-packaged capability: ``functions/<name>/`` (the
  handler, ``functions.<name>.handler.handler``) when it exists, else empty (the function
  is then only the layer).
* bytecode for the runtime's Python (``__pycache__/*.cpython-312.pyc``, hash-based) of
  every module of the function zips and of the layer's packages in BYTECODE_PACKAGES,
  compiled by a Python 3.12 found on this machine (``--python``, this interpreter, python3.12
  on PATH, pyenv's 3.12): ``/var/task`` and ``/opt`` are read-only on Lambda, so what is not
  shipped compiled is compiled again at every cold start; the packages in
  SOURCELESS_PACKAGES (ccxt) ship their bytecode in place of their source, for room. Without
  a Python 3.12 the build ships source only and says so (bytecode of another version would
  never be used).
* a size table (zipped and unzipped, per function + layer) checked against Lambda's
  250 MB unzipped limit for a function and all its layers; exit status 1 when one is over.

Downloaded wheels are cached in ``build/wheels/`` (keyed by the requirement list), so a
re-run installs without the network. Container-image capabilities are built by Docker at
deploy time from ``functions/images/<name>/Dockerfile`` and are only listed here.

The layer is a *light* layer: everything at once is about 375 MB unzipped, over the
limit. What it leaves out (LIGHT_OMIT_*) is what zip functions never import; the image
functions (backtests, discovery evaluate) install the whole project instead.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "layers" / "tradpal" / "python" / "tradpal"

PYTHON_VERSION = "3.12"
# Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34): numpy and pyarrow ship
# only manylinux_2_28 wheels, so both tags are accepted.
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
LIMIT_BYTES = 250 * 1024 * 1024  # Lambda: function + all its layers, unzipped
KERNEL_GLIBC_MAX = (2, 17)  # manylinux2014: loads on every Lambda runtime
LAYER_GLIBC_MAX = (2, 34)  # Amazon Linux 2023, under the python3.12 runtime

# Already in the Lambda runtime; a second copy would only add size.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
# The layer comes first on sys.path, so what it ships shadows the runtime's own packages:
# botocore (runtime) needs python-dateutil < 3.
CONSTRAINTS = ("python-dateutil>=2.1,<3",)

# Distributions the light layer leaves out, and why (zip functions never import them).
# Those that come in as dependencies of others are removed after the install; together they
# make the room (about 25 MB) the bytecode of BYTECODE_PACKAGES takes under the 250 MB limit.
LIGHT_OMIT_DISTS: dict[str, str] = {
    "plotly": "HTML reports are rendered by the image functions and the CLI only (44 MB)",
    "typer": "the command line is not used in Lambda",
    "rich": "the command line is not used in Lambda",
    "pygments": "needed by rich only",
    "markdown-it-py": "needed by rich only",
    "mdurl": "needed by rich only",
    "shellingham": "needed by typer only",
    "sqlalchemy": "optuna's RDB storage only; discovery samples on optuna's in-memory storage "
    "(9.5 MB)",
    "alembic": "optuna's RDB storage only",
    "mako": "needed by alembic only",
    "markupsafe": "needed by mako only",
    "lxml": "pandas' read_html/read_xml and bs4's 'lxml' parser only, none used (9.5 MB)",
    "uvloop": "an optional asyncio event loop; nothing in the layer runs asyncio",
    "aiohttp": "ccxt's async clients only, which the layer leaves out (ccxt/async_support)",
    "aiohttp-fast-zlib": "needed by ccxt's async clients only",
    "zlib-ng": "needed by aiohttp-fast-zlib only",
    "yarl": "needed by aiohttp only",
    "multidict": "needed by aiohttp and yarl only",
    "frozenlist": "needed by aiohttp and aiosignal only",
    "aiosignal": "needed by aiohttp only",
    "propcache": "needed by aiohttp and yarl only",
    "aiohappyeyeballs": "needed by aiohttp only",
}
# Paths (relative to the layer's python/) left out, and why.
LIGHT_OMIT_PATHS: dict[str, str] = {
    "pyarrow/libarrow_flight.so.*": "Arrow Flight RPC is not used (24 MB)",
    "pyarrow/libarrow_python_flight.so*": "Arrow Flight RPC is not used",
    "pyarrow/_flight.*.so": "Arrow Flight RPC is not used",
    "pyarrow/flight.py": "Arrow Flight RPC is not used",
    "pyarrow/_pyarrow_cpp_tests.*.so": "pyarrow's own C++ test hooks",
    "pyarrow/include": "C++ headers, for building extensions only",
    "pyarrow/src": "C++ sources, for building extensions only",
    "ccxt/async_support": "tradpal uses ccxt's synchronous clients only (15 MB)",
    "ccxt/pro": "websocket clients, not used (5 MB)",
    "ccxt/test": "ccxt's own tests",
    "share/jupyter": "plotly's notebook extension",
    "pyarrow/libarrow*.so": "linker names; the loader opens .so.<major> (pip copies links)",
    "pyarrow/libarrow*.so.*.*.*": "full-version copies of the same libraries, for the same reason",
}
# Removed everywhere: test suites and whatever bytecode came in (none should: pip installs
# with --no-compile); the build then compiles its own (compile_bytecode).
PRUNE_DIRS = ("tests", "__pycache__")
# Build-time only files (C/C++ headers, Cython sources, type stubs) of the dependencies.
PRUNE_SUFFIXES = (".h", ".hpp", ".pxd", ".pyx", ".pxi", ".pyi")

CFLAGS = ("-O3", "-std=c11", "-ffp-contract=off", "-fno-math-errno", "-fPIC", "-shared")
# Pin libm symbols that glibc 2.29 re-versioned to their original (x86_64 2.2.5) version,
# so that the kernels load on any glibc >= 2.17; same function, without the new fast path
# for error handling that -fno-math-errno does not need.
GLIBC_COMPAT_HEADER = "".join(
    f'__asm__(".symver {f},{f}@GLIBC_2.2.5");\n' for f in ("exp", "log", "pow", "exp2", "log2")
)
KERNELS = (
    ("indicators/_kernels.c", "indicators/_kernels.abi3.so"),
    ("backtest/_engine.c", "backtest/_engine.abi3.so"),
)

STRATEGIES_SOURCE = ROOT / "strategies"
"""The repository's folder of deployed strategy files (strategies/README.md)."""
STRATEGIES_LAYER_DIR = "tradpal_strategies"
"""Where they go in the layer's python/ (``/opt/python/tradpal_strategies`` at run time)."""

# Bytecode. The layer's entries (top-level packages and modules of python/) compiled for the
# runtime: what the zip functions import at cold start and on their first requests. The rest
# of the layer (ccxt's 18 MB of exchanges, optuna, yfinance...: imported only when an ingest
# downloads or a discovery plans) ships as source: bytecode for everything is 58 MB, which
# does not fit under the 250 MB limit. A handler that comes to import a package left out
# here is caught by tests/scripts (it would be compiled at every cold start).
BYTECODE_PACKAGES = (
    "tradpal",
    STRATEGIES_LAYER_DIR,
    "aws_lambda_powertools",
    "aws_xray_sdk",  # Powertools' tracer, on in Lambda (tracing is ACTIVE)
    "wrapt",  # needed by aws_xray_sdk
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "dotenv",  # needed by pydantic_settings
    "typing_extensions.py",
    "typing_inspection",
    "annotated_types",
    "numpy",
    "pandas",
    "pyarrow",
    "dateutil",
    "six.py",
    "pytz",
    "jmespath",
    "urllib3",  # botocore's, shadowed by the layer's (python/ comes first on sys.path)
    "certifi",  # botocore's too
    "orjson",  # tradpal's JSON encoder
)
# Bytecode in place of the source: a package the zip functions import only on some requests
# (ccxt: the data function's ingest from an exchange), too big for source and bytecode both
# under the limit (ccxt's exchanges are 18 MB of source, 15 MB of bytecode), and without
# bytecode compiled at every cold start that imports it (about 6 s on a 2-core machine).
# Python imports a lone mod.pyc as it would mod.py; only its tracebacks show no source lines.
SOURCELESS_PACKAGES = ("ccxt",)
# PEP 552 hash-based pycs, not the default timestamp-based ones: a timestamp pyc records the
# source's mtime and size, and the files of a Lambda zip get their mtimes reset (zip_tree
# writes 1980-01-01, CDK and Lambda re-extract), so it would be stale at best and the bytes
# would change with every checkout, changing CDK's asset hash and redeploying unchanged code.
# UNCHECKED_HASH rather than CHECKED_HASH: source and bytecode are built together and are
# read-only on Lambda, so they cannot diverge, and an unchecked pyc is used without reading
# and hashing its source at each import (a checked one reads every imported .py too, the
# work a cold start is trying not to do). Rebuild rather than edit a built tree.
PYC_INVALIDATION = "UNCHECKED_HASH"
# Where the runtime finds the code: the file names compiled into the bytecode (tracebacks,
# and the same bytes whatever folder the build ran in).
LAYER_RUNTIME_DIR = "/opt/python"
TASK_RUNTIME_DIR = "/var/task"

# Until the capability catalog exists: which capabilities are zip and which are images.
DEFAULT_ZIP = ("indicators", "signals", "data", "health", "notifier", "discovery")
DEFAULT_IMAGES = ("backtests", "discovery_evaluate")


class BuildError(RuntimeError):
    """The build cannot go on; the message says why and what to do."""


class IndexUnreachable(BuildError):
    """pip could not reach the package index (no network)."""


@dataclass(frozen=True)
class SizeRow:
    """One artefact's sizes in bytes."""

    name: str
    zipped: int
    unzipped: int


def catalog_packaging() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(zip capability names, image capability names) from the catalog, else the defaults."""
    sys.path.insert(0, str(PACKAGE.parent))
    try:
        from tradpal.platform.catalog import CATALOG  # type: ignore[import-not-found]
    except ImportError:
        return DEFAULT_ZIP, DEFAULT_IMAGES
    finally:
        sys.path.pop(0)
    caps = list(CATALOG.values()) if isinstance(CATALOG, dict) else list(CATALOG)
    zips = tuple(c.name for c in caps if c.packaging == "zip")
    images = tuple(c.name for c in caps if c.packaging == "image")
    return zips, images


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The project's runtime dependencies minus those the Lambda runtime provides and
    those the light layer leaves out."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    omit = RUNTIME_PROVIDED | set(LIGHT_OMIT_DISTS)
    return [d for d in deps if _dist_name(d) not in omit]


def _dist_name(requirement: str) -> str:
    name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip(args: Sequence[str]) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        err = proc.stderr + proc.stdout
        if re.search(r"No matching distribution|Could not find a version|connection|Network", err):
            raise IndexUnreachable(f"pip could not get the wheels: {err.strip()[-600:]}")
        raise BuildError(f"pip {args[0]} failed: {err.strip()[-1500:]}")


def _platform_args() -> list[str]:
    args = ["--implementation", "cp", "--python-version", PYTHON_VERSION, "--only-binary=:all:"]
    for p in PLATFORMS:
        args += ["--platform", p]
    return args


def install_dependencies(requirements: Sequence[str], target: Path, cache: Path) -> None:
    """pip-install ``requirements`` for the Lambda platform into ``target``; wheels are
    downloaded once into ``cache/<hash of the requirement list>``."""
    key = hashlib.sha256(
        json.dumps([list(requirements), CONSTRAINTS, PLATFORMS, PYTHON_VERSION]).encode()
    ).hexdigest()[:16]
    wheels = cache / key
    constraints = cache / f"{key}.constraints.txt"
    cache.mkdir(parents=True, exist_ok=True)
    constraints.write_text("\n".join(CONSTRAINTS) + "\n")
    common = [*_platform_args(), "-c", str(constraints), *requirements]
    if not (wheels / ".complete").exists():
        shutil.rmtree(wheels, ignore_errors=True)
        _pip(["download", "--quiet", "--dest", str(wheels), *common])
        (wheels / ".complete").touch()
    _pip(
        [
            *("install", "--quiet", "--no-index", "--find-links", str(wheels), "--no-compile"),
            *("--no-warn-conflicts", "--target", str(target), *common),
        ]
    )


def drop_distributions(site: Path, names: Iterable[str]) -> list[str]:
    """Remove the installed distributions named in ``names`` (normalised names) that came in
    as dependencies of others (aws-xray-sdk pulls botocore: 30 MB the runtime already has):
    their files as their RECORD lists them, the folders that leaves empty, and their
    metadata. Returns the names removed."""
    from importlib.metadata import distributions

    wanted, removed = set(names), []
    for dist in list(distributions(path=[str(site)])):
        name = _dist_name(dist.metadata["Name"])
        if name not in wanted:
            continue
        files = [Path(dist.locate_file(f)).resolve() for f in dist.files or ()]
        for path in files:
            if path.is_file() and path.is_relative_to(site.resolve()):
                path.unlink()
        for folder in sorted({p.parent for p in files}, key=lambda p: len(p.parts), reverse=True):
            while folder != site.resolve() and folder.is_relative_to(site.resolve()):
                if folder.is_dir() and not any(p.is_file() for p in folder.rglob("*")):
                    shutil.rmtree(folder)
                folder = folder.parent
        removed.append(name)
    return sorted(removed)


def prune(site: Path) -> None:
    """Remove what the light layer leaves out, test suites and bytecode."""
    drop_distributions(site, RUNTIME_PROVIDED | set(LIGHT_OMIT_DISTS))
    for pattern in LIGHT_OMIT_PATHS:
        for path in site.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for name in PRUNE_DIRS:
        for path in sorted(site.rglob(name), reverse=True):
            if path.is_dir():
                shutil.rmtree(path)
    for path in site.rglob("*"):
        if path.suffix in PRUNE_SUFFIXES and path.is_file():
            path.unlink()
    shutil.rmtree(site / "bin", ignore_errors=True)


def strip_shared_objects(site: Path) -> None:
    """Drop symbol tables from the wheels' shared objects (about 100 MB): only the dynamic
    symbols are needed to load and link them."""
    objs = [str(p) for p in site.rglob("*.so*") if p.is_file() and not p.is_symlink()]
    if objs and shutil.which("strip"):
        subprocess.run(["strip", "--strip-unneeded", *objs], check=True, capture_output=True)


def copy_tradpal(site: Path) -> None:
    """The tradpal package, pure Python only (the C kernels are compiled separately)."""
    dest = site / "tradpal"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))


def copy_strategies(site: Path, source: Path = STRATEGIES_SOURCE) -> list[str]:
    """Check that every strategy file of ``source`` loads (a file that fails to, or two that
    declare one name, stop the build with the loader's message) and copy the folder's
    ``*.py`` files and README into ``site/tradpal_strategies``; returns the strategy names.
    The folder is always created, so the functions' ``TRADPAL_STRATEGY_DIRS`` names a
    folder that exists."""
    from tradpal.errors import TradPalError
    from tradpal.strategies.user import dir_strategies

    dest = site / STRATEGIES_LAYER_DIR
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if not source.is_dir():
        return []
    try:
        names = sorted(dir_strategies([source]))
    except TradPalError as exc:
        raise BuildError(f"the strategies to deploy do not load: {exc}") from None
    for file in sorted(source.iterdir()):
        if file.is_file() and (file.suffix == ".py" or file.name == "README.md"):
            shutil.copy2(file, dest / file.name)
    return names


_VERSION_PROBE = "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"

# Run by the runtime's Python: compiles {"files": [[source, runtime file name, pyc], ...]}
# read from stdin into pyc, or (pyc null) the standard __pycache__/<name>.cpython-312.pyc
# beside each source. -I
# (isolated mode) ignores PYTHONPYCACHEPREFIX, PYTHONOPTIMIZE and the like, which would move or
# rename the bytecode. No hash seed is needed: 3.12's marshal writes sets in one order.
_COMPILE = r"""
import importlib.util, json, py_compile, sys
jobs = json.load(sys.stdin)
mode = py_compile.PycInvalidationMode[jobs["mode"]]
failed, written = [], 0
for source, dfile, cfile in jobs["files"]:
    try:
        py_compile.compile(source, cfile=cfile or importlib.util.cache_from_source(source),
                           dfile=dfile, doraise=True, optimize=0, invalidation_mode=mode)
    except py_compile.PyCompileError as exc:
        failed.append([source, exc.msg.strip().splitlines()[-1]])
    else:
        written += 1
json.dump({"written": written, "failed": failed, "tag": sys.implementation.cache_tag}, sys.stdout)
"""


@dataclass(frozen=True)
class Bytecode:
    """What the build compiled: the interpreter (None: no Python of the runtime's version was
    found, nothing compiled, ``note`` says why), the .pyc files written and their bytes, and
    the sources that did not compile (``[source, message]``)."""

    python: str | None
    note: str
    files: int = 0
    bytes: int = 0
    failed: tuple[tuple[str, str], ...] = ()

    def merged(self, other: Bytecode) -> Bytecode:
        return Bytecode(
            self.python,
            self.note,
            self.files + other.files,
            self.bytes + other.bytes,
            self.failed + other.failed,
        )


def _python_version(python: str) -> str | None:
    """``"cpython 3.12"`` for an interpreter that runs, else None (a pyenv shim of a version
    that is not selected exits with an error)."""
    try:
        proc = subprocess.run(
            [python, "-I", "-c", _VERSION_PROBE], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def runtime_python_candidates() -> list[str]:
    """Where a Python of the runtime's version may be, in order: this interpreter, python3.12
    on PATH, then pyenv's versions (PYENV_ROOT, ``pyenv root``, ~/.pyenv), as .ci/run looks."""
    found = [sys.executable]
    if on_path := shutil.which(f"python{PYTHON_VERSION}"):
        found.append(on_path)
    roots = [os.environ.get("PYENV_ROOT", "")]
    if pyenv := shutil.which("pyenv"):
        proc = subprocess.run([pyenv, "root"], capture_output=True, text=True)
        roots.append(proc.stdout.strip() if proc.returncode == 0 else "")
    roots.append(str(Path.home() / ".pyenv"))
    for root in dict.fromkeys(r for r in roots if r):
        pattern = f"{root}/versions/{PYTHON_VERSION}*/bin/python{PYTHON_VERSION}"
        found += sorted(glob.glob(pattern), reverse=True)
    return list(dict.fromkeys(found))


def find_runtime_python(explicit: str | None = None) -> tuple[str | None, str]:
    """(a CPython of the runtime's version, a line saying which or why none). ``explicit``
    (``--python``) must be one: BuildError if it is not. Bytecode is specific to the minor
    version (another version rejects it by its magic number and compiles the source), so the
    build uses none rather than another version."""
    want = f"cpython {PYTHON_VERSION}"
    if explicit is not None:
        got = _python_version(explicit)
        if got != want:
            raise BuildError(
                f"--python {explicit} is {got or 'not a working interpreter'}, not the "
                f"Lambda runtime's CPython {PYTHON_VERSION}"
            )
        return explicit, f"compiled by {explicit} (CPython {PYTHON_VERSION})"
    candidates = runtime_python_candidates()
    for python in candidates:
        if _python_version(python) == want:
            return python, f"compiled by {python} (CPython {PYTHON_VERSION})"
    return None, (
        f"NOT compiled: no CPython {PYTHON_VERSION} on this machine (looked at "
        f"{', '.join(candidates)}), so the functions compile every module at each cold start; "
        f"install Python {PYTHON_VERSION} (e.g. pyenv install {PYTHON_VERSION}) or pass --python"
    )


def bytecode_sources(
    tree: Path, runtime_dir: str, entries: Iterable[str] | None = None
) -> list[tuple[Path, str]]:
    """(source, the name it has at run time) of every .py under ``tree``, or under its
    top-level ``entries`` (BuildError naming an entry that is not there), sorted."""
    roots = [tree] if entries is None else [tree / e for e in entries]
    missing = [r.name for r in roots if not r.exists()]
    if missing:
        raise BuildError(
            f"BYTECODE_PACKAGES names {', '.join(missing)}, not in the layer; remove it"
        )
    files = set()
    for root in roots:
        found = [root] if root.is_file() else root.rglob("*.py")
        files |= {f for f in found if f.suffix == ".py" and "__pycache__" not in f.parts}
    return [(f, f"{runtime_dir}/{f.relative_to(tree).as_posix()}") for f in sorted(files)]


def compile_bytecode(
    python: str,
    sources: Sequence[tuple[Path, str]],
    *,
    strict: bool = True,
    sourceless: bool = False,
) -> Bytecode:
    """Compile ``sources`` with ``python`` (a CPython of the runtime's version) into hash-based
    pycs beside them (:data:`PYC_INVALIDATION`). A source that does not compile is a
    BuildError when ``strict`` (our code: the function would fail to import), else it is
    listed in the result (a dependency's file no import reaches, shipped as it came).
    ``sourceless``: each pyc takes its source's place (``mod.py`` -> ``mod.pyc``, the source
    removed; see :data:`SOURCELESS_PACKAGES`); a source that does not compile stays."""
    workers = max(1, min(os.cpu_count() or 1, len(sources) // 100, 8))

    def pyc_of(f: Path) -> str | None:
        return str(f.with_suffix(".pyc")) if sourceless else None

    def run(part: Sequence[tuple[Path, str]]) -> dict:
        files = [[str(f), name, pyc_of(f)] for f, name in part]
        jobs = {"mode": PYC_INVALIDATION, "files": files}
        proc = subprocess.run(
            [python, "-I", "-c", _COMPILE], input=json.dumps(jobs), capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise BuildError(f"compiling bytecode with {python} failed: {proc.stderr[-1500:]}")
        return json.loads(proc.stdout)

    # Each file's bytecode depends on its source alone, so the split changes no byte.
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(run, [sources[i::workers] for i in range(workers)]))
    names = {str(f): name for f, name in sources}
    failed = tuple(sorted((names[f], msg) for r in results for f, msg in r["failed"]))
    if strict and failed:
        raise BuildError(f"these do not compile under {python}: {list(failed)}")
    tag = results[0]["tag"] if results else ""
    size = 0
    for f, _ in sources:
        pyc = Path(pyc_of(f) or f.parent / "__pycache__" / f"{f.stem}.{tag}.pyc")
        size += pyc.stat().st_size if pyc.exists() else 0
        if sourceless and pyc.exists():
            f.unlink()
    return Bytecode(python, "", sum(r["written"] for r in results), size, failed)


def compile_kernels(site: Path, build: Path) -> list[Path]:
    """Compile the C kernels into the layer with the system gcc; returns the objects."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise BuildError("gcc is needed to compile the kernels; install it (apt install gcc)")
    header = build / "glibc_compat.h"
    header.write_text(GLIBC_COMPAT_HEADER)
    out = []
    for src, obj in KERNELS:
        dest = site / "tradpal" / obj
        cmd = [gcc, *CFLAGS, "-include", str(header), str(PACKAGE / src), "-o", str(dest), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"compiling {src} failed:\n{proc.stderr}")
        out.append(dest)
    return out


def glibc_versions(obj: Path) -> set[tuple[int, ...]]:
    """The GLIBC symbol versions ``obj`` needs, read with ``objdump -T``."""
    if shutil.which("objdump") is None:
        raise BuildError("objdump is needed to check the kernels; install binutils")
    text = subprocess.run(
        ["objdump", "-T", str(obj)], check=True, capture_output=True, text=True
    ).stdout
    return {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", text)}


def check_glibc(objs: Iterable[Path], limit: tuple[int, ...]) -> dict[str, str]:
    """Raise BuildError when an object needs a GLIBC newer than ``limit``; returns each
    object's newest needed version."""
    newest = {}
    for obj in objs:
        versions = glibc_versions(obj)
        top = max(versions, default=(0,))
        if top > limit:
            raise BuildError(
                f"{obj.name} needs GLIBC_{'.'.join(map(str, top))}, newer than "
                f"{'.'.join(map(str, limit))}; pin the symbol in GLIBC_COMPAT_HEADER"
            )
        newest[obj.name] = ".".join(map(str, top))
    return newest


def tree_size(path: Path) -> int:
    """Bytes of the regular files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def zip_tree(src: Path, arcroot: str, dest: Path) -> None:
    """Zip ``src`` as ``arcroot/...`` into ``dest``, reproducibly (sorted, fixed times); the
    bytecode in it (``__pycache__``) is the build's own, compiled for the runtime."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        if not src.exists():
            return
        for p in sorted(src.rglob("*")):
            if p.is_file():
                info = zipfile.ZipInfo(f"{arcroot}/{p.relative_to(src).as_posix()}")
                info.date_time = (1980, 1, 1, 0, 0, 0)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, p.read_bytes())


def unzipped_size(zip_path: Path) -> int:
    """Sum of the uncompressed sizes of the members of ``zip_path``."""
    with zipfile.ZipFile(zip_path) as zf:
        return sum(i.file_size for i in zf.infolist())


def package_function(name: str, out: Path, python: str | None) -> tuple[SizeRow, Bytecode]:
    """Zip ``functions/<name>/`` and ``functions/__init__.py`` as ``out/functions/<name>.zip``,
    with their bytecode when ``python`` (the runtime's) is given."""
    stage = out / "staging" / name
    shutil.rmtree(stage, ignore_errors=True)
    package = stage / "functions"
    package.mkdir(parents=True)
    init = ROOT / "functions" / "__init__.py"
    if init.is_file():
        shutil.copy2(init, package / "__init__.py")
    source = ROOT / "functions" / name
    if source.is_dir():
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(source, package / name, ignore=ignore)
    compiled = Bytecode(python, "")
    if python is not None:
        compiled = compile_bytecode(python, bytecode_sources(stage, TASK_RUNTIME_DIR))
    dest = out / "functions" / f"{name}.zip"
    zip_tree(package, "functions", dest)
    shutil.rmtree(stage)
    return SizeRow(name, dest.stat().st_size, unzipped_size(dest)), compiled


def build(
    out: Path, functions: Sequence[str], cache: Path | None = None, python: str | None = None
) -> dict:
    """Build the layer and the function zips under ``out`` (wheels cached in ``cache``,
    default ``out/wheels``), their bytecode compiled by ``python`` or the runtime's Python
    found here (:func:`find_runtime_python`); returns a JSON-able summary."""
    t0 = time.perf_counter()
    runtime_python, bytecode_note = find_runtime_python(python)
    layer = out / "layer"
    site = layer / "python"
    shutil.rmtree(layer, ignore_errors=True)
    site.mkdir(parents=True)
    install_dependencies(runtime_requirements(), site, cache or out / "wheels")
    t_deps = time.perf_counter() - t0
    prune(site)
    strip_shared_objects(site)
    copy_tradpal(site)
    strategies = copy_strategies(site)
    kernels = compile_kernels(site, out)
    kernel_glibc = check_glibc(kernels, KERNEL_GLIBC_MAX)
    layer_objs = [p for p in site.rglob("*.so*") if p.is_file()]
    layer_glibc = check_glibc(layer_objs, LAYER_GLIBC_MAX)
    t_bytecode = time.perf_counter()
    compiled = Bytecode(runtime_python, bytecode_note)
    if runtime_python is not None:
        ours = [e for e in BYTECODE_PACKAGES if e in ("tradpal", STRATEGIES_LAYER_DIR)]
        theirs = [e for e in BYTECODE_PACKAGES if e not in ours]
        for entries, strict in ((ours, True), (theirs, False)):
            sources = bytecode_sources(site, LAYER_RUNTIME_DIR, entries)
            compiled = compiled.merged(compile_bytecode(runtime_python, sources, strict=strict))
        sources = bytecode_sources(site, LAYER_RUNTIME_DIR, SOURCELESS_PACKAGES)
        sourceless = compile_bytecode(runtime_python, sources, strict=False, sourceless=True)
    else:
        sourceless = Bytecode(None, bytecode_note)
    layer_zip = out / "layer.zip"
    zip_tree(site, "python", layer_zip)
    layer_row = SizeRow("layer", layer_zip.stat().st_size, tree_size(layer))
    packaged = [package_function(name, out, runtime_python) for name in functions]
    rows = [row for row, _ in packaged]
    for _, function_bytecode in packaged:
        compiled = compiled.merged(function_bytecode)
    shutil.rmtree(out / "staging", ignore_errors=True)
    summary = {
        "strategies": strategies,
        "python": PYTHON_VERSION,
        "bytecode": {
            "python": compiled.python,
            "note": compiled.note,
            "invalidation": PYC_INVALIDATION.lower().replace("_", "-"),
            "packages": list(BYTECODE_PACKAGES) if compiled.python else [],
            "files": compiled.files,
            "bytes": compiled.bytes,
            "failed": [list(f) for f in compiled.failed],
            "sourceless": {
                "packages": list(SOURCELESS_PACKAGES) if sourceless.python else [],
                "files": sourceless.files,
                "bytes": sourceless.bytes,
                "kept_as_source": [list(f) for f in sourceless.failed],
            },
            "seconds": round(time.perf_counter() - t_bytecode, 1),
        },
        "platforms": list(PLATFORMS),
        "limit_bytes": LIMIT_BYTES,
        "layer": layer_row.__dict__,
        "functions": [
            {**r.__dict__, "total_unzipped": r.unzipped + layer_row.unzipped} for r in rows
        ],
        "kernel_glibc": kernel_glibc,
        "layer_glibc_max": max(layer_glibc.values(), key=lambda v: tuple(map(int, v.split(".")))),
        "omitted": {**LIGHT_OMIT_DISTS, **LIGHT_OMIT_PATHS},
        "seconds": {"dependencies": round(t_deps, 1), "total": round(time.perf_counter() - t0, 1)},
    }
    (out / "lambda-sizes.json").write_text(json.dumps(summary, indent=2))
    return summary


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:8.1f}"


def size_table(summary: dict) -> str:
    """The summary as a text table (MiB), one line per function + the layer."""
    layer = summary["layer"]
    lines = [
        f"{'artefact':<22}{'zipped':>9}{'unzipped':>9}{'+layer':>9}  limit 250",
        f"{'layer':<22}{_mb(layer['zipped'])} {_mb(layer['unzipped'])}",
    ]
    for f in summary["functions"]:
        ok = "ok" if f["total_unzipped"] <= summary["limit_bytes"] else "OVER"
        lines.append(
            f"{f['name']:<22}{_mb(f['zipped'])} {_mb(f['unzipped'])} "
            f"{_mb(f['total_unzipped'])}  {ok}"
        )
    return "\n".join(lines)


def bytecode_line(bytecode: dict) -> str:
    """What the build says about the bytecode it ships."""
    if bytecode["python"] is None:
        return f"bytecode: {bytecode['note']}"
    line = (
        f"bytecode: {bytecode['files']} modules ({_mb(bytecode['bytes']).strip()} MiB, "
        f"{bytecode['invalidation']}) {bytecode['note']}"
    )
    if bytecode["failed"]:
        names = ", ".join(name for name, _ in bytecode["failed"])
        line += f"; shipped as source, not compiling under it: {names}"
    sourceless = bytecode.get("sourceless") or {}
    if sourceless.get("packages"):
        line += (
            f"; {', '.join(sourceless['packages'])} as bytecode only ({sourceless['files']} "
            f"modules, {_mb(sourceless['bytes']).strip()} MiB)"
        )
    return line


def main(argv: Sequence[str] | None = None) -> int:
    zips, images = catalog_packaging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder")
    parser.add_argument(
        "--functions",
        default=",".join(zips),
        help="comma-separated zip-packaged capabilities (default: the catalog's)",
    )
    parser.add_argument("--cache", type=Path, default=None, help="wheel cache (OUT/wheels)")
    parser.add_argument(
        "--python",
        default=None,
        help=f"the CPython {PYTHON_VERSION} that compiles the bytecode (default: found here)",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.functions.split(",") if n.strip()]
    try:
        cache = args.cache.resolve() if args.cache else None
        summary = build(args.out.resolve(), names, cache, args.python)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, IndexUnreachable) else 2
    print(size_table(summary))
    print(
        f"kernels' newest GLIBC: {summary['kernel_glibc']}; layer's: {summary['layer_glibc_max']}"
    )
    print(f"images (built by Docker at deploy): {', '.join(images)}")
    print(bytecode_line(summary["bytecode"]))
    print(f"built in {summary['seconds']['total']} s")
    over = [f["name"] for f in summary["functions"] if f["total_unzipped"] > LIMIT_BYTES]
    if over:
        print(f"over Lambda's 250 MB unzipped limit: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
