"""Amplitude encoding: the ``2^n`` features as the amplitudes of ``n`` qubits (the paper's).

The ``num_features``-dimensional non-negative feature vector ``x`` (256 by default) is loaded as
the state ``|x> / ||x||`` of ``n = log2(num_features)`` qubits (8 by default) by a binary tree
of uniformly controlled RY rotations (Mottonen et al., quant-ph/0407010). Tree level ``l``
(0 = root) rotates qubit ``n-1-l`` controlled by the ``l`` more significant qubits; the node
``(l, p)`` (``p`` = the ``l`` most significant bits of the basis index) has the angle

    theta_(l,p) = 2 * atan2(||x[right subtree]||, ||x[left subtree]||)

Each uniformly controlled rotation is decomposed into ``2^l`` RY and ``2^l`` CNOT gates in
Gray-code order (:func:`ucry_matrix`); the gate angles ``beta`` are a fixed linear map of the
node angles ``alpha`` (``beta_l = alpha_l @ M_l / 2^l`` per level). The circuit's
``num_features - 1`` (255) input ``Parameter``s are these gate angles, one per RY, so one
unbound circuit serves every sample; :func:`amplitude_inputs` computes node angles and then
gate angles classically (differentiably, in torch).

Why gate angles and not node angles as the Parameters: with node angles each RY angle is a
ParameterExpression of up to 128 terms (16k terms in all). Every bind then costs ~1 s
(``assign_parameters``), EstimatorQNN's parameter renaming ~3-10 s, and the OpenQASM file grows
to hundreds of kB; any simulator or device path binds per sample. With one Parameter per gate
all of that is cheap, and the map is still exact and linear.

torch is imported inside the functions that need it: ``qsdaqec --help`` reads the encoding
registry (:mod:`qsdaqec.quantum.encodings`) and must not load torch.
"""

from __future__ import annotations

import functools

import numpy as np
from qiskit.circuit import ParameterVector, QuantumCircuit

from ..errors import ConfigError
from ._blas import single_thread_blas

# Convention for an all-zero (sub)vector: every norm gets this tiny floor added before the square
# root, so a zero subtree splits evenly (theta = pi/2) and the all-zero feature vector is encoded
# as the uniform superposition |+>^n. Values and gradients stay finite; for any vector whose
# subtree norms are >> 1e-12 the effect on the angles is below 1e-12 / norm.
NORM_FLOOR_SQ = 1e-24


def num_qubits_for(num_features: int) -> int:
    """``log2(num_features)``; a ``ConfigError`` unless it is a power of 2."""
    n = num_features.bit_length() - 1
    if num_features < 2 or 1 << n != num_features:
        raise ConfigError(
            f"num_features={num_features}: amplitude encoding needs a power of 2 "
            "(e.g. 256 = 2^8 amplitudes on 8 qubits)"
        )
    return n


def gray(i: int) -> int:
    return i ^ (i >> 1)


@functools.lru_cache(maxsize=32)
def ucry_matrix(k: int) -> np.ndarray:
    """``M[c, i] = (-1)^popcount(c & gray(i))``: node angles = ``M @ gate angles``.

    A uniformly controlled RY with ``k`` controls decomposes into ``RY(beta_i) CNOT(ctrl_i)`` for
    ``i = 0 .. 2^k-1``, where ``ctrl_i`` is the bit in which ``gray(i)`` and ``gray(i+1)`` differ.
    Commuting the X's of the CNOTs to the end flips the sign of ``beta_i`` iff the control state
    ``c`` shares an odd number of set bits with ``gray(i)``; the X's cancel (each control bit flips
    an even number of times around the cyclic Gray code). ``M^T M = 2^k I``, so
    ``beta = M^T alpha / 2^k``.
    """
    n = 1 << k
    c = np.arange(n)[:, None]
    g = np.array([gray(i) for i in range(n)])[None, :]
    v = c & g
    parity = np.zeros_like(v)
    while v.any():
        parity ^= v & 1
        v = v >> 1
    m = np.where(parity == 0, 1.0, -1.0)
    m.flags.writeable = False
    return m


def ucry_control_bits(k: int) -> list[int]:
    """For each of the ``2^k`` steps, the control bit whose CNOT follows ``RY(beta_i)``."""
    n = 1 << k
    return [(gray(i) ^ gray((i + 1) % n)).bit_length() - 1 for i in range(n)]


def tree_gate_sequence(num_qubits: int) -> list[tuple[str, tuple[int, ...], int, int]]:
    """The amplitude tree's gates in order: ``(name, qubits, level, step)``.

    For ``ry`` the qubit is the target; for ``cx`` the qubits are ``(control, target)``. ``step`` is
    the Gray-code step ``i`` inside the level (the index of the gate angle ``beta_i``).
    """
    seq: list[tuple[str, tuple[int, ...], int, int]] = []
    for level in range(num_qubits):
        target = num_qubits - 1 - level
        if level == 0:
            seq.append(("ry", (target,), 0, 0))
            continue
        ctrl_bits = ucry_control_bits(level)
        for i in range(1 << level):
            seq.append(("ry", (target,), level, i))
            # bit j of the control state c is qubit target + 1 + j
            seq.append(("cx", (target + 1 + ctrl_bits[i], target), level, i))
    return seq


def append_amplitude_tree(qc: QuantumCircuit, beta: ParameterVector, num_qubits: int) -> int:
    """Append the tree with gate-angle parameters ``beta`` (level by level, Gray-code step
    order within a level: ``beta[2^l - 1 + i]``); return the number of instructions."""
    count = 0
    for name, qubits, level, step in tree_gate_sequence(num_qubits):
        if name == "cx":
            qc.cx(*qubits)
        else:
            qc.ry(beta[(1 << level) - 1 + step], qubits[0])
        count += 1
    return count


# ----------------------------------------------------------------------------------------------
# classical input map: features -> gate angles


def tree_angles(x):
    """Node angles (heap order, ``(B, F-1)``) of the amplitude tree for ``(B, F)`` features.

    Works on torch tensors (differentiable) and numpy arrays. Negative entries are encoded by
    magnitude (the RY tree prepares a non-negative state; MobileNetV2's pooled ReLU6 features
    are non-negative anyway). An all-zero vector gives the uniform state (see NORM_FLOOR_SQ).
    """
    import torch

    is_numpy = isinstance(x, np.ndarray)
    t = torch.as_tensor(x, dtype=torch.float64) if is_numpy else x
    if t.dim() != 2:
        raise ConfigError(
            f"features: expected a (batch, features) array, got shape {tuple(t.shape)}"
        )
    b, f = t.shape
    n = f.bit_length() - 1
    if 1 << n != f:
        raise ConfigError(f"features: {f} columns; amplitude encoding needs a power of 2")
    sq = t * t  # level-n squared magnitudes; scale-invariant, so no normalisation needed
    levels = []
    for _ in range(n):
        pairs = sq.reshape(b, -1, 2)
        left, right = pairs[..., 0], pairs[..., 1]
        theta = 2.0 * torch.atan2(
            torch.sqrt(right + NORM_FLOOR_SQ), torch.sqrt(left + NORM_FLOOR_SQ)
        )
        levels.append(theta)
        sq = left + right
    out = torch.cat(levels[::-1], dim=1)  # root level first = heap order
    return out.numpy() if is_numpy else out


@functools.lru_cache(maxsize=64)
def _gate_angle_matrix(level: int, dtype, device):
    import torch

    return torch.as_tensor(ucry_matrix(level) / (1 << level), dtype=dtype, device=device)


def node_to_gate_angles(alpha):
    """Mottonen gate angles ``beta`` (the circuit's inputs) from node angles ``alpha`` (heap
    order, ``(B, 2^n - 1)``): per level ``beta_l = alpha_l @ M_l / 2^l``. torch or numpy."""
    import torch

    is_numpy = isinstance(alpha, np.ndarray)
    t = torch.as_tensor(alpha) if is_numpy else alpha
    n = (t.shape[-1] + 1).bit_length() - 1
    parts = []
    for level in range(n):
        a = t[..., (1 << level) - 1 : (1 << (level + 1)) - 1]
        m = _gate_angle_matrix(level, t.dtype, t.device)
        parts.append(a @ m)
    out = torch.cat(parts, dim=-1)
    return out.numpy() if is_numpy else out


@functools.lru_cache(maxsize=64)
def _scaled_ucry(level: int, transpose: bool) -> np.ndarray:
    m = ucry_matrix(level).T if transpose else ucry_matrix(level)
    out = np.ascontiguousarray(m / (1 << level))
    out.flags.writeable = False
    return out


def _levels_matmul(a: np.ndarray, transpose: bool) -> np.ndarray:
    """Per tree level ``a_l @ M_l / 2^l`` (``M_l^T`` if ``transpose``) on heap-ordered rows."""
    out = np.empty_like(a)
    out[:, 0] = a[:, 0]
    for level in range(1, (a.shape[1] + 1).bit_length() - 1):
        lo, hi = (1 << level) - 1, (1 << (level + 1)) - 1
        np.matmul(a[:, lo:hi], _scaled_ucry(level, transpose), out=out[:, lo:hi])
    return out


def _amplitude_inputs_function():
    import torch

    class AmplitudeInputs(torch.autograd.Function):
        """Features ``(B, 2^n)`` -> gate angles ``(B, 2^n - 1)``, with a fused analytic backward.

        Same values as ``node_to_gate_angles(tree_angles(x))`` (float64 inside); the backward is
        one top-down pass instead of autograd through ~40 small ops. With ``sL, sR`` the floored
        subtree norms and ``S = sL^2 + sR^2``: ``dalpha/dL = -sR / (S sL)``,
        ``dalpha/dR = sL / (S sR)``, and ``dL/dx_k = 2 x_k`` for each leaf ``k`` under the node.
        """

        @staticmethod
        def forward(ctx, x):
            # numpy inside: a few dozen tiny array ops cost several times less than in torch
            with single_thread_blas():
                return AmplitudeInputs._forward(ctx, x)

        @staticmethod
        def _forward(ctx, x):
            t = x.detach().to(device="cpu", dtype=torch.float64).numpy()
            b, f = t.shape
            # sums of squares of every subtree in heap order (node j has children 2j+1, 2j+2;
            # leaves are f-1 .. 2f-2), so all left / right children are two strided views
            sums = np.empty((b, 2 * f - 1))
            np.multiply(t, t, out=sums[:, f - 1 :])
            for level in reversed(range(f.bit_length() - 1)):
                lo, hi = (1 << level) - 1, (1 << (level + 1)) - 1
                np.add(
                    sums[:, 2 * lo + 1 : 2 * hi + 1 : 2],
                    sums[:, 2 * lo + 2 : 2 * hi + 2 : 2],
                    out=sums[:, lo:hi],
                )
            nl = np.sqrt(sums[:, 1::2] + NORM_FLOOR_SQ)
            nr = np.sqrt(sums[:, 2::2] + NORM_FLOOR_SQ)
            alpha = np.arctan2(nr, nl)
            alpha *= 2.0
            beta = _levels_matmul(alpha, transpose=False)
            ctx.saved = (t, nl, nr)
            ctx.like = x
            return torch.from_numpy(beta).to(device=x.device, dtype=x.dtype)

        @staticmethod
        def backward(ctx, g_beta):
            with single_thread_blas():
                return AmplitudeInputs._backward(ctx, g_beta)

        @staticmethod
        def _backward(ctx, g_beta):
            t, nl, nr = ctx.saved
            g = g_beta.detach().to(device="cpu", dtype=torch.float64).numpy()
            b, f = t.shape
            ga = _levels_matmul(g, transpose=True)  # dL/dalpha
            ga /= nl * nl + nr * nr
            # dL/d(subtree sum of squares), heap order: own angle's term, then (top-down) the
            # parent's total, since a parent's sum is its children's sum
            gs = np.empty((b, 2 * f - 1))
            gs[:, 0] = 0.0
            np.multiply(ga, -nr / nl, out=gs[:, 1::2])
            np.multiply(ga, nl / nr, out=gs[:, 2::2])
            for level in range(1, f.bit_length()):
                lo, hi = (1 << level) - 1, (1 << (level + 1)) - 1
                parent = gs[:, (lo - 1) // 2 : (hi - 1) // 2]
                gs[:, lo:hi:2] += parent  # left children
                gs[:, lo + 1 : hi : 2] += parent  # right children
            leaves = gs[:, f - 1 :]
            leaves *= t
            leaves *= 2.0
            like = ctx.like
            return torch.from_numpy(leaves).to(device=like.device, dtype=like.dtype)

    return AmplitudeInputs


_AMPLITUDE_INPUTS = None


def amplitude_inputs(x):
    """The amplitude circuit's input values (gate angles) for features ``x`` ``(B, 2^n)``;
    differentiable (fused backward). Equals ``node_to_gate_angles(tree_angles(x))``."""
    global _AMPLITUDE_INPUTS
    if _AMPLITUDE_INPUTS is None:
        _AMPLITUDE_INPUTS = _amplitude_inputs_function()
    return _AMPLITUDE_INPUTS.apply(x)


def amplitude_feature_map(x, num_features: int):
    """Features ``(B, num_features)`` -> the circuit's gate angles ``(B, num_features - 1)``.

    Node angles (:func:`tree_angles`; the L2 normalisation is implicit: the angles only depend
    on ratios of subtree norms), then gate angles (:func:`node_to_gate_angles`); numpy arrays in
    plain numpy, torch tensors differentiably through :func:`amplitude_inputs`.
    """
    if x.shape[-1] != num_features:
        raise ConfigError(
            f"features: {x.shape[-1]} columns, the amplitude head expects {num_features}"
        )
    if isinstance(x, np.ndarray):
        return node_to_gate_angles(tree_angles(x))
    if x.dim() != 2:
        raise ConfigError(
            f"features: expected a (batch, features) array, got shape {tuple(x.shape)}"
        )
    return amplitude_inputs(x)
