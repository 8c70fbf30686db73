"""Local execution: reduced density matrices from Aer, then Pauli expectations with readout
error, shot sampling and readout mitigation done in numpy on the measured qubits only.

qiskit-aer and qiskit-ibm-runtime are imported inside the functions that use them: they take
about 1.5 s to import, and ``qsdaqec --help`` imports this module.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from ..errors import BackendError

_H = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
_SDG = np.diag([1, -1j])
#: rotation that maps the X / Y eigenbasis onto Z before a computational-basis measurement
_ROT = {"Z": np.eye(2, dtype=complex), "X": _H, "Y": _H @ _SDG}


def aer_simulator(noisy: bool, seed: int | None) -> Any:
    from qiskit_aer import AerSimulator

    threads = os.cpu_count() or 1
    return AerSimulator(
        method="density_matrix" if noisy else "statevector",
        seed_simulator=seed,
        # parallelise over parameter sets, not inside a small state (that thrashes)
        max_parallel_threads=threads,
        max_parallel_experiments=threads,
        statevector_parallel_threshold=22,
    )


def reduced_density_matrices(
    circuit: QuantumCircuit,
    support: list[int],
    values: np.ndarray,
    noise_model: Any = None,
    seed: int | None = None,
) -> np.ndarray:
    """``(U, 2**s, 2**s)`` density matrices of ``support`` (little-endian) after ``circuit``
    for each row of ``values`` (columns in ``circuit.parameters`` order)."""
    circ = circuit.copy()
    circ.save_density_matrix(qubits=support, label="rho")
    sim = aer_simulator(noise_model is not None, seed)
    if noise_model is not None:
        sim.set_options(noise_model=noise_model)
    values = np.atleast_2d(np.asarray(values, dtype=float))
    if circ.num_parameters == 0:
        res = sim.run(circ, shots=1).result()
        rho = np.asarray(res.data(0)["rho"].data)
        return np.broadcast_to(rho, (values.shape[0],) + rho.shape).copy()
    binds = {p: values[:, i] for i, p in enumerate(circ.parameters)}
    res = sim.run(circ, parameter_binds=[binds], shots=1).result()
    if not res.success:  # pragma: no cover - Aer reports errors in the result
        raise BackendError(f"Aer simulation failed: {res.status}")
    return np.stack([np.asarray(res.data(i)["rho"].data) for i in range(values.shape[0])])


def _apply_1q(tensor: np.ndarray, mat: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(tensor, axis, -1)
    return np.moveaxis(moved @ mat.T, -1, axis)


def qwc_groups(labels: list[str]) -> list[tuple[str, list[int]]]:
    """Greedy qubit-wise-commuting groups: (basis label with I->Z, indices into labels)."""
    groups: list[tuple[list[str], list[int]]] = []
    for i, lab in enumerate(labels):
        for basis, members in groups:
            if all(a == "I" or b == "I" or a == b for a, b in zip(lab, basis, strict=False)):
                for j, ch in enumerate(lab):
                    if ch != "I":
                        basis[j] = ch
                members.append(i)
                break
        else:
            groups.append((list(lab), [i]))
    return [("".join(c if c != "I" else "Z" for c in b), m) for b, m in groups]


def apply_readout(probs: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """Apply per-qubit matrices ``mats[j]`` (qubit j little-endian) to ``probs`` (U, 2**s)."""
    s = mats.shape[0]
    t = probs.reshape((probs.shape[0],) + (2,) * s)
    for j in range(s):
        t = _apply_1q(t, mats[j], axis=s - j)
    return t.reshape(probs.shape)


def expectations(
    rhos: np.ndarray,
    labels: list[str],
    *,
    readout: np.ndarray | None = None,
    shots: int | None = None,
    mitigation: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Expectations ``(U, Q)`` and standard errors of Pauli ``labels`` (length s, qiskit order)
    on reduced density matrices ``rhos`` ``(U, 2**s, 2**s)``.

    ``readout[j]``: assignment matrix ``A[measured, prepared]`` of support qubit j (applied to
    the outcome distribution); ``shots``: sample that many outcomes per row and basis (None:
    exact); ``mitigation[j]``: assignment matrix to invert (tensored readout mitigation).
    """
    u, dim, _ = rhos.shape
    s = int(np.log2(dim))
    rng = rng or np.random.default_rng()
    evs = np.zeros((u, len(labels)))
    stds = np.zeros((u, len(labels)))
    bits = np.arange(dim)
    inverse = np.linalg.inv(mitigation) if mitigation is not None else None
    for basis, members in qwc_groups(labels):
        t = rhos.reshape((u,) + (2,) * (2 * s))
        for j, ch in enumerate(reversed(basis)):
            if ch != "Z":
                rot = _ROT[ch]
                t = _apply_1q(t, rot, axis=s - j)
                t = _apply_1q(t, rot.conj(), axis=2 * s - j)
        rho = t.reshape(u, dim, dim)
        probs = np.clip(np.real(np.einsum("uii->ui", rho)), 0, None)
        probs /= probs.sum(axis=1, keepdims=True)
        if readout is not None:
            probs = apply_readout(probs, readout)
        if shots is not None:
            probs = (
                rng.multinomial(int(shots), np.clip(probs, 0, None) / probs.sum(1, keepdims=True))
                / shots
            )
        if inverse is not None:
            probs = apply_readout(probs, inverse)
        for i in members:
            mask = sum(1 << j for j, ch in enumerate(reversed(labels[i])) if ch != "I")
            parity = np.array([bin(b & mask).count("1") & 1 for b in bits])
            sign = 1.0 - 2.0 * parity
            ev = probs @ sign
            evs[:, i] = ev
            if shots is not None:
                gain = 1.0
                if inverse is not None:
                    for j in range(s):
                        if mask >> j & 1:
                            gain /= max(abs(np.linalg.det(mitigation[j])), 1e-6)
                stds[:, i] = gain * np.sqrt(np.clip(1 - (ev / gain) ** 2, 0, 1) / shots)
    return evs, stds


def calibrate_readout(
    readout: np.ndarray, shots: int | None, rng: np.random.Generator
) -> np.ndarray:
    """Assignment matrices as a calibration run would measure them: prepare |0> and |1> on each
    qubit, ``shots`` each (exact model matrices when ``shots`` is None)."""
    if shots is None:
        return readout.copy()
    est = np.empty_like(readout)
    for j, a in enumerate(readout):
        p1_given0 = rng.binomial(shots, a[1, 0]) / shots
        p0_given1 = rng.binomial(shots, a[0, 1]) / shots
        est[j] = [[1 - p1_given0, p0_given1], [p1_given0, 1 - p0_given1]]
    return est
