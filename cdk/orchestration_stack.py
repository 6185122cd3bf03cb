"""Orchestration stack: the backtest and discovery state machines (cdk.orchestration) wired
to the catalog's task functions, the bus, the results bucket and the runs table."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.config import StageConfig
from cdk.data import DataStack
from cdk.events import EventsStack
from cdk.functions import FunctionsStack
from cdk.orchestration import Orchestration
from tradpal.platform.catalog import STATE_MACHINES


class OrchestrationStack(cdk.Stack):
    """``orchestration.machines["backtest"|"discovery"]``, named as the Functions stack
    expects (StageConfig.state_machine_name), so run starters reference them without a cycle."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        data: DataStack,
        functions: FunctionsStack,
        events: EventsStack,
        **kw,
    ) -> None:
        super().__init__(scope, id, **kw)
        self.orchestration = Orchestration(
            self,
            "Orchestration",
            functions=functions.task_functions,
            bus=events.bus,
            # By name: grants then name the bucket without an export from the Data stack.
            results_bucket=s3.Bucket.from_bucket_name(
                self, "Results", config.bucket_name("results")
            ),
            runs_table=data.tables["runs_table"],
            names={m: config.state_machine_name(m) for m in STATE_MACHINES},
            log_retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
