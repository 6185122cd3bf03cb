"""Market data: the OHLCV contract, quality checks, sources, resampling and the store."""

from tradpal.data.contract import (
    OHLCV_COLUMNS,
    MarketMeta,
    ensure_ohlcv,
    get_meta,
    make_ohlcv,
    with_meta,
)

__all__ = ["OHLCV_COLUMNS", "MarketMeta", "ensure_ohlcv", "get_meta", "make_ohlcv", "with_meta"]
