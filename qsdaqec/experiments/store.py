"""The fit store: one folder per fit, its state, its scores and what it cost.

Read by the driver (``qsdaqec run``) and by the fit tasks wherever they run, so everything
here works from paths alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import train  # a lazy package: torch loads when a fit runs, not on import
from ..errors import RunError
from ..io import read_json
from ..runs import RunDir
from .spec import ExperimentSpec, FitPlan, stale_fields

BALANCED_EVAL = Path("eval") / "experiment-balanced"
WALL_RECORD = "experiment_wall.json"
"""Written into a fit's folder after `qsdaqec run` ran it: wall seconds of the fit (data loading,
training, test, balanced evaluation), so every spec sharing the fit can report its cost."""


def fit_state(run_dir: Path, config: dict[str, Any] | None = None) -> str:
    """``finished`` | ``interrupted`` | ``absent`` (no run there yet): :meth:`RunDir.state`;
    or ``stale`` (its saved config differs from ``config``: a ``FitConfig`` default changed
    since it ran)."""
    run = RunDir(run_dir)
    if not run.is_run():
        return "absent"
    if config is not None:
        try:
            saved = run.read_config()
        except RunError:
            saved = {}
        if stale_fields(saved, config):
            return "stale"
    try:
        return run.state()
    except RunError:  # a run.json of a newer schema: fit --resume says so
        return "interrupted"


def stale_changes(run_dir: Path, plan: FitPlan) -> list[str]:
    """The fields whose saved value differs from the plan's (empty when unreadable)."""
    try:
        return stale_fields(RunDir(run_dir).read_config(), plan.config)
    except RunError:
        return []


def move_aside(run_dir: Path) -> Path:
    for n in range(1, 1000):
        aside = run_dir.with_name(f"{run_dir.name}.stale-{n}")
        if not aside.exists():
            run_dir.rename(aside)
            return aside
    raise RunError(f"{run_dir}: too many stale copies beside it; delete the .stale-* folders")


def _evaluate_balanced(
    run_dir: Path, backend: str, log: Callable[[str], None], device: str
) -> dict[str, Any]:
    dest = run_dir / BALANCED_EVAL
    if (dest / RunDir.METRICS).is_file():
        return read_json(dest / RunDir.METRICS)
    return train.evaluate(run_dir, backend, balanced_test=True, out=dest, log=log, device=device)


def fit_seconds(run_dir: Path) -> float:
    try:
        info = RunDir(run_dir).read_info().raw
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
    plan: FitPlan,
    run_dir: Path,
    spec: ExperimentSpec,
    log: Callable[[str], None],
    device: str | None = None,
) -> dict[str, dict[str, float]]:
    """Scores of a finished fit for each of the spec's test sets (runs the balanced evaluation
    once when needed, its backbone on ``device``: the fit's own by default)."""
    device = device or plan.config.get("device", "auto")
    m = read_json(RunDir(run_dir).metrics)
    out: dict[str, dict[str, float]] = {}
    for ts in spec.test_sets:
        if ts == "original":
            test = m["test"]
        else:
            backend = plan.config.get("backend", "statevector")
            quantum = plan.config.get("model") == "sdaqec" and plan.config.get("head") == "quantum"
            where = backend if quantum else "statevector"
            test = _evaluate_balanced(run_dir, where, log, device)["test"]
        row = {k: _num(test.get(k)) for k in spec.metrics if k != "fit_seconds"}
        if "fit_seconds" in spec.metrics:
            row["fit_seconds"] = fit_seconds(run_dir)
        row["n_test"] = _num(test.get("n"))
        out[ts] = row
    return out


def recorded_wall(run_dir: Path, fallback: float | None) -> float | None:
    try:
        return float(read_json(run_dir / WALL_RECORD)["wall_seconds"])
    except (RunError, KeyError, TypeError, ValueError):
        return fallback
