"""Training, evaluation and prediction: ``fit``, ``evaluate``, ``predict``, ``load_run``.

One module per job: ``config`` (FitConfig), ``data`` (the run's data and split), ``model``
(which network and head; the head on a backend), ``seeding``, ``batching``, ``checkpoints``,
``context`` (a fit's state and run files), ``rundir``, ``scoring``, ``stage1``, ``stage2``,
``fitting`` (``fit`` as named steps), ``presets`` (named starting points), ``outputs``,
``evaluation`` (``evaluate``), ``prediction`` (``predict``), ``run`` (a run in memory:
``LoadedRun``), ``api`` (``load_run`` and the ``Run`` it returns, with ``predict`` and
``evaluate`` methods; ``fit`` returns one too).

Names are imported lazily so that ``qsdaqec.train.config`` (the CLI's defaults) does not pull
in torch; that is also why no module here is named like a function it exports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "FitConfig": "config",
    "balanced_subset": "evaluation",
    "evaluate": "evaluation",
    "format_predictions": "prediction",
    "labelled_metrics": "prediction",
    "resolve_threshold": "evaluation",
    "predict": "prediction",
    "fit": "fitting",
    "PRESETS": "presets",
    "preset_config": "presets",
    "LoadedRun": "run",
    "Run": "api",
    "load_run": "api",
}

__all__ = [
    "FitConfig",
    "LoadedRun",
    "PRESETS",
    "Run",
    "balanced_subset",
    "evaluate",
    "fit",
    "format_predictions",
    "labelled_metrics",
    "load_run",
    "predict",
    "preset_config",
    "resolve_threshold",
]

if TYPE_CHECKING:  # pragma: no cover
    from .api import Run, load_run
    from .config import FitConfig
    from .evaluation import balanced_subset, evaluate, resolve_threshold
    from .fitting import fit
    from .prediction import format_predictions, labelled_metrics, predict
    from .presets import PRESETS, preset_config
    from .run import LoadedRun


__getattr__ = lazy_exports(__name__, _EXPORTS)
