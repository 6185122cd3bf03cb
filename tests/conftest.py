"""Shared fixtures: the real market data beside the checkout, and isolated homes."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real exchange candles. Skips when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real market data not found at {SHARED_DATA} (a user's clone has none)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own TRADPAL_HOME, so no test reads or writes a user's data."""
    home = tmp_path_factory.mktemp("tradpal-home")
    monkeypatch.setenv("TRADPAL_HOME", str(home))
    for var in ("TRADPAL_CONFIG", "TRADPAL_PROFILE", "TRADPAL_STRATEGY_DIRS"):
        monkeypatch.delenv(var, raising=False)
    return home
