"""Small circuits and exact references for the runner tests."""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp, Statevector


def small_circuit(num_qubits: int = 2) -> tuple[QuantumCircuit, list[SparsePauliOp]]:
    x = ParameterVector("x", num_qubits)
    w = ParameterVector("w", num_qubits)
    qc = QuantumCircuit(num_qubits)
    for q in range(num_qubits):
        qc.ry(x[q], q)
    for q in range(num_qubits - 1):
        qc.cx(q, q + 1)
    for q in range(num_qubits):
        qc.ry(w[q], q)
    obs = [SparsePauliOp.from_sparse_list([("Z", [q], 1.0)], num_qubits) for q in range(num_qubits)]
    obs.append(
        SparsePauliOp.from_sparse_list([("XX", [0, 1], 0.5), ("ZZ", [0, 1], 0.5)], num_qubits)
    )
    return qc, obs


def exact(qc: QuantumCircuit, obs, values: np.ndarray) -> np.ndarray:
    out = np.empty((len(values), len(obs)))
    for i, v in enumerate(values):
        sv = Statevector(qc.assign_parameters(v))
        out[i] = [sv.expectation_value(o).real for o in obs]
    return out


def run_all(est, qc, obs, values, **kw) -> tuple[np.ndarray, np.ndarray]:
    res = est.run([(qc, o, values) for o in obs], **kw).result()
    return np.stack([r.data.evs for r in res], 1), np.stack([r.data.stds for r in res], 1)
