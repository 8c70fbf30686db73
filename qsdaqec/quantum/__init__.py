"""The quantum head: circuits, the fast exact estimator + gradient, QuantumHead, OpenQASM export."""

from .circuits import HeadCircuit, HeadConfig, build_head_circuit, features_to_inputs
from .fast import FastEstimator, FastEstimatorGradient
from .qnn import FastEstimatorQNN, QuantumHead, count_dense_parameters, count_head_parameters

__all__ = [
    "FastEstimator",
    "FastEstimatorGradient",
    "FastEstimatorQNN",
    "HeadCircuit",
    "HeadConfig",
    "QuantumHead",
    "build_head_circuit",
    "count_dense_parameters",
    "count_head_parameters",
    "features_to_inputs",
]
