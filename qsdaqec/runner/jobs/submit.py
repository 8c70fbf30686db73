"""Submit inference: the record is written before anything is sent, each part marked
``submitting`` (with a unique job tag) before its submit and given its job id right after, all
parts in one ``Batch``; never a silent resubmit. In local testing mode the results are waited
for and stored before :func:`submit_inference` returns."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ConfigError, JobError
from ...io import atomic_write
from .. import records as R
from ..backends import BackendSpec
from ..faults import RetryPolicy, describe, submit_outcome
from ..records import JobRecord, Part
from .cost import SubmitCost, check_budget, check_gate_budget, estimate_cost
from .gateway import Context, JobNotFoundError, get_backend, job_backend, make_context
from .isa import IsaHead, circuit_hash, plan_parts, pubs_for, qpy_bytes, transpile_head
from .options import JobLimits, JobOptions, estimator_options

if TYPE_CHECKING:  # a type only: quantum.problem imports torch, and `qsdaqec --help` imports us
    from ...quantum.problem import HeadProblem


@dataclass
class InferencePlan:
    """What a submission will send, before its record exists (:func:`plan_inference`): the ISA
    circuit, the parameter array in its column order, the jobs, and their cost."""

    ctx: Context
    spec: BackendSpec
    backend_obj: Any
    circuit: Any
    observables: list[Any]
    isa: IsaHead
    qpy: bytes
    params: np.ndarray
    parts: list[Part]
    options: JobOptions
    limits: JobLimits
    cost: SubmitCost
    fields: dict[str, Any]  # the record's samples, output layer, source
    reference_evs: np.ndarray | None = None

    @property
    def encoding(self) -> str:
        """The head's encoding (from the circuit's metadata), for messages."""
        meta = getattr(self.circuit, "metadata", None) or {}
        return str(meta.get("qsdaqec", {}).get("encoding", "quantum"))

    def check(
        self,
        max_qpu_seconds: float | None = None,
        max_two_qubit_gates: int | None = None,
        *,
        yes: bool = False,
    ) -> float | None:
        """The gate budget (hard), then the QPU-seconds budget (``yes`` lifts it):
        ``ConfigError`` when over; returns the QPU-seconds budget that applied."""
        check_gate_budget(self.cost, max_two_qubit_gates, self.encoding)
        return check_budget(self.cost, max_qpu_seconds, yes=yes)


@dataclass(frozen=True)
class Samples:
    """What the rows of a problem are, for the record: one id per row, the labels when known
    (``metrics.json`` scores them at fetch time), the class names, which one is the diagnosis,
    and where the samples came from (``source``: run, data, split, limit)."""

    ids: Sequence[str]
    labels: Sequence[int] | None = None
    classes: Sequence[str] = ("0", "1")
    positive: int = 1
    source: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanOptions:
    """How a submission is planned and sent: what its jobs run with (``job``), how the samples
    are cut into jobs (``limits``), and the service: a :class:`RuntimeGateway`, a
    ``QiskitRuntimeService``-like object, or ``None`` to connect for the backend (its target
    is needed to transpile), with how to retry, wait and report (tests inject ``sleep`` and
    ``clock``; ``echo`` gets the progress lines)."""

    job: JobOptions = field(default_factory=JobOptions)
    limits: JobLimits = field(default_factory=JobLimits)
    service: Any = None
    retry_policy: RetryPolicy | None = None
    sleep: Callable[[float], None] | None = None
    clock: Callable[[], float] | None = None
    echo: Callable[[str], None] | None = None


def plan_inference(
    problem: HeadProblem,
    samples: Samples,
    backend: BackendSpec,
    how: PlanOptions | None = None,
) -> InferencePlan:
    """Check the inputs, transpile the head once for the backend, cut the samples into jobs and
    estimate their QPU time; nothing is written or sent (``jobs submit --dry-run`` stops here).

    ``problem`` (:func:`qsdaqec.quantum.head_problem`) gives the circuit, its observables, the
    parameter values of every sample (columns named by ``problem.parameters``), the output
    layer that turns expectation values into class probabilities at fetch time, and the exact
    expectation values, stored and compared with the backend's in ``metrics.json``.
    ``samples`` says what its rows are. ``backend``: ``fake:<fake>`` or ``ibm:<device>``,
    parsed once by the caller (:func:`~.gateway.job_backend`)."""
    how = how or PlanOptions()
    spec = job_backend(backend)
    values = np.asarray(problem.values, dtype=np.float64)
    names = [getattr(p, "name", p) for p in problem.parameters]
    _validate_inputs(values, names, samples)
    reference_evs = _checked_reference(problem.exact_evs, len(values), len(problem.observables))
    ctx = make_context(how.service, spec, how.retry_policy, how.sleep, how.clock, how.echo)
    backend_obj = get_backend(ctx, spec)
    isa = transpile_head(problem.circuit, problem.observables, backend_obj, how.job, spec)
    parts = plan_parts(len(values), len(isa.observables), how.job.shots, how.limits)
    local = bool(ctx.gateway.is_local)
    output_layer = {"weight": problem.readout_weight, "bias": problem.readout_bias}
    return InferencePlan(
        ctx=ctx,
        spec=spec,
        backend_obj=backend_obj,
        circuit=problem.circuit,
        observables=list(problem.observables),
        isa=isa,
        qpy=qpy_bytes(isa.circuit),
        params=_isa_columns(values, names, isa),
        parts=parts,
        options=how.job,
        limits=how.limits,
        cost=estimate_cost(isa, parts, how.job, backend_obj, str(spec), local=local),
        fields={
            "samples": {
                "count": len(values),
                "ids": [str(s) for s in samples.ids],
                "labels": None if samples.labels is None else [int(v) for v in samples.labels],
                "classes": list(samples.classes),
                "positive": int(samples.positive),
            },
            "output_layer": _output_layer_json(output_layer),
            "source": dict(samples.source),
        },
        reference_evs=reference_evs,
    )


def submit_plan(
    plan: InferencePlan,
    run_dir: str | Path,
    *,
    max_qpu_seconds: float | None = None,
    max_two_qubit_gates: int | None = None,
    yes: bool = False,
) -> JobRecord:
    """Send a planned submission: the budget checks (:meth:`InferencePlan.check`: over budget
    -> ``ConfigError``, nothing written or printed), the estimate on the context's ``echo``,
    then the record, then the jobs.

    Returns the saved record. On a submit failure the record is saved first (failed parts marked
    ``rejected`` or ``unknown``, the rest ``pending``), then :class:`JobError` says what to do.
    One submit per run at a time (:func:`records.submit_lock`), and none on a run with damaged
    records unless ``yes`` (:func:`records.check_damaged`).
    """
    budget = plan.check(max_qpu_seconds, max_two_qubit_gates, yes=yes)
    with R.submit_lock(run_dir):
        R.check_damaged(run_dir, yes)
        for line in plan.cost.lines():
            plan.ctx.echo(line)
        return _send(plan, Path(run_dir), budget, yes)


def _send(plan: InferencePlan, run_dir: Path, budget: float | None, yes: bool) -> JobRecord:
    """The record, its inputs, then the jobs (under the run's submit lock)."""
    spec, isa, options = plan.spec, plan.isa, plan.options
    record = _new_record(
        plan.ctx,
        spec,
        run_dir,
        plan.circuit,
        plan.observables,
        isa,
        plan.qpy,
        options,
        limits=asdict(plan.limits),
        parts=plan.parts,
        cost={**plan.cost.to_dict(), "budget_s": budget, "over_budget_confirmed": bool(yes)},
        **plan.fields,
    )
    record.log(
        f"created: {plan.cost.samples} samples in {len(record.parts)} job(s) on {spec}, "
        f"transpiled once (optimization level {options.optimization_level}); estimated "
        f"{plan.cost.qpu_seconds:.0f} QPU seconds"
    )
    damaged = R.damaged_records(run_dir)
    if damaged:  # only with yes (check_damaged): say so where the next person will look
        names = ", ".join(d.path.name for d in damaged)
        record.log(f"submitted with --yes beside damaged record(s): {names}")
    with R.locked(record.path):
        # the artifacts first, then the record: a record on disk always has its inputs
        R.save_array(record.params_path, plan.params)
        if plan.reference_evs is not None:
            R.save_array(record.folder / "reference_evs.npy", plan.reference_evs)
        atomic_write(record.isa_path, lambda f: f.write(plan.qpy))
        record.save()
        submit_parts(
            record, plan.ctx, spec, plan.backend_obj, isa, plan.params, record.parts, options
        )
    return record


def submit_inference(
    problem: HeadProblem,
    samples: Samples,
    backend: BackendSpec,
    how: PlanOptions | None = None,
    *,
    run_dir: str | Path,
    max_qpu_seconds: float | None = None,
    max_two_qubit_gates: int | None = None,
    yes: bool = False,
) -> JobRecord:
    """:func:`plan_inference` then :func:`submit_plan`."""
    plan = plan_inference(problem, samples, backend, how)
    return submit_plan(
        plan,
        run_dir,
        max_qpu_seconds=max_qpu_seconds,
        max_two_qubit_gates=max_two_qubit_gates,
        yes=yes,
    )


def _checked_reference(reference_evs, n: int, k: int) -> np.ndarray | None:
    if reference_evs is None:
        return None
    reference_evs = np.asarray(reference_evs, dtype=np.float64)
    if reference_evs.shape != (n, k):
        raise ConfigError(f"reference values: expected shape {(n, k)}, got {reference_evs.shape}")
    return reference_evs


def _isa_columns(values: np.ndarray, names: list[str], isa: IsaHead) -> np.ndarray:
    """``values`` with its columns in the ISA circuit's parameter order."""
    missing = [p for p in isa.param_names if p not in names]
    if missing:
        raise ConfigError(
            f"the circuit has parameters without values: {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else "")
        )
    return values[:, [names.index(p) for p in isa.param_names]]


def _new_record(
    ctx: Context,
    spec: BackendSpec,
    run_dir: Path,
    circuit: Any,
    observables: Sequence[Any],
    isa: IsaHead,
    qpy_data: bytes,
    options: JobOptions,
    **fields: Any,
) -> JobRecord:
    """The record of a new submission: what circuit runs where, with which options (and the
    record's other ``fields``: samples, limits, output layer, source, parts)."""
    record_id = R.new_record_id(str(spec))
    local = bool(ctx.gateway.is_local)
    mitigated = options.mitigation != "none"
    return JobRecord(
        record_id=record_id,
        backend=str(spec),
        local_mode=local,
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
            "estimator": estimator_options(options, backend=spec),
            "mitigation_applied": not local and mitigated,
            **(
                {"note": "local testing mode ignores resilience/mitigation options"}
                if local and mitigated
                else {}
            ),
        },
        path=R.record_path(run_dir, record_id),
        **fields,
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


def _validate_inputs(values, names, samples: Samples) -> None:
    sample_ids, labels, classes = samples.ids, samples.labels, samples.classes
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
    if len(classes) < 2:
        raise ConfigError("classes: need at least two class names")


def submit_parts(
    record: JobRecord,
    ctx: Context,
    spec: BackendSpec,
    backend_obj: Any,
    isa: IsaHead,
    params: np.ndarray,
    parts: list[Part],
    options: JobOptions,
) -> None:
    """Submit ``parts`` in one Batch to ``spec`` (the record's backend, parsed once by the
    caller). Record before and after each submit; never resubmit."""
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
            pubs = pubs_for(part, isa, params)
            opts = estimator_options(options, tags=["qsdaqec", tag], backend=spec)
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
        store_primitive_result(record, part, result)
        record.save()


def store_primitive_result(record: JobRecord, part: Part, result: Any) -> None:
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
