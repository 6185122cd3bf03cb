"""put_all: refused entries are sent again until all are taken, in their places; entries
still refused after the attempts raise naming the service and the last error."""

from __future__ import annotations

import pytest

from tradpal.events.partial import PublishError, put_all, refusal


def test_refused_entries_are_retried_until_taken():
    calls: list[list[str]] = []

    def send(batch):
        calls.append(list(batch))
        first = len(calls) == 1
        return [(None, "Throttled: slow") if first and e == "b" else (f"id-{e}", None)
                for e in batch]  # fmt: skip

    sleeps: list[float] = []
    assert put_all(["a", "b", "c"], send, what="x", hint="h", sleep=sleeps.append) == [
        "id-a", "id-b", "id-c",
    ]  # fmt: skip
    assert calls == [["a", "b", "c"], ["b"]] and len(sleeps) == 1 and 0 <= sleeps[0] <= 0.2


def test_entries_still_refused_raise_with_the_last_error():
    def send(batch):
        return [(None, "AccessDenied: no") for _ in batch]

    with pytest.raises(PublishError, match="the stream refused 2 entries after 3 attempts") as e:
        put_all([1, 2], send, what="the stream", hint="retry", attempts=3, sleep=lambda s: None)
    assert "AccessDenied" in e.value.message and e.value.hint == "retry"


def test_refusal_reads_aws_entry_results():
    assert refusal({"EventId": "x"}) is None
    assert refusal({"ErrorCode": "E", "ErrorMessage": "m"}) == "E: m"
