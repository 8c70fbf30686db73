"""The fast exact path: a ``BaseEstimatorV2`` and a ``BaseEstimatorGradient`` for the head circuits.

Both run on :class:`~qsdaqec.quantum.plan.CircuitPlan`, the circuit compiled once into batched
numpy passes (how, and which gates: :mod:`qsdaqec.quantum.plan`); a circuit the plan cannot take
falls back to the reference primitives with one warning. Results are exact (``precision`` is
accepted for API compatibility and ignored, like qiskit-machine-learning's exact
``QMLEstimator``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import BaseEstimatorV2, DataBin, PrimitiveJob, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.providers import JobError, Options
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.algorithm_job import AlgorithmJob
from qiskit_machine_learning.gradients import BaseEstimatorGradient, EstimatorGradientResult

from .decompose import FastPathUnsupported, reference_estimator, reference_gradient, warn_fallback
from .observables import CompiledObservable, compile_observable
from .plan import CircuitPlan, compile_plan, unique_rows


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
        """The circuit's plan, or :class:`FastPathUnsupported` (warned about once)."""
        plan = self._plans.get(circuit, _plan_or_reason)
        if isinstance(plan, FastPathUnsupported):
            raise plan
        return plan

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


def _plan_or_reason(circuit: QuantumCircuit) -> CircuitPlan | FastPathUnsupported:
    try:
        return compile_plan(circuit)
    except FastPathUnsupported as e:
        warn_fallback(circuit, str(e))
        return e


class _SyncSubmit:
    """Run the job's function at submission, in the calling thread.

    The reference ``PrimitiveJob`` starts a thread pool per job; at a few milliseconds per call
    that start-up is a large share of the cost, and the work here is numpy that releases little
    to gain from a thread. Results, errors, ``status()`` and ``result()`` behave as before.
    """

    def _submit(self):
        if self._future is not None:
            raise JobError("Primitive job has been submitted already.")
        fut: Future = Future()
        try:
            fut.set_result(self._function(*self._args, **self._kwargs))
        except Exception as e:
            fut.set_exception(e)
        self._future = fut


class FastJob(_SyncSubmit, PrimitiveJob):
    """A ``PrimitiveJob`` computed synchronously at submission."""


class FastGradientJob(_SyncSubmit, AlgorithmJob):
    """An ``AlgorithmJob`` computed synchronously at submission."""

    def submit(self) -> None:
        # AlgorithmJob.submit calls PrimitiveJob._submit explicitly (super() from its own class)
        self._submit()


# ----------------------------------------------------------------------------------------------
# the primitives


@dataclass
class _Pub:
    plan: CircuitPlan
    observables: list
    oshape: tuple
    rows: np.ndarray
    vshape: tuple
    metadata: dict
    source: object = None  # the caller's values array (EstimatorQNN passes one for all pubs)


def _rows(rows, plan: CircuitPlan) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != plan.num_params:
        raise ValueError(
            f"parameter values of shape {rows.shape}: expected (rows, {plan.num_params}) for "
            "this circuit"
        )
    return rows


class FastEstimator(BaseEstimatorV2):
    """Exact, batched estimator for the head circuits (any circuit of supported gates).

    ``precision`` is accepted and ignored: results are exact and ``stds`` are 0.
    """

    def __init__(self):
        self._cache = _PlanCache()  # compiled circuits and observables, per estimator

    def run(self, pubs: Iterable, *, precision: float | None = None) -> PrimitiveJob:
        items = []
        for pub in pubs:
            try:
                items.append(self._normalise(pub))
            except FastPathUnsupported:
                items.append(pub)  # the reference estimator's (warned when first compiled)
        job = FastJob(self._run_all, items)
        job._submit()
        return job

    def supports(self, circuit: QuantumCircuit) -> str | None:
        """``None`` when the fast path runs ``circuit`` (decomposed if needed), else the reason
        it falls back to the reference estimator (warned once per circuit)."""
        try:
            self._cache.plan(circuit)
        except FastPathUnsupported as e:
            return str(e)
        return None

    def _run_all(self, items: list) -> PrimitiveResult[PubResult]:
        fast = [i for i, it in enumerate(items) if isinstance(it, _Pub)]
        slow = [i for i, it in enumerate(items) if not isinstance(it, _Pub)]
        if not slow:
            return self._run(items)
        out: list[PubResult | None] = [None] * len(items)
        if fast:
            for i, r in zip(fast, self._run([items[i] for i in fast]), strict=True):
                out[i] = r
        ref = reference_estimator().run([items[i] for i in slow]).result()
        for i, r in zip(slow, ref, strict=True):
            out[i] = r
        return PrimitiveResult(out, metadata={"version": 2})

    def evaluate(self, circuit: QuantumCircuit, observables: Sequence, rows) -> np.ndarray:
        """Expectation values ``(K, B)`` of ``observables`` for parameter rows ``(B, P)`` (in
        ``circuit.parameters`` order): what :meth:`run` computes for the pubs
        ``[(circuit, o, rows) for o in observables]``, without building pubs and results
        (:class:`FastEstimatorQNN` uses it; exact, like ``run``)."""
        plan = self._cache.plan(circuit)
        compiled = [self._cache.observable(o, plan.num_qubits) for o in observables]
        return plan.run(_rows(rows, plan), compiled)[0]

    def _normalise(self, pub) -> _Pub:
        """A pub as (plan, flat observables, observable shape, value rows, value shape).

        ``(circuit, SparsePauliOp, ndarray)`` tuples, what EstimatorQNN sends, skip
        ``EstimatorPub.coerce`` (whose per-parameter name handling costs milliseconds at 263
        parameters); the array's last axis is in ``circuit.parameters`` order, as in coerce.
        Anything else goes through ``EstimatorPub.coerce`` and its validation.
        """
        if (
            isinstance(pub, tuple)
            and len(pub) == 3
            and isinstance(pub[0], QuantumCircuit)
            and isinstance(pub[1], SparsePauliOp)
            and isinstance(pub[2], np.ndarray)
            and pub[2].ndim >= 1
        ):
            circuit, op, vals = pub
            plan = self._cache.plan(circuit)
            if vals.shape[-1] == plan.num_params and plan.num_params:
                if op.num_qubits != circuit.num_qubits:
                    raise ValueError(
                        f"observable on {op.num_qubits} qubits for a circuit on "
                        f"{circuit.num_qubits} qubits"
                    )
                vshape = vals.shape[:-1]
                rows = np.ascontiguousarray(vals.reshape(-1, plan.num_params), dtype=np.float64)
                return _Pub(plan, [op], (), rows, vshape, circuit.metadata, vals)
        coerced = EstimatorPub.coerce(pub, 0.0)
        plan = self._cache.plan(coerced.circuit)
        if plan.num_params:
            vals = coerced.parameter_values.as_array(plan.params)
        else:
            vals = np.zeros((*coerced.parameter_values.shape, 0))
        vshape = vals.shape[:-1]
        nrows = int(np.prod(vshape))  # reshape(-1, 0) cannot infer the rows of 0 columns
        rows = np.ascontiguousarray(vals.reshape(nrows, plan.num_params), dtype=np.float64)
        oarr = coerced.observables
        flat = oarr.ravel().tolist() if oarr.ndim else [oarr.tolist()]
        return _Pub(plan, flat, oarr.shape, rows, vshape, coerced.circuit.metadata)

    def _run(self, pubs: list[_Pub]) -> PrimitiveResult[PubResult]:
        # Pubs that share a circuit and parameter values (EstimatorQNN sends one pub per
        # observable) are simulated once with all their observables.
        groups: dict[tuple, list[int]] = {}
        for i, pub in enumerate(pubs):
            if pub.source is not None:
                key = (id(pub.plan), "same array", id(pub.source))
            else:
                key = (id(pub.plan), pub.rows.shape, hash(pub.rows.tobytes()))
            groups.setdefault(key, []).append(i)
        results: list[PubResult | None] = [None] * len(pubs)
        for idxs in groups.values():
            plan, rows = pubs[idxs[0]].plan, pubs[idxs[0]].rows
            obs_list, slots = [], []
            for i in idxs:
                flat = pubs[i].observables
                slots.append((len(obs_list), len(flat)))
                obs_list.extend(self._cache.observable(o, plan.num_qubits) for o in flat)
            ev, _ = plan.run(rows, obs_list)  # (K, N)
            for i, (start, count) in zip(idxs, slots, strict=True):
                pub = pubs[i]
                if pub.oshape == ():
                    evs = ev[start].reshape(pub.vshape)
                else:
                    shape = np.broadcast_shapes(pub.oshape, pub.vshape)
                    oi = np.broadcast_to(np.arange(count).reshape(pub.oshape), shape)
                    ri = np.arange(int(np.prod(pub.vshape))).reshape(pub.vshape)
                    evs = ev[start + oi, np.broadcast_to(ri, shape)]
                data = DataBin(evs=evs, stds=np.zeros_like(evs), shape=evs.shape)
                results[i] = PubResult(
                    data, metadata={"target_precision": 0.0, "circuit_metadata": pub.metadata}
                )
        return PrimitiveResult(results, metadata={"version": 2})


class FastEstimatorGradient(BaseEstimatorGradient):
    """Exact gradients (inputs and weights) by closed form + adjoint differentiation.

    Groups the identical circuits that ``EstimatorQNN`` tiles (per sample x observable),
    simulates each distinct parameter row once for all its observables, and picks the rows.
    """

    def __init__(self, estimator: BaseEstimatorV2 | None = None, options: Options | None = None):
        super().__init__(estimator or FastEstimator(), options=options)
        # share the estimator's compiled plans (and its forward-pass prefix cache)
        self._cache = getattr(self._estimator, "_cache", None) or _PlanCache()

    def jacobian(self, circuit: QuantumCircuit, observables: Sequence, rows) -> np.ndarray:
        """Gradients ``(K, B, P)`` of each observable's expectation value for each parameter
        row ``(B, P)`` (``circuit.parameters`` order): what :meth:`run` returns for the circuit
        tiled per row x observable, computed and returned as one array."""
        plan = self._cache.plan(circuit)
        compiled = [self._cache.observable(o, plan.num_qubits) for o in observables]
        return plan.run(_rows(rows, plan), compiled, gradient=True)[1]

    def run(self, circuits, observables, parameter_values, parameters=None, **options):
        # Same contract as BaseEstimatorGradient.run; its per-circuit validation builds a set of
        # all parameters for every one of the (samples x observables) circuits, which dominates
        # at this size, so validate once per distinct circuit instead.
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
        job = FastGradientJob(
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
            try:
                plan = self._cache.plan(circuit)
            except FastPathUnsupported:
                self._reference(
                    idxs, circuits, observables, parameter_values, parameters, out, meta
                )
                continue
            idxs_a = np.asarray(idxs)
            vals = parameter_values[idxs_a]
            if vals.shape[1] != plan.num_params:
                raise ValueError(
                    f"{vals.shape[1]} parameter values for a circuit with {plan.num_params} "
                    "parameters"
                )
            uniq, row_of = unique_rows(vals, blocks=len({id(observables[i]) for i in idxs}))
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
            pos = plan.param_pos
            cols_of: dict[int, tuple[object, list[int]]] = {}  # EstimatorQNN repeats one list
            for j, i in enumerate(idxs):
                ps = parameters[i]
                if ps is None:
                    out[i] = picked[j]
                    meta[i] = {"parameters": plan.params}
                    continue
                hit = cols_of.get(id(ps))
                if hit is None or hit[0] is not ps:
                    try:
                        hit = (ps, [pos[p] for p in ps])
                    except KeyError as e:
                        raise ValueError(
                            f"parameter {e.args[0]} is not in the {i}-th circuit"
                        ) from None
                    cols_of[id(ps)] = hit
                out[i] = picked[j, hit[1]]
                meta[i] = {"parameters": list(ps)}
        return EstimatorGradientResult(gradients=out, metadata=meta, options=Options(**options))

    @staticmethod
    def _reference(idxs, circuits, observables, values, parameters, out, meta) -> None:
        """Parameter-shift gradients on the reference estimator for circuits the fast path
        cannot run (see :mod:`qsdaqec.quantum.decompose`)."""
        res = (
            reference_gradient()
            .run(
                [circuits[i] for i in idxs],
                [observables[i] for i in idxs],
                values[np.asarray(idxs)],
                [parameters[i] for i in idxs],
            )
            .result()
        )
        for j, i in enumerate(idxs):
            out[i] = np.asarray(res.gradients[j], dtype=np.float64)
            meta[i] = res.metadata[j]


def fast_estimator_and_gradient() -> tuple[FastEstimator, FastEstimatorGradient]:
    est = FastEstimator()
    return est, FastEstimatorGradient(est)


__all__ = ["FastEstimator", "FastEstimatorGradient", "fast_estimator_and_gradient"]
