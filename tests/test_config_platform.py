"""The settings the functions add: source_options, watchlist, signal_strategies."""

from __future__ import annotations

import pytest

from tradpal.config import load_settings
from tradpal.errors import ConfigError
from tradpal.ingest.pipeline import source_for


def test_defaults(monkeypatch):
    monkeypatch.setenv("TRADPAL_SYMBOL", "ETH/USDT")
    monkeypatch.setenv("TRADPAL_TIMEFRAME", "4h")
    s = load_settings()
    assert s.watchlist == ["ETH/USDT@4h"] and s.watched_datasets == (("ETH/USDT", "4h"),)
    assert s.signal_strategies == ["ema_crossover"] and s.source_options == {}


def test_values_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRADPAL_WATCHLIST", '["BTC/USDT@1h", "ETH/BTC@1d", "BTC/USDT@1h"]')
    monkeypatch.setenv("TRADPAL_SIGNAL_STRATEGIES", '["ema_crossover@4h", "rsi_reversal+atr"]')
    monkeypatch.setenv("TRADPAL_SOURCE_OPTIONS", '{"ccxt:kraken": {"page_limit": 50}}')
    s = load_settings()
    assert s.watched_datasets == (("BTC/USDT", "1h"), ("ETH/BTC", "1d"))
    assert s.signal_strategies == ["ema_crossover@4h", "rsi_reversal+atr"]
    source = source_for(s, "ccxt:kraken")
    assert source.name == "ccxt:kraken"


@pytest.mark.parametrize(
    ("var", "value", "named"),
    [
        ("TRADPAL_WATCHLIST", '["BTC/USDT"]', "watchlist"),
        ("TRADPAL_WATCHLIST", '["BTC/USDT@7h"]', "watchlist"),
        ("TRADPAL_SIGNAL_STRATEGIES", '["nope"]', "unknown strategy 'nope'"),
        ("TRADPAL_SOURCE_OPTIONS", '{"kraken": {}}', "unknown source"),
    ],
)
def test_bad_values_are_config_errors(monkeypatch, var, value, named):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=named):
        load_settings()
