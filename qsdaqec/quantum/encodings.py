"""The registry of encodings: how the 256-d features enter the quantum head's circuit.

An :class:`Encoding` says how many qubits and circuit inputs it needs for a ``HeadConfig``,
appends its gates to the circuit, and maps features to the input values (the classical
*feature map*, differentiable in torch). ``HeadConfig``, the circuit builder, ``QuantumHead``,
the CLI's ``--encoding`` choices and the noise report all read :data:`ENCODINGS`.

Adding an encoding: write its gates and feature map (for a large one, a module of its own like
:mod:`qsdaqec.quantum.amplitude`), then register an ``Encoding`` below; docs/architecture.md
lists the other places that name encodings for users (circuit exports, docs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qiskit.circuit import ParameterVector, QuantumCircuit

from ..errors import ConfigError
from ..registry import Registry
from .amplitude import amplitude_feature_map, append_amplitude_tree, num_qubits_for
from .schmidt import leading_vector

if TYPE_CHECKING:  # pragma: no cover
    from .circuits import HeadConfig


@dataclass(frozen=True)
class Encoding:
    """One way to load features into the head circuit.

    - ``num_qubits(cfg)`` / ``num_inputs(cfg)``: circuit width and number of input parameters;
    - ``append(qc, inputs, cfg)``: add the encoding gates; returns how many leading
      instructions are an amplitude tree that the fast exact path may replace by its closed
      form (0: none);
    - ``feature_map(x, cfg, compress)``: features -> input values (numpy or torch);
    - ``compresses``: the head learns a ``Linear(num_features -> ansatz_qubits)`` first
      (its parameters count as head parameters);
    - ``float64_inputs``: the head computes the input values in float64;
    - ``tree_leaves(x, cfg)``: for an encoding that is an amplitude tree of fewer qubits than
      ``log2(num_features)``, the vector (numpy or torch) the tree loads (the exact paths
      compute the tree's closed form from it); ``None``: the features themselves;
    - ``check(cfg)``: further ``ConfigError`` checks of a ``HeadConfig``.
    """

    name: str
    summary: str
    num_qubits: Callable[[HeadConfig], int]
    num_inputs: Callable[[HeadConfig], int]
    append: Callable[[QuantumCircuit, ParameterVector, HeadConfig], int]
    feature_map: Callable[[Any, HeadConfig, Any], Any]
    compresses: bool = False
    float64_inputs: bool = False
    tree_leaves: Callable[[Any, HeadConfig], Any] | None = None
    check: Callable[[HeadConfig], None] | None = None

    def validate(self, cfg: HeadConfig) -> None:
        """``ConfigError`` when ``cfg`` does not fit this encoding."""
        if self.check is not None:
            self.check(cfg)
        if cfg.ansatz_qubits > self.num_qubits(cfg):
            raise ConfigError(
                f"ansatz_qubits={cfg.ansatz_qubits}: {self.name} encoding of "
                f"{cfg.num_features} features has only {self.num_qubits(cfg)} qubits"
            )


ENCODINGS: Registry[Encoding] = Registry("encoding")


# ------------------------------------------------------------------------------ amplitude


def _amplitude_append(qc: QuantumCircuit, inputs: ParameterVector, cfg: HeadConfig) -> int:
    return append_amplitude_tree(qc, inputs, num_qubits_for(cfg.num_features))


ENCODINGS.register(
    "amplitude",
    Encoding(
        name="amplitude",
        summary="the paper's: the 256 features as the amplitudes of 8 qubits",
        num_qubits=lambda cfg: num_qubits_for(cfg.num_features),
        num_inputs=lambda cfg: cfg.num_features - 1,
        append=_amplitude_append,
        feature_map=lambda x, cfg, compress=None: amplitude_feature_map(x, cfg.num_features),
        float64_inputs=True,  # exact to ~1e-16 before the QNN; gradients come back cast
    ),
)


# ------------------------------------------------------------------------------ angle


def _angle_append(qc: QuantumCircuit, inputs: ParameterVector, cfg: HeadConfig) -> int:
    for i in range(cfg.ansatz_qubits):
        qc.ry(inputs[i], i)
    return 0


def _angle_feature_map(x, cfg: HeadConfig, compress=None):
    """``(B, num_features)`` -> ``compress`` (a ``Linear(num_features, ansatz_qubits)``) ->
    ``pi * sigmoid`` in ``(0, pi)``; without ``compress`` the input must already be
    ``(B, ansatz_qubits)``."""
    import torch  # torch-free import of the registry: `qsdaqec --help` reads it

    if compress is not None:
        x = compress(x)
    if x.shape[-1] != cfg.ansatz_qubits:
        raise ConfigError(
            f"features: {x.shape[-1]} columns, the angle encoding expects {cfg.ansatz_qubits} "
            "(pass compress=Linear(num_features, ansatz_qubits))"
        )
    return math.pi * torch.sigmoid(x)


ENCODINGS.register(
    "angle",
    Encoding(
        name="angle",
        summary="4 features (a learned Linear(256->4)) as RY angles on 4 qubits",
        num_qubits=lambda cfg: cfg.ansatz_qubits,
        num_inputs=lambda cfg: cfg.ansatz_qubits,
        append=_angle_append,
        feature_map=_angle_feature_map,
        compresses=True,
    ),
)


# ------------------------------------------------------------------------------ schmidt


def _schmidt_check(cfg: HeadConfig) -> None:
    n = num_qubits_for(cfg.num_features)
    if cfg.ansatz_qubits > n:
        raise ConfigError(
            f"ansatz_qubits={cfg.ansatz_qubits}: the schmidt encoding reduces the {n}-qubit "
            f"amplitude state of {cfg.num_features} features; use at most {n}"
        )


def _schmidt_leaves(x, cfg: HeadConfig):
    return leading_vector(x, cfg.ansatz_qubits)


ENCODINGS.register(
    "schmidt",
    Encoding(
        name="schmidt",
        summary="the paper's amplitude state reduced to its leading Schmidt component on the 4 "
        "measured qubits: 14 CNOTs instead of 254, for noisy simulators and hardware",
        num_qubits=lambda cfg: cfg.ansatz_qubits,
        num_inputs=lambda cfg: (1 << cfg.ansatz_qubits) - 1,
        append=lambda qc, inputs, cfg: append_amplitude_tree(qc, inputs, cfg.ansatz_qubits),
        feature_map=lambda x, cfg, compress=None: amplitude_feature_map(
            _schmidt_leaves(x, cfg), 1 << cfg.ansatz_qubits
        ),
        float64_inputs=True,
        tree_leaves=_schmidt_leaves,
        check=_schmidt_check,
    ),
)
