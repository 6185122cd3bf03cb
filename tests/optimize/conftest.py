"""Real BTC/USDT 1h candles for the optimize tests (read once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def btc(shared_data):
    from tradpal.data.importers import import_binance_klines

    frame, _ = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    return frame
