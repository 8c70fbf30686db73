"""Training, evaluation and prediction: ``fit``, ``evaluate``, ``predict``, ``load_run``.

Names are imported lazily so that ``qsdaqec.train.config`` (the CLI's defaults) does not pull
in torch; that is also why no module here is named like a function it exports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "FitConfig": "config",
    "balanced_subset": "evaluation",
    "evaluate": "evaluation",
    "format_predictions": "evaluation",
    "predict": "evaluation",
    "fit": "fitting",
    "LoadedRun": "run",
    "load_run": "run",
}

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

if TYPE_CHECKING:  # pragma: no cover
    from .config import FitConfig
    from .evaluation import balanced_subset, evaluate, format_predictions, predict
    from .fitting import fit
    from .run import LoadedRun, load_run


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
