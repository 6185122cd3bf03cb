"""The results bucket against moto: small results inline, large ones behind a working
pre-signed link."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tradpal.errors import StoreError
from tradpal.platform.results import ResultStore


def test_small_results_are_inline_and_large_ones_a_working_presigned_link(aws):
    results = ResultStore(aws.env.results_bucket)
    assert results.offload("a.json", {"x": 1}) == {"inline": {"x": 1}}
    big = {"rows": list(range(50_000)), "nan": float("nan")}
    link = results.offload("runs/r1/big.json", big, inline_limit_bytes=1024)
    assert link["key"] == "runs/r1/big.json" and link["bytes"] > 1024
    with urllib.request.urlopen(link["url"], timeout=10) as answer:
        body = json.loads(answer.read())
    assert body["rows"][-1] == 49_999 and body["nan"] is None  # strict JSON
    assert results.exists("runs/r1/big.json") and not results.exists("runs/r1/none.json")
    assert results.list_keys("runs/") == ["runs/r1/big.json"]
    with pytest.raises(StoreError, match="no stored result"):
        results.get_json("runs/r1/none.json")


def test_an_encoded_document_is_stored_as_it_is(aws):
    results = ResultStore(aws.env.results_bucket)
    encoded = json.dumps([{"a": 1.5, "b": None}] * 100, separators=(",", ":")).encode()
    assert results.place("small.json", encoded) is None and not results.exists("small.json")
    link = results.place("big.json", encoded, inline_limit_bytes=100)
    assert link["key"] == "big.json" and link["bytes"] == len(encoded)
    assert results.get_bytes("big.json") == encoded
    with urllib.request.urlopen(link["url"], timeout=10) as answer:
        assert answer.read() == encoded
