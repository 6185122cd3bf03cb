"""run_once against moto: work done once per identity, a repeat gets the first answer, a
changed body conflicts, and two kinds of work keep their own settings (Powertools configures
a persistence layer once: a layer shared between them took the first one's key path)."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError

from tradpal.platform.idempotency import run_once


def test_work_runs_once_per_identity_and_kinds_keep_their_own_settings(aws):
    calls = []

    def work(answer):
        def run():
            calls.append(answer)
            return {"answer": answer}

        return run

    keyed = {"kind": "k", "key": "a", "body": {"x": 1}}
    first = run_once("t.keyed", keyed, work(1), ttl_s=60, key="[kind, key]", validate="body")
    again = run_once("t.keyed", keyed, work(2), ttl_s=60, key="[kind, key]", validate="body")
    assert first == again == {"answer": 1} and calls == [1]
    with pytest.raises(IdempotencyValidationError):
        run_once("t.keyed", {**keyed, "body": {"x": 2}}, work(3), ttl_s=60,
                 key="[kind, key]", validate="body")  # fmt: skip
    # another kind of work, keyed by all its data, after the first: its own settings hold
    assert run_once("t.whole", {"event_id": "e", "channel": "c"}, work(4), ttl_s=60) == {
        "answer": 4
    }
    assert run_once("t.whole", {"event_id": "e", "channel": "c"}, work(5), ttl_s=60) == {
        "answer": 4
    }
    assert calls == [1, 4]
