"""The ``schmidt`` encoding: the paper's amplitude state, cut down to what the head measures.

The head measures ``Z`` on its ``q`` ansatz qubits only (the ``q`` least significant of the
amplitude state's ``n``), and the ansatz acts on them only, so its outputs depend on the
amplitude state ``|x>/||x||`` through the reduced state of those qubits alone:

    rho = M^T M / ||x||^2,   M[h, l] = x[h * 2^q + l]   (2^(n-q) x 2^q)

Its leading eigenvector ``v`` (the leading Schmidt vector of ``|x>`` on the measured qubits) is
a pure state of ``q`` qubits, loaded by a ``q``-qubit amplitude tree (``2^q - 2`` CNOTs: 14 for
the paper's 4 ansatz qubits, against 254 for the 8-qubit tree). The head's outputs equal the
paper's exactly when ``rho`` has rank one; otherwise they are those of the state closest to
``rho``, with fidelity ``<v|rho|v>`` (:func:`schmidt_fidelity`; ``bench/schmidt_fidelity.py``
reports it on a run's features). The features are non-negative (ReLU), so ``M^T M`` has a
non-negative leading eigenvector (Perron-Frobenius) that the tree (non-negative amplitudes)
loads as it is.

``v`` is computed by a fixed number of power-iteration steps from ``M``'s column sums: the same
arithmetic in numpy and torch, differentiable without the eigenvector-derivative terms that
blow up at near-degenerate eigenvalues, and non-negative at every step. Both arrays' ``sum``,
``swapaxes`` and ``@`` are used, so one function serves both.
"""

from __future__ import annotations

from .amplitude import NORM_FLOOR_SQ, num_qubits_for

POWER_STEPS = 8
"""Power-iteration steps (see :func:`leading_vector`). On trained runs' test features the
leading eigenvalue dominates (median lambda2/lambda1 0.12-0.21) and 8 steps reach the best
fidelity to within 5e-5 (``python bench/schmidt_fidelity.py RUN``; docs/quantum.md)."""


def _blocks(x, ansatz_qubits: int):
    """``(B, 2^n)`` features -> ``M``: ``(B, 2^(n-q), 2^q)``, columns = measured-qubit index."""
    n = num_qubits_for(x.shape[-1])
    if ansatz_qubits > n:
        raise ValueError(f"{ansatz_qubits} measured qubits of a {n}-qubit state")
    return x.reshape(x.shape[0], -1, 1 << ansatz_qubits)


def leading_vector(x, ansatz_qubits: int, steps: int = POWER_STEPS):
    """``(B, 2^n)`` non-negative features -> ``(B, 2^q)`` unit vectors ``v`` (numpy or torch):
    ``steps`` power iterations of ``M^T M`` from ``M``'s column sums. An all-zero row gives the
    zero vector (the tree then loads the uniform superposition, as the amplitude encoding does)."""
    m = _blocks(x, ansatz_qubits)
    mt = m.swapaxes(-1, -2)
    v = m.sum(1)
    for _ in range(steps):
        v = (mt @ (m @ v[..., None]))[..., 0]
        v = v / ((v * v).sum(-1) + NORM_FLOOR_SQ)[..., None] ** 0.5
    return v


def schmidt_fidelity(x, ansatz_qubits: int, steps: int = POWER_STEPS):
    """``<v|rho|v>`` per sample: how much of the measured qubits' exact reduced state the
    encoded pure state captures (1 = the paper's outputs exactly)."""
    m = _blocks(x, ansatz_qubits)
    v = leading_vector(x, ansatz_qubits, steps)
    mv = (m @ v[..., None])[..., 0]
    total = (x * x).sum(-1) + NORM_FLOOR_SQ
    return (mv * mv).sum(-1) / (total * ((v * v).sum(-1) + NORM_FLOOR_SQ))
