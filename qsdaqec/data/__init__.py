"""Data: the built-in synthetic angiograms, ImageFolder / ``.npz`` loaders, stratified splits.

Names are imported lazily so that ``qsdaqec.data.synth`` (numpy/scipy/PIL only) does not pull
in torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "LabeledImages": "loaders",
    "load_dataset": "loaders",
    "Split": "split",
    "class_counts": "split",
    "describe": "split",
    "imbalance_ratio": "split",
    "stratified_split": "split",
    "SynthConfig": "synth",
    "builtin_dataset_dir": "synth",
    "generate_synthetic": "synth",
}

__all__ = [
    "LabeledImages",
    "Split",
    "SynthConfig",
    "builtin_dataset_dir",
    "class_counts",
    "describe",
    "generate_synthetic",
    "imbalance_ratio",
    "load_dataset",
    "stratified_split",
]

if TYPE_CHECKING:  # pragma: no cover
    from .loaders import LabeledImages, load_dataset
    from .split import Split, class_counts, describe, imbalance_ratio, stratified_split
    from .synth import SynthConfig, builtin_dataset_dir, generate_synthetic


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
