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
- two ``qsdaqec run`` processes sharing a store never train one fit at once (a lock file beside
  the fit folder); the second leaves it out of its table and says so.

Scores: ``original`` is the fit's own ``metrics.json`` (test split, on the run's backend);
``balanced`` is ``qsdaqec.train.evaluate(..., balanced_test=True)`` on the same backend, stored
in ``<fit>/eval/experiment-balanced/`` and reused.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import train  # a lazy package: torch loads when a fit runs, not on import
from ..errors import RunError
from ..io import atomic_write_json, atomic_write_text, read_json
from .spec import ExperimentSpec, FitPlan, stale_fields
from .tables import write_results

BALANCED_EVAL = Path("eval") / "experiment-balanced"
WALL_RECORD = "experiment_wall.json"
"""Written into a fit's folder after `qsdaqec run` ran it: wall seconds of the fit (data loading,
training, test, balanced evaluation), so every spec sharing the fit can report its cost."""


@dataclass
class FitOutcome:
    """One (variant, seed) fit of an experiment and its scores per test set."""

    plan: FitPlan
    run_dir: Path
    status: str
    """Before this invocation: ``finished`` | ``interrupted`` | ``absent``; after:
    ``skipped`` (was finished), ``ran``, ``resumed``, ``planned`` (dry run), ``missing``
    (report only, not finished)."""
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    """test set -> metric -> value (NaN where undefined)."""
    wall_seconds: float | None = None
    """Wall time of the fit (+ balanced evaluation) when it ran in this invocation."""


@dataclass
class ExperimentResult:
    spec: ExperimentSpec
    out: Path
    fits_dir: Path
    outcomes: list[FitOutcome]
    wall_seconds: float
    files: list[Path] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for o in self.outcomes:
            c[o.status] = c.get(o.status, 0) + 1
        return c


def default_out(spec: ExperimentSpec) -> Path:
    suffix = f"-{spec.profile}" if spec.profile else ""
    return Path("runs") / "experiments" / f"{spec.name}{suffix}"


def default_fits_dir(out: Path) -> Path:
    return Path(out).parent / "fits"


def fit_state(run_dir: Path, config: dict[str, Any] | None = None) -> str:
    """``finished`` | ``interrupted`` | ``absent`` (no run there yet) | ``stale`` (its saved
    config differs from ``config``: a ``FitConfig`` default changed since it ran)."""
    if not run_dir.is_dir() or not (run_dir / "config.json").is_file():
        return "absent"
    if config is not None:
        try:
            saved = read_json(run_dir / "config.json")
        except RunError:
            saved = {}
        if stale_fields(saved, config):
            return "stale"
    try:
        done = read_json(run_dir / "run.json").get("status") == "finished"
    except RunError:
        done = False
    return "finished" if done and (run_dir / "metrics.json").is_file() else "interrupted"


def plan_fits(spec: ExperimentSpec, fits_dir: Path) -> list[FitOutcome]:
    """The fits of ``spec`` with their directories and current state (nothing runs)."""
    return [
        FitOutcome(p, Path(fits_dir) / p.dirname, fit_state(Path(fits_dir) / p.dirname, p.config))
        for p in spec.fits()
    ]


def _fit(cfg: Any, log: Callable[[str], None]) -> Path:
    """Calls ``qsdaqec.train.fit`` through the module, so tests can monkeypatch it."""
    return train.fit(cfg, log=log)


def _evaluate_balanced(
    run_dir: Path, backend: str, log: Callable[[str], None], device: str
) -> dict[str, Any]:
    dest = run_dir / BALANCED_EVAL
    if (dest / "metrics.json").is_file():
        return read_json(dest / "metrics.json")
    return train.evaluate(run_dir, backend, balanced_test=True, out=dest, log=log, device=device)


def _fit_seconds(run_dir: Path) -> float:
    try:
        info = read_json(run_dir / "run.json")
    except RunError:
        return math.nan
    total = sum(float(s.get("seconds", 0.0)) for s in info.get("stages", []))
    total += float((info.get("evaluation") or {}).get("seconds", 0.0))
    return total


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def collect_scores(
    o: FitOutcome, spec: ExperimentSpec, log: Callable[[str], None], device: str | None = None
) -> dict[str, dict[str, float]]:
    """Scores of a finished fit for each of the spec's test sets (runs the balanced evaluation
    once when needed, its backbone on ``device``: the fit's own by default)."""
    device = device or o.plan.config.get("device", "auto")
    m = read_json(o.run_dir / "metrics.json")
    out: dict[str, dict[str, float]] = {}
    for ts in spec.test_sets:
        if ts == "original":
            test = m["test"]
        else:
            backend = o.plan.config.get("backend", "statevector")
            quantum = (
                o.plan.config.get("model") == "sdaqec" and o.plan.config.get("head") == "quantum"
            )
            where = backend if quantum else "statevector"
            test = _evaluate_balanced(o.run_dir, where, log, device)["test"]
        row = {k: _num(test.get(k)) for k in spec.metrics if k != "fit_seconds"}
        if "fit_seconds" in spec.metrics:
            row["fit_seconds"] = _fit_seconds(o.run_dir)
        row["n_test"] = _num(test.get("n"))
        out[ts] = row
    return out


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
    echo: Callable[[str], None] | None = None,
    fit_log: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """Execute (or with ``dry_run`` only plan) every fit of ``spec``; write the results.

    ``report_only``: run nothing, tabulate the fits that are finished. Tables and the plot are
    rewritten after every fit, so an interrupted experiment still leaves its partial results.
    """
    echo = echo or (lambda s: None)
    fit_log = fit_log or echo
    out = Path(out) if out is not None else default_out(spec)
    fits_dir = Path(fits_dir) if fits_dir is not None else default_fits_dir(out)
    outcomes = plan_fits(spec, fits_dir)
    t_start = time.perf_counter()
    total = len(outcomes)
    if dry_run:
        for o in outcomes:
            o.status = {
                "finished": "skipped",
                "interrupted": "resume",
                "absent": "run",
                "stale": "redo",
            }[o.status]
        return ExperimentResult(spec, out, fits_dir, outcomes, 0.0)

    previous = _previous_walls(out)
    result = ExperimentResult(spec, out, fits_dir, outcomes, 0.0)
    for i, o in enumerate(outcomes, 1):
        head = f"[{i}/{total}] {o.plan.variant} seed {o.plan.seed}"
        before = o.status
        if before == "finished":
            o.status = "skipped"
            o.wall_seconds = _recorded_wall(o.run_dir, previous.get(str(o.run_dir)))
            echo(f"{head}: finished earlier, skipped ({o.run_dir})")
        elif report_only:
            o.status = "missing"
            echo(f"{head}: not finished ({before}); left out (--report-only)")
            continue
        else:
            with _fit_lock(o.run_dir) as mine:
                if not mine:
                    o.status = "busy"
                    echo(
                        f"{head}: being fitted by another process (lock {_lock_path(o.run_dir)}); left out"
                    )
                    continue
                before = fit_state(o.run_dir, o.plan.config)  # another process may have finished it
                if before == "stale":
                    changed = ", ".join(_stale(o))  # before its config.json moves aside
                    aside = _move_aside(o.run_dir)
                    echo(
                        f"{head}: its fit predates a change of FitConfig defaults "
                        f"({changed}); kept as {aside.name}, fitting again"
                    )
                    before = "absent"
                if before == "finished":
                    o.status = "skipped"
                    o.wall_seconds = _recorded_wall(o.run_dir, None)
                    echo(f"{head}: finished by another process, skipped ({o.run_dir})")
                else:
                    control = {"progress": progress, "num_threads": num_threads, "device": device}
                    _run_one(o, before, spec, head, control, echo, fit_log)
        if not o.scores:
            o.scores = collect_scores(o, spec, fit_log, device)
        result.wall_seconds = round(time.perf_counter() - t_start, 2)
        result.files = write_results(result)
    result.wall_seconds = round(time.perf_counter() - t_start, 2)
    result.files = write_results(result)
    _write_spec_copy(spec, out)
    return result


def _run_one(
    o: FitOutcome,
    before: str,
    spec: ExperimentSpec,
    head: str,
    control: dict[str, Any],
    echo,
    fit_log,
) -> None:
    """Fit (or resume) one fit of the spec; ``control``: progress, num_threads and device
    (``None`` = the spec's), which never change what a fit computes."""
    if before == "absent" and o.run_dir.exists():
        shutil.rmtree(o.run_dir)  # an empty/partial folder from a crash before config.json
    cfg = train.FitConfig(
        **o.plan.config,
        out=str(o.run_dir),
        resume=before == "interrupted",
        progress=control["progress"],
        extra={"experiment": spec.name, "variant": o.plan.variant, "profile": spec.profile},
    )
    for name in ("num_threads", "device"):
        if control[name] is not None:
            setattr(cfg, name, control[name])
    echo(f"{head}: {'resuming' if before == 'interrupted' else 'fitting'} -> {o.run_dir}")
    t0 = time.perf_counter()
    _fit(cfg, fit_log)
    o.status = "resumed" if before == "interrupted" else "ran"
    o.scores = collect_scores(o, spec, fit_log, cfg.device)
    o.wall_seconds = round(time.perf_counter() - t0, 2)
    if before == "absent":
        atomic_write_json(
            o.run_dir / WALL_RECORD,
            {"wall_seconds": o.wall_seconds, "experiment": spec.name, "variant": o.plan.variant},
        )
    echo(f"{head}: done in {o.wall_seconds:.1f}s")


def _stale(o: FitOutcome) -> list[str]:
    try:
        return stale_fields(read_json(o.run_dir / "config.json"), o.plan.config)
    except RunError:
        return []


def _move_aside(run_dir: Path) -> Path:
    for n in range(1, 1000):
        aside = run_dir.with_name(f"{run_dir.name}.stale-{n}")
        if not aside.exists():
            run_dir.rename(aside)
            return aside
    raise RunError(f"{run_dir}: too many stale copies beside it; delete the .stale-* folders")


def _lock_path(run_dir: Path) -> Path:
    return run_dir.parent / f".{run_dir.name}.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _fit_lock(run_dir: Path) -> Iterator[bool]:
    """Holds ``.<fit>.lock`` (our pid) beside the fit folder while fitting, so two ``qsdaqec run``
    processes sharing a fit store never train the same fit at once. Yields False when a live
    process holds it; a stale lock (its process is gone) is taken over."""
    lock = _lock_path(run_dir)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = None
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or "0")
            except (OSError, ValueError):
                pid = 0
            if pid and _pid_alive(pid):
                break
            lock.unlink(missing_ok=True)
    if fd is None:
        yield False
        return
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    try:
        yield True
    finally:
        lock.unlink(missing_ok=True)


def _recorded_wall(run_dir: Path, fallback: float | None) -> float | None:
    try:
        return float(read_json(run_dir / WALL_RECORD)["wall_seconds"])
    except (RunError, KeyError, TypeError, ValueError):
        return fallback


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
