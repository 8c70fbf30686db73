"""Gradients for ``EstimatorQNN``: exact on ``statevector``, parameter shift elsewhere."""

from __future__ import annotations

from typing import Any

from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient

from ..quantum.fast import FastEstimatorGradient
from .backends import BackendSpec, parse_backend
from .config import RunnerConfig


def make_gradient(spec: BackendSpec | str, estimator: Any, cfg: RunnerConfig | None = None) -> Any:
    """A ``BaseEstimatorGradient`` for ``estimator``.

    ``statevector``: the fast exact gradient of :mod:`qsdaqec.quantum.fast`; every other
    backend: qiskit-machine-learning's ``ParamShiftEstimatorGradient`` over the runner
    estimator. It sends one PUB per shifted parameter set; the runner estimator merges all of
    them into one parameter array per circuit (and removes duplicate rows) before anything is
    transpiled or executed.
    """
    if parse_backend(spec).is_exact:
        return FastEstimatorGradient(estimator)
    return ParamShiftEstimatorGradient(estimator)
