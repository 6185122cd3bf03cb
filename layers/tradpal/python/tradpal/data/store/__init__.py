"""The market data store: Parquet datasets by symbol and timeframe, local or on S3.

See :class:`MarketStore` for the API and :mod:`tradpal.data.store.layout` for
how files are laid out.
"""

from tradpal.data.store.layout import decode_symbol, encode_symbol, period_kind
from tradpal.data.store.listing import StoredDataset
from tradpal.data.store.market import (
    DEFAULT_CHUNK_BARS,
    MarketStore,
    UpdateResult,
    WriteResult,
    default_root,
)

__all__ = [
    "DEFAULT_CHUNK_BARS",
    "MarketStore",
    "StoredDataset",
    "UpdateResult",
    "WriteResult",
    "decode_symbol",
    "default_root",
    "encode_symbol",
    "period_kind",
]
