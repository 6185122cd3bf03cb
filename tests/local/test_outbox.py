"""The outbox of the local bus: accepted deliveries survive a reopen (a restart) until done, a
torn last line is ignored, compaction and a new session keep what is pending, and the
session's backtest_complete events are remembered."""

from __future__ import annotations

import json

from tradpal.local.outbox import OUTBOX, Outbox, completion_of

TARGET = {"Id": "notifier", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f"}


def event(i: int, detail_type: str = "trading_signal", **detail) -> dict:
    return {"id": f"e{i}", "detail-type": detail_type, "source": "tradpal.x", "detail": detail}


def completion(run_id: str, status: str = "SUCCEEDED") -> dict:
    return event(0, "backtest_complete", kind="backtest", run_id=run_id, status=status)


def test_what_is_not_done_is_pending_after_a_reopen(tmp_path):
    outbox = Outbox(tmp_path / OUTBOX)
    assert outbox.previous.started is None and outbox.pending() == []
    numbers = [outbox.accept("rule", TARGET, event(i)) for i in range(3)]
    outbox.done(numbers[1])
    outbox.done(numbers[1])  # twice: nothing more
    again = Outbox(tmp_path / OUTBOX)
    assert [e.event["id"] for e in again.pending()] == ["e0", "e2"]
    assert [e.event["id"] for e in again.previous.pending.values()] == ["e0", "e2"]
    assert again.pending()[0].target == TARGET and again.pending()[0].rule == "rule"
    # numbers go on from the highest one in the file, done or not
    assert again.accept("rule", TARGET, event(3)) == numbers[-1] + 1


def test_a_torn_last_line_is_ignored(tmp_path):
    outbox = Outbox(tmp_path / OUTBOX)
    outbox.accept("rule", TARGET, event(1))
    with open(tmp_path / OUTBOX, "ab") as fh:
        fh.write(b'{"op": "accept", "n": 2, "ru')  # the crash came during this append
    assert [e.event["id"] for e in Outbox(tmp_path / OUTBOX).pending()] == ["e1"]


def test_a_session_keeps_its_completions_and_a_new_one_starts_without_them(tmp_path):
    outbox = Outbox(tmp_path / OUTBOX)
    outbox.start_session("2026-01-01T00:00:00.000Z")
    first = outbox.accept("rule", TARGET, completion("r1"))
    outbox.accept("rule", TARGET, completion("r2", "FAILED"))
    outbox.done(first)
    reopened = Outbox(tmp_path / OUTBOX)
    assert reopened.previous.started == "2026-01-01T00:00:00.000Z"
    assert reopened.completed() == {("backtest", "r1", "SUCCEEDED"), ("backtest", "r2", "FAILED")}
    reopened.start_session("2026-01-02T00:00:00.000Z")
    assert reopened.completed() == set()
    later = Outbox(tmp_path / OUTBOX)
    assert later.previous.started == "2026-01-02T00:00:00.000Z"
    assert [e.event["detail"]["run_id"] for e in later.pending()] == ["r2"]  # still pending
    assert later.completed() == {("backtest", "r2", "FAILED")}  # its accept is in the file


def test_a_grown_outbox_is_compacted_to_what_is_pending(tmp_path):
    outbox = Outbox(tmp_path / OUTBOX, max_bytes=2_000)
    outbox.start_session("2026-01-01T00:00:00.000Z")
    outbox.accept("rule", TARGET, completion("r1"))
    kept = outbox.accept("rule", TARGET, event(0))
    for i in range(1, 50):
        outbox.done(outbox.accept("rule", TARGET, event(i, text="x" * 50)))
    assert (tmp_path / OUTBOX).stat().st_size < 2_000
    lines = [json.loads(line) for line in (tmp_path / OUTBOX).read_text().splitlines()]
    assert lines[0]["op"] == "session"
    assert lines[0]["completed"] == [["backtest", "r1", "SUCCEEDED"]]
    reopened = Outbox(tmp_path / OUTBOX)
    assert [e.n for e in reopened.pending()][:1] == [1] and kept in reopened.previous.pending
    assert reopened.completed() == {("backtest", "r1", "SUCCEEDED")}


def test_only_backtest_complete_events_are_completions():
    assert completion_of(completion("r1")) == ("backtest", "r1", "SUCCEEDED")
    assert completion_of(event(1)) is None
    assert completion_of(event(1, "backtest_complete", kind="backtest")) is None
