"""Amazon States Language definitions in ``state_machines/``: loading, placeholders, local form.

The definitions are plain JSON files holding ``${Name}`` placeholders, filled by
:func:`render_definition`: strings (function ARNs, the bus and table names; CDK tokens at
synth, moto ARNs in tests) replace ``${Name}``; numbers (``MaxConcurrency``, batch sizes)
are written in the file as the JSON string ``"${Name}"``, so it stays valid JSON, and
replace the whole quoted token.

:func:`local_definition` rewrites a definition for moto 5.2.5, which runs Step Functions
in-process but cannot parse ``ExecutionType: EXPRESS`` on Distributed Map children: it
is made ``STANDARD`` (same semantics here: every child runs once, in-process). No
definition uses an ``ItemBatcher`` (moto cannot run one): the tasks that write a Map's
items cut them into batches themselves.

Nothing else changes, so the states, paths, Retry and Catch that run under moto are the
deployed ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tradpal.errors import ConfigError

STATE_MACHINES_DIR = Path(__file__).resolve().parents[5] / "state_machines"
"""``state_machines/`` of a source checkout (absent where only the layer is installed)."""

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")


def placeholders(text: str) -> set[str]:
    """The names of the ``${Name}`` placeholders in a definition's text."""
    return set(_PLACEHOLDER.findall(text))


def load_definition_text(name: str, directory: Path | str | None = None) -> str:
    """The text of ``state_machines/<name>.asl.json`` (``name`` e.g. ``"backtest"``)."""
    path = Path(directory or STATE_MACHINES_DIR) / f"{name}.asl.json"
    if not path.is_file():
        raise ConfigError(
            f"no state machine definition {path}",
            hint="state machines live in state_machines/<name>.asl.json of the checkout",
        )
    return path.read_text(encoding="utf-8")


def render_definition(
    text: str, values: Mapping[str, Any], *, allow_unresolved: bool = False
) -> str:
    """``text`` with ``values`` substituted: a number replaces its whole quoted
    ``"${Name}"`` token (so it becomes a JSON number), a string replaces ``${Name}``
    wherever it occurs. Unless ``allow_unresolved``, a placeholder left over is an error
    (to fill some now and the rest later)."""
    out = text
    for name, value in values.items():
        token = "${" + name + "}"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(
                f"placeholder {name} gets {value!r}", hint="give a string or a number"
            )
        if isinstance(value, int | float):
            out = out.replace(json.dumps(token), json.dumps(value))
        else:
            out = out.replace(token, value)
    left = placeholders(out)
    if left and not allow_unresolved:
        raise ConfigError(
            f"unresolved placeholder(s): {', '.join(sorted(left))}",
            hint="pass a value for each ${Name} in the definition",
        )
    json.loads(out)  # still JSON: a bad substitution fails here, not in the service
    return out


def _localize(node: Any) -> Any:
    if isinstance(node, list):
        return [_localize(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _localize(v) for k, v in node.items()}
    config = out.get("ProcessorConfig")
    if isinstance(config, dict) and config.get("ExecutionType") == "EXPRESS":
        out["ProcessorConfig"] = {**config, "ExecutionType": "STANDARD"}
    if "ItemBatcher" in out:
        raise ConfigError(
            "an ItemBatcher cannot run locally (moto)",
            hint="write the Map's items as batches in the task that plans them",
        )
    return out


def local_definition(text: str) -> str:
    """``text`` (a rendered definition) in the form moto 5.2.5 can run (module docstring)."""
    return json.dumps(_localize(json.loads(text)))


TASK_PLACEHOLDERS: Mapping[str, Mapping[str, str]] = {
    "backtest": {
        "ValidateFunctionArn": "backtest.validate",
        "EnsureDataFunctionArn": "backtest.ensure_data",
        "RunFunctionArn": "backtest.run",
        "StoreFunctionArn": "backtest.store",
    },
    "discovery": {
        "PlanFunctionArn": "discovery.plan",
        "EvaluateFunctionArn": "discovery.evaluate",
        "ReduceFunctionArn": "discovery.reduce",
        "ValidateBestFunctionArn": "discovery.validate_best",
    },
}
"""Per state machine: each function-ARN placeholder and the catalog task that provides it.
Recording and publishing use direct integrations (``dynamodb:updateItem``,
``events:putEvents``): no function is invoked for them."""

RESOURCE_PLACEHOLDERS = ("EventBusName", "RunsTableName")
"""String placeholders for resources every definition names (resolved at deploy)."""

NUMBER_PLACEHOLDERS: Mapping[str, tuple[str, ...]] = {
    "backtest": (),
    "discovery": ("MaxConcurrency", "EvaluateBatchSize"),
}
"""Numeric placeholders per state machine (rendered at synth)."""
