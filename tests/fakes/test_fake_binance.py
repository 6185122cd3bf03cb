"""The fake Binance server answers like Binance's spot REST API (checked over plain HTTP)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from fakes.fake_binance import (
    FakeBinance,
    generated_klines,
    ip_banned,
    rate_limited,
    server_error,
)

T0 = 1_640_995_200_000
HOUR = 3_600_000
KLINES = generated_klines(1200, seed=3)


@pytest.fixture
def fake():
    with FakeBinance({("BTC/USDT", "1h"): KLINES}) as server:
        yield server


def get(fake: FakeBinance, path: str) -> tuple[int, object, dict[str, str]]:
    try:
        with urllib.request.urlopen(fake.url + path, timeout=5) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        body = err.read().decode()
        try:
            parsed: object = json.loads(body)
        except ValueError:
            parsed = body
        return err.code, parsed, dict(err.headers)


def test_klines_limit_semantics(fake):
    status, rows, _ = get(fake, "/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime=0")
    assert status == 200 and len(rows) == 500  # default limit
    assert rows[0] == KLINES[0]
    _, rows, _ = get(fake, "/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime=0&limit=1000")
    assert len(rows) == 1000
    status, body, _ = get(fake, "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=1001")
    assert status == 400 and body["code"] == -1130


def test_klines_time_window(fake):
    q = f"/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime={T0 + 1}&endTime={T0 + 5 * HOUR}"
    _, rows, _ = get(fake, q)
    assert [r[0] for r in rows] == [T0 + k * HOUR for k in range(1, 6)]  # both ends inclusive
    _, rows, _ = get(fake, f"/api/v3/klines?symbol=BTCUSDT&interval=1h&endTime={T0 + 9 * HOUR}")
    assert [r[0] for r in rows] == [T0 + k * HOUR for k in range(10)]  # newest up to endTime
    _, rows, _ = get(fake, "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=3")
    assert rows == KLINES[-3:]  # no times: the newest
    row = rows[0]
    assert isinstance(row[0], int) and isinstance(row[1], str) and row[6] == row[0] + HOUR - 1


def test_klines_errors_like_binance(fake):
    assert get(fake, "/api/v3/klines?symbol=NOPE&interval=1h")[1] == {
        "code": -1121,
        "msg": "Invalid symbol.",
    }
    assert get(fake, "/api/v3/klines?symbol=BTCUSDT&interval=7h")[1]["code"] == -1120
    assert get(fake, "/api/v3/klines?interval=1h")[1]["code"] == -1102
    assert get(fake, "/fapi/v1/exchangeInfo")[0] == 404


def test_exchange_info_and_time(fake):
    status, info, _ = get(fake, "/api/v3/exchangeInfo")
    assert status == 200 and info["timezone"] == "UTC"
    (sym,) = info["symbols"]
    assert (sym["symbol"], sym["baseAsset"], sym["quoteAsset"]) == ("BTCUSDT", "BTC", "USDT")
    _, t, _ = get(fake, "/api/v3/time")
    assert abs(t["serverTime"] - time.time() * 1000) < 60_000


def test_scripted_faults_are_used_once_in_order_and_recorded(fake):
    fake.script(rate_limited(7), ip_banned(60), server_error(503))
    q = "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=2"
    status, body, headers = get(fake, q)
    assert status == 429 and headers["Retry-After"] == "7" and body["code"] == -1003
    status, _, headers = get(fake, q)
    assert status == 418 and headers["Retry-After"] == "60"
    status, body, _ = get(fake, q)
    assert status == 503 and "Service Unavailable" in body
    assert get(fake, q)[0] == 200
    assert [r.status for r in fake.klines_requests()] == [429, 418, 503, 200]
    assert fake.klines_requests()[0].params == {"symbol": "BTCUSDT", "interval": "1h", "limit": "2"}


def test_server_stops_by_itself():
    server = FakeBinance({("BTC/USDT", "1h"): KLINES[:5]}, lifetime_s=0.2)
    server.start()
    url = server.url
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/api/v3/ping", timeout=1).close()
        except OSError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the fake server kept running past its lifetime")
    with pytest.raises(RuntimeError):
        _ = server.url
