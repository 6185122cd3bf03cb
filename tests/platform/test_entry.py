"""What a failed run shows its user (tradpal.runs.api): the message of a refusal,
never a traceback; a fault of ours says where to look."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from tradpal.errors import StoreError
from tradpal.platform.entry import TaskError, dispatch_task, event_kind, lambda_handler
from tradpal.runs.api import public_cause


def test_a_lambda_error_payload_is_cut_to_its_message():
    payload = {
        "errorMessage": "no stored bars of NOPE/USD 1h (hint: ingest it first)",
        "errorType": "StoreError",
        "requestId": "r-1",
        "stackTrace": ['  File "/var/task/tradpal/data/store/market.py", line 311\n'],
    }
    assert public_cause(json.dumps(payload)) == payload["errorMessage"]


@pytest.mark.parametrize(
    "cause",
    ["Execution timed out", "", None, '["a list"]', '{"no": "message"}', "{not json"],
)
def test_other_causes_are_kept_as_they_are(cause):
    assert public_cause(cause) == (cause or "")


def _tasks():
    def refuse(run_id, state):
        raise StoreError(f"no stored bars for {run_id}", hint="ingest it first")

    def crash(run_id, state):
        return {}["missing"]  # a bug of ours

    return {"refuse": refuse, "crash": crash, "echo": lambda run_id, state: (run_id, state)}


def test_tasks_get_the_run_id_and_state():
    assert dispatch_task(_tasks(), {"task": "echo", "run_id": "r1", "state": {"a": 1}}) == (
        "r1",
        {"a": 1},
    )


def test_a_refusal_reaches_the_run_as_it_is():
    with pytest.raises(StoreError, match="no stored bars for r1"):
        dispatch_task(_tasks(), {"task": "refuse", "run_id": "r1", "state": {}})


def test_a_bug_is_logged_with_its_traceback_and_the_run_says_where_to_look(caplog):
    with caplog.at_level(logging.ERROR), pytest.raises(TaskError) as raised:
        dispatch_task(_tasks(), {"task": "crash", "run_id": "r7", "state": {}})
    assert raised.value.message == "the crash task failed unexpectedly"
    assert "run r7" in raised.value.hint and "KeyError" not in str(raised.value)
    assert raised.value.__cause__ is None  # the payload Lambda builds holds no inner frames
    [record] = [r for r in caplog.records if "task crash of run r7 failed" in r.getMessage()]
    assert record.exc_info and record.exc_info[0] is KeyError


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"version": "2.0", "requestContext": {"requestId": "r"}}, "http"),
        ({"task": "run", "run_id": "r", "state": {}}, "task"),
        ({"Items": [], "BatchInput": {"task": "evaluate"}}, "task"),
        ({"Records": [{"eventSource": "aws:kinesis"}]}, "stream"),
        ({"action": "ingest"}, "schedule"),
        ({"detail-type": "Scheduled Event", "source": "aws.events"}, "schedule"),
        ({"detail-type": "risk_alert", "source": "tradpal.x", "id": "e"}, "event"),
        ({"Records": [{"eventSource": "aws:sqs"}]}, None),
        ([1, 2], None),
    ],
)
def test_events_are_told_apart_by_what_sent_them(event, kind):
    assert event_kind(event) == kind


def test_a_handler_routes_each_kind_to_its_part_and_refuses_others():
    from fakes.lambda_events import LambdaContext

    from tradpal.errors import ConfigError
    from tradpal.platform.observability import for_capability

    obs = for_capability("entry_test")
    seen = []
    handler = lambda_handler(
        obs,
        tasks=_tasks(),
        schedule=lambda event: seen.append(("schedule", event)) or "scheduled",
    )
    context = LambdaContext()
    assert handler({"task": "echo", "run_id": "r", "state": 1}, context) == ("r", 1)
    assert handler({"action": "ingest"}, context) == "scheduled"
    with pytest.raises(ConfigError, match="cannot handle this event") as caught:
        handler({"version": "2.0", "requestContext": {}}, context)
    assert "state-machine tasks, its schedules" in caught.value.hint


def test_disabled_metrics_are_dropped_after_each_invocation(monkeypatch, capsys):
    """Powertools keeps metrics it does not flush (disabled, as locally): without dropping
    them, every invocation added to one list, printed as EMF at the 100th value anyway."""
    from fakes.lambda_events import LambdaContext

    from tradpal.platform.observability import for_capability

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    obs = for_capability("entry_metrics")

    def schedule(event):
        obs.metrics.add_metric(name="Things", unit="Count", value=1)
        return len(obs.metrics.metric_set["Things"]["Value"])

    handler = lambda_handler(obs, schedule=schedule)
    assert [handler({"action": "x"}, LambdaContext()) for _ in range(150)] == [1] * 150
    assert "Things" not in obs.metrics.metric_set
    assert "CloudWatchMetrics" not in capsys.readouterr().out


def test_the_tracer_is_made_only_where_tracing_is_on(monkeypatch):
    from fakes.lambda_events import LambdaContext

    from tradpal.platform.observability import for_capability, tracing_enabled

    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert not tracing_enabled()  # outside Lambda, as Powertools decides
    obs = for_capability("entry_tracing")
    handler = lambda_handler(obs, schedule=lambda event: "done")
    assert handler({"action": "x"}, LambdaContext()) == "done"
    assert "tracer" not in vars(obs)  # never made
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    assert tracing_enabled()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert not tracing_enabled()


@pytest.mark.parametrize("capability", ["health", "discovery_evaluate", "notifier"])
def test_functions_that_never_build_a_frame_do_not_import_pandas(capability):
    # pandas is about 0.4 s of a cold start; the JSON encoder every function shares must
    # not pull it in for functions whose requests hold no frame
    code = f"import sys, functions.{capability}.handler; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
