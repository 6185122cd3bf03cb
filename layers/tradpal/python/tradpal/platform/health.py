"""Health: versions, and whether every resource the function can see answers.

Each resource of the function's environment (:mod:`tradpal.platform.environment`; the health
function is granted ``*:describe``: it sees every one) is probed in parallel with a call that
reads no data (``HeadBucket``, ``DescribeTable``, ``DescribeStreamSummary``,
``DescribeEventBus``, ``DescribeSecret``, ``DescribeStateMachine``), each on a client with
short timeouts and one attempt, the whole bounded by :data:`CHECK_BUDGET_S`.
"""

from __future__ import annotations

import logging
import platform
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import suppress
from typing import Any, Literal

from pydantic import BaseModel, Field

from tradpal.platform.aws import client
from tradpal.platform.environment import platform_env
from tradpal.platform.topology import TOPOLOGY, ResourceKind

CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 2.0
CHECK_BUDGET_S = 3.0
LIBRARIES = ("numpy", "pandas", "pyarrow", "pydantic", "aws-lambda-powertools", "boto3", "ccxt")
SERVICES: dict[ResourceKind, str] = {
    "bucket": "s3",
    "table": "dynamodb",
    "stream": "kinesis",
    "bus": "events",
    "secret": "secretsmanager",
    "state_machine": "stepfunctions",
}
_log = logging.getLogger(__name__)


class Check(BaseModel):
    """One resource check."""

    name: str = Field(description="the resource's key: market_data_bucket, event_bus...")
    kind: ResourceKind
    resource: str
    ok: bool
    latency_ms: float
    error: str | None = None


class HealthReport(BaseModel):
    """Liveness, versions and resource checks."""

    status: Literal["ok", "degraded"]
    stage: str
    version: str = Field(description="tradpal's version")
    python: str
    libraries: dict[str, str | None]
    checks: list[Check]
    time: str


def _client(kind: ResourceKind) -> Any:
    """A client that fails fast: health must answer within its own budget."""
    return client(
        SERVICES[kind],
        retries=False,
        connect_timeout_s=CONNECT_TIMEOUT_S,
        read_timeout_s=READ_TIMEOUT_S,
    )


def probe(c: Any, kind: ResourceKind, resource: str) -> None:
    """Raise if ``resource`` is not usable (``c``: a client of its service)."""
    if kind == "bucket":
        c.head_bucket(Bucket=resource)
    elif kind == "table":
        status = c.describe_table(TableName=resource)["Table"]["TableStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise RuntimeError(f"table status {status}")
    elif kind == "stream":
        summary = c.describe_stream_summary(StreamName=resource)["StreamDescriptionSummary"]
        if summary["StreamStatus"] not in ("ACTIVE", "UPDATING"):
            raise RuntimeError(f"stream status {summary['StreamStatus']}")
    elif kind == "bus":
        c.describe_event_bus(Name=resource)
    elif kind == "secret":
        c.describe_secret(SecretId=resource)  # metadata only, never the value
    else:
        c.describe_state_machine(stateMachineArn=resource)


def _error_text(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', type(exc).__name__)}: {err.get('Message') or 'no message'}"
    return f"{type(exc).__name__}: {exc}"


def _timed(name: str, kind: ResourceKind, resource: str) -> Check:
    began = time.perf_counter()
    try:
        c = _client(kind)
        began = time.perf_counter()  # the check's latency, not the client's construction
        probe(c, kind, resource)
        error = None
    except Exception as exc:  # a failing dependency is a result, not a crash
        error = _error_text(exc)
    ms = round((time.perf_counter() - began) * 1000, 2)
    return Check(
        name=name, kind=kind, resource=resource, ok=error is None, latency_ms=ms, error=error
    )


def dependencies() -> list[tuple[str, ResourceKind, str]]:
    """``(key, kind, name)`` of every resource in the function's environment."""
    env = platform_env()
    return [(r.key, r.kind, env.resources[r.key]) for r in TOPOLOGY if r.key in env.resources]


def run_checks(
    deps: list[tuple[str, ResourceKind, str]], budget_s: float = CHECK_BUDGET_S
) -> list[Check]:
    """Every check in parallel; one still running after ``budget_s`` counts as failed."""
    if not deps:
        return []
    # Clients first, one after another: building one loads its service model (slow, and not
    # what a check measures), and creating clients is not thread-safe.
    for kind in sorted({kind for _, kind, _ in deps}):
        with suppress(Exception):  # the check meets the error again and reports it
            _client(kind)
    pool = ThreadPoolExecutor(max_workers=len(deps))
    futures = [pool.submit(_timed, *d) for d in deps]
    wait(futures, timeout=budget_s)
    pool.shutdown(wait=False, cancel_futures=True)
    out = []
    for (name, kind, resource), f in zip(deps, futures, strict=True):
        if f.done():
            out.append(f.result())
        else:
            out.append(
                Check(
                    name=name, kind=kind, resource=resource, ok=False,
                    latency_ms=budget_s * 1000, error=f"no answer within {budget_s:g} s",
                )
            )  # fmt: skip
    return out


def versions() -> dict[str, str | None]:
    """The installed version of each of :data:`LIBRARIES` (None where absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def health_report() -> HealthReport:
    """The report: ``ok`` when every check passed, else ``degraded`` (failures logged)."""
    import tradpal
    from tradpal.serialize import now_iso

    checks = run_checks(dependencies())
    for c in checks:
        if not c.ok:
            _log.warning("dependency %s (%s) failed: %s", c.name, c.resource, c.error)
    return HealthReport(
        status="ok" if all(c.ok for c in checks) else "degraded",
        stage=platform_env().stage,
        version=getattr(tradpal, "__version__", "unknown"),
        python=platform.python_version(),
        libraries=versions(),
        checks=checks,
        time=now_iso(),
    )
