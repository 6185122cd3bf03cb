"""Write the OpenAPI document of the HTTP API to functions/health/openapi.json.

Run after changing a route or a request/response model: ``python scripts/build_openapi.py``
(``--check`` exits 1 when the committed document is out of date).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tradpal.platform.openapi import DOCUMENT_PATH, build_document, load_routers, render  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    text = render(build_document(load_routers()))
    if args.check:
        current = DOCUMENT_PATH.read_text() if DOCUMENT_PATH.is_file() else ""
        if current != text:
            print(f"{DOCUMENT_PATH} is out of date: run python scripts/build_openapi.py")
            return 1
        return 0
    DOCUMENT_PATH.write_text(text)
    print(f"wrote {DOCUMENT_PATH} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
