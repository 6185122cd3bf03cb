"""Monitoring stack: one CloudWatch dashboard and the alarms that matter, sent to an SNS topic
(e-mail subscription by ``-c alarm_email=...``); with traders, a heartbeat alarm each."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from cdk.api import ApiStack
from cdk.config import StageConfig
from cdk.events import EventsStack
from cdk.functions import FunctionsStack
from cdk.orchestration_stack import OrchestrationStack
from cdk.trading import TradingStack

PERIOD = cdk.Duration.minutes(5)
# A consumer more than 5 minutes behind the market stream is acting on stale candles.
ITERATOR_AGE_LIMIT_MS = 5 * 60 * 1000
API_5XX_LIMIT = 5  # server errors per 5 minutes
_AT_LEAST = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD


class MonitoringStack(cdk.Stack):
    """``topic``, ``dashboard`` and ``alarms`` (by name)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        functions: FunctionsStack,
        events: EventsStack,
        orchestration: OrchestrationStack,
        api: ApiStack,
        trading: TradingStack | None = None,
        **kw,
    ) -> None:
        super().__init__(scope, id, **kw)
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"{config.prefix} alarms",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: dict[str, cw.Alarm] = {}
        http_api = api.http_api
        machines = orchestration.orchestration.machines
        dlqs = {
            **{f"{n} async": q for n, q in functions.async_dlqs.items()},
            **{f"{n} stream": q for n, q in functions.stream_dlqs.items()},
            "event rules": events.rules_dlq,
        }
        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=config.prefix)

        api_latency = [
            http_api.metric_latency(statistic=s, period=PERIOD, label=f"latency {s}")
            for s in ("p50", "p99")
        ]
        api_errors = [
            http_api.metric_client_error(period=PERIOD, label="4xx"),
            http_api.metric_server_error(period=PERIOD, label="5xx"),
        ]
        self.dashboard.add_widgets(
            cw.GraphWidget(title="API latency (ms)", left=api_latency, width=12),
            cw.GraphWidget(title="API errors", left=api_errors, width=12),
        )
        self._alarm(
            "Api5xx",
            http_api.metric_server_error(period=PERIOD),
            threshold=API_5XX_LIMIT,
            description=f"API answered >= {API_5XX_LIMIT} server errors in 5 minutes",
        )

        fns = functions.functions
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Lambda errors",
                left=[f.metric_errors(period=PERIOD, label=n) for n, f in fns.items()],
                width=8,
            ),
            cw.GraphWidget(
                title="Lambda throttles",
                left=[f.metric_throttles(period=PERIOD, label=n) for n, f in fns.items()],
                width=8,
            ),
            cw.GraphWidget(
                title="Lambda duration p99 (ms)",
                left=[
                    f.metric_duration(statistic="p99", period=PERIOD, label=n)
                    for n, f in fns.items()
                ],
                width=8,
            ),
        )
        for name, fn in fns.items():
            cid = "".join(p.title() for p in name.split("_"))
            self._alarm(
                f"{cid}Errors",
                fn.metric_errors(period=PERIOD),
                description=f"{name}: a Lambda invocation failed",
            )
            self._alarm(
                f"{cid}Throttles",
                fn.metric_throttles(period=PERIOD),
                description=f"{name}: invocations were throttled",
            )

        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="State machine failures",
                left=[
                    m.metric_failed(period=PERIOD, label=f"{n} failed") for n, m in machines.items()
                ]
                + [
                    m.metric_timed_out(period=PERIOD, label=f"{n} timed out")
                    for n, m in machines.items()
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Market stream iterator age (ms)",
                left=[
                    s.metric_get_records_iterator_age_milliseconds(
                        statistic="Maximum", period=PERIOD, label=n
                    )
                    for n, s in events.streams.items()
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Dead-letter queue depth",
                left=[
                    q.metric_approximate_number_of_messages_visible(period=PERIOD, label=n)
                    for n, q in dlqs.items()
                ],
                width=8,
            ),
        )
        for name, machine in machines.items():
            self._alarm(
                f"{name.title()}Failed",
                machine.metric_failed(period=PERIOD),
                description=f"{name} state machine: an execution failed",
            )
        for name, stream in events.streams.items():
            self._alarm(
                f"{''.join(p.title() for p in name.split('_'))}IteratorAge",
                stream.metric_get_records_iterator_age_milliseconds(
                    statistic="Maximum", period=PERIOD
                ),
                threshold=ITERATOR_AGE_LIMIT_MS,
                evaluation_periods=3,
                description=f"{name} stream consumers are more than 5 minutes behind",
            )
        for name, queue in dlqs.items():
            self._alarm(
                "".join(p.title() for p in name.replace(" ", "_").split("_")) + "Dlq",
                queue.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=PERIOD
                ),
                description=f"{name} dead-letter queue holds messages to inspect and redrive",
            )
        if trading is not None:
            self._trader_alarms(trading)

    def _trader_alarms(self, trading: TradingStack) -> None:
        """A trader prints a heartbeat every minute (tradpal.trading.heartbeat); fewer than
        one a minute three minutes running, or none at all, means it stopped, hangs or
        cannot log: missing data breaches."""
        heartbeats = trading.heartbeats
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Trader heartbeats (per minute)",
                left=[m.with_(label=t) for t, m in heartbeats.items()],
                width=24,
            )
        )
        for trader_id, metric in heartbeats.items():
            self._alarm(
                f"TraderHeartbeat-{trader_id}",
                metric,
                description=f"trader {trader_id}: no heartbeat for 3 minutes (stopped, hung "
                "or not logging)",
                evaluation_periods=3,
                datapoints=3,
                comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                missing=cw.TreatMissingData.BREACHING,
            )

    def _alarm(
        self,
        id: str,
        metric: cw.Metric,
        *,
        description: str,
        threshold: float = 1,
        evaluation_periods: int = 1,
        datapoints: int | None = None,
        comparison: cw.ComparisonOperator = _AT_LEAST,
        missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) -> cw.Alarm:
        alarm = metric.create_alarm(
            self,
            id,
            alarm_description=description,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms[id] = alarm
        return alarm
