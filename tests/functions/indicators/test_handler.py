"""The indicators function through HTTP API v2 events against moto: results equal the
library's add_indicators bit for bit; bad candles answer 422 naming rows and fields."""

from __future__ import annotations

import json
import math
import urllib.request

import numpy as np
import pandas as pd
import pytest
from fakes.lambda_events import LambdaContext, http_event, json_body, load_handler

from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.indicators.frame import add_indicators
from tradpal.indicators.spec import parse_entry, parse_spec

handler = load_handler("indicators").handler
SPEC = ["ema:9", "rsi:14", "bollinger:20:2", "macd"]


def candles_of(frame: pd.DataFrame) -> list[dict]:
    return [
        {"time": t.isoformat(), **{c: float(frame[c].iloc[i]) for c in frame.columns}}
        for i, t in enumerate(frame.index)
    ]


def call(method: str, path: str, **kw) -> tuple[int, dict]:
    out = handler(http_event(method, path, **kw), LambdaContext())
    return out["statusCode"], json_body(out)


def assert_rows_equal(rows: list[dict], want: pd.DataFrame) -> None:
    assert [r["time"] for r in rows] == [t.isoformat() for t in want.index]
    for col in want.columns:
        got = np.array([np.nan if r[col] is None else r[col] for r in rows], dtype=np.float64)
        assert np.array_equal(got, want[col].to_numpy(), equal_nan=True), col  # bit for bit


def test_posted_candles_give_the_library_indicators_bit_for_bit(aws):
    frame = generate_ohlcv(300, "1h", seed=3, symbol="ETH/USDT")
    status, body = call(
        "POST",
        "/v1/indicators",
        body={"symbol": "ETH/USDT", "timeframe": "1h", "candles": candles_of(frame),
              "indicators": SPEC},
    )  # fmt: skip
    assert status == 200, body
    want = add_indicators(frame, parse_spec([parse_entry(e) for e in SPEC]))
    assert body["columns"] == ["time", *want.columns]
    assert body["bars"] == 300 and body["url"] is None
    assert_rows_equal(body["rows"], want)
    assert body["rows"][0]["ema_9"] is None  # warm-up: null, never NaN in JSON
    assert body["quality"]["ok"] is True


def test_stored_data_by_get_and_post_equal_the_library(aws):
    store = aws.env.market_store()
    frame = generate_ohlcv(200, "4h", seed=5, symbol="BTC/USDT")
    store.write(frame)
    query = {"symbol": "BTC/USDT", "timeframe": "4h", "indicators": "ema:9,rsi:14",
             "start": frame.index[50].isoformat(), "end": frame.index[150].isoformat()}  # fmt: skip
    status, body = call("GET", "/v1/indicators", query=query)
    assert status == 200, body
    stored = store.read("BTC/USDT", "4h", frame.index[50], frame.index[150])
    want = add_indicators(stored, parse_spec([parse_entry("ema:9"), parse_entry("rsi:14")]))
    assert_rows_equal(body["rows"], want)
    assert body["source"] == "synthetic"

    status, posted = call(
        "POST",
        "/v1/indicators",
        body={"symbol": "BTC/USDT", "timeframe": "4h", "indicators": ["ema:9", "rsi:14"],
              "start": query["start"], "end": query["end"]},
    )  # fmt: skip
    assert status == 200 and posted["rows"] == body["rows"]


def test_large_results_are_offloaded_to_s3_behind_a_presigned_url(aws):
    frame = generate_ohlcv(2500, "1h", seed=9, symbol="SYN/USD")
    aws.env.market_store().write(frame)
    spec = ["ema:9", "ema:21", "rsi:14", "bollinger:20:2", "atr:14", "macd"]
    status, body = call(
        "GET",
        "/v1/indicators",
        query={"symbol": "SYN/USD", "timeframe": "1h", "indicators": ",".join(spec)},
    )
    assert status == 200, body
    assert body["rows"] is None and body["key"].startswith("indicators/")
    assert body["bytes"] > 256 * 1024
    with urllib.request.urlopen(body["url"], timeout=10) as answer:  # the moto server
        rows = json.loads(answer.read())
    want = add_indicators(frame, parse_spec([parse_entry(e) for e in spec]))
    assert_rows_equal(rows, want)


def test_candles_failing_quality_rules_name_the_rows(aws):
    frame = generate_ohlcv(50, "1h", seed=1)
    candles = candles_of(frame)
    candles[7]["high"] = candles[7]["low"] / 2  # high below low
    candles[12] = dict(candles[11])  # duplicate time
    status, body = call("POST", "/v1/indicators", body={"symbol": "X/Y", "candles": candles})
    assert status == 422
    assert body["error"]["code"] == "data_quality_error"
    found = {(d["field"], d["rule"]) for d in body["error"]["details"]}
    assert ("body.candles.7", "ohlc_inconsistent") in found
    assert ("body.candles.12", "duplicate_timestamps") in found

    # the repair policy drops the bad row and the duplicate, and says so
    status, body = call(
        "POST",
        "/v1/indicators",
        body={"symbol": "X/Y", "candles": candles, "policy": "repair", "indicators": ["ema:5"]},
    )
    assert status == 200, body
    assert body["bars"] == 48 and body["quality"]["repairs"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"symbol": "X/Y", "candles": [{"time": "2024-01-01", "open": 1, "high": 1, "low": 1}]},
         "body.candles.0.close"),
        ({"symbol": "X/Y", "timeframe": "7h", "candles": []}, "body.timeframe"),
        ({"candles": [{"time": "x", "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1}]},
         "body.candles.0.time"),
        # JSON types as the schema says: no strings, booleans or epoch numbers converted
        ({"candles": [{"time": "2024-01-01", "open": 1, "high": 1, "low": 1, "close": "1.5",
                       "volume": 1}]}, "body.candles.0.close"),
        ({"candles": [{"time": "2024-01-01", "open": 1, "high": 1, "low": 1, "close": 1,
                       "volume": True}]}, "body.candles.0.volume"),
        ({"candles": [{"time": 1700000000, "open": 1, "high": 1, "low": 1, "close": 1,
                       "volume": 1}]}, "body.candles.0.time"),
    ],
)  # fmt: skip
def test_invalid_bodies_answer_422_naming_the_field(body, field):
    status, answer = call("POST", "/v1/indicators", body=body)
    assert status == 422
    assert answer["error"]["code"] == "validation_error"
    assert field in [d["field"] for d in answer["error"]["details"]], answer


def test_unknown_indicator_and_missing_data_are_clear(aws):
    frame = generate_ohlcv(30, "1h", seed=2)
    status, body = call(
        "POST", "/v1/indicators", body={"candles": candles_of(frame), "indicators": ["nope:3"]}
    )
    # the document lists the kinds (a pattern and objects by kind): refused as it says
    assert status == 422, body
    (detail,) = body["error"]["details"]
    assert detail["field"] == "body.indicators.0" and "kinds: sma, ema" in detail["message"]
    status, body = call("GET", "/v1/indicators", query={"symbol": "NONE/USD"})
    assert status == 404 and "no stored data for NONE/USD 1h" in body["error"]["message"]
    status, body = call("GET", "/v1/indicators", query={})
    assert status == 422 and body["error"]["details"][0]["field"] == "query.symbol"


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("ask", "status", "field", "said"),
    [
        ({"symbol": "NOPE/USD"}, 404, "symbol", "NOPE/USD is not stored"),
        ({"symbol": "SYN/USD", "timeframe": "4h"}, 404, "timeframe", "stored at 1h"),
        ({"symbol": "SYN/USD", "start": "2026-11-23", "end": "2026-11-01"}, 400, "end",
         "not after start"),
        ({"symbol": "SYN/USD", "start": "2024-01-02", "end": "2024-01-02"}, 400, "end",
         "not after start"),
        ({"symbol": "SYN/USD", "start": "2023-01-01", "end": "2023-02-01"}, 404, "start",
         "stored from 2024-01-01"),
        ({"symbol": "SYN/USD", "start": "2024-01-11"}, 404, "start", "stored from"),
        ({"symbol": "SYN/USD", "end": "2024-01-01"}, 404, "start", "stored from"),
        # inside the stored span, but in a gap: found by the read, said the same way
        ({"symbol": "SYN/USD", "start": "2024-01-04", "end": "2024-01-05"}, 404, "start",
         "gap"),
    ],
)  # fmt: skip
def test_stored_ranges_are_refused_alike(aws, method, ask, status, field, said):
    """An unknown dataset and an empty range answer 404, an inverted range 400, naming the
    field as the backtests route does; the store's address is never said."""
    frame = generate_ohlcv(240, "1h", seed=5, start="2024-01-01")
    gap = (frame.index < "2024-01-04") | (frame.index >= "2024-01-05")
    aws.env.market_store().write(frame[gap])
    where = "query" if method == "GET" else "body"
    kw = {"query": ask} if method == "GET" else {"body": ask}
    got, body = call(method, "/v1/indicators", **kw)
    assert got == status, body
    (detail,) = body["error"]["details"]
    assert detail["field"] == f"{where}.{field}"
    assert said in detail["message"] + body["error"]["message"]
    assert body["error"]["code"] == ("not_found" if status == 404 else "bad_request")
    assert "s3://" not in json.dumps(body)
    if status == 404:
        assert "POST /v1/data/ingest" in detail["hint"]


def test_nan_in_results_is_null_and_json_is_strict(aws):
    frame = generate_ohlcv(10, "1h", seed=4)
    out = handler(
        http_event("POST", "/v1/indicators",
                   body={"candles": candles_of(frame), "indicators": ["ema:10"]}),
        LambdaContext(),
    )  # fmt: skip
    rows = json.loads(out["body"], parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert [r["ema_10"] is None for r in rows["rows"]] == [True] * 9 + [False]
    assert not any(isinstance(v, float) and math.isnan(v) for r in rows["rows"] for v in r.values())
