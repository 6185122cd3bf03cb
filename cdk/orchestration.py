"""Orchestration: the backtest and discovery state machines from ``state_machines/*.asl.json``.

The definitions are loaded as text and their ``${Name}`` placeholders replaced here: numbers
(Map concurrency, batch size) as JSON numbers, ARNs and names as CDK tokens, which synthesize
to an ``Fn::Join`` (not ``DefinitionSubstitutions``: cfn-lint rejects ``${...}`` outside
``Fn::Sub`` with E1029). The deployed definition is the file the moto tests execute
(tradpal.platform.asl), with the same placeholders filled. Each state machine logs ALL
events with execution data to its own log group and is traced with X-Ray; its role may invoke
only its own task functions, put events on the bus, update items in the runs table and (discovery)
read the generation items in the results bucket and run its Distributed Map children.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk.nag import acknowledge
from tradpal.errors import ConfigError
from tradpal.platform.asl import (
    NUMBER_PLACEHOLDERS,
    TASK_PLACEHOLDERS,
    load_definition_text,
    render_definition,
)

DISCOVERY_ITEMS_PREFIX = "discovery/"
"""Where Plan and Reduce write each generation's items (and the discovery state)."""


class Orchestration(Construct):
    """Both state machines (``self.machines["backtest"|"discovery"]``).

    ``functions``: catalog task name (``"backtest.run"``, ``"discovery.evaluate"``, ...) to
    the function providing it; the tasks of :data:`TASK_PLACEHOLDERS` must be there, others
    are ignored. ``names``: state machine names (deterministic so that other stacks can
    reference the ARNs without a cycle); default ``tradpal-<machine>``.
    ``max_concurrency``: Distributed Map children at once; ``evaluate_batch_size``:
    candidates per Evaluate invocation.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        bus: events.IEventBus,
        results_bucket: s3.IBucket,
        runs_table: dynamodb.ITable,
        names: Mapping[str, str] | None = None,
        max_concurrency: int = 1000,
        evaluate_batch_size: int = 10,
        log_retention: logs.RetentionDays = logs.RetentionDays.TWO_WEEKS,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        timeout: cdk.Duration | None = None,
    ) -> None:
        super().__init__(scope, id)
        missing = sorted(
            t for tasks in TASK_PLACEHOLDERS.values() for t in tasks.values() if t not in functions
        )
        if missing:
            raise ConfigError(
                f"no function for state machine task(s) {', '.join(missing)}",
                hint="pass functions={task name: IFunction} for every catalog sfn_task",
            )
        for label, value in (("max_concurrency", max_concurrency),
                             ("evaluate_batch_size", evaluate_batch_size)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{label} must be an integer >= 1, not {value!r}")
        numbers = {"MaxConcurrency": max_concurrency, "EvaluateBatchSize": evaluate_batch_size}
        self.machines: dict[str, sfn.StateMachine] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        self.names: dict[str, str] = {}
        for machine, tasks in TASK_PLACEHOLDERS.items():
            values: dict[str, str | int] = {k: numbers[k] for k in NUMBER_PLACEHOLDERS[machine]}
            values |= {p: functions[t].function_arn for p, t in tasks.items()}
            values |= {"EventBusName": bus.event_bus_name, "RunsTableName": runs_table.table_name}
            # Tokens substituted here become Fn::Join at synth, so no "${...}" reaches the
            # template (cfn-lint E1029 flags DefinitionSubstitutions-style placeholders).
            text = render_definition(load_definition_text(machine), values)
            title = machine.capitalize()
            self.names[machine] = (names or {}).get(machine, f"tradpal-{machine}")
            group = logs.LogGroup(
                self, f"{title}Logs", retention=log_retention, removal_policy=removal_policy
            )
            sm = sfn.StateMachine(
                self,
                title,
                state_machine_name=self.names[machine],
                definition_body=sfn.DefinitionBody.from_string(text),
                state_machine_type=sfn.StateMachineType.STANDARD,
                logs=sfn.LogOptions(
                    destination=group, level=sfn.LogLevel.ALL, include_execution_data=True
                ),
                tracing_enabled=True,
                timeout=timeout or cdk.Duration.hours(12),
            )
            # The unqualified ARNs the definition names, and nothing else: no "<arn>:*".
            sm.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=[functions[t].function_arn for t in tasks.values()],
                )
            )
            bus.grant_put_events_to(sm)
            runs_table.grant(sm, "dynamodb:UpdateItem")
            self.machines[machine] = sm
            self.log_groups[machine] = group
        self._grant_distributed_map(
            self.machines["discovery"], self.names["discovery"], results_bucket
        )
        self._acknowledge()

    def _grant_distributed_map(self, sm: sfn.StateMachine, name: str, bucket: s3.IBucket) -> None:
        # The ItemReader reads the items Plan and Reduce wrote; the Map starts and watches
        # child executions of this same state machine (ARNs built from the name: no cycle).
        stack = cdk.Stack.of(self)
        objects = bucket.arn_for_objects(f"{DISCOVERY_ITEMS_PREFIX}*")
        sm.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects]))
        if bucket.encryption_key is not None:
            bucket.encryption_key.grant_decrypt(sm)
        self._wildcards = [
            _nag_text(stack.resolve(objects)),
            _nag_text(stack.resolve(executions_arn(stack, name))),
        ]
        own = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        sm.add_to_role_policy(iam.PolicyStatement(actions=["states:StartExecution"],
                                                  resources=[own]))  # fmt: skip
        sm.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[executions_arn(stack, name)],
            )
        )

    def _acknowledge(self) -> None:
        acknowledge(
            self,
            "IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords/GetSampling* and the CloudWatch Logs "
            "delivery actions Step Functions logging needs accept no resource but *.",
        )
        for resource in self._wildcards:
            if resource is None:  # not renderable as cdk-nag does: let cdk-nag report it
                continue
            acknowledge(
                self,
                f"IAM5[Resource::{resource}]",
                "Scoped wildcards of the Distributed Map: the generation items Plan and Reduce "
                "write under discovery/ in the results bucket (keys are per run), and the "
                "child executions of this state machine (named per Map run).",
            )


def executions_arn(stack: cdk.Stack, name: str) -> str:
    """The ARNs of the Distributed Map child executions of state machine ``name``."""
    return stack.format_arn(
        service="states",
        resource="execution",
        resource_name=f"{name}/*",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )


def _nag_text(value: object) -> str | None:
    """A resolved ARN as cdk-nag writes it in finding ids (``<AWS::Region>``,
    ``<Logical.Arn>``), or None for a form it writes otherwise (an import)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref" and isinstance(arg, str):
            return f"<{arg}>"
        if fn == "Fn::GetAtt" and isinstance(arg, list) and len(arg) == 2:
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join" and isinstance(arg, list) and arg[0] == "":
            parts = [_nag_text(p) for p in arg[1]]
            return None if any(p is None for p in parts) else "".join(parts)  # type: ignore[arg-type]
    return None
