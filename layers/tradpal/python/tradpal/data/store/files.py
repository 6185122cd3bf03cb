"""File I/O for the store over any pyarrow file system: URIs, atomic writes, listings.

One code path serves a local directory and S3. The only backend-specific part
is durability: on a local disk a written file is flushed with ``fsync`` before
it is renamed into place.

**Atomic writes.** Every file is written whole to a temporary name in the same
directory (``.<name>.<random>.tmp``, hidden from readers) and then moved onto
its final name. Locally the move is a rename (``os.replace`` semantics), which
is atomic. On S3 the move is a server-side copy, which creates the destination
object at once, then a delete of the temporary object; an upload that dies
half-way leaves at most a hidden temporary object and never touches the final
one. (pyarrow completes an unfinished S3 upload when its stream is closed or
garbage-collected, so a partial upload straight to the final key could publish
half a file; writing to a temporary key first rules that out.)
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from tradpal.errors import StoreError

# Options a store URI may carry in its query string (s3://bucket/prefix?region=...).
_S3_URI_OPTIONS = ("region", "endpoint_override", "scheme")
_TEMP_SUFFIX = ".tmp"
_IO_HINT = "check the store location, that the bucket exists and the credentials allow access"


def filesystem_from_uri(
    uri: str | os.PathLike[str],
    *,
    endpoint: str | None = None,
    region: str | None = None,
    s3_options: Mapping[str, Any] | None = None,
) -> tuple[pafs.FileSystem, str]:
    """The file system and root path that ``uri`` names.

    ``uri`` is a local path (absolute, relative or ``~``; ``file://`` URIs too)
    or ``s3://bucket[/prefix]``. S3 URIs may carry ``region``,
    ``endpoint_override`` and ``scheme`` as query parameters. ``endpoint`` (such
    as ``http://127.0.0.1:5000``) selects an S3-compatible server; without it the
    standard ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` variables are used
    when set. ``s3_options`` go to :class:`pyarrow.fs.S3FileSystem` as they are
    (credentials come from the usual AWS chain unless given there).
    """
    text = os.fspath(uri)
    if not text.strip():
        raise StoreError("empty store URI", hint="give a directory or s3://bucket/prefix")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and text[1:3] in (":\\", ":/")):
        path = parts.path if scheme == "file" else text
        root = Path(path).expanduser().resolve()
        return pafs.LocalFileSystem(), root.as_posix()
    if scheme != "s3":
        raise StoreError(
            f"unsupported store URI {text!r} (scheme {parts.scheme!r})",
            hint="use a local directory or s3://bucket/prefix",
        )
    bucket = parts.netloc
    if not bucket or "@" in bucket:
        raise StoreError(
            f"store URI {text!r} names no bucket"
            if not bucket
            else f"store URI {text!r} carries credentials",
            hint="use s3://bucket/prefix; credentials come from the AWS environment or s3_options",
        )
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - set(_S3_URI_OPTIONS))
    if unknown:
        raise StoreError(
            f"unknown option(s) {', '.join(unknown)} in store URI {text!r}",
            hint=f"S3 URIs accept {', '.join(_S3_URI_OPTIONS)}",
        )
    options: dict[str, Any] = dict(query)
    endpoint = (
        endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint and "endpoint_override" not in options:
        ep = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        if ep.scheme not in ("http", "https") or not ep.netloc:
            raise StoreError(
                f"invalid S3 endpoint {endpoint!r}",
                hint="give it as http://host:port or https://host",
            )
        options["endpoint_override"] = ep.netloc
        options.setdefault("scheme", ep.scheme)
    if region:
        options["region"] = region
    options.update(s3_options or {})
    try:
        fs = pafs.S3FileSystem(**options)
    except (TypeError, ValueError, OSError) as exc:
        raise StoreError(f"cannot set up S3 for {text!r}: {exc}", hint=_IO_HINT) from None
    root = "/".join(p for p in (bucket, parts.path.strip("/")) if p)
    return fs, root


def is_local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


@contextlib.contextmanager
def io_errors(action: str) -> Iterator[None]:
    """Turn the file system's ``OSError`` into a :class:`StoreError` that says what failed."""
    try:
        yield
    except FileNotFoundError as exc:
        raise StoreError(f"{action}: not found ({exc})", hint=_IO_HINT) from exc
    except OSError as exc:
        raise StoreError(f"{action}: {exc}", hint=_IO_HINT) from exc
    except pa.ArrowInvalid as exc:  # a file that is not (or no longer) valid Parquet
        raise StoreError(
            f"{action}: damaged file ({exc})",
            hint="it was changed outside TradPal; delete the dataset and fetch it again",
        ) from exc


def temp_path(path: str) -> str:
    """A hidden, unique temporary name beside ``path``."""
    head, _, name = path.rpartition("/")
    return f"{head}/.{name}.{uuid.uuid4().hex}{_TEMP_SUFFIX}"


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`atomic_write`."""
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX)


def atomic_write(fs: pafs.FileSystem, path: str, data: bytes | pa.Buffer) -> None:
    """Make ``path`` hold exactly ``data``, or leave it as it was (see the module docstring)."""
    tmp = temp_path(path)
    local = is_local(fs)
    if local:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        _upload(fs, tmp, data)
        if local:
            _fsync(tmp)
        fs.move(tmp, path)
        if local:
            _fsync_dir(os.path.dirname(path))
    except BaseException:
        with contextlib.suppress(OSError):
            fs.delete_file(tmp)
        raise


def _upload(fs: pafs.FileSystem, path: str, data: bytes | pa.Buffer) -> None:
    """Write ``data`` to a new file ``path`` (the step a crash may interrupt)."""
    stream = fs.open_output_stream(path)
    try:
        stream.write(data)
    finally:
        # Closed explicitly, never left to the garbage collector: closing an
        # S3 stream can block on I/O (see the module docstring).
        stream.close()


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    """Persist a rename (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes | None:
    """The content of ``path``, or ``None`` when it does not exist."""
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        # S3 reports a missing key as a plain OSError on some versions.
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        raise StoreError(f"cannot read {path}: {exc}", hint=_IO_HINT) from exc


def delete_quietly(fs: pafs.FileSystem, path: str) -> None:
    """Delete the file ``path`` if it exists."""
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass
    except OSError:
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            raise


def list_files(fs: pafs.FileSystem, directory: str, *, recursive: bool) -> list[pafs.FileInfo]:
    """The files under ``directory`` (none when it does not exist)."""
    selector = pafs.FileSelector(directory, recursive=recursive, allow_not_found=True)
    with io_errors(f"cannot list {directory}"):
        infos = fs.get_file_info(selector)
    return [i for i in infos if i.type == pafs.FileType.File]
