"""Run every benchmark side by side with its reference and record the figures.

Each ``bench_*.py`` module here exposes ``main() -> dict`` that prints its own
table and returns its figures (times in seconds, ratios, memory in bytes).
This script runs them in one process tree, on one machine, and rewrites the
"Latest run" section of ``RESULTS.md`` with the figures and the machine. Ratios
are what matter: absolute times vary between machines, the ratio against the
reference measured in the same run does much less.

Usage: ``python benchmarks/run_all.py [name ...]`` (names without ``bench_``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
FIGURES = HERE / "results.json"
MARKER = "<!-- latest-run -->"


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "os": f"{platform.system()} {platform.release()}",
    }


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    figures: dict[str, dict] = {}
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"bench_{name}")
        figures[name] = module.main()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    # Figures accumulate per benchmark, so running one benchmark keeps the others'.
    recorded = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    for name, result in figures.items():
        recorded[name] = {"run": stamp, "machine": machine(), "figures": result}
    FIGURES.write_text(json.dumps(recorded, indent=2, default=str) + "\n")
    lines = [MARKER, "## Latest figures (written by run_all.py)"]
    for name, entry in sorted(recorded.items()):
        m = entry["machine"]
        lines += [
            "",
            f"### {name}",
            "",
            f"{entry['run']} on {m['cpu']} ({m['cores']} cores), Python {m['python']}, "
            f"numpy {m['numpy']}",
            "",
            "```json",
            json.dumps(entry["figures"], indent=2, default=str),
            "```",
        ]
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    head = text.split(MARKER)[0].rstrip() + "\n\n"
    RESULTS.write_text(head + "\n".join(lines) + "\n")
    print(f"\nrecorded in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
