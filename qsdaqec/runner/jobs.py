"""Hardware inference jobs: submit, track, fetch, cancel, retry — without losing or duplicating work.

The same code serves ``ibm:<device>`` (``QiskitRuntimeService`` + real hardware) and
``fake:<fake backend>`` (qiskit-ibm-runtime's *local testing mode*: ``Batch`` and
``EstimatorV2`` given a fake backend from ``qiskit_ibm_runtime.fake_provider`` run locally).

Flow of :func:`submit_inference`:

1. the head circuit is transpiled **once** for the backend (ISA circuit, observables mapped to
   the layout); the ISA circuit and the parameter array are stored beside the record;
2. the samples are cut into as few jobs as the limits allow (:class:`JobLimits`); each job holds
   one or more PUBs ``(isa_circuit, observables (1, k), parameter values (n, 1, P))`` so one PUB
   carries many samples by broadcasting;
3. the record ``RUN/jobs/<id>.json`` is written before anything is sent; before each submit its
   part is marked ``submitting`` (and given a unique job tag), right after it the job id is
   stored. A crash in between leaves ``submitting``, reported later as ``unknown`` and resolved
   by looking the tag up on the service — never by a silent resubmit;
4. all jobs of one submission go into one ``Batch``.

Local testing mode runs jobs in threads of the submitting process and cannot look a job up by
id later (``QiskitRuntimeLocalService`` has no ``job()``), so for ``fake:`` backends the
results are waited for and stored before :func:`submit_inference` returns. ``jobs fetch`` then
only reads stored results. A local job whose process ended before its result was stored is
``lost`` and can be resubmitted with ``jobs retry``.

The service is reached through a narrow :class:`RuntimeGateway` (backend, batch, submit, job,
job-by-tag); tests inject a fake one (:mod:`qsdaqec.runner.fake_runtime`) that can time out,
drop connections, fail or cancel jobs and raise on submit.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import BackendError, ConfigError, JobError
from ..io import atomic_write, atomic_write_json, atomic_write_text
from . import records as R
from .config import RunnerConfig, ServiceLimits, parse_mitigation
from .faults import (
    RetriesExhausted,
    RetryPolicy,
    call_with_retries,
    describe,
    install_log_redaction,
    redact,
    register_secret,
    submit_outcome,
)
from .records import JobRecord, Part

CREDENTIALS_HELP = (
    "no IBM Quantum account found: save one once with "
    '`python -c "from qiskit_ibm_runtime import QiskitRuntimeService; '
    "QiskitRuntimeService.save_account(token='<API key>', instance='<instance CRN>', "
    'set_as_default=True)"` or set QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE); '
    "or try the flow locally with --backend fake:fake_manila"
)


# ---------------------------------------------------------------------------------------------
# options and limits


@dataclass(frozen=True)
class JobOptions:
    """What the jobs run with. ``mitigation``: ``none`` or ``+``-joined names of the runner's
    :data:`~qsdaqec.runner.config.MITIGATIONS` (``readout``/``trex``: TREX measurement
    mitigation; ``zne``; ``twirling``: gate twirling; ``dd``: dynamical decoupling), mapped to
    ``EstimatorV2`` options exactly as ``qsdaqec evaluate --backend ibm:...`` maps them
    (:func:`qsdaqec.runner.estimator.apply_runtime_options`). Transpiler optimization level and
    seed default to the runner's."""

    shots: int = 4096  # = the runner's default precision 1/64 on fake:/ibm:
    mitigation: str = "none"
    optimization_level: int = RunnerConfig.optimization_level
    seed: int | None = RunnerConfig.seed  # transpiler seed (and simulator seed on fake:)
    max_execution_time: int | None = None  # seconds of QPU time per job (None: service default)

    def __post_init__(self) -> None:
        if self.shots < 1:
            raise ConfigError(f"shots={self.shots}: must be at least 1")
        if self.optimization_level not in (0, 1, 2, 3):
            raise ConfigError(f"optimization level {self.optimization_level}: use 0, 1, 2 or 3")
        object.__setattr__(self, "mitigation", "+".join(mitigation_names(self.mitigation)))

    def runner_config(self) -> RunnerConfig:
        return RunnerConfig(
            shots=self.shots,
            mitigation=() if self.mitigation == "none" else self.mitigation,
            optimization_level=self.optimization_level,
            seed=self.seed,
        )

    @classmethod
    def from_record(cls, options: dict[str, Any]) -> JobOptions:
        return cls(
            shots=options["shots"],
            mitigation=options["mitigation"],
            optimization_level=options["optimization_level"],
            seed=options.get("seed", options.get("seed_transpiler")),
            max_execution_time=options.get("max_execution_time"),
        )


@dataclass(frozen=True)
class JobLimits:
    """How samples are split into PUBs and jobs: the runner's :class:`ServiceLimits` (PUBs per
    job, parameter sets per PUB and job, shots per job; a parameter set = one sample x one
    observable), plus an optional cap on samples per job (e.g. to keep jobs short)."""

    service: ServiceLimits = field(default_factory=ServiceLimits)
    max_samples_per_job: int | None = None

    def __post_init__(self) -> None:
        if self.max_samples_per_job is not None and self.max_samples_per_job < 1:
            raise ConfigError(f"max_samples_per_job={self.max_samples_per_job}: must be >= 1")


def mitigation_names(spec: str) -> list[str]:
    """``"none"`` -> ``["none"]``; ``"readout+dd"`` -> ``["dd", "readout"]`` (runner's parser)."""
    names = list(parse_mitigation(spec))
    return names or ["none"]


def estimator_options(
    options: JobOptions, tags: Sequence[str] = (), kind: str = "ibm"
) -> dict[str, Any]:
    """The ``EstimatorV2`` options (a plain dict, as sent and recorded) for ``options``."""
    from dataclasses import asdict as dc_asdict

    from qiskit_ibm_runtime.options import EstimatorOptions
    from qiskit_ibm_runtime.options.utils import remove_dict_unset_values

    from .backends import BackendSpec
    from .estimator import apply_runtime_options

    est = EstimatorOptions()
    apply_runtime_options(est, options.runner_config(), BackendSpec(kind, "x"))
    if options.max_execution_time is not None:
        est.max_execution_time = int(options.max_execution_time)
    if tags:
        est.environment.job_tags = list(tags)
    out = dc_asdict(est)
    remove_dict_unset_values(out)
    out.pop("_VERSION", None)
    return _prune_empty(out)


def _prune_empty(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _prune_empty(v)
            if not v:
                continue
        out[k] = v
    return out


# ---------------------------------------------------------------------------------------------
# the service boundary


class JobHandle(Protocol):
    def job_id(self) -> str: ...
    def status(self) -> Any: ...
    def result(self) -> Any: ...
    def cancel(self) -> Any: ...


class RuntimeGateway(Protocol):
    """The five calls the jobs layer makes to IBM Runtime."""

    is_local: bool

    def backend(self, name: str) -> Any: ...
    def open_batch(self, backend: Any) -> contextlib.AbstractContextManager[Any]: ...
    def submit(self, batch: Any, pubs: list, options: dict[str, Any]) -> JobHandle: ...
    def job(self, job_id: str) -> JobHandle: ...
    def jobs_by_tag(self, tag: str) -> list[JobHandle]: ...


class JobNotFoundError(JobError):
    """The service (or this process, in local testing mode) does not know the job id."""


class QiskitRuntimeGateway:
    """:class:`RuntimeGateway` over ``QiskitRuntimeService`` or ``QiskitRuntimeLocalService``.

    Submits with ``EstimatorV2(mode=Batch(backend))`` in both cases; ``Batch`` itself picks
    local testing mode when given a fake backend.
    """

    # Local-mode jobs can only be found from the process that submitted them.
    _local_jobs: dict[str, Any] = {}

    def __init__(self, service: Any):
        self.service = service
        self.is_local = bool(getattr(service, "is_local", False)) or not hasattr(service, "job")

    def backend(self, name: str) -> Any:
        if self.is_local:
            found = fake_backend(name)  # fast: without building every fake backend first
            if found is not None:
                return found
        return self.service.backend(name)

    def open_batch(self, backend: Any):
        from qiskit_ibm_runtime import Batch

        return Batch(backend=backend)

    def submit(self, batch: Any, pubs: list, options: dict[str, Any]) -> JobHandle:
        from qiskit_ibm_runtime import EstimatorV2

        with warnings.catch_warnings():
            # EstimatorV2 is deprecated in favour of the executor-based Estimator (0.50+); it is
            # still the primitive that runs on hardware and in local testing mode.
            warnings.filterwarnings(
                "ignore", category=DeprecationWarning, message=".*EstimatorV2.*"
            )
            estimator = EstimatorV2(mode=batch, options=options)
        job = estimator.run(pubs)
        if self.is_local:
            self._local_jobs[job.job_id()] = job
        return job

    def job(self, job_id: str) -> JobHandle:
        if self.is_local:
            try:
                return self._local_jobs[job_id]
            except KeyError:
                raise JobNotFoundError(
                    f"job {job_id}: local testing mode keeps jobs only in the process that "
                    "submitted them"
                ) from None
        try:
            return self.service.job(job_id)
        except Exception as exc:
            if type(exc).__name__ == "RuntimeJobNotFound":
                raise JobNotFoundError(f"job {job_id}: not found on the service") from None
            raise

    def jobs_by_tag(self, tag: str) -> list[JobHandle]:
        if self.is_local:
            return []
        return list(self.service.jobs(job_tags=[tag], limit=10))


def fake_backend(name: str) -> Any | None:
    """The fake backend ``name`` (``fake_manila``, ``FakeFez``, ``torino``...), or ``None``.

    Uses the runner's cached lookup (no need to build all ~70 fake backends first).
    """
    from .backends import fake_backend as _runner_fake_backend

    try:
        return _runner_fake_backend(name)
    except BackendError:
        return None


def _spec_parts(spec: str) -> tuple[str, str]:
    """``(kind, name)`` for ``ibm:<device>`` / ``fake:<fake>`` (runner's ``parse_backend``)."""
    from .backends import parse_backend

    parsed = parse_backend(spec)  # unknown fake names fail here, with the list of valid ones
    if parsed.kind not in ("ibm", "fake"):
        raise BackendError(
            f"backend {spec!r}: jobs run on ibm:<device> (IBM hardware, e.g. ibm:ibm_fez) or "
            "fake:<fake backend> (local testing mode, e.g. fake:fake_manila); "
            f"{parsed} is for `qsdaqec fit`/`evaluate`"
        )
    return parsed.kind, str(parsed.name)


def normalize_backend(spec: str) -> str:
    kind, name = _spec_parts(spec)
    return f"{kind}:{name}"


def ibm_service() -> Any:
    """``QiskitRuntimeService`` from the saved account or ``QISKIT_IBM_TOKEN`` (runner's
    ``make_service``): missing credentials are one :class:`CredentialsError` line, no token is
    ever echoed. The active token is registered for redaction of every later message."""
    from .backends import make_service

    service = make_service()
    with contextlib.suppress(Exception):
        register_secret((service.active_account() or {}).get("token"))
    return service


def connect(spec: str) -> QiskitRuntimeGateway:
    """The gateway for ``ibm:<device>`` (IBM Quantum) or ``fake:<name>`` (local testing mode)."""
    kind, _ = _spec_parts(spec)
    install_log_redaction()
    if kind == "fake":
        from qiskit_ibm_runtime.fake_provider.local_service import QiskitRuntimeLocalService

        return QiskitRuntimeGateway(QiskitRuntimeLocalService())
    return QiskitRuntimeGateway(ibm_service())


def as_gateway(service: Any, spec: str | None = None) -> Any:
    """Accept a gateway, a qiskit(-like) runtime service, or ``None`` (connect to ``spec``)."""
    if service is None:
        if spec is None:
            raise JobError("no service and no backend to connect to")
        return connect(spec)
    if hasattr(service, "submit") and hasattr(service, "open_batch"):
        return service
    return QiskitRuntimeGateway(service)


def _get_backend(gateway: Any, spec: str, policy: RetryPolicy, sleep) -> Any:
    kind, name = _spec_parts(spec)
    try:
        return call_with_retries(
            lambda: gateway.backend(name), f"backend {name}", policy, sleep=sleep
        )
    except RetriesExhausted as exc:
        raise BackendError(f"{spec}: the service did not answer ({exc})") from None
    except Exception as exc:
        hint = (
            "see qiskit_ibm_runtime.fake_provider for the fake backends, e.g. fake_manila, fake_fez"
            if kind == "fake"
            else "list your devices with QiskitRuntimeService().backends()"
        )
        raise BackendError(f"{spec}: backend not available ({describe(exc)}); {hint}") from None


# ---------------------------------------------------------------------------------------------
# circuit: transpile once, hash, store


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
    from qiskit import qasm3

    h = hashlib.sha256()
    h.update(qasm3.dumps(circuit).encode())
    for obs in observables:
        h.update(repr(obs.to_list()).encode())
    return h.hexdigest()


def transpile_head(
    circuit: Any, observables: Sequence[Any], backend: Any, options: JobOptions, spec: str
) -> IsaHead:
    """Transpile the head once for ``backend`` and map the observables to its layout.

    Goes through the runner's transpilation (:meth:`RunnerEstimator.prepare`: preset pass
    manager, the runner's optimization level / seed semantics, memory + disk QPY cache), so a
    ``jobs submit`` and an ``evaluate --backend fake:...`` of the same head use the same ISA
    circuit.
    """
    from .estimator import RunnerEstimator

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


def _qpy_bytes(circuit: Any) -> bytes:
    from qiskit import qpy

    buf = io.BytesIO()
    qpy.dump(circuit, buf)
    return buf.getvalue()


def _load_isa(record: JobRecord) -> IsaHead:
    from qiskit import qpy
    from qiskit.quantum_info import SparsePauliOp

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
    )


# ---------------------------------------------------------------------------------------------
# splitting


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


def _pubs_for(part: Part, isa: IsaHead, params: np.ndarray) -> list[tuple]:
    obs = [list(isa.observables)]  # shape (1, k): broadcast against (n, 1) parameter sets
    out = []
    for s, e in part.pubs:
        values = np.asarray(params[s:e], dtype=np.float64)[:, None, :]  # (n, 1, P)
        out.append((isa.circuit, obs, values))
    return out


# ---------------------------------------------------------------------------------------------
# status mapping


def normalize_status(status: Any) -> str:
    """Map a job status (``"DONE"``, ``JobStatus.DONE``...) to a record state."""
    name = str(getattr(status, "name", status)).upper()
    if "." in name:
        name = name.rsplit(".", 1)[-1]
    if name in ("DONE", "COMPLETED"):
        return R.DONE
    if name in ("RUNNING",):
        return R.RUNNING
    if name in ("ERROR", "FAILED"):
        return R.FAILED
    if name.startswith("CANCELLED") or name == "CANCELED":
        return R.CANCELLED
    return R.QUEUED  # INITIALIZING, QUEUED, VALIDATING


def _error_message(job: Any) -> str | None:
    fn = getattr(job, "error_message", None)
    if fn is None:
        return None
    try:
        msg = fn()
    except Exception as exc:  # best effort: the status is what matters
        return describe(exc)
    return redact(msg) if msg else None


# ---------------------------------------------------------------------------------------------
# submit


@dataclass
class Context:
    """What every operation needs: the gateway and how to retry and wait."""

    gateway: Any
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    echo: Callable[[str], None] = lambda msg: None

    def retry(self, fn: Callable[[], Any], what: str) -> Any:
        return call_with_retries(fn, what, self.policy, sleep=self.sleep, on_retry=self.echo)


def _make_context(
    service: Any, spec: str, policy: RetryPolicy | None, sleep, clock, echo
) -> Context:
    return Context(
        gateway=as_gateway(service, spec),
        policy=policy if policy is not None else RetryPolicy(),
        sleep=sleep if sleep is not None else time.sleep,
        clock=clock if clock is not None else time.monotonic,
        echo=echo if echo is not None else (lambda msg: None),
    )


def submit_inference(
    circuit: Any,
    observables: Sequence[Any],
    parameters: Sequence[Any],
    values: np.ndarray,
    sample_ids: Sequence[str],
    *,
    backend: str,
    run_dir: str | Path,
    labels: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
    positive: int = 1,
    output_layer: dict[str, Any] | None = None,
    reference_evs: np.ndarray | None = None,
    options: JobOptions | None = None,
    limits: JobLimits | None = None,
    source: dict[str, Any] | None = None,
    service: Any = None,
    retry_policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    echo: Callable[[str], None] | None = None,
) -> JobRecord:
    """Send inference of ``values`` (``N x len(parameters)``) through the head circuit.

    ``parameters`` names the columns of ``values`` (the circuit's input then weight
    parameters, as :class:`qiskit.circuit.Parameter` or names). ``output_layer``
    (``{"weight": (2, k), "bias": (2,)}``) turns expectation values into class probabilities at
    fetch time. ``reference_evs`` (``N x k``, e.g. the exact simulator's values) are stored and
    compared with the hardware values in ``metrics.json``. ``service``: a :class:`RuntimeGateway`, a ``QiskitRuntimeService``-like object, or
    ``None`` to connect for ``backend``.

    Returns the saved record. On a submit failure the record is saved first (failed parts marked
    ``rejected`` or ``unknown``, the rest ``pending``), then :class:`JobError` says what to do.
    """
    options = options or JobOptions()
    limits = limits or JobLimits()
    spec = normalize_backend(backend)
    values = np.asarray(values, dtype=np.float64)
    names = [getattr(p, "name", p) for p in parameters]
    _validate_inputs(values, names, sample_ids, labels, classes)
    if reference_evs is not None:
        reference_evs = np.asarray(reference_evs, dtype=np.float64)
        if reference_evs.shape != (len(values), len(observables)):
            raise ConfigError(
                f"reference values: expected shape {(len(values), len(observables))}, "
                f"got {reference_evs.shape}"
            )
    ctx = _make_context(service, spec, retry_policy, sleep, clock, echo)

    backend_obj = _get_backend(ctx.gateway, spec, ctx.policy, ctx.sleep)
    isa = transpile_head(circuit, observables, backend_obj, options, spec)
    missing = [p for p in isa.param_names if p not in names]
    if missing:
        raise ConfigError(
            f"the circuit has parameters without values: {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else "")
        )
    cols = [names.index(p) for p in isa.param_names]
    params = values[:, cols]  # columns in ISA parameter order
    parts = plan_parts(len(values), len(isa.observables), options.shots, limits)

    run_dir = Path(run_dir)
    record_id = R.new_record_id(spec)
    qpy_data = _qpy_bytes(isa.circuit)
    record = JobRecord(
        record_id=record_id,
        backend=spec,
        local_mode=bool(ctx.gateway.is_local),
        created=R.now_iso(),
        circuit={
            "hash": circuit_hash(circuit, observables),
            "isa_hash": hashlib.sha256(qpy_data).hexdigest(),  # = isa_qpy_sha256
            "isa_qpy_sha256": hashlib.sha256(qpy_data).hexdigest(),
            "name": getattr(circuit, "name", None),
            "num_qubits": circuit.num_qubits,
            "num_parameters": len(isa.param_names),
            "isa_parameters": isa.param_names,
            "observables": [[(lbl, _c(c)) for lbl, c in o.to_list()] for o in observables],
            "isa_observables": [[(lbl, _c(c)) for lbl, c in o.to_list()] for o in isa.observables],
            "layout": isa.layout,
            **isa.info,
        },
        options={
            **asdict(options),
            "estimator": estimator_options(options, kind=_spec_parts(spec)[0]),
            "mitigation_applied": not ctx.gateway.is_local and options.mitigation != "none",
            **(
                {"note": "local testing mode ignores resilience/mitigation options"}
                if ctx.gateway.is_local and options.mitigation != "none"
                else {}
            ),
        },
        limits=asdict(limits),
        samples={
            "count": len(values),
            "ids": [str(s) for s in sample_ids],
            "labels": None if labels is None else [int(v) for v in labels],
            "classes": list(classes) if classes is not None else ["0", "1"],
            "positive": int(positive),
        },
        output_layer=_output_layer_json(output_layer),
        source=dict(source or {}),
        parts=parts,
        path=R.record_path(run_dir, record_id),
    )
    record.log(
        f"created: {len(values)} samples in {len(parts)} job(s) on {spec}, "
        f"transpiled once (optimization level {options.optimization_level})"
    )
    with R.locked(record.path):
        # the artifacts first, then the record: a record on disk always has its inputs
        R.save_array(record.params_path, params)
        if reference_evs is not None:
            R.save_array(record.folder / "reference_evs.npy", reference_evs)
        atomic_write(record.isa_path, lambda f: f.write(qpy_data))
        record.save()
        _submit_parts(record, ctx, backend_obj, isa, params, record.parts, options)
    return record


def submit_head(head: Any, values: np.ndarray, sample_ids: Sequence[str], **kw: Any) -> JobRecord:
    """:func:`submit_inference` for a ``HeadCircuit`` (``qsdaqec.quantum.build_head_circuit``):
    ``values`` columns are the head's input parameters, then its weight parameters."""
    return submit_inference(
        head.circuit,
        list(head.observables),
        list(head.input_params) + list(head.weight_params),
        values,
        sample_ids,
        **kw,
    )


def _c(c: complex) -> float | list[float]:
    c = complex(c)
    return c.real if c.imag == 0 else [c.real, c.imag]


def _output_layer_json(layer: dict[str, Any] | None) -> dict[str, Any] | None:
    if layer is None:
        return None
    w = np.asarray(layer["weight"], dtype=np.float64)
    b = np.asarray(layer["bias"], dtype=np.float64)
    if w.ndim != 2 or b.shape != (w.shape[0],):
        raise ConfigError(f"output layer: weight {w.shape} and bias {b.shape} do not match")
    return {"weight": w.tolist(), "bias": b.tolist()}


def _validate_inputs(values, names, sample_ids, labels, classes) -> None:
    if values.ndim != 2 or values.shape[0] == 0:
        raise ConfigError(f"parameter values: expected (samples, parameters), got {values.shape}")
    if values.shape[1] != len(names):
        raise ConfigError(
            f"parameter values have {values.shape[1]} columns but {len(names)} parameters are named"
        )
    if not np.all(np.isfinite(values)):
        raise ConfigError("parameter values contain NaN or infinity")
    if len(sample_ids) != len(values):
        raise ConfigError(f"{len(sample_ids)} sample ids for {len(values)} samples")
    if len(set(map(str, sample_ids))) != len(sample_ids):
        raise ConfigError("sample ids are not unique")
    if labels is not None and len(labels) != len(values):
        raise ConfigError(f"{len(labels)} labels for {len(values)} samples")
    if classes is not None and len(classes) < 2:
        raise ConfigError("classes: need at least two class names")


def _submit_parts(
    record: JobRecord,
    ctx: Context,
    backend_obj: Any,
    isa: IsaHead,
    params: np.ndarray,
    parts: list[Part],
    options: JobOptions,
) -> None:
    """Submit ``parts`` in one Batch. Record before and after each submit; never resubmit."""
    problem: str | None = None
    submitted: list[Part] = []
    try:
        batch_cm = ctx.gateway.open_batch(backend_obj)
        batch = batch_cm.__enter__()
    except Exception as exc:
        record.log(f"could not open a batch: {describe(exc)}")
        record.save()
        raise JobError(
            f"{record.backend}: could not open a batch ({describe(exc)}); nothing was submitted. "
            f"Try again later with `qsdaqec jobs retry {record.path}`"
        ) from None
    caught: list[warnings.WarningMessage] = []
    try:
        for part in parts:
            tag = f"qsdaqec-{record.record_id}-p{part.index}-a{part.attempt + 1}"
            pubs = _pubs_for(part, isa, params)
            opts = estimator_options(
                options, tags=["qsdaqec", tag], kind=record.backend.split(":", 1)[0]
            )
            part.attempt += 1
            part.tag = tag
            part.state = R.SUBMITTING
            part.submitted_at = part.updated_at = R.now_iso()
            part.set_error(None)
            record.save()  # durable BEFORE the request leaves
            try:
                with warnings.catch_warnings(record=True) as w:
                    warnings.simplefilter("always")
                    job = ctx.gateway.submit(batch, pubs, opts)
                    job_id = str(job.job_id())
                caught.extend(w)
            except Exception as exc:
                outcome = submit_outcome(exc)
                part.state = R.REJECTED if outcome == "rejected" else R.UNKNOWN
                part.set_error(describe(exc))
                part.updated_at = R.now_iso()
                record.log(f"part {part.index}: submit {outcome}: {describe(exc)}")
                record.save()
                problem = _submit_problem(record, part, exc, outcome)
                break
            part.job_id = job_id
            part.state = R.QUEUED
            part.updated_at = R.now_iso()
            record.log(
                f"part {part.index}: submitted as job {job_id} (samples {part.start}-{part.stop - 1})"
            )
            record.save()  # durable RIGHT AFTER the id is known
            submitted.append(part)
            ctx.echo(f"submitted job {job_id}: samples {part.start}..{part.stop - 1}")
    finally:
        try:
            batch_cm.__exit__(None, None, None)
        except Exception as exc:  # closing the batch is a courtesy; the jobs are recorded
            record.log(f"closing the batch failed (jobs are unaffected): {describe(exc)}")
        for msg in {str(w.message) for w in caught}:
            record.log(f"warning from qiskit-ibm-runtime: {msg}")
        record.save()
    if record.local_mode and submitted:
        collect_local(record, ctx, submitted)
    if problem:
        raise JobError(problem)


def _submit_problem(record: JobRecord, part: Part, exc: BaseException, outcome: str) -> str:
    left = sum(1 for p in record.parts if p.state == R.PENDING)
    where = f"record {record.path}"
    rest = f"; {left} later part(s) were not sent" if left else ""
    if outcome == "rejected":
        return (
            f"part {part.index} was refused by the service ({describe(exc)}); no job was created"
            f"{rest}. Saved in {where}. Fix the cause, then `qsdaqec jobs retry {record.path}`"
        )
    return (
        f"part {part.index}: the submit's outcome is unknown ({describe(exc)}); a job may have "
        f"been created{rest}. Saved in {where}. Check with `qsdaqec jobs status {record.path}` "
        f"(it looks for job tag {part.tag} on the service); if no job shows up, resubmit it with "
        f"`qsdaqec jobs retry {record.path} --resubmit-unknown`"
    )


def collect_local(record: JobRecord, ctx: Context, parts: list[Part]) -> None:
    """Local testing mode: wait for each job in this process and store its result at once."""
    for part in parts:
        if part.state not in R.ACTIVE or not part.job_id:
            continue
        try:
            job = ctx.gateway.job(part.job_id)
            result = job.result()
        except JobNotFoundError:
            part.state = R.LOST
            part.set_error("local job no longer available (its process ended)")
            record.save()
            continue
        except Exception as exc:
            part.state = R.FAILED
            part.set_error(describe(exc))
            part.finished_at = part.updated_at = R.now_iso()
            record.log(f"part {part.index}: job {part.job_id} failed: {describe(exc)}")
            record.save()
            continue
        _store_primitive_result(record, part, result)
        record.save()


def _store_primitive_result(record: JobRecord, part: Part, result: Any) -> None:
    evs, stds, meta = [], [], []
    for pub_result in result:
        data = pub_result.data
        e = np.asarray(data.evs, dtype=np.float64)
        s = np.asarray(getattr(data, "stds", np.zeros_like(e)), dtype=np.float64)
        evs.append(e.reshape(e.shape[0], -1))
        stds.append(s.reshape(s.shape[0], -1))
        meta.append(dict(getattr(pub_result, "metadata", {}) or {}))
    R.store_result(
        record,
        part,
        np.concatenate(evs, axis=0),
        np.concatenate(stds, axis=0),
        {"job_id": part.job_id, "pubs": meta},
    )
    record.log(f"part {part.index}: result of job {part.job_id} stored ({part.result_file})")


# ---------------------------------------------------------------------------------------------
# status, fetch, cancel, retry


def _needs_service(record: JobRecord) -> bool:
    return any(p.state in R.ACTIVE | {R.SUBMITTING, R.UNKNOWN} for p in record.parts)


def _context_for(record: JobRecord, service, retry_policy, sleep, clock, echo) -> Context | None:
    if not _needs_service(record) and service is None:
        return None
    return _make_context(service, record.backend, retry_policy, sleep, clock, echo)


def refresh(record: JobRecord, ctx: Context | None) -> JobRecord:
    """Update each live part's state from the service (queries are retried with backoff).

    Also resolves parts left in ``submitting`` by a dead process: they become ``unknown``,
    and an ``unknown`` part whose job tag is found on the service gets that job's id.
    """
    changed = False
    for part in record.parts:
        if part.state == R.SUBMITTING:
            part.state = R.UNKNOWN
            part.set_error(
                "the process submitting this part ended before recording a job id "
                "(the submit may or may not have reached the service)"
            )
            record.log(f"part {part.index}: found in 'submitting' after a crash; marked unknown")
            changed = True
        if ctx is None:
            continue
        if part.state == R.UNKNOWN and part.tag and not ctx.gateway.is_local:
            changed |= _recover_by_tag(record, part, ctx)
        if part.state in (R.QUEUED, R.RUNNING) and part.job_id:
            changed |= _poll(record, part, ctx)
        elif part.state == R.UNKNOWN and ctx.gateway.is_local:
            part.state = R.LOST
            part.set_error("local testing mode: a job whose id was not recorded cannot be found")
            changed = True
    if changed:
        record.save()
    return record


def _recover_by_tag(record: JobRecord, part: Part, ctx: Context) -> bool:
    try:
        found = ctx.retry(lambda: ctx.gateway.jobs_by_tag(part.tag), f"look up tag {part.tag}")
    except Exception as exc:
        ctx.echo(f"part {part.index}: could not look up its job tag ({describe(exc)})")
        return False
    if len(found) == 1:
        part.job_id = str(found[0].job_id())
        part.state = R.QUEUED
        part.set_error(None)
        record.log(f"part {part.index}: recovered job {part.job_id} by its tag {part.tag}")
        return True
    if len(found) > 1:
        ids = ", ".join(str(j.job_id()) for j in found)
        part.set_error(f"several jobs carry tag {part.tag}: {ids}; fetch one by hand")
        return True
    part.set_error(
        f"no job with tag {part.tag} found on the service; if none appears in the IBM Quantum "
        "dashboard either, resubmit with `qsdaqec jobs retry RECORD --resubmit-unknown`"
    )
    return True


def _poll(record: JobRecord, part: Part, ctx: Context) -> bool:
    try:
        job = ctx.retry(lambda: ctx.gateway.job(part.job_id), f"job {part.job_id}")
        state = normalize_status(ctx.retry(job.status, f"status of job {part.job_id}"))
    except JobNotFoundError as exc:
        if ctx.gateway.is_local:
            part.state = R.LOST
            part.set_error(str(exc))
            record.log(f"part {part.index}: {exc}")
            return True
        ctx.echo(f"part {part.index}: {exc}")
        return False
    except Exception as exc:  # network gone after all retries: keep the old state
        ctx.echo(f"part {part.index}: status unavailable ({describe(exc)})")
        return False
    if state == part.state:
        return False
    part.state = state
    part.updated_at = R.now_iso()
    if state in (R.FAILED, R.CANCELLED):
        part.finished_at = R.now_iso()
        part.set_error(_error_message(job) or f"job {state}")
    record.log(f"part {part.index}: job {part.job_id} is {state}")
    return True


def status(
    record: JobRecord,
    *,
    service: Any = None,
    retry_policy: RetryPolicy | None = None,
    sleep=None,
    clock=None,
    echo=None,
) -> JobRecord:
    """Refresh the record from the service and return it (saved when anything changed).

    While another command holds the record (e.g. is submitting right now) the record is
    returned as it is on disk, unchanged.
    """
    if R.is_locked(record):
        (echo or (lambda m: None))(
            "another qsdaqec command is working on this record; showing it as last saved"
        )
        return R.load_record(record.path)
    with R.locked(record):
        ctx = _context_for(record, service, retry_policy, sleep, clock, echo)
        return refresh(record, ctx)


@dataclass
class FetchSummary:
    record: JobRecord
    fetched_now: list[int]
    predictions: Path | None
    metrics: dict[str, Any] | None
    waiting: list[int]  # parts still queued/running
    problems: list[int]  # parts failed/cancelled/rejected/unknown/lost/pending


def fetch(
    record: JobRecord,
    *,
    service: Any = None,
    wait: bool = False,
    timeout: float | None = None,
    poll_interval: float = 30.0,
    retry_policy: RetryPolicy | None = None,
    sleep=None,
    clock=None,
    echo=None,
) -> FetchSummary:
    """Download finished results (each stored atomically at once) and write predictions.

    Idempotent: stored results are never downloaded again, and the prediction files are a
    deterministic function of the stored results. With ``wait``, poll until every live job
    ends or ``timeout`` seconds pass.
    """
    fetched: list[int] = []
    with R.locked(record):
        try:
            ctx = _context_for(record, service, retry_policy, sleep, clock, echo)
        except (BackendError, JobError):
            # no service (no credentials, offline): still write what is stored, then say why
            refresh(record, None)
            write_predictions(record)
            record.save()
            raise
        if ctx is not None:
            start = ctx.clock()
            while True:
                refresh(record, ctx)
                for part in record.parts:
                    if part.state == R.DONE and part.job_id:
                        if _download(record, part, ctx):
                            fetched.append(part.index)
                live = [p for p in record.parts if p.state in (R.QUEUED, R.RUNNING)]
                if not wait or not live:
                    break
                if timeout is not None and ctx.clock() - start >= timeout:
                    ctx.echo(f"timed out after {timeout:g} s with {len(live)} job(s) still running")
                    break
                states = ", ".join(f"{p.job_id} {p.state}" for p in live[:3])
                more = f" (+{len(live) - 3} more)" if len(live) > 3 else ""
                ctx.echo(
                    f"waiting for {len(live)} job(s): {states}{more}; next poll in "
                    f"{poll_interval:g} s"
                )
                ctx.sleep(poll_interval)
        else:
            refresh(record, None)
        pred_path, metrics = write_predictions(record)
        record.save()
    return FetchSummary(
        record=record,
        fetched_now=fetched,
        predictions=pred_path,
        metrics=metrics,
        waiting=[p.index for p in record.parts if p.state in (R.QUEUED, R.RUNNING, R.DONE)],
        problems=[
            p.index
            for p in record.parts
            if p.state in (R.FAILED, R.CANCELLED, R.REJECTED, R.UNKNOWN, R.LOST, R.PENDING)
        ],
    )


def _download(record: JobRecord, part: Part, ctx: Context) -> bool:
    try:
        job = ctx.retry(lambda: ctx.gateway.job(part.job_id), f"job {part.job_id}")
        result = ctx.retry(job.result, f"result of job {part.job_id}")
    except JobNotFoundError as exc:
        if ctx.gateway.is_local:
            part.state = R.LOST
            part.set_error(str(exc))
            record.save()
        ctx.echo(f"part {part.index}: {exc}")
        return False
    except Exception as exc:
        name = type(exc).__name__
        if name in ("RuntimeJobFailureError", "RuntimeJobMaxTimeoutError"):
            part.state = R.FAILED
        elif name == "RuntimeInvalidStateError":
            part.state = R.CANCELLED
        else:  # transient trouble after all retries: the job is still done; try next time
            ctx.echo(
                f"part {part.index}: result not downloaded ({describe(exc)}); fetch again later"
            )
            return False
        part.set_error(describe(exc))
        part.finished_at = R.now_iso()
        record.save()
        return False
    _store_primitive_result(record, part, result)
    record.save()  # the result file exists before the record says "fetched"
    ctx.echo(f"stored result of job {part.job_id} (samples {part.start}..{part.stop - 1})")
    return True


def cancel(
    record: JobRecord,
    *,
    service: Any = None,
    retry_policy: RetryPolicy | None = None,
    sleep=None,
    clock=None,
    echo=None,
) -> list[int]:
    """Cancel every live job of the record; unsent parts are marked cancelled too.

    Returns the indices of the parts cancelled now. Stored results are kept.
    """
    done: list[int] = []
    with R.locked(record):
        ctx = _context_for(record, service, retry_policy, sleep, clock, echo)
        refresh(record, ctx)
        for part in record.parts:
            if part.state == R.PENDING:
                part.state = R.CANCELLED
                part.set_error("cancelled before it was submitted")
                done.append(part.index)
            elif part.state in (R.QUEUED, R.RUNNING) and part.job_id and ctx is not None:
                try:
                    job = ctx.retry(lambda p=part: ctx.gateway.job(p.job_id), f"job {part.job_id}")
                    ctx.retry(job.cancel, f"cancel job {part.job_id}")
                except Exception as exc:
                    if type(exc).__name__ == "RuntimeInvalidStateError":  # already final
                        _poll(record, part, ctx)
                        continue
                    raise JobError(
                        f"job {part.job_id}: could not cancel ({describe(exc)}); "
                        "the record is unchanged for this job"
                    ) from None
                part.state = R.CANCELLED
                part.finished_at = part.updated_at = R.now_iso()
                part.set_error("cancelled by the user")
                done.append(part.index)
            else:
                continue
            record.log(f"part {part.index}: cancelled")
            record.save()
        record.save()
    return done


def retry(
    record: JobRecord,
    *,
    service: Any = None,
    resubmit_unknown: bool = False,
    retry_policy: RetryPolicy | None = None,
    sleep=None,
    clock=None,
    echo=None,
) -> list[int]:
    """Resubmit only the parts without a live job or stored result; keep every stored result.

    ``failed``, ``cancelled``, ``rejected``, ``lost`` and never-sent (``pending``) parts are
    resubmitted with the same ISA circuit and parameters. ``unknown`` parts (a job may exist)
    only with ``resubmit_unknown=True`` after the user checked. Returns the resubmitted indices.
    """
    with R.locked(record):
        ctx = _make_context(service, record.backend, retry_policy, sleep, clock, echo)
        refresh(record, ctx)
        allowed = set(R.RESUBMITTABLE) | ({R.UNKNOWN} if resubmit_unknown else set())
        parts = [p for p in record.parts if p.state in allowed]
        unknown = [p.index for p in record.parts if p.state == R.UNKNOWN and not resubmit_unknown]
        if not parts:
            if unknown:
                raise JobError(
                    f"part(s) {unknown} have an unknown submit outcome and were not resubmitted; "
                    "check the IBM Quantum dashboard for their job tags (see `qsdaqec jobs status`)"
                    ", then pass --resubmit-unknown to send them again"
                )
            return []
        isa = _load_isa(record)
        params = R.load_array(record.params_path)
        options = JobOptions.from_record(record.options)
        backend_obj = _get_backend(ctx.gateway, record.backend, ctx.policy, ctx.sleep)
        for part in parts:
            record.log(f"part {part.index}: resubmitting (was {part.state})")
            part.archive()
        record.save()
        _submit_parts(record, ctx, backend_obj, isa, params, parts, options)
        if unknown:
            ctx.echo(
                f"part(s) {unknown} have an unknown submit outcome and were left alone "
                "(pass --resubmit-unknown after checking)"
            )
        return [p.index for p in parts]


# ---------------------------------------------------------------------------------------------
# predictions


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _fmt(x: float) -> str:
    return repr(float(x))


def write_predictions(record: JobRecord) -> tuple[Path | None, dict[str, Any] | None]:
    """Join stored expectation values with the output layer; write CSV, JSON and metrics.

    Only samples with stored results are listed (``complete`` says whether that is all of
    them). The files depend on the stored results only, so writing them twice is identical.
    """
    fetched = [p for p in record.parts if p.state == R.FETCHED]
    if not fetched:
        return None, None
    ids = record.samples["ids"]
    labels = record.samples.get("labels")
    classes = record.samples.get("classes") or ["0", "1"]
    positive = int(record.samples.get("positive", 1))
    rows = []
    for part in sorted(fetched, key=lambda p: p.start):
        evs, stds = R.load_result(record, part)
        if record.output_layer is not None:
            w = np.asarray(record.output_layer["weight"])
            b = np.asarray(record.output_layer["bias"])
            if w.shape[1] != evs.shape[1]:
                raise JobError(
                    f"output layer expects {w.shape[1]} expectation values, job {part.job_id} "
                    f"returned {evs.shape[1]}"
                )
            probs = softmax(evs @ w.T + b)
        else:
            probs = None
        for i in range(part.size):
            k = part.start + i
            row: dict[str, Any] = {"sample_id": ids[k], "job_id": part.job_id}
            if labels is not None:
                row["label"] = int(labels[k])
                row["true_class"] = classes[int(labels[k])]
            if probs is not None:
                pred = int(np.argmax(probs[i]))
                row["predicted"] = pred
                row["predicted_class"] = classes[pred] if pred < len(classes) else str(pred)
                for c, name in enumerate(classes[: probs.shape[1]]):
                    row[f"p_{name}"] = float(probs[i, c])
            for j in range(evs.shape[1]):
                row[f"ev_{j}"] = float(evs[i, j])
                row[f"std_{j}"] = float(stds[i, j])
            rows.append((k, row))
    rows.sort(key=lambda kr: kr[0])
    rows = [r for _, r in rows]
    n_total = record.samples["count"]
    complete = len(rows) == n_total
    folder = record.folder
    columns = list(rows[0].keys())
    lines = [",".join(columns)]
    for r in rows:
        lines.append(
            ",".join(_fmt(r[c]) if isinstance(r[c], float) else _csv(r[c]) for c in columns)
        )
    atomic_write_text(folder / "predictions.csv", "\n".join(lines) + "\n")
    done_ids = {r["sample_id"] for r in rows}
    reference = _reference_comparison(record, fetched, classes)
    payload = {
        "record_id": record.record_id,
        "backend": record.backend,
        "circuit_hash": record.circuit.get("hash"),
        "complete": complete,
        "n_samples": n_total,
        "n_predicted": len(rows),
        "missing": [s for s in ids if s not in done_ids],
        "classes": classes,
        "predictions": rows,
    }
    pred_path = atomic_write_json(folder / "predictions.json", payload)
    metrics = None
    if labels is not None and record.output_layer is not None:
        from ..metrics import classification_metrics

        pos_name = f"p_{classes[positive]}"
        metrics = classification_metrics(
            [r["label"] for r in rows], [r[pos_name] for r in rows], positive=positive
        )
        metrics = {
            **{
                k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in metrics.items()
            },
            "complete": complete,
            "n_missing": n_total - len(rows),
            "backend": record.backend,
            "record_id": record.record_id,
            "shots": record.options.get("shots"),
            "mitigation": record.options.get("mitigation"),
            **({"vs_exact": reference} if reference else {}),
        }
        atomic_write_json(folder / "metrics.json", metrics)
    return pred_path, metrics


def _reference_comparison(
    record: JobRecord, fetched: list[Part], classes: list[str]
) -> dict[str, Any] | None:
    """How far the returned expectation values are from the stored exact ones."""
    path = record.folder / "reference_evs.npy"
    if not path.is_file():
        return None
    ref = R.load_array(path)
    got, exact = [], []
    for part in fetched:
        evs, _ = R.load_result(record, part)
        got.append(evs)
        exact.append(ref[part.start : part.stop])
    got_a, exact_a = np.concatenate(got), np.concatenate(exact)
    out: dict[str, Any] = {
        "ev_mean_abs_error": float(np.mean(np.abs(got_a - exact_a))),
        "ev_max_abs_error": float(np.max(np.abs(got_a - exact_a))),
    }
    if record.output_layer is not None:
        w = np.asarray(record.output_layer["weight"])
        b = np.asarray(record.output_layer["bias"])
        p_hw = softmax(got_a @ w.T + b)
        p_ex = softmax(exact_a @ w.T + b)
        out["same_prediction_fraction"] = float(np.mean(p_hw.argmax(1) == p_ex.argmax(1)))
        out["prob_mean_abs_error"] = float(np.mean(np.abs(p_hw - p_ex)))
    return out


def _csv(v: Any) -> str:
    s = "" if v is None else str(v)
    if any(c in s for c in ',"\n'):
        s = '"' + s.replace('"', '""') + '"'
    return s


# ---------------------------------------------------------------------------------------------
# glue to a trained run


@dataclass
class InferenceInputs:
    """What :func:`submit_inference` needs, computed from a trained run and its images."""

    circuit: Any
    observables: list[Any]
    parameters: list[Any]
    values: np.ndarray  # (N, inputs + weights)
    sample_ids: list[str]
    labels: list[int] | None
    classes: list[str]
    positive: int
    output_layer: dict[str, Any]
    reference_evs: np.ndarray  # exact expectation values (the run's fast exact path)
    source: dict[str, Any]


def _images_from(data: str | Path, image_size: int, classes: list[str]):
    """(images, labels or None, ids) from an ImageFolder/.npz, or from a folder of images."""
    import torch

    from ..errors import DataError

    try:
        from ..data import load_dataset

        ds = load_dataset(data, image_size)
    except DataError:
        from ..train.evaluation import _expand, load_image

        files = _expand([data])
        root = Path(data)
        ids = [str(f.relative_to(root)) if root.is_dir() else f.name for f in files]
        return torch.stack([load_image(f, image_size) for f in files]), None, ids
    labels = None
    if set(ds.classes) == set(classes):
        remap = [classes.index(c) for c in ds.classes]
        labels = [remap[int(v)] for v in ds.labels.tolist()]
    return ds.images, labels, list(ds.ids)


def inference_inputs(
    run_dir: str | Path, data: str | Path | None = None, limit: int | None = None
) -> InferenceInputs:
    """Backbone features computed locally, mapped to the head circuit's parameter values.

    Default samples: the run's test split. ``data``: every image of an ImageFolder/.npz (labels
    kept when its class names match the run's) or of a plain folder of images (no labels).
    ``limit``: only the first ``limit`` samples (e.g. a cheap first hardware run).
    """
    import torch

    from ..errors import RunError
    from ..train.run import load_run

    run = load_run(run_dir)
    if not run.is_quantum:
        raise RunError(
            f"{run_dir}: the run has a classical head; only a quantum head runs on a QPU"
        )
    head = run.model.head
    if data is None:
        feats, labels_t, ids = run.test_features()
        labels = [int(v) for v in labels_t.tolist()]
        source = {"run": str(run_dir), "data": None, "split": "test"}
    else:
        images, labels, ids = _images_from(data, run.cfg.image_size, run.classes)
        feats = run.features(images)
        source = {"run": str(run_dir), "data": str(data), "split": "all"}
    if limit is not None:
        feats, ids = feats[:limit], ids[:limit]
        labels = labels[:limit] if labels is not None else None
        source["limit"] = int(limit)
    if len(ids) == 0:
        raise ConfigError("no samples to run")
    with torch.no_grad():
        inputs = head.circuit_inputs(feats).detach().double().cpu().numpy()
        weights = head.quantum.weight.detach().double().cpu().numpy().reshape(-1)
        reference = head.expectation_values(feats).detach().double().cpu().numpy()
    hc = head.head_circuit
    values = np.hstack([inputs, np.tile(weights, (len(inputs), 1))])
    return InferenceInputs(
        circuit=hc.circuit,
        observables=list(hc.observables),
        parameters=list(hc.input_params) + list(hc.weight_params),
        values=values,
        sample_ids=[str(s) for s in ids],
        labels=labels,
        classes=run.classes,
        positive=run.positive,
        output_layer={
            "weight": head.readout.weight.detach().double().cpu().numpy(),
            "bias": head.readout.bias.detach().double().cpu().numpy(),
        },
        reference_evs=reference,
        source=source,
    )


def submit_run(
    run_dir: str | Path,
    backend: str,
    *,
    data: str | Path | None = None,
    limit: int | None = None,
    options: JobOptions | None = None,
    limits: JobLimits | None = None,
    service: Any = None,
    echo: Callable[[str], None] | None = None,
    **kw: Any,
) -> JobRecord:
    """``jobs submit``: features of the run's test split (or ``data``) -> :func:`submit_inference`."""
    normalize_backend(backend)  # a bad spec fails before the backbone runs
    service = as_gateway(service, backend)  # so do missing credentials
    inp = inference_inputs(run_dir, data, limit)
    return submit_inference(
        inp.circuit,
        inp.observables,
        inp.parameters,
        inp.values,
        inp.sample_ids,
        backend=backend,
        run_dir=run_dir,
        labels=inp.labels,
        classes=inp.classes,
        positive=inp.positive,
        output_layer=inp.output_layer,
        reference_evs=inp.reference_evs,
        options=options,
        limits=limits,
        source=inp.source,
        service=service,
        echo=echo,
        **kw,
    )
