"""Functions stack: one Lambda per capability in the catalog, the tradpal layer, and the
dead-letter queues of asynchronous and stream invocations."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.config import StageConfig
from cdk.data import DataStack
from cdk.nag import acknowledge
from tradpal.errors import ConfigError
from tradpal.platform.catalog import DEPLOYED_STRATEGY_DIR, STATE_MACHINES, Capability, Catalog
from tradpal.platform.environment import STAGE_VAR
from tradpal.platform.topology import TOPOLOGY

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = lambda_.Runtime.PYTHON_3_12
METRICS_NAMESPACE = "TradPal"

_STREAM_WRITE = ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary"]
_STREAM_READ = [
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "kinesis:SubscribeToShard",
]

# Image builds send the repository as context; none of these belong in an image (the
# functions' images and the traders', cdk/trading.py).
IMAGE_EXCLUDE = [
    ".git",
    ".venv*",
    "node_modules",
    "cdk.out",
    "build",
    "tests",
    "benchmarks",
    "**/__pycache__",
    "**/*.so",
    "**/*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
]


def layer_source() -> Path:
    """The layer's code: ``build/layer.zip`` or ``build/layer`` (built for Lambda by
    scripts/build_lambda.py) when present, else the library source in ``layers/tradpal``."""
    build = ROOT / "build"
    for built in (build / "layer.zip", build / "layer"):
        if built.exists():
            return built
    return ROOT / "layers" / "tradpal"


def layer_exclude(source: Path | None = None) -> list[str]:
    """What the layer asset leaves out of ``source`` (default :func:`layer_source`). The built
    layer keeps its ``__pycache__``: the bytecode scripts/build_lambda.py compiled for the
    runtime's Python, hash-based, which Lambda cannot write itself (``/opt`` is read-only).
    The library source's bytecode is this machine's (another Python, timestamp-based) and is
    left out. (A zip file is taken as it is.)"""
    source = layer_source() if source is None else source
    if source.is_relative_to(ROOT / "build"):
        return ["*.egg-info"]
    return ["**/__pycache__", "**/*.pyc", "*.egg-info"]


def _stage_handler(name: str) -> Path:
    """A directory holding ``functions/<name>/`` so the handler imports as
    ``functions.<name>.handler``; the packaged zip from ``build/functions/<name>.zip`` wins."""
    staging = Path(tempfile.mkdtemp(prefix=f"tradpal-fn-{name}-"))
    atexit.register(shutil.rmtree, staging, True)
    package = staging / "functions"
    package.mkdir()
    init = ROOT / "functions" / "__init__.py"
    if init.is_file():
        shutil.copy2(init, package / "__init__.py")
    else:
        (package / "__init__.py").write_text("")
    source = ROOT / "functions" / name
    if source.is_dir():
        shutil.copytree(source, package / name, ignore=shutil.ignore_patterns("__pycache__"))
    return staging


def handler_code(name: str) -> lambda_.Code:
    """The zip code asset of capability ``name``."""
    built = ROOT / "build" / "functions" / f"{name}.zip"
    return lambda_.Code.from_asset(str(built if built.is_file() else _stage_handler(name)))


@dataclass(frozen=True)
class Shared:
    """Names and ARNs of what the functions use but later stacks create."""

    bus_arn: str
    bus_name: str
    stream_arn: str
    stream_name: str
    state_machine_arns: dict[str, str]


class FunctionsStack(cdk.Stack):
    """The capabilities' Lambda functions; ``functions`` by capability name and ``task_functions``
    by state-machine task (``"backtest.run"``)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        catalog: Catalog,
        data: DataStack,
        **kw,
    ) -> None:
        super().__init__(scope, id, **kw)
        self.config = config
        self.catalog = catalog
        self.data = data
        self.shared = Shared(
            bus_name=config.bus_name,
            bus_arn=self.format_arn(
                service="events", resource="event-bus", resource_name=config.bus_name
            ),
            stream_name=config.stream_name,
            stream_arn=self.format_arn(
                service="kinesis", resource="stream", resource_name=config.stream_name
            ),
            state_machine_arns={
                m: self.format_arn(
                    service="states",
                    resource="stateMachine",
                    resource_name=config.state_machine_name(m),
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
                for m in STATE_MACHINES
            },
        )
        self.layer = lambda_.LayerVersion(
            self,
            "TradpalLayer",
            code=lambda_.Code.from_asset(str(layer_source()), exclude=layer_exclude()),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="The tradpal library and its runtime dependencies",
        )
        self.notifier_secret = self._notifier_secret()
        self.functions: dict[str, lambda_.Function] = {}
        self.async_dlqs: dict[str, sqs.Queue] = {}
        self.stream_dlqs: dict[str, sqs.Queue] = {}
        for cap in catalog:
            self.functions[cap.name] = self._function(cap)
        self.task_functions = {task: self.functions[c.name] for task, c in catalog.tasks().items()}

    # -- construction -------------------------------------------------------------------------

    def _queue(self, id: str) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(TOPOLOGY.delivery.dead_letter_days),
            removal_policy=self.config.removal_policy,
        )
        acknowledge(queue, "SQS3", "This queue is itself a dead-letter queue.")
        return queue

    def _notifier_secret(self) -> secretsmanager.Secret:
        """The notifier's channels (webhook URLs embed tokens, so they are secrets). Created
        with no channels and a generated signing key; the user adds channels with
        ``aws secretsmanager put-secret-value`` (README)."""
        secret = secretsmanager.Secret(
            self,
            "NotifierSecret",
            secret_name=f"{self.config.prefix}/notifier",
            description="TradPal notification channels: {webhooks: [{url, secret, events}]}",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"webhooks": []}',
                generate_string_key="signing_key",
                exclude_punctuation=True,
                password_length=48,
            ),
            removal_policy=self.config.removal_policy,
        )
        acknowledge(
            secret,
            "SMG4",
            "Webhook URLs and bot tokens are issued by the receiving services and rotated "
            "there; there is no rotation Lambda that could rotate them here.",
        )
        return secret

    def resource_name(self, key: str) -> str:
        """The deployed name (or ARN) of the topology resource ``key``."""
        resource = TOPOLOGY.get(key)
        if resource.kind == "table":
            return self.data.tables[key].table_name
        if resource.kind == "bucket":
            return self.config.bucket_name(resource.name.replace("_", "-"))
        if resource.kind == "stream":
            return self.shared.stream_name
        if resource.kind == "bus":
            return self.shared.bus_name
        if resource.kind == "secret":
            return self.notifier_secret.secret_name
        return self.shared.state_machine_arns[resource.name]

    def resource_environment(self, keys: Iterable[str]) -> dict[str, str]:
        """The variable of each topology resource in ``keys`` (``TRADPAL_<KEY>``) holding its
        deployed name or ARN: what a function (or a trader, cdk/trading.py) finds it by."""
        return {TOPOLOGY.get(key).env_var: self.resource_name(key) for key in keys}

    def _environment(self, cap: Capability) -> dict[str, str]:
        """Powertools' settings, and the variable of each resource the capability is
        granted (:meth:`Capability.resource_keys`), as the local platform sets them too."""
        env = {
            "POWERTOOLS_SERVICE_NAME": cap.name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": "INFO",
            STAGE_VAR: self.config.stage,
        }
        env.update(self.resource_environment(cap.resource_keys()))
        # The deployed strategies (strategies/README.md): in the images always, in the layer
        # once scripts/build_lambda.py built it (the source tree has no such folder).
        if cap.strategies and (cap.packaging == "image" or layer_source().name != "tradpal"):
            env["TRADPAL_STRATEGY_DIRS"] = DEPLOYED_STRATEGY_DIR
        env.update(cap.environment)
        return env

    def _function(self, cap: Capability) -> lambda_.Function:
        cid = "".join(p.title() for p in cap.name.split("_"))
        log_group = logs.LogGroup(
            self,
            f"{cid}Logs",
            retention=self.config.log_retention,
            removal_policy=self.config.removal_policy,
        )
        common = dict(
            description=cap.description,
            memory_size=cap.memory_mb,
            timeout=cdk.Duration.seconds(cap.timeout_s),
            environment=self._environment(cap),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            architecture=lambda_.Architecture.X86_64,
            reserved_concurrent_executions=cap.reserved_concurrency,
        )
        if cap.is_async:
            dlq = self._queue(f"{cid}AsyncDlq")
            self.async_dlqs[cap.name] = dlq
            common.update(
                on_failure=destinations.SqsDestination(dlq),
                retry_attempts=TOPOLOGY.delivery.async_retries,
                max_event_age=cdk.Duration.seconds(TOPOLOGY.delivery.async_max_age_s),
            )
        if cap.packaging == "image":
            dockerfile = ROOT / "functions" / "images" / cap.name / "Dockerfile"
            if not dockerfile.is_file():
                raise ConfigError(
                    f"{cap.name} is packaged as an image but {dockerfile} does not exist",
                    hint="add the Dockerfile (FROM public.ecr.aws/lambda/python:3.12) or set "
                    "packaging='zip' in the catalog",
                )
            fn = lambda_.DockerImageFunction(
                self,
                cid,
                code=lambda_.DockerImageCode.from_image_asset(
                    str(ROOT),
                    file=f"functions/images/{cap.name}/Dockerfile",
                    cmd=[cap.handler],
                    exclude=IMAGE_EXCLUDE,
                ),
                **common,
            )
        else:
            fn = lambda_.Function(
                self,
                cid,
                runtime=RUNTIME,
                handler=cap.handler,
                code=handler_code(cap.name),
                layers=[self.layer],
                **common,
            )
        if cap.streams:
            self.stream_dlqs[cap.name] = self._queue(f"{cid}StreamDlq")
            self.stream_dlqs[cap.name].grant_send_messages(fn)
        self._grant(cap, fn)
        acknowledge(
            fn,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "AWSLambdaBasicExecutionRole is AWS's minimal policy: it writes the function's logs.",
        )
        acknowledge(
            fn,
            "IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) and kinesis:ListStreams "
            "support no resource-level permissions.",
        )
        acknowledge(
            fn,
            "L1",
            "Pinned to Python 3.12: the tradpal layer's compiled wheels and C kernels are built "
            "for cp312 (scripts/build_lambda.py); runtime and layer move together.",
        )
        return fn

    def _grant(self, cap: Capability, fn: lambda_.Function) -> None:
        """IAM for the capability's grants (:attr:`Capability.access`), and nothing else."""
        for grant in cap.grants:
            if grant.describes_all:
                self._grant_describe(fn)
                continue
            resource, write = TOPOLOGY.get(grant.resource), grant.mode in ("rw", "w")
            if resource.kind == "bucket":
                self._grant_bucket(fn, resource.name.replace("_", "-"), write=write)
            elif resource.kind == "table":
                table = self.data.tables[resource.key]
                (table.grant_read_write_data if write else table.grant_read_data)(fn)
            elif resource.kind == "bus":
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["events:PutEvents"], resources=[self.shared.bus_arn]
                    )
                )
            elif resource.kind == "stream":
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=_STREAM_WRITE if write else _STREAM_READ,
                        resources=[self.shared.stream_arn],
                    )
                )
                if not write:
                    fn.add_to_role_policy(
                        iam.PolicyStatement(actions=["kinesis:ListStreams"], resources=["*"])
                    )
            elif resource.kind == "secret":
                self.notifier_secret.grant_read(fn)
            else:
                self._grant_state_machine(fn, resource.name)

    def _grant_bucket(self, fn: lambda_.Function, purpose: str, *, write: bool) -> None:
        # By name, not by the Data stack's bucket: the ARN is then known here without an
        # export, and so are the cdk-nag findings acknowledged below.
        name = self.config.bucket_name(purpose)
        bucket = s3.Bucket.from_bucket_name(self, f"{fn.node.id}{purpose.title()}Bucket", name)
        (bucket.grant_read_write if write else bucket.grant_read)(fn)
        objects = (
            f"arn:<AWS::Partition>:s3:::{self.config.prefix}-{purpose}"
            "-<AWS::AccountId>-<AWS::Region>/*"
        )
        acknowledge(
            fn,
            f"IAM5[Resource::{objects}]",
            f"Object access in the {purpose} bucket, the function's data; keys are per run "
            "and dataset, so no narrower prefix exists.",
        )
        families = ["s3:GetObject*", "s3:GetBucket*", "s3:List*"]
        if write:
            families += ["s3:DeleteObject*", "s3:Abort*"]
        for action in families:
            acknowledge(
                fn,
                f"IAM5[Action::{action}]",
                f"{action} is a CDK grant action family (grant_read/grant_read_write), "
                f"limited to the {purpose} bucket and its objects.",
            )

    def _grant_describe(self, fn: lambda_.Function) -> None:
        """What the health checks call: list each bucket, describe each table, the bus, the
        stream, the secret and the state machines; no data access."""
        buckets = [
            f"arn:{cdk.Aws.PARTITION}:s3:::{self.resource_name(b.key)}" for b in TOPOLOGY.buckets
        ]
        for actions, resources in (
            (["s3:ListBucket"], buckets),
            (["dynamodb:DescribeTable"], [t.table_arn for t in self.data.tables.values()]),
            (["events:DescribeEventBus"], [self.shared.bus_arn]),
            (["kinesis:DescribeStreamSummary"], [self.shared.stream_arn]),
            (["secretsmanager:DescribeSecret"], [self.notifier_secret.secret_arn]),
            (["states:DescribeStateMachine"], list(self.shared.state_machine_arns.values())),
        ):
            fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=resources))

    def _grant_state_machine(self, fn: lambda_.Function, machine: str) -> None:
        name = self.config.state_machine_name(machine)
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[self.shared.state_machine_arns[machine]],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[
                    self.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{name}:*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        acknowledge(
            fn,
            "IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
            f"execution:{name}:*]",
            f"Executions of {name} are named per run at start; the wildcard is limited to "
            "that state machine's executions.",
        )
