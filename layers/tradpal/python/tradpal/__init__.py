"""TradPal: market data, indicators, signals, backtests and trading, as a library.

The compute here is pure (arrays and DataFrames in, arrays, DataFrames and plain
result objects out); I/O lives in adapters at the edges (data sources, stores).
"""

__version__ = "0.1.0"
