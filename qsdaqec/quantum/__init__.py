"""The quantum head: encodings, circuits, the fast exact estimator + gradient, QuantumHead,
a trained head's problem, OpenQASM export.

Names are imported lazily so that ``qsdaqec.quantum.encodings`` and ``.circuits`` (read by the
CLI's option parsing) do not pull in torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "ENCODINGS": "encodings",
    "Encoding": "encodings",
    "HeadCircuit": "circuits",
    "HeadConfig": "circuits",
    "build_head_circuit": "circuits",
    "count_dense_parameters": "circuits",
    "count_head_parameters": "circuits",
    "features_to_inputs": "circuits",
    "FastEstimator": "fast",
    "FastEstimatorGradient": "fast",
    "FastEstimatorQNN": "qnn",
    "QuantumHead": "qnn",
    "HeadProblem": "problem",
    "head_problem": "problem",
    "readout_probabilities": "readout",
}

__all__ = [
    "ENCODINGS",
    "Encoding",
    "FastEstimator",
    "FastEstimatorGradient",
    "FastEstimatorQNN",
    "HeadCircuit",
    "HeadConfig",
    "HeadProblem",
    "QuantumHead",
    "build_head_circuit",
    "count_dense_parameters",
    "count_head_parameters",
    "features_to_inputs",
    "head_problem",
    "readout_probabilities",
]

if TYPE_CHECKING:  # pragma: no cover
    from .circuits import (
        HeadCircuit,
        HeadConfig,
        build_head_circuit,
        count_dense_parameters,
        count_head_parameters,
        features_to_inputs,
    )
    from .encodings import ENCODINGS, Encoding
    from .fast import FastEstimator, FastEstimatorGradient
    from .problem import HeadProblem, head_problem
    from .qnn import FastEstimatorQNN, QuantumHead
    from .readout import readout_probabilities


__getattr__ = lazy_exports(__name__, _EXPORTS)
