"""The fast exact path: a ``BaseEstimatorV2`` and a ``BaseEstimatorGradient`` for the head circuits.

Both run on :class:`CircuitPlan`, a compiled form of a parameterised circuit:

* every gate angle is a *linear* function ``A @ params + b`` of the circuit's parameters (the
  Mottonen tree's gate angles are sums of node angles; ``EstimatorQNN`` renames parameters but
  keeps the structure), so one batched pass serves all samples, and gradients with respect to
  the circuit parameters follow from the gate-angle gradients by the chain rule ``dE/dp = A^T dE/dangle``;
* an amplitude-encoding prefix (recognised from ``circuit.metadata["qsdaqec"]`` and checked gate by
  gate against :func:`qsdaqec.quantum.circuits.tree_gate_sequence`) is replaced by its closed
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
is simulated gate by gate, which is still exact. Results are exact (``precision`` is accepted
for API compatibility and ignored, like qiskit-machine-learning's exact ``QMLEstimator``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit
from qiskit.primitives import BaseEstimatorV2, DataBin, PrimitiveJob, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.providers import Options
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.gradients import BaseEstimatorGradient, EstimatorGradientResult

from ..errors import ConfigError
from .circuits import tree_gate_sequence, ucry_matrix

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


@dataclass
class _Op:
    kind: str  # "rot" or "fixed"
    qubits: tuple[int, ...]
    name: str = ""
    angle: int = -1  # row of CircuitPlan.gate_A for rotations
    matrix: np.ndarray | None = None  # for fixed gates
    matrix_dag: np.ndarray | None = None


class CircuitPlan:
    """A circuit compiled for batched exact simulation and adjoint differentiation."""

    def __init__(self, circuit: QuantumCircuit):
        self.circuit = circuit
        self.params = list(circuit.parameters)
        self.num_params = len(self.params)
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
            for inst, (name, _, level, _step) in zip(data[:start], seq):
                if name == "ry":
                    a, c = _linear_form(inst.operation.params[0], index, self.num_params)
                    rows[level].append(a)
                    consts[level].append(c)
            # node angles alpha = M @ beta per level (beta = the level's gate angles in order)
            node_A, node_b = [], []
            for level in range(n):
                m = ucry_matrix(level)
                node_A.append(m @ np.array(rows[level]))
                node_b.append(m @ np.array(consts[level]))
            self.tree_A = np.concatenate(node_A)  # (2^n - 1, P), heap order
            self.tree_b = np.concatenate(node_b)

        ops: list[_Op] = []
        gate_A, gate_b = [], []
        real = True
        for inst, qubits in zip(data[start:], qidx[start:]):
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
        self.gate_A = np.array(gate_A).reshape(len(gate_A), self.num_params)
        self.gate_b = np.array(gate_b)
        self.dtype = np.float64 if real else np.complex128
        if real:
            for o in ops:
                if o.matrix is not None:
                    o.matrix = o.matrix.real.copy()
                    o.matrix_dag = o.matrix_dag.real.copy()

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
        for inst, qubits, (name, expected, _, _) in zip(data, qidx, seq):
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

    def _tree_forward(self, theta: np.ndarray):
        """Closed-form tree state ``(B, 2^n)`` and the per-level arriving amplitudes/cos/sin."""
        b = theta.shape[0]
        amp = np.ones((b, 1))
        cache = []
        for level in range(self.tree_levels):
            t = theta[:, (1 << level) - 1 : (1 << (level + 1)) - 1] * 0.5
            c, s = np.cos(t), np.sin(t)
            cache.append((amp, c, s))
            amp = np.stack((amp * c, amp * s), axis=-1).reshape(b, -1)
        return amp, cache

    def _tree_backward(self, g: np.ndarray, cache) -> np.ndarray:
        """``dE/dtheta_node`` ``(K, B, 2^n - 1)`` from ``g = dE/dpsi`` ``(K, B, 2^n)``."""
        k, b = g.shape[:2]
        out = np.empty((k, b, self.dim - 1))
        s_ = g
        for level in reversed(range(self.tree_levels)):
            amp, c, s = cache[level]
            pairs = s_.reshape(k, b, -1, 2)
            sl, sr = pairs[..., 0], pairs[..., 1]
            out[:, :, (1 << level) - 1 : (1 << (level + 1)) - 1] = 0.5 * amp * (-s * sl + c * sr)
            s_ = c * sl + s * sr
        return out

    def run(
        self, values: np.ndarray, observables: Sequence[object], gradient: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Expectation values ``(K, B)`` (and gradients ``(K, B, P)``) for parameter rows
        ``values`` ``(B, P)`` in ``self.params`` order and compiled observables (see
        :func:`compile_observable`)."""
        values = np.asarray(values, dtype=np.float64).reshape(-1, self.num_params)
        b = values.shape[0]
        angles = values @ self.gate_A.T + self.gate_b if len(self.ops) else None
        if self.tree_levels:
            theta = values @ self.tree_A.T + self.tree_b
            psi, cache = self._tree_forward(theta)
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
        ophi = np.stack([_apply_obs(o, phi) for o in observables])  # (K, B, D)
        ev = np.einsum("bd,kbd->kb", phi.conj(), ophi).real
        if not gradient:
            return ev, None
        k = len(observables)
        grads = np.zeros((k, b, self.num_params))
        lam = ophi
        if self.ops:
            g_ang = np.zeros((k, b, len(self.gate_b)))
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
            grads += g_ang @ self.gate_A
        if self.tree_levels:
            g_theta = self._tree_backward(2.0 * lam.real, cache)
            grads += g_theta @ self.tree_A
        return ev, grads


# ----------------------------------------------------------------------------------------------
# observables


@dataclass
class CompiledObservable:
    diag: np.ndarray | None  # real diagonal (all terms are I/Z)
    matrix: np.ndarray | None  # dense matrix otherwise


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
            return CompiledObservable(np.ascontiguousarray(d.real), None)
        return CompiledObservable(np.ascontiguousarray(d), None)
    return CompiledObservable(None, op.to_matrix())


def _apply_obs(o: CompiledObservable, phi: np.ndarray) -> np.ndarray:
    if o.diag is not None:
        return phi * o.diag
    return phi @ o.matrix.T


class _IdCache:
    """Small identity-keyed cache that keeps its keys alive (ids are not reused while cached)."""

    def __init__(self, size: int = 64):
        self._d: OrderedDict[int, tuple[object, object]] = OrderedDict()
        self._size = size

    def get(self, key_obj, make):
        k = id(key_obj)
        hit = self._d.get(k)
        if hit is not None and hit[0] is key_obj:
            self._d.move_to_end(k)
            return hit[1]
        val = make(key_obj)
        self._d[k] = (key_obj, val)
        if len(self._d) > self._size:
            self._d.popitem(last=False)
        return val


class _PlanCache:
    def __init__(self):
        self._plans = _IdCache(32)
        self._obs = _IdCache(256)
        self._obs_by_value: dict[tuple, CompiledObservable] = {}

    def plan(self, circuit: QuantumCircuit) -> CircuitPlan:
        return self._plans.get(circuit, CircuitPlan)

    def observable(self, op, num_qubits: int) -> CompiledObservable:
        if isinstance(op, dict):
            key = (num_qubits, tuple(sorted(op.items())))
            hit = self._obs_by_value.get(key)
            if hit is None:
                hit = compile_observable(op, num_qubits)
                if len(self._obs_by_value) > 1024:
                    self._obs_by_value.clear()
                self._obs_by_value[key] = hit
            return hit
        return self._obs.get(op, lambda o: compile_observable(o, num_qubits))


_CACHE = _PlanCache()


# ----------------------------------------------------------------------------------------------
# the primitives


class FastEstimator(BaseEstimatorV2):
    """Exact, batched estimator for the head circuits (any circuit of supported gates).

    ``precision`` is accepted and ignored: results are exact and ``stds`` are 0.
    """

    def __init__(self):
        self._cache = _CACHE

    def run(self, pubs: Iterable, *, precision: float | None = None) -> PrimitiveJob:
        coerced = [EstimatorPub.coerce(pub, 0.0) for pub in pubs]
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult[PubResult]:
        # Pubs that share a circuit and parameter values (EstimatorQNN sends one pub per
        # observable) are simulated once with all their observables.
        prepared = []
        groups: dict[tuple, list[int]] = {}
        for i, pub in enumerate(pubs):
            plan = self._cache.plan(pub.circuit)
            if plan.num_params:
                vals = pub.parameter_values.as_array(plan.params)
            else:
                vals = np.zeros((*pub.parameter_values.shape, 0))
            vshape = vals.shape[:-1]
            vals = np.ascontiguousarray(vals.reshape(-1, plan.num_params), dtype=np.float64)
            key = (id(plan), vals.shape, hash(vals.tobytes()))
            groups.setdefault(key, []).append(i)
            prepared.append((plan, vals, vshape))
        results: list[PubResult | None] = [None] * len(pubs)
        for idxs in groups.values():
            plan, vals, _ = prepared[idxs[0]]
            obs_list, slots = [], []
            for i in idxs:
                oarr = pubs[i].observables
                flat = oarr.ravel().tolist() if oarr.ndim else [oarr.tolist()]
                slots.append((len(obs_list), len(flat)))
                obs_list.extend(self._cache.observable(o, plan.num_qubits) for o in flat)
            ev, _ = plan.run(vals, obs_list)  # (K, N)
            for i, (start, count) in zip(idxs, slots):
                pub = pubs[i]
                _, _, vshape = prepared[i]
                oshape = pub.observables.shape
                shape = np.broadcast_shapes(oshape, vshape)
                oi = np.broadcast_to(np.arange(count).reshape(oshape), shape)
                ri = np.broadcast_to(np.arange(int(np.prod(vshape))).reshape(vshape), shape)
                evs = ev[start + oi, ri]
                data = DataBin(evs=evs, stds=np.zeros_like(evs), shape=evs.shape)
                results[i] = PubResult(
                    data,
                    metadata={"target_precision": 0.0, "circuit_metadata": pub.circuit.metadata},
                )
        return PrimitiveResult(results, metadata={"version": 2})


class FastEstimatorGradient(BaseEstimatorGradient):
    """Exact gradients (inputs and weights) by closed form + adjoint differentiation.

    Groups the identical circuits that ``EstimatorQNN`` tiles (per sample x observable),
    simulates each distinct parameter row once for all its observables, and picks the rows.
    """

    def __init__(self, estimator: BaseEstimatorV2 | None = None, options: Options | None = None):
        super().__init__(estimator or FastEstimator(), options=options)
        self._cache = _CACHE

    def run(self, circuits, observables, parameter_values, parameters=None, **options):
        # Same contract as BaseEstimatorGradient.run; its per-circuit validation builds a set of
        # all parameters for every one of the (samples x observables) circuits, which dominates
        # at this size, so validate once per distinct circuit instead.
        from qiskit_machine_learning.algorithm_job import AlgorithmJob

        if isinstance(circuits, QuantumCircuit):
            circuits = (circuits,)
        if not isinstance(observables, Sequence) or isinstance(observables, str):
            observables = (observables,)
        circuits = list(circuits)
        observables = list(observables)
        parameter_values = np.asarray(parameter_values, dtype=np.float64)
        if parameter_values.ndim == 1:
            parameter_values = parameter_values.reshape(len(circuits), -1)
        if len(circuits) != len(parameter_values) or len(circuits) != len(observables):
            raise ValueError(
                f"{len(circuits)} circuits, {len(observables)} observables and "
                f"{len(parameter_values)} parameter value sets: the numbers must match"
            )
        if parameters is None:
            parameters = [None] * len(circuits)
        elif len(parameters) != len(circuits):
            raise ValueError(
                f"{len(circuits)} circuits but {len(parameters)} parameter lists: must match"
            )
        opts = Options(**self._default_options.__dict__)
        opts.update_options(**options)
        job = AlgorithmJob(
            self._run, circuits, observables, parameter_values, parameters, **opts.__dict__
        )
        job.submit()
        return job

    def _run(self, circuits, observables, parameter_values, parameters, **options):
        n = len(circuits)
        out: list[np.ndarray | None] = [None] * n
        meta: list[dict] = [{} for _ in range(n)]
        by_circuit: dict[int, list[int]] = {}
        for i, c in enumerate(circuits):
            by_circuit.setdefault(id(c), []).append(i)
        for idxs in by_circuit.values():
            circuit = circuits[idxs[0]]
            plan = self._cache.plan(circuit)
            idxs_a = np.asarray(idxs)
            vals = parameter_values[idxs_a]
            if vals.shape[1] != plan.num_params:
                raise ValueError(
                    f"{vals.shape[1]} parameter values for a circuit with {plan.num_params} "
                    "parameters"
                )
            uniq, row_of = np.unique(vals, axis=0, return_inverse=True)
            row_of = row_of.reshape(-1)
            obs_ids: dict[int, int] = {}
            compiled = []
            obs_of = np.empty(len(idxs), dtype=np.int64)
            for j, i in enumerate(idxs):
                o = observables[i]
                k = obs_ids.get(id(o))
                if k is None:
                    k = obs_ids[id(o)] = len(compiled)
                    compiled.append(self._cache.observable(o, plan.num_qubits))
                obs_of[j] = k
            _, grads = plan.run(uniq, compiled, gradient=True)  # (K, U, P)
            picked = grads[obs_of, row_of]  # (len(idxs), P)
            pos = {p: j for j, p in enumerate(plan.params)}
            for j, i in enumerate(idxs):
                ps = parameters[i]
                if ps is None:
                    out[i] = picked[j]
                    meta[i] = {"parameters": plan.params}
                else:
                    try:
                        cols = [pos[p] for p in ps]
                    except KeyError as e:
                        raise ValueError(
                            f"parameter {e.args[0]} is not in the {i}-th circuit"
                        ) from None
                    out[i] = picked[j, cols]
                    meta[i] = {"parameters": list(ps)}
        return EstimatorGradientResult(gradients=out, metadata=meta, options=Options(**options))


def fast_estimator_and_gradient() -> tuple[FastEstimator, FastEstimatorGradient]:
    est = FastEstimator()
    return est, FastEstimatorGradient(est)


__all__ = [
    "CircuitPlan",
    "FastEstimator",
    "FastEstimatorGradient",
    "compile_observable",
    "fast_estimator_and_gradient",
]
