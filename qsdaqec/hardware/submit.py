"""``qsdaqec jobs submit``: a trained run's head on IBM hardware (or a fake backend)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..runner.backends import BackendSpec
from ..runner.jobs import (
    InferencePlan,
    PlanOptions,
    as_gateway,
    job_backend,
    plan_inference,
    submit_plan,
)
from ..runner.records import JobRecord, check_damaged, check_no_submit
from . import inputs


def plan_trained_run(
    run_dir: str | Path,
    backend: str | BackendSpec,
    *,
    data: str | Path | None = None,
    limit: int | None = None,
    device: str = "auto",
    how: PlanOptions | None = None,
) -> InferencePlan:
    """Features of the run's test split (or ``data``) -> the head's problem -> the planned jobs
    and their cost (:func:`qsdaqec.runner.jobs.plan_inference`); nothing is sent. A bad backend
    or missing credentials fail before the backbone runs. ``backend`` is parsed here once
    (a :class:`BackendSpec` passes as it is); ``how``: shots, limits, the service, ``echo``."""
    spec = job_backend(backend)
    how = dataclasses.replace(how or PlanOptions())
    how.service = as_gateway(how.service, spec)
    inp = inputs.inference_inputs(run_dir, data, limit, device)
    return plan_inference(inp.problem, inp.samples, spec, how)


def submit_trained_run(
    run_dir: str | Path,
    backend: str | BackendSpec,
    *,
    max_qpu_seconds: float | None = None,
    max_two_qubit_gates: int | None = None,
    yes: bool = False,
    **kw: Any,
) -> JobRecord:
    """:func:`plan_trained_run` (``kw``: its keywords), then the budget checks, the estimate on
    ``echo`` and the jobs (:func:`qsdaqec.runner.jobs.submit_plan`). Another submit on the run
    in progress, or a damaged record without ``yes``, refuses before the features are computed
    (``submit_plan`` checks both again under the run's submit lock)."""
    check_no_submit(run_dir)
    check_damaged(run_dir, yes)
    plan = plan_trained_run(run_dir, backend, **kw)
    return submit_plan(
        plan,
        run_dir,
        max_qpu_seconds=max_qpu_seconds,
        max_two_qubit_gates=max_two_qubit_gates,
        yes=yes,
    )
