"""Atomic file writes: a crash mid-write never leaves a truncated checkpoint, report or record."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from .errors import RunError, WriteError

_FULL = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded"}
_REFUSED = {
    errno.EFBIG: "file too large for this file system",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


AGAIN = "run the command again"


def storage_error(
    path: Any, e: OSError, *, cleaned: bool = True, then: str = AGAIN
) -> WriteError | None:
    """The one-line :class:`WriteError` for an ``OSError`` that means the disk or the folder
    refuses the write (full, over quota, read-only, not ours); ``None`` for any other error,
    which stays a bug to report. ``cleaned``: the caller removed what it had half-written;
    ``then``: what to do once the space or the folder is there."""
    if e.errno in _FULL:
        why, fix = _FULL[e.errno], "free some space (or choose another folder)"
    elif e.errno in _REFUSED:
        why, fix = _REFUSED[e.errno], "choose a writable folder (or fix its permissions)"
    else:
        return None
    left = "; nothing half-written was left there" if cleaned else ""
    return WriteError(f"{path}: cannot write ({why}){left}; {fix}, then {then}")


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_dir(path: str | os.PathLike) -> Path:
    """A new temporary-style folder with the permissions a plain ``mkdir`` would give it:
    ``tempfile.mkdtemp`` makes ``0700`` folders, which colleagues on a shared server cannot
    read once they are renamed into place."""
    path = Path(path)
    os.chmod(path, 0o777 & ~current_umask())
    return path


def atomic_write(
    path: str | os.PathLike, write: Callable[[BinaryIO], None], *, then: str = AGAIN
) -> Path:
    """Write through ``write(fileobj)`` into a temp file beside ``path``, fsync, then rename over it.

    The file gets the permissions ``open()`` would give a new file (``0666`` minus the umask),
    not ``mkstemp``'s private ``0600``. A full disk or a read-only folder is a
    :class:`WriteError` naming ``path`` (and ``then``, what to do next); the temp file is gone."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        _raise_refused(path, e, then)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            _raise_refused(path, e, then)
        raise
    return path


def _raise_refused(path: Path, e: OSError, then: str) -> None:
    """Raise the :class:`WriteError` of a refused write, or ``e`` itself (a bug)."""
    refused = storage_error(path, e, then=then)
    if refused is None:
        raise e
    raise refused from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    # surrogateescape: a file name that is not UTF-8 (os.fsdecode keeps its bytes as lone
    # surrogates) is written back as the bytes it has on disk instead of crashing the write
    return atomic_write_bytes(path, text.encode("utf-8", errors="surrogateescape"))


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays, paths and dataclasses show up in configs and metrics.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "__dataclass_fields__"):
        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default)
    return atomic_write_text(path, text + "\n")


def atomic_torch_save(path: str | os.PathLike, obj: Any, *, then: str = AGAIN) -> Path:
    import torch  # here: this module is imported by `qsdaqec --help`, which must not load torch

    # serialised in memory first: a full disk is then our own OSError, named by its path,
    # instead of torch's "enforce fail at inline_container.cc" from inside its writer
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write(path, lambda f: f.write(buf.getbuffer()), then=then)


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise RunError(
            f"{path}: not valid JSON ({e.msg}: line {e.lineno} column {e.colno})"
        ) from None
