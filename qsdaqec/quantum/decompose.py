"""What the fast exact path does with circuits outside its gate set: decompose, or fall back.

The fast path (:mod:`qsdaqec.quantum.fast`) simulates ``rx ry rz`` with angles linear in the
parameters, any fixed gate with a matrix, and the amplitude-tree prefix. A circuit with other
gates (``p``, ``u``, ``rzz``, composite feature-map instructions such as ``z_feature_map``'s or
``ZZFeatureMap``'s) is first transpiled to :data:`FAST_BASIS` (no layout, no optimisation: the
same qubits, the same parameters; ``p(t)`` becomes ``rz(t)``, equal up to a global phase that no
expectation value sees). What still does not fit (an angle that is not linear in the parameters,
like ``ZZFeatureMap``'s ``(pi - x0)(pi - x1)``; a measurement or reset) runs on qiskit's
reference ``StatevectorEstimator`` and, for gradients, qiskit-machine-learning's
``ParamShiftEstimatorGradient`` on it: exact too, only slower. A :class:`FastPathFallbackWarning`
names the reason once per circuit.
"""

from __future__ import annotations

import warnings
from typing import Any

from qiskit import QuantumCircuit

from ..errors import ConfigError

FAST_BASIS = (
    "rx",
    "ry",
    "rz",
    "cx",
    "cy",
    "cz",
    "swap",
    "h",
    "x",
    "y",
    "z",
    "s",
    "sdg",
    "t",
    "tdg",
    "sx",
    "sxdg",
    "id",
)
"""Gates the fast path simulates natively (rotations with linear angles; fixed gates)."""


class FastPathUnsupported(ConfigError):
    """A circuit the fast path cannot simulate exactly, even decomposed (``reason`` says why)."""


class FastPathFallbackWarning(UserWarning):
    """A circuit runs on qiskit's reference estimator and parameter-shift gradient instead."""


def decompose_for_fast(circuit: QuantumCircuit) -> QuantumCircuit | None:
    """``circuit`` in :data:`FAST_BASIS` (same qubits and parameters), or ``None`` when the
    transpiler cannot express it there."""
    from qiskit import transpile  # a second to import; only circuits outside the basis need it

    try:
        out = transpile(circuit, basis_gates=list(FAST_BASIS), optimization_level=0)
    except Exception:  # the basis translator has no path for some instruction
        return None
    return out if set(out.parameters) == set(circuit.parameters) else None


def warn_fallback(circuit: QuantumCircuit, reason: str) -> None:
    """The one warning for a circuit that falls back (stacklevel: the caller's caller)."""
    warnings.warn(
        f"circuit {circuit.name!r}: {reason}; it runs on qiskit's StatevectorEstimator and "
        "parameter-shift gradients instead of the fast exact path (exact, slower)",
        FastPathFallbackWarning,
        stacklevel=3,
    )


def reference_estimator() -> Any:
    from qiskit.primitives import StatevectorEstimator

    return StatevectorEstimator()


def reference_gradient() -> Any:
    from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient

    return ParamShiftEstimatorGradient(reference_estimator())
