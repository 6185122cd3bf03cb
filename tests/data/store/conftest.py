"""Fixtures for the market data store: local and S3 (moto server) backends, test sources.

pyarrow's S3 client is C++ and cannot be intercepted by moto's in-process mock,
so S3 runs as a real moto server on 127.0.0.1 and the store reaches it through
``endpoint`` exactly as it reaches AWS.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradpal.data.contract import MarketMeta, make_ohlcv
from tradpal.data.store import MarketStore
from tradpal.errors import SourceError
from tradpal.timeframes import Timeframe, parse_timeframe

S3_REGION = "us-east-1"
S3_CREDENTIALS = {"access_key": "testing", "secret_key": "testing"}
S3_BUCKET = "tradpal-store-tests"


@dataclass(frozen=True)
class StoreSpec:
    """How to open one test store: enough to open it again in another process."""

    backend: str
    uri: str
    endpoint: str | None = None
    region: str | None = None
    s3_options: dict[str, Any] = field(default_factory=dict)

    def open(self) -> MarketStore:
        return MarketStore.from_uri(
            self.uri, endpoint=self.endpoint, region=self.region, s3_options=self.s3_options
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "endpoint": self.endpoint,
            "region": self.region,
            "s3_options": self.s3_options,
        }


@dataclass(frozen=True)
class MotoS3:
    endpoint: str
    bucket: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=S3_REGION,
            aws_access_key_id=S3_CREDENTIALS["access_key"],
            aws_secret_access_key=S3_CREDENTIALS["secret_key"],
        )


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """A moto S3 server on 127.0.0.1 (a free port) with one bucket, for the session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = MotoS3(f"http://{host}:{port}", S3_BUCKET)
    s3.client().create_bucket(Bucket=S3_BUCKET)
    try:
        yield s3
    finally:
        server.stop()


@pytest.fixture(params=["local", "s3"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Any) -> StoreSpec:
    """A fresh, empty store on each backend: a temporary directory, or a new S3 prefix."""
    if request.param == "local":
        return StoreSpec("local", str(tmp_path / "market"))
    s3: MotoS3 = request.getfixturevalue("moto_s3")
    return StoreSpec(
        "s3",
        f"s3://{s3.bucket}/{uuid.uuid4().hex}",
        endpoint=s3.endpoint,
        region=S3_REGION,
        s3_options=dict(S3_CREDENTIALS),
    )


@pytest.fixture
def store(store_spec: StoreSpec) -> MarketStore:
    return store_spec.open()


def wave_bars(t_ns: np.ndarray, timeframe: Timeframe, meta: MarketMeta) -> pd.DataFrame:
    """Candles computed from each bar's open time alone (so any two fetches agree).

    Prices follow two sine waves in the bar number; each bar opens at the
    previous bar's close and its high and low lie a little outside open and
    close, so the candles pass every quality rule.
    """
    k = (np.asarray(t_ns, dtype=np.int64) // timeframe.nanoseconds).astype(np.float64)

    def price(x: np.ndarray) -> np.ndarray:
        return 100.0 * np.exp(0.03 * np.sin(x / 37.0) + 0.01 * np.sin(x / 5.3))

    close, open_ = price(k), price(k - 1.0)
    wick = 0.001 * (1.5 + np.sin(0.7 * k))
    high = np.maximum(open_, close) * (1.0 + wick)
    low = np.minimum(open_, close) * (1.0 - wick)
    volume = 1.0 + np.mod(k * 7919.0, 1000.0) / 10.0
    return make_ohlcv(t_ns, open_, high, low, close, volume, meta=meta)


class WaveSource:
    """A deterministic :class:`~tradpal.data.sources.base.OhlcvSource` that records its calls.

    ``listed``: no bars before this time (like a market that opened then).
    ``fail_on_call``: the n-th fetch (1-based) raises SourceError, like a
    dropped connection half-way through a long download.
    """

    def __init__(
        self,
        name: str = "test:wave",
        *,
        listed: str | None = None,
        fail_on_call: int | None = None,
    ) -> None:
        self.name = name
        self.listed = None if listed is None else pd.Timestamp(listed, tz="UTC").value
        self.fail_on_call = fail_on_call
        self.calls: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> pd.DataFrame:
        self.calls.append((start, end))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise SourceError(f"{self.name}: connection reset (simulated)")
        tf = parse_timeframe(timeframe)
        step = tf.nanoseconds
        first = -(-start.value // step) * step  # the first bar boundary at or after start
        t = np.arange(first, end.value, step, dtype=np.int64)
        if self.listed is not None:
            t = t[t >= self.listed]
        frame = wave_bars(t, tf, MarketMeta(symbol, tf.name, self.name))
        if progress is not None:
            progress(len(t), len(t))
        return frame


@pytest.fixture
def wave() -> Callable[..., pd.DataFrame]:
    """``wave(symbol, timeframe, start, periods, source=...)``: a deterministic contract frame."""

    def make(
        symbol: str = "BTC/USDT",
        timeframe: str = "1h",
        start: str = "2023-12-30",
        periods: int = 100,
        source: str = "test:wave",
        **meta: Any,
    ) -> pd.DataFrame:
        tf = parse_timeframe(timeframe)
        t0 = pd.Timestamp(start, tz="UTC").value
        t = t0 + np.arange(periods, dtype=np.int64) * tf.nanoseconds
        return wave_bars(t, tf, MarketMeta(symbol, tf.name, source, **meta))

    return make


@pytest.fixture
def wave_source() -> type[WaveSource]:
    return WaveSource
