"""A parameterised circuit compiled for the fast exact path: :class:`CircuitPlan`.

The plan is what :mod:`qsdaqec.quantum.fast`'s estimator and gradient run on:

* every gate angle is a *linear* function ``A @ params + b`` of the circuit's parameters (the
  Mottonen tree's gate angles are sums of node angles; ``EstimatorQNN`` renames parameters but
  keeps the structure), so one batched pass serves all samples, and gradients with respect to
  the circuit parameters follow from the gate-angle gradients by the chain rule ``dE/dp = A^T dE/dangle``;
* an amplitude-encoding prefix (recognised from ``circuit.metadata["qsdaqec"]`` and checked gate by
  gate against :func:`qsdaqec.quantum.amplitude.tree_gate_sequence`) is replaced by its closed
  form: the tree prepares the real state whose amplitude at leaf ``k`` is the product of
  ``cos(theta/2)`` (left) or ``sin(theta/2)`` (right) along the root-to-leaf path. Built level by
  level, vectorised over samples. Its gradient comes from one bottom-up pass: with
  ``g = dE/dpsi`` at the leaves, ``s_node = cos(t/2) s_left + sin(t/2) s_right`` and
  ``dE/dtheta_node = A_node / 2 * (-sin(t/2) s_left + cos(t/2) s_right)``, ``A_node`` the
  amplitude arriving at the node;
* the rest (ansatz) is simulated exactly on the batched statevector ``(samples, 2^n)``, and
  differentiated by the adjoint method (one backward sweep for all observables at once):
  for a Pauli rotation ``dG/dtheta = G(theta + pi) / 2``, so
  ``dE/dtheta = Re <lambda| G(theta+pi) |phi>`` with ``lambda = (later gates)^dagger O phi_final``.

Gates supported after the prefix: ``rx ry rz`` (linear parameter expressions) and any
fixed gate with a matrix (``h x y z s sdg cx cz swap`` ...). A circuit without a recognised prefix
is simulated gate by gate, which is still exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit

from ..errors import ConfigError
from ._blas import single_thread_blas
from .amplitude import tree_gate_sequence, ucry_matrix
from .decompose import FastPathUnsupported, decompose_for_fast
from .observables import apply_observable

_ROTATIONS = ("rx", "ry", "rz")
_SKIP = ("barrier", "delay")


# ----------------------------------------------------------------------------------------------
# compiling a circuit


def _linear_form(angle, index: dict[Parameter, int], num_params: int) -> tuple[np.ndarray, float]:
    """``angle = coeffs @ params + const``; raises ConfigError if not linear."""
    coeffs = np.zeros(num_params)
    if isinstance(angle, Parameter):
        coeffs[index[angle]] = 1.0
        return coeffs, 0.0
    if not isinstance(angle, ParameterExpression):
        return coeffs, float(angle)
    if not angle.parameters:
        return coeffs, float(angle.numeric())
    for p in angle.parameters:
        d = angle.gradient(p)
        if isinstance(d, ParameterExpression):
            if d.parameters:
                raise ConfigError(
                    f"gate angle {angle}: not linear in {p}; the fast path needs linear expressions"
                )
            d = d.numeric()
        coeffs[index[p]] = float(np.real(d))
    const = angle.bind({p: 0.0 for p in angle.parameters})
    const = const.numeric() if isinstance(const, ParameterExpression) else const
    return coeffs, float(np.real(const))


def unique_rows(x: np.ndarray, blocks: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``x`` and, per row, the index of its distinct row.

    Cheap checks first for the patterns EstimatorQNN produces: all rows equal (shared weights),
    or ``x`` = ``blocks`` copies of one block of rows (per observable tiling).
    """
    n = len(x)
    if n == 0 or (x == x[0]).all():
        return x[:1], np.zeros(n, dtype=np.int64)
    if blocks > 1 and n % blocks == 0:
        m = n // blocks
        if (x.reshape(blocks, m, -1) == x[None, :m]).all():
            return x[:m], np.tile(np.arange(m), blocks)
    uniq, inv = np.unique(x, axis=0, return_inverse=True)
    return uniq, inv.reshape(-1)


def embed(mat: np.ndarray, qubits: tuple[int, ...], m: int) -> np.ndarray:
    """The ``2^m x 2^m`` matrix of gate ``mat`` (qiskit order: qubits[0] least significant)."""
    d = 1 << m
    idx = np.arange(d)
    local = np.zeros(d, dtype=np.int64)
    for j, q in enumerate(qubits):
        local |= ((idx >> q) & 1) << j
    rest = idx.copy()
    for q in qubits:
        rest &= ~(1 << q)
    # out[r, c] = mat[local(r), local(c)] if r and c agree outside `qubits`
    same = rest[:, None] == rest[None, :]
    full = np.where(same, np.asarray(mat)[local[:, None], local[None, :]], 0)
    return full


class _LinearMap:
    """``y = x @ A.T + b`` for parameter rows ``x`` ``(B, P)``, and its transpose for gradients.

    When every row of ``A`` picks one distinct parameter with coefficient 1 (the case for the
    circuits EstimatorQNN hands over: node angles and ansatz angles are the parameters
    themselves), both directions are a gather/scatter instead of a matrix product.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray):
        self.a = np.ascontiguousarray(a, dtype=np.float64)
        self.b = np.asarray(b, dtype=np.float64)
        self.cols = None
        if a.size:
            nz = a != 0
            if (nz.sum(axis=1) == 1).all():
                cols = nz.argmax(axis=1)
                if np.all(a[np.arange(len(a)), cols] == 1.0) and len(set(cols)) == len(cols):
                    self.cols = cols
        self.zero_b = not np.any(self.b)
        # contiguous increasing columns (EstimatorQNN's inputs[0..]): a slice, not a gather
        self.span = None
        if self.cols is not None and len(self.cols):
            c0 = int(self.cols[0])
            if np.array_equal(self.cols, np.arange(c0, c0 + len(self.cols))):
                self.span = slice(c0, c0 + len(self.cols))

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.span is not None:
            y = x[:, self.span]
        elif self.cols is not None:
            y = x[:, self.cols]
        else:
            y = x @ self.a.T
        return y if self.zero_b else y + self.b

    def backward_into(self, g: np.ndarray, out: np.ndarray) -> None:
        """``out += g @ A`` for ``g`` ``(K, B, G)``, ``out`` ``(K, B, P)``."""
        if self.span is not None:
            out[..., self.span] += g
        elif self.cols is not None:
            out[..., self.cols] += g
        else:
            out += g @ self.a


@dataclass
class _Op:
    kind: str  # "rot" or "fixed"
    qubits: tuple[int, ...]
    name: str = ""
    angle: int = -1  # column of the gate-angle array for rotations
    matrix: np.ndarray | None = None  # for fixed gates
    matrix_dag: np.ndarray | None = None
    perm: np.ndarray | None = None  # fixed gates that permute basis states (x, cx, swap, ...)
    phase: np.ndarray | None = None  # ... times a phase per state (None: all 1)
    perm_dag: np.ndarray | None = None
    phase_dag: np.ndarray | None = None


class CircuitPlan:
    """A circuit compiled for batched exact simulation and adjoint differentiation."""

    def __init__(self, circuit: QuantumCircuit, params: Sequence[Parameter] | None = None):
        # params: the parameter order of the values (the original circuit's, for a decomposed
        # one; see compile_plan)
        self.circuit = circuit
        self.params = list(circuit.parameters if params is None else params)
        self.num_params = len(self.params)
        self.param_pos = {p: i for i, p in enumerate(self.params)}
        self.num_qubits = circuit.num_qubits
        self.dim = 1 << self.num_qubits
        index = {p: i for i, p in enumerate(self.params)}
        data = list(circuit.data)
        qidx = [tuple(circuit.find_bit(q).index for q in inst.qubits) for inst in data]

        self.tree_levels = self._match_tree(circuit, data, qidx)
        start = 0
        if self.tree_levels:
            n = self.tree_levels
            seq = tree_gate_sequence(n)
            start = len(seq)
            rows: list[list[np.ndarray]] = [[] for _ in range(n)]
            consts: list[list[float]] = [[] for _ in range(n)]
            for inst, (name, _, level, _step) in zip(data[:start], seq, strict=True):
                if name == "ry":
                    a, c = _linear_form(inst.operation.params[0], index, self.num_params)
                    rows[level].append(a)
                    consts[level].append(c)
            # gate angles beta (level by level, Gray-code order) as functions of the parameters;
            # the node angles are alpha_l = beta_l @ M_l^T per level (see ucry_matrix).
            self.tree_map = _LinearMap(
                np.concatenate([np.array(r) for r in rows]),
                np.concatenate([np.array(c) for c in consts]),
            )
            self.tree_mats = [ucry_matrix(level) for level in range(n)]
            self.tree_mats_t = [np.ascontiguousarray(m.T) for m in self.tree_mats]
            self.tree_mats_half = [0.5 * m for m in self.tree_mats]

        ops: list[_Op] = []
        gate_A, gate_b = [], []
        real = True
        self.product_qubits: list[int] = []
        if not self.tree_levels:
            start = self._match_product(data, qidx)
            if start:
                forms = [
                    _linear_form(i.operation.params[0], index, self.num_params)
                    for i in data[:start]
                ]
                self.product_qubits = [q[0] for q in qidx[:start]]
                # d/da RY(a)|0> = K RY(a)|0> / 2 with K = [[0, -1], [1, 0]], so the derivative
                # state for qubit q is K/2 on q applied to psi: a gather and a sign
                idx = np.arange(self.dim)
                qs = np.array(self.product_qubits)[:, None]
                self._kperm = idx[None, :] ^ (1 << qs)  # (Q, D)
                self._ksign = np.where((idx[None, :] >> qs) & 1, 0.5, -0.5)
                self.prefix_map = _LinearMap(
                    np.array([f[0] for f in forms]), np.array([f[1] for f in forms])
                )
        for inst, qubits in zip(data[start:], qidx[start:], strict=True):
            op = inst.operation
            name = op.name
            if name in _SKIP:
                continue
            if name in _ROTATIONS and isinstance(op.params[0], ParameterExpression):
                a, c = _linear_form(op.params[0], index, self.num_params)
                ops.append(_Op("rot", qubits, name, angle=len(gate_A)))
                gate_A.append(a)
                gate_b.append(c)
                real = real and name == "ry"
                continue
            if getattr(op, "params", None) and any(
                isinstance(p, ParameterExpression) and p.parameters for p in op.params
            ):
                raise ConfigError(
                    f"gate {name} with parameters: not supported by the fast exact path "
                    "(supported: rx, ry, rz with linear angles; fixed gates with a matrix)"
                )
            try:
                mat = np.asarray(op.to_matrix(), dtype=complex)
            except Exception as e:
                raise ConfigError(
                    f"instruction {name}: not supported by the fast exact path ({e})"
                ) from None
            if not np.allclose(mat.imag, 0):
                real = False
            ops.append(_Op("fixed", qubits, name, matrix=mat, matrix_dag=mat.conj().T))
        self.ops = ops
        self.num_angles = len(gate_A)
        self.gate_map = _LinearMap(
            np.array(gate_A).reshape(len(gate_A), self.num_params), np.array(gate_b)
        )
        self.dtype = np.float64 if real else np.complex128
        for o in ops:
            if o.matrix is not None:
                if real:
                    o.matrix = o.matrix.real.copy()
                    o.matrix_dag = o.matrix_dag.real.copy()
                self._monomial(o)
        self.has_prefix = bool(self.tree_levels or self.product_qubits)
        self._prefix_cache: dict[tuple, tuple] = {}
        self.factor = self._factor_plan() if self.has_prefix else None

    def _factor_plan(self):
        """Matrices of the suffix gates on the ``m`` lowest qubits they touch (None if m > 6).

        Used when a tree prefix is followed by gates on few qubits (the head: the ansatz acts on
        4 of 8 qubits): each rotation is ``R(theta) = cos(theta/2) I + sin(theta/2) K`` with
        ``K = -i P`` (P the Pauli, embedded), each fixed gate a ``2^m x 2^m`` matrix.
        """
        m = 1 + max((q for o in self.ops for q in o.qubits), default=0)
        if m > 6:
            return None
        d = 1 << m
        gens = {
            "rx": np.array([[0, -1j], [-1j, 0]]),
            "ry": np.array([[0, -1.0], [1.0, 0]]),
            "rz": np.array([[-1j, 0], [0, 1j]]),
        }
        mats = []
        for o in self.ops:
            if o.kind == "rot":
                (q,) = o.qubits
                k = np.kron(np.kron(np.eye(d >> (q + 1)), gens[o.name]), np.eye(1 << q))
                mats.append(k)
            else:
                mats.append(embed(o.matrix, o.qubits, m))
        self._suffix_cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self._products_cache: dict[tuple, tuple] = {}
        return {
            "m": m,
            "d": d,
            "mats": [np.asarray(x, dtype=self.dtype) for x in mats],
            "eye": np.eye(d, dtype=self.dtype),
        }

    def _suffix_matrices(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``U`` (suffix on the low factor) and ``Q_g`` ``(G, d, d)`` for one row of gate angles.

        Cached for the last few rows: a training step evaluates the same weights in the
        forward and in the backward pass.
        """
        key = row.tobytes()
        hit = self._suffix_cache.get(key)
        if hit is not None:
            return hit
        f = self.factor
        half = 0.5 * row
        cs, sn = np.cos(half), np.sin(half)
        eye = f["eye"]
        u = eye
        qs = []
        for op, mat in zip(self.ops, f["mats"], strict=True):
            if op.kind == "rot":
                qs.append(0.5 * (u.conj().T @ mat @ u))
                u = (cs[op.angle] * eye + sn[op.angle] * mat) @ u
            else:
                u = mat @ u
        qs_arr = np.stack(qs) if qs else np.zeros((0, f["d"], f["d"]), dtype=self.dtype)
        if len(self._suffix_cache) >= 4:
            self._suffix_cache.pop(next(iter(self._suffix_cache)))
        self._suffix_cache[key] = (u, qs_arr)
        return u, qs_arr

    def _run_factor(self, psi, angles, observables, gradient):
        """Expectations (and gradients) via reduced density matrices on the ``m`` low qubits.

        ``psi`` ``(B, 2^n)`` real tree state. With ``U`` the suffix unitary on the low factor,
        ``rho_b = psi_b^T psi_b`` (``psi_b`` reshaped ``(2^(n-m), 2^m)``), ``H_k = U^dag O_k U``:
        ``E = Re tr(H_k rho_b)``, ``dE/dpsi_b = 2 psi_b Re(H_k)``, and for rotation g
        ``dE/dtheta_g = 2 Re tr(H_k Q_g rho_b)`` with ``Q_g = U_<g^dag K_g U_<g / 2``
        (``U_<g`` the gates before g), because ``R_g^dag dR_g/dtheta = K_g / 2``.
        Rows are grouped by their suffix angles (EstimatorQNN: one group, shared weights).
        """
        f = self.factor
        m, d = f["m"], f["d"]
        b = psi.shape[0]
        k = len(observables)
        ps = psi.reshape(b, -1, d)
        rho = (ps.transpose(0, 2, 1) @ ps).reshape(b, d * d)  # rho_b = psi_b^T psi_b, symmetric
        ev = np.empty((k, b))
        g_psi = np.empty((k, b, self.dim)) if gradient else None
        g_ang = np.zeros((k, b, self.num_angles)) if gradient else None
        if self.num_angles:
            uniq, inv = unique_rows(angles)
        else:
            uniq, inv = np.zeros((1, 0)), np.zeros(b, dtype=np.int64)
        for gi, row in enumerate(uniq):
            rows = np.flatnonzero(inv == gi) if len(uniq) > 1 else slice(None)
            hr_flat, h2_cols, x2_flat = self._suffix_products(row, observables, m)
            r = rho[rows]
            ev[:, rows] = hr_flat @ r.T
            if gradient:
                pr = ps[rows]
                nb = pr.shape[0]
                # 2 psi_b Re(H_k) for all k at once: (B' * 2^(n-m), d) @ (d, K * d)
                gp = (pr.reshape(-1, d) @ h2_cols).reshape(nb, -1, k, d)
                g_psi[:, rows] = gp.transpose(2, 0, 1, 3).reshape(k, nb, self.dim)
                if x2_flat is not None:
                    # tr(X rho) = sum_ij X_ij rho_ji, and rho is symmetric
                    ga = x2_flat @ r.T  # (K*G, B')
                    g_ang[:, rows] = ga.reshape(k, -1, nb).transpose(0, 2, 1)
        return ev, g_psi, g_ang

    def _suffix_products(self, row: np.ndarray, observables, m: int):
        """For one row of suffix angles: ``Re H_k`` flattened ``(K, d*d)``, ``2 Re H_k`` side by
        side ``(d, K*d)`` and ``2 Re(H_k Q_g)`` flattened ``(K*G, d*d)`` (None without rotations).
        Cached with the suffix matrices (same weights in a step's forward and backward)."""
        key = (row.tobytes(), tuple(id(o) for o in observables))
        hit = self._products_cache.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], observables, strict=True)):
            return hit[1]
        d = self.factor["d"]
        k = len(observables)
        u, qs = self._suffix_matrices(row)
        obs = np.stack([o.reduced(m) for o in observables])  # (K, d, d)
        h = u.conj().T @ obs @ u  # (K, d, d): U^dag O_k U
        hr = np.ascontiguousarray(h.real)
        h2_cols = np.ascontiguousarray((2.0 * hr).transpose(1, 0, 2).reshape(d, k * d))
        x2 = None
        if len(qs):
            x2 = 2.0 * (h[:, None] @ qs[None]).real.reshape(k * len(qs), d * d)  # H_k Q_g
        val = (hr.reshape(k, d * d), h2_cols, x2)
        if len(self._products_cache) >= 4:
            self._products_cache.pop(next(iter(self._products_cache)))
        self._products_cache[key] = (tuple(observables), val)
        return val

    def _monomial(self, op: _Op) -> None:
        """If the gate maps each basis state to one basis state, store it as a gather + phase."""
        mat = op.matrix
        k = len(op.qubits)
        nz = np.abs(mat) > 1e-12
        if not (nz.sum(axis=1) == 1).all():
            return
        src_local = nz.argmax(axis=1)  # output local index r <- input local index src_local[r]
        coef_local = mat[np.arange(1 << k), src_local]
        idx = np.arange(self.dim)
        local = np.zeros(self.dim, dtype=np.int64)
        for j, q in enumerate(op.qubits):
            local |= ((idx >> q) & 1) << j
        src = idx.copy()
        for j, q in enumerate(op.qubits):
            bit = (src_local[local] >> j) & 1
            src = (src & ~(1 << q)) | (bit << q)
        phase = coef_local[local]
        op.perm = src
        op.phase = None if np.allclose(phase, 1) else phase
        inv = np.empty_like(src)
        inv[src] = idx
        op.perm_dag = inv
        op.phase_dag = None if op.phase is None else np.conj(phase)[inv]

    @staticmethod
    def _match_product(data, qidx) -> int:
        """Length of the leading run of RY gates on distinct qubits (a product-state prefix)."""
        seen: set[int] = set()
        count = 0
        for inst, qubits in zip(data, qidx, strict=True):
            if inst.operation.name != "ry" or qubits[0] in seen:
                break
            seen.add(qubits[0])
            count += 1
        return count

    def _product_forward(self, angles: np.ndarray):
        """Product state ``(B, 2^n)`` of ``RY(a_j)|0>`` on the prefix qubits, ``|0>`` elsewhere."""
        b = angles.shape[0]
        half = 0.5 * angles
        c, s = np.cos(half), np.sin(half)
        col = {q: j for j, q in enumerate(self.product_qubits)}
        psi = np.ones((b, 1))
        zero = np.array([1.0, 0.0])
        for q in range(self.num_qubits - 1, -1, -1):
            j = col.get(q)
            f = np.stack((c[:, j], s[:, j]), axis=1) if j is not None else zero[None, :]
            psi = (psi[:, :, None] * f[:, None, :]).reshape(b, -1)
        return psi, (psi, c, s)

    def _product_backward(self, g: np.ndarray, cache) -> np.ndarray:
        """``dE/da_j`` ``(K, B, Q)`` from ``g = dE/dpsi``: ``<g, K_q psi> / 2`` per prefix qubit
        ``q``, because ``d/da RY(a)|0> = K RY(a)|0> / 2`` (``K = [[0, -1], [1, 0]]``) and the
        other factors do not depend on ``a``."""
        psi = cache[0]
        dpsi = psi[:, self._kperm]  # (B, Q, D): psi with qubit q flipped
        dpsi *= self._ksign
        out = g.transpose(1, 0, 2) @ dpsi.transpose(0, 2, 1)  # (B, K, Q)
        return out.transpose(1, 0, 2)

    def _prefix_forward(self, values: np.ndarray):
        """The prefix state for ``values`` rows; the last two results are kept, because
        EstimatorQNN evaluates the same rows in its forward and then its backward pass."""
        key = (values.shape, float(values.sum()))  # cheap fingerprint, verified below
        hit = self._prefix_cache.get(key)
        if hit is not None and np.array_equal(hit[0], values):
            return hit[1], hit[2]
        if self.tree_levels:
            psi, cache = self._tree_forward(self.tree_map.forward(values))
        else:
            psi, cache = self._product_forward(self.prefix_map.forward(values))
        if len(self._prefix_cache) >= 2:
            self._prefix_cache.pop(next(iter(self._prefix_cache)))
        self._prefix_cache[key] = (values.copy(), psi, cache)
        return psi, cache

    def _prefix_backward_into(self, g_psi: np.ndarray, cache, grads: np.ndarray) -> None:
        if self.tree_levels:
            self.tree_map.backward_into(self._tree_backward(g_psi, cache), grads)
        else:
            self.prefix_map.backward_into(self._product_backward(g_psi, cache), grads)

    @staticmethod
    def _match_tree(circuit: QuantumCircuit, data, qidx) -> int:
        """Number of tree qubits if the circuit starts with the amplitude tree, else 0."""
        meta = (circuit.metadata or {}).get("qsdaqec") or {}
        count = int(meta.get("tree_instructions") or 0)
        if count == 0:
            return 0
        n = circuit.num_qubits
        seq = tree_gate_sequence(n)
        if len(seq) != count or len(data) < count:
            return 0
        for inst, qubits, (name, expected, _, _) in zip(
            data[:count], qidx[:count], seq, strict=True
        ):
            if inst.operation.name != name or qubits != expected:
                return 0
        return n

    # -- simulation ------------------------------------------------------------------------

    def _apply(self, state: np.ndarray, op: _Op, c=None, s=None, dagger=False) -> np.ndarray:
        """Apply ``op`` to ``state`` of shape ``(..., B, D)``; rotations take ``(B,)`` cos/sin."""
        n = self.num_qubits
        lead = state.shape[:-1]
        if op.kind == "rot":
            (q,) = op.qubits
            v = state.reshape(*lead, self.dim >> (q + 1), 2, 1 << q)
            a0, a1 = v[..., 0, :], v[..., 1, :]
            c = c[:, None, None]
            s = (-s if dagger else s)[:, None, None]
            if op.name == "ry":
                out = (c * a0 - s * a1, s * a0 + c * a1)
            elif op.name == "rx":
                out = (c * a0 - 1j * s * a1, -1j * s * a0 + c * a1)
            else:  # rz
                out = ((c - 1j * s) * a0, (c + 1j * s) * a1)
            return np.stack(out, axis=-2).reshape(state.shape)
        if op.perm is not None:
            perm, phase = (op.perm_dag, op.phase_dag) if dagger else (op.perm, op.phase)
            out = state[..., perm]
            return out if phase is None else out * phase
        mat = op.matrix_dag if dagger else op.matrix
        k = len(op.qubits)
        # axes of the (2,)*n view: qubit q is axis n-1-q; the matrix's row index has qubits[0]
        # as its least significant bit, i.e. tensor axes (qubits[k-1], ..., qubits[0]).
        v = state.reshape(*lead, *([2] * n))
        nl = len(lead)
        axes = [nl + n - 1 - q for q in reversed(op.qubits)]
        v = np.moveaxis(v, axes, list(range(v.ndim - k, v.ndim)))
        shp = v.shape
        v = v.reshape(*shp[:-k], 1 << k) @ mat.T
        v = np.moveaxis(v.reshape(shp), list(range(len(shp) - k, len(shp))), axes)
        return np.ascontiguousarray(v).reshape(state.shape)

    def _tree_forward(self, beta: np.ndarray):
        """Closed-form tree state ``(B, 2^n)`` from the gate angles ``beta``; also returns what
        the backward pass needs (the amplitudes of every level, leaves last)."""
        b = beta.shape[0]
        half = np.empty_like(beta)
        half[:, 0] = beta[:, 0]
        for level in range(1, self.tree_levels):
            sl = slice((1 << level) - 1, (1 << (level + 1)) - 1)
            # node angles alpha = M beta
            np.matmul(beta[:, sl], self.tree_mats_t[level], out=half[:, sl])
        half *= 0.5
        th = torch.from_numpy(half)  # torch's vectorised cos/sin: ~3x numpy's here
        cos, sin = torch.cos(th).numpy(), torch.sin(th).numpy()
        amp = np.ones((b, 1))
        amps = []
        for level in range(self.tree_levels):
            sl = slice((1 << level) - 1, (1 << (level + 1)) - 1)
            new = np.empty((b, 1 << level, 2))
            np.multiply(amp, cos[:, sl], out=new[:, :, 0])
            np.multiply(amp, sin[:, sl], out=new[:, :, 1])
            amp = new.reshape(b, -1)
            amps.append(new)  # (B, 2^level, 2): amplitudes arriving at each node's children
        return amp, (amps, cos, sin)

    def _tree_backward(self, g: np.ndarray, cache) -> np.ndarray:
        """``dE/dbeta`` ``(K, B, 2^n - 1)`` (gate angles) from ``g = dE/dpsi`` ``(K, B, 2^n)``.

        Bottom-up, ``s`` = ``g`` contracted with each subtree's normalised state; for a node with
        children amplitudes ``aL = A cos``, ``aR = A sin`` (``A`` arriving at the node):
        ``dE/dalpha = (aL s_right - aR s_left) / 2`` and ``s_node = cos s_left + sin s_right``.
        Then ``dE/dbeta_l = dE/dalpha_l M_l`` per level (the 1/2 folded into ``M_l``).
        """
        amps, cos, sin = cache
        k, b = g.shape[:2]
        out = np.empty((k, b, self.dim - 1))
        s_ = g
        for level in reversed(range(self.tree_levels)):
            sl = slice((1 << level) - 1, (1 << (level + 1)) - 1)
            children = amps[level]
            pairs = s_.reshape(k, b, -1, 2)
            left, right = pairs[..., 0], pairs[..., 1]
            g_node = children[..., 0] * right
            g_node -= children[..., 1] * left
            if level:
                np.matmul(g_node, self.tree_mats_half[level], out=out[:, :, sl])
                s_ = cos[:, sl] * left
                s_ += sin[:, sl] * right
            else:
                out[:, :, 0] = 0.5 * g_node[..., 0]
        return out

    def run(
        self, values: np.ndarray, observables: Sequence[object], gradient: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Expectation values ``(K, B)`` (and gradients ``(K, B, P)``) for parameter rows
        ``values`` ``(B, P)`` in ``self.params`` order and compiled observables (see
        :func:`~qsdaqec.quantum.observables.compile_observable`)."""
        with single_thread_blas():
            return self._run(values, observables, gradient)

    def _run(self, values, observables, gradient):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2:  # a circuit without parameters: one row of none
            values = (
                values.reshape(-1, self.num_params) if self.num_params else values.reshape(1, 0)
            )
        b = values.shape[0]
        angles = self.gate_map.forward(values) if self.num_angles else None
        if self.factor is not None and all(
            o.reduced(self.factor["m"]) is not None for o in observables
        ):
            psi, cache = self._prefix_forward(values)
            ev, g_psi, g_ang = self._run_factor(psi, angles, observables, gradient)
            if not gradient:
                return ev, None
            grads = np.zeros((len(observables), b, self.num_params))
            if self.num_angles:
                self.gate_map.backward_into(g_ang, grads)
            self._prefix_backward_into(g_psi, cache, grads)
            return ev, grads
        if self.has_prefix:
            psi, cache = self._prefix_forward(values)
            phi = psi.astype(self.dtype, copy=False)
        else:
            phi = np.zeros((b, self.dim), dtype=self.dtype)
            phi[:, 0] = 1.0
        half = None
        if angles is not None and angles.size:
            half = 0.5 * angles
            cs, sn = np.cos(half), np.sin(half)
        for op in self.ops:
            if op.kind == "rot":
                phi = self._apply(phi, op, cs[:, op.angle], sn[:, op.angle])
            else:
                phi = self._apply(phi, op)
        ophi = np.stack([apply_observable(o, phi) for o in observables])  # (K, B, D)
        ev = np.einsum("bd,kbd->kb", phi.conj(), ophi).real
        if not gradient:
            return ev, None
        k = len(observables)
        grads = np.zeros((k, b, self.num_params))
        lam = ophi
        if self.ops:
            g_ang = np.zeros((k, b, self.num_angles))
            for op in reversed(self.ops):
                if op.kind == "rot":
                    c, s = cs[:, op.angle], sn[:, op.angle]
                    phi = self._apply(phi, op, c, s, dagger=True)
                    # G(theta + pi): cos -> -sin, sin -> cos
                    dphi = self._apply(phi, op, -s, c)
                    g_ang[:, :, op.angle] = np.einsum("kbd,bd->kb", lam.conj(), dphi).real
                    lam = self._apply(lam, op, c, s, dagger=True)
                else:
                    phi = self._apply(phi, op, dagger=True)
                    lam = self._apply(lam, op, dagger=True)
            self.gate_map.backward_into(g_ang, grads)
        if self.has_prefix:
            self._prefix_backward_into(2.0 * lam.real, cache, grads)
        return ev, grads


def compile_plan(circuit: QuantumCircuit) -> CircuitPlan:
    """The circuit's plan; a circuit outside the gate set is decomposed into
    :data:`~qsdaqec.quantum.decompose.FAST_BASIS` first. :class:`FastPathUnsupported` (with the
    reason) when even that does not fit."""
    try:
        return CircuitPlan(circuit)
    except ConfigError as first:
        decomposed = decompose_for_fast(circuit)
        if decomposed is None:
            raise FastPathUnsupported(str(first)) from None
        try:
            return CircuitPlan(decomposed, params=list(circuit.parameters))
        except ConfigError as e:
            raise FastPathUnsupported(str(e)) from None
