"""The runner's ``BaseEstimatorV2``: logical circuits in, backend-ready execution inside.

``run(pubs)`` (1) coerces the PUBs, (2) groups every PUB on the same circuit into one task
whose parameter rows are de-duplicated (``EstimatorQNN`` sends one PUB per observable and
``ParamShiftEstimatorGradient`` one PUB per shifted parameter set: all of them become ONE
parameter array), (3) transpiles each circuit once for the target (memory + QPY disk cache) and
maps the observables through the layout, (4) splits the rows into PUBs and jobs under
:class:`~qsdaqec.runner.config.ServiceLimits`, (5) runs them on the engine of the backend kind
and (6) stitches the results back into one ``PubResult`` per input PUB, in order.

qiskit-aer and qiskit-ibm-runtime are imported inside the functions that use them: they take
about 1.5 s to import, and ``qsdaqec --help`` imports this module.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import BaseEstimatorV2
from qiskit.primitives.containers import DataBin, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.primitive_job import PrimitiveJob
from qiskit.providers import Options

from ..errors import BackendError, ConfigError
from .backends import BackendSpec, parse_backend, resolve_backend
from .config import RunnerConfig, default_cache_dir
from .noise import build_local_noise
from .simulate import calibrate_readout, expectations, reduced_density_matrices
from .transpile import (
    FingerprintMemo,
    IsaProgram,
    TranspileCache,
    _final_positions,
    _param_index,
    compact,
    options_key,
    target_fingerprint,
)

_AER_OPS = None


def _aer_ops() -> set[str]:
    global _AER_OPS
    if _AER_OPS is None:
        from qiskit_aer import AerSimulator

        _AER_OPS = set(AerSimulator().target.operation_names) | {"barrier"}
    return _AER_OPS


def _aer_pass_manager():
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_aer import AerSimulator

    return generate_preset_pass_manager(optimization_level=0, target=AerSimulator().target)


@dataclass
class Task:
    """All rows of one circuit at one shot count: ``values`` (U, P_isa) x ``labels`` (Q)."""

    program: IsaProgram
    values: np.ndarray
    labels: list[str]  # Pauli labels on ``program.circuit`` qubits
    shots: int | None


@dataclass
class Chunk:
    task: int
    start: int
    stop: int


@dataclass
class Plan:
    tasks: list[Task]
    jobs: list[list[Chunk]]
    # per input pub: (shape, task index, row index per element, {label index: coeff} per element)
    pubs: list[tuple]
    precision: list[float]
    pub_meta: list[dict] = field(default_factory=list)


class RunnerEstimator(BaseEstimatorV2):
    """``BaseEstimatorV2`` over one backend spec; see the module docstring."""

    def __init__(
        self,
        spec: BackendSpec | str,
        cfg: RunnerConfig | None = None,
        *,
        service: Any | None = None,
        backend: Any | None = None,
    ) -> None:
        self.spec = parse_backend(spec)
        self.cfg = cfg or RunnerConfig()
        self._check_mitigation()
        self._service = service
        self._backend = backend if backend is not None else resolve_backend(self.spec, service)
        cache_dir = self.cfg.cache_dir
        if cache_dir is None:
            cache_dir = default_cache_dir()
        self.cache = TranspileCache(cache_dir if cache_dir != "" else None)
        self._fp = FingerprintMemo()
        self._programs: dict[str, IsaProgram] = {}
        self._noise: dict[tuple, Any] = {}
        self._rng = np.random.default_rng(self.cfg.seed)
        self.jobs_log: list[dict] = []  # one entry per executed job (count / inspect splitting)
        self.options = Options()  # qiskit-machine-learning's gradients copy/update this

    # ------------------------------------------------------------------ public API
    @property
    def backend(self) -> Any:
        return self._backend

    def run(self, pubs, *, precision: float | None = None) -> PrimitiveJob:
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def rng_state(self) -> dict[str, Any]:
        """The state of the generator that draws the shots, the simulators' seeds and the
        readout calibrations: a checkpoint keeps it, so a resumed training run draws what an
        uninterrupted one would (:meth:`set_rng_state`)."""
        return copy.deepcopy(self._rng.bit_generator.state)

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = copy.deepcopy(state)

    def prepare(self, circuit: QuantumCircuit) -> IsaProgram:
        """The backend-ready program for ``circuit`` (transpiled once, cached)."""
        fp = self._fp(circuit)
        if fp in self._programs:
            self.cache.stats["memory_hits"] += 1
            return self._programs[fp]
        self._check_width(circuit)
        prog = self._build_program(circuit, fp)
        self._programs[fp] = prog
        return prog

    def _check_width(self, circuit: QuantumCircuit) -> None:
        """One clear line when the device has fewer qubits than the circuit (the transpiler's
        own message names neither the encoding nor a device that would do)."""
        qubits = getattr(self._backend, "num_qubits", None)
        if qubits is None or circuit.num_qubits <= qubits:
            return
        raise BackendError(
            f"{self.spec}: the device has {qubits} qubits, the circuit needs "
            f"{circuit.num_qubits} (the 8-qubit amplitude head needs a device of at least 8; "
            "the 4-qubit angle head fits 5-qubit devices); pick a larger device, e.g. "
            "fake:fake_fez or aer_noisy:fake_torino, or train with --encoding angle"
        )

    def plan(self, pubs: list[EstimatorPub]) -> Plan:
        """Group, de-duplicate, transpile and split ``pubs`` (already coerced)."""
        groups: dict[tuple, dict] = {}
        pub_entries = []
        precisions = []
        for pub in pubs:
            precision = pub.precision
            shots = self._shots(precision)
            prog = self.prepare(pub.circuit)
            gkey = (prog.key, shots)
            g = groups.setdefault(
                gkey, {"program": prog, "shots": shots, "rows": [], "labels": {}, "n": 0}
            )
            shape = np.broadcast_shapes(pub.parameter_values.shape, pub.observables.shape)
            vals = pub.parameter_values.as_array(pub.circuit.parameters)
            nparam = vals.shape[-1]
            nrows = int(np.prod(shape, dtype=np.int64))
            vals = np.broadcast_to(vals, shape + (nparam,)).reshape(nrows, nparam)
            obs = (
                np.broadcast_to(pub.observables, shape).ravel()
                if shape
                else [pub.observables.ravel()[0]]
            )
            row0 = g["n"]
            g["rows"].append(vals)
            g["n"] += vals.shape[0]
            terms = []
            for o in obs:
                t = {}
                for label, coeff in o.items():
                    li = g["labels"].setdefault(label, len(g["labels"]))
                    t[li] = t.get(li, 0) + coeff
                terms.append(t)
            pub_entries.append((shape, gkey, row0, terms, pub.circuit.metadata))
            precisions.append(precision)
        tasks: list[Task] = []
        task_of: dict[tuple, tuple[int, np.ndarray]] = {}
        for gkey, g in groups.items():
            prog = g["program"]
            rows = (
                np.concatenate(g["rows"], axis=0)[:, prog.param_index]
                if prog.param_index.size
                else np.zeros((g["n"], 0))
            )
            uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
            labels = [prog.map_pauli_label(lab) for lab in g["labels"]]
            task_of[gkey] = (len(tasks), inverse.reshape(-1))
            tasks.append(Task(prog, uniq, labels, g["shots"]))
        entries = []
        for shape, gkey, row0, terms, meta in pub_entries:
            ti, inverse = task_of[gkey]
            n = len(terms)
            entries.append((shape, ti, inverse[row0 : row0 + n], terms, meta))
        return Plan(tasks, self._split(tasks), entries, precisions)

    def execute(self, plan: Plan) -> list[tuple[np.ndarray, np.ndarray]]:
        """Run every job of ``plan``; per task ``(evs (U, Q), stds (U, Q))``."""
        out = [
            (np.zeros((len(t.values), len(t.labels))), np.zeros((len(t.values), len(t.labels))))
            for t in plan.tasks
        ]
        if self.spec.uses_runtime:
            results = self._run_runtime(plan)
        else:
            results = []
            for chunks in plan.jobs:
                t0 = time.perf_counter()
                results.append(
                    [self._run_local(plan.tasks[c.task], c.start, c.stop) for c in chunks]
                )
                self._log(chunks, plan, time.perf_counter() - t0, None)
        for chunks, res in zip(plan.jobs, results, strict=False):
            for c, (evs, stds) in zip(chunks, res, strict=False):
                out[c.task][0][c.start : c.stop] = evs
                out[c.task][1][c.start : c.stop] = stds
        return out

    def assemble(self, plan: Plan, results) -> PrimitiveResult:
        pub_results = []
        for (shape, ti, rows, terms, meta), precision in zip(
            plan.pubs, plan.precision, strict=False
        ):
            evs_t, stds_t = results[ti]
            evs = np.zeros(len(terms))
            var = np.zeros(len(terms))
            for i, (r, t) in enumerate(zip(rows, terms, strict=False)):
                for li, coeff in t.items():
                    evs[i] += np.real(coeff) * evs_t[r, li]
                    var[i] += (np.real(coeff) * stds_t[r, li]) ** 2
            shots = plan.tasks[ti].shots
            data = DataBin(evs=evs.reshape(shape), stds=np.sqrt(var).reshape(shape), shape=shape)
            pub_results.append(
                PubResult(
                    data,
                    metadata={
                        "target_precision": precision,
                        "shots": shots,
                        "backend": str(self.spec),
                        "circuit_metadata": meta,
                    },
                )
            )
        return PrimitiveResult(pub_results, metadata={"version": 2, "jobs": len(plan.jobs)})

    # ------------------------------------------------------------------ internals
    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult:
        plan = self.plan(pubs)
        return self.assemble(plan, self.execute(plan))

    def _check_mitigation(self) -> None:
        mit = set(self.cfg.mitigation)
        if not self.spec.uses_runtime:
            bad = mit & {"twirling", "dd"}
            if bad:
                raise ConfigError(
                    f"mitigation {'+'.join(sorted(bad))}: only on fake:/ibm: backends "
                    "(runtime resilience options); Aer supports readout and zne"
                )
            if mit & {"zne", "readout", "trex"} and self.spec.kind != "aer_noisy":
                raise ConfigError(
                    f"mitigation {'+'.join(self.cfg.mitigation)} on {self.spec}: nothing to "
                    "mitigate on a noiseless backend; use aer_noisy, fake: or ibm:"
                )

    def _shots(self, precision: float | None) -> int | None:
        if self.spec.is_exact:
            return None
        if self.spec.exact_capable:
            # exact unless the config asks for shots/precision (the caller's precision, e.g.
            # EstimatorQNN's 1/64, does not switch an exact-capable backend to sampling)
            return self.cfg.shots_for(None)
        shots = self.cfg.shots_for(precision)
        return shots if shots is not None else self.cfg.shots_for(1 / 64)

    def _build_program(self, circuit: QuantumCircuit, fp: str) -> IsaProgram:
        cfg = self.cfg
        nlog = circuit.num_qubits
        if self.spec.kind in ("statevector", "aer"):
            key = f"{fp}-local"
            if {inst.operation.name for inst in circuit.data} <= _aer_ops():
                isa = circuit
            else:
                isa = self.cache.get(
                    options_key({"fp": fp, "basis": "aer"}),
                    lambda: _aer_pass_manager().run(circuit),
                )
            return IsaProgram(key, isa, nlog, tuple(range(nlog)), None, _param_index(circuit, isa))
        backend = self._backend
        opts = {
            "fp": fp,
            "backend": str(self.spec),
            "target": target_fingerprint(backend),
            "opt": cfg.optimization_level,
            "layout": cfg.initial_layout,
            "layout_method": cfg.layout_method,
            "seed": cfg.seed,
        }
        okey = options_key(opts)

        def build() -> QuantumCircuit:
            from qiskit.transpiler import generate_preset_pass_manager

            if cfg.initial_layout is not None and len(cfg.initial_layout) != nlog:
                raise ConfigError(
                    f"initial_layout has {len(cfg.initial_layout)} qubits; the circuit has {nlog}"
                )
            pm = generate_preset_pass_manager(
                optimization_level=cfg.optimization_level,
                backend=backend,
                initial_layout=list(cfg.initial_layout) if cfg.initial_layout else None,
                layout_method=cfg.layout_method,
                seed_transpiler=cfg.seed,
            )
            try:
                return pm.run(circuit)
            except Exception as e:
                raise BackendError(f"{self.spec}: transpilation failed ({e})") from e

        isa = self.cache.get(okey, build)
        final = _final_positions(isa, nlog)
        if self.spec.kind == "aer_noisy":
            small, active = compact(isa, final)
            where = {p: i for i, p in enumerate(active)}
            return IsaProgram(
                okey,
                small,
                nlog,
                tuple(where[p] for p in final),
                active,
                _param_index(circuit, small),
                stats=_stats(isa, active),
            )
        return IsaProgram(
            okey, isa, nlog, tuple(final), None, _param_index(circuit, isa), stats=_stats(isa, None)
        )

    def _split(self, tasks: list[Task]) -> list[list[Chunk]]:
        lim = self.cfg.limits
        chunks: list[tuple[Chunk, int, int]] = []
        for ti, t in enumerate(tasks):
            q = max(1, len(t.labels))
            shots = t.shots or 1
            per_pub = min(
                lim.max_params_per_pub, lim.max_params_per_job, lim.max_shots_per_job // shots
            )
            rows = max(1, per_pub // q)
            for start in range(0, len(t.values), rows):
                stop = min(start + rows, len(t.values))
                n = (stop - start) * q
                chunks.append((Chunk(ti, start, stop), n, n * shots))
        jobs: list[list[Chunk]] = []
        cur: list[Chunk] = []
        n_cur = s_cur = 0
        for c, n, s in chunks:
            if cur and (
                len(cur) >= lim.max_pubs_per_job
                or n_cur + n > lim.max_params_per_job
                or s_cur + s > lim.max_shots_per_job
            ):
                jobs.append(cur)
                cur, n_cur, s_cur = [], 0, 0
            cur.append(c)
            n_cur += n
            s_cur += s
        if cur:
            jobs.append(cur)
        return jobs

    def _log(self, chunks: list[Chunk], plan: Plan, seconds: float, job_id: str | None) -> None:
        self.jobs_log.append(
            {
                "job_id": job_id,
                "pubs": len(chunks),
                "param_sets": sum(
                    (c.stop - c.start) * len(plan.tasks[c.task].labels) for c in chunks
                ),
                "seconds": round(seconds, 4),
            }
        )

    # ---- local (statevector / aer / aer_noisy)
    def local_noise(self, prog: IsaProgram, scale: float):
        key = (prog.active, scale)
        if key not in self._noise:
            self._noise[key] = build_local_noise(self._backend, prog.active, scale)
        return self._noise[key]

    def _run_local(self, task: Task, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        prog = task.program
        values = task.values[start:stop]
        support = sorted(
            {j for lab in task.labels for j, ch in enumerate(reversed(lab)) if ch != "I"}
        )
        if not support:
            n = len(values)
            return np.tile([1.0] * len(task.labels), (n, 1)), np.zeros((n, len(task.labels)))
        sub = ["".join(lab[::-1][j] for j in support)[::-1] for lab in task.labels]
        noisy = self.spec.kind == "aer_noisy" and self.cfg.noise_scale > 0
        mit = set(self.cfg.mitigation)
        scales = [self.cfg.noise_scale]
        if noisy and "zne" in mit:
            scales = [self.cfg.noise_scale * f for f in self.cfg.zne_noise_factors]
        seed = None if self.cfg.seed is None else int(self._rng.integers(2**31))
        runs = []
        for scale in scales:
            noise = self.local_noise(prog, scale) if noisy else None
            rhos = reduced_density_matrices(
                prog.circuit, support, values, noise.model if noise else None, seed
            )
            readout = noise.readout[support] if noise and self.cfg.readout_error else None
            mitigation = None
            if readout is not None and mit & {"readout", "trex"}:
                mitigation = calibrate_readout(readout, task.shots, self._rng)
            runs.append(
                expectations(
                    rhos,
                    sub,
                    readout=readout,
                    shots=task.shots,
                    mitigation=mitigation,
                    rng=self._rng,
                )
            )
        if len(runs) == 1:
            return runs[0]
        # zero-noise extrapolation over the noise scale: least-squares line, value at scale 0
        x = np.asarray(scales)
        ys = np.stack([r[0] for r in runs])  # (F, U, Q)
        xm = x.mean()
        slope = np.tensordot(x - xm, ys - ys.mean(0), axes=1) / ((x - xm) ** 2).sum()
        evs = ys.mean(0) - slope * xm
        w = 1 / len(x) + xm**2 / ((x - xm) ** 2).sum()
        stds = np.sqrt(w) * np.sqrt(np.mean([r[1] ** 2 for r in runs], axis=0))
        return np.clip(evs, -1.0, 1.0), stds  # per Pauli term, so physical range

    # ---- runtime (fake: / ibm:)
    def runtime_estimator(self, mode: Any) -> Any:
        """qiskit-ibm-runtime ``EstimatorV2`` on ``mode`` with the config's options applied."""
        from qiskit_ibm_runtime import EstimatorV2

        with warnings.catch_warnings():
            # 0.50+ deprecates the server-side EstimatorV2 in favour of a client-side one;
            # EstimatorV2 is still the hardware path (and local testing mode) in 0.51
            warnings.simplefilter("ignore", DeprecationWarning)
            est = EstimatorV2(mode=mode)
        apply_runtime_options(est.options, self.cfg, self.spec)
        return est

    def _run_runtime(self, plan: Plan) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        from qiskit_ibm_runtime import Batch

        batch = Batch(backend=self._backend) if len(plan.jobs) > 1 else None
        mode = batch if batch is not None else self._backend
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*no effect in local testing mode.*")
                est = self.runtime_estimator(mode)
                submitted = []
                for chunks in plan.jobs:
                    pubs = [
                        runtime_pub(plan.tasks[c.task], c.start, c.stop, self.cfg) for c in chunks
                    ]
                    t0 = time.perf_counter()
                    job = est.run(pubs)
                    submitted.append((chunks, job, t0))
                results = []
                for chunks, job, t0 in submitted:
                    try:
                        res = job.result()
                    except Exception as e:
                        raise BackendError(f"{self.spec}: job {job.job_id()} failed ({e})") from e
                    self._log(chunks, plan, time.perf_counter() - t0, job.job_id())
                    results.append(
                        [
                            (
                                np.asarray(r.data.evs)
                                .reshape(len(plan.tasks[c.task].labels), -1)
                                .T,
                                np.asarray(r.data.stds)
                                .reshape(len(plan.tasks[c.task].labels), -1)
                                .T,
                            )
                            for c, r in zip(chunks, res, strict=False)
                        ]
                    )
        finally:
            if batch is not None:
                try:
                    batch.close()
                except Exception:  # closing is best effort
                    pass
        return results


def runtime_pub(task: Task, start: int, stop: int, cfg: RunnerConfig | None = None) -> tuple:
    """One runtime PUB: observables ``(Q, 1)`` x parameter rows ``(U,)`` -> evs ``(Q, U)``.

    The PUB carries the precision matching the task's shots unless ``cfg.shots`` is set (then
    the estimator's ``default_shots`` option applies).
    """
    obs = [[lab] for lab in task.labels]
    vals = task.values[start:stop] if task.program.circuit.num_parameters else None
    precision = None
    if (cfg is None or cfg.shots is None) and task.shots:
        precision = 1 / float(np.sqrt(task.shots))
    if vals is None:
        # no parameters: broadcast one evaluation over the rows by repeating the observables
        return (
            task.program.circuit,
            [[lab] * (stop - start) for lab in task.labels],
            None,
            precision,
        )
    return (task.program.circuit, obs, vals, precision)


def apply_runtime_options(options: Any, cfg: RunnerConfig, spec: BackendSpec) -> None:
    """RunnerConfig -> qiskit-ibm-runtime ``EstimatorOptions`` (shots, seed, resilience)."""
    mit = set(cfg.mitigation)
    if cfg.shots is not None:
        options.default_shots = int(cfg.shots)
    elif cfg.precision is not None:
        options.default_precision = float(cfg.precision)
    if spec.kind == "fake" and cfg.seed is not None:
        options.simulator.seed_simulator = int(cfg.seed)
    if spec.kind == "ibm":
        options.resilience_level = 0  # only what is asked for below
    if mit & {"readout", "trex"}:
        options.resilience.measure_mitigation = True
        options.twirling.enable_measure = True
    if "zne" in mit:
        options.resilience.zne_mitigation = True
        options.resilience.zne.noise_factors = tuple(cfg.zne_noise_factors)
    if "twirling" in mit:
        options.twirling.enable_gates = True
        options.twirling.num_randomizations = int(cfg.twirling_randomizations)
    if "dd" in mit:
        options.dynamical_decoupling.enable = True
        options.dynamical_decoupling.sequence_type = "XpXm"


def _stats(isa: QuantumCircuit, active) -> dict:
    ops = isa.count_ops()
    twoq = sum(1 for inst in isa.data if inst.operation.num_qubits == 2)
    return {
        "depth": isa.depth(),
        "two_qubit_gates": twoq,
        "ops": dict(ops),
        "width": len(active) if active else isa.num_qubits,
    }


def make_estimator(
    spec: BackendSpec | str, cfg: RunnerConfig | None = None, *, service: Any | None = None
) -> BaseEstimatorV2:
    """The estimator for ``spec``. ``service`` replaces :func:`make_service` for ``ibm:``."""
    return RunnerEstimator(spec, cfg, service=service)
