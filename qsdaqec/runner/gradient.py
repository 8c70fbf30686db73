"""Gradients for ``EstimatorQNN``: exact on ``statevector``, parameter shift elsewhere."""

from __future__ import annotations

from typing import Any

from .backends import BackendSpec, parse_backend
from .config import RunnerConfig


def make_gradient(spec: BackendSpec | str, estimator: Any, cfg: RunnerConfig | None = None) -> Any:
    """A ``BaseEstimatorGradient`` for ``estimator``.

    ``statevector``: the fast exact gradient of :mod:`qsdaqec.quantum.fast` when that module
    provides one; otherwise (and for every other backend) qiskit-machine-learning's
    ``ParamShiftEstimatorGradient`` over the runner estimator. It sends one PUB per shifted
    parameter set; the runner estimator merges all of them into one parameter array per
    circuit (and removes duplicate rows) before anything is transpiled or executed.
    """
    spec = parse_backend(spec)
    if spec.kind == "statevector":
        fast = _fast_gradient(estimator)
        if fast is not None:
            return fast
    from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient

    return ParamShiftEstimatorGradient(estimator)


def _fast_gradient(estimator: Any) -> Any | None:
    try:
        from ..quantum import fast
    except ImportError:
        return None
    for name in ("FastEstimatorGradient", "FastGradient", "ExactGradient", "make_fast_gradient"):
        factory = getattr(fast, name, None)
        if factory is not None:
            try:
                return factory(estimator)
            except TypeError:
                return factory()
    return None
