"""Stage configuration from CDK context: names, removal policies and retention per stage.

Resource names that other stacks need before the resource exists (the bus, the stream, the
state machines) are derived here, deterministically, so that stacks reference them by name and
ARN without cross-stack cycles (functions publish to the bus the Events stack creates later).
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Node

from tradpal.errors import ConfigError

STAGES = ("dev", "prod")


@dataclass(frozen=True)
class StageConfig:
    """Everything that differs between ``dev`` and ``prod`` (from ``-c stage=...``)."""

    stage: str = "dev"
    alarm_email: str | None = None
    oidc_issuer: str | None = None
    oidc_audience: tuple[str, ...] = ()
    scope_prefix: str = "tradpal/"
    cors_origins: tuple[str, ...] = ("http://localhost:8000",)
    domain_name: str | None = None
    certificate_arn: str | None = None

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ConfigError(
                f"unknown stage {self.stage!r}", hint=f"pass -c stage=<one of {STAGES}>"
            )
        if bool(self.oidc_issuer) != bool(self.oidc_audience):
            raise ConfigError(
                "oidc_issuer and oidc_audience must be given together",
                hint="pass both -c oidc_issuer=https://... and -c oidc_audience=<client id>, "
                "or neither to use the Cognito user pool",
            )
        if self.oidc_issuer and not self.oidc_issuer.startswith("https://"):
            raise ConfigError(
                f"oidc_issuer {self.oidc_issuer!r} is not an https URL",
                hint="use the issuer URL exactly as it appears in the tokens' iss claim",
            )
        if bool(self.domain_name) != bool(self.certificate_arn):
            raise ConfigError(
                "domain_name and certificate_arn must be given together",
                hint="pass both -c domain_name=api.example.com -c certificate_arn=arn:..., "
                "or neither",
            )

    @classmethod
    def from_node(cls, node: Node) -> StageConfig:
        """Read the stage settings from CDK context (``-c key=value`` or cdk.json)."""

        def ctx(key: str) -> str | None:
            value = node.try_get_context(key)
            return None if value in (None, "") else str(value)

        def csv(key: str) -> tuple[str, ...]:
            value = node.try_get_context(key)
            if isinstance(value, list):
                return tuple(str(v) for v in value)
            return tuple(v.strip() for v in (value or "").split(",") if v.strip())

        issuer = ctx("oidc_issuer")
        return cls(
            stage=ctx("stage") or "dev",
            alarm_email=ctx("alarm_email"),
            oidc_issuer=issuer,
            oidc_audience=csv("oidc_audience"),
            # Cognito access tokens carry "<resource server>/<scope>"; other issuers plain scopes.
            scope_prefix=ctx("scope_prefix") or ("" if issuer else "tradpal/"),
            cors_origins=csv("cors_origins") or cls.cors_origins,
            domain_name=ctx("domain_name"),
            certificate_arn=ctx("certificate_arn"),
        )

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"

    @property
    def prefix(self) -> str:
        """Name prefix: ``tradpal`` in prod, ``tradpal-<stage>`` otherwise."""
        return "tradpal" if self.is_prod else f"tradpal-{self.stage}"

    @property
    def bus_name(self) -> str:
        return self.prefix

    @property
    def stream_name(self) -> str:
        return f"{self.prefix}-market-data"

    def state_machine_name(self, machine: str) -> str:
        return f"{self.prefix}-{machine}"

    def bucket_name(self, purpose: str) -> str:
        """``<prefix>-<purpose>-<account>-<region>``: globally unique, and known to every
        stack without a cross-stack reference."""
        return f"{self.prefix}-{purpose}-{cdk.Aws.ACCOUNT_ID}-{cdk.Aws.REGION}"

    @property
    def removal_policy(self) -> cdk.RemovalPolicy:
        """Prod keeps its data when a stack or resource is deleted; dev cleans up."""
        return cdk.RemovalPolicy.RETAIN if self.is_prod else cdk.RemovalPolicy.DESTROY

    @property
    def log_retention(self) -> logs.RetentionDays:
        return logs.RetentionDays.ONE_YEAR if self.is_prod else logs.RetentionDays.TWO_WEEKS

    @property
    def archive_retention(self) -> cdk.Duration:
        return cdk.Duration.days(365 if self.is_prod else 30)
