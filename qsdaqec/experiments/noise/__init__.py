"""Noise-robustness report: how a trained quantum head holds up under device noise, shot noise,
mitigation and the choice of encoding (the paper's open question 1, answered for one run).

What is computed
----------------
For every *point* (encoding, backend, noise scale, shots, mitigation) the run's test split goes
through the trained head on that backend: the head's expectation values ``<Z_i>`` (4 per
sample) come from the runner's estimator, the run's output layer turns them into class
probabilities, and the point records

* accuracy, AUC, F1, sensitivity, specificity (``qsdaqec.metrics``),
* the error of the expectation values against the exact ones (mean and max absolute error)
  and the fraction of samples whose prediction equals the exact head's,
* the transpiled circuit for the backend: active width (qubits the ISA circuit touches), depth,
  two-qubit gate count (one transpilation per backend and encoding).

Two references come with every report: the **exact quantum head** (the fast exact path the run
was trained on) and a **classical head** (a run trained with ``--head classical`` given as
``--classical-run``; without one, a logistic regression fitted on the quantum run's own frozen
256-d training features, labelled as such). Fetched hardware-job results under ``RUN/jobs/``
(``qsdaqec jobs fetch``) are added as points of their own.

The grid
--------
``design="sweep"`` (default): one-at-a-time sweeps around a *centre* (noise scale
``center_noise``, shots ``center_shots`` = exact expectation values where the backend can give
them, else the largest ``shots`` value; no mitigation), per encoding and backend:

* noise sweep: every noise scale at the centre's shots, no mitigation (``aer_noisy`` only:
  ``fake:`` backends carry their device's own noise, scale 1; ``aer`` is noiseless, scale 0);
* shots sweep: every shot count at the centre noise, no mitigation;
* mitigation sweep: every mitigation at the centre noise and shots.

Points shared by sweeps are computed once. ``design="full"`` crosses noise x shots x mitigation.

Resuming
--------
Each finished point is written atomically to ``OUT/points/<key>.json`` before the next starts.
The key names the point's settings and ends in a hash of everything that determines its result
(the run's weights and test ids, optimisation level, seed, ...); a later call with the same
settings reads the file instead of simulating again, and changed settings give new keys, so
only the new points are computed.
Modules: :mod:`.config` (options, list parsing), :mod:`.plan` (the grid), :mod:`.sources`
(the runs, the classical reference), :mod:`.compute` (points, transpilation), :mod:`.jobpoints`
(fetched hardware jobs), :mod:`.conclude` (the conclusion), :mod:`.report` (the driver). The
HTML page is rendered by :mod:`qsdaqec.reports.noise_html`.

Names are imported lazily: the CLI reads the options (``.config``) without loading torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._lazy import lazy_exports

_EXPORTS = {
    "EstimatorFactory": "compute",
    "compute_point": "compute",
    "estimate": "compute",
    "runner_config": "compute",
    "transpile_info": "compute",
    "conclude": "conclude",
    "DESIGNS": "config",
    "NoiseReportConfig": "config",
    "mitigation_label": "config",
    "parse_backends": "config",
    "parse_encodings": "config",
    "parse_mitigations": "config",
    "parse_noise_scales": "config",
    "parse_shots": "config",
    "SWEEPS": "plan",
    "PointSpec": "plan",
    "plan_points": "plan",
    "shots_label": "plan",
    "CSV_COLUMNS": "report",
    "SCHEMA": "report",
    "ReportResult": "report",
    "build_noise_report": "report",
    "to_csv": "report",
    "HeadSource": "sources",
    "load_source": "sources",
}

__all__ = [
    "CSV_COLUMNS",
    "DESIGNS",
    "EstimatorFactory",
    "HeadSource",
    "NoiseReportConfig",
    "PointSpec",
    "ReportResult",
    "SCHEMA",
    "SWEEPS",
    "build_noise_report",
    "compute_point",
    "conclude",
    "estimate",
    "load_source",
    "mitigation_label",
    "parse_backends",
    "parse_encodings",
    "parse_mitigations",
    "parse_noise_scales",
    "parse_shots",
    "plan_points",
    "runner_config",
    "shots_label",
    "to_csv",
    "transpile_info",
]

if TYPE_CHECKING:  # pragma: no cover
    from .compute import EstimatorFactory, compute_point, estimate, runner_config, transpile_info
    from .conclude import conclude
    from .config import (
        DESIGNS,
        NoiseReportConfig,
        mitigation_label,
        parse_backends,
        parse_encodings,
        parse_mitigations,
        parse_noise_scales,
        parse_shots,
    )
    from .plan import SWEEPS, PointSpec, plan_points, shots_label
    from .report import CSV_COLUMNS, SCHEMA, ReportResult, build_noise_report, to_csv
    from .sources import HeadSource, load_source


__getattr__ = lazy_exports(__name__, _EXPORTS)
