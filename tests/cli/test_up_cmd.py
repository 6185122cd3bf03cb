"""`tradpal up` as a user runs it: a process that serves the API until Ctrl-C (SIGINT) or
SIGTERM, then stops cleanly and saves its state."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

URL = re.compile(r"running at (http://127\.0\.0\.1:\d+)")


def _start(home: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "TRADPAL_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("tradpal")), "up", "--port", "0", "--no-schedules"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline, seen = time.monotonic() + 120, ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
        if match := URL.search(line):
            return proc, match.group(1)
    proc.kill()
    pytest.fail(f"tradpal up did not start:\n{seen}")


def test_up_serves_then_stops_cleanly_on_ctrl_c_even_if_it_comes_twice(tmp_path):
    # SIGTERM takes the same path (one handler for both signals).
    proc, url = _start(tmp_path)
    try:
        with urllib.request.urlopen(f"{url}/v1/health", timeout=30) as response:
            assert response.status == 200 and json.load(response)["status"] in ("ok", "degraded")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)  # a wrapper or the process group may deliver it twice: still clean
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped; state saved under" in out
    assert "internal error" not in out and "Traceback" not in out
    assert (tmp_path / "platform" / "state" / "manifest.json").is_file()
