"""Paper experiments as declarative job specs (TOML; the paper's are installed with the package
and named ``paper:<name>``, see :mod:`.catalog`) and their results tables.

- :func:`load_spec` / :func:`parse_spec` -> :class:`ExperimentSpec` (validated; every problem is
  a ``ConfigError`` naming ``file: key``);
- :func:`execute_experiment` runs each (variant, seed) fit (resumable, shared fit store) and writes
  ``results.md``/``results.csv``/``runs.csv``/``results.json``/``results.png``; the fits run in
  this process, as Ray tasks or as Slurm jobs (:mod:`.executors`).

See docs/reproduce.md.
"""

from .catalog import paper_spec_names, spec_path
from .execute import (
    ExperimentResult,
    FitOutcome,
    default_fits_dir,
    default_out,
    execute_experiment,
    plan_fits,
)
from .executors import EXECUTORS, ExecutorConfig
from .spec import METRICS, TEST_SETS, ExperimentSpec, FitPlan, Variant, load_spec, parse_spec
from .store import fit_state
from .tables import aggregate, markdown, mean_std

__all__ = [
    "EXECUTORS",
    "METRICS",
    "paper_spec_names",
    "spec_path",
    "TEST_SETS",
    "ExperimentResult",
    "ExecutorConfig",
    "ExperimentSpec",
    "FitOutcome",
    "FitPlan",
    "Variant",
    "aggregate",
    "default_fits_dir",
    "default_out",
    "fit_state",
    "load_spec",
    "markdown",
    "mean_std",
    "parse_spec",
    "plan_fits",
    "execute_experiment",
]
