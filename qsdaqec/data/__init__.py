"""Data: the built-in synthetic angiograms, ImageFolder / ``.npz`` loaders, stratified splits,
single images by path.

Names are imported lazily so that ``qsdaqec.data.synth`` (numpy/scipy/PIL only) does not pull
in torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "expand_image_paths": "images",
    "load_image": "images",
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
    "expand_image_paths",
    "generate_synthetic",
    "imbalance_ratio",
    "load_dataset",
    "load_image",
    "stratified_split",
]

if TYPE_CHECKING:  # pragma: no cover
    from .images import expand_image_paths, load_image
    from .loaders import LabeledImages, load_dataset
    from .split import Split, class_counts, describe, imbalance_ratio, stratified_split
    from .synth import SynthConfig, builtin_dataset_dir, generate_synthetic


__getattr__ = lazy_exports(__name__, _EXPORTS)
