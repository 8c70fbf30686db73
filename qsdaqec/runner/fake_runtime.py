"""A scriptable stand-in for IBM Runtime, for tests and rehearsals of the fault paths.

:class:`FakeRuntimeService` implements the jobs layer's gateway (backend, open_batch, submit,
job, jobs_by_tag) like a *remote* service: jobs keep their ids, can be looked up later, move
through ``QUEUED -> RUNNING -> <final>`` one step per status query, and return exact
expectation values (``StatevectorEstimator`` on the submitted ISA PUBs; use small fake
backends). Faults are scripted per call::

    svc = FakeRuntimeService(
        faults={"status": [dropped(), timeout(), None]},   # 1st, 2nd status query fail
        submit_faults=[None, AfterCreate(dropped())],      # 2nd submit: job created, reply lost
        outcomes=["DONE", "ERROR"],                        # 1st job succeeds, 2nd fails
    )

``submit_faults`` entries: ``None`` (succeeds), an exception (raised *before* a job exists),
or :class:`AfterCreate` (the job is created, then the exception is raised: the realistic
"connection dropped after the request arrived" case).
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests
from qiskit.primitives import StatevectorEstimator
from qiskit_ibm_runtime.api.exceptions import RequestsApiError
from qiskit_ibm_runtime.exceptions import (
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobNotFound,
)

from ..errors import BackendError
from ..quantum.circuits import HeadConfig, build_head_circuit
from ..quantum.problem import HeadProblem
from .backends import fake_backend
from .jobs import PlanOptions, Samples, job_backend, submit_inference


def dropped(msg: str = "Connection aborted: RemoteDisconnected") -> ConnectionError:
    return ConnectionError(msg)


def timeout(msg: str = "Read timed out. (read timeout=60)") -> Exception:
    return requests.exceptions.ReadTimeout(msg)


def api_error(status_code: int, msg: str = "error") -> Exception:
    """A ``RequestsApiError`` as qiskit-ibm-runtime raises for an HTTP error answer."""
    return RequestsApiError(f"'{status_code} Client Error: {msg}'", status_code=status_code)


@dataclass
class AfterCreate:
    """Submit fault: create the job on the "service", then raise ``exc`` to the caller."""

    exc: BaseException


class FakeJob:
    def __init__(
        self,
        service: FakeRuntimeService,
        job_id: str,
        pubs: list,
        tags: list[str],
        final: str,
        steps: int,
    ):
        self._service = service
        self._id = job_id
        self._pubs = pubs
        self.tags = tags
        self._final = final
        self._path = ["QUEUED"] * max(0, steps - 1) + (["RUNNING"] if steps > 0 else [])
        self._state = "QUEUED" if steps > 0 else final
        self._cancelled = False
        self.result_calls = 0

    def job_id(self) -> str:
        return self._id

    def _advance(self) -> None:
        if self._state in ("DONE", "ERROR", "CANCELLED"):
            return
        if self._path:
            self._state = self._path.pop(0)
        else:
            self._state = self._final

    def status(self) -> str:
        self._service._fault("status")
        self._advance()
        return self._state

    def error_message(self) -> str | None:
        if self._state == "ERROR":
            return "Error code 1517; the job failed on the device (scripted by FakeRuntimeService)"
        return None

    def cancel(self) -> None:
        self._service._fault("cancel")
        if self._state in ("DONE", "ERROR", "CANCELLED"):
            raise RuntimeInvalidStateError(
                f"Job cannot be cancelled: job {self._id} is {self._state}"
            )
        self._state = "CANCELLED"
        self._final = "CANCELLED"

    def result(self) -> Any:
        self._service._fault("result")
        while self._state not in ("DONE", "ERROR", "CANCELLED"):  # result() blocks until final
            self._advance()
        if self._state == "ERROR":
            raise RuntimeJobFailureError(f"Unable to retrieve job result. {self.error_message()}")
        if self._state == "CANCELLED":
            raise RuntimeInvalidStateError(
                f"Unable to retrieve result for job {self._id}. Job was cancelled."
            )
        self.result_calls += 1
        self._service.downloads += 1
        return self._service._evaluate(self._pubs)


class FakeBatch(contextlib.AbstractContextManager):
    def __init__(self, backend: Any, batch_id: str):
        self.backend = backend
        self.batch_id = batch_id
        self.closed = False

    def __exit__(self, *exc: Any) -> None:
        self.closed = True


@dataclass
class FakeRuntimeService:
    """A remote-like IBM Runtime with scripted faults. See the module docstring."""

    faults: dict[str, list[BaseException | None]] = field(default_factory=dict)
    submit_faults: list[BaseException | AfterCreate | None] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)  # final state per created job, in order
    steps: int = 2  # status queries before a job reaches its final state
    shot_noise: bool = False
    seed: int = 0
    is_local: bool = False

    def __post_init__(self) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.created: list[str] = []  # job ids in creation order
        self.submit_calls = 0
        self.downloads = 0
        self.batches: list[FakeBatch] = []
        self.calls: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._rng = np.random.default_rng(self.seed)

    # -- faults
    def _fault(self, what: str) -> None:
        self.calls[what] = self.calls.get(what, 0) + 1
        queue = self.faults.get(what)
        if queue:
            exc = queue.pop(0)
            if exc is not None:
                raise exc

    # -- gateway
    def backend(self, name: str) -> Any:
        self._fault("backend")
        try:
            return fake_backend(name)
        except BackendError:
            raise ValueError(f"no fake backend named {name!r}") from None

    def open_batch(self, backend: Any) -> FakeBatch:
        self._fault("batch")
        batch = FakeBatch(backend, f"batch-{len(self.batches) + 1}")
        self.batches.append(batch)
        return batch

    def submit(self, batch: Any, pubs: list, options: dict[str, Any]) -> FakeJob:
        self.submit_calls += 1
        fault = self.submit_faults.pop(0) if self.submit_faults else None
        if isinstance(fault, BaseException):
            raise fault
        tags = list(options.get("environment", {}).get("job_tags", []))
        final = self.outcomes.pop(0) if self.outcomes else "DONE"
        job_id = f"fakejob{next(self._ids):04d}"
        job = FakeJob(self, job_id, pubs, tags, final, self.steps)
        self.jobs[job_id] = job
        self.created.append(job_id)
        if isinstance(fault, AfterCreate):
            raise fault.exc
        return job

    def job(self, job_id: str) -> FakeJob:
        self._fault("job")
        try:
            return self.jobs[job_id]
        except KeyError:
            raise RuntimeJobNotFound(f"Job not found: {job_id}") from None

    def jobs_by_tag(self, tag: str) -> list[FakeJob]:
        self._fault("jobs")
        return [j for j in self.jobs.values() if tag in j.tags]

    # -- results
    def _evaluate(self, pubs: list) -> Any:
        """Exact expectation values of the ISA PUBs (optionally with Gaussian shot noise)."""
        result = StatevectorEstimator(seed=self.seed).run(pubs).result()
        if not self.shot_noise:
            return result
        for pub_result in result:  # pragma: no cover - optional realism
            evs = pub_result.data.evs
            evs += self._rng.normal(0, 0.01, size=evs.shape)
        return result


@dataclass
class TinyProblem:
    """A small angle-encoded head with random inputs and weights, and its exact values."""

    circuit: Any
    observables: list[Any]
    parameters: list[Any]
    values: np.ndarray
    sample_ids: list[str]
    labels: list[int]
    classes: list[str]
    output_layer: dict[str, Any]
    exact_evs: np.ndarray

    @property
    def problem(self) -> HeadProblem:
        """The head's problem, as ``quantum.head_problem`` gives a trained head's (the values
        in the circuit's parameter order)."""
        w, b = self.output_layer["weight"], self.output_layer["bias"]
        order = [self.parameters.index(p) for p in self.circuit.parameters]
        return HeadProblem(
            self.circuit,
            self.observables,
            list(self.circuit.parameters),
            self.values[:, order],
            np.asarray(w, dtype=np.float64),
            np.asarray(b, dtype=np.float64),
            self.exact_evs,
        )

    @property
    def samples(self) -> Samples:
        return Samples(self.sample_ids, self.labels, self.classes)

    def submit(self, backend: str, run_dir: Any, **kw: Any) -> Any:
        """Send every sample as inference jobs (``jobs.submit_inference``) with this problem's
        labels, classes and output layer. ``kw``: the fields of :class:`~.jobs.PlanOptions`
        (``options`` for its ``job``) and the budget keywords of ``submit_inference``."""
        budget = {
            k: kw.pop(k) for k in ("max_qpu_seconds", "max_two_qubit_gates", "yes") if k in kw
        }
        if "options" in kw:
            kw["job"] = kw.pop("options")
        spec = job_backend(backend)
        how = PlanOptions(**kw)
        return submit_inference(self.problem, self.samples, spec, how, run_dir=run_dir, **budget)


def tiny_problem(n: int = 6, seed: int = 0) -> TinyProblem:
    """``n`` samples through the 4-qubit angle head (12 parameters); for tests and rehearsals."""
    hc = build_head_circuit(HeadConfig(encoding="angle", ansatz_qubits=4, layers=2))
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, np.pi - 0.2, (n, hc.config.num_inputs))
    w = rng.uniform(-1, 1, hc.config.num_weights)
    values = np.hstack([x, np.tile(w, (n, 1))])
    params = list(hc.input_params) + list(hc.weight_params)
    order = [params.index(p) for p in hc.circuit.parameters]
    pub = (hc.circuit, [list(hc.observables)], values[:, order][:, None, :])
    exact = np.asarray(StatevectorEstimator().run([pub]).result()[0].data.evs)
    return TinyProblem(
        circuit=hc.circuit,
        observables=list(hc.observables),
        parameters=params,
        values=values,
        sample_ids=[f"img{i:03d}.png" for i in range(n)],
        labels=[i % 2 for i in range(n)],
        classes=["normal", "stenosis"],
        output_layer={"weight": rng.normal(0, 2, (2, 4)), "bias": np.array([0.1, -0.1])},
        exact_evs=exact,
    )
