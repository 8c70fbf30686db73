"""One fit of an experiment as a task: a picklable :class:`FitTask` and :func:`run_fit_task`,
which runs wherever the executor puts it (this process, a Ray worker, a Slurm job).

The task takes the fit's lock, looks at the fit again (another process may have finished it,
or a ``FitConfig`` default may have changed since it ran), fits or resumes it, scores it and
returns a :class:`FitResult`; everything it writes goes to the fit store.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import train  # a lazy package: torch loads when a fit runs, not on import
from ..io import atomic_write_json
from ..tracking import TrackingConfig
from .executors import Log
from .locks import fit_lock, lock_path
from .spec import ExperimentSpec, FitPlan
from .store import (
    WALL_RECORD,
    collect_scores,
    fit_state,
    move_aside,
    recorded_wall,
    stale_changes,
)


@dataclass
class FitTask:
    plan: FitPlan
    run_dir: Path
    spec: ExperimentSpec
    head: str
    """``[i/N] variant seed s``: how its lines start."""
    control: dict[str, Any] = field(default_factory=dict)
    """progress, num_threads and device (``None``: the spec's), and tracking (a
    ``TrackingConfig``, when the fits' metrics also go to a tracker); they never change what a
    fit computes."""


@dataclass
class FitResult:
    status: str
    """``ran`` | ``resumed`` | ``skipped`` (finished by another process) | ``busy`` (locked)."""
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    wall_seconds: float | None = None


def _fit(cfg: Any, log: Log, tracking: TrackingConfig | None = None) -> Path:
    """Calls ``qsdaqec.train.fit`` through the module, so tests can monkeypatch it."""
    return train.fit(cfg, log=log, tracking=tracking)


def run_fit_task(task: FitTask, echo: Log, log: Log) -> FitResult:
    """Fit (or resume) one fit under its lock; see the module docstring."""
    head, run_dir, plan = task.head, task.run_dir, task.plan
    with fit_lock(run_dir) as mine:
        if not mine:
            echo(f"{head}: being fitted by another process (lock {lock_path(run_dir)}); left out")
            return FitResult("busy")
        before = fit_state(run_dir, plan.config)  # another process may have finished it
        if before == "stale":
            changed = ", ".join(stale_changes(run_dir, plan))  # before config.json moves aside
            aside = move_aside(run_dir)
            echo(
                f"{head}: its fit predates a change of FitConfig defaults "
                f"({changed}); kept as {aside.name}, fitting again"
            )
            before = "absent"
        if before == "finished":
            echo(f"{head}: finished by another process, skipped ({run_dir})")
            scores = collect_scores(plan, run_dir, task.spec, log, task.control.get("device"))
            return FitResult("skipped", scores, recorded_wall(run_dir, None))
        return _run_one(task, before, echo, log)


def _run_one(task: FitTask, before: str, echo: Log, log: Log) -> FitResult:
    plan, run_dir, spec, control = task.plan, task.run_dir, task.spec, task.control
    if before == "absent" and run_dir.exists():
        shutil.rmtree(run_dir)  # an empty/partial folder from a crash before config.json
    cfg = train.FitConfig(
        **plan.config,
        out=str(run_dir),
        resume=before == "interrupted",
        progress=bool(control.get("progress")),
        extra={"experiment": spec.name, "variant": plan.variant, "profile": spec.profile},
    )
    for name in ("num_threads", "device"):
        if control.get(name) is not None:
            setattr(cfg, name, control[name])
    echo(f"{task.head}: {'resuming' if before == 'interrupted' else 'fitting'} -> {run_dir}")
    t0 = time.perf_counter()
    _fit(cfg, log, control.get("tracking"))
    scores = collect_scores(plan, run_dir, spec, log, cfg.device)
    wall = round(time.perf_counter() - t0, 2)
    if before == "absent":
        atomic_write_json(
            run_dir / WALL_RECORD,
            {"wall_seconds": wall, "experiment": spec.name, "variant": plan.variant},
        )
    echo(f"{task.head}: done in {wall:.1f}s")
    return FitResult("resumed" if before == "interrupted" else "ran", scores, wall)
