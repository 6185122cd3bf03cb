"""Builds the whole TradPal app: stages from context, stacks from the catalog, cdk-nag."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from cdk.api import ApiStack
from cdk.config import StageConfig
from cdk.data import DataStack
from cdk.events import EventsStack
from cdk.functions import FunctionsStack
from cdk.monitoring import MonitoringStack
from cdk.orchestration_stack import OrchestrationStack
from cdk.trading import TradingStack
from tradpal.platform.catalog import CATALOG, Catalog

# Behaviour the stacks rely on, whatever cdk.json says.
FEATURE_FLAGS: dict[str, Any] = {
    # Server access logs delivered under a bucket policy, not the legacy log-delivery ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    # Exports stay protected while another stack imports them (CDK's default, made explicit).
    "@aws-cdk/core:defaultCrossStackReferences": "strong",
}


@dataclass
class TradpalApp:
    """The app and its stacks, for ``app.py`` and the tests."""

    app: cdk.App
    config: StageConfig
    data: DataStack
    functions: FunctionsStack
    events: EventsStack
    orchestration: OrchestrationStack
    api: ApiStack
    monitoring: MonitoringStack
    trading: TradingStack | None = None
    """The traders' stack; only when the stage configures ``traders``."""

    @property
    def stacks_by_role(self) -> dict[str, cdk.Stack]:
        """The stacks by role: ``data``, ``functions``, ``events``, ... (``trading`` when
        traders are configured)."""
        stacks: dict[str, cdk.Stack] = {
            "data": self.data,
            "functions": self.functions,
            "events": self.events,
            "orchestration": self.orchestration,
            "api": self.api,
            "monitoring": self.monitoring,
        }
        if self.trading is not None:
            stacks["trading"] = self.trading
        return stacks


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    catalog: Catalog = CATALOG,
    outdir: str | None = None,
    nag: bool = True,
) -> TradpalApp:
    """Create the app (no env account/region: synthesises offline). ``context`` adds CDK
    context (``{"stage": "prod"}``) to what ``cdk.json`` and ``-c`` give."""
    app = cdk.App(context={**FEATURE_FLAGS, **dict(context or {})}, outdir=outdir)
    config = StageConfig.from_node(app.node)
    name = config.prefix.title().replace("-", "")
    tags = {"project": "tradpal", "stage": config.stage}
    data = DataStack(app, f"{name}Data", config=config, tags=tags)
    functions = FunctionsStack(
        app, f"{name}Functions", config=config, catalog=catalog, data=data, tags=tags
    )
    events = EventsStack(
        app, f"{name}Events", config=config, catalog=catalog, functions=functions, tags=tags
    )
    orchestration = OrchestrationStack(
        app,
        f"{name}Orchestration",
        config=config,
        data=data,
        functions=functions,
        events=events,
        tags=tags,
    )
    api = ApiStack(
        app, f"{name}Api", config=config, catalog=catalog, functions=functions, tags=tags
    )
    trading = None
    if config.traders:
        trading = TradingStack(
            app, f"{name}Trading", config=config, data=data, functions=functions, tags=tags
        )
        # The stream and the bus a trader writes to (named, so no reference orders them).
        trading.add_stack_dependency(events)
    monitoring = MonitoringStack(
        app,
        f"{name}Monitoring",
        config=config,
        functions=functions,
        events=events,
        orchestration=orchestration,
        api=api,
        trading=trading,
        tags=tags,
    )
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return TradpalApp(
        app=app,
        config=config,
        data=data,
        functions=functions,
        events=events,
        orchestration=orchestration,
        api=api,
        monitoring=monitoring,
        trading=trading,
    )
