"""Results in the results bucket: JSON and files by key, pre-signed links for large ones.

API Gateway answers at most 10 MB and Lambda returns at most 6 MB, and big JSON bodies are
slow to parse on a phone: results above ``inline_limit_bytes`` stay in S3 and the API hands
out a pre-signed GET URL instead.
"""

from __future__ import annotations

import json
from typing import Any

from tradpal.errors import StoreError
from tradpal.platform.aws import client
from tradpal.platform.environment import platform_env
from tradpal.serialize import to_jsonable

INLINE_LIMIT_BYTES = 256 * 1024
PRESIGN_EXPIRES_S = 3600


class ResultStore:
    """JSON documents and files under keys of one bucket; by default the function's results
    bucket (``TRADPAL_RESULTS_BUCKET``)."""

    def __init__(self, bucket: str | None = None) -> None:
        self.bucket = bucket or platform_env().require("results_bucket")

    @property
    def _s3(self) -> Any:
        return client("s3")

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream"):
        """Store ``data`` at ``key``."""
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_json(self, key: str, obj: Any) -> int:
        """Store ``obj`` as strict JSON at ``key``; returns the size in bytes."""
        body = json_bytes(to_jsonable(obj))
        self.put_bytes(key, body, "application/json")
        return len(body)

    def get_bytes(self, key: str) -> bytes:
        """The bytes at ``key``; StoreError when there is no such object."""
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            raise StoreError(
                f"no stored result {key}",
                hint="the run may have failed or been removed; check its status",
            ) from None

    def get_json(self, key: str) -> Any:
        """The JSON document at ``key``."""
        return json.loads(self.get_bytes(key))

    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except self._s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, in key order."""
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", ()))
        return sorted(keys)

    def presign(self, key: str, expires_s: int = PRESIGN_EXPIRES_S) -> str:
        """A pre-signed GET URL for ``key``, valid ``expires_s`` seconds."""
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )

    def offload(
        self, key: str, obj: Any, inline_limit_bytes: int = INLINE_LIMIT_BYTES
    ) -> dict[str, Any]:
        """``{"inline": obj}`` when its JSON is small, else store it at ``key`` and return
        ``{"url": <pre-signed>, "key": key, "bytes": n, "expires_in_s": ...}``."""
        data = to_jsonable(obj)
        placed = self.place(key, json_bytes(data), inline_limit_bytes)
        return {"inline": data} if placed is None else placed

    def place(
        self, key: str, encoded: bytes, inline_limit_bytes: int = INLINE_LIMIT_BYTES
    ) -> dict[str, Any] | None:
        """:meth:`offload` of a document already encoded (as :func:`json_bytes` encodes):
        None when it is small enough to answer inline, else stored as it is at ``key``
        and the link to it (``url``, ``key``, ``bytes``, ``expires_in_s``)."""
        if len(encoded) <= inline_limit_bytes:
            return None
        self.put_bytes(key, encoded, "application/json")
        return {
            "url": self.presign(key),
            "key": key,
            "bytes": len(encoded),
            "expires_in_s": PRESIGN_EXPIRES_S,
        }


def json_bytes(data: Any) -> bytes:
    """Plain JSON values (as :func:`~tradpal.serialize.to_jsonable` gives) as the compact,
    strict JSON the results bucket stores (ValueError for NaN or an infinity)."""
    return json.dumps(data, allow_nan=False, separators=(",", ":")).encode()
