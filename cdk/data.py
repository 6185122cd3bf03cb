"""Data stack: the topology's S3 buckets and DynamoDB tables
(:data:`tradpal.platform.topology.TOPOLOGY`: market data and results; runs, datasets and
idempotency records), with their keys and TTLs as the topology states them."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.config import StageConfig
from cdk.nag import acknowledge
from tradpal.platform.topology import TOPOLOGY


def _id(name: str) -> str:
    """A construct id from a resource name: ``market_data`` -> ``MarketData``."""
    return "".join(p.title() for p in name.split("_"))


class DataStack(cdk.Stack):
    """Buckets and tables; prod retains them on delete, dev destroys them."""

    def __init__(self, scope: Construct, id: str, *, config: StageConfig, **kw) -> None:
        super().__init__(scope, id, **kw)
        self.config = config
        self.access_logs = self._bucket(
            "AccessLogs", "access-logs", logs_bucket=None, versioned=False
        )
        acknowledge(
            self.access_logs,
            "S1",
            "This is the server access log bucket; logging it into itself would loop.",
        )
        self.buckets = {
            b.key: self._bucket(_id(b.name), b.name.replace("_", "-"), logs_bucket=self.access_logs)
            for b in TOPOLOGY.buckets
        }
        self.tables = {
            t.key: self._table(_id(t.name), partition=t.partition, sort=t.sort, ttl=t.ttl)
            for t in TOPOLOGY.tables
        }

    def _bucket(
        self, id: str, purpose: str, *, logs_bucket: s3.IBucket | None, versioned: bool = True
    ):
        dev = not self.config.is_prod
        lifecycle = [
            s3.LifecycleRule(
                id="abort-incomplete-uploads",
                abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
            )
        ]
        if versioned:
            # Old versions protect against bad writes; keep them long enough to notice.
            lifecycle.append(
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=cdk.Duration.days(30),
                )
            )
        else:
            lifecycle.append(s3.LifecycleRule(id="expire-logs", expiration=cdk.Duration.days(365)))
        return s3.Bucket(
            self,
            id,
            bucket_name=self.config.bucket_name(purpose),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=versioned,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=logs_bucket,
            server_access_logs_prefix=f"{id.lower()}/" if logs_bucket is not None else None,
            lifecycle_rules=lifecycle,
            removal_policy=self.config.removal_policy,
            auto_delete_objects=dev,
        )

    def _table(self, id: str, *, partition: str, sort: str | None = None, ttl: str | None = None):
        return ddb.TableV2(
            self,
            id,
            partition_key=ddb.Attribute(name=partition, type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name=sort, type=ddb.AttributeType.STRING) if sort else None,
            billing=ddb.Billing.on_demand(),
            encryption=ddb.TableEncryptionV2.aws_managed_key(),
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=ttl,
            deletion_protection=self.config.is_prod,
            removal_policy=self.config.removal_policy,
        )
