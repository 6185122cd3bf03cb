"""The state machines and their task functions, created in moto as the Orchestration stack
creates them on AWS: one Lambda function per capability that provides tasks (the catalog's
``sfn_tasks``), each state machine from its ASL file with the placeholders filled the way
``cdk/orchestration.py`` fills them, in the local form moto runs
(:func:`tradpal.platform.asl.local_definition`). Invocations run the capabilities' real
handlers in this process through :class:`~tradpal.local.lambdas.LocalLambda`.
"""

from __future__ import annotations

import importlib
import io
import zipfile
from collections.abc import Mapping
from typing import Any

from tradpal.local.lambdas import Handler, LocalLambda
from tradpal.platform.asl import (
    NUMBER_PLACEHOLDERS,
    TASK_PLACEHOLDERS,
    load_definition_text,
    local_definition,
    render_definition,
)
from tradpal.platform.aws import client
from tradpal.platform.catalog import CATALOG
from tradpal.platform.environment import PlatformEnv

ROLE_NAME = "tradpal-local-states"


def handler_of(capability: str) -> Handler:
    """``functions.<capability>.handler.handler`` (the repository root must be importable)."""
    return importlib.import_module(f"functions.{capability}.handler").handler


def function_name(env: PlatformEnv, capability: str) -> str:
    """The local function name of ``capability`` (prefixed like the env's resources)."""
    return f"{env.event_bus or 'tradpal'}-{capability}"


def _zip() -> bytes:
    # moto stores the code; LocalLambda runs the registered handler instead.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def _role() -> str:
    iam = client("iam")
    try:
        return iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        doc = '{"Version": "2012-10-17", "Statement": []}'
        return iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=doc)["Role"]["Arn"]


def deploy_state_machines(
    env: PlatformEnv,
    local: LocalLambda,
    handlers: Mapping[str, Handler] | None = None,
    *,
    evaluate_batch_size: int = 10,
    max_concurrency: int = 1000,
) -> PlatformEnv:
    """Create the task functions and both state machines in moto; register each function's
    handler with ``local`` (``handlers[capability]``, default :func:`handler_of`). Returns
    ``env`` with the state machines' ARNs set (existing functions and machines are reused)."""
    lam, sfn = client("lambda"), client("stepfunctions")
    role = _role()
    tasks = CATALOG.tasks()  # "backtest.run" -> capability
    arns: dict[str, str] = {}
    for capability in sorted({c.name for c in tasks.values()}):
        name = function_name(env, capability)
        cap = CATALOG.get(capability)
        try:
            arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        except lam.exceptions.ResourceNotFoundException:
            arn = lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="handler.handler",
                Code={"ZipFile": _zip()},
                Timeout=cap.timeout_s,
                MemorySize=cap.memory_mb,
            )["FunctionArn"]
        local.register(name, (handlers or {}).get(capability) or handler_of(capability))
        arns[capability] = arn
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    machines: dict[str, str] = {}
    for machine, placeholders in TASK_PLACEHOLDERS.items():
        numbers = {"MaxConcurrency": max_concurrency, "EvaluateBatchSize": evaluate_batch_size}
        values: dict[str, Any] = {k: numbers[k] for k in NUMBER_PLACEHOLDERS[machine]}
        values |= {p: arns[tasks[t].name] for p, t in placeholders.items()}
        values |= {"EventBusName": env.event_bus, "RunsTableName": env.runs_table}
        text = local_definition(render_definition(load_definition_text(machine), values))
        name = f"{env.event_bus or 'tradpal'}-{machine}"
        if name in existing:
            sfn.update_state_machine(stateMachineArn=existing[name], definition=text)
            machines[machine] = existing[name]
        else:
            machines[machine] = sfn.create_state_machine(name=name, definition=text, roleArn=role)[
                "stateMachineArn"
            ]
    return env.with_resources(**{f"{m}_state_machine": arn for m, arn in machines.items()})
