"""tradpal.files: whole-file writes that concurrent writers and readers cannot tear."""

from __future__ import annotations

import threading

from tradpal.files import create_file, replace_file


def _race(n: int, target) -> list:
    barrier, out = threading.Barrier(n), []

    def run(i: int) -> None:
        barrier.wait()
        out.append(target(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return out


def test_threads_replacing_one_file_leave_one_whole_version_and_no_temporaries(tmp_path):
    path = tmp_path / "state.json"
    versions = {i: (f'{{"writer": {i}, "pad": "' + "x" * 100_000 + '"}').encode() for i in range(8)}
    _race(8, lambda i: replace_file(path, versions[i]))
    assert path.read_bytes() in versions.values()
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_create_file_has_exactly_one_winner(tmp_path):
    path = tmp_path / "key.pem"
    won = _race(8, lambda i: (i, create_file(path, f"key {i}", mode=0o600)))
    winners = [i for i, created in won if created]
    assert len(won) == 8 and len(winners) == 1
    assert path.read_text() == f"key {winners[0]}"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_replace_keeps_text_exactly_and_sets_the_mode(tmp_path):
    path = tmp_path / "t.csv"
    replace_file(path, "a,b\r\nä,1\n", mode=0o640)
    assert path.read_bytes() == "a,b\r\nä,1\n".encode()
    assert path.stat().st_mode & 0o777 == 0o640
    assert create_file(path, "other") is False and path.read_bytes() == "a,b\r\nä,1\n".encode()
