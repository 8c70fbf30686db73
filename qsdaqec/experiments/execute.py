"""Run an experiment: each (variant, seed) fit, resumable, then the results tables and plot.

Fits live in a *fit store* (``--fits``, default ``<out>/../fits``), one directory per fit named
``<model>[-<head>]-s<seed>-<config hash>``. The hash covers the ``FitConfig`` fields that differ
from their defaults (not the run-control fields, nor ``num_threads``) and the built-in data
set's identity (``qsdaqec.experiments.spec.canonical_config``), so:

- a finished fit is never redone (``run.json`` says ``finished``): running a spec again only
  fills in what is missing, and identical fits shared by two specs (e.g. the SDA-QEC default in
  ``baselines`` and ``head_ablation``) run once;
- an interrupted fit (a directory with ``config.json`` but not finished) is continued with
  ``fit(..., resume=True)`` from its last completed epoch;
- a *stale* fit (its saved config.json differs from the current full config, i.e. a
  ``FitConfig`` default changed since it ran) is moved aside (``<dir>.stale-<n>``) and fitted again;
- two ``qsdaqec run`` processes (or workers) sharing a store never train one fit at once (a
  lock file beside the fit folder, :mod:`.locks`); the second leaves it out (``busy``) and says
  so, or with ``wait`` waits for it (and resumes it if its holder died);
- the tables are written under a lock on the results folder, each time from the store's
  state at that moment: a fit another process finished since counts, so the last command to
  finish writes the whole table, whichever process fitted what;
- the fits run where the executor puts them (:mod:`.executors`: this process, Ray tasks or
  Slurm jobs); each is a :class:`~.fit_task.FitTask`, and its results come back to the same
  store and tables. A failed task is reported with its fit key and log; the others go on.

Scores: ``original`` is the fit's own ``metrics.json`` (test split, on the run's backend);
``balanced`` is ``qsdaqec.train.evaluate(..., balanced_test=True)`` on the same backend, stored
in ``<fit>/eval/experiment-balanced/`` and reused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import RunError
from ..io import atomic_write_text, read_json
from ..tracking import TrackingConfig
from .executors import ExecutorConfig, Task, TaskOutcome, make_executor
from .fit_task import FitResult, FitTask, run_fit_task
from .locks import held, lock_path, results_lock
from .spec import ExperimentSpec, FitPlan
from .store import collect_scores, fit_state, recorded_wall
from .tables import write_results

LOGS = "logs"
"""``<fits>/logs/<fit>.log``: the lines of a fit that ran on a Ray or Slurm worker."""
WAIT_POLL_SECONDS = 10.0
"""With ``wait``: how often the locks of fits another process holds are looked at."""


@dataclass
class FitOutcome:
    """One (variant, seed) fit of an experiment and its scores per test set."""

    plan: FitPlan
    run_dir: Path
    status: str
    """Before this invocation: ``finished`` | ``interrupted`` | ``absent``; after:
    ``skipped`` (was finished, or another process finished it meanwhile), ``ran``,
    ``resumed``, ``planned`` (dry run), ``missing`` (report only, not finished), ``busy``
    (another process holds it and had not finished it), ``failed``."""
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    """test set -> metric -> value (NaN where undefined)."""
    wall_seconds: float | None = None
    """Wall time of the fit (+ balanced evaluation) when it ran in this invocation."""
    error: str | None = None
    """Why its task failed (``failed`` only)."""
    logs: list[str] = field(default_factory=list)
    """Where a remote task's output is."""


@dataclass
class ExperimentResult:
    spec: ExperimentSpec
    out: Path
    fits_dir: Path
    outcomes: list[FitOutcome]
    wall_seconds: float
    files: list[Path] = field(default_factory=list)
    executor: str = "local"

    @property
    def counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for o in self.outcomes:
            c[o.status] = c.get(o.status, 0) + 1
        return c

    @property
    def busy(self) -> list[FitOutcome]:
        """The fits left to another process that had not finished them."""
        return [o for o in self.outcomes if o.status == "busy"]


def default_out(spec: ExperimentSpec) -> Path:
    suffix = f"-{spec.profile}" if spec.profile else ""
    return Path("runs") / "experiments" / f"{spec.name}{suffix}"


def default_fits_dir(out: Path) -> Path:
    return Path(out).parent / "fits"


def tracking_experiment(spec: ExperimentSpec, tracking: TrackingConfig) -> str:
    """The MLflow experiment of a spec's fits: ``qsdaqec run <name>[-<profile>]``, so that the
    seeds and variants of one spec sit side by side (unless the caller named one)."""
    suffix = f"-{spec.profile}" if spec.profile else ""
    return tracking.experiment or f"qsdaqec run {spec.name}{suffix}"


def plan_fits(spec: ExperimentSpec, fits_dir: Path) -> list[FitOutcome]:
    """The fits of ``spec`` with their directories and current state (nothing runs)."""
    return [
        FitOutcome(p, Path(fits_dir) / p.dirname, fit_state(Path(fits_dir) / p.dirname, p.config))
        for p in spec.fits()
    ]


DRY_RUN_STATUS = {"finished": "skipped", "interrupted": "resume", "absent": "run", "stale": "redo"}


def execute_experiment(
    spec: ExperimentSpec,
    *,
    out: str | Path | None = None,
    fits_dir: str | Path | None = None,
    dry_run: bool = False,
    report_only: bool = False,
    progress: bool = False,
    num_threads: int | None = None,
    device: str | None = None,
    executor: ExecutorConfig | None = None,
    echo: Callable[[str], None] | None = None,
    fit_log: Callable[[str], None] | None = None,
    wait: bool = False,
    poll_seconds: float | None = None,
    tracking: TrackingConfig | None = None,
) -> ExperimentResult:
    """Execute (or with ``dry_run`` only plan) every fit of ``spec``; write the results.

    ``report_only``: run nothing, tabulate the fits that are finished. Tables and the plot are
    rewritten after every fit, so an interrupted experiment still leaves its partial results.
    ``executor``: where the fits run (default: the spec's ``[executor]``, else this process).
    ``wait``: when other processes hold fits of the spec, wait for them (polling every
    ``poll_seconds``, default :data:`WAIT_POLL_SECONDS`) instead of leaving them out
    (``result.busy``). ``tracking``: each fit that runs also goes to TensorBoard (its folder's
    ``tensorboard/``) or MLflow (the experiment :func:`tracking_experiment` names); fits
    finished earlier are not sent again.
    """
    echo = echo or (lambda s: None)
    fit_log = fit_log or echo
    out = Path(out) if out is not None else default_out(spec)
    fits_dir = Path(fits_dir) if fits_dir is not None else default_fits_dir(out)
    outcomes = plan_fits(spec, fits_dir)
    ex_cfg = (executor or ExecutorConfig()).over(spec.executor).validate()
    if dry_run:
        for o in outcomes:
            o.status = DRY_RUN_STATUS[o.status]
        return ExperimentResult(spec, out, fits_dir, outcomes, 0.0, executor=ex_cfg.kind)

    runner = make_executor(ex_cfg, folder=out / "slurm", echo=echo, log=fit_log)
    t_start = time.perf_counter()
    result = ExperimentResult(spec, out, fits_dir, outcomes, 0.0, executor=ex_cfg.kind)
    control: dict[str, Any] = {"progress": progress, "num_threads": num_threads, "device": device}
    if tracking is not None and tracking.tracker is not None:
        control["tracking"] = replace(tracking, experiment=tracking_experiment(spec, tracking))
    if runner.remote and num_threads is None:
        control["num_threads"] = ex_cfg.cpus_per_task  # tasks sharing a node: no oversubscribing
    tasks = _first_pass(result, report_only, control, ex_cfg, echo, fit_log)

    def write() -> None:
        result.wall_seconds = round(time.perf_counter() - t_start, 2)
        _write_tables(result, fit_log, device)

    write()
    if tasks:
        with runner:
            if runner.remote:
                echo(f"{len(tasks)} fit(s) to {runner.name}; logs in {fits_dir / LOGS}")
            _run_tasks(runner, tasks, result, echo, write)
            if wait:
                poll = poll_seconds if poll_seconds is not None else WAIT_POLL_SECONDS
                _wait_for_others(runner, tasks, result, echo, write, poll)
    write()
    _write_spec_copy(spec, out)
    return result


def _run_tasks(runner, tasks: list[Task], result, echo, write: Callable[[], None]) -> None:
    for done in runner.run(tasks):
        _apply(done, result, echo if runner.remote else None)
        write()


def _wait_for_others(
    runner,
    tasks: list[Task],
    result: ExperimentResult,
    echo: Callable[[str], None],
    write: Callable[[], None],
    poll_seconds: float,
) -> None:
    """Until no fit is ``busy``: each one whose lock is free again is handed to its task once
    more, which scores it (finished by the other process) or resumes it (its holder died)."""
    by_key = {t.key: t for t in tasks}
    said = False
    while result.busy:
        dirs = {o.run_dir.name: o.run_dir for o in result.busy}
        keys = sorted(dirs)
        free = [by_key[k] for k in keys if not held(lock_path(dirs[k]))]
        if not said:
            echo(f"waiting for {len(keys)} fit(s) another process is fitting (--wait)")
            said = True
        if free:
            _run_tasks(runner, free, result, echo, write)
        else:
            time.sleep(poll_seconds)


def _write_tables(result: ExperimentResult, log: Callable[[str], None], device) -> None:
    """Under the results folder's lock: count what other processes finished since, then write
    the tables, so that two commands on one store never leave a table of half the fits."""
    with results_lock(result.out):
        for o in result.outcomes:
            if o.status in ("busy", "missing") and _finished_elsewhere(o):
                o.scores = collect_scores(o.plan, o.run_dir, result.spec, log, device)
                o.status = "skipped"
                o.wall_seconds = recorded_wall(o.run_dir, None)
        result.files = write_results(result)


def _finished_elsewhere(o: FitOutcome) -> bool:
    """Finished, and no process holds it any more (its scores are written before it lets go)."""
    return not held(lock_path(o.run_dir)) and fit_state(o.run_dir, o.plan.config) == "finished"


def _first_pass(
    result: ExperimentResult,
    report_only: bool,
    control: dict[str, Any],
    ex_cfg: ExecutorConfig,
    echo: Callable[[str], None],
    fit_log: Callable[[str], None],
) -> list[Task]:
    """Finished fits are scored and skipped; the others become tasks (one per fit folder:
    two variants with one config share it)."""
    spec, outcomes = result.spec, result.outcomes
    previous = _previous_walls(result.out)
    tasks: dict[str, Task] = {}
    for i, o in enumerate(outcomes, 1):
        head = f"[{i}/{len(outcomes)}] {o.plan.variant} seed {o.plan.seed}"
        if o.status == "finished":
            o.status = "skipped"
            o.wall_seconds = recorded_wall(o.run_dir, previous.get(str(o.run_dir)))
            echo(f"{head}: finished earlier, skipped ({o.run_dir})")
            o.scores = collect_scores(o.plan, o.run_dir, spec, fit_log, control["device"])
        elif report_only:
            echo(f"{head}: not finished ({o.status}); left out (--report-only)")
            o.status = "missing"
        elif o.run_dir.name not in tasks:
            device = control["device"] or o.plan.config.get("device")
            tasks[o.run_dir.name] = Task(
                name=head,
                key=o.run_dir.name,
                fn=run_fit_task,
                arg=FitTask(o.plan, o.run_dir.absolute(), spec, head, control),
                log_path=(result.fits_dir / LOGS / f"{o.run_dir.name}.log").absolute(),
                cpus=ex_cfg.cpus_per_task,
                gpus=ex_cfg.gpus_for(device),
            )
    return list(tasks.values())


def _apply(done: TaskOutcome, result: ExperimentResult, echo: Callable[[str], None] | None) -> None:
    """A finished task's result onto its outcome(s); ``echo``: say it (a remote task's own
    lines went to its log)."""
    first, *same = [o for o in result.outcomes if o.run_dir.name == done.task.key]
    if not done.ok:
        for o in (first, *same):
            o.status, o.error, o.logs = "failed", done.error, done.logs
        if echo:
            echo(
                f"{done.task.name}: FAILED (fit {done.task.key}): {done.error}; "
                f"log: {', '.join(done.logs)}"
            )
        return
    r: FitResult = done.value
    first.status, first.scores, first.wall_seconds = r.status, r.scores, r.wall_seconds
    for o in same:  # the same fit planned twice: it ran once (or another process holds it)
        o.status = "busy" if r.status == "busy" else "skipped"
        o.scores, o.wall_seconds = r.scores, r.wall_seconds
    if echo:
        took = f" in {r.wall_seconds:.1f}s" if r.wall_seconds is not None else ""
        echo(f"{done.task.name}: {r.status}{took} (log: {done.task.log_path})")


def _previous_walls(out: Path) -> dict[str, float]:
    p = out / "results.json"
    if not p.is_file():
        return {}
    try:
        return {
            r["run_dir"]: r["wall_seconds"]
            for r in read_json(p).get("fits", [])
            if r.get("wall_seconds") is not None
        }
    except (RunError, KeyError, TypeError, AttributeError):
        return {}


def _write_spec_copy(spec: ExperimentSpec, out: Path) -> None:
    if spec.path is not None and spec.path.is_file():
        atomic_write_text(out / "spec.toml", spec.path.read_text(encoding="utf-8"))
