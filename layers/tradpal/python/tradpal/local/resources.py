"""The platform's data resources created in moto from the topology, as the Data and Events
stacks create them on AWS: the same buckets, table keys and TTLs, the bus, the streams and
the secrets (:data:`~tradpal.platform.topology.TOPOLOGY`)."""

from __future__ import annotations

import json
from typing import Any

from tradpal.local.moto_server import ACCOUNT_ID, REGION
from tradpal.platform.aws import client
from tradpal.platform.environment import PlatformEnv
from tradpal.platform.topology import TOPOLOGY, Topology

DEFAULT_PREFIX = "tradpal-local"


def local_env(prefix: str = DEFAULT_PREFIX, topology: Topology = TOPOLOGY) -> PlatformEnv:
    """Resource names of the local platform: each resource's physical name under ``prefix``
    (the state machines are added once created)."""
    names = {r.key: r.physical_name(prefix) for r in topology if r.kind != "state_machine"}
    return PlatformEnv(stage="local", resources=names)


def stream_arn(name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{name}"


def provision(
    env: PlatformEnv,
    *,
    notifier_channels: dict[str, Any] | None = None,
    topology: Topology = TOPOLOGY,
) -> None:
    """Create the buckets, tables, bus, streams and secrets named by ``env`` (idempotent: what
    exists is left alone; the notifier secret is rewritten when channels are given)."""
    s3 = client("s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", ())}
    for bucket in topology.buckets:
        name = env.resources.get(bucket.key)
        if name and name not in existing:
            s3.create_bucket(Bucket=name)
    ddb = client("dynamodb")
    tables = set(ddb.list_tables().get("TableNames", ()))
    for table in topology.tables:
        name = env.resources.get(table.key)
        if not name or name in tables:
            continue
        keys = [{"AttributeName": table.partition, "KeyType": "HASH"}]
        if table.sort:
            keys.append({"AttributeName": table.sort, "KeyType": "RANGE"})
        ddb.create_table(
            TableName=name,
            KeySchema=keys,
            AttributeDefinitions=[{"AttributeName": k["AttributeName"], "AttributeType": "S"}
                                  for k in keys],
            BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        if table.ttl:
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl},
            )
    events = client("events")
    buses = {b["Name"] for b in events.list_event_buses().get("EventBuses", ())}
    if env.event_bus and env.event_bus not in buses:
        events.create_event_bus(Name=env.event_bus)
    kinesis = client("kinesis")
    streams = set(kinesis.list_streams()["StreamNames"])
    for stream in topology.streams:
        name = env.resources.get(stream.key)
        if name and name not in streams:
            kinesis.create_stream(StreamName=name, ShardCount=stream.shards)
    secrets = client("secretsmanager")
    for secret in topology.secrets:
        name = env.resources.get(secret.key)
        if not name:
            continue
        given = notifier_channels if secret.name == "notifier" else None
        value = json.dumps(given or {"webhooks": []})
        try:
            secrets.describe_secret(SecretId=name)
            if given is not None:
                secrets.put_secret_value(SecretId=name, SecretString=value)
        except secrets.exceptions.ResourceNotFoundException:
            secrets.create_secret(Name=name, SecretString=value)
