"""``qsdaqec jobs submit``: a trained run's head on IBM hardware (or a fake backend)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..runner.jobs import JobLimits, JobOptions, as_gateway, job_backend, submit_inference
from ..runner.records import JobRecord
from . import inputs


def submit_trained_run(
    run_dir: str | Path,
    backend: str,
    *,
    data: str | Path | None = None,
    limit: int | None = None,
    options: JobOptions | None = None,
    limits: JobLimits | None = None,
    service: Any = None,
    echo: Callable[[str], None] | None = None,
    device: str = "auto",
    **kw: Any,
) -> JobRecord:
    """Features of the run's test split (or ``data``) -> the head's problem -> jobs
    (:func:`qsdaqec.runner.jobs.submit_inference`). A bad backend or missing credentials fail
    before the backbone runs."""
    job_backend(backend)
    service = as_gateway(service, backend)
    inp = inputs.inference_inputs(run_dir, data, limit, device)
    p = inp.problem
    return submit_inference(
        p.circuit,
        p.observables,
        p.parameters,
        p.values,
        inp.sample_ids,
        backend=backend,
        run_dir=run_dir,
        labels=inp.labels,
        classes=inp.classes,
        positive=inp.positive,
        output_layer=inp.output_layer,
        reference_evs=p.exact_evs,
        options=options,
        limits=limits,
        source=inp.source,
        service=service,
        echo=echo,
        **kw,
    )
