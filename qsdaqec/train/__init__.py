"""Training, evaluation and prediction: ``fit``, ``evaluate``, ``predict``, ``load_run``.

One module per job: ``config`` (FitConfig), ``data`` (the run's data and split), ``model``
(which network and head; the head on a backend), ``seeding``, ``batching``, ``checkpoints``,
``context`` (a fit's state and run files), ``rundir``, ``scoring``, ``stage1``, ``stage2``,
``fitting`` (``fit`` as named steps), ``presets`` (named starting points), ``outputs``, ``evaluation``, ``run`` (``load_run``).

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
    "format_predictions": "evaluation",
    "labelled_metrics": "evaluation",
    "resolve_threshold": "evaluation",
    "predict": "evaluation",
    "fit": "fitting",
    "PRESETS": "presets",
    "preset_config": "presets",
    "LoadedRun": "run",
    "load_run": "run",
}

__all__ = [
    "FitConfig",
    "LoadedRun",
    "PRESETS",
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
    from .config import FitConfig
    from .evaluation import (
        balanced_subset,
        evaluate,
        format_predictions,
        labelled_metrics,
        predict,
        resolve_threshold,
    )
    from .fitting import fit
    from .presets import PRESETS, preset_config
    from .run import LoadedRun, load_run


__getattr__ = lazy_exports(__name__, _EXPORTS)
