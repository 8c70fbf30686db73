"""Per-fit locks in a fit store shared by processes, possibly on several machines, and the
lock of a results folder (:func:`results_lock`).

Both are ``filelock.FileLock``: an OS lock (``flock`` on POSIX, ``msvcrt`` on Windows) on a
file beside the fit folder (``.<fit>.lock``) or in the results folder (``.results.lock``). The
OS drops a lock whose holder is gone: at once on one machine, and on a network filesystem when
the server's lease of the dead client's locks runs out (about a minute on NFSv4). So a lock is
never stale, and two processes can never both take over one left by a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import RunError


def lock_path(run_dir: Path) -> Path:
    return run_dir.parent / f".{run_dir.name}.lock"


def _acquire(lock: FileLock, timeout: float) -> bool:
    """Take ``lock``, waiting up to ``timeout`` seconds (-1: for as long as it takes); False
    when another holds it past that. A filesystem without locks is one clear error."""
    Path(lock.lock_file).parent.mkdir(parents=True, exist_ok=True)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        return False
    except NotImplementedError:  # an older filelock on a filesystem without flock
        raise RunError(
            f"{lock.lock_file}: this filesystem has no file locks; put the fit store and the "
            "results folder on one that has (a local disk, NFS), or mount it with locks "
            "(Lustre: -o flock)"
        ) from None
    return True


def held(lock: Path) -> bool:
    """Whether a live process holds ``lock`` (probed by taking it without waiting)."""
    if not lock.exists():
        return False
    probe = FileLock(lock)
    if not _acquire(probe, 0):
        return True
    probe.release()
    return False


@contextmanager
def fit_lock(run_dir: Path) -> Iterator[bool]:
    """Hold the fit's lock while fitting: yields False when a live process holds it (then
    nothing is held); a lock whose holder is gone is free again."""
    lock = FileLock(lock_path(run_dir))
    if not _acquire(lock, 0):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


RESULTS_LOCK = ".results.lock"


@contextmanager
def results_lock(out: Path) -> Iterator[None]:
    """Hold the results folder's lock while its tables are read from the store and written:
    a second writer waits (seconds) instead of interleaving with an older view of the store."""
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out / RESULTS_LOCK)
    _acquire(lock, -1)
    try:
        yield
    finally:
        lock.release()
