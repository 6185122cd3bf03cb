"""kill -9 at random points while ``POST /v1/data/ingest`` writes candles from an exchange (a
local fake Binance in this process, which ``tradpal up`` reaches through its settings: the
ccxt source's options point the client's URLs at it). After each restart:

* the stored dataset is readable, its bars strictly increasing and consecutive (no duplicate,
  out-of-order or missing bar inside it), and each bar is the exchange's bar;
* what ``GET /v1/data`` reports of it (first, last, rows) is what is stored;
* ingesting the same range again completes it: every bar of the range, once, no gap;
* the market-data stream's consumers did not fail on the records an ingest put again
  (nothing logged as failed, dead-lettered or kept), in any of the processes.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time

import numpy as np
import pandas as pd
import pytest
from e2e.crashing import call, failures, start, token
from fakes.fake_binance import FakeBinance, generated_klines

from tradpal.data.store import MarketStore
from tradpal.local.resources import local_env
from tradpal.platform.environment import MARKET_PREFIX

SYMBOL, TF = "BTC/USDT", "1m"
BARS = 30_000
KLINES = generated_klines(BARS, TF, seed=15)
T0 = pd.Timestamp(KLINES[0][0], unit="ms", tz="UTC")
STEP = pd.Timedelta(minutes=1)
PAGE = 1000
# the ranges ingested, by bar position: new, then on both ends (forward, then backward)
WINDOWS = [(8_000, 20_000), (1_000, 27_000), (0, BARS)]


def at(i: int) -> str:
    return (T0 + i * STEP).isoformat()


def exchange_bars(lo: int, hi: int) -> pd.DataFrame:
    rows = KLINES[lo:hi]
    index = pd.DatetimeIndex([pd.Timestamp(r[0], unit="ms", tz="UTC") for r in rows])
    values = np.array([[float(x) for x in r[1:6]] for r in rows])
    return pd.DataFrame(values, index=index, columns=["open", "high", "low", "close", "volume"])


def stored(aws_url: str) -> pd.DataFrame | None:
    """The dataset as the platform's store holds it (read over its S3 endpoint)."""
    bucket = local_env().require("market_data_bucket")
    store = MarketStore.from_uri(
        f"s3://{bucket}/{MARKET_PREFIX}",
        endpoint=aws_url,
        s3_options={"access_key": "testing", "secret_key": "testing", "region": "us-east-1"},
    )
    if store.range(SYMBOL, TF) is None:
        return None
    return store.read(SYMBOL, TF)


def check_stored(url: str, tok: str, aws_url: str, want: tuple[int, int] | None) -> None:
    """The stored bars are the exchange's, consecutive, and as ``GET /v1/data`` says;
    ``want``: exactly these positions ``[lo, hi)`` (after a complete ingest)."""
    frame = stored(aws_url)
    status, listed = call(url, tok, "GET", f"/v1/data?symbol={SYMBOL}&timeframe={TF}")
    assert status == 200, listed
    if frame is None or frame.empty:
        assert want is None and listed["datasets"] == [], listed
        return
    times = frame.index.asi8
    assert (np.diff(times) == STEP.value).all(), "duplicate, out-of-order or missing bars"
    lo = int((frame.index[0] - T0) / STEP)
    hi = lo + len(frame)
    expected = exchange_bars(lo, hi)
    assert frame.index.equals(expected.index)
    assert np.array_equal(frame[list(expected.columns)].to_numpy(), expected.to_numpy())
    if want is not None:
        assert (lo, hi) == want, f"stored bars {lo}..{hi}, wanted {want}"
    [entry] = listed["datasets"]
    reported = (entry["first"], entry["last"], entry["rows"])
    assert reported == (at(lo), at(hi - 1), hi - lo), f"GET /v1/data {reported}, stored {lo, hi}"


def ingest(url: str, tok: str, lo: int, hi: int) -> tuple:
    body = {"symbol": SYMBOL, "timeframe": TF, "start": at(lo), "end": at(hi)}
    return call(url, tok, "POST", "/v1/data/ingest", body)


def ingest_until_killed(url: str, tok: str, lo: int, hi: int) -> None:
    with contextlib.suppress(OSError):  # the platform was killed before it answered
        ingest(url, tok, lo, hi)


@pytest.mark.slow
def test_ingest_killed_at_any_moment_leaves_a_consistent_dataset_and_completes(tmp_path):
    rng = random.Random(11)  # reproducible kill points
    logs: list[str] = []
    with FakeBinance({(SYMBOL, TF): KLINES}, lifetime_s=1800) as fake:
        options = {"ccxt:binance": {"config": fake.ccxt_config(rateLimit=1), "page_limit": PAGE}}
        env = {
            "TRADPAL_SOURCES": json.dumps(["ccxt:binance"]),
            "TRADPAL_SOURCE_OPTIONS": json.dumps(options),
            "TRADPAL_WATCHLIST": json.dumps([f"{SYMBOL}@{TF}"]),
            # signals on every bar (history here): the consumers publish, so bars put on the
            # stream again meet the signals published the first time
            "TRADPAL_SIGNAL_MAX_AGE_BARS": "0",
        }
        tok = token(tmp_path, ["read", "admin"])
        done: tuple[int, int] | None = None  # what a complete ingest has stored so far
        for cycle, (lo, hi) in enumerate([*WINDOWS, (None, None)]):
            up = start(tmp_path, "--no-sample", env=env)
            try:
                # after the kill: consistent, then complete once the range is ingested again
                check_stored(up.url, tok, up.aws(), None)
                if done is not None:
                    status, again = ingest(up.url, tok, *done)
                    assert status == 200, again
                    check_stored(up.url, tok, up.aws(), done)
                if lo is None:
                    break
                # An ingest that is killed: after a random number of pages served, or at a
                # random moment after the last one (storing, the table, the stream, the event).
                pages_before = len(fake.klines_requests())
                thread = threading.Thread(
                    target=ingest_until_killed, args=(up.url, tok, lo, hi), daemon=True
                )
                thread.start()
                pages = -(-(hi - lo - _stored_overlap(done, lo, hi)) // PAGE)
                after = rng.randint(1, pages + 1)
                extra = rng.uniform(0.0, 0.5 if after <= pages else 8.0)
                deadline = time.monotonic() + 120
                while thread.is_alive():
                    served = len(fake.klines_requests()) - pages_before
                    if served >= min(after, pages):
                        break
                    assert time.monotonic() < deadline, f"cycle {cycle}: {served} pages"
                    time.sleep(0.01)
                time.sleep(extra)
                done = (min(lo, done[0]), max(hi, done[1])) if done else (lo, hi)
            finally:
                logs.append(up.kill() if lo is not None else up.stop())
    found = [line for log in logs for line in failures(log)]
    assert not found, "\n".join(found)


def _stored_overlap(done: tuple[int, int] | None, lo: int, hi: int) -> int:
    """Bars of ``[lo, hi)`` already stored (not fetched again)."""
    if done is None:
        return 0
    return max(0, min(hi, done[1]) - max(lo, done[0]))
