"""Hardware inference jobs: submit, track, fetch, cancel, retry — without losing or duplicating work.

The same code serves ``ibm:<device>`` (``QiskitRuntimeService`` + real hardware) and
``fake:<fake backend>`` (qiskit-ibm-runtime's *local testing mode*: ``Batch`` and
``EstimatorV2`` given a fake backend from ``qiskit_ibm_runtime.fake_provider`` run locally).

Flow of :func:`submit_inference` (a trained head's :class:`~qsdaqec.quantum.HeadProblem`, the
:class:`Samples` its rows are, a parsed ``fake:``/``ibm:`` backend and :class:`PlanOptions`):

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

Modules: :mod:`.options` (what jobs run with), :mod:`.gateway` (the service boundary),
:mod:`.isa` (transpile once, split into jobs), :mod:`.cost` (jobs, shots and QPU seconds
before submitting), :mod:`.submit` (plan, budget check, submit), :mod:`.track` (status, fetch,
cancel, retry), :mod:`.predictions`. Building the inputs from a trained run is one layer up,
in :mod:`qsdaqec.hardware`.
"""

from .cost import DEFAULT_IBM_BUDGET_S, SubmitCost, check_budget, estimate_cost
from .gateway import (
    Context,
    JobHandle,
    JobNotFoundError,
    QiskitRuntimeGateway,
    RuntimeGateway,
    as_gateway,
    connect,
    get_backend,
    ibm_service,
    job_backend,
    make_context,
)
from .isa import IsaHead, circuit_hash, load_isa, plan_parts, transpile_head
from .options import JobLimits, JobOptions, estimator_options, mitigation_names
from .predictions import write_predictions
from .submit import (
    InferencePlan,
    PlanOptions,
    Samples,
    collect_local,
    plan_inference,
    submit_inference,
    submit_plan,
)
from .track import FetchSummary, cancel, fetch, normalize_status, refresh, retry, status

__all__ = [
    "DEFAULT_IBM_BUDGET_S",
    "Context",
    "FetchSummary",
    "InferencePlan",
    "IsaHead",
    "JobHandle",
    "JobLimits",
    "JobNotFoundError",
    "JobOptions",
    "PlanOptions",
    "QiskitRuntimeGateway",
    "RuntimeGateway",
    "Samples",
    "as_gateway",
    "SubmitCost",
    "cancel",
    "check_budget",
    "circuit_hash",
    "collect_local",
    "connect",
    "estimate_cost",
    "estimator_options",
    "fetch",
    "get_backend",
    "ibm_service",
    "job_backend",
    "load_isa",
    "make_context",
    "mitigation_names",
    "normalize_status",
    "plan_inference",
    "plan_parts",
    "refresh",
    "retry",
    "status",
    "submit_inference",
    "submit_plan",
    "transpile_head",
    "write_predictions",
]
