"""Exact references for the quantum-head tests, from qiskit's Statevector."""

from __future__ import annotations

import numpy as np
from qiskit.quantum_info import Statevector


def sv_expectations(circuit, values, observables) -> np.ndarray:
    """Exact ``<O_k>`` for one row of values in ``circuit.parameters`` order."""
    bound = circuit.assign_parameters(list(values))
    state = Statevector(bound)
    return np.array([state.expectation_value(o).real for o in observables])


def sv_param_shift(circuit, values, observables, columns) -> np.ndarray:
    """Exact gradients ``(K, len(columns))`` by the parameter-shift rule on Statevector.

    Exact for parameters that enter exactly one Pauli rotation with coefficient 1 (true for
    every parameter of the head circuits).
    """
    out = []
    for j in columns:
        plus = np.array(values, dtype=float)
        minus = plus.copy()
        plus[j] += np.pi / 2
        minus[j] -= np.pi / 2
        out.append(
            (
                sv_expectations(circuit, plus, observables)
                - sv_expectations(circuit, minus, observables)
            )
            / 2
        )
    return np.array(out).T
