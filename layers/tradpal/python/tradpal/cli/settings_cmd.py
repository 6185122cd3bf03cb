"""``tradpal config``: the settings in force and where each came from."""

from __future__ import annotations

import os

from tradpal.cli.console import console, table
from tradpal.config import ENV_PREFIX, find_config_file, load_settings, read_config_file


def show_config() -> None:
    """Show the settings in force and where each came from (flag, environment, file, default)."""
    settings = load_settings()
    path = find_config_file()
    file_keys = set(read_config_file(path)) if path else set()
    rows = []
    for name in type(settings).model_fields:
        env = f"{ENV_PREFIX}{name.upper()}"
        if env in os.environ:
            origin = f"environment ({env})"
        elif name in file_keys:
            origin = "settings file"
        else:
            origin = "profile default" if name in _PROFILE_DERIVED else "default"
        rows.append((name, getattr(settings, name), origin))
    console.print(table(f"settings (file: {path or 'none'})", ["setting", "value", "from"], rows))


_PROFILE_DERIVED = {"ml_enabled", "multi_timeframe_enabled", "indicators"}
