"""Functions stack: one Lambda per capability in the catalog, the tradpal layer, and the
dead-letter queues of asynchronous and stream invocations."""

from __future__ import annotations

import atexit
import shutil
import tempfile
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
from tradpal.platform.catalog import Capability, Catalog

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = lambda_.Runtime.PYTHON_3_12
METRICS_NAMESPACE = "TradPal"

# What each capability may touch; anything not listed is denied (least privilege).
ACCESS: dict[str, frozenset[str]] = {
    # health only asks whether each resource is there (describe/list), never reads data
    "health": frozenset({"describe"}),
    "indicators": frozenset({"market_data:r", "catalog:r", "results:rw"}),
    "signals": frozenset({"market_data:r", "catalog:r", "events", "stream:r", "idempotency:rw"}),
    "data": frozenset({"market_data:rw", "catalog:rw", "events", "stream:w"}),
    "backtests": frozenset(
        {
            "market_data:rw",
            "catalog:rw",
            "results:rw",
            "runs:rw",
            "idempotency:rw",
            "events",
            "sfn:backtest",
        }
    ),
    "discovery": frozenset(
        {"market_data:r", "catalog:r", "results:rw", "runs:rw", "idempotency:rw", "events"}
        | {"sfn:discovery"}
    ),
    "discovery_evaluate": frozenset({"market_data:r", "catalog:r", "results:rw"}),
    "notifier": frozenset({"idempotency:rw", "secret:notifier"}),
}

_STREAM_WRITE = ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary"]
_STREAM_READ = [
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "kinesis:SubscribeToShard",
]

# Image builds send the repository as context; none of these belong in an image.
_IMAGE_EXCLUDE = [
    ".git",
    ".venv*",
    "node_modules",
    "cdk.out",
    "build",
    "tests",
    "benchmarks",
    "**/__pycache__",
    "**/*.so",
    "*.egg-info",
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
                for m in ("backtest", "discovery")
            },
        )
        self.layer = lambda_.LayerVersion(
            self,
            "TradpalLayer",
            code=lambda_.Code.from_asset(
                str(layer_source()), exclude=["**/__pycache__", "**/*.pyc", "*.egg-info"]
            ),
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
            retention_period=cdk.Duration.days(14),
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

    def _environment(self, cap: Capability) -> dict[str, str]:
        env = {
            "POWERTOOLS_SERVICE_NAME": cap.name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": "INFO",
            "TRADPAL_STAGE": self.config.stage,
            "TRADPAL_MARKET_DATA_BUCKET": self.config.bucket_name("market-data"),
            "TRADPAL_RESULTS_BUCKET": self.config.bucket_name("results"),
            "TRADPAL_RUNS_TABLE": self.data.runs.table_name,
            "TRADPAL_CATALOG_TABLE": self.data.catalog.table_name,
            "TRADPAL_IDEMPOTENCY_TABLE": self.data.idempotency.table_name,
            "TRADPAL_EVENT_BUS": self.shared.bus_name,
            "TRADPAL_MARKET_STREAM": self.shared.stream_name,
        }
        for machine, arn in self.shared.state_machine_arns.items():
            if f"sfn:{machine}" in ACCESS.get(cap.name, ()):
                env[f"TRADPAL_{machine.upper()}_STATE_MACHINE_ARN"] = arn
        if "secret:notifier" in ACCESS.get(cap.name, ()):
            env["TRADPAL_NOTIFIER_SECRET"] = self.notifier_secret.secret_name
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
                retry_attempts=2,
                max_event_age=cdk.Duration.hours(6),
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
                    exclude=_IMAGE_EXCLUDE,
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
        access = ACCESS.get(cap.name, frozenset())
        tables = {
            "runs": self.data.runs,
            "catalog": self.data.catalog,
            "idempotency": self.data.idempotency,
        }
        for item in sorted(access):
            what, _, mode = item.partition(":")
            if what in ("market_data", "results"):
                self._grant_bucket(fn, what.replace("_", "-"), write=mode == "rw")
            elif what in tables:
                if mode == "rw":
                    tables[what].grant_read_write_data(fn)
                else:
                    tables[what].grant_read_data(fn)
            elif what == "events":
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["events:PutEvents"], resources=[self.shared.bus_arn]
                    )
                )
            elif what == "stream":
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=_STREAM_WRITE if mode == "w" else _STREAM_READ,
                        resources=[self.shared.stream_arn],
                    )
                )
                if mode != "w":
                    fn.add_to_role_policy(
                        iam.PolicyStatement(actions=["kinesis:ListStreams"], resources=["*"])
                    )
            elif what == "sfn":
                self._grant_state_machine(fn, mode)
            elif what == "secret":
                self.notifier_secret.grant_read(fn)
            elif what == "describe":
                self._grant_describe(fn, tables)
            else:  # pragma: no cover - ACCESS is a literal above
                raise ValueError(f"unknown access {item!r}")

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

    def _grant_describe(self, fn: lambda_.Function, tables: dict) -> None:
        """What the health checks call: list each bucket, describe each table, the bus and
        the stream; no data access."""
        buckets = [
            f"arn:{cdk.Aws.PARTITION}:s3:::{self.config.bucket_name(p)}"
            for p in ("market-data", "results")
        ]
        for actions, resources in (
            (["s3:ListBucket"], buckets),
            (["dynamodb:DescribeTable"], [t.table_arn for t in tables.values()]),
            (["events:DescribeEventBus"], [self.shared.bus_arn]),
            (["kinesis:DescribeStreamSummary"], [self.shared.stream_arn]),
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
