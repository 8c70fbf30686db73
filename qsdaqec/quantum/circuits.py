"""The quantum head's circuits: encoding + ansatz + observables, and the classical input map.

The encoding (``HeadConfig.encoding``) is one of the registry :data:`ENCODINGS`
(:mod:`qsdaqec.quantum.encodings`): ``amplitude`` (the paper's; 256 features as the amplitudes
of 8 qubits, :mod:`qsdaqec.quantum.amplitude`) or ``angle`` (a learned ``Linear(256 -> 4)``,
then ``RY(pi * sigmoid(z_i))`` on qubit ``i``).

The ansatz is ``layers`` x (RY on each ansatz qubit, then a CNOT ring), acting on qubits
``0 .. ansatz_qubits-1`` (the least significant ones); the observables are ``Z`` on each
ansatz qubit. The circuit's ``metadata["qsdaqec"]`` tells the fast exact path
(:mod:`qsdaqec.quantum.fast`) where an amplitude-encoding tree ends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from ..errors import ConfigError
from .encodings import ENCODINGS

ENTANGLEMENTS = ("ring", "linear")
NUM_CLASSES = 2


@dataclass(frozen=True)
class HeadConfig:
    """What the quantum head's circuit looks like. Defaults match the paper's (18 parameters)."""

    encoding: str = "amplitude"
    num_features: int = 256
    ansatz_qubits: int = 4
    layers: int = 2
    entanglement: str = "ring"

    def __post_init__(self) -> None:
        encoding = ENCODINGS[self.encoding]  # ConfigError listing the encodings
        if self.entanglement not in ENTANGLEMENTS:
            raise ConfigError(
                f"entanglement {self.entanglement!r}: unknown; use one of {', '.join(ENTANGLEMENTS)}"
            )
        if self.ansatz_qubits < 1:
            raise ConfigError(f"ansatz_qubits={self.ansatz_qubits}: must be at least 1")
        if self.layers < 0:
            raise ConfigError(f"layers={self.layers}: must be 0 or more")
        if self.num_features < 2:
            raise ConfigError(f"num_features={self.num_features}: must be at least 2")
        encoding.validate(self)

    @property
    def num_qubits(self) -> int:
        """Circuit width: log2(num_features) for amplitude encoding, ansatz_qubits for angle."""
        return ENCODINGS[self.encoding].num_qubits(self)

    @property
    def num_inputs(self) -> int:
        """Number of circuit input parameters (255 tree angles, or 4 rotation angles)."""
        return ENCODINGS[self.encoding].num_inputs(self)

    @property
    def num_weights(self) -> int:
        return self.layers * self.ansatz_qubits

    @property
    def name(self) -> str:
        """A file-name-safe identifier, e.g. ``head_amplitude_f256_q4_l2_ring``."""
        return (
            f"head_{self.encoding}_f{self.num_features}_q{self.ansatz_qubits}"
            f"_l{self.layers}_{self.entanglement}"
        )


@dataclass(frozen=True)
class HeadParameterCount:
    """Trainable parameters of a head, by part."""

    quantum: int  # ansatz weights
    readout: int  # Linear(ansatz_qubits -> classes)
    compress: int  # Linear(num_features -> ansatz_qubits), encodings that compress only

    @property
    def total(self) -> int:
        return self.quantum + self.readout + self.compress


def count_head_parameters(cfg: HeadConfig | None = None, num_classes: int = NUM_CLASSES):
    """Parameter count of ``QuantumHead`` for ``cfg``: 18 = 8 + 10 for the paper's config."""
    cfg = cfg or HeadConfig()
    compresses = ENCODINGS[cfg.encoding].compresses
    return HeadParameterCount(
        quantum=cfg.num_weights,
        readout=(cfg.ansatz_qubits + 1) * num_classes,
        compress=(cfg.num_features + 1) * cfg.ansatz_qubits if compresses else 0,
    )


def count_dense_parameters(num_features: int = 256, num_classes: int = NUM_CLASSES) -> int:
    """Parameters of the classical baseline head ``Linear(num_features -> classes)``: 514."""
    return (num_features + 1) * num_classes


@dataclass
class HeadCircuit:
    """An unbound head circuit and what a QNN needs to run it."""

    circuit: QuantumCircuit
    input_params: list[Parameter]
    weight_params: list[Parameter]
    observables: list[SparsePauliOp]
    config: HeadConfig
    metadata: dict[str, Any] = field(default_factory=dict)


def _append_ansatz(qc: QuantumCircuit, weights: ParameterVector, cfg: HeadConfig) -> None:
    q = cfg.ansatz_qubits
    k = 0
    for _ in range(cfg.layers):
        for i in range(q):
            qc.ry(weights[k], i)
            k += 1
        if q > 1:
            pairs = [(i, i + 1) for i in range(q - 1)]
            if cfg.entanglement == "ring" and q > 2:
                pairs.append((q - 1, 0))
            for a, b in pairs:
                qc.cx(a, b)


def head_observables(cfg: HeadConfig) -> list[SparsePauliOp]:
    """``Z`` on each ansatz qubit (qubit 0 first), as operators on the full circuit width."""
    n = cfg.num_qubits
    return [
        SparsePauliOp.from_sparse_list([("Z", [i], 1.0)], num_qubits=n)
        for i in range(cfg.ansatz_qubits)
    ]


def build_head_circuit(cfg: HeadConfig | None = None) -> HeadCircuit:
    """Build the unbound head circuit for ``cfg`` (default: the paper's amplitude head)."""
    cfg = cfg or HeadConfig()
    n = cfg.num_qubits
    inputs = ParameterVector("x", cfg.num_inputs)
    weights = ParameterVector("w", cfg.num_weights)
    qc = QuantumCircuit(n, name=cfg.name)
    tree_gates = ENCODINGS[cfg.encoding].append(qc, inputs, cfg)
    qc.barrier()
    _append_ansatz(qc, weights, cfg)
    meta = {
        "config": asdict(cfg),
        "encoding": cfg.encoding,
        "num_qubits": n,
        "ansatz_qubits": list(range(cfg.ansatz_qubits)),
        # The first `tree_instructions` instructions of circuit.data are an amplitude tree
        # (the fast path recognises and checks them, then uses its closed form).
        "tree_instructions": tree_gates,
    }
    qc.metadata = {"qsdaqec": meta}
    return HeadCircuit(
        circuit=qc,
        input_params=list(inputs),
        weight_params=list(weights),
        observables=head_observables(cfg),
        config=cfg,
        metadata=meta,
    )


def features_to_inputs(x, cfg: HeadConfig, compress=None):
    """Map features to the circuit's input parameter values, differentiably: the encoding's
    feature map (:data:`ENCODINGS`). ``compress`` is the head's ``Linear(num_features,
    ansatz_qubits)`` for encodings that compress (angle); without it their input must already
    be ``(B, ansatz_qubits)``."""
    return ENCODINGS[cfg.encoding].feature_map(x, cfg, compress)
