"""moto's Kinesis shards, made safe for the local platform's threads and linear in time.

moto keeps a shard's records in an ``OrderedDict`` and says its ``put_record`` "is not safe
for concurrency". Locally an ingest puts records while the stream pollers read them, each in
its own thread of the server, and:

* a read racing a write failed with ``RuntimeError: OrderedDict mutated during iteration``
  (a 500 to the poller, logged as a failed poll with its traceback);
* every put found the last sequence number by listing all the shard's keys, and every read
  scanned the shard from its first record: putting 30,000 candles took about a minute, and
  the ingest's answer came after the gateway's timeout.

:func:`patched_shards` replaces ``Shard.put_record``, ``get_records`` and the sequence
number lookups with versions that hold one lock and cost what AWS's do: a put is O(1) (the
last key of an ordered dict is at hand), a read starts at the record after its iterator
(sequence numbers are consecutive within a shard, as moto numbers them; a shard with gaps,
after a merge, is read by the scan as before). Answers are the same as moto's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.RLock()


def _max_sequence_number(shard: Any) -> int:
    with _lock:
        return next(reversed(shard.records)) if shard.records else 0


def _min_sequence_number(shard: Any) -> int:
    with _lock:
        return next(iter(shard.records)) if shard.records else 0


def _put_record(shard: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
    from moto.kinesis.models import Record

    with _lock:
        sequence_number = _max_sequence_number(shard) + 1
        shard.records[sequence_number] = Record(
            partition_key, data, sequence_number, explicit_hash_key
        )
    return str(sequence_number)


def _get_records(
    shard: Any, last_sequence_id: str, limit: int | None
) -> tuple[list[Any], int, int]:
    last = int(last_sequence_id)
    with _lock:
        records = shard.records
        if not records:
            return [], last, 0
        newest = next(reversed(records))
        first = next(iter(records))
        count = newest - first + 1
        if count != len(records):  # not consecutive (a merged shard): moto's own scan
            return _ORIGINAL["get_records"](shard, last_sequence_id, limit)
        results = []
        n = max(last + 1, first)
        while n <= newest and (limit is None or len(results) < limit):
            results.append(records[n])
            n += 1
        if results:
            last = results[-1].sequence_number
            behind = records[newest].created_at - results[-1].created_at
        else:
            behind = 0.0
    return results, last, int(behind * 1000)


_ORIGINAL: dict[str, Any] = {}


@contextmanager
def patched_shards() -> Iterator[None]:
    """Within the block, moto's Kinesis shards are thread-safe and linear (module docstring);
    the originals are back after it."""
    from moto.kinesis.models import Shard

    names = ("put_record", "get_records", "get_max_sequence_number", "get_min_sequence_number")
    saved = {name: getattr(Shard, name) for name in names}
    _ORIGINAL.update(saved)
    Shard.put_record = _put_record  # type: ignore[method-assign]
    Shard.get_records = _get_records  # type: ignore[method-assign]
    Shard.get_max_sequence_number = _max_sequence_number  # type: ignore[method-assign]
    Shard.get_min_sequence_number = _min_sequence_number  # type: ignore[method-assign]
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(Shard, name, method)
