"""The quantum head: circuits, the fast exact estimator + gradient, QuantumHead, OpenQASM export."""

from .circuits import HeadCircuit, HeadConfig, build_head_circuit, features_to_inputs
from .fast import FastEstimator, FastEstimatorGradient

__all__ = [
    "FastEstimator",
    "FastEstimatorGradient",
    "HeadCircuit",
    "HeadConfig",
    "build_head_circuit",
    "features_to_inputs",
]
