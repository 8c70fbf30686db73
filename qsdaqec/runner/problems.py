"""A trained head's problem (:class:`qsdaqec.quantum.HeadProblem`) on a runner estimator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..quantum.problem import HeadProblem

#: Samples per estimator call: progress moves at least this often.
CHUNK = 16


def estimate(
    problem: HeadProblem,
    estimator: Any,
    *,
    exact: bool,
    chunk: int = CHUNK,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(evs, stds)``, each ``(N, k)``: every sample of ``problem`` through ``estimator``.

    Each call is one PUB of up to ``chunk`` samples (the parameter rows broadcast against the
    ``k`` observables). ``exact``: ask for exact expectation values (precision 0) where the
    backend can give them. ``on_chunk(n)`` after every call."""
    kwargs = {"precision": 0.0} if exact else {}
    evs_parts, std_parts = [], []
    for start in range(0, len(problem), chunk):
        stop = min(len(problem), start + chunk)
        res = estimator.run([problem.pub(start, stop)], **kwargs).result()[0]
        evs = np.asarray(res.data.evs, dtype=np.float64).reshape(stop - start, -1)
        stds = getattr(res.data, "stds", None)
        stds = (
            np.zeros_like(evs)
            if stds is None
            else np.asarray(stds, dtype=np.float64).reshape(evs.shape)
        )
        evs_parts.append(evs)
        std_parts.append(stds)
        if on_chunk is not None:
            on_chunk(stop - start)
    return np.concatenate(evs_parts), np.concatenate(std_parts)
