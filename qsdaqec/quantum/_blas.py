"""Single-threaded BLAS around the fast path's small matrix products.

The fast path multiplies many small matrices (e.g. (32, 128) @ (128, 128)). OpenBLAS splits such
products over threads; on a busy machine (or next to torch's own threads) the hand-offs cost
10-30x the arithmetic. Limiting numpy's BLAS to one thread for the duration of a call is
cheap (~25 us) and leaves the setting as it was afterwards.
"""

from __future__ import annotations

import contextlib
import threading

_LOCK = threading.Lock()
_CONTROLLER = None
_UNAVAILABLE = False


class _SingleThread:
    """Set each BLAS library to 1 thread on entry and back on exit (~2 us; threadpoolctl's
    ``limit`` re-queries every library on each call, ~10 us, and the fast path enters 4 times
    per training step)."""

    __slots__ = ("_libs", "_old")

    def __init__(self, libs):
        self._libs = libs
        self._old = None

    def __enter__(self):
        self._old = [lib.get_num_threads() for lib in self._libs]
        for lib, old in zip(self._libs, self._old, strict=True):
            if old != 1:
                lib.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        for lib, old in zip(self._libs, self._old, strict=True):
            if old != 1:
                lib.set_num_threads(old)
        return False


def single_thread_blas():
    """Context manager: numpy's BLAS limited to 1 thread inside (no-op without threadpoolctl)."""
    global _CONTROLLER, _UNAVAILABLE
    if _UNAVAILABLE:
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        with _LOCK:
            if _CONTROLLER is None:
                try:
                    from threadpoolctl import ThreadpoolController

                    _CONTROLLER = ThreadpoolController().select(user_api="blas").lib_controllers
                except Exception:  # pragma: no cover - threadpoolctl comes with scikit-learn
                    _UNAVAILABLE = True
                    return contextlib.nullcontext()
    return _SingleThread(_CONTROLLER)
