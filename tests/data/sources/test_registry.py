"""make_source: data sources by spec string, with lazy imports and clear errors."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from tradpal.data.sources.base import OhlcvSource
from tradpal.data.sources.ccxt_source import CcxtSource
from tradpal.data.sources.registry import VALID_SPECS, make_source
from tradpal.data.sources.synthetic import SyntheticSource
from tradpal.data.sources.yfinance_source import YFinanceSource
from tradpal.errors import ConfigError, SourceError


def test_yfinance_spec_with_options() -> None:
    source = make_source("yfinance", auto_adjust=True, timeout=3)
    assert isinstance(source, YFinanceSource) and isinstance(source, OhlcvSource)
    assert source.name == "yfinance" and source.auto_adjust and source.timeout == 3.0


def test_ccxt_spec() -> None:
    source = make_source(" ccxt:Binance ", max_retries=1)
    assert isinstance(source, CcxtSource)
    assert source.name == "ccxt:binance" and source.exchange_id == "binance"


def test_ccxt_unknown_exchange_is_the_sources_own_error() -> None:
    with pytest.raises(SourceError, match="ccxt does not know the exchange"):
        make_source("ccxt:nosuchexchange")


def test_synthetic_specs_match_the_constructor() -> None:
    start, end = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-03", tz="UTC")
    for spec, seed in (("synthetic", 0), ("synthetic:seed=7", 7), ("SYNTHETIC: seed = 7", 7)):
        source = make_source(spec)
        assert isinstance(source, SyntheticSource) and source.seed == seed
        pd.testing.assert_frame_equal(
            source.fetch("BTC/USD", "1h", start, end),
            SyntheticSource(seed=seed).fetch("BTC/USD", "1h", start, end),
            check_exact=True,
        )
    assert make_source("synthetic", seed=9).seed == 9
    assert make_source("synthetic:seed=2,initial_price=50.5").initial_price == 50.5


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "binance",
        "ccxt",
        "ccxt:",
        "ccxt:bin ance",
        "yfinance:AAPL",
        "synthetic:seed",
        "synthetic:colour=red",
        "csv",
    ],
)
def test_bad_specs_list_the_valid_ones(spec: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_source(spec)
    assert repr(spec.strip()) in err.value.message
    assert all(valid in err.value.hint for valid in VALID_SPECS)


def test_spec_and_option_clash() -> None:
    with pytest.raises(ConfigError, match="seed given both"):
        make_source("synthetic:seed=1", seed=2)


def test_bad_seed_is_the_sources_own_error() -> None:
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        make_source("synthetic:seed=abc")


def test_importing_the_registry_imports_no_exchange_library() -> None:
    code = (
        "import sys, tradpal.data.sources.registry, tradpal.data.sources.fallback;"
        "print(sorted(m for m in ('ccxt', 'yfinance', 'curl_cffi') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
