"""Paper experiments as declarative job specs (TOML; the paper's are installed with the package
and named ``paper:<name>``, see :mod:`.catalog`) and their results tables.

- :func:`load_spec` / :func:`parse_spec` -> :class:`ExperimentSpec` (validated; every problem is
  a ``ConfigError`` naming ``file: key``);
- :func:`execute_experiment` runs each (variant, seed) fit (resumable, shared fit store) and writes
  ``results.md``/``results.csv``/``runs.csv``/``results.json``/``results.png``.

See docs/reproduce.md.
"""

from .catalog import paper_spec_names, spec_path
from .execute import (
    ExperimentResult,
    FitOutcome,
    default_fits_dir,
    default_out,
    execute_experiment,
    fit_state,
    plan_fits,
)
from .spec import METRICS, TEST_SETS, ExperimentSpec, FitPlan, Variant, load_spec, parse_spec
from .tables import aggregate, markdown, mean_std

__all__ = [
    "METRICS",
    "paper_spec_names",
    "spec_path",
    "TEST_SETS",
    "ExperimentResult",
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
