"""Settings: environment variables over an optional TOML file over profile defaults.

Every setting has an environment variable ``TRADPAL_<NAME>`` (upper case) and a
key of the same name in the settings file. The file is the first of
``$TRADPAL_CONFIG``, ``./tradpal.toml`` and ``$TRADPAL_HOME/tradpal.toml`` that
exists; ``$TRADPAL_CONFIG`` naming a missing file is an error, not a silent
default. Environment variables win over the file.

Profiles choose the defaults of the feature switches:

* ``light`` (the default): no ML, no multi-timeframe filters, the minimum
  indicator set: what a small Lambda function needs.
* ``heavy``: everything on.

A switch set explicitly (``TRADPAL_ML_ENABLED=true``) overrides its profile's
default. :func:`load_settings` validates everything at start and raises one
:class:`~tradpal.errors.ConfigError` that lists every bad setting, where it
came from and what is allowed.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from tradpal.data.quality import Policy
from tradpal.errors import ConfigError, TradPalError
from tradpal.indicators.spec import IndicatorSpec, parse_entry, parse_spec
from tradpal.timeframes import TIMEFRAMES

ENV_PREFIX = "TRADPAL_"
CONFIG_FILE_NAME = "tradpal.toml"


class Profile(StrEnum):
    LIGHT = "light"
    HEAVY = "heavy"


# The indicator sets each profile computes by default, in the short form of
# tradpal.indicators.spec.parse_entry ("kind:param:param").
PROFILE_INDICATORS: dict[Profile, tuple[str, ...]] = {
    Profile.LIGHT: ("ema:9", "ema:21", "rsi:14", "bollinger:20:2", "atr:14"),
    Profile.HEAVY: (
        "ema:9", "ema:21", "rsi:14", "bollinger:20:2", "atr:14", "macd:12:26:9", "adx:14",
        "stochastic:14:3:3", "obv",
    ),
}  # fmt: skip


def default_home() -> Path:
    """``~/.tradpal``: where local data and state live unless TRADPAL_HOME says otherwise."""
    return Path.home() / ".tradpal"


class Settings(BaseSettings):
    """TradPal's validated settings. Build them with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, frozen=True
    )

    profile: Profile = Profile.LIGHT
    home: Path = Field(default_factory=default_home, description="local data and state")
    store_uri: str | None = Field(
        default=None,
        description="market data store: a local path or s3://bucket/prefix; default: <home>/market",
    )
    sources: list[str] = Field(
        # Synthetic data is never a default fallback: it must not pass for a real market.
        default_factory=lambda: ["ccxt:binance", "yfinance"],
        description="data sources in fallback order",
        min_length=1,
    )
    symbol: str = Field(default="BTC/USDT", min_length=1)
    timeframe: str = "1h"
    quality_policy: Policy = Policy.REJECT
    ml_enabled: bool | None = Field(default=None, description="default: the profile's")
    multi_timeframe_enabled: bool | None = Field(default=None, description="default: the profile's")
    indicators: list[str | dict[str, Any]] | None = Field(
        default=None,
        description='indicator set: entries like "ema:9" or {kind = "ema", period = 9}; '
        "default: the profile's set",
    )
    log_level: str = "INFO"
    seed: int = Field(default=42, ge=0, description="seed for synthetic data and searches")
    source_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="constructor options per source spec, e.g. "
        '{"ccxt:binance": {"config": {"urls": ...}}} (a JSON object in the environment)',
    )
    watchlist: list[str] | None = Field(
        default=None,
        description='datasets the scheduled ingest keeps up to date, as "SYMBOL@TIMEFRAME" '
        '(["BTC/USDT@1h"]); default: the symbol at the timeframe',
    )
    # Before signal_strategies: validating those names looks in these folders.
    strategy_dirs: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="folders of strategy files of your own (*.py with @strategy), usable by "
        "name; TRADPAL_STRATEGY_DIRS takes a JSON list or folders separated by "
        f"{os.pathsep!r}; relative paths start at the settings file's folder (in the file) "
        "or the current directory (in the environment)",
    )
    signal_strategies: list[str] = Field(
        default_factory=lambda: ["ema_crossover"],
        description="strategies the signals function runs on every new candle of the stream",
    )
    signal_max_age_bars: int = Field(
        default=3,
        ge=0,
        description="the stream's signals on bars that had closed more than this many bars "
        "before they arrived are history (a backfill), not news: they are not published "
        "as trading_signal; 0 publishes every signal",
    )
    live_trading: bool = Field(
        default=False,
        description="allow `tradpal trade --live`: orders on a real exchange account. Off by "
        "default; paper trading needs no setting",
    )
    exchange_secret: str | None = Field(
        default=None,
        description="the Secrets Manager secret holding a live trader's exchange keys (JSON "
        "with apiKey and secret, and password for exchanges that need one)",
    )
    trader_id: str | None = Field(
        default=None,
        description="the trader's id: its partition in the trading table and the stem of its "
        "client order ids (default: <strategy>-<symbol>-<timeframe>)",
    )
    trader_lease_s: float = Field(
        default=60.0,
        ge=3.0,
        le=3600.0,
        description="a trader's lease in seconds, renewed every third of it: a trader "
        "restarted after a crash waits at most this long for the dead process's",
    )
    config: Path | None = Field(default=None, description="the settings file (TRADPAL_CONFIG)")

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, v: str) -> str:
        if v not in TIMEFRAMES:
            raise ValueError(f"must be one of {', '.join(TIMEFRAMES)}")
        return v

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, v: str) -> str:
        level = v.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, v: list[str]) -> list[str]:
        kinds = ("ccxt", "yfinance", "synthetic")
        bad = [s for s in v if s.split(":", 1)[0] not in kinds]
        if bad:
            raise ValueError(
                f"unknown source(s) {', '.join(bad)}; use ccxt:<exchange id>, yfinance or synthetic"
            )
        return v

    @field_validator("indicators")
    @classmethod
    def _valid_indicators(
        cls, v: list[str | dict[str, Any]] | None
    ) -> list[str | dict[str, Any]] | None:
        if v is not None:
            try:
                parse_spec([parse_entry(entry) for entry in v])
            except TradPalError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("source_options")
    @classmethod
    def _options_for_known_sources(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        cls._known_sources(list(v))
        return v

    @field_validator("watchlist")
    @classmethod
    def _valid_watchlist(cls, v: list[str] | None) -> list[str] | None:
        for item in v or ():
            symbol, sep, timeframe = str(item).rpartition("@")
            if not sep or not symbol.strip() or timeframe not in TIMEFRAMES:
                raise ValueError(
                    f"watchlist entry {item!r} is not SYMBOL@TIMEFRAME "
                    f"(e.g. BTC/USDT@1h; timeframes: {', '.join(TIMEFRAMES)})"
                )
        return v

    @field_validator("strategy_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, v: Any) -> Any:
        return split_dirs(v)

    @field_validator("strategy_dirs")
    @classmethod
    def _existing_dirs(cls, v: list[str]) -> list[str]:
        out = []
        for folder in v:
            path = Path(folder).expanduser()
            if not path.is_dir():
                raise ValueError(f"{folder} is not a directory (a folder of strategy files)")
            out.append(str(path.resolve()))  # absolute: the same folders from any directory
        return list(dict.fromkeys(out))

    @field_validator("signal_strategies")
    @classmethod
    def _known_strategies(cls, v: list[str], info: ValidationInfo) -> list[str]:
        from tradpal.strategies.registry import get_strategy  # lazy: pandas, only when validating

        # the folders just validated (none when they were invalid: that error is reported)
        dirs = info.data.get("strategy_dirs") or []
        for name in v:
            try:
                get_strategy(name, dirs=dirs)
            except TradPalError as exc:
                raise ValueError(f"{exc.message} ({exc.hint})") from None
        return v

    @model_validator(mode="after")
    def _resolve_profile_defaults(self) -> Settings:
        heavy = self.profile is Profile.HEAVY
        if self.ml_enabled is None:
            object.__setattr__(self, "ml_enabled", heavy)
        if self.multi_timeframe_enabled is None:
            object.__setattr__(self, "multi_timeframe_enabled", heavy)
        if self.indicators is None:
            object.__setattr__(self, "indicators", list(PROFILE_INDICATORS[self.profile]))
        if self.watchlist is None:
            object.__setattr__(self, "watchlist", [f"{self.symbol}@{self.timeframe}"])
        return self

    @property
    def watched_datasets(self) -> tuple[tuple[str, str], ...]:
        """The watchlist as ``(symbol, timeframe)`` pairs, in order, without repeats."""
        pairs = (tuple(item.rpartition("@")[::2]) for item in self.watchlist or ())
        return tuple(dict.fromkeys((s.strip(), tf) for s, tf in pairs))

    @property
    def indicator_set(self) -> tuple[IndicatorSpec, ...]:
        """The indicators to compute, as specs for :func:`tradpal.indicators.add_indicators`."""
        return parse_spec([parse_entry(entry) for entry in self.indicators or ()])

    @property
    def market_store_uri(self) -> str:
        """Where the market data store lives: ``store_uri`` or ``<home>/market``."""
        return self.store_uri or str(self.home / "market")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest priority first: explicit overrides, the environment, the settings file.
        return (init_settings, env_settings, _FileSource(settings_cls, _file_values.get() or {}))


class _FileSource(PydanticBaseSettingsSource):
    """The settings file's values, already parsed by :func:`load_settings`."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self._values = values

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


_file_values: ContextVar[Mapping[str, Any] | None] = ContextVar("tradpal_file_values", default=None)


def split_dirs(value: Any) -> Any:
    """``strategy_dirs`` as given: a list as it is, text as a JSON list or as folders
    separated by ``os.pathsep`` (``":"`` on Linux and macOS, ``";"`` on Windows)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        import json

        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"is not a JSON list of folders: {exc}") from None
    return [part.strip() for part in text.split(os.pathsep) if part.strip()]


def _dirs_from_file(values: dict[str, Any], path: Path) -> dict[str, Any]:
    """The file's ``strategy_dirs`` with relative folders made relative to the file's
    own folder (where its author wrote them from), not to wherever a command runs."""
    dirs = values.get("strategy_dirs")
    try:
        dirs = split_dirs(dirs)
    except ValueError:
        return values  # the validation reports it, with the file named
    if not isinstance(dirs, list):
        return values
    fixed = []
    for d in dirs:
        folder = Path(d).expanduser() if isinstance(d, str) else None
        fixed.append(str(path.parent / folder) if folder and not folder.is_absolute() else d)
    return {**values, "strategy_dirs": fixed}


def find_config_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The settings file to read, or ``None`` when there is none (see the module doc)."""
    env = os.environ if environ is None else environ
    explicit = env.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"TRADPAL_CONFIG names {path}, which is not a file",
                hint="point TRADPAL_CONFIG at a TOML settings file or unset it",
            )
        return path
    home = Path(env.get(f"{ENV_PREFIX}HOME") or default_home()).expanduser()
    for candidate in (Path.cwd() / CONFIG_FILE_NAME, home / CONFIG_FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"settings file {path} is not valid TOML: {exc}",
            hint="fix the syntax; see the README for an example",
        ) from None
    # A [tradpal] table is accepted so the settings can share a file with other tools.
    values = data.get("tradpal", data)
    if not isinstance(values, dict):
        raise ConfigError(f"settings file {path}: [tradpal] must be a table", hint=_HINT)
    return values


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings: ``overrides`` over the environment over the file.

    ``overrides`` (for example command-line flags; ``None`` values are ignored)
    win over everything. Raises :class:`~tradpal.errors.ConfigError` that lists
    every invalid setting, with its environment variable and what is allowed.
    """
    _reject_unknown_env(os.environ)
    path = find_config_file()
    file_values = read_config_file(path) if path else {}
    if path and "strategy_dirs" in file_values:
        file_values = _dirs_from_file(file_values, path)
    token = _file_values.set(file_values)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        origin = f"settings file {path}" if path else "no settings file"
        raise ConfigError(_describe(exc, origin), hint=_HINT) from None
    finally:
        _file_values.reset(token)


def _reject_unknown_env(environ: Mapping[str, str]) -> None:
    """A misspelt TRADPAL_ variable is an error: it would otherwise be ignored silently."""
    from tradpal.platform.environment import PLATFORM_ENV_VARS

    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    # The stacks set these on every function; they name resources, not settings.
    platform = set(PLATFORM_ENV_VARS)
    unknown = sorted(
        k for k in environ if k.startswith(ENV_PREFIX) and k not in known and k not in platform
    )
    if unknown:
        guesses = [difflib.get_close_matches(k, known, n=1) for k in unknown]
        parts = [
            f"{k} (did you mean {g[0]}?)" if g else k for k, g in zip(unknown, guesses, strict=True)
        ]
        raise ConfigError(
            f"unknown setting(s) in the environment: {', '.join(parts)}",
            hint=f"known settings: {', '.join(sorted(known))}",
        )


_HINT = "set TRADPAL_<NAME> environment variables or keys in tradpal.toml; see the README"


def _describe(exc: ValidationError, origin: str) -> str:
    lines = [f"invalid settings ({len(exc.errors())} problem(s); {origin}):"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        name = ".".join(loc) or "settings"
        env = f" [{ENV_PREFIX}{loc[0].upper()}]" if loc else ""
        got = err.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {got!r})"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  - {name}{env}: {msg}{got_text}")
    return "\n".join(lines)
