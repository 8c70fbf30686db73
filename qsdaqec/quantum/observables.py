"""Observables compiled for the fast exact path: a diagonal when every term is I/Z, a dense
matrix otherwise, and the reduced matrix on the low qubits where the operator is the identity
above them (the plan's factored simulation uses it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qiskit.quantum_info import SparsePauliOp

from ..errors import ConfigError


@dataclass
class CompiledObservable:
    diag: np.ndarray | None  # real diagonal (all terms are I/Z)
    matrix: np.ndarray | None  # dense matrix otherwise
    op: SparsePauliOp | None = None
    _reduced: dict | None = None

    def reduced(self, m: int) -> np.ndarray | None:
        """The ``2^m x 2^m`` matrix on qubits ``0..m-1`` if the operator is the identity on all
        higher qubits (``O = I_high (x) O_low``), else None."""
        if self._reduced is None:
            self._reduced = {}
        if m not in self._reduced:
            red = None
            op = self.op
            if op is not None and not (op.paulis.x[:, m:].any() or op.paulis.z[:, m:].any()):
                if m == op.num_qubits:
                    red = op.to_matrix()
                else:
                    labels = [(lbl[-m:], c) for lbl, c in op.to_list()]
                    red = SparsePauliOp.from_list(labels).to_matrix()
            self._reduced[m] = red
        return self._reduced[m]


def compile_observable(op, num_qubits: int) -> CompiledObservable:
    if isinstance(op, dict):
        op = SparsePauliOp.from_list(list(op.items())) if op else SparsePauliOp("I" * num_qubits, 0)
    if not isinstance(op, SparsePauliOp):
        op = SparsePauliOp.from_operator(op)
    if op.num_qubits != num_qubits:
        raise ConfigError(
            f"observable on {op.num_qubits} qubits does not match the circuit's {num_qubits}"
        )
    if not op.paulis.x.any():
        d = op.to_matrix(sparse=True).diagonal()
        if np.allclose(d.imag, 0):
            return CompiledObservable(np.ascontiguousarray(d.real), None, op)
        return CompiledObservable(np.ascontiguousarray(d), None, op)
    return CompiledObservable(None, op.to_matrix(), op)


def apply_observable(o: CompiledObservable, phi: np.ndarray) -> np.ndarray:
    if o.diag is not None:
        return phi * o.diag
    return phi @ o.matrix.T
