"""Trading stack: the configured traders (``traders`` in the stage's context), each a Fargate
service running ``tradpal trade`` for one strategy on one symbol, in a VPC of its own.

* Network: public subnets and a public IP per task, no NAT gateway (dev, and wherever
  ``fixed_egress_ip`` is off); with ``fixed_egress_ip=true`` private subnets behind one NAT
  gateway whose Elastic IP (an output) is the one address to whitelist at the exchange. The
  security group admits nothing and lets out only TCP 443 (exchange REST and websocket, the
  AWS APIs; the VPC's DNS resolver is not filtered by security groups).
* One service per trader: one task at a time (desired 1, min 0 % / max 100 % healthy, so a
  deployment stops the old task before starting the new one; the trader's DynamoDB lease is
  the second guard, not the first), on FARGATE (Spot could stop a trader mid-trade), with the
  deployment circuit breaker rolling back a task that does not start.
* x86_64, as the Lambda functions and their layer: the image pip installs the same
  x86_64 wheels and compiles the same C kernels that backtests and paper replays run on, and
  it builds natively on most deploying machines and CI (``Platform.LINUX_AMD64`` is pinned, so
  an arm64 laptop builds the right image). Graviton would save about 20 % (some $3.50 a month
  per 0.5 vCPU / 1 GiB trader), not worth a second architecture.
* IAM per trader: its own partition of the trading table (``dynamodb:LeadingKeys``), puts on
  the market-data stream, ``events:PutEvents`` as source ``tradpal.trading`` only, and for a
  live trader ``GetSecretValue`` on its own exchange secret, which the process reads at start:
  the keys are never in the task's environment, its definition or its logs.
* Logs: one log group per trader; the trader's heartbeat (:mod:`tradpal.trading.heartbeat`)
  is an EMF line in it, and the Monitoring stack alarms on :attr:`TradingStack.heartbeats`.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk.config import StageConfig, TraderConfig
from cdk.data import DataStack
from cdk.functions import IMAGE_EXCLUDE, ROOT, FunctionsStack
from cdk.nag import acknowledge
from tradpal.events.publisher import event_source
from tradpal.platform.environment import STAGE_VAR
from tradpal.platform.observability import METRICS_NAMESPACE
from tradpal.trading.heartbeat import HEARTBEAT_METRIC, HEARTBEAT_PERIOD_S, HEARTBEAT_SERVICE
from tradpal.trading.runner import TRADER_RESOURCES

DOCKERFILE = "functions/images/trader/Dockerfile"
CPU = 512  # 0.5 vCPU: a strategy's bar-close computation over its window, one symbol
MEMORY_MIB = 1024
TRADER_ID_VAR = "TRADPAL_TRADER_ID"
LIVE_TRADING_VAR = "TRADPAL_LIVE_TRADING"
EXCHANGE_SECRET_VAR = "TRADPAL_EXCHANGE_SECRET"
TRADER_SOURCE = event_source("trading")
"""The ``source`` a trader's events carry, the only one its role may put on the bus."""
# Item operations on the trader's own partition; TransactWriteItems is no IAM action: its
# Put/Update/Delete are authorised as PutItem/UpdateItem/DeleteItem, its ConditionCheck (the
# lease check beside every write) as ConditionCheckItem.
TABLE_ACTIONS = [
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]
STREAM_ACTIONS = ["kinesis:PutRecord", "kinesis:PutRecords"]
# Only the paths the Dockerfile copies go into the build context (and the image's hash): an
# edit anywhere else must not rebuild the image, which would restart every trader. Later
# patterns win; IMAGE_EXCLUDE then drops caches and build leftovers inside those paths.
_CONTEXT_ONLY = [
    "*",
    "!pyproject.toml",
    "!setup.py",
    "!layers",
    "!functions",
    "functions/*",
    "!functions/images",
    "functions/images/*",
    "!functions/images/trader",
]


def trader_command(trader: TraderConfig) -> list[str]:
    """The container's command: the options of ``tradpal trade`` (the image's entry point)."""
    command = [
        "--trader-id",
        trader.id,
        "--strategy",
        trader.strategy,
        "--symbol",
        trader.symbol,
        "--timeframe",
        trader.timeframe,
        "--exchange",
        trader.exchange,
        "--live" if trader.live else "--paper",
    ]
    if trader.params:
        for name, value in sorted(trader.params.items()):  # the CLI's --param NAME=VALUE
            command += ["--param", f"{name}={value}"]
    if trader.capital is not None:
        command += ["--capital", repr(trader.capital)]
    return command


def heartbeat_metric(trader_id: str) -> cw.Metric:
    """The trader's heartbeats per minute, as CloudWatch extracts them from its EMF lines."""
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=HEARTBEAT_METRIC,
        dimensions_map={"service": HEARTBEAT_SERVICE, "trader": trader_id},
        statistic="Sum",
        period=cdk.Duration.seconds(HEARTBEAT_PERIOD_S),
    )


class TradingStack(cdk.Stack):
    """``vpc``, ``security_group``, ``cluster``, ``image``; by trader id: ``services``,
    ``task_roles``, ``log_groups``, ``secrets`` (live traders) and ``heartbeats``;
    ``egress_ip`` with ``fixed_egress_ip``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        data: DataStack,
        functions: FunctionsStack,
        **kw,
    ) -> None:
        super().__init__(scope, id, **kw)
        self.config = config
        self.functions = functions
        self.table = data.tables["trading_table"]
        self.egress_ip: ec2.CfnEIP | None = None
        self.vpc = self._vpc()
        self.security_group = ec2.SecurityGroup(
            self,
            "TraderSecurityGroup",
            vpc=self.vpc,
            description="TradPal traders: no ingress; egress HTTPS only (exchanges, AWS APIs)",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: exchange REST/websocket, AWS APIs"
        )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self.vpc,
            cluster_name=f"{config.prefix}-traders",
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        # FARGATE only (not FARGATE_SPOT: Spot may stop a trader at two minutes' notice).
        # Declared here rather than by the cluster's enable_fargate_capacity_providers, which
        # adds Spot too and is rendered too late for the services to depend on: a service
        # created before its cluster has the capacity provider fails to create.
        self.capacity_providers = ecs.CfnClusterCapacityProviderAssociations(
            self,
            "CapacityProviders",
            cluster=self.cluster.cluster_name,
            capacity_providers=["FARGATE"],
            default_capacity_provider_strategy=[
                ecs.CfnClusterCapacityProviderAssociations.CapacityProviderStrategyProperty(
                    capacity_provider="FARGATE", weight=1
                )
            ],
        )
        self.image = ecr_assets.DockerImageAsset(
            self,
            "TraderImage",
            directory=str(ROOT),
            file=DOCKERFILE,
            exclude=[*_CONTEXT_ONLY, *IMAGE_EXCLUDE],
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        self.services: dict[str, ecs.FargateService] = {}
        self.task_roles: dict[str, iam.Role] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        self.secrets: dict[str, secretsmanager.Secret] = {}
        self.heartbeats: dict[str, cw.Metric] = {}
        for trader in config.traders:
            self._trader(trader)

    # -- network ------------------------------------------------------------------------------

    def _vpc(self) -> ec2.Vpc:
        public = ec2.SubnetConfiguration(
            name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
        )
        if self.config.fixed_egress_ip:
            self.egress_ip = ec2.CfnEIP(self, "EgressIp", domain="vpc")
            self.egress_ip.apply_removal_policy(self.config.removal_policy)
            vpc = ec2.Vpc(
                self,
                "Vpc",
                max_azs=2,
                nat_gateways=1,
                nat_gateway_provider=ec2.NatProvider.gateway(
                    eip_allocation_ids=[self.egress_ip.attr_allocation_id]
                ),
                subnet_configuration=[
                    public,
                    ec2.SubnetConfiguration(
                        name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24
                    ),
                ],
                restrict_default_security_group=False,
            )
            # Free gateway endpoints: the table's and ECR's image layers' (S3) traffic skips
            # the NAT gateway's per-GB charge.
            vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
            vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
            cdk.CfnOutput(
                self,
                "EgressIpAddress",
                value=self.egress_ip.attr_public_ip,
                description="The traders' one outbound address: whitelist it at the exchange",
            )
        else:
            vpc = ec2.Vpc(
                self,
                "Vpc",
                max_azs=2,
                nat_gateways=0,
                subnet_configuration=[public],
                restrict_default_security_group=False,
            )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=self.config.log_retention,
            removal_policy=self.config.removal_policy,
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        return vpc

    # -- one trader ---------------------------------------------------------------------------

    def _trader(self, trader: TraderConfig) -> None:
        # One scope per trader, named by its id: distinct ids, distinct constructs.
        scope = Construct(self, trader.id)
        secret = self._secret(scope, trader) if trader.live else None
        role = self._task_role(scope, trader, secret)
        log_group = logs.LogGroup(
            scope,
            "Logs",
            retention=self.config.log_retention,
            removal_policy=self.config.removal_policy,
        )
        task = ecs.FargateTaskDefinition(
            scope,
            "Task",
            family=f"{self.config.prefix}-trader-{trader.id}",
            cpu=CPU,
            memory_limit_mib=MEMORY_MIB,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            task_role=role,
            volumes=[ecs.Volume(name="tmp")],
        )
        container = task.add_container(
            "trader",
            image=ecs.ContainerImage.from_docker_image_asset(self.image),
            command=trader_command(trader),
            environment=self._environment(trader),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="trader",
                log_group=log_group,
                # A slow log service must not stall the trader; a lost heartbeat line shows
                # up as the alarm, a stalled trader would not.
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
                max_buffer_size=cdk.Size.mebibytes(25),
            ),
            readonly_root_filesystem=True,
            # An init process as PID 1 passes ECS's SIGTERM on to the trader, which then has
            # stop_timeout to finish a write and let its lease go.
            linux_parameters=ecs.LinuxParameters(scope, "Linux", init_process_enabled=True),
            stop_timeout=cdk.Duration.seconds(60),
        )
        container.add_mount_points(
            ecs.MountPoint(container_path="/tmp", source_volume="tmp", read_only=False)
        )
        service = ecs.FargateService(
            scope,
            "Service",
            # Named: `aws ecs update-service --service trader-<id>`; and a change that would
            # replace the service fails instead of running the new one beside the old.
            service_name=f"trader-{trader.id}",
            cluster=self.cluster,
            task_definition=task,
            desired_count=1,
            min_healthy_percent=0,
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)
            ],
            assign_public_ip=not self.config.fixed_egress_ip,
            vpc_subnets=ec2.SubnetSelection(
                subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
                if self.config.fixed_egress_ip
                else ec2.SubnetType.PUBLIC
            ),
            security_groups=[self.security_group],
            platform_version=ecs.FargatePlatformVersion.LATEST,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            enable_ecs_managed_tags=True,
        )
        service.node.add_dependency(self.capacity_providers)
        cdk.Tags.of(service).add("trader", trader.id)
        acknowledge(
            task,
            "ECS2",
            "The variables hold resource names, the trader id and the name of its secret, "
            "never a secret value: a live trader reads its exchange keys with GetSecretValue "
            "at start, so they are in no environment, task definition or log.",
        )
        acknowledge(
            task,
            "IAM5[Resource::*]",
            "ecr:GetAuthorizationToken (the execution role's image pull, made by CDK) supports "
            "no resource-level permissions; the pull itself is limited to the asset repository.",
        )
        cdk.CfnOutput(
            scope,
            "LogGroup",
            value=log_group.log_group_name,
            description=f"Logs of trader {trader.id} (aws logs tail --follow)",
        )
        self.services[trader.id] = service
        self.task_roles[trader.id] = role
        self.log_groups[trader.id] = log_group
        self.heartbeats[trader.id] = heartbeat_metric(trader.id)
        if secret is not None:
            self.secrets[trader.id] = secret

    def _environment(self, trader: TraderConfig) -> dict[str, str]:
        """The stage and the trader's resources as every function finds them
        (:meth:`FunctionsStack.resource_environment`), the trader's id, and for a live trader
        the live switch and the name (not the value) of its exchange secret."""
        env = {
            "POWERTOOLS_SERVICE_NAME": HEARTBEAT_SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": "INFO",
            STAGE_VAR: self.config.stage,
            **self.functions.resource_environment(TRADER_RESOURCES),
            TRADER_ID_VAR: trader.id,
        }
        if trader.live:
            env[LIVE_TRADING_VAR] = "true"
            env[EXCHANGE_SECRET_VAR] = self.config.trader_secret_name(trader.id)
        return env

    def _secret(self, scope: Construct, trader: TraderConfig) -> secretsmanager.Secret:
        """The live trader's exchange API key, filled in by the user (README): created with an
        empty ``apiKey`` and a generated ``secret``, so that no key is ever in code and an
        unfilled secret is told apart (an empty apiKey)."""
        secret = secretsmanager.Secret(
            scope,
            "ExchangeSecret",
            secret_name=self.config.trader_secret_name(trader.id),
            description=f"TradPal trader {trader.id}: {trader.exchange} API key "
            '{"apiKey": ..., "secret": ...}; fill in with put-secret-value',
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"apiKey": ""}',
                generate_string_key="secret",
                exclude_punctuation=True,
                password_length=32,
            ),
            removal_policy=self.config.removal_policy,
        )
        acknowledge(
            secret,
            "SMG4",
            "Exchange API keys are issued and revoked at the exchange; there is no rotation "
            "Lambda that could rotate them here: the user puts a new key with put-secret-value.",
        )
        return secret

    def _task_role(
        self, scope: Construct, trader: TraderConfig, secret: secretsmanager.Secret | None
    ) -> iam.Role:
        """What the trader's process may do, and nothing else (module docstring)."""
        role = iam.Role(
            scope,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"TradPal trader {trader.id}: its table partition, stream, events",
        )
        shared = self.functions.shared
        statements = [
            iam.PolicyStatement(
                actions=TABLE_ACTIONS,
                resources=[self.table.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [trader.id]}},
            ),
            iam.PolicyStatement(actions=STREAM_ACTIONS, resources=[shared.stream_arn]),
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[shared.bus_arn],
                conditions={"StringEquals": {"events:source": TRADER_SOURCE}},
            ),
        ]
        if secret is not None:
            statements.append(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]
                )
            )
        for statement in statements:
            role.add_to_policy(statement)
        return role


__all__ = [
    "EXCHANGE_SECRET_VAR",
    "LIVE_TRADING_VAR",
    "TRADER_ID_VAR",
    "TradingStack",
    "heartbeat_metric",
    "trader_command",
]
