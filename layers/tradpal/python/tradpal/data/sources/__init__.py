"""Data sources: adapters that deliver OHLCV frames following the contract."""

from tradpal.data.sources.base import OhlcvSource, ProgressCallback

__all__ = ["OhlcvSource", "ProgressCallback"]
