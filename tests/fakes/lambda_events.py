"""Lambda events as AWS delivers them, for driving handlers in tests: HTTP API v2 requests,
Kinesis batches (base64 data) and a Lambda context."""

from __future__ import annotations

import base64
import importlib
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tradpal.local.moto_server import ACCOUNT_ID, REGION

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_handler(capability: str) -> Any:
    """The module ``functions.<capability>.handler`` of this repository.

    pytest puts ``tests/`` on ``sys.path`` (where ``tests/functions`` would pass for the
    ``functions`` package), not the repository root: put the root first.
    """
    root = str(REPO_ROOT)
    if sys.path[:1] != [root]:
        sys.path.insert(0, root)
    found = sys.modules.get("functions")
    if found is not None and getattr(found, "__file__", None) is None:  # a namespace package
        del sys.modules["functions"]
    return importlib.import_module(f"functions.{capability}.handler")


@dataclass
class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str = "tradpal-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:tradpal-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    route: str | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event for ``method path``; ``body`` is sent as JSON."""
    now = time.time()
    hdrs = {"content-type": "application/json"}
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    return {
        "version": "2.0",
        "routeKey": f"{method} {route or path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": hdrs,
        "queryStringParameters": dict(query) if query else None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {route or path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def kinesis_event(payloads: list[bytes | str], *, stream_arn: str, start_seq: int = 1) -> dict:
    """A Kinesis batch as Lambda's event source mapping delivers it (data base64-encoded)."""
    records = []
    for i, data in enumerate(payloads):
        raw = data.encode() if isinstance(data, str) else data
        seq = f"{start_seq + i:056d}"
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "test",
                    "sequenceNumber": seq,
                    "data": base64.b64encode(raw).decode(),
                    "approximateArrivalTimestamp": time.time(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{seq}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT_ID}:role/tradpal-signals",
                "awsRegion": REGION,
                "eventSourceARN": stream_arn,
            }
        )
    return {"Records": records}


def json_body(response: dict[str, Any]) -> Any:
    """The parsed JSON body of a handler's HTTP response."""
    return json.loads(response["body"])
