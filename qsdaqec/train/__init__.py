"""Training, evaluation and prediction: ``fit``, ``evaluate``, ``predict``, ``load_run``."""

from .config import FitConfig
from .evaluate import balanced_subset, evaluate, format_predictions, predict
from .fit import fit
from .run import LoadedRun, load_run

__all__ = [
    "FitConfig",
    "LoadedRun",
    "balanced_subset",
    "evaluate",
    "fit",
    "format_predictions",
    "load_run",
    "predict",
]
