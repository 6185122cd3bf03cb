"""Events stack: the tradpal bus and its archive, rules and schedules from the catalog, the
Kinesis market-data stream and its Lambda consumers."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.config import StageConfig
from cdk.functions import FunctionsStack
from cdk.nag import acknowledge
from tradpal.platform.catalog import EVENT_SOURCE, Catalog
from tradpal.platform.topology import TOPOLOGY

_POSITIONS = {
    "LATEST": lambda_.StartingPosition.LATEST,
    "TRIM_HORIZON": lambda_.StartingPosition.TRIM_HORIZON,
}


def _sources(source: str) -> list[str]:
    """Every publisher under ``source`` (``tradpal.<capability>``): the prefix match of
    :func:`tradpal.platform.catalog.source_pattern`, in CDK's form."""
    return events.Match.prefix(f"{source}.")


class EventsStack(cdk.Stack):
    """Delivery of domain events, schedules and the market stream to the functions."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        catalog: Catalog,
        functions: FunctionsStack,
        **kw,
    ) -> None:
        super().__init__(scope, id, **kw)
        delivery = TOPOLOGY.delivery
        self.bus = events.EventBus(self, "Bus", event_bus_name=config.bus_name)
        self.archive = self.bus.archive(
            "Archive",
            description="Every tradpal domain event, for replay",
            event_pattern=events.EventPattern(source=_sources(EVENT_SOURCE)),
            retention=config.archive_retention,
        )
        self.streams = {
            stream.name: kinesis.Stream(
                self,
                "".join(p.title() for p in stream.name.split("_")) + "Stream",
                stream_name=config.stream_name,
                encryption=kinesis.StreamEncryption.MANAGED,
                stream_mode=kinesis.StreamMode.PROVISIONED,
                shard_count=stream.shards,
                retention_period=cdk.Duration.hours(stream.retention_hours),
                removal_policy=config.removal_policy,
            )
            for stream in TOPOLOGY.streams
        }
        # Events that a target could not take (after EventBridge's retries) land here.
        self.rules_dlq = sqs.Queue(
            self,
            "RulesDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(delivery.dead_letter_days),
            removal_policy=config.removal_policy,
        )
        acknowledge(self.rules_dlq, "SQS3", "This queue is itself a dead-letter queue.")
        self.rules: dict[str, events.Rule] = {}
        self.schedules: dict[str, events.Rule] = {}
        self.mappings: dict[str, lambda_.EventSourceMapping] = {}
        for cap in catalog:
            fn = functions.functions[cap.name]
            cid = "".join(p.title() for p in cap.name.split("_"))
            for i, rule in enumerate(cap.consumes):
                self.rules[f"{cap.name}/{i}"] = events.Rule(
                    self,
                    f"{cid}Rule{i}",
                    event_bus=self.bus,
                    description=f"{', '.join(rule.detail_types)} to {cap.name}",
                    event_pattern=events.EventPattern(
                        source=_sources(rule.source), detail_type=list(rule.detail_types)
                    ),
                    targets=[self._target(fn)],
                )
            for schedule in cap.schedules:
                # Scheduled rules live on the default bus: EventBridge runs schedules only there.
                self.schedules[schedule.name] = events.Rule(
                    self,
                    f"{cid}Schedule{''.join(p.title() for p in schedule.name.split('_'))}",
                    description=f"{schedule.name}: {schedule.expression} to {cap.name}",
                    schedule=events.Schedule.expression(schedule.expression),
                    targets=[
                        self._target(fn, events.RuleTargetInput.from_object(dict(schedule.input)))
                    ],
                )
            for consumer in cap.streams:
                stream = self.streams[consumer.stream]
                # Read permissions are granted in the Functions stack by ARN, so this stack
                # references the function and not the other way round.
                self.mappings[f"{cap.name}/{consumer.stream}"] = lambda_.EventSourceMapping(
                    self,
                    f"{cid}{''.join(p.title() for p in consumer.stream.split('_'))}Consumer",
                    target=fn,
                    event_source_arn=stream.stream_arn,
                    starting_position=_POSITIONS[consumer.starting_position],
                    batch_size=consumer.batch_size,
                    max_batching_window=cdk.Duration.seconds(consumer.max_batching_window_s),
                    bisect_batch_on_error=True,
                    report_batch_item_failures=True,
                    retry_attempts=consumer.max_retry_attempts,
                    parallelization_factor=consumer.parallelization_factor,
                    on_failure=sources.SqsDlq(functions.stream_dlqs[cap.name]),
                )

    def _target(self, fn: lambda_.IFunction, message=None) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            fn,
            event=message,
            dead_letter_queue=self.rules_dlq,
            retry_attempts=TOPOLOGY.delivery.target_retries,
            max_event_age=cdk.Duration.seconds(TOPOLOGY.delivery.target_max_age_s),
        )
