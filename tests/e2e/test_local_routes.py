"""The local platform's own admin routes: GET /local/schedules lists the scheduled rules,
POST /local/schedules fires one now; both need the admin scope and refuse bad bodies."""

from __future__ import annotations

import pytest


def test_schedules_are_listed_for_admins_only(platform):
    status, body, _ = platform.client.call("GET", "/local/schedules")
    assert status == 200
    [schedule] = [s for s in body["schedules"] if s["name"] == "ingest_hourly"]
    assert schedule["expression"].startswith(("rate(", "cron("))
    assert schedule["next_fire"] is None  # started without schedules: nothing fires by itself
    reader = platform.platform.token(("read", "trade"))
    status, body, _ = platform.client.call("GET", "/local/schedules", token=reader)
    assert status == 403 and body["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("body", "status", "field", "said"),
    [
        ({}, 422, "body.schedule", "missing; use one of: ingest_hourly"),
        ({"schedule": 5}, 422, "body.schedule", "5 is not a schedule"),
        ({"schedule": "nope"}, 422, "body.schedule", "'nope' is not a schedule"),
        ({"schedule": "ingest_hourly", "x": 1}, 422, "body.x", "not a field"),
        ([1], 400, None, "send a JSON object"),
    ],
    ids=["missing", "not-a-string", "unknown", "extra-field", "not-an-object"],
)
def test_firing_refuses_bad_bodies_naming_the_field(platform, body, status, field, said):
    got, answer, _ = platform.client.call("POST", "/local/schedules", body)
    assert got == status, answer
    error = answer["error"]
    assert set(error) == {"code", "message", "details"}
    if field is None:
        assert said in error["message"]
    else:
        [detail] = error["details"]
        assert detail["field"] == field and said in detail["message"]
