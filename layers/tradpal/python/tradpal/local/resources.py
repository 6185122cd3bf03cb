"""The platform's data resources created in moto as the Data and Events stacks create them
on AWS: the same buckets, the same table keys, the bus and the market-data stream."""

from __future__ import annotations

import json
from typing import Any

from tradpal.local.moto_server import ACCOUNT_ID, REGION
from tradpal.platform.clients import client
from tradpal.platform.environment import PlatformEnv

# Table keys as cdk/data.py declares them: (partition, sort or None).
TABLE_KEYS: dict[str, tuple[str, str | None]] = {
    "runs_table": ("run_id", None),
    "catalog_table": ("dataset", "timeframe"),
    "idempotency_table": ("id", None),
}
TTL_ATTRIBUTES = {"runs_table": "expires_at", "idempotency_table": "expiration"}


def local_env(prefix: str = "tradpal-local") -> PlatformEnv:
    """Resource names of the local platform (the state machines are added once created)."""
    return PlatformEnv(
        stage="local",
        market_data_bucket=f"{prefix}-market-data",
        results_bucket=f"{prefix}-results",
        runs_table=f"{prefix}-runs",
        catalog_table=f"{prefix}-catalog",
        idempotency_table=f"{prefix}-idempotency",
        event_bus=prefix,
        market_stream=f"{prefix}-market-data",
        notifier_secret=f"{prefix}/notifier",
    )


def stream_arn(name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{name}"


def provision(env: PlatformEnv, *, notifier_channels: dict[str, Any] | None = None) -> None:
    """Create the buckets, tables, bus, stream and notifier secret named by ``env`` (idempotent:
    what exists is left alone)."""
    s3 = client("s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", ())}
    for bucket in (env.market_data_bucket, env.results_bucket):
        if bucket and bucket not in existing:
            s3.create_bucket(Bucket=bucket)
    ddb = client("dynamodb")
    tables = set(ddb.list_tables().get("TableNames", ()))
    for field, (partition, sort) in TABLE_KEYS.items():
        name = getattr(env, field)
        if not name or name in tables:
            continue
        keys = [{"AttributeName": partition, "KeyType": "HASH"}]
        attrs = [{"AttributeName": partition, "AttributeType": "S"}]
        if sort:
            keys.append({"AttributeName": sort, "KeyType": "RANGE"})
            attrs.append({"AttributeName": sort, "AttributeType": "S"})
        ddb.create_table(
            TableName=name,
            KeySchema=keys,
            AttributeDefinitions=attrs,
            BillingMode="PAY_PER_REQUEST",
        )
        if field in TTL_ATTRIBUTES:
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTES[field]},
            )
    events = client("events")
    buses = {b["Name"] for b in events.list_event_buses().get("EventBuses", ())}
    if env.event_bus and env.event_bus not in buses:
        events.create_event_bus(Name=env.event_bus)
    kinesis = client("kinesis")
    if env.market_stream and env.market_stream not in kinesis.list_streams()["StreamNames"]:
        kinesis.create_stream(StreamName=env.market_stream, ShardCount=1)
    if env.notifier_secret:
        secrets = client("secretsmanager")
        value = json.dumps(notifier_channels or {"webhooks": []})
        try:
            secrets.describe_secret(SecretId=env.notifier_secret)
            if notifier_channels is not None:
                secrets.put_secret_value(SecretId=env.notifier_secret, SecretString=value)
        except secrets.exceptions.ResourceNotFoundException:
            secrets.create_secret(Name=env.notifier_secret, SecretString=value)
