"""The head transpiled once per record (``IsaHead``), stored beside the record as QPY, and the
samples cut into jobs and PUBs (``plan_parts``)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit import qasm3, qpy
from qiskit.quantum_info import SparsePauliOp

from ...errors import ConfigError, JobError
from ..backends import BackendSpec
from ..estimator import RunnerEstimator
from ..records import JobRecord, Part
from .options import JobLimits, JobOptions


@dataclass
class IsaHead:
    """The head transpiled for one backend: what every job of a record sends."""

    circuit: Any  # ISA QuantumCircuit
    observables: list[Any]  # SparsePauliOp on the ISA width (layout applied)
    param_names: list[str]  # ISA circuit parameter order (columns of the PUB parameter array)
    layout: list[int]  # physical qubit of each logical qubit
    info: dict[str, Any] = field(default_factory=dict)


def circuit_hash(circuit: Any, observables: Sequence[Any] = ()) -> str:
    """sha256 of the circuit's OpenQASM 3 text and the observables (identity of what ran)."""
    h = hashlib.sha256()
    h.update(qasm3.dumps(circuit).encode())
    for obs in observables:
        h.update(repr(obs.to_list()).encode())
    return h.hexdigest()


def transpile_head(
    circuit: Any,
    observables: Sequence[Any],
    backend: Any,
    options: JobOptions,
    spec: str | BackendSpec,
) -> IsaHead:
    """Transpile the head once for ``backend`` and map the observables to its layout.

    Goes through the runner's transpilation (:meth:`RunnerEstimator.prepare`: preset pass
    manager, the runner's optimization level / seed semantics, memory + disk QPY cache), so a
    ``jobs submit`` and an ``evaluate --backend fake:...`` of the same head use the same ISA
    circuit.
    """
    runner = RunnerEstimator(spec, options.runner_config(), backend=backend)
    prog = runner.prepare(circuit)
    isa = prog.circuit
    mapped = [prog.map_observable(obs) for obs in observables]
    stats = dict(prog.stats)
    return IsaHead(
        circuit=isa,
        observables=mapped,
        param_names=[p.name for p in isa.parameters],
        layout=[int(q) for q in prog.logical_to_physical],
        info={
            "isa_num_qubits": isa.num_qubits,
            "depth": int(stats.get("depth", isa.depth())),
            "two_qubit_gates": int(stats.get("two_qubit_gates", 0)),
            "ops": {str(k): int(v) for k, v in stats.get("ops", isa.count_ops()).items()},
            "runner_cache_key": prog.key,
        },
    )


def qpy_bytes(circuit: Any) -> bytes:
    buf = io.BytesIO()
    qpy.dump(circuit, buf)
    return buf.getvalue()


def load_isa(record: JobRecord) -> IsaHead:
    """The ISA circuit a record's jobs sent (checked against the record's hash)."""
    try:
        data = record.isa_path.read_bytes()
    except FileNotFoundError:
        raise JobError(f"{record.isa_path}: missing; the record cannot be resubmitted") from None
    if hashlib.sha256(data).hexdigest() != record.circuit.get("isa_qpy_sha256"):
        raise JobError(f"{record.isa_path}: does not match the record (changed on disk)")
    circuit = qpy.load(io.BytesIO(data))[0]
    observables = [
        SparsePauliOp.from_list([tuple(t) for t in o]) for o in record.circuit["isa_observables"]
    ]
    return IsaHead(
        circuit=circuit,
        observables=observables,
        param_names=list(record.circuit["isa_parameters"]),
        layout=list(record.circuit["layout"]),
        info={k: record.circuit[k] for k in ("depth", "two_qubit_gates") if k in record.circuit},
    )


def plan_parts(
    n_samples: int, n_observables: int, shots: int, limits: JobLimits | None = None
) -> list[Part]:
    """Cut ``n_samples`` into as few jobs as the limits allow, each job into PUBs.

    Counts as the runner does: one sample x one observable = one parameter set; a PUB holds at
    most ``max_params_per_pub`` of them, a job ``max_pubs_per_job`` PUBs, ``max_params_per_job``
    parameter sets and ``max_shots_per_job`` parameter sets x shots.
    """
    limits = limits or JobLimits()
    lim = limits.service
    q = max(1, n_observables)
    if shots > lim.max_shots:
        raise ConfigError(f"{shots} shots: above the service limit of {lim.max_shots} per circuit")
    per_pub = (
        min(lim.max_params_per_pub, lim.max_params_per_job, lim.max_shots_per_job // shots) // q
    )
    if per_pub < 1:
        raise ConfigError(
            f"{shots} shots x {q} observables per sample exceed the per-job limits "
            f"(max_shots_per_job={lim.max_shots_per_job}); lower --shots"
        )
    per_job = min(
        lim.max_pubs_per_job * per_pub,
        lim.max_params_per_job // q,
        lim.max_shots_per_job // (q * shots),
    )
    if limits.max_samples_per_job is not None:
        per_job = min(per_job, limits.max_samples_per_job)
    parts = []
    for index, start in enumerate(range(0, n_samples, per_job)):
        stop = min(n_samples, start + per_job)
        pubs = [[a, min(stop, a + per_pub)] for a in range(start, stop, per_pub)]
        parts.append(Part(index=index, start=start, stop=stop, pubs=pubs))
    return parts


def pubs_for(part: Part, isa: IsaHead, params: np.ndarray) -> list[tuple]:
    obs = [list(isa.observables)]  # shape (1, k): broadcast against (n, 1) parameter sets
    out = []
    for s, e in part.pubs:
        values = np.asarray(params[s:e], dtype=np.float64)[:, None, :]  # (n, 1, P)
        out.append((isa.circuit, obs, values))
    return out
