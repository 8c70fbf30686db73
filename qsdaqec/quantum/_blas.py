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

                    _CONTROLLER = ThreadpoolController()
                except Exception:  # pragma: no cover - threadpoolctl comes with scikit-learn
                    _UNAVAILABLE = True
                    return contextlib.nullcontext()
    return _CONTROLLER.limit(limits=1, user_api="blas")
