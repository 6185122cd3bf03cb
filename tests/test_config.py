"""Settings: profiles, precedence (flags > environment > file), and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradpal.config import Profile, load_settings
from tradpal.errors import ConfigError


def test_defaults_are_the_light_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.profile is Profile.LIGHT
    assert s.ml_enabled is False
    assert s.multi_timeframe_enabled is False
    assert [c for s_ in s.indicator_set for c in s_.columns()][:3] == ["ema_9", "ema_21", "rsi_14"]


def test_heavy_profile_turns_everything_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADPAL_PROFILE", "heavy")
    s = load_settings()
    assert s.ml_enabled and s.multi_timeframe_enabled
    assert {"macd", "adx", "stochastic", "obv"} <= {spec.kind for spec in s.indicator_set}


def test_explicit_switch_overrides_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADPAL_PROFILE", "heavy")
    monkeypatch.setenv("TRADPAL_ML_ENABLED", "false")
    s = load_settings()
    assert s.ml_enabled is False
    assert s.multi_timeframe_enabled is True


def test_precedence_flag_over_env_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "tradpal.toml"
    cfg.write_text('[tradpal]\ntimeframe = "4h"\nsymbol = "ETH/USDT"\nseed = 7\n')
    monkeypatch.setenv("TRADPAL_CONFIG", str(cfg))
    monkeypatch.setenv("TRADPAL_TIMEFRAME", "15m")
    s = load_settings(seed=9)
    assert s.symbol == "ETH/USDT"  # file
    assert s.timeframe == "15m"  # environment beats the file
    assert s.seed == 9  # an explicit override beats both


def test_file_in_home_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "tradpal.toml").write_text('profile = "heavy"\n')
    monkeypatch.setenv("TRADPAL_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert load_settings().profile is Profile.HEAVY


def test_every_bad_setting_is_listed_with_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADPAL_PROFILE", "medium")
    monkeypatch.setenv("TRADPAL_TIMEFRAME", "7m")
    monkeypatch.setenv("TRADPAL_SOURCES", '["ftx-direct"]')
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "TRADPAL_PROFILE" in text and "'medium'" in text
    assert "TRADPAL_TIMEFRAME" in text and "1m, 3m" in text
    assert "TRADPAL_SOURCES" in text and "ftx-direct" in text


def test_misspelt_variable_is_an_error_with_a_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADPAL_PROFLE", "heavy")
    with pytest.raises(ConfigError, match="did you mean TRADPAL_PROFILE"):
        load_settings()


def test_missing_config_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADPAL_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()


def test_broken_toml_and_unknown_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "tradpal.toml"
    cfg.write_text("profile = \n")
    monkeypatch.setenv("TRADPAL_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()
    cfg.write_text('profle = "heavy"\n')
    with pytest.raises(ConfigError, match="profle"):
        load_settings()


def test_store_uri_defaults_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRADPAL_HOME", str(tmp_path))
    assert load_settings().market_store_uri == str(tmp_path / "market")
    monkeypatch.setenv("TRADPAL_STORE_URI", "s3://bucket/prefix")
    assert load_settings().market_store_uri == "s3://bucket/prefix"


def test_indicator_set_from_short_forms_and_tables(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRADPAL_INDICATORS", '["ema:50", "bollinger:20:2.5"]')
    cols = [c for spec in load_settings().indicator_set for c in spec.columns()]
    assert cols[0] == "ema_50" and "bb_upper_20_2.5" in cols
    monkeypatch.delenv("TRADPAL_INDICATORS")
    cfg = tmp_path / "tradpal.toml"
    cfg.write_text('indicators = [{kind = "rsi", period = 7}, "obv"]\n')
    monkeypatch.setenv("TRADPAL_CONFIG", str(cfg))
    assert [c for s in load_settings().indicator_set for c in s.columns()] == ["rsi_7", "obv"]


def test_bad_indicator_entries_are_named(monkeypatch) -> None:
    monkeypatch.setenv("TRADPAL_INDICATORS", '["ema", "vortex:3"]')
    with pytest.raises(ConfigError, match="ema needs the parameter 'period'"):
        load_settings()
