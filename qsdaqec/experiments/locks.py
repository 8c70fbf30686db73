"""Per-fit locks in a fit store shared by processes, possibly on several machines, and the
lock of a results folder (:func:`results_lock`).

``.<fit>.lock`` beside the fit folder, created with ``O_CREAT | O_EXCL`` (atomic on local
filesystems and NFSv3+), holds ``<pid> <host>``. While held, a thread touches it every
``HEARTBEAT_S`` seconds. A lock is taken over when its holder is gone: on this host, its
process no longer exists; on another host (a Slurm node, a Ray worker), it has not been
touched for ``STALE_AFTER_S`` seconds. Two takeovers racing for one stale lock are not
excluded (both could fit; the fit's own writes are atomic, so the store stays readable).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0


def lock_path(run_dir: Path) -> Path:
    return run_dir.parent / f".{run_dir.name}.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(lock: Path) -> tuple[int, str]:
    """``(pid, host)`` of a lock file (``host`` empty in locks written before hosts were kept,
    meaning this host); ``(0, "")`` when unreadable."""
    try:
        parts = lock.read_text().split()
        return int(parts[0]), (parts[1] if len(parts) > 1 else "")
    except (OSError, ValueError, IndexError):
        return 0, ""


def held(lock: Path) -> bool:
    """Whether a live process holds ``lock``."""
    pid, host = holder(lock)
    if not pid:
        return False
    if host in ("", socket.gethostname()):
        return _pid_alive(pid)
    try:
        return time.time() - lock.stat().st_mtime < STALE_AFTER_S
    except OSError:
        return False


@contextmanager
def fit_lock(run_dir: Path) -> Iterator[bool]:
    """Hold the fit's lock while fitting: yields False when a live process holds it (then
    nothing is held); a lock whose holder is gone is taken over."""
    lock = lock_path(run_dir)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = None
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            if held(lock):
                break
            lock.unlink(missing_ok=True)
    if fd is None:
        yield False
        return
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()} {socket.gethostname()}")
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(lock, stop), daemon=True)
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join()
        lock.unlink(missing_ok=True)


def _heartbeat(lock: Path, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            os.utime(lock)
        except OSError:
            return  # removed under us: nothing left to keep fresh


RESULTS_LOCK = ".results.lock"


@contextmanager
def results_lock(out: Path) -> Iterator[None]:
    """Hold the results folder's lock while its tables are read from the store and written:
    a second writer waits (seconds) instead of interleaving with an older view of the store.
    ``flock``: released by the kernel when its holder dies, so it is never stale."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / RESULTS_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: no locking
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
