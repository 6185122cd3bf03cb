"""Small shared pieces of the local runtime: boto3 clients for the moto endpoint, Lambda
invocation outcomes, ARNs and atomic JSON files."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradpal.files import replace_file

DEFAULT_REGION = "us-east-1"

_clients: dict[tuple[str, str, str | None, int], Any] = {}
_lock = threading.Lock()


def region_name(region: str | None = None) -> str:
    """``region``, else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1."""
    return (
        region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    ) or DEFAULT_REGION


def client(service: str, region: str | None = None, *, read_timeout: int = 960) -> Any:
    """A cached boto3 client for ``service`` at AWS_ENDPOINT_URL (boto3 reads it).

    botocore's own retries are off: the local runtime implements the retry policy of the
    AWS service it stands in for, and counts attempts itself. ``read_timeout`` (s) covers
    Lambda's longest synchronous invocation (900 s)."""
    import boto3
    from botocore.config import Config

    key = (service, region_name(region), os.environ.get("AWS_ENDPOINT_URL"), read_timeout)
    with _lock:  # boto3 client creation is not thread-safe; calls on a client are
        found = _clients.get(key)
        if found is None:
            config = Config(
                retries={"max_attempts": 1, "mode": "standard"}, read_timeout=read_timeout
            )
            found = boto3.session.Session().client(service, region_name=key[1], config=config)
            _clients[key] = found
        return found


@dataclass(frozen=True)
class Arn:
    """The parts of an ARN: ``arn:partition:service:region:account:resource``."""

    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, arn: str) -> Arn:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            from tradpal.errors import ConfigError

            raise ConfigError(f"{arn!r} is not an ARN", hint="use arn:aws:<service>:...")
        return cls(parts[2], parts[3], parts[4], parts[5])

    @property
    def name(self) -> str:
        """The resource name: the part after ``function:``, ``stream/``, ``stateMachine:``."""
        for sep in (":", "/"):
            if sep in self.resource:
                return self.resource.split(sep, 1)[1].split(":")[0]
        return self.resource


@dataclass(frozen=True)
class InvokeOutcome:
    """One synchronous Lambda invocation: the decoded payload and the function error
    (``"Unhandled"``) or service error code (``"TooManyRequestsException"``), if any."""

    payload: Any
    function_error: str | None = None
    service_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.function_error is None and self.service_error is None

    @property
    def error_text(self) -> str:
        """``"<errorType>: <errorMessage>"`` of a failed invocation, "" when it succeeded."""
        if self.service_error:
            return str(self.service_error)
        if self.function_error:
            p = self.payload if isinstance(self.payload, dict) else {}
            return f"{p.get('errorType', self.function_error)}: {p.get('errorMessage', '')}"
        return ""


def invoke(function: str, event: Any, *, region: str | None = None) -> InvokeOutcome:
    """Invoke ``function`` (name or ARN) synchronously through moto's Lambda API, where
    :class:`~tradpal.platform.local_lambda.LocalLambda` runs the handler in-process."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    if function.startswith("arn:"):
        region = region or Arn.parse(function).region
    try:
        response = client("lambda", region).invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event)
        )
    except ClientError as exc:
        err = exc.response.get("Error", {})
        return InvokeOutcome(None, service_error=f"{err.get('Code')}: {err.get('Message')}")
    except EndpointConnectionError as exc:
        return InvokeOutcome(None, service_error=f"EndpointConnectionError: {exc}")
    raw = response["Payload"].read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode(errors="replace")
    return InvokeOutcome(payload, function_error=response.get("FunctionError"))


def queue_url(queue: str, region: str | None = None) -> str:
    """The URL of an SQS queue given by URL or ARN."""
    if not queue.startswith("arn:"):
        return queue
    arn = Arn.parse(queue)
    return client("sqs", arn.region).get_queue_url(
        QueueName=arn.resource, QueueOwnerAWSAccountId=arn.account
    )["QueueUrl"]


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` so that readers see the old or the new file, never a
    torn one: a temporary file in the same folder, fsynced, then renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(obj, sort_keys=True, separators=(",", ":")))
