"""Writing local files so that readers and concurrent writers never see half of one.

Every local file TradPal writes whole (reports, checkpoints, the issuer's key and settings,
the local platform's state) goes through here: the bytes go to a uniquely named temporary
file in the target's folder, are flushed to disk, and the file is then renamed into place.
A unique name (not one derived from the pid) matters: threads of one process write at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _temporary(path: Path, data: bytes, mode: int | None) -> str:
    """A fsynced temporary file beside ``path`` holding ``data``; its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def replace_file(path: Path | str, data: bytes | str, *, mode: int | None = None) -> None:
    """Write ``data`` (text is UTF-8 encoded, newlines kept as given) to ``path``, replacing
    it atomically: readers see the old file or the new one. ``mode`` sets the permissions
    (e.g. ``0o600``); the folder must exist."""
    path = Path(path)
    tmp = _temporary(path, _bytes(data), mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_file(path: Path | str, data: bytes | str, *, mode: int | None = None) -> bool:
    """Write ``data`` to ``path`` unless it exists; True when this call created it.

    Atomic and no-clobber (the temporary file is hard-linked into place), so when writers
    race, exactly one wins and all of them then read the same file.
    """
    path = Path(path)
    tmp = _temporary(path, _bytes(data), mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def replace_json(path: Path | str, obj: object) -> None:
    """Write ``obj`` as compact JSON (sorted keys) to ``path`` atomically (:func:`replace_file`),
    creating the folder when it is missing."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(obj, sort_keys=True, separators=(",", ":")))
